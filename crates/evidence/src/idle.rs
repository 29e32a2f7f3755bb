//! What the idle experiment observed: several connections over one path,
//! started together, each keeping the path busy in a different way (or not
//! at all), and when and how each one ended.

use serde::{Deserialize, Serialize};

use crate::{ConnectionEnd, ConnectionRecord, EndRecord, Side};

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
    /// Traffic from the server to the client only: asks a `wsdoctor serve`
    /// (query `tick=INTERVAL&ping=off`) to push a `tick N` message every
    /// interval and to send no pings of its own, and sends nothing itself.
    /// Pings from a server that ignores `ping=off` are still answered (a
    /// client that does not answer is killed by the server's pong deadline,
    /// which would be a false drop); the diagnosis then says the arm was not
    /// strictly one-directional. Against other servers nothing arrives and
    /// the arm is a second silent arm, which the report says.
    Inbound,
    /// Traffic from the client to the server only: sends the keepalive
    /// message every interval and asks a `wsdoctor serve` (query
    /// `echo=off&ping=off`) neither to echo it nor to ping. Its mirror of
    /// `inbound` tells "only server-to-client bytes count" (AWS CloudFront)
    /// from "either direction counts".
    Outbound,
}

impl Arm {
    /// The spelling used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Arm::Silent => "silent",
            Arm::Ping => "ping",
            Arm::Data => "data",
            Arm::Inbound => "inbound",
            Arm::Outbound => "outbound",
        }
    }

    /// True for the arms that need a `wsdoctor serve` to mean anything.
    pub fn needs_serve(self) -> bool {
        matches!(self, Arm::Inbound | Arm::Outbound)
    }

    /// Every arm, in the order they are listed to people.
    pub const ALL: [Arm; 5] = [
        Arm::Silent,
        Arm::Ping,
        Arm::Data,
        Arm::Inbound,
        Arm::Outbound,
    ];

    /// The arms that mean something against any server (a watch runs only
    /// these).
    pub const ANY_SERVER: [Arm; 3] = [Arm::Silent, Arm::Ping, Arm::Data];

    /// `text` (trimmed) as one of `allowed`.
    pub fn parse_among(text: &str, allowed: &[Arm]) -> Result<Arm, UnknownArm> {
        let text = text.trim();
        allowed
            .iter()
            .copied()
            .find(|arm| arm.as_str() == text)
            .ok_or_else(|| UnknownArm {
                given: crate::escape_peer(text),
                allowed: allowed.to_vec(),
            })
    }
}

impl std::str::FromStr for Arm {
    type Err = UnknownArm;

    /// Any of the five arms, as [`Arm::as_str`] spells them.
    fn from_str(text: &str) -> Result<Arm, UnknownArm> {
        Arm::parse_among(text, &Arm::ALL)
    }
}

/// A word that is not an arm (of those allowed where it was given).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{given}' is not an arm; choose from {}", allowed.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", "))]
pub struct UnknownArm {
    /// What was given, escaped for printing.
    pub given: String,
    /// The arms that were allowed there.
    pub allowed: Vec<Arm>,
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
    /// The id it was tagged with (`X-Wsdoctor-Conn-Id`), for pairing with
    /// the server's view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conn_id: Option<String>,
    /// The same connection as a `wsdoctor serve` behind the path saw it,
    /// when the target was one and answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerView>,
}

/// One connection as `wsdoctor serve` saw it: what `GET
/// /v1/connections/ID` answers. Times are the server's own, relative to its
/// 101, so they compare with the client's without a shared clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerView {
    /// The id the client tagged the connection with.
    pub id: String,
    /// The server instance (`X-Wsdoctor-Instance`).
    pub instance: String,
    /// How the connection ended for the server (role server: `local` is
    /// the server, `remote` whatever is in front of it); `None` while open.
    pub end: Option<EndRecord>,
    /// Frames the server received.
    pub frames_received: u64,
    /// Frames the server sent.
    pub frames_sent: u64,
    /// µs after the server's 101 of the last frame it received.
    pub last_received_us: Option<u64>,
    /// µs after the server's 101 of the last frame it sent.
    pub last_sent_us: Option<u64>,
}

impl ServerView {
    /// Reads the JSON that `GET /v1/connections/ID` answers. The text is
    /// the peer's: an error names what was wrong, escaped.
    pub fn from_json(body: &[u8]) -> Result<ServerView, String> {
        serde_json::from_slice(body)
            .map_err(|e| crate::escape_peer(&format!("not a connection view: {e}")))
    }

    /// Who ended the connection first as the server saw it: `Some(Local)`
    /// when the server itself closed (a close frame it started, or a TCP
    /// end of its own), `Some(Remote)` when the end came from in front of
    /// it (the client or a proxy), `None` while still open.
    pub fn closed_by(&self) -> Option<Side> {
        match &self.end.as_ref()?.end {
            ConnectionEnd::CloseHandshake { initiator, .. } => Some(*initiator),
            // The server's own timers and faults end it from its side.
            ConnectionEnd::LocalDeadline { .. } | ConnectionEnd::HalfOpen { .. } => {
                Some(Side::Local)
            }
            _ => Some(Side::Remote),
        }
    }
}

/// How pairing with the server's view went, for the whole experiment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pairing {
    /// The instance named by the handshake's `X-Wsdoctor-Instance`.
    pub instance: String,
    /// Connections whose view was asked for.
    pub asked: u32,
    /// Connections the server answered for.
    pub answered: u32,
    /// What went wrong fetching, once per kind (an observation, never an
    /// error of the run); peer text escaped.
    pub problems: Vec<String>,
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
    /// How long (age of the experiment) the connections that survived a
    /// timer were kept open to see the server's pings, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_window_ms: Option<u64>,
    /// Age of the experiment when the timer became certain, in ms; `None`
    /// when no timer was seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer_certain_ms: Option<u64>,
    /// Every connection, in arm then sample order.
    pub samples: Vec<IdleSample>,
    /// Set when the target was a `wsdoctor serve` and its view was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pairing: Option<Pairing>,
    /// The active hop fingerprint, when it ran (see [`crate::HopProbeRecord`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hop_probe: Option<crate::HopProbeRecord>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_server_view_round_trips_and_bad_text_is_refused() {
        let view = ServerView {
            id: "ab-silent-1".into(),
            instance: "serve".into(),
            end: Some(EndRecord {
                end: ConnectionEnd::FinWithoutClose { mid_frame: false },
                at_us: 3_001_000,
                open_for_us: Some(3_000_000),
                since_last_inbound_us: Some(3_000_000),
                since_last_pong_us: None,
                since_last_outbound_us: Some(2_999_000),
            }),
            frames_received: 0,
            frames_sent: 1,
            last_received_us: None,
            last_sent_us: Some(500),
        };
        let json = serde_json::to_vec(&view).unwrap();
        assert_eq!(ServerView::from_json(&json), Ok(view.clone()));
        assert_eq!(view.closed_by(), Some(Side::Remote));
        let err = ServerView::from_json(b"<html>\x1b[31m").unwrap_err();
        assert!(err.starts_with("not a connection view"), "{err}");
        assert!(!err.contains('\x1b'));
    }

    #[test]
    fn evidence_without_pairing_reads_as_before() {
        let old = r#"{"target":"ws://x/","interval_ms":1000,"max_ms":1000,"ran_ms":5,"stopped_early":false,"samples":[]}"#;
        let e: IdleEvidence = serde_json::from_str(old).unwrap();
        assert_eq!(e.pairing, None);
        assert_eq!(serde_json::to_string(&e).unwrap(), old);
    }
}
