//! The active hop fingerprint: the few harmless requests sent to the
//! target's host and port to see which product answers them, and what came
//! back. Raw material only; matching is in `wsdoctor-diagnosis`.

use serde::{Deserialize, Serialize};

use crate::Header;

/// One request of the fingerprint and its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HopProbeExchange {
    /// Which request: `bad-header-name`, `unknown-method`, `long-request-line`,
    /// `options-star`.
    pub probe: String,
    /// What was sent, in words (`GET /chat HTTP/1.1 with a header named
    /// "Bad Header"`): the request itself may be 10 KB long.
    pub sent: String,
    /// Status code of the answer; `None` when none came.
    pub status: Option<u16>,
    /// Reason phrase as sent (peer-controlled).
    #[serde(default)]
    pub reason: String,
    /// Every response header, in order and spelling (values redacted if secret).
    #[serde(default)]
    pub headers: Vec<Header>,
    /// The start of the answer's body (lossy UTF-8, at most a few KB).
    #[serde(default)]
    pub body: String,
    /// Why there was no answer (`timeout after 2s`, `connection closed`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// From sending the request to the end of the answer (or the error), µs.
    pub elapsed_us: u64,
}

/// The whole active fingerprint of one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HopProbeRecord {
    /// `host:port` the requests went to (over the same TLS and forward
    /// proxy as the WebSocket).
    pub to: String,
    /// Whether the requests went over TLS.
    pub tls: bool,
    /// Each request, in the order sent (one connection each, one at a time).
    pub exchanges: Vec<HopProbeExchange>,
}
