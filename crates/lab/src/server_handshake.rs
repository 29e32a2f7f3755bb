//! Reading the HTTP request and answering it, by hand.
//!
//! A real HTTP library would refuse to send the broken answers the faults
//! ask for (a 101 without `Upgrade`, HTTP/1.0, an SSH banner), so the request
//! is parsed with `httparse` and every answer is written as bytes.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use bytes::{Buf as _, BytesMut};
use sha1::{Digest as _, Sha1};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use wsdoctor_wire::head::HeadProgress;

use crate::answer::{self, Ident};
use crate::config::{Answer, Plan};
use crate::conn::Conn;
use crate::fault_session::{self, SessionInput};
use crate::server_fault::Fault;
use crate::Shared;

/// Largest request head accepted; beyond it the answer is 431.
pub(crate) const MAX_HEAD: usize = 16 * 1024;
/// Most header lines accepted; beyond it the answer is 431 too.
const MAX_HEADERS: usize = 100;
/// How long a client may take to send its request head.
pub(crate) const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for the client to close after an HTTP answer.
const ANSWER_LINGER: Duration = Duration::from_secs(1);
/// The GUID RFC 6455 appends to the key before hashing.
const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// `Server` value unless the request's `server=` says otherwise.
pub(crate) const DEFAULT_SERVER: &str = "wsdoctor-lab";

/// A parsed request head. Header values are kept as lossy UTF-8: the lab only
/// compares them with ASCII tokens and reports them back in `greet`.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) headers: Vec<(String, String)>,
}

impl Request {
    /// The first value of a header, by case-insensitive name.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether any value of a comma-separated header holds `token`.
    pub(crate) fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

/// What came of reading the request head.
#[derive(Debug)]
pub(crate) enum Head {
    /// A full head, and whatever the client sent after it.
    Complete(Request, BytesMut),
    /// Over [`MAX_HEAD`] or [`MAX_HEADERS`].
    TooLarge,
    /// Not parsable as HTTP/1.x.
    Malformed(String),
}

/// Parses the request head in `buf`: `None` while it is incomplete; a
/// complete head comes with its length in bytes.
pub(crate) fn parse_head(buf: &[u8]) -> Option<(Head, usize)> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) if len > MAX_HEAD => Some((Head::TooLarge, len)),
        Ok(httparse::Status::Complete(len)) => {
            let request = Request {
                method: req.method.unwrap_or_default().to_owned(),
                target: req.path.unwrap_or_default().to_owned(),
                headers: req
                    .headers
                    .iter()
                    .map(|h| {
                        let value = String::from_utf8_lossy(h.value).into_owned();
                        (h.name.to_owned(), value)
                    })
                    .collect(),
            };
            Some((Head::Complete(request, BytesMut::new()), len))
        }
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => Some((Head::TooLarge, buf.len())),
        Ok(httparse::Status::Partial) => None,
        Err(httparse::Error::TooManyHeaders) => Some((Head::TooLarge, buf.len())),
        Err(e) => Some((Head::Malformed(e.to_string()), buf.len())),
    }
}

/// [`parse_head`] of a head that grows between calls (the whole head so
/// far each time): parses only when the new bytes can change the outcome
/// (`wsdoctor_wire::head`), so a slowloris client's head, a byte per
/// read, costs linear work, not quadratic.
pub(crate) fn parse_head_from(buf: &[u8], progress: &mut HeadProgress) -> Option<(Head, usize)> {
    if progress.worth_parsing(buf) {
        parse_head(buf)
    } else if buf.len() > MAX_HEAD {
        Some((Head::TooLarge, buf.len()))
    } else {
        None
    }
}

/// Reads until the end of the request head, starting with what was read
/// already (`buf`). `Ok(None)`: the client went away.
async fn read_head(conn: &mut Conn, mut buf: BytesMut) -> std::io::Result<Option<Head>> {
    let mut progress = HeadProgress::default();
    loop {
        if let Some((head, len)) = parse_head_from(&buf, &mut progress) {
            return Ok(Some(match head {
                Head::Complete(request, _) => {
                    buf.advance(len);
                    Head::Complete(request, buf)
                }
                other => other,
            }));
        }
        // Reads are bounded by this reserve; the size check in parse_head
        // stops the loop soon after MAX_HEAD.
        buf.reserve(4096);
        if conn.read_buf(&mut buf).await? == 0 {
            return Ok(None);
        }
    }
}

/// The query parameters the lab understands.
#[derive(Debug, Default)]
pub(crate) struct Query {
    /// All `fault=` values joined with commas; `None` when there was none.
    pub(crate) fault: Option<String>,
    pub(crate) reason: Option<String>,
    pub(crate) server: Option<String>,
    /// `client=`: who the client says it is (for `serve`'s event log).
    pub(crate) client: Option<String>,
    /// `tick=DUR`: `serve` pushes `tick N` text messages on this period on
    /// this connection (the idle experiment's one-direction arm). Ignored
    /// when it does not parse or is zero.
    pub(crate) tick: Option<Duration>,
    /// `ping=off` (`Some(None)`) or `ping=DUR`: replaces `serve`'s own ping
    /// interval for this connection.
    pub(crate) ping: Option<Option<Duration>>,
    /// `echo=off` (`Some(false)`) or `echo=on`: whether `serve` echoes this
    /// connection's messages (on by default).
    pub(crate) echo: Option<bool>,
    /// `conn-id=ID`: the id `serve` files the connection under in its
    /// ledger (the `X-Wsdoctor-Conn-Id` header does the same); only ids
    /// that pass [`valid_conn_id`] are kept.
    pub(crate) conn_id: Option<String>,
}

/// Longest connection id kept (the ledger's key).
pub(crate) const MAX_CONN_ID: usize = 64;

/// A connection id is 1 to 64 characters of `A-Z a-z 0-9 - _ .`: safe in a
/// URL path, a header and a log line as it is.
pub(crate) fn valid_conn_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CONN_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A positive duration like `500ms` or `1s`, at least 10 ms so a typo cannot
/// make the server flood the connection.
fn query_interval(text: &str) -> Option<Duration> {
    humantime::parse_duration(text.trim())
        .ok()
        .filter(|d| *d >= Duration::from_millis(10))
}

impl Query {
    pub(crate) fn parse(target: &str) -> Query {
        let mut q = Query::default();
        // Works for origin-form (`/p?q`) and absolute-form (`http://h/p?q`).
        let Some((_, query)) = target.split_once('?') else {
            return q;
        };
        let query = query.split('#').next().unwrap_or_default();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match &*key {
                "fault" => match &mut q.fault {
                    Some(all) => {
                        all.push(',');
                        all.push_str(&value);
                    }
                    None => q.fault = Some(value.into_owned()),
                },
                "reason" => q.reason = Some(value.into_owned()),
                "server" => q.server = Some(value.into_owned()),
                "client" => q.client = Some(value.into_owned()),
                "tick" => q.tick = query_interval(&value),
                "ping" => {
                    q.ping = match value.trim() {
                        "off" | "0" | "none" => Some(None),
                        other => query_interval(other).map(Some),
                    }
                }
                "echo" => {
                    q.echo = match value.trim() {
                        "off" | "0" | "false" | "no" => Some(false),
                        "on" | "1" | "true" | "yes" => Some(true),
                        _ => None,
                    }
                }
                "conn-id" => q.conn_id = Some(value.into_owned()).filter(|v| valid_conn_id(v)),
                _ => {}
            }
        }
        q
    }
}

/// Makes text safe as a header value: a stray CR/LF from a query parameter
/// must not let a request inject headers into the answer.
pub(crate) fn header_safe(text: &str) -> String {
    text.chars()
        .filter(|c| *c == ' ' || c.is_ascii_graphic())
        .take(200)
        .collect()
}

/// `Sec-WebSocket-Accept` for a key, per RFC 6455 section 4.2.2.
pub(crate) fn accept_key(key: &str) -> String {
    accept_with(key, WS_GUID)
}

fn accept_with(key: &str, guid: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.trim().as_bytes());
    sha.update(guid.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// Serves one connection from the request head to the end.
pub(crate) async fn serve(conn: Conn, peer: SocketAddr, shared: &Shared) {
    if let Some((conn, request, leftover)) =
        read_request(conn, BytesMut::new(), &shared.instance).await
    {
        respond(conn, peer, shared, request, leftover).await;
    }
}

/// Reads the request head. `None` when the client left or got an error
/// answer (too large, malformed) already.
pub(crate) async fn read_request(
    mut conn: Conn,
    received: BytesMut,
    instance: &str,
) -> Option<(Conn, Request, BytesMut)> {
    // Timeout, read error or EOF: nothing to answer.
    let read = read_head(&mut conn, received);
    let Ok(Ok(Some(head))) = tokio::time::timeout(HEAD_TIMEOUT, read).await else {
        return None;
    };
    let fallback = Ident {
        server: DEFAULT_SERVER,
        instance,
    };
    match head {
        Head::Complete(request, leftover) => Some((conn, request, leftover)),
        Head::TooLarge => {
            answer_and_close(conn, &answer::too_large(fallback)).await;
            None
        }
        Head::Malformed(why) => {
            let text = answer::bad_request(&format!("malformed request: {why}"), fallback);
            answer_and_close(conn, &text).await;
            None
        }
    }
}

/// Answers a request that was read: faults, the 101, the session.
pub(crate) async fn respond(
    mut conn: Conn,
    peer: SocketAddr,
    shared: &Shared,
    request: Request,
    leftover: BytesMut,
) {
    let query = Query::parse(&request.target);
    let server = header_safe(query.server.as_deref().unwrap_or(DEFAULT_SERVER));
    let ident = Ident {
        server: &server,
        instance: &shared.instance,
    };
    let faults = match &query.fault {
        Some(text) => match Fault::parse_list(text) {
            Ok(faults) => faults,
            Err(e) => {
                return answer_and_close(conn, &answer::bad_request(&e.to_string(), ident)).await
            }
        },
        None => shared.faults.clone(),
    };
    let plan = Plan::from_faults(&faults);

    match plan.answer {
        Answer::NotHttp => answer_and_close(conn, answer::NOT_HTTP).await,
        Answer::Hang => hang(conn).await,
        Answer::Status(code) => answer_and_close(conn, &answer::status(code, ident)).await,
        Answer::Http10 => answer_and_close(conn, &answer::http10(ident)).await,
        Answer::Upgrade => {
            let key = match check_upgrade(&request) {
                Ok(key) => key,
                Err(bad) => return answer_and_close(conn, &bad.answer(ident)).await,
            };
            let head = switching_protocols(&request, key, &plan, ident);
            if conn.send(head.as_bytes()).await.is_err() {
                return;
            }
            let greeting = plan
                .session
                .greet
                .then(|| greeting(&request, peer, &shared.instance));
            let input = SessionInput {
                plan: plan.session,
                reason: query.reason.unwrap_or_default(),
                greeting,
                leftover,
            };
            fault_session::run(conn, input).await;
        }
    }
}

/// Why a request cannot be upgraded.
#[derive(Debug)]
pub(crate) enum NotUpgradable {
    /// Not GET or no key: a broken request, 400.
    BadRequest(&'static str),
    /// Not asking for WebSocket (version 13): 426.
    UpgradeRequired(&'static str),
}

impl NotUpgradable {
    pub(crate) fn answer(&self, ident: Ident<'_>) -> Vec<u8> {
        match self {
            NotUpgradable::BadRequest(why) => answer::bad_request(why, ident),
            NotUpgradable::UpgradeRequired(why) => answer::not_websocket(why, ident),
        }
    }
}

/// Checks the request is a WebSocket upgrade and returns its key.
pub(crate) fn check_upgrade(request: &Request) -> Result<&str, NotUpgradable> {
    if request.method != "GET" {
        return Err(NotUpgradable::BadRequest(
            "a WebSocket upgrade must use GET",
        ));
    }
    if !request.has_token("upgrade", "websocket") {
        return Err(NotUpgradable::UpgradeRequired(
            "no `Upgrade: websocket` header",
        ));
    }
    if !request.has_token("connection", "upgrade") {
        return Err(NotUpgradable::UpgradeRequired(
            "no `Connection: Upgrade` header",
        ));
    }
    if request.header("sec-websocket-version").map(str::trim) != Some("13") {
        return Err(NotUpgradable::UpgradeRequired(
            "only Sec-WebSocket-Version 13 is supported",
        ));
    }
    match request.header("sec-websocket-key").map(str::trim) {
        Some(key) if !key.is_empty() => Ok(key),
        _ => Err(NotUpgradable::BadRequest("no Sec-WebSocket-Key header")),
    }
}

/// The 101 head, with the `bad-accept` / `no-upgrade-header` faults applied.
pub(crate) fn switching_protocols(
    request: &Request,
    key: &str,
    plan: &Plan,
    ident: Ident<'_>,
) -> String {
    let accept = if plan.bad_accept {
        // Looks like a real accept value, but hashes the wrong GUID.
        accept_with(key, "00000000-0000-0000-0000-000000000000")
    } else {
        accept_key(key)
    };
    let mut head = String::from("HTTP/1.1 101 Switching Protocols\r\n");
    if !plan.no_upgrade_header {
        head.push_str("Upgrade: websocket\r\n");
    }
    head.push_str("Connection: Upgrade\r\n");
    head.push_str(&format!("Sec-WebSocket-Accept: {accept}\r\n"));
    // Select the first subprotocol offered, as a permissive server would.
    let protocol = request
        .header("sec-websocket-protocol")
        .and_then(|v| v.split(',').map(str::trim).find(|p| !p.is_empty()));
    if let Some(protocol) = protocol {
        head.push_str(&format!(
            "Sec-WebSocket-Protocol: {}\r\n",
            header_safe(protocol)
        ));
    }
    head.push_str(&format!(
        "Server: {}\r\nX-Wsdoctor-Instance: {}\r\n\r\n",
        ident.server, ident.instance
    ));
    head
}

/// The `greet` message: what the server saw, as JSON.
pub(crate) fn greeting(request: &Request, peer: SocketAddr, instance: &str) -> String {
    let headers: Vec<[&str; 2]> = request
        .headers
        .iter()
        .map(|(n, v)| [n.as_str(), v.as_str()])
        .collect();
    serde_json::json!({
        "instance": instance,
        "peer": peer.to_string(),
        "headers": headers,
    })
    .to_string()
}

/// Sends a complete answer, then closes cleanly.
pub(crate) async fn answer_and_close(mut conn: Conn, bytes: &[u8]) {
    if conn.send(bytes).await.is_ok() {
        conn.finish(ANSWER_LINGER).await;
    }
}

/// The `hang` fault: keep the connection, answer nothing, until the client
/// leaves or the server shuts down (which aborts this task).
async fn hang(mut conn: Conn) {
    let mut sink = [0u8; 4096];
    while let Ok(n) = conn.read(&mut sink).await {
        if n == 0 {
            break;
        }
    }
    // The client closed its side; close ours too rather than linger half-open.
    let _ = conn.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_matches_rfc_example() {
        // RFC 6455 section 1.3.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn query_joins_faults_and_decodes() {
        let q = Query::parse(
            "/ws?fault=ping:1s&x=1&fault=no-pong&reason=going%20away&server=nginx/1.24.0",
        );
        assert_eq!(q.fault.as_deref(), Some("ping:1s,no-pong"));
        assert_eq!(q.reason.as_deref(), Some("going away"));
        assert_eq!(q.server.as_deref(), Some("nginx/1.24.0"));
        assert!(Query::parse("/ws").fault.is_none());
        assert_eq!(Query::parse("/ws?fault=").fault.as_deref(), Some(""));
    }

    #[test]
    fn query_reads_the_per_connection_settings() {
        let q = Query::parse("/ws?tick=250ms&ping=off&echo=off&conn-id=ab12-arm_1.x");
        assert_eq!(q.tick, Some(Duration::from_millis(250)));
        assert_eq!(q.ping, Some(None));
        assert_eq!(q.echo, Some(false));
        assert_eq!(q.conn_id.as_deref(), Some("ab12-arm_1.x"));
        let q = Query::parse("/ws?ping=2s&echo=on");
        assert_eq!(q.ping, Some(Some(Duration::from_secs(2))));
        assert_eq!(q.echo, Some(true));
        assert_eq!((q.tick, q.conn_id), (None, None));
        // Nonsense, floods and unsafe ids are ignored, never half-applied.
        let q = Query::parse("/ws?tick=0s&ping=soon&echo=maybe&conn-id=..%2F..%2Fetc");
        assert_eq!((q.tick, q.ping, q.echo), (None, None, None));
        assert_eq!(q.conn_id, None);
        assert_eq!(Query::parse("/ws?tick=1ms").tick, None);
        assert!(!valid_conn_id(&"a".repeat(65)));
        assert!(!valid_conn_id(""));
        assert!(!valid_conn_id("a b"));
        assert!(valid_conn_id(&"a".repeat(64)));
    }

    #[test]
    fn header_values_cannot_inject() {
        assert_eq!(header_safe("a\r\nSet-Cookie: x"), "aSet-Cookie: x");
    }
}
