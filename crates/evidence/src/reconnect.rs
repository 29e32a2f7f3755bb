//! Evidence of client behaviour: how clients come back after the server
//! drops them (`wsdoctor reconnect`), and whether messages keep flowing on a
//! connection that is still open (`wsdoctor flow`).

use serde::{Deserialize, Serialize};

use crate::ConnectionRecord;

/// What ended a client's previous connection or attempt: the moment a
/// reconnect delay is measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Interruption {
    /// The server reset the TCP connection (RST; browsers report 1006).
    Reset,
    /// The server closed TCP without a close frame (FIN; also 1006).
    Fin,
    /// The server sent a close frame with this code (1001, 1012, 1013, …).
    Close {
        /// The close code sent.
        code: u16,
    },
    /// The server refused the upgrade with this HTTP status (503).
    Refused {
        /// The HTTP status sent.
        status: u16,
    },
    /// The client ended the connection itself (its own timeout or logic).
    ClientClosed,
}

impl Interruption {
    /// Short words for people and tables: `rst`, `fin`, `close 1012`, `503`.
    pub fn label(&self) -> String {
        match self {
            Interruption::Reset => "rst".to_owned(),
            Interruption::Fin => "fin".to_owned(),
            Interruption::Close { code } => format!("close {code}"),
            Interruption::Refused { status } => status.to_string(),
            Interruption::ClientClosed => "client closed".to_owned(),
        }
    }

    /// True for a refused handshake (the client's attempt failed, so its
    /// backoff keeps growing instead of starting over).
    pub fn is_refusal(&self) -> bool {
        matches!(self, Interruption::Refused { .. })
    }
}

impl std::str::FromStr for Interruption {
    type Err = NotAWay;

    /// A way a server can end a connection (`--close-code`): `rst` (also
    /// `reset`, and `1006`, which is never sent on the wire: a client sees
    /// it after a reset), `fin` (`eof`), or a close code that may be sent
    /// (1000–1003, 1007–1014, 3000–4999). Refusals are not ways to end an
    /// open connection, and the client's own close is not the server's.
    fn from_str(text: &str) -> Result<Self, NotAWay> {
        match text.trim().to_ascii_lowercase().as_str() {
            "rst" | "reset" | "1006" => Ok(Interruption::Reset),
            "fin" | "eof" => Ok(Interruption::Fin),
            other => match other.parse::<u16>() {
                Ok(code @ (1000..=1003 | 1007..=1014 | 3000..=4999)) => {
                    Ok(Interruption::Close { code })
                }
                _ => Err(NotAWay(crate::escape_peer(other))),
            },
        }
    }
}

/// A word that is no way for a server to end a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not rst, fin or a close code that may be sent (1000–1003, 1007–1014, 3000–4999)")]
pub struct NotAWay(pub String);

/// One reconnect: how long after an interruption the client's next
/// handshake request arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconnectGap {
    /// What came before.
    pub after: Interruption,
    /// From the interruption to the next request head, in ms.
    pub delay_ms: u64,
    /// When the new request arrived, ms since the run started.
    pub at_ms: u64,
}

/// Everything seen of one client.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconnectClient {
    /// Its identity: the `client` query parameter, the `X-Client-Id`
    /// header, or its IP address.
    pub client: String,
    /// When it first arrived, ms since the run started.
    pub first_seen_ms: u64,
    /// Handshakes accepted.
    pub connections: u32,
    /// Handshakes refused (503).
    pub refused: u32,
    /// Connections the server dropped on schedule.
    pub drops: u32,
    /// Every reconnect, in order (at most [`MAX_GAPS`]).
    pub gaps: Vec<ReconnectGap>,
    /// Reconnects not kept past [`MAX_GAPS`].
    pub gaps_omitted: u64,
    /// WebSocket pings the client sent of its own accord.
    pub pings: u64,
    /// Median interval between the client's pings on one connection, ms.
    pub ping_interval_ms: Option<u64>,
    /// Data messages the client sent.
    pub messages: u64,
    /// Time its connections were open in all, ms (how long pings had to show).
    pub open_ms: u64,
    /// The application protocol the listening side spoke to it (`--app`);
    /// absent for bare WebSocket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<ReconnectApp>,
}

/// The application protocol `reconnect --listen` spoke to one client.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconnectApp {
    /// Its id (`socketio`, `graphql-transport-ws`, `graphql-ws`).
    pub protocol: String,
    /// Why it was spoken (the flag, the request path, the subprotocol offered).
    pub decided_by: String,
    /// Connections on which the client's library finished the protocol's
    /// opening (Socket.IO's namespace connect, GraphQL's connection_init):
    /// its session really opened before the drop.
    pub sessions_opened: u32,
}

/// Most reconnects kept per client: a client in a tight loop must not grow
/// memory.
pub const MAX_GAPS: usize = 200;

/// What `wsdoctor reconnect` observed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconnectEvidence {
    /// The address clients were pointed at.
    pub listen: String,
    /// How long each connection was held before the drop, ms.
    pub drop_after_ms: u64,
    /// Drops per client before the run could end.
    pub drops: u32,
    /// How connections were dropped, in turn.
    pub ways: Vec<Interruption>,
    /// Handshakes refused with 503 after each drop.
    pub refuse: u32,
    /// How long the run lasted, ms.
    pub ran_ms: u64,
    /// Why it ended: `complete`, `max` or `interrupted`.
    pub ended_by: String,
    /// Clients, in order of arrival.
    pub clients: Vec<ReconnectClient>,
    /// Clients not tracked past the cap.
    pub clients_omitted: u64,
}

/// The moment a flow watchdog became certain messages had stopped while
/// the connection itself answered pings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowStall {
    /// When the stall became certain, ms after the 101.
    pub at_ms: u64,
    /// How long no message had arrived by then, ms.
    pub silent_ms: u64,
    /// When the last message arrived, ms after the 101 (`None`: none ever came).
    pub last_message_ms: Option<u64>,
    /// The last pong's round trip, µs: the transport was alive.
    pub last_pong_rtt_us: Option<u64>,
    /// How long before the stall the last pong arrived, ms.
    pub last_pong_ago_ms: Option<u64>,
}

/// What `wsdoctor flow` observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowEvidence {
    /// The target (secrets redacted).
    pub target: String,
    /// Messages were expected at least this often, ms.
    pub expect_every_ms: u64,
    /// Our ping interval, ms.
    pub ping_interval_ms: u64,
    /// The longest the run could last, ms.
    pub max_ms: u64,
    /// How long it lasted, ms.
    pub ran_ms: u64,
    /// Data messages received.
    pub messages: u64,
    /// Gaps between consecutive messages (the first from the 101), ms; at
    /// most [`MAX_FLOW_GAPS`] kept.
    pub gaps_ms: Vec<u64>,
    /// The largest gap, ms, and when it ended (ms after the 101).
    pub largest_gap_ms: Option<(u64, u64)>,
    /// Pongs received.
    pub pongs: u64,
    /// The stall, when one became certain.
    pub stall: Option<FlowStall>,
    /// The connection: handshake, frames and how it ended.
    pub connection: ConnectionRecord,
}

/// Most message gaps kept by a flow watchdog.
pub const MAX_FLOW_GAPS: usize = 10_000;

#[cfg(test)]
mod tests {
    use super::Interruption;

    #[test]
    fn ways_parse() {
        let parse_way = |text: &str| text.parse::<Interruption>();
        assert_eq!(parse_way("rst"), Ok(Interruption::Reset));
        assert_eq!(parse_way("1006"), Ok(Interruption::Reset));
        assert_eq!(parse_way(" FIN"), Ok(Interruption::Fin));
        assert_eq!(parse_way("1013"), Ok(Interruption::Close { code: 1013 }));
        assert!(parse_way("1005").is_err());
        assert_eq!(
            parse_way("soon").map_err(|e| e.to_string()),
            Err("'soon' is not rst, fin or a close code that may be sent (1000–1003, 1007–1014, 3000–4999)".to_owned())
        );
    }
}
