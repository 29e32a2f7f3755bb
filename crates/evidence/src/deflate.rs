//! permessage-deflate (RFC 7692) as negotiated on one connection, and what
//! it did to the bytes received.

use serde::{Deserialize, Serialize};

/// The parameters both sides agreed on in `Sec-WebSocket-Extensions`.
/// A window of `None` means the default, 15 bits (32 KiB).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeflateParams {
    /// The server starts each message with an empty window.
    pub server_no_context_takeover: bool,
    /// The client starts each message with an empty window.
    pub client_no_context_takeover: bool,
    /// The window the server compresses with, when the answer limited it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_max_window_bits: Option<u8>,
    /// The window the client compresses with, when the answer limited it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_max_window_bits: Option<u8>,
}

impl DeflateParams {
    /// The extension as one would write it in the header.
    pub fn header_value(&self) -> String {
        let mut value = "permessage-deflate".to_owned();
        if self.server_no_context_takeover {
            value.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            value.push_str("; client_no_context_takeover");
        }
        if let Some(bits) = self.server_max_window_bits {
            value.push_str(&format!("; server_max_window_bits={bits}"));
        }
        if let Some(bits) = self.client_max_window_bits {
            value.push_str(&format!("; client_max_window_bits={bits}"));
        }
        value
    }
}

/// permessage-deflate on one connection: what was agreed and, once the
/// session ran, how much the compressed messages received weighed on the
/// wire against what they inflated to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeflateRecord {
    /// The negotiated parameters.
    #[serde(flatten)]
    pub params: DeflateParams,
    /// Compressed messages received.
    pub compressed_messages_in: u64,
    /// Their payload bytes as received (compressed).
    pub compressed_bytes_in: u64,
    /// What those payloads inflated to.
    pub inflated_bytes_in: u64,
}
