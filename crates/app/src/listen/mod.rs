//! The server's half of the protocols, for `wsdoctor reconnect --listen`:
//! enough of it that a real client library opens its session and holds it
//! (socket.io-client gets an Engine.IO open packet, its namespace connect
//! acknowledged and the server's pings; a graphql-ws client gets its
//! subprotocol chosen and `connection_ack`; @microsoft/signalr gets its
//! negotiate answered and its JSON hub handshake answered `{}`), so the reconnects measured are
//! the library's own policy after a session that really opened, not its
//! retries of a handshake it never finished.
//!
//! Same sans-IO shape as the client side: each protocol implements
//! [`Protocol`] with the peer being the client, and runs in an
//! [`AppSession`] in the WebSocket session's server role.

mod graphql;
pub mod signalr;
mod socketio;

use std::time::Instant;

use wsdoctor_evidence::AppRecord;

use crate::protocol::Protocol;
use crate::{AppChoice, AppProtocol, AppSession};

/// The protocols the listening side speaks.
pub const LISTEN_PROTOCOLS: [AppProtocol; 4] = [
    AppProtocol::SocketIo,
    AppProtocol::GraphqlTransportWs,
    AppProtocol::GraphqlWs,
    AppProtocol::SignalR,
];

/// `--app` named a protocol the listening side does not speak.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("reconnect --listen speaks socketio, graphql-transport-ws, graphql-ws and signalr (or auto, raw), not {0}")]
pub struct NotListenable(pub AppProtocol);

/// Checks that `choice` can be spoken by the listening side.
pub fn check_listen_choice(choice: AppChoice) -> Result<(), NotListenable> {
    match choice {
        AppChoice::Use(p) if !LISTEN_PROTOCOLS.contains(&p) => Err(NotListenable(p)),
        _ => Ok(()),
    }
}

/// What the listening side speaks on one accepted connection.
#[derive(Debug)]
pub struct Listening {
    /// The protocol session, to hand to the WebSocket session
    /// (`Session::use_app`).
    pub session: AppSession,
    /// The subprotocol to name in the 101 (`Sec-WebSocket-Protocol`), one
    /// the client offered.
    pub subprotocol: Option<String>,
}

/// Decides from `--app`, the request target (path and query) and the
/// subprotocols the client offered what to speak to it; `None` for bare
/// WebSocket (`raw`, or nothing recognised).
pub fn listen(
    choice: AppChoice,
    target: &str,
    offered: &[String],
    origin: Instant,
) -> Option<Listening> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let offers = |sub: &str| offered.iter().any(|o| o == sub);
    let (protocol, decided_by) = match choice {
        AppChoice::Raw => return None,
        AppChoice::Use(p) => (p, format!("--app {p}")),
        AppChoice::Auto if path.contains("/socket.io/") => (
            AppProtocol::SocketIo,
            "the request path contains /socket.io/".to_owned(),
        ),
        // graphql-ws clients offer only their own; a client offering both
        // gets the current protocol, as graphql-ws's server chooses.
        AppChoice::Auto if offers("graphql-transport-ws") => (
            AppProtocol::GraphqlTransportWs,
            "the client offered the subprotocol graphql-transport-ws".to_owned(),
        ),
        AppChoice::Auto if offers("graphql-ws") => (
            AppProtocol::GraphqlWs,
            "the client offered the subprotocol graphql-ws".to_owned(),
        ),
        // The token our negotiate answer issued, brought back as `?id=`
        // (@microsoft/signalr without skipNegotiation).
        AppChoice::Auto if signalr_token(query) => (
            AppProtocol::SignalR,
            "the query carries the connection token our negotiate answer issued".to_owned(),
        ),
        AppChoice::Auto => return None,
    };
    let server: Box<dyn Protocol> = match protocol {
        AppProtocol::SocketIo => socketio::start(query),
        AppProtocol::GraphqlTransportWs => graphql::start(graphql::Dialect::TransportWs),
        AppProtocol::GraphqlWs => graphql::start(graphql::Dialect::Legacy),
        AppProtocol::SignalR => signalr::start(),
        _ => return None,
    };
    let subprotocol = protocol
        .spec()
        .and_then(|spec| spec.subprotocols.iter().find(|s| offers(s)))
        .map(|s| (*s).to_owned());
    let record = AppRecord {
        protocol: Some(protocol.id().to_owned()),
        decided_by,
        spoken: true,
        ..AppRecord::default()
    };
    Some(Listening {
        session: AppSession::serving(server, record, origin),
        subprotocol,
    })
}

/// True when `query` has `id=` with a token of our negotiate answers.
fn signalr_token(query: &str) -> bool {
    url::form_urlencoded::parse(query.as_bytes())
        .any(|(k, v)| k == "id" && v.starts_with(signalr::TOKEN_PREFIX))
}

/// True when a plain HTTP request is SignalR's negotiate POST
/// (`POST …/negotiate?negotiateVersion=1`) and `choice` lets us answer it
/// (`auto` or `signalr`): the listener then answers
/// [`signalr::negotiate_answer`] with 200.
pub fn is_negotiate(choice: AppChoice, method: &str, target: &str) -> bool {
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    matches!(
        choice,
        AppChoice::Auto | AppChoice::Use(AppProtocol::SignalR)
    ) && method.eq_ignore_ascii_case("POST")
        && path.trim_end_matches('/').ends_with("/negotiate")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
