//! The pure half of the client's HTTP/1.1 upgrade (RFC 6455 §4.1): the
//! request head, the parse of the answer's head, the judgment of a `101`
//! and the accept key. The socket half (writing, reading with deadlines,
//! a refusal's body) stays in the shells (`wsdoctor_sources::conn`), so
//! the tokio dialer and the hold pool's mio dialer agree on what a valid
//! 101 is by calling the same functions.
//!
//! Written by hand on purpose: no WebSocket library keeps a refused
//! answer's status line, headers and body, and those are exactly what
//! tells a proxy's 400 from the application's 403.

use crate::head::HeadProgress;
use base64::Engine;
use sha1::{Digest, Sha1};
use wsdoctor_evidence::{
    redact_header_value, ConnectionEnd, DeflateParams, DeflateRecord, HandshakeProblem,
    HandshakeRecord, Header,
};

/// What goes into the upgrade request: a borrowed view of the caller's
/// connection options, so this crate needs none of their I/O settings.
#[derive(Debug, Clone, Copy)]
pub struct UpgradeRequest<'a> {
    /// The request target (path and query).
    pub resource: &'a str,
    /// The `Host` header's value.
    pub host_header: &'a str,
    /// The `Origin` header, if any.
    pub origin: Option<&'a str>,
    /// Subprotocols to offer, in order.
    pub subprotocols: &'a [String],
    /// Offer permessage-deflate ([`crate::deflate::OFFER`]).
    pub deflate: bool,
    /// Extra request headers, as given.
    pub headers: &'a [(String, String)],
}

/// The GUID of RFC 6455 §1.3.
const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// A response head longer than this is not an upgrade answer.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
const MAX_HEADERS: usize = 128;

/// `Sec-WebSocket-Accept` for a key.
pub fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(WEBSOCKET_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// A fresh random `Sec-WebSocket-Key`.
pub fn new_key() -> String {
    let bytes: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The request head as bytes, and the same lines redacted for the record.
pub fn build_request(options: &UpgradeRequest<'_>, key: &str) -> (Vec<u8>, Vec<String>) {
    let mut lines = vec![
        format!("GET {} HTTP/1.1", options.resource),
        format!("Host: {}", options.host_header),
        "Upgrade: websocket".to_owned(),
        "Connection: Upgrade".to_owned(),
        format!("Sec-WebSocket-Key: {key}"),
        "Sec-WebSocket-Version: 13".to_owned(),
    ];
    let mut redacted = lines.clone();
    redacted[0] = format!(
        "GET {} HTTP/1.1",
        wsdoctor_evidence::redact_url(options.resource)
    );
    let mut push = |name: &str, value: &str| {
        lines.push(format!("{name}: {value}"));
        redacted.push(format!("{name}: {}", redact_header_value(name, value)));
    };
    if let Some(origin) = options.origin {
        push("Origin", origin);
    }
    if !options.subprotocols.is_empty() {
        push("Sec-WebSocket-Protocol", &options.subprotocols.join(", "));
    }
    if options.deflate {
        push("Sec-WebSocket-Extensions", crate::deflate::OFFER);
    }
    let has_user_agent = options
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("user-agent"));
    if !has_user_agent {
        push(
            "User-Agent",
            concat!("wsdoctor/", env!("CARGO_PKG_VERSION")),
        );
    }
    for (name, value) in options.headers {
        push(name, value);
    }
    let mut bytes = lines.join("\r\n").into_bytes();
    bytes.extend_from_slice(b"\r\n\r\n");
    (bytes, redacted)
}

/// A parsed response head.
#[derive(Debug)]
pub struct ResponseHead {
    /// The minor HTTP version (`HTTP/1.x`).
    pub version: u8,
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// The headers as sent (values lossily decoded).
    pub headers: Vec<(String, String)>,
    /// Bytes the head took (the body or the first frames follow).
    pub len: usize,
}

impl ResponseHead {
    /// The exchange as evidence: the request as sent (already redacted)
    /// and this answer, its header values redacted where they carry
    /// credentials; no body, subprotocol or problems yet.
    pub fn into_record(self, request: Vec<String>) -> HandshakeRecord {
        HandshakeRecord {
            request,
            http_version: format!("HTTP/1.{}", self.version),
            status: self.status,
            reason: self.reason,
            headers: self
                .headers
                .iter()
                .map(|(n, v)| Header {
                    name: n.clone(),
                    value: redact_header_value(n, v),
                })
                .collect(),
            body: None,
            subprotocol: None,
            problems: Vec::new(),
        }
    }
}

/// How far a response head has arrived.
#[derive(Debug)]
pub enum HeadParse {
    /// The whole head is in.
    Complete(ResponseHead),
    /// More bytes are needed.
    Partial,
    /// Not an HTTP/1 response head (httparse's reason).
    Invalid(String),
}

/// Parses an HTTP/1 response head (the h2 path uses it for an HTTP/1.1
/// answer to its preface).
pub fn parse_head(buf: &[u8]) -> HeadParse {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => HeadParse::Complete(ResponseHead {
            version: response.version.unwrap_or(1),
            status: response.code.unwrap_or(0),
            reason: response.reason.unwrap_or_default().to_owned(),
            headers: response
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_owned(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect(),
            len,
        }),
        Ok(httparse::Status::Partial) => HeadParse::Partial,
        Err(e) => HeadParse::Invalid(e.to_string()),
    }
}

/// [`parse_head`] of a head that grows between calls (the whole head so
/// far each time): parses only when the new bytes can change the outcome
/// ([`crate::head`]), else says [`HeadParse::Partial`]; callers check
/// their size limit on `Partial` as before.
pub fn parse_head_from(buf: &[u8], progress: &mut HeadProgress) -> HeadParse {
    if progress.worth_parsing(buf) {
        parse_head(buf)
    } else {
        HeadParse::Partial
    }
}

/// Whether a comma-separated header value lists `token` (any case).
pub fn has_token(value: Option<&str>, token: &str) -> bool {
    value.is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

/// RFC 6455 §4.1 checks of a 101 answer.
fn check_101(record: &HandshakeRecord, key: &str) -> Vec<HandshakeProblem> {
    let mut problems = Vec::new();
    let expected = accept_key(key);
    let got = record.header("Sec-WebSocket-Accept").map(str::trim);
    if got != Some(expected.as_str()) {
        problems.push(HandshakeProblem::BadAccept {
            expected,
            got: got.map(str::to_owned),
        });
    }
    let upgrade = record.header("Upgrade");
    if !upgrade.is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket")) {
        problems.push(HandshakeProblem::MissingUpgrade {
            got: upgrade.map(str::to_owned),
        });
    }
    let connection = record.header("Connection");
    if !has_token(connection, "upgrade") {
        problems.push(HandshakeProblem::MissingConnectionUpgrade {
            got: connection.map(str::to_owned),
        });
    }
    problems
}

/// The negotiation checks that apply to any successful answer, HTTP/1.1's
/// 101 or HTTP/2's 2xx (RFC 6455 §4.1, RFC 8441 §5): a subprotocol we did
/// not offer, an extension we did not offer, or an answer to our
/// permessage-deflate offer that breaks RFC 7692 §7. Also returns what
/// deflate settings were agreed.
pub fn check_negotiation(
    record: &HandshakeRecord,
    offered: &[String],
    deflate_offered: bool,
) -> (Vec<HandshakeProblem>, Option<DeflateParams>) {
    let mut problems = Vec::new();
    if let Some(chosen) = record.header("Sec-WebSocket-Protocol") {
        // The record holds headers redacted (a token passed as a
        // subprotocol is a secret), so compare with the offer redacted.
        let offered = wsdoctor_evidence::redact_subprotocols(offered);
        if !offered.iter().any(|p| p == chosen.trim()) {
            problems.push(HandshakeProblem::UnrequestedSubprotocol {
                got: chosen.to_owned(),
            });
        }
    }
    let extensions: Vec<&str> = record.headers_named("Sec-WebSocket-Extensions").collect();
    let mut deflate = None;
    if !extensions.is_empty() {
        let got = extensions.join(", ");
        if !deflate_offered {
            problems.push(HandshakeProblem::UnrequestedExtension { got });
        } else {
            match crate::deflate::check_answer(&got) {
                Ok(params) => deflate = Some(params),
                Err(reason) => problems.push(HandshakeProblem::InvalidExtension { got, reason }),
            }
        }
    }
    (problems, deflate)
}

/// Judges a `101` answer to our request with `key` (every dialer, tokio's
/// and the hold pool's, goes through here): records its problems and
/// subprotocol in `handshake`, and returns the agreed permessage-deflate,
/// or the end that a broken answer means.
pub fn judge_101(
    handshake: &mut HandshakeRecord,
    key: &str,
    offered: &[String],
    deflate_offered: bool,
) -> Result<Option<DeflateParams>, ConnectionEnd> {
    handshake.problems = check_101(handshake, key);
    let (negotiation, deflate) = check_negotiation(handshake, offered, deflate_offered);
    handshake.problems.extend(negotiation);
    handshake.subprotocol = handshake
        .header("Sec-WebSocket-Protocol")
        .map(|s| s.trim().to_owned());
    if handshake.problems.is_empty() {
        Ok(deflate)
    } else {
        Err(ConnectionEnd::HandshakeInvalid {
            problems: handshake.problems.clone(),
        })
    }
}

/// What a valid answer agreed on, for the record and the open connection.
pub fn deflate_record(params: Option<DeflateParams>) -> Option<DeflateRecord> {
    params.map(|params| DeflateRecord {
        params,
        ..DeflateRecord::default()
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc_example() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn request_redacts_secrets_but_sends_them() {
        let headers = [("Authorization".to_owned(), "Bearer s3cret".to_owned())];
        let request = UpgradeRequest {
            resource: "/ws?token=abc",
            host_header: "h:1",
            origin: None,
            subprotocols: &[],
            deflate: false,
            headers: &headers,
        };
        let (bytes, redacted) = build_request(&request, "k");
        let wire = String::from_utf8_lossy(&bytes);
        assert!(wire.contains("Authorization: Bearer s3cret\r\n"));
        assert!(wire.contains("GET /ws?token=abc HTTP/1.1\r\n"));
        assert!(wire.ends_with("\r\n\r\n"));
        assert!(redacted.contains(&"Authorization: Bearer REDACTED".to_owned()));
        assert_eq!(redacted[0], "GET /ws?token=REDACTED HTTP/1.1");
    }

    proptest::proptest! {
        #[test]
        fn head_parser_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse_head(&bytes);
        }
    }
}
