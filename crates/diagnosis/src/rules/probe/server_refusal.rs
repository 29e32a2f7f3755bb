//! A 400 written by the WebSocket server itself, for a reason its library
//! names: the subprotocol offered (python-websockets, npm `ws`) or an
//! Engine.IO query it does not accept (socket.io). The error pages mention
//! "WebSocket", so without this the upgrade-word rule would blame a proxy
//! for dropping the Upgrade header, when the upgrade did reach a WebSocket
//! server and was refused by it.

use wsdoctor_evidence::HandshakeRecord;

use super::Ctx;
use crate::finding::{fix, CauseId, Finding, Severity};
use crate::text::peer;

/// What the server refused, read from its answer.
pub(super) enum Refusal {
    /// The subprotocol: none offered was one it accepts, none was offered
    /// where it requires one, or the header was malformed.
    Subprotocol {
        /// What we offered, as the request said it (redacted there).
        offered: Option<String>,
        /// What the server said it accepts, when it said (python-websockets:
        /// `invalid subprotocol; expected one of chat, superchat`).
        expected: Option<String>,
    },
    /// Engine.IO's `abortUpgrade`: a plain-text 400 with one of its fixed
    /// messages, written only to a request that did arrive as an upgrade.
    EngineIo { message: &'static str },
}

/// Engine.IO's `Server.errorMessages` (engine.io 6, `build/server.js`), and
/// what each means for an upgrade.
const ENGINE_IO_MESSAGES: &[(&str, &str)] = &[
    (
        "Transport unknown",
        "the query lacks `transport=websocket` or names a transport the server does not allow",
    ),
    (
        "Unsupported protocol version",
        "the `EIO` version in the query is not one the server speaks (v3 clients need `allowEIO3: true` on the server)",
    ),
    (
        "Session ID unknown",
        "the `sid` in the query belongs to no session on this server instance (sticky sessions missing, or an old sid)",
    ),
    (
        "Bad handshake method",
        "the handshake used a method the server does not accept",
    ),
    ("Bad request", "the server's checks refused the request"),
    (
        "Forbidden",
        "the server's `allowRequest` refused the request",
    ),
];

/// Reads a 400's body for a refusal by the WebSocket server itself.
pub(super) fn recognise(hs: &HandshakeRecord) -> Option<Refusal> {
    if hs.status != 400 {
        return None;
    }
    let text = hs.body.as_ref().map(|b| b.text.trim()).unwrap_or_default();
    let lower = text.to_ascii_lowercase();
    // python-websockets: "invalid subprotocol; expected one of …",
    // "missing subprotocol"; ws: "Invalid Sec-WebSocket-Protocol header".
    if lower.contains("subprotocol") || lower.contains("sec-websocket-protocol") {
        let expected = lower
            .find("expected one of ")
            .map(|at| &text[at + "expected one of ".len()..])
            .and_then(|rest| rest.lines().next())
            .map(|list| list.trim_end_matches('.').trim().to_owned())
            .filter(|list| !list.is_empty());
        return Some(Refusal::Subprotocol {
            offered: hs
                .request_header("sec-websocket-protocol")
                .map(str::to_owned),
            expected,
        });
    }
    if engine_io_request(hs) {
        if let Some((message, _)) = ENGINE_IO_MESSAGES
            .iter()
            .find(|(m, _)| text.eq_ignore_ascii_case(m))
        {
            return Some(Refusal::EngineIo { message });
        }
    }
    None
}

/// The finding for a refusal the server wrote itself.
pub(super) fn finding(ctx: &Ctx<'_>, refusal: &Refusal) -> Finding {
    match refusal {
        Refusal::Subprotocol { offered, expected } => subprotocol(ctx, offered, expected),
        Refusal::EngineIo { message } => engine_io(ctx, message),
    }
}

fn subprotocol(ctx: &Ctx<'_>, offered: &Option<String>, expected: &Option<String>) -> Finding {
    let offered_text = offered
        .as_deref()
        .map(|o| format!("the subprotocol offered ({})", peer(o, 120)))
        .unwrap_or_else(|| "a handshake offering no subprotocol".to_owned());
    let wants = expected
        .as_deref()
        .map(|e| format!(": it accepts {}", peer(e, 120)))
        .unwrap_or_default();
    let mut f = ctx.finding(
        CauseId::UpgradeRejected,
        Severity::Error,
        0.9,
        format!("The WebSocket server refused {offered_text}{wants}"),
    );
    let offer = expected
        .as_deref()
        .and_then(|e| e.split(',').next())
        .map(|first| format!("`--subprotocol {}`", peer(first.trim(), 60)))
        .unwrap_or_else(|| "`--subprotocol NAME`".to_owned());
    f.fix.push(fix(
        "client",
        format!(
            "Offer a subprotocol the server speaks, as your real client does: {offer}, or \
             `--app PROTOCOL` to offer the one its application protocol uses (stomp offers \
             v12.stomp, v11.stomp, v10.stomp; mqtt offers mqtt; graphql-transport-ws its own \
             name). The upgrade itself got through: no proxy needs changing."
        ),
    ));
    f.fix.push(fix(
        "server",
        "If clients must connect without this subprotocol, make the server accept them \
         (python-websockets: `subprotocols=[...]` or a `select_subprotocol` that returns None; \
         ws: `handleProtocols`).",
    ));
    f
}

fn engine_io(ctx: &Ctx<'_>, message: &str) -> Finding {
    let meaning = ENGINE_IO_MESSAGES
        .iter()
        .find(|(m, _)| *m == message)
        .map(|(_, meaning)| *meaning)
        .unwrap_or("the server refused the request");
    let mut f = ctx.finding(
        CauseId::UpgradeRejected,
        Severity::Error,
        0.85,
        format!("Socket.IO (Engine.IO) refused the upgrade with \"{message}\": {meaning}"),
    );
    f.fix.push(fix(
        "client",
        "Connect the way socket.io-client does: `--app socketio` (or `auto` on a /socket.io/ \
         path) adds `EIO=4&transport=websocket` to the query; `--app raw` sends the URL as \
         given. The upgrade itself got through: no proxy needs changing.",
    ));
    f
}

/// Engine.IO answers on its path (`/socket.io/`, `/engine.io/`) or to an
/// `EIO=` query; its short messages mean nothing elsewhere.
fn engine_io_request(hs: &HandshakeRecord) -> bool {
    hs.request_target().is_some_and(|target| {
        let target = target.to_ascii_lowercase();
        target.contains("/socket.io/") || target.contains("/engine.io/") || target.contains("eio=")
    })
}

/// A 101 that chose none of the subprotocols offered. RFC 6455 §4.2.2
/// allows it, but browsers (the WHATWG WebSocket standard: "If protocols is
/// not the empty list and … the empty byte sequence, then fail the WebSocket
/// connection") and npm `ws`'s client ("Server sent no subprotocol") fail the
/// connection: npm `ws`'s server does this when `handleProtocols` returns
/// false. So the upgrade was refused for every client that offers one.
pub(super) fn ignored_subprotocol(ctx: &Ctx<'_>) -> Option<Finding> {
    let hs = ctx.hs.filter(|h| h.switched() && h.subprotocol.is_none())?;
    let offered = hs
        .request_header("sec-websocket-protocol")
        .filter(|o| !o.is_empty())?;
    let mut f = ctx.finding(
        CauseId::UpgradeRejected,
        Severity::Warning,
        0.8,
        format!(
            "The server accepted the upgrade but chose none of the subprotocols offered ({}): \
             browsers and npm ws's client fail such a connection at once",
            peer(offered, 120)
        ),
    );
    f.evidence.push(format!(
        "request offered Sec-WebSocket-Protocol: {}; the 101 carried no Sec-WebSocket-Protocol",
        peer(offered, 120)
    ));
    f.evidence.push(
        "RFC 6455 §4.2.2 lets a server decline every subprotocol, but the WHATWG WebSocket \
         standard (browsers) fails the connection when protocols were requested and none \
         was chosen"
            .to_owned(),
    );
    f.fix.push(fix(
        "server",
        "Accept the subprotocol your clients offer (ws: `handleProtocols` returning it; \
         python-websockets: `subprotocols=[...]`), or make the clients offer the one the \
         server speaks.",
    ));
    f.fix.push(fix(
        "client",
        "Offer the subprotocol the server speaks (`--subprotocol NAME`, or `--app PROTOCOL`), \
         or none if the server speaks none.",
    ));
    Some(f)
}

#[cfg(test)]
mod tests {
    use wsdoctor_evidence::{BodySample, HandshakeRecord};

    use super::{recognise, Refusal};

    fn answer(target: &str, offered: Option<&str>, body: &str) -> HandshakeRecord {
        let mut request = vec![format!("GET {target} HTTP/1.1"), "Host: h".to_owned()];
        request.extend(offered.map(|o| format!("Sec-WebSocket-Protocol: {o}")));
        HandshakeRecord {
            request,
            http_version: "HTTP/1.1".to_owned(),
            status: 400,
            reason: "Bad Request".to_owned(),
            headers: Vec::new(),
            body: Some(BodySample {
                text: body.to_owned(),
                bytes_read: body.len(),
                truncated: false,
            }),
            subprotocol: None,
            problems: Vec::new(),
        }
    }

    #[test]
    fn python_websockets_lists_what_it_accepts() {
        // python-websockets 15.0.1's words (server.py, select_subprotocol).
        let hs = answer(
            "/",
            Some("superchat"),
            "Failed to open a WebSocket connection: invalid subprotocol; expected one of chat, v2.chat.\n",
        );
        let Some(Refusal::Subprotocol { offered, expected }) = recognise(&hs) else {
            panic!("not recognised");
        };
        assert_eq!(offered.as_deref(), Some("superchat"));
        assert_eq!(expected.as_deref(), Some("chat, v2.chat"));
    }

    #[test]
    fn engine_io_messages_count_only_on_its_paths() {
        let hs = answer("/socket.io/?EIO=4", None, "Transport unknown");
        assert!(matches!(
            recognise(&hs),
            Some(Refusal::EngineIo {
                message: "Transport unknown"
            })
        ));
        assert!(recognise(&answer("/chat", None, "Transport unknown")).is_none());
        // The JSON answer is Engine.IO's to a plain request: not a refused upgrade.
        let json = r#"{"code":3,"message":"Bad request"}"#;
        assert!(recognise(&answer("/socket.io/?EIO=4", None, json)).is_none());
        // A page about the upgrade itself stays with the upgrade rules.
        assert!(recognise(&answer("/", None, "Missing Upgrade: websocket header")).is_none());
    }
}
