//! HTTP CONNECT (RFC 9110 §9.3.6): one request, one answer head; a 2xx
//! turns the connection into a tunnel, anything else is the proxy's refusal,
//! kept with its headers and the start of its error page.

use base64::Engine;
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsdoctor_evidence::{redact_header_value, ConnectionEnd, ForwardProxyRecord};

use super::{authority, io_failed, ForwardProxy};
use crate::conn::handshake::{parse_head, read_body, HeadParse};
use crate::conn::Target;

/// A CONNECT answer head longer than this is not one.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// The request as bytes, and the same lines redacted for the record.
fn request(proxy: &ForwardProxy, target: &Target) -> (Vec<u8>, Vec<String>) {
    let authority = authority(target);
    let mut lines = vec![
        format!("CONNECT {authority} HTTP/1.1"),
        format!("Host: {authority}"),
        concat!("User-Agent: wsdoctor/", env!("CARGO_PKG_VERSION")).to_owned(),
    ];
    let mut redacted = lines.clone();
    if let Some(c) = &proxy.credentials {
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.user, c.password));
        let value = format!("Basic {token}");
        redacted.push(format!(
            "Proxy-Authorization: {}",
            redact_header_value("Proxy-Authorization", &value)
        ));
        lines.push(format!("Proxy-Authorization: {value}"));
    }
    let mut bytes = lines.join("\r\n").into_bytes();
    bytes.extend_from_slice(b"\r\n\r\n");
    (bytes, redacted)
}

#[cfg(test)]
pub(super) fn request_for_test(proxy: &ForwardProxy, target: &Target) -> (Vec<u8>, Vec<String>) {
    request(proxy, target)
}

/// Sends CONNECT and reads the answer into `record.connect`.
pub(super) async fn connect(
    tcp: &mut TcpStream,
    proxy: &ForwardProxy,
    target: &Target,
    deadline: tokio::time::Instant,
    record: &mut ForwardProxyRecord,
) -> Result<(), ConnectionEnd> {
    let failed = |error: String| ConnectionEnd::ProxyFailed {
        proxy: proxy.redacted.clone(),
        error,
    };
    let (bytes, redacted) = request(proxy, target);
    tcp.write_all(&bytes)
        .await
        .map_err(|e| io_failed(proxy, "while we sent CONNECT", &e))?;
    let mut buf = BytesMut::with_capacity(1024);
    let head = loop {
        match parse_head(&buf) {
            HeadParse::Complete(head) => break head,
            HeadParse::Invalid(why) => {
                let hint = if buf.starts_with(b"HTTP/") {
                    ""
                } else {
                    " (is this the proxy's HTTP port, or a SOCKS or TLS-only port?)"
                };
                return Err(failed(format!(
                    "the answer to CONNECT is not valid HTTP ({why}); first bytes: {:?}{hint}",
                    String::from_utf8_lossy(&buf[..buf.len().min(40)])
                )));
            }
            HeadParse::Partial if buf.len() >= MAX_HEAD_BYTES => {
                return Err(failed(format!(
                    "the answer to CONNECT has a head longer than {MAX_HEAD_BYTES} bytes"
                )))
            }
            HeadParse::Partial => {}
        }
        // Never read past the head's limit, so a flood is cut off there.
        let room = MAX_HEAD_BYTES + 1 - buf.len();
        let mut limited = (&mut *tcp).take(u64::try_from(room).unwrap_or(u64::MAX));
        match limited.read_buf(&mut buf).await {
            Ok(0) => {
                return Err(failed(format!(
                    "the proxy closed the connection after {} bytes, before answering CONNECT",
                    buf.len()
                )))
            }
            Ok(_) => {}
            Err(e) => return Err(io_failed(proxy, "before answering CONNECT", &e)),
        }
    };
    buf.advance(head.len);
    let mut exchange = head.into_record(redacted);
    if (200..300).contains(&exchange.status) {
        let extra = buf.len();
        record.connect = Some(exchange);
        // Neither ws:// nor wss:// lets the target speak first, so anything
        // here came from the proxy and would corrupt the tunnel.
        if extra > 0 {
            return Err(failed(format!(
                "the proxy sent {extra} bytes after its 2xx answer to CONNECT, before the \
                 tunnel carried anything"
            )));
        }
        return Ok(());
    }
    exchange.body = Some(read_body(tcp, buf, &exchange, deadline).await);
    let status = exchange.status;
    let answer = format!("{} {} {}", exchange.http_version, status, exchange.reason)
        .trim_end()
        .to_owned();
    record.connect = Some(exchange);
    Err(ConnectionEnd::ProxyRefused {
        proxy: proxy.redacted.clone(),
        answer,
        status: Some(status),
    })
}
