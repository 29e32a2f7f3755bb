//! SignalR's negotiate step, the I/O half (the pure half, URL and answer,
//! is `wsdoctor_app::signalr::codec`): `POST <hub>/negotiate?negotiateVersion=1`
//! over the same path as the WebSocket (proxy, TLS, headers), then the
//! WebSocket to `<hub>?id=<connectionToken>`, as @microsoft/signalr does by
//! default. A server without the endpoint (404/405, skip-negotiation
//! setups) is connected as before, without `id`; a redirect (Azure SignalR
//! Service) or an `error` answer is said in the protocol's evidence and the
//! upgrade is tried without it, so the refusal is what gets diagnosed.
//! Hand-written HTTP/1.1 (one POST, `Connection: close`, read with wire's head
//! parser and the upgrade's `dechunk`): the workspace's hyper client would need the
//! connection's stream types rebuilt around it for one request.

use std::time::Instant;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use wsdoctor_app::signalr::codec::{negotiate_url, parse_negotiate, websocket_url, Negotiated};
use wsdoctor_app::AppProtocol;
use wsdoctor_evidence::{AppRecord, ConnectionRecord};
use wsdoctor_wire::handshake::{parse_head, HeadParse};

use super::{ConnectOptions, Target};

/// Largest negotiate answer read.
const MAX_ANSWER: usize = 64 * 1024;

/// When `options` speak SignalR and the URL has no `id` yet: negotiates and
/// returns the options to open the WebSocket with (`None`: open as given).
/// What negotiate said goes into `record.app` for `app::attach` to add to
/// the protocol's evidence.
pub(crate) async fn signalr(
    options: &ConnectOptions,
    origin: Instant,
    record: &mut ConnectionRecord,
) -> Option<ConnectOptions> {
    let plan = options.app.as_ref()?;
    if plan.protocol != Some(AppProtocol::SignalR) || !plan.speaks() {
        return None;
    }
    let hub = &options.target.url;
    if hub.query_pairs().any(|(k, _)| k == "id") {
        return None;
    }
    let (said, id) = match post(options, origin).await {
        Ok((200, body)) => match parse_negotiate(&body) {
            Ok(Negotiated::Connect {
                id,
                websocket_offered: true,
            }) => (
                "negotiated: POST …/negotiate answered a connectionToken, used as ?id=".to_owned(),
                Some(id),
            ),
            Ok(Negotiated::Connect { .. }) => (
                "negotiate answered without the WebSockets transport among availableTransports: the server does not offer it".to_owned(),
                None,
            ),
            Ok(Negotiated::Redirect { url, .. }) => (
                format!(
                    "negotiate redirected to {} (Azure SignalR Service or similar); wsdoctor does not follow it: probe that URL with its access token",
                    redact(&url)
                ),
                None,
            ),
            Ok(Negotiated::Error(error)) => (
                format!(
                    "negotiate refused: {}",
                    wsdoctor_evidence::escape_peer(&error.chars().take(200).collect::<String>())
                ),
                None,
            ),
            Err(e) => (format!("negotiate answer unreadable: {e}"), None),
        },
        Ok((status @ (404 | 405), _)) => (
            format!("no negotiate endpoint (HTTP {status}): connecting without it, as skipNegotiation does"),
            None,
        ),
        Ok((status, _)) => (format!("negotiate answered HTTP {status}"), None),
        Err(e) => (format!("negotiate failed: {e}"), None),
    };
    let mut negotiated = options.clone();
    record.app = Some(AppRecord {
        decided_by: said,
        ..AppRecord::default()
    });
    if let Some(id) = id {
        if let Ok(target) = Target::parse(websocket_url(hub, &id).as_str()) {
            negotiated.target = target;
        }
    }
    Some(negotiated)
}

/// Sends the POST and returns the status and the body (at most
/// [`MAX_ANSWER`] bytes), within the options' handshake budget.
async fn post(options: &ConnectOptions, origin: Instant) -> Result<(u16, String), String> {
    let deadline =
        tokio::time::Instant::now() + options.connect_timeout + options.handshake_timeout;
    let exchange = async {
        let mut stream = super::open_http1_stream(options, origin)
            .await
            .map_err(|_| "could not connect")?;
        let url = negotiate_url(&options.target.url);
        let mut request = format!(
            "POST {}?{} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nX-Requested-With: XMLHttpRequest\r\nUser-Agent: wsdoctor/{}\r\nConnection: close\r\n",
            url.path(),
            url.query().unwrap_or_default(),
            options.target.host_header,
            env!("CARGO_PKG_VERSION")
        );
        for (name, value) in &options.headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.kind().to_string())?;
        let mut buf = BytesMut::with_capacity(4096);
        while buf.len() < MAX_ANSWER {
            if stream
                .read_buf(&mut buf)
                .await
                .map_err(|e| e.kind().to_string())?
                == 0
            {
                break;
            }
        }
        parse_answer(&buf)
    };
    tokio::time::timeout_at(deadline, exchange)
        .await
        .map_err(|_| "no answer in time".to_owned())?
        .map_err(|e: String| e)
}

/// Status and body of an HTTP/1.1 answer read to its end (chunked or not).
fn parse_answer(bytes: &[u8]) -> Result<(u16, String), String> {
    let HeadParse::Complete(head) = parse_head(bytes) else {
        return Err("not an HTTP answer".to_owned());
    };
    let chunked = head.headers.iter().any(|(name, value)| {
        name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
    });
    let rest = bytes.get(head.len..).unwrap_or_default();
    let body = if chunked {
        // Only a body that reached its last chunk is an answer to read.
        match super::handshake::dechunk(rest) {
            (body, true) => body,
            (_, false) => Vec::new(),
        }
    } else {
        rest.to_vec()
    };
    Ok((head.status, String::from_utf8_lossy(&body).into_owned()))
}

/// A redirect URL without its query (where access tokens travel).
fn redact(url: &str) -> String {
    let shown = url.split(['?', '#']).next().unwrap_or_default();
    wsdoctor_evidence::escape_peer(&shown.chars().take(200).collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_plain_and_chunked() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(parse_answer(plain), Ok((200, "{}".to_owned())));
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n";
        assert_eq!(parse_answer(chunked), Ok((200, "{\"a\":1}".to_owned())));
        // Hostile sizes neither panic nor read past the end.
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nab";
        assert_eq!(parse_answer(bad), Ok((200, String::new())));
        assert!(parse_answer(b"garbage").is_err());
    }

    #[test]
    fn redirects_lose_their_query() {
        assert_eq!(
            redact("https://x.service.signalr.net/client/?hub=chat&asrs.op=%2Fchat#f"),
            "https://x.service.signalr.net/client/"
        );
    }
}
