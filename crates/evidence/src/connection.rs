//! One WebSocket connection as observed from our end: timings, TLS, the
//! handshake, every frame, and how it ended.

use serde::{Deserialize, Serialize};

use crate::{EndRecord, HandshakeRecord, Side};

/// At most this many frame events are kept per connection; later ones are
/// only counted (`events_omitted`), so a chatty peer cannot exhaust memory.
pub const MAX_RECORDED_EVENTS: usize = 10_000;

/// Which role wsdoctor played on this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// wsdoctor connected to the target (probe, idle, load).
    Client,
    /// wsdoctor accepted the connection (serve, reconnect).
    Server,
}

/// Monotonic phase timings in µs since the attempt started; `None` when the
/// phase did not happen (no DNS for an IP literal, no TLS for `ws://`) or was
/// not reached.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseTimings {
    /// Name resolution finished.
    pub dns_done_us: Option<u64>,
    /// TCP connected.
    pub connect_done_us: Option<u64>,
    /// TLS handshake finished.
    pub tls_done_us: Option<u64>,
    /// The upgrade request was written.
    pub request_written_us: Option<u64>,
    /// The full response head was received.
    pub response_head_us: Option<u64>,
    /// The forward proxy's tunnel to the target was established (HTTP
    /// CONNECT answered 2xx, or SOCKS5 replied success); `connect_done_us`
    /// is then the TCP connect to the proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_tunnel_done_us: Option<u64>,
}

/// What TLS negotiated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsInfo {
    /// `TLSv1_3`, `TLSv1_2`.
    pub version: String,
    /// The cipher suite.
    pub cipher: String,
    /// The ALPN protocol, if one was agreed.
    pub alpn: Option<String>,
    /// False when the user chose `--insecure`.
    pub verified: bool,
    /// A client certificate was given (`--cert`/`--key`), sent when the
    /// server asked for one. Absent from the JSON when none was given.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub client_certificate: bool,
}

/// How we treat pings from the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "policy", rename_all = "kebab-case")]
pub enum PongPolicy {
    /// Answer at once, as RFC 6455 requires (the default).
    Answer,
    /// Never answer: emulates a dead client.
    Never,
    /// Answer after a delay: emulates a slow path or a busy client.
    Delay {
        /// The delay.
        ms: u64,
    },
}

/// Our own heartbeat on this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatSettings {
    /// How often we ping; `None` for never.
    pub ping_interval_ms: Option<u64>,
    /// How long a ping may go unanswered before the connection counts as half-open.
    pub pong_timeout_ms: u64,
    /// How we answer the peer's pings.
    pub pong_policy: PongPolicy,
}

/// What a frame was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum FrameKind {
    /// A ping.
    Ping {
        /// Payload length.
        len: usize,
    },
    /// A pong; `rtt_us` when it answered one of our pings.
    Pong {
        /// Payload length.
        len: usize,
        /// Round trip of the ping it answers.
        rtt_us: Option<u64>,
    },
    /// A text message (all its frames).
    Text {
        /// Message length in bytes.
        len: usize,
        /// The first 120 characters, for greetings and echoes (peer-controlled; escape before printing).
        /// Login header values (STOMP `passcode:`) are redacted where the
        /// preview is made ([`crate::redact_message_preview`]).
        preview: String,
        /// When this is the echo of a message we sent: its round trip.
        echo_rtt_us: Option<u64>,
    },
    /// A binary message.
    Binary {
        /// Message length in bytes.
        len: usize,
    },
    /// A close frame.
    Close {
        /// Status code (None: no code, 1005).
        code: Option<u16>,
        /// Reason text (peer-controlled when from the remote).
        reason: String,
    },
}

/// One frame, timestamped, with who sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameEvent {
    /// µs since the attempt started.
    pub at_us: u64,
    /// Who sent it.
    pub from: Side,
    /// What it was.
    #[serde(flatten)]
    pub kind: FrameKind,
}

/// Everything observed on one connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionRecord {
    /// The target URL, secrets redacted.
    pub target: String,
    /// Wall-clock start, RFC 3339 UTC.
    pub started_at: String,
    /// Our role.
    pub role: Role,
    /// Addresses the name resolved to.
    pub resolved: Vec<String>,
    /// The peer address we talked to.
    pub peer_addr: Option<String>,
    /// Phase timings.
    pub phases: PhaseTimings,
    /// TLS, for `wss://`.
    pub tls: Option<TlsInfo>,
    /// The upgrade exchange, when a response (or part of one) arrived.
    pub handshake: Option<HandshakeRecord>,
    /// Our heartbeat settings.
    pub heartbeat: HeartbeatSettings,
    /// Frame events in order (at most [`MAX_RECORDED_EVENTS`]).
    pub events: Vec<FrameEvent>,
    /// Events seen but not kept.
    pub events_omitted: u64,
    /// How it ended; `None` while still open.
    pub end: Option<EndRecord>,
    /// wsdoctor offered HTTP/2 on this connection (`--http2`: ALPN `h2` for
    /// `wss://`, prior knowledge for `ws://`). False (and absent from JSON)
    /// for the plain HTTP/1.1 upgrade.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub http2_offered: bool,
    /// Set once the server spoke HTTP/2: whether its SETTINGS advertised
    /// `SETTINGS_ENABLE_CONNECT_PROTOCOL` (RFC 8441 §3). Browsers open a
    /// WebSocket over HTTP/2 (extended CONNECT) only when it is advertised,
    /// and fall back to HTTP/1.1 otherwise. `None` when HTTP/2 was not spoken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended_connect: Option<bool>,
    /// The forward proxy the connection went through, if any. Then
    /// `resolved` and `peer_addr` are the proxy's, and timings are to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_proxy: Option<crate::ForwardProxyRecord>,
    /// permessage-deflate (RFC 7692), when it was negotiated: the agreed
    /// parameters and the compressed against inflated bytes received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deflate: Option<crate::DeflateRecord>,
    /// The application protocol on top (Socket.IO, GraphQL over
    /// WebSocket, …) when one was spoken or recognised; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<crate::AppRecord>,
}

impl ConnectionRecord {
    /// True when the WebSocket was established: a valid 101, or a 200 to an
    /// HTTP/2 extended CONNECT (RFC 8441 §5).
    pub fn opened(&self) -> bool {
        self.handshake
            .as_ref()
            .is_some_and(|h| h.switched() && h.problems.is_empty())
    }

    /// True when the WebSocket was asked for over HTTP/2 (extended CONNECT),
    /// whatever the answer.
    pub fn is_http2(&self) -> bool {
        self.extended_connect.is_some()
    }

    /// Events sent by `side`.
    pub fn events_from(&self, side: Side) -> impl Iterator<Item = &FrameEvent> + '_ {
        self.events.iter().filter(move |e| e.from == side)
    }

    /// Times (µs) of the pings sent by `side`.
    pub fn ping_times(&self, side: Side) -> Vec<u64> {
        self.events_from(side)
            .filter(|e| matches!(e.kind, FrameKind::Ping { .. }))
            .map(|e| e.at_us)
            .collect()
    }

    /// Round trips of our pings that were answered.
    pub fn pong_rtts_us(&self) -> Vec<u64> {
        self.events_from(Side::Remote)
            .filter_map(|e| match e.kind {
                FrameKind::Pong { rtt_us, .. } => rtt_us,
                _ => None,
            })
            .collect()
    }

    /// How long the connection was watched after it opened, in µs.
    pub fn open_for_us(&self) -> Option<u64> {
        self.end.as_ref().and_then(|e| e.open_for_us)
    }
}

/// A message we sent, for matching echoes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentMessage {
    /// µs since the attempt started.
    pub at_us: u64,
    /// Length in bytes.
    pub len: usize,
    /// Round trip of its echo, if the peer echoed it.
    pub echo_rtt_us: Option<u64>,
}

/// What `wsdoctor probe` observed for one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeEvidence {
    /// The connection.
    pub connection: ConnectionRecord,
    /// How long we meant to hold the connection open, in ms.
    pub watch_ms: u64,
    /// Messages we sent.
    pub sent: Vec<SentMessage>,
    /// With `--compare-http`: the same probe over HTTP/2 extended CONNECT
    /// (RFC 8441), run at the same time as `connection`, which then used the
    /// HTTP/1.1 upgrade. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h2: Option<Box<ProbeEvidence>>,
    /// The active hop fingerprint, when it ran (the hop was not named by
    /// the upgrade's answer and `--no-fingerprint` was not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hop_probe: Option<crate::HopProbeRecord>,
}
