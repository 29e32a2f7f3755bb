//! Our own HTTP/1.1 upgrade (RFC 6455 §4.1), written by hand on purpose: no
//! WebSocket library keeps a refused answer's status line, headers and body,
//! and those are exactly what tells a proxy's 400 from the application's 403.
//!
//! This is the socket half; the request, the parse of the answer's head and
//! the judgment of a 101 are the pure half in [`wsdoctor_wire::handshake`].

use std::time::Instant;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsdoctor_evidence::{
    BodySample, ConnectionEnd, ConnectionRecord, DeflateParams, HandshakeRecord, Transport,
};
pub use wsdoctor_wire::handshake::accept_key;
use wsdoctor_wire::handshake::{self as wire_handshake, has_token, UpgradeRequest};
pub(crate) use wsdoctor_wire::handshake::{
    check_negotiation, deflate_record, new_key, parse_head, parse_head_from, HeadParse,
    ResponseHead, MAX_HEAD_BYTES,
};
use wsdoctor_wire::head::HeadProgress;

use super::{micros_since, BoxedStream, ConnectOptions, OpenConnection, OpenError};

/// How much of a refused answer's body we keep.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The request head as bytes, and the same lines redacted for the record.
pub(crate) fn build_request(options: &ConnectOptions, key: &str) -> (Vec<u8>, Vec<String>) {
    wire_handshake::build_request(&upgrade_request(options), key)
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
    wire_handshake::judge_101(handshake, key, &options.subprotocols, options.deflate)
}

/// What of `options` goes into the upgrade request.
fn upgrade_request(options: &ConnectOptions) -> UpgradeRequest<'_> {
    UpgradeRequest {
        resource: &options.target.resource,
        host_header: &options.target.host_header,
        origin: options.origin.as_deref(),
        subprotocols: &options.subprotocols,
        deflate: options.deflate,
        headers: &options.headers,
    }
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
    let mut progress = HeadProgress::default();
    let head = loop {
        match parse_head_from(&buf, &mut progress) {
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
pub(super) fn dechunk(mut wire: &[u8]) -> (Vec<u8>, bool) {
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
            let _ = dechunk(&bytes);
        }
    }
}
