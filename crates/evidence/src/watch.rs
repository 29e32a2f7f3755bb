//! What a long-running canary saw: every drop (and failed reconnect) of the
//! connections it keeps open, with the clocks that explain it, over a window.

use serde::{Deserialize, Serialize};

use crate::idle::Arm;
use crate::ConnectionEnd;

/// One connection ending (or a reconnect failing) during a watch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchDrop {
    /// Milliseconds since the watch started (monotonic clock).
    pub at_ms: u64,
    /// Wall-clock time, RFC 3339 UTC (for people and for log correlation).
    pub wall: String,
    /// Which target (secrets redacted).
    pub target: String,
    /// Which arm the connection belonged to.
    pub arm: Arm,
    /// Which connection of that target and arm (1-based).
    pub slot: u32,
    /// How it ended.
    pub end: ConnectionEnd,
    /// Whether it had opened (a failed reconnect did not).
    pub opened: bool,
    /// Its age at the end (µs since the 101).
    pub age_us: Option<u64>,
    /// Silence at the end (µs since the last frame either way).
    pub idle_us: Option<u64>,
    /// The `Server` header of its handshake answer.
    pub server: Option<String>,
    /// Which server instance answered its handshake (the
    /// `--instance-header`, `X-Wsdoctor-Instance` by default), for telling
    /// whether one client's reconnects stay on one instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

/// How a watched connection ended, in the three kinds a person tells apart
/// at a glance (the text strip and the HTML chart both use these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropKind {
    /// It opened and ended without a close frame from the far side (FIN,
    /// RST, half-open): a hop or a crash.
    NoCloseFrame,
    /// The far side sent a close frame.
    CloseFrame,
    /// A reconnect attempt failed before it opened.
    ReconnectFailed,
}

impl DropKind {
    /// Words for a legend.
    pub fn as_str(self) -> &'static str {
        match self {
            DropKind::NoCloseFrame => "no close frame",
            DropKind::CloseFrame => "close frame",
            DropKind::ReconnectFailed => "reconnect failed",
        }
    }
}

impl WatchDrop {
    /// Which of the three kinds this drop is.
    pub fn kind(&self) -> DropKind {
        match &self.end {
            _ if !self.opened => DropKind::ReconnectFailed,
            ConnectionEnd::CloseHandshake {
                initiator: crate::Side::Remote,
                ..
            } => DropKind::CloseFrame,
            _ => DropKind::NoCloseFrame,
        }
    }
}

/// A connection whose pongs came back but whose expected messages stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchStall {
    /// Milliseconds since the watch started.
    pub at_ms: u64,
    /// Which target.
    pub target: String,
    /// Which connection.
    pub slot: u32,
    /// How long no message had arrived.
    pub silent_ms: u64,
    /// The last pong round trip, showing the connection itself was alive.
    pub last_pong_rtt_us: Option<u64>,
}

/// The window a rolling diagnosis looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchEvidence {
    /// The targets.
    pub targets: Vec<String>,
    /// How many connections are kept open in all.
    pub connections: u32,
    /// How many are open right now.
    pub open_now: u32,
    /// Connections that opened since the start (zero: the watch never saw
    /// the target work, which is never healthy).
    #[serde(default)]
    pub opened_total: u64,
    /// The window's length in ms (drops older than this are forgotten).
    pub window_ms: u64,
    /// How long the watch has run, in ms.
    pub ran_ms: u64,
    /// Interval of the keepalive arms, in ms.
    pub interval_ms: u64,
    /// Messages expected at least this often (`--expect-every`), in ms.
    pub expect_every_ms: Option<u64>,
    /// Drops in the window, oldest first.
    pub drops: Vec<WatchDrop>,
    /// Stalls in the window.
    pub stalls: Vec<WatchStall>,
    /// Reconnect attempts since the start.
    pub reconnects: u64,
    /// The application protocol spoken (`--app`), as the first connection
    /// that knew its timers recorded it: which, why, and the heartbeat it
    /// announced. Absent for bare WebSocket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<crate::AppRecord>,
    /// The active hop fingerprint of each target whose hop no header named,
    /// sent after the watch (never during it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hop_probes: Vec<WatchHopProbe>,
    /// Each target's first answer to the upgrade (for the targets that
    /// answered), recorded after the watch like [`Self::hop_probes`]: what
    /// a hop in front did to it (every header name lower-cased) tells the
    /// diagnosis that the product a header names is not the front hop.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub first_answers: Vec<WatchAnswer>,
}

/// The first answer one watched target gave to the upgrade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchAnswer {
    /// The target, as in [`WatchDrop::target`] (secrets redacted).
    pub target: String,
    /// The answer, as recorded (request secrets redacted).
    pub answer: crate::HandshakeRecord,
}

/// The active hop fingerprint of one watched target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchHopProbe {
    /// The target, as in [`WatchDrop::target`] (secrets redacted).
    pub target: String,
    /// What was sent and what answered.
    #[serde(flatten)]
    pub probe: crate::HopProbeRecord,
}
