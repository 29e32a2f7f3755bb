//! One connection of `wsdoctor reconnect`: read the request head, name the
//! client, refuse or upgrade, hold the connection with the evidence session
//! (server role, no pings of ours: we want to see the client's own), and
//! drop it the chosen way when the tracker says so.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Buf as _, BytesMut};
use http::StatusCode;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::watch;
use wsdoctor_evidence::reconnect::Interruption;
use wsdoctor_evidence::{FrameKind, HeartbeatSettings, PongPolicy, Role, Side};

use super::{Admission, Shared};
use crate::conn::driver::{apply_read, write_pending};
use crate::conn::handshake::accept_key;
use crate::conn::session::{Session, SessionConfig};

/// Largest request head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the client's FIN after ours.
const LINGER: Duration = Duration::from_secs(2);
/// Longest client identity kept.
const MAX_CLIENT_ID: usize = 100;
const READ_CHUNK: usize = 8 * 1024;

/// The parts of the request we use.
#[derive(Debug)]
struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads until the end of the request head; `None` when the client went
/// away, sent too much, or sent something that is not HTTP.
async fn read_head(tcp: &mut TcpStream) -> Option<(Request, BytesMut)> {
    let mut buf = BytesMut::with_capacity(2048);
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let request = Request {
                    method: req.method.unwrap_or("GET").to_owned(),
                    target: req.path.unwrap_or("/").to_owned(),
                    headers: req
                        .headers
                        .iter()
                        .map(|h| {
                            let v = String::from_utf8_lossy(h.value).into_owned();
                            (h.name.to_owned(), v)
                        })
                        .collect(),
                };
                buf.advance(len);
                return Some((request, buf));
            }
            Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => {}
            _ => return None,
        }
        buf.reserve(2048);
        if tcp.read_buf(&mut buf).await.ok()? == 0 {
            return None;
        }
    }
}

/// Who the client is: `client=` in the query, an `X-Client-Id` header, or
/// its IP address (not the port: every reconnect comes from a new one).
pub(crate) fn client_id(target: &str, header: Option<&str>, peer: SocketAddr) -> String {
    let from_query = target.split_once('?').and_then(|(_, q)| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "client")
            .map(|(_, v)| v.into_owned())
    });
    from_query
        .or_else(|| header.map(str::to_owned))
        .map(|c| {
            // Printable ASCII only: the name ends up in reports and terminals.
            c.chars()
                .filter(|c| c.is_ascii_graphic() || *c == ' ')
                .take(MAX_CLIENT_ID)
                .collect::<String>()
        })
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| peer.ip().to_string())
}

/// A response head: the status line with the status's standard reason,
/// then `headers` in order. Written by hand: `http` has response types but
/// no writer, and hyper's would want the connection, which after a 101
/// belongs to the evidence session.
fn response_head(status: StatusCode, headers: &[(&str, &str)]) -> String {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// A whole answer that ends the connection: `status`, the `extra` headers,
/// then `body` with its type and length.
fn closing_answer(
    status: StatusCode,
    extra: &[(&str, &str)],
    content_type: &str,
    body: &str,
) -> String {
    let length = body.len().to_string();
    let mut headers = extra.to_vec();
    headers.extend([
        ("Content-Type", content_type),
        ("Content-Length", length.as_str()),
        ("Connection", "close"),
    ]);
    response_head(status, &headers) + body
}

async fn answer_and_close(mut tcp: TcpStream, bytes: &[u8]) {
    let _ = tcp.write_all(bytes).await;
    finish(tcp).await;
}

/// FIN, then drain until the client closes (closing with unread data would
/// turn the FIN into a reset).
async fn finish(mut tcp: TcpStream) {
    let _ = tokio::time::timeout(LINGER, async {
        if tcp.shutdown().await.is_err() {
            return;
        }
        let mut sink = [0u8; 4096];
        while let Ok(n) = tcp.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// How holding a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    /// The drop time came.
    DropDue,
    /// The session ended (the client closed, or the close handshake finished).
    Ended,
    /// The run is over.
    Stop,
}

/// Runs the session until `drop_at`, its end, or the stop signal.
async fn hold(
    tcp: &mut TcpStream,
    session: &mut Session,
    drop_at: Option<Instant>,
    mut stop: Option<&mut watch::Receiver<bool>>,
) -> Held {
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        // The drop time ends a blocked write too.
        write_pending(tcp, session, drop_at).await;
        if session.is_ended() {
            return Held::Ended;
        }
        if stop.as_ref().is_some_and(|s| *s.borrow()) {
            return Held::Stop;
        }
        let wake = [session.poll_timeout(), drop_at]
            .into_iter()
            .flatten()
            .min();
        buf.reserve(READ_CHUNK);
        tokio::select! {
            read = tcp.read_buf(&mut buf), if !session.read_paused() => {
                apply_read(session, read, &mut buf);
            }
            changed = async { match stop.as_mut() { Some(s) => s.changed().await, None => std::future::pending().await } } => {
                if changed.is_err() {
                    return Held::Stop;
                }
            }
            () = sleep_opt(wake) => {
                let now = Instant::now();
                if drop_at.is_some_and(|at| now >= at) {
                    return Held::DropDue;
                }
                session.handle_timeout(now);
            }
        }
    }
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

/// The client's pings (and their gaps), and its data messages, from the
/// session's frame log.
fn traffic(session: Session, opened: Instant) -> (Vec<u64>, u64, u64, u64) {
    let open_ms = u64::try_from(opened.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (events, _, _, _) = session.into_evidence();
    let mut pings = Vec::new();
    let mut messages = 0u64;
    for e in events.iter().filter(|e| e.from == Side::Remote) {
        match e.kind {
            FrameKind::Ping { .. } => pings.push(e.at_us / 1000),
            FrameKind::Text { .. } | FrameKind::Binary { .. } => messages += 1,
            _ => {}
        }
    }
    let gaps: Vec<u64> = pings
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .collect();
    (gaps, pings.len() as u64, messages, open_ms)
}

/// Serves one accepted connection to its end.
pub(crate) async fn serve(mut tcp: TcpStream, peer: SocketAddr, shared: &Shared) {
    let _ = tcp.set_nodelay(true);
    let Ok(Some((request, mut leftover))) =
        tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut tcp)).await
    else {
        return;
    };
    let client = client_id(&request.target, request.header("x-client-id"), peer);
    let key = request
        .header("sec-websocket-key")
        .map(str::to_owned)
        .filter(|_| request.header("upgrade").is_some());
    let Some(key) = key else {
        if wsdoctor_app::listen::is_negotiate(shared.app, &request.method, &request.target) {
            // SignalR's negotiate POST before its upgrade: answered, and
            // not a connection of the client's (the upgrade that follows is).
            let body = wsdoctor_app::listen::signalr::negotiate_answer();
            let answer = closing_answer(StatusCode::OK, &[], "application/json", &body);
            return answer_and_close(tcp, answer.as_bytes()).await;
        }
        // Not a WebSocket request: not a reconnect either.
        let body = "wsdoctor reconnect: connect with a WebSocket client\n";
        let answer = closing_answer(
            StatusCode::UPGRADE_REQUIRED,
            &[("Upgrade", "websocket")],
            "text/plain",
            body,
        );
        return answer_and_close(tcp, answer.as_bytes()).await;
    };
    let admission = match shared.tracker.lock() {
        Ok(mut t) => t.on_request(&client, shared.now_ms()),
        Err(_) => return,
    };
    let plan = match admission {
        Admission::Refuse => {
            let body = "wsdoctor reconnect: refused on purpose (is the client backing off?)\n";
            let answer = closing_answer(StatusCode::SERVICE_UNAVAILABLE, &[], "text/plain", body);
            return answer_and_close(tcp, answer.as_bytes()).await;
        }
        Admission::AcceptAndDrop(after, way) => Some((after, way)),
        Admission::AcceptAndHold => None,
    };
    let Ok(listening) = answer_upgrade(&mut tcp, &request, &key, shared).await else {
        return;
    };
    let opened = Instant::now();
    let mut session = server_session(opened, listening, &mut leftover);
    let mut stop = shared.stop.clone();
    let drop_at = plan.map(|(after, _)| opened + after);
    let held = hold(&mut tcp, &mut session, drop_at, Some(&mut stop)).await;
    end_connection(tcp, session, (held, plan), &client, opened, shared).await;
}

/// Writes the 101, with the subprotocol the `--app` layer chose among the
/// client's offers; that layer is returned for the session.
async fn answer_upgrade(
    tcp: &mut TcpStream,
    request: &Request,
    key: &str,
    shared: &Shared,
) -> std::io::Result<Option<wsdoctor_app::listen::Listening>> {
    let offered: Vec<String> = request
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-protocol"))
        .flat_map(|(_, v)| v.split(','))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let listening =
        wsdoctor_app::listen::listen(shared.app, &request.target, &offered, Instant::now());
    let accept = accept_key(key.trim());
    let mut headers = vec![
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept.as_str()),
    ];
    if let Some(sub) = listening.as_ref().and_then(|l| l.subprotocol.as_deref()) {
        headers.push(("Sec-WebSocket-Protocol", sub));
    }
    headers.push(("Server", "wsdoctor-reconnect"));
    let head = response_head(StatusCode::SWITCHING_PROTOCOLS, &headers);
    tcp.write_all(head.as_bytes()).await?;
    Ok(listening)
}

/// The server's evidence session, fed what arrived after the request head.
fn server_session(
    opened: Instant,
    listening: Option<wsdoctor_app::listen::Listening>,
    leftover: &mut BytesMut,
) -> Session {
    let mut session = Session::new(
        SessionConfig {
            role: Role::Server,
            heartbeat: HeartbeatSettings {
                // No pings of ours: whether the client pings is what we measure.
                ping_interval_ms: None,
                pong_timeout_ms: 10_000,
                pong_policy: PongPolicy::Answer,
            },
            close_wait: Duration::from_secs(2),
            ..SessionConfig::default()
        },
        opened,
        opened,
    );
    if let Some(listening) = listening {
        session.use_app(crate::conn::session::app_layer(listening.session), opened);
    }
    if !leftover.is_empty() {
        session.handle_data(opened, leftover);
    }
    session
}

/// The client's traffic and `--app` record, into the tracker.
fn record_traffic(shared: &Shared, client: &str, mut session: Session, opened: Instant) {
    let app = session.take_app_record();
    let (gaps, pings, messages, open_ms) = traffic(session, opened);
    if let Ok(mut t) = shared.tracker.lock() {
        t.on_traffic(client, &gaps, pings, messages, open_ms);
        if let Some(app) = app {
            let protocol = app.protocol.as_deref().unwrap_or_default();
            t.on_app(client, protocol, &app.decided_by, app.init_acked());
        }
    }
}

/// Ends a held connection: the planned drop (a close, a FIN or a RST), a
/// 1001 when the run stops, or the client's own end, each recorded.
async fn end_connection(
    mut tcp: TcpStream,
    mut session: Session,
    (held, plan): (Held, Option<(Duration, Interruption)>),
    client: &str,
    opened: Instant,
    shared: &Shared,
) {
    match (held, plan) {
        (Held::DropDue, Some((_, way))) => {
            // Recorded before acting: a fast client may be back before we return.
            if let Ok(mut t) = shared.tracker.lock() {
                t.on_dropped(client, shared.now_ms(), way);
            }
            match way {
                Interruption::Close { code } => {
                    session.close(
                        Instant::now(),
                        code,
                        "wsdoctor reconnect: dropped on purpose",
                    );
                    let _ = hold(&mut tcp, &mut session, None, None).await;
                    record_traffic(shared, client, session, opened);
                    finish(tcp).await;
                }
                Interruption::Fin => {
                    record_traffic(shared, client, session, opened);
                    finish(tcp).await;
                }
                _ => {
                    record_traffic(shared, client, session, opened);
                    // SO_LINGER 0 turns the close into a RST; if setting it
                    // fails the drop is a FIN instead, which still drops.
                    let _ = socket2::SockRef::from(&tcp).set_linger(Some(Duration::ZERO));
                    drop(tcp);
                }
            }
        }
        (Held::Stop, _) => {
            session.close(Instant::now(), 1001, "wsdoctor reconnect finished");
            let _ = hold(&mut tcp, &mut session, None, None).await;
            record_traffic(shared, client, session, opened);
            finish(tcp).await;
        }
        _ => {
            // The client ended it before we did.
            if let Ok(mut t) = shared.tracker.lock() {
                t.on_client_closed(client, shared.now_ms());
            }
            record_traffic(shared, client, session, opened);
            finish(tcp).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{client_id, closing_answer, response_head, StatusCode};

    /// The status, the headers and the body of `answer`, as a client reads them.
    fn read_back(answer: &str) -> (u16, Vec<(String, String)>, String) {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut response = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(len)) = response.parse(answer.as_bytes()) else {
            panic!("not a complete head: {answer:?}");
        };
        let headers = response
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_owned(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        (
            response.code.unwrap_or(0),
            headers,
            answer[len..].to_owned(),
        )
    }

    #[test]
    fn a_closing_answer_says_its_length_type_and_close() {
        let body = "wsdoctor reconnect: connect with a WebSocket client\n";
        let answer = closing_answer(
            StatusCode::UPGRADE_REQUIRED,
            &[("Upgrade", "websocket")],
            "text/plain",
            body,
        );
        assert!(
            answer.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
            "{answer:?}"
        );
        let (status, headers, read_body) = read_back(&answer);
        assert_eq!(status, 426);
        assert_eq!(read_body, body);
        let expected = [
            ("Upgrade", "websocket".to_owned()),
            ("Content-Type", "text/plain".to_owned()),
            ("Content-Length", body.len().to_string()),
            ("Connection", "close".to_owned()),
        ];
        let expected: Vec<(String, String)> = expected
            .into_iter()
            .map(|(n, v)| (n.to_owned(), v))
            .collect();
        assert_eq!(headers, expected);
        let refused = closing_answer(StatusCode::SERVICE_UNAVAILABLE, &[], "text/plain", "x");
        assert!(
            refused.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{refused:?}"
        );
        assert_eq!(read_back(&refused).2, "x");
    }

    #[test]
    fn a_head_without_a_body_ends_at_its_blank_line() {
        let head = response_head(
            StatusCode::SWITCHING_PROTOCOLS,
            &[("Upgrade", "websocket"), ("Connection", "Upgrade")],
        );
        assert_eq!(
            head,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        );
        assert_eq!(read_back(&head).2, "");
    }

    #[test]
    fn client_identity_from_query_header_or_ip() {
        let peer = "10.0.0.7:50123".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(client_id("/ws?client=web-42", None, peer), "web-42");
        assert_eq!(client_id("/ws?x=1&client=a%20b", Some("h"), peer), "a b");
        assert_eq!(client_id("/ws", Some("svc-1\r\nX: y"), peer), "svc-1X: y");
        assert_eq!(client_id("/ws", None, peer), "10.0.0.7");
    }
}
