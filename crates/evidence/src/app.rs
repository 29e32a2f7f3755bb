//! What an application protocol on top of WebSocket (Socket.IO, GraphQL over
//! WebSocket, …) said on one connection: which protocol, why we think so,
//! the timers the server announced, and its protocol-level events.

use serde::{Deserialize, Serialize};

use crate::Side;

/// At most this many protocol events are kept per connection; later ones
/// are only counted (heartbeats go on for as long as the connection lives).
pub const MAX_APP_EVENTS: usize = 1_000;

/// The application protocol of one connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRecord {
    /// The protocol's id (`socketio`, `graphql-transport-ws`, …); `None`
    /// when none was recognised.
    pub protocol: Option<String>,
    /// Why: the flag, the URL path, the subprotocol, or the server's first
    /// message; or why none was recognised.
    pub decided_by: String,
    /// False when wsdoctor only watched (`--app raw`): it recognised the
    /// protocol but sent none of its messages, as a client that does not
    /// speak it would.
    pub spoken: bool,
    /// The protocol's version or dialect (`EIO=4`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The protocol's heartbeat timers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timers: Option<AppTimers>,
    /// Protocol events in order (at most [`MAX_APP_EVENTS`]).
    pub events: Vec<AppEvent>,
    /// Events seen but not kept.
    #[serde(default)]
    pub events_omitted: u64,
    /// Heartbeats the server sent (all of them, also those not kept).
    #[serde(default)]
    pub server_heartbeats: u64,
    /// Heartbeats the server sent that we did not answer (all of them).
    #[serde(default)]
    pub heartbeats_unanswered: u64,
}

/// A protocol's heartbeat timers, as announced or by the library's default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppTimers {
    /// Who sends the protocol's heartbeat.
    pub pinger: Side,
    /// How often it is sent, ms.
    pub interval_ms: u64,
    /// How long the other side waits for it (or its answer) before giving
    /// up, ms.
    pub timeout_ms: u64,
    /// The protocol's names for these settings (`pingInterval`,
    /// `pingTimeout`), for findings and fixes.
    pub interval_setting: String,
    /// The name of the timeout setting.
    pub timeout_setting: String,
    /// True when the server announced them; false for a library default.
    pub announced: bool,
    /// Where the numbers come from, said plainly.
    pub source: String,
    /// The heartbeat is WebSocket ping frames (graphql-ws's keepAlive), so
    /// the frame log measures it better than the default says.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub websocket_pings: bool,
}

/// One protocol event, timestamped like frame events (µs since the attempt
/// started).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppEvent {
    /// µs since the attempt started.
    pub at_us: u64,
    /// What happened.
    #[serde(flatten)]
    pub kind: AppEventKind,
}

/// What happened at the protocol level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum AppEventKind {
    /// We sent the protocol's opening message (`40`, `connection_init`).
    InitSent {
        /// The message, as sent.
        message: String,
    },
    /// The server accepted the opening (`connection_ack`, the namespace's
    /// `40{…}`, Engine.IO's open packet).
    InitAcked {
        /// What it was.
        what: String,
    },
    /// The server sent a protocol heartbeat.
    ServerHeartbeat {
        /// We answered it.
        answered: bool,
    },
    /// We sent a protocol heartbeat.
    ClientHeartbeat,
    /// The server answered our protocol heartbeat.
    HeartbeatAck {
        /// Round trip, µs.
        rtt_us: u64,
    },
    /// A protocol deadline passed without what it waits for (our
    /// heartbeat's answer, the server's heartbeat, the init's answer).
    Overdue {
        /// What was awaited.
        what: String,
        /// How long it had been awaited, ms.
        waited_ms: u64,
    },
    /// A protocol-level close or disconnect, with its reason.
    Disconnect {
        /// Who said it.
        by: Side,
        /// The reason, as said (peer-controlled; escape before printing).
        reason: String,
    },
    /// The server reported an error at the protocol level
    /// (`connection_error`, Socket.IO `44`).
    Error {
        /// Its message (peer-controlled; escape before printing).
        message: String,
    },
}

impl AppRecord {
    /// The first event matching `pred`.
    pub fn first(&self, pred: impl Fn(&AppEventKind) -> bool) -> Option<&AppEvent> {
        self.events.iter().find(|e| pred(&e.kind))
    }

    /// True when the server accepted the protocol's opening.
    pub fn init_acked(&self) -> bool {
        self.first(|k| matches!(k, AppEventKind::InitAcked { .. }))
            .is_some()
    }
}
