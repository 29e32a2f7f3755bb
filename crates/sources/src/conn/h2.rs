//! WebSockets over HTTP/2 (RFC 8441): the path browsers take when the server
//! or a proxy in front of it offers it, and one that breaks on its own while
//! the HTTP/1.1 upgrade keeps working.
//!
//! hyper runs the HTTP/2 connection. Under it sits [`Tap`], a passive reader
//! of the server's first frame: RFC 9113 §3.4 makes it a SETTINGS frame, so
//! the tap sees exactly when the settings arrived and whether they include
//! `SETTINGS_ENABLE_CONNECT_PROTOCOL`, and it keeps the first bytes when the
//! peer does not speak HTTP/2 at all (an HTTP/1.1 server answering the h2c
//! preface with a 400), which hyper only reports as a frame-size error.
//!
//! On a 2xx to the extended CONNECT, the session runs over the HTTP/2
//! stream exactly as over TCP.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http::{HeaderName, HeaderValue, Method, Request, Response};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper::upgrade::Upgraded;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use wsdoctor_evidence::{
    redact_header_value, redact_url, BodySample, ConnectionEnd, ConnectionRecord, HandshakeRecord,
    Header, Transport,
};

use super::handshake::{self, HeadParse, MAX_BODY_BYTES};
use super::{micros_since, BoxedStream, ConnectOptions, OpenConnection, OpenError};

/// `SETTINGS_ENABLE_CONNECT_PROTOCOL` (RFC 8441 §3).
const SETTINGS_ENABLE_CONNECT_PROTOCOL: u16 = 0x8;
/// The HTTP/2 frame type of SETTINGS (RFC 9113 §6.5).
const FRAME_SETTINGS: u8 = 0x4;
/// The most of the server's first bytes the tap keeps.
const MAX_PREFACE_BYTES: usize = 16 * 1024;
/// Header fields that are connection-specific and forbidden in HTTP/2
/// (RFC 9113 §8.2.2); a user's `-H` with one of these is left out rather
/// than have the whole request refused locally.
const CONNECTION_SPECIFIC: &[&str] = &[
    "connection",
    "upgrade",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "host",
];

/// What the server's first bytes were.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Preface {
    /// Nothing decisive yet.
    Pending,
    /// An HTTP/2 SETTINGS frame: its (identifier, value) pairs.
    Settings(Vec<(u16, u32)>),
    /// Something else, or the stream ended first: the bytes seen.
    Other(Vec<u8>),
}

impl Preface {
    fn enables_connect_protocol(&self) -> bool {
        match self {
            Preface::Settings(pairs) => pairs
                .iter()
                .any(|&(id, value)| id == SETTINGS_ENABLE_CONNECT_PROTOCOL && value == 1),
            _ => false,
        }
    }
}

/// Decides what `seen` (the server's first bytes) is, if it can yet.
fn classify_preface(seen: &[u8]) -> Preface {
    if seen.starts_with(b"HTTP/") || b"HTTP/".starts_with(seen) {
        // An HTTP/1 answer: wait for its whole head, which the record keeps.
        return match handshake::parse_head(seen) {
            HeadParse::Partial if seen.len() < MAX_PREFACE_BYTES => Preface::Pending,
            _ => Preface::Other(seen.to_vec()),
        };
    }
    if seen.len() < 9 {
        return Preface::Pending;
    }
    let len = usize::from(seen[0]) << 16 | usize::from(seen[1]) << 8 | usize::from(seen[2]);
    let kind = seen[3];
    let ack = seen[4] & 0x1 != 0;
    let stream = u32::from_be_bytes([seen[5] & 0x7f, seen[6], seen[7], seen[8]]);
    if kind != FRAME_SETTINGS || ack || stream != 0 || len % 6 != 0 || len > MAX_PREFACE_BYTES {
        return Preface::Other(seen.to_vec());
    }
    let Some(payload) = seen.get(9..9 + len) else {
        return Preface::Pending;
    };
    let pairs = payload
        .chunks_exact(6)
        .map(|c| {
            (
                u16::from_be_bytes([c[0], c[1]]),
                u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
            )
        })
        .collect();
    Preface::Settings(pairs)
}

/// A passive reader of the server's first frame under hyper's HTTP/2
/// connection: it copies what is read until it knows what the preface is,
/// then only passes bytes through.
struct Tap {
    inner: BoxedStream,
    seen: Vec<u8>,
    preface: watch::Sender<Preface>,
}

impl Tap {
    fn decided(&self) -> bool {
        !matches!(*self.preface.borrow(), Preface::Pending)
    }

    fn finish(&self) {
        if !self.decided() {
            self.preface.send_replace(Preface::Other(self.seen.clone()));
        }
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        // hyper gave up on the connection before the preface was complete:
        // what arrived is all there will be.
        self.finish();
    }
}

impl AsyncRead for Tap {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if self.decided() {
            return result;
        }
        match &result {
            Poll::Ready(Ok(())) => {
                let new = &buf.filled()[before..];
                if new.is_empty() {
                    self.finish();
                } else {
                    let room = MAX_PREFACE_BYTES.saturating_sub(self.seen.len());
                    let take = new.len().min(room);
                    let new = new[..take].to_vec();
                    self.seen.extend_from_slice(&new);
                    let preface = classify_preface(&self.seen);
                    if preface != Preface::Pending {
                        self.preface.send_replace(preface);
                    }
                }
            }
            Poll::Ready(Err(_)) => self.finish(),
            Poll::Pending => {}
        }
        result
    }
}

impl AsyncWrite for Tap {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The WebSocket's HTTP/2 stream, as a byte stream for the session.
struct H2Stream {
    io: TokioIo<Upgraded>,
    /// Held so hyper keeps the connection open while the stream lives.
    _sender: SendRequest<Empty<Bytes>>,
}

/// True when `e` or one of its causes is an HTTP/2 stream reset or GOAWAY.
fn is_h2_reset(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(h2) = err.downcast_ref::<::h2::Error>() {
            return h2.is_reset() || h2.is_go_away();
        }
        next = err.source();
    }
    false
}

/// A reset of the HTTP/2 stream (RST_STREAM, GOAWAY) is this stream's TCP
/// RST: the server or a proxy killed it without a close frame. hyper hands
/// it over as an `Other` error around the h2 error, so it is told apart here
/// by type, not by text.
fn stream_error(e: io::Error) -> io::Error {
    let reset = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<::h2::Error>())
        .is_some_and(|h2| h2.is_reset() || h2.is_go_away());
    if reset {
        io::Error::new(io::ErrorKind::ConnectionReset, e.to_string())
    } else {
        e
    }
}

impl AsyncRead for H2Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io)
            .poll_read(cx, buf)
            .map(|r| r.map_err(stream_error))
    }
}

impl AsyncWrite for H2Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io)
            .poll_write(cx, buf)
            .map(|r| r.map_err(stream_error))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io)
            .poll_flush(cx)
            .map(|r| r.map_err(stream_error))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io)
            .poll_shutdown(cx)
            .map(|r| r.map_err(stream_error))
    }
}

/// The extended CONNECT (RFC 8441 §4) and the same lines redacted for the
/// record, the first one shaped like a request line so people read it as one.
fn build_request(options: &ConnectOptions) -> Result<(Request<Empty<Bytes>>, Vec<String>), String> {
    let target = &options.target;
    let scheme = if target.secure { "https" } else { "http" };
    let uri = format!("{scheme}://{}{}", target.host_header, target.resource);
    let mut lines = vec![
        format!("CONNECT {} HTTP/2", redact_url(&target.resource)),
        ":protocol: websocket".to_owned(),
        format!(":scheme: {scheme}"),
        format!(":authority: {}", target.host_header),
        "sec-websocket-version: 13".to_owned(),
    ];
    let mut builder = Request::builder()
        .method(Method::CONNECT)
        .uri(uri)
        .extension(hyper::ext::Protocol::from_static("websocket"))
        .header("sec-websocket-version", "13");
    let mut headers: Vec<(&str, String)> = Vec::new();
    if let Some(origin) = &options.origin {
        headers.push(("origin", origin.clone()));
    }
    if !options.subprotocols.is_empty() {
        headers.push(("sec-websocket-protocol", options.subprotocols.join(", ")));
    }
    if options.deflate {
        headers.push(("sec-websocket-extensions", super::deflate::OFFER.to_owned()));
    }
    let has_user_agent = options
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("user-agent"));
    if !has_user_agent {
        headers.push((
            "user-agent",
            concat!("wsdoctor/", env!("CARGO_PKG_VERSION")).to_owned(),
        ));
    }
    for (name, value) in &options.headers {
        if CONNECTION_SPECIFIC
            .iter()
            .any(|c| name.eq_ignore_ascii_case(c))
        {
            continue;
        }
        headers.push((name.as_str(), value.clone()));
    }
    for (name, value) in headers {
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| format!("header '{name}' cannot be sent over HTTP/2: {e}"))?;
        let header_value = HeaderValue::from_str(&value)
            .map_err(|e| format!("the value of header '{name}' cannot be sent: {e}"))?;
        lines.push(format!(
            "{}: {}",
            header_name.as_str(),
            redact_header_value(name, &value)
        ));
        builder = builder.header(header_name, header_value);
    }
    let request = builder
        .body(Empty::new())
        .map_err(|e| format!("cannot build the CONNECT request: {e}"))?;
    Ok((request, lines))
}

/// Says what a peer that did not answer with HTTP/2 SETTINGS said, and
/// records its answer when it was an HTTP/1.1 head.
fn not_http2(
    seen: &[u8],
    lines: Vec<String>,
    origin: Instant,
    record: &mut ConnectionRecord,
) -> OpenError {
    match handshake::parse_head(seen) {
        HeadParse::Complete(head) => {
            record.phases.response_head_us = Some(micros_since(origin, Instant::now()));
            let body = &seen[head.len.min(seen.len())..];
            let keep = body.len().min(MAX_BODY_BYTES);
            let status = head.status;
            let mut handshake = head.into_record(lines);
            handshake.body = (!body.is_empty()).then(|| BodySample {
                text: String::from_utf8_lossy(&body[..keep]).into_owned(),
                bytes_read: body.len(),
                // Only what came with the head was read.
                truncated: true,
            });
            record.handshake = Some(handshake);
            OpenError::Upgrade(ConnectionEnd::HandshakeRejected { status })
        }
        _ => OpenError::aborted(seen.len(), Transport::Eof),
    }
}

/// Opens the WebSocket by extended CONNECT over an HTTP/2 connection on
/// `stream` (TLS with ALPN `h2`, or cleartext with prior knowledge). Records
/// the server's `SETTINGS_ENABLE_CONNECT_PROTOCOL` and the exchange; returns
/// why it failed.
pub(crate) async fn open(
    stream: BoxedStream,
    options: &ConnectOptions,
    deadline: tokio::time::Instant,
    origin: Instant,
    record: &mut ConnectionRecord,
) -> Result<OpenConnection, OpenError> {
    let (request, lines) = build_request(options).map_err(|error| OpenError::Http2 { error })?;
    let mut sender = start_connection(stream, &lines, options, deadline, origin, record).await?;
    let response = send_connect(&mut sender, request, options, deadline, origin, record).await?;
    let (response, deflate) = judge_answer(response, lines, options, deadline, record).await?;
    let upgraded = match tokio::time::timeout_at(deadline, hyper::upgrade::on(response)).await {
        Ok(Ok(upgraded)) => upgraded,
        Ok(Err(e)) => {
            let error = format!("the HTTP/2 stream could not be taken over: {e}");
            return Err(OpenError::Http2 { error });
        }
        Err(_) => return Err(OpenError::deadline(options.handshake_timeout)),
    };
    Ok(OpenConnection {
        stream: Box::new(H2Stream {
            io: TokioIo::new(upgraded),
            _sender: sender,
        }),
        leftover: BytesMut::new(),
        opened_at: Instant::now(),
        deflate,
    })
}

/// Runs the HTTP/2 connection preface on `stream`, waits for the server's
/// SETTINGS and checks they enable extended CONNECT (recorded in
/// `record.extended_connect`); returns the request sender of a connection
/// whose driver runs in a task of its own.
async fn start_connection(
    stream: BoxedStream,
    lines: &[String],
    options: &ConnectOptions,
    deadline: tokio::time::Instant,
    origin: Instant,
    record: &mut ConnectionRecord,
) -> Result<SendRequest<Empty<Bytes>>, OpenError> {
    let (preface_tx, mut preface) = watch::channel(Preface::Pending);
    let tap = Tap {
        inner: stream,
        seen: Vec::new(),
        preface: preface_tx,
    };
    let handshake = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .handshake::<_, Empty<Bytes>>(TokioIo::new(tap));
    let (sender, conn) = match tokio::time::timeout_at(deadline, handshake).await {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => {
            let error = format!("HTTP/2 connection preface failed: {e}");
            return Err(OpenError::Http2 { error });
        }
        Err(_) => return Err(OpenError::deadline(options.handshake_timeout)),
    };
    // hyper reads the connection in a task of its own; the tap tells when
    // the server's SETTINGS (or something else) arrived.
    let waited = tokio::time::timeout_at(
        deadline,
        preface.wait_for(|p| !matches!(p, Preface::Pending)),
    )
    .await
    .map(|_| ());
    let first = preface.borrow().clone();
    match (waited, first) {
        (_, Preface::Settings(_)) => {}
        (Err(_), _) => return Err(OpenError::deadline(options.handshake_timeout)),
        (Ok(_), Preface::Other(seen)) => {
            return Err(not_http2(&seen, lines.to_vec(), origin, record));
        }
        (Ok(_), Preface::Pending) => return Err(OpenError::aborted(0, Transport::Eof)),
    }
    let advertised = preface.borrow().enables_connect_protocol();
    record.extended_connect = Some(advertised);
    if !advertised {
        // RFC 8441 §4: a client must not send `:protocol` unless the server
        // enabled it; browsers then open an HTTP/1.1 connection instead.
        let error = "the server speaks HTTP/2 but its SETTINGS do not enable extended CONNECT \
                     (SETTINGS_ENABLE_CONNECT_PROTOCOL, RFC 8441): no WebSocket can be opened \
                     over this HTTP/2 connection; browsers use HTTP/1.1 for it"
            .to_owned();
        return Err(OpenError::Http2 { error });
    }
    // The tap saw the setting as hyper's task read it; hyper applies it in
    // the same poll, so this wait is at most a few scheduler turns.
    while !conn.is_extended_connect_protocol_enabled() {
        if tokio::time::Instant::now() >= deadline {
            return Err(OpenError::deadline(options.handshake_timeout));
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    // Requests are dispatched by the connection future: it must run.
    tokio::spawn(async move {
        // Its error is the stream's error too, and is recorded from there.
        let _ = conn.await;
    });
    Ok(sender)
}

/// Sends the extended CONNECT and waits for the answer's head.
async fn send_connect(
    sender: &mut SendRequest<Empty<Bytes>>,
    request: Request<Empty<Bytes>>,
    options: &ConnectOptions,
    deadline: tokio::time::Instant,
    origin: Instant,
    record: &mut ConnectionRecord,
) -> Result<Response<Incoming>, OpenError> {
    let sent = sender.send_request(request);
    record.phases.request_written_us = Some(micros_since(origin, Instant::now()));
    let response = match tokio::time::timeout_at(deadline, sent).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => {
            // A RST_STREAM or GOAWAY instead of an answer is the stream's
            // "connection reset"; anything else keeps hyper's words.
            return Err(if is_h2_reset(&e) {
                OpenError::aborted(0, Transport::Reset)
            } else {
                OpenError::Http2 {
                    error: format!("the extended CONNECT failed: {e}"),
                }
            });
        }
        Err(_) => return Err(OpenError::deadline(options.handshake_timeout)),
    };
    record.phases.response_head_us = Some(micros_since(origin, Instant::now()));
    Ok(response)
}

/// Records the answer to the extended CONNECT and judges it: a 2xx with a
/// valid negotiation gives back the response (to take the stream over) and
/// the agreed permessage-deflate; anything else says why.
async fn judge_answer(
    response: Response<Incoming>,
    lines: Vec<String>,
    options: &ConnectOptions,
    deadline: tokio::time::Instant,
    record: &mut ConnectionRecord,
) -> Result<(Response<Incoming>, Option<wsdoctor_evidence::DeflateParams>), OpenError> {
    let mut handshake = HandshakeRecord {
        request: lines,
        http_version: "HTTP/2".to_owned(),
        status: response.status().as_u16(),
        // HTTP/2 has no reason phrase.
        reason: String::new(),
        headers: response
            .headers()
            .iter()
            .map(|(n, v)| Header {
                name: n.as_str().to_owned(),
                value: redact_header_value(n.as_str(), &String::from_utf8_lossy(v.as_bytes())),
            })
            .collect(),
        body: None,
        subprotocol: None,
        problems: Vec::new(),
    };
    if !handshake.switched() {
        handshake.body = Some(read_body(response, deadline).await);
        let status = handshake.status;
        record.handshake = Some(handshake);
        return Err(OpenError::Upgrade(ConnectionEnd::HandshakeRejected {
            status,
        }));
    }
    let (problems, deflate) =
        super::handshake::check_negotiation(&handshake, &options.subprotocols, options.deflate);
    handshake.problems = problems;
    handshake.subprotocol = handshake
        .header("sec-websocket-protocol")
        .map(|s| s.trim().to_owned());
    let problems = handshake.problems.clone();
    record.handshake = Some(handshake);
    if !problems.is_empty() {
        return Err(OpenError::Upgrade(ConnectionEnd::HandshakeInvalid {
            problems,
        }));
    }
    record.deflate = super::handshake::deflate_record(deflate);
    Ok((response, deflate))
}

/// Reads up to [`MAX_BODY_BYTES`] of a refused answer's body, never past
/// the handshake deadline.
async fn read_body(response: Response<Incoming>, deadline: tokio::time::Instant) -> BodySample {
    let mut body = response.into_body();
    let mut raw = Vec::new();
    let mut truncated = false;
    loop {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    raw.extend_from_slice(&data);
                    if raw.len() >= MAX_BODY_BYTES {
                        // We stop reading here, whatever else was coming.
                        truncated = true;
                        break;
                    }
                }
            }
            Ok(None) => break,
            Ok(Some(Err(_))) | Err(_) => {
                truncated = true;
                break;
            }
        }
    }
    let keep = raw.len().min(MAX_BODY_BYTES);
    BodySample {
        text: String::from_utf8_lossy(&raw[..keep]).into_owned(),
        bytes_read: raw.len(),
        truncated,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_servers_settings() {
        // SETTINGS, 12 bytes: MAX_CONCURRENT_STREAMS=200, ENABLE_CONNECT_PROTOCOL=1.
        let frame = [
            0, 0, 12, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 200, 0, 8, 0, 0, 0, 1,
        ];
        assert_eq!(classify_preface(&frame[..5]), Preface::Pending);
        assert_eq!(classify_preface(&frame[..15]), Preface::Pending);
        let p = classify_preface(&frame);
        assert!(p.enables_connect_protocol(), "{p:?}");
        let without = [0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 200];
        assert!(!classify_preface(&without).enables_connect_protocol());
    }

    #[test]
    fn an_http1_answer_is_kept_whole() {
        let head = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(classify_preface(b"HTT"), Preface::Pending);
        assert_eq!(classify_preface(&head[..20]), Preface::Pending);
        assert_eq!(classify_preface(head), Preface::Other(head.to_vec()));
        // Not HTTP and not SETTINGS: decided at once.
        assert!(matches!(
            classify_preface(b"\x00\x00\x00\x01\x00\x00\x00\x00\x01"),
            Preface::Other(_)
        ));
    }

    proptest::proptest! {
        #[test]
        fn preface_parser_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = classify_preface(&bytes);
        }
    }
}
