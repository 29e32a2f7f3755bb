//! What the idle experiment observed: several connections over one path,
//! started together, each keeping the path busy in a different way (or not
//! at all), and when and how each one ended.

use serde::{Deserialize, Serialize};

use crate::{ConnectionEnd, ConnectionRecord, Side};

/// How an arm of the experiment treats the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arm {
    /// Sends nothing (answers the server's pings, as any client must).
    Silent,
    /// Sends a WebSocket ping every interval.
    Ping,
    /// Sends an application message every interval (some hops ignore control frames).
    Data,
}

impl Arm {
    /// The spelling used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Arm::Silent => "silent",
            Arm::Ping => "ping",
            Arm::Data => "data",
        }
    }
}

/// One connection of the experiment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdleSample {
    /// Which arm.
    pub arm: Arm,
    /// 1-based sample number within the arm.
    pub sample: u32,
    /// Everything observed on it.
    pub connection: ConnectionRecord,
}

impl IdleSample {
    /// True when the path ended it (anything but our own close at the end of
    /// the experiment, or a failure before it opened).
    pub fn dropped(&self) -> bool {
        match self.connection.end.as_ref().map(|e| &e.end) {
            None => false,
            Some(ConnectionEnd::CloseHandshake {
                initiator: Side::Local,
                ..
            }) => false,
            Some(end) => !end.before_open(),
        }
    }

    /// Age of the connection (µs since the 101) when it ended.
    pub fn age_us(&self) -> Option<u64> {
        self.connection.end.as_ref().and_then(|e| e.open_for_us)
    }

    /// Idle time (µs since the last frame in either direction) when it ended.
    pub fn idle_us(&self) -> Option<u64> {
        let end = self.connection.end.as_ref()?;
        match (end.since_last_inbound_us, end.since_last_outbound_us) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The whole experiment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdleEvidence {
    /// The target, secrets redacted.
    pub target: String,
    /// Interval of the keepalive arms, in ms.
    pub interval_ms: u64,
    /// The longest we were willing to wait, in ms.
    pub max_ms: u64,
    /// How long the experiment ran, in ms.
    pub ran_ms: u64,
    /// True when it stopped as soon as the outcome was certain (before `max_ms`).
    pub stopped_early: bool,
    /// Every connection, in arm then sample order.
    pub samples: Vec<IdleSample>,
}
