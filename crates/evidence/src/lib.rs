//! Typed, timestamped facts about WebSocket connections.
//!
//! Every wsdoctor source (probe, idle, load, lint, logs, …) records what it saw
//! as values of this crate; the diagnosis engine reads only these values and
//! never the network. Times inside one connection are microsecond offsets from
//! the moment the connection attempt started (a monotonic clock), so records
//! can be compared and replayed without wall-clock noise.
//!
//! This crate does no I/O and depends on no runtime.

mod app;
mod bounds;
pub mod browser;
pub mod config;
mod connection;
mod deflate;
mod duration;
mod ending;
mod escape;
mod handshake;
mod hop_probe;
pub mod idle;
pub mod load;
mod load_end;
mod log_end;
pub mod logs;
pub mod machine;
mod proxy;
pub mod reconnect;
mod redact;
pub mod watch;

pub use app::{AppEvent, AppEventKind, AppRecord, AppTimers, MAX_APP_EVENTS};
pub use bounds::{check_at_least, check_at_most, check_between, Bound, ConfigError};
pub use connection::{
    ConnectionRecord, FrameEvent, FrameKind, HeartbeatSettings, PhaseTimings, PongPolicy,
    ProbeEvidence, Role, SentMessage, TlsInfo, MAX_RECORDED_EVENTS,
};
pub use deflate::{DeflateParams, DeflateRecord};
pub use duration::{format_count, format_duration, format_secs, parse_duration, DurationError};
pub use ending::{ConnectionEnd, EndRecord, LocalResource, Side, TlsFailureKind, Transport};
pub use escape::escape_peer;
pub use handshake::{BodySample, HandshakeProblem, HandshakeRecord, Header};
pub use hop_probe::{HopProbeExchange, HopProbeRecord};
pub use log_end::{
    CloseCodeClass, EndedBy, EventEnd, HaproxyTermination, LoggedEnd, SessionPhase,
    TerminationCause,
};
pub use proxy::{ForwardProxyRecord, ProxyKind, SocksReply};
pub use redact::{
    redact_header_value, redact_message_preview, redact_subprotocols, redact_text,
    redact_typed_url, redact_url, REDACTED,
};
