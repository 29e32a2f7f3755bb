//! Our own HTTP/1.1 upgrade (RFC 6455 §4.1), written by hand on purpose: no
//! WebSocket library keeps a refused answer's status line, headers and body,
//! and those are exactly what tells a proxy's 400 from the application's 403.

use std::time::Instant;

use base64::Engine;
use bytes::{Buf, BytesMut};
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsdoctor_evidence::{
    redact_header_value, BodySample, ConnectionEnd, ConnectionRecord, DeflateParams, DeflateRecord,
    HandshakeProblem, HandshakeRecord, Header, Transport,
};

use super::{micros_since, BoxedStream, ConnectOptions, OpenConnection, OpenError};

/// The GUID of RFC 6455 §1.3.
const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// A response head longer than this is not an upgrade answer.
pub(crate) const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How much of a refused answer's body we keep.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
const MAX_HEADERS: usize = 128;

/// `Sec-WebSocket-Accept` for a key.
pub fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(WEBSOCKET_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

pub(crate) fn new_key() -> String {
    let bytes: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The request head as bytes, and the same lines redacted for the record.
pub(crate) fn build_request(options: &ConnectOptions, key: &str) -> (Vec<u8>, Vec<String>) {
    let target = &options.target;
    let mut lines = vec![
        format!("GET {} HTTP/1.1", target.resource),
        format!("Host: {}", target.host_header),
        "Upgrade: websocket".to_owned(),
        "Connection: Upgrade".to_owned(),
        format!("Sec-WebSocket-Key: {key}"),
        "Sec-WebSocket-Version: 13".to_owned(),
    ];
    let mut redacted = lines.clone();
    redacted[0] = format!(
        "GET {} HTTP/1.1",
        wsdoctor_evidence::redact_url(&target.resource)
    );
    let mut push = |name: &str, value: &str| {
        lines.push(format!("{name}: {value}"));
        redacted.push(format!("{name}: {}", redact_header_value(name, value)));
    };
    if let Some(origin) = &options.origin {
        push("Origin", origin);
    }
    if !options.subprotocols.is_empty() {
        push("Sec-WebSocket-Protocol", &options.subprotocols.join(", "));
    }
    if options.deflate {
        push("Sec-WebSocket-Extensions", super::deflate::OFFER);
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
    for (name, value) in &options.headers {
        push(name, value);
    }
    let mut bytes = lines.join("\r\n").into_bytes();
    bytes.extend_from_slice(b"\r\n\r\n");
    (bytes, redacted)
}

/// A parsed response head.
pub(crate) struct ResponseHead {
    pub(crate) version: u8,
    pub(crate) status: u16,
    pub(crate) reason: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) len: usize,
}

impl ResponseHead {
    /// The exchange as evidence: the request as sent (already redacted)
    /// and this answer, its header values redacted where they carry
    /// credentials; no body, subprotocol or problems yet.
    pub(crate) fn into_record(self, request: Vec<String>) -> HandshakeRecord {
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
pub(crate) enum HeadParse {
    Complete(ResponseHead),
    Partial,
    Invalid(String),
}

/// Parses an HTTP/1 response head (the h2 path uses it for an HTTP/1.1
/// answer to its preface).
pub(crate) fn parse_head(buf: &[u8]) -> HeadParse {
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

fn has_token(value: Option<&str>, token: &str) -> bool {
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
pub(crate) fn check_negotiation(
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
            match super::deflate::check_answer(&got) {
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
pub(crate) fn judge_101(
    handshake: &mut HandshakeRecord,
    key: &str,
    options: &ConnectOptions,
) -> Result<Option<DeflateParams>, ConnectionEnd> {
    handshake.problems = check_101(handshake, key);
    let (negotiation, deflate) =
        check_negotiation(handshake, &options.subprotocols, options.deflate);
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
pub(crate) fn deflate_record(params: Option<DeflateParams>) -> Option<DeflateRecord> {
    params.map(|params| DeflateRecord {
        params,
        ..DeflateRecord::default()
    })
}

/// Writes the upgrade request and reads the answer. On a valid 101 returns
/// the open connection; otherwise records the answer and returns why.
pub(crate) async fn upgrade(
    mut stream: BoxedStream,
    options: &ConnectOptions,
    deadline: tokio::time::Instant,
    origin: Instant,
    record: &mut ConnectionRecord,
) -> Result<OpenConnection, OpenError> {
    let key = new_key();
    let (request, redacted) = build_request(options, &key);
    let write = async {
        stream.write_all(&request).await?;
        stream.flush().await
    };
    match tokio::time::timeout_at(deadline, write).await {
        Ok(Ok(())) => record.phases.request_written_us = Some(micros_since(origin, Instant::now())),
        Ok(Err(e)) => return Err(failed_before_head(&e, 0)),
        Err(_) => return Err(OpenError::deadline(options.handshake_timeout)),
    }

    // A 101 is a few hundred bytes; the buffer grows for a longer answer.
    let mut buf = BytesMut::with_capacity(1024);
    let head = loop {
        match parse_head(&buf) {
            HeadParse::Complete(head) => break head,
            HeadParse::Invalid(why) => {
                let rule = format!(
                    "the answer to the upgrade request is not HTTP ({why}); first bytes: {:?}",
                    String::from_utf8_lossy(&buf[..buf.len().min(40)])
                );
                return Err(OpenError::Upgrade(ConnectionEnd::ProtocolViolation {
                    rule,
                }));
            }
            HeadParse::Partial if buf.len() >= MAX_HEAD_BYTES => {
                let rule = format!("response head exceeds {MAX_HEAD_BYTES} bytes");
                return Err(OpenError::Upgrade(ConnectionEnd::ProtocolViolation {
                    rule,
                }));
            }
            HeadParse::Partial => {}
        }
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await {
            Ok(Ok(0)) => return Err(OpenError::aborted(buf.len(), Transport::Eof)),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(failed_before_head(&e, buf.len())),
            Err(_) => return Err(OpenError::deadline(options.handshake_timeout)),
        }
    };
    record.phases.response_head_us = Some(micros_since(origin, Instant::now()));
    buf.advance(head.len);

    let mut handshake = head.into_record(redacted);

    if handshake.status == 101 {
        let judged = judge_101(&mut handshake, &key, options);
        record.handshake = Some(handshake);
        let deflate = judged.map_err(OpenError::Upgrade)?;
        record.deflate = deflate_record(deflate);
        return Ok(OpenConnection {
            stream,
            leftover: buf,
            opened_at: Instant::now(),
            deflate,
        });
    }

    handshake.body = Some(read_body(&mut stream, buf, &handshake, deadline).await);
    let status = handshake.status;
    record.handshake = Some(handshake);
    Err(OpenError::Upgrade(ConnectionEnd::HandshakeRejected {
        status,
    }))
}

/// Why the exchange failed on an I/O error before a complete answer: a TLS
/// alert in place of the answer is the TLS step's failure (see
/// [`super::tls::alert_after_handshake`]), anything else the transport's end.
fn failed_before_head(e: &std::io::Error, bytes_received: usize) -> OpenError {
    match super::tls::alert_after_handshake(e) {
        Some(alert) if bytes_received == 0 => alert,
        _ => OpenError::Upgrade(transport_end_before_head(e, bytes_received)),
    }
}

pub(crate) fn transport_end_before_head(
    e: &std::io::Error,
    bytes_received: usize,
) -> ConnectionEnd {
    let transport = match e.kind() {
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => {
            Transport::Reset
        }
        std::io::ErrorKind::UnexpectedEof => Transport::Eof,
        _ if e.get_ref().is_some_and(|i| i.is::<rustls::Error>()) => Transport::Tls,
        _ => {
            return ConnectionEnd::Io {
                error: e.to_string(),
            }
        }
    };
    ConnectionEnd::HandshakeAborted {
        bytes_received,
        transport,
    }
}

/// Reads up to [`MAX_BODY_BYTES`] of a refused answer's body: by
/// Content-Length, chunked, or until the peer closes — whichever applies —
/// and never past the handshake deadline.
pub(crate) async fn read_body<S: tokio::io::AsyncRead + Unpin + ?Sized>(
    stream: &mut S,
    mut buf: BytesMut,
    handshake: &HandshakeRecord,
    deadline: tokio::time::Instant,
) -> BodySample {
    let content_length = handshake
        .header("Content-Length")
        .and_then(|v| v.trim().parse::<usize>().ok());
    let chunked = has_token(handshake.header("Transfer-Encoding"), "chunked");
    // A 1xx/204/304 has no body; a HEAD-less GET answer otherwise might.
    let no_body = matches!(handshake.status, 100..=199 | 204 | 304) || content_length == Some(0);
    let mut truncated = false;
    if !no_body {
        let wanted = content_length.map_or(MAX_BODY_BYTES, |n| n.min(MAX_BODY_BYTES));
        loop {
            let enough = if chunked {
                let (body, complete) = dechunk(&buf);
                complete || body.len() >= MAX_BODY_BYTES
            } else {
                buf.len() >= wanted
            };
            if enough {
                break;
            }
            // Chunk framing adds bytes; past twice the cap the peer is not cooperating.
            if buf.len() >= MAX_BODY_BYTES * 2 {
                truncated = true;
                break;
            }
            match tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => break,
                Ok(Ok(_)) => {}
                Err(_) => {
                    truncated = true;
                    break;
                }
            }
        }
        if content_length.is_some_and(|n| n > MAX_BODY_BYTES) {
            truncated = true;
        }
    }
    let raw: Vec<u8> = if chunked {
        dechunk(&buf).0
    } else {
        buf.to_vec()
    };
    let keep = if no_body {
        0
    } else {
        raw.len().min(MAX_BODY_BYTES)
    };
    if raw.len() > keep {
        truncated = true;
    }
    BodySample {
        text: String::from_utf8_lossy(&raw[..keep]).into_owned(),
        bytes_read: raw.len(),
        truncated,
    }
}

/// Decodes as much of a chunked body as is present; the bool says whether
/// the final zero-size chunk was seen.
fn dechunk(mut wire: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    loop {
        let Ok(httparse::Status::Complete((header_len, size))) = httparse::parse_chunk_size(wire)
        else {
            return (out, false);
        };
        if size == 0 {
            return (out, true);
        }
        let start = header_len;
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        let available = wire.len().saturating_sub(start);
        let take = size.min(available);
        out.extend_from_slice(&wire[start..start + take]);
        if take < size || out.len() >= MAX_BODY_BYTES {
            return (out, false);
        }
        // Skip the CRLF after the chunk data.
        let next = start + size + 2;
        if next > wire.len() {
            return (out, false);
        }
        wire = &wire[next..];
    }
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
    fn dechunks_partial_and_complete_bodies() {
        assert_eq!(
            dechunk(b"5\r\nhello\r\n0\r\n\r\n"),
            (b"hello".to_vec(), true)
        );
        assert_eq!(dechunk(b"5\r\nhel"), (b"hel".to_vec(), false));
        assert_eq!(dechunk(b"zz"), (Vec::new(), false));
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n"),
            (b"abcde".to_vec(), true)
        );
    }

    #[test]
    fn request_redacts_secrets_but_sends_them() {
        let target =
            super::super::Target::parse("ws://h:1/ws?token=abc").unwrap_or_else(|e| panic!("{e}"));
        let mut options = ConnectOptions::new(target);
        options
            .headers
            .push(("Authorization".into(), "Bearer s3cret".into()));
        let (bytes, redacted) = build_request(&options, "k");
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
            let _ = dechunk(&bytes);
        }
    }
}
