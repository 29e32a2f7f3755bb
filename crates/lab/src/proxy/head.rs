//! HTTP heads on their way through the proxy: read exactly one head from a
//! socket, mark the answer with `Via`, and rewrite the request the way nginx
//! does when it is not told to forward the upgrade.
//!
//! Heads are kept as the bytes that arrived; only `strip-upgrade` rebuilds
//! one. Everything after the head (early frames) is handed back untouched.

use bytes::{Buf as _, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt as _};

/// Largest head accepted from either side.
pub(crate) const MAX_HEAD: usize = 16 * 1024;
/// Most header lines parsed.
const MAX_HEADERS: usize = 100;
/// What the proxy adds to every answer so fingerprinting can see a hop.
pub(crate) const VIA: &str = "Via: 1.1 wsdoctor-lab\r\n";
/// The `Server` value of answers the proxy makes as nginx.
pub(crate) const NGINX: &str = "nginx/1.24.0";

/// A complete head and the bytes that followed it.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) bytes: Vec<u8>,
    /// The status code, for responses.
    pub(crate) status: u16,
    /// `Content-Length` of a request that carries a body (a POST); the body
    /// must reach the upstream before its answer can come back.
    pub(crate) content_length: Option<u64>,
    pub(crate) rest: BytesMut,
}

/// What reading a head gave.
#[derive(Debug)]
pub(crate) enum HeadRead {
    Complete(Head),
    /// Over [`MAX_HEAD`] or too many header lines.
    TooLarge,
    /// Not HTTP/1.x.
    Malformed,
    /// The peer closed (or failed) before a full head.
    Closed,
}

/// Which kind of head to expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Request,
    Response,
}

/// Length of the head in `buf`, the status (responses) or the
/// `Content-Length` (requests), or why there is none yet.
fn parse(kind: Kind, buf: &[u8]) -> Result<Option<(usize, u16, Option<u64>)>, HeadRead> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let parsed = match kind {
        Kind::Request => match httparse::Request::new(&mut headers).parse(buf) {
            Ok(httparse::Status::Complete(len)) => {
                let length = headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok())
                    .and_then(|v| v.trim().parse::<u64>().ok());
                Ok(httparse::Status::Complete((len, 0, length)))
            }
            Ok(httparse::Status::Partial) => Ok(httparse::Status::Partial),
            Err(e) => Err(e),
        },
        Kind::Response => {
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(buf) {
                Ok(httparse::Status::Complete(len)) => Ok(httparse::Status::Complete((
                    len,
                    response.code.unwrap_or_default(),
                    None,
                ))),
                Ok(httparse::Status::Partial) => Ok(httparse::Status::Partial),
                Err(e) => Err(e),
            }
        }
    };
    match parsed {
        Ok(httparse::Status::Complete((len, _, _))) if len > MAX_HEAD => Err(HeadRead::TooLarge),
        Ok(httparse::Status::Complete(done)) => Ok(Some(done)),
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => Err(HeadRead::TooLarge),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(HeadRead::TooLarge),
        Err(_) => Err(HeadRead::Malformed),
    }
}

/// Reads one head. The caller bounds the time.
pub(crate) async fn read<R: AsyncRead + Unpin>(r: &mut R, kind: Kind) -> HeadRead {
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        match parse(kind, &buf) {
            Ok(Some((len, status, content_length))) => {
                let bytes = buf[..len].to_vec();
                buf.advance(len);
                return HeadRead::Complete(Head {
                    bytes,
                    status,
                    content_length,
                    rest: buf,
                });
            }
            Ok(None) => {}
            Err(other) => return other,
        }
        // Bounded by the size checks above: at most one read past MAX_HEAD.
        buf.reserve(4096);
        match r.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return HeadRead::Closed,
            Ok(_) => {}
        }
    }
}

/// `head` (a complete head, or a whole answer) with [`VIA`] added as its
/// last header line.
pub(crate) fn add_via(head: &[u8]) -> Vec<u8> {
    let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") else {
        return head.to_vec();
    };
    let mut out = Vec::with_capacity(head.len() + VIA.len());
    out.extend_from_slice(&head[..end + 2]);
    out.extend_from_slice(VIA.as_bytes());
    out.extend_from_slice(&head[end + 2..]);
    out
}

/// Header names a proxy does not forward (RFC 9110 section 7.6.1), plus the
/// upgrade pair that nginx drops unless told otherwise.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "upgrade",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
];

/// The request as nginx forwards it by default (`proxy_http_version 1.0`,
/// `Connection: close`, no `Upgrade`): the backend never sees an upgrade.
pub(crate) fn strip_upgrade(head: &[u8]) -> Vec<u8> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    if !matches!(request.parse(head), Ok(httparse::Status::Complete(_))) {
        return head.to_vec();
    }
    let mut out = format!(
        "{} {} HTTP/1.0\r\n",
        request.method.unwrap_or("GET"),
        request.path.unwrap_or("/")
    )
    .into_bytes();
    for h in request.headers.iter() {
        if HOP_BY_HOP.iter().any(|n| h.name.eq_ignore_ascii_case(n)) {
            continue;
        }
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out
}

/// A response head with its `Server` value replaced (nginx hides the
/// backend's by default and sends its own).
pub(crate) fn replace_server(head: &[u8], server: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let mut out = String::with_capacity(text.len() + 32);
    let mut replaced = false;
    for line in text.split_inclusive("\r\n") {
        let is_server = line
            .split_once(':')
            .is_some_and(|(name, _)| name.trim().eq_ignore_ascii_case("server"));
        if is_server {
            if !replaced {
                out.push_str(&format!("Server: {server}\r\n"));
                replaced = true;
            }
        } else if line == "\r\n" && !replaced {
            out.push_str(&format!("Server: {server}\r\n\r\n"));
            replaced = true;
        } else {
            out.push_str(line);
        }
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &[u8] = b"GET /ws?x=1 HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: k\r\n\r\n";

    #[tokio::test]
    async fn reads_a_head_and_keeps_the_rest() {
        let mut input: &[u8] =
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi";
        match read(&mut input, Kind::Response).await {
            HeadRead::Complete(head) => {
                assert_eq!(head.status, 101);
                assert_eq!(&head.rest[..], b"\x81\x02hi");
                assert!(head.bytes.ends_with(b"\r\n\r\n"));
            }
            other => panic!("{other:?}"),
        }
        let mut junk: &[u8] = b"SSH-2.0-OpenSSH_9.6\r\n";
        assert!(matches!(
            read(&mut junk, Kind::Response).await,
            HeadRead::Malformed
        ));
        let mut short: &[u8] = b"GET / HTTP/1.1\r\n";
        assert!(matches!(
            read(&mut short, Kind::Request).await,
            HeadRead::Closed
        ));
    }

    #[test]
    fn via_is_the_last_header() {
        let out = add_via(b"HTTP/1.1 101 X\r\nA: b\r\n\r\nbody");
        assert_eq!(
            out,
            b"HTTP/1.1 101 X\r\nA: b\r\nVia: 1.1 wsdoctor-lab\r\n\r\nbody".to_vec()
        );
    }

    #[test]
    fn strip_upgrade_looks_like_nginx() {
        let out = String::from_utf8(strip_upgrade(REQ)).unwrap_or_default();
        assert!(out.starts_with("GET /ws?x=1 HTTP/1.0\r\n"), "{out}");
        assert!(!out.to_ascii_lowercase().contains("upgrade"), "{out}");
        assert!(out.contains("Sec-WebSocket-Key: k\r\n"));
        assert!(out.ends_with("Connection: close\r\n\r\n"));
    }

    #[test]
    fn server_is_replaced_or_added() {
        let out = replace_server(b"HTTP/1.1 426 U\r\nServer: lab\r\nA: b\r\n\r\n", NGINX);
        assert_eq!(
            out,
            b"HTTP/1.1 426 U\r\nServer: nginx/1.24.0\r\nA: b\r\n\r\n".to_vec()
        );
        let out = replace_server(b"HTTP/1.1 426 U\r\n\r\n", NGINX);
        assert_eq!(
            out,
            b"HTTP/1.1 426 U\r\nServer: nginx/1.24.0\r\n\r\n".to_vec()
        );
    }
}
