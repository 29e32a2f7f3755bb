//! The HTTP/1.1 upgrade exchange as it happened on the wire.

use serde::{Deserialize, Serialize};

/// One HTTP header, in the order and spelling it arrived (value redacted if secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Header name as sent.
    pub name: String,
    /// Header value (lossy UTF-8; secrets replaced by `REDACTED`).
    pub value: String,
}

/// The start of a non-101 response body: what a proxy's error page says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodySample {
    /// The first bytes of the body as lossy UTF-8 (at most 64 KiB).
    pub text: String,
    /// How many body bytes were read.
    pub bytes_read: usize,
    /// True when the body was longer than what we kept, or we stopped reading.
    pub truncated: bool,
}

/// A way a `101 Switching Protocols` answer breaks RFC 6455 §4.1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum HandshakeProblem {
    /// `Sec-WebSocket-Accept` is missing or not the hash of our key. Usually a
    /// proxy or framework that rewrote or cached the response, or a server
    /// that hashes the key wrongly.
    BadAccept {
        /// The value RFC 6455 requires for our key.
        expected: String,
        /// What came back, if anything.
        got: Option<String>,
    },
    /// No `Upgrade: websocket` header in the 101.
    MissingUpgrade {
        /// What came back, if anything.
        got: Option<String>,
    },
    /// No `Connection: Upgrade` token in the 101.
    MissingConnectionUpgrade {
        /// What came back, if anything.
        got: Option<String>,
    },
    /// A subprotocol we did not offer was selected.
    UnrequestedSubprotocol {
        /// The selected subprotocol.
        got: String,
    },
    /// An extension we did not offer was selected.
    UnrequestedExtension {
        /// The `Sec-WebSocket-Extensions` value.
        got: String,
    },
    /// The answer to our permessage-deflate offer breaks RFC 7692 §7
    /// (an unknown or repeated parameter, a window outside 8..15, a
    /// `client_max_window_bits` we did not offer, more than one extension).
    InvalidExtension {
        /// The `Sec-WebSocket-Extensions` value.
        got: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The whole upgrade exchange: the request as we sent it and the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandshakeRecord {
    /// The request head as sent, one line per entry, secrets redacted.
    pub request: Vec<String>,
    /// `HTTP/1.1` or `HTTP/1.0` (a 1.0 answer means something downgraded the
    /// request); `HTTP/2` for an extended CONNECT (RFC 8441), where `request`
    /// starts with `CONNECT <path> HTTP/2` and the pseudo-headers follow.
    pub http_version: String,
    /// Response status code.
    pub status: u16,
    /// Reason phrase as sent (peer-controlled).
    pub reason: String,
    /// Every response header, in order.
    pub headers: Vec<Header>,
    /// The body of a non-101 answer.
    pub body: Option<BodySample>,
    /// The subprotocol the server selected, if any.
    pub subprotocol: Option<String>,
    /// The problems found in a 101 answer; empty when valid or not a 101.
    pub problems: Vec<HandshakeProblem>,
}

impl HandshakeRecord {
    /// True for an HTTP/2 exchange (RFC 8441 extended CONNECT).
    pub fn is_http2(&self) -> bool {
        self.http_version == "HTTP/2"
    }

    /// True when the answer switched to WebSocket: `101` to an HTTP/1.1
    /// upgrade, or a 2xx to an HTTP/2 extended CONNECT (RFC 8441 §5).
    pub fn switched(&self) -> bool {
        if self.is_http2() {
            (200..300).contains(&self.status)
        } else {
            self.status == 101
        }
    }

    /// The first value of a header, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// The target of the request line as sent (`/chat?room=1` in
    /// `GET /chat?room=1 HTTP/1.1`, `host:443` in a CONNECT), secrets
    /// redacted like the rest of `request`.
    pub fn request_target(&self) -> Option<&str> {
        self.request.first()?.split_whitespace().nth(1)
    }

    /// The first value of a request header as sent, case-insensitively,
    /// trimmed; the request line is not a header.
    pub fn request_header(&self, name: &str) -> Option<&str> {
        self.request.iter().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// All values of a header, case-insensitively.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(request: &[&str]) -> HandshakeRecord {
        HandshakeRecord {
            request: request.iter().map(|l| (*l).to_owned()).collect(),
            http_version: "HTTP/1.1".to_owned(),
            status: 101,
            reason: "Switching Protocols".to_owned(),
            headers: Vec::new(),
            body: None,
            subprotocol: None,
            problems: Vec::new(),
        }
    }

    #[test]
    fn the_request_line_and_headers_are_read_from_the_request_as_sent() {
        let hs = sent(&[
            "GET /socket.io/?EIO=4&token=REDACTED HTTP/1.1",
            "Host: Example.test:8080",
            "sec-websocket-protocol :  chat, superchat ",
            "X-Empty:",
        ]);
        assert_eq!(
            hs.request_target(),
            Some("/socket.io/?EIO=4&token=REDACTED")
        );
        assert_eq!(hs.request_header("host"), Some("Example.test:8080"));
        assert_eq!(
            hs.request_header("Sec-WebSocket-Protocol"),
            Some("chat, superchat")
        );
        assert_eq!(hs.request_header("x-empty"), Some(""));
        assert_eq!(hs.request_header("origin"), None);
        // The request line is no header, even when its target has a colon.
        let hs = sent(&["GET /a:b HTTP/1.1"]);
        assert_eq!(hs.request_header("get /a"), None);
        assert_eq!(hs.request_target(), Some("/a:b"));
        assert_eq!(sent(&[]).request_target(), None);
        assert_eq!(
            sent(&["CONNECT example.test:443 HTTP/1.1"]).request_target(),
            Some("example.test:443")
        );
    }
}
