//! One `serve` connection: the request, `/whoami`, the 101, then the
//! evidence session, and the record of it all. The session part is shared
//! with the HTTP/2 streams of [`super::h2`].

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};

use wsdoctor_evidence::idle::ServerView;
use wsdoctor_evidence::DeflateParams;
use wsdoctor_evidence::{
    redact_header_value, redact_url, ConnectionRecord, HandshakeRecord, Header, HeartbeatSettings,
    PhaseTimings, PongPolicy, Role, Side,
};
use wsdoctor_wire::deflate;
use wsdoctor_wire::session::{Session, SessionConfig};

use super::browser;
use super::driver::{self, Ending, Timers};
use super::{ServeEvent, ServeShared};
use crate::answer::{self, Ident};
use crate::config::{Answer, PongMode};
use crate::conn::Conn;
use crate::server_handshake::{self, Query, Request};
use crate::{config::Plan, server_fault::Fault};

/// How long to wait for the client's FIN after ours.
const FIN_LINGER: Duration = Duration::from_secs(2);
/// Longest identity kept from a `client=` parameter or header.
const MAX_CLIENT_ID: usize = 100;
/// Where the ledger answers: `GET [PREFIX]/v1/connections/ID`.
const LEDGER_PATH: &str = "/v1/connections/";
/// The request header that tags a connection for the ledger.
const CONN_ID_HEADER: &str = "x-wsdoctor-conn-id";

/// Serves one accepted connection (after TLS, if any) to the end;
/// `received` is what was read of it already (the hold pool hands back what
/// it read when the request is not a plain upgrade).
pub(crate) async fn serve(conn: Conn, received: BytesMut, peer: SocketAddr, shared: &ServeShared) {
    let origin = Instant::now();
    let started_at = SystemTime::now();
    let Some((mut conn, request, leftover)) =
        server_handshake::read_request(conn, received, &shared.lab.instance).await
    else {
        return;
    };
    let query = Query::parse(&request.target);
    let ident = Ident {
        server: server_handshake::DEFAULT_SERVER,
        instance: &shared.lab.instance,
    };
    let is_upgrade = request.has_token("upgrade", "websocket");
    let path = request.target.split('?').next().unwrap_or_default();
    if !is_upgrade && request.method == "GET" && path == "/whoami" {
        let body = greeting(&request, peer, &shared.lab.instance);
        let bytes = answer::json(&body, ident);
        return server_handshake::answer_and_close(conn, &bytes).await;
    }
    if browser::is_report(&request, path) {
        return browser::receive(conn, &request, leftover, shared, ident).await;
    }
    // Anywhere in the path, so that a proxy routing only the WebSocket's
    // prefix to serve (`/app/ws/v1/connections/ID`) passes the question too.
    let ledger_id = path
        .find(LEDGER_PATH)
        .map(|at| &path[at + LEDGER_PATH.len()..]);
    if let Some(id) = ledger_id.filter(|_| !is_upgrade) {
        let bytes = ledger_answer(id, &request.method, shared, ident);
        return server_handshake::answer_and_close(conn, &bytes).await;
    }
    if browser::wants_page(&request, path, is_upgrade) {
        return browser::page(conn, ident).await;
    }
    let (plan, head, deflate) = match prepare_upgrade(&request, &query, shared, ident) {
        Prepared::Upgrade {
            plan,
            head,
            deflate,
        } => (plan, head, deflate),
        Prepared::Refuse(bytes) => return server_handshake::answer_and_close(conn, &bytes).await,
        Prepared::LabFaults => {
            return server_handshake::respond(conn, peer, &shared.lab, request, leftover).await
        }
    };
    if conn.send(head.as_bytes()).await.is_err() {
        return;
    }
    let exchange = Exchange::upgrade(
        &request,
        &query,
        &plan,
        peer,
        (origin, started_at),
        (&head, deflate),
    );
    let (conn, leftover) = match super::held::try_hold(conn, leftover, &exchange, shared) {
        Ok(()) => return,
        Err(back) => back,
    };
    let mut conn = conn;
    match run_session(&mut conn, leftover, &exchange, shared).await {
        Ending::Reset => conn.reset(),
        Ending::Fin => conn.finish(FIN_LINGER).await,
    }
}

/// How this server answers an upgrade request, decided without I/O (the
/// tokio path and the hold pool both ask).
pub(super) enum Prepared {
    /// Upgrade with this head (`101 …`, ending in the blank line).
    Upgrade {
        plan: Plan,
        head: String,
        deflate: Option<DeflateParams>,
    },
    /// Answer this and close (a bad `fault=`, a request that cannot be
    /// upgraded).
    Refuse(Vec<u8>),
    /// The lab's own handshake faults decide the answer.
    LabFaults,
}

/// Decides the answer to an upgrade request.
pub(super) fn prepare_upgrade(
    request: &Request,
    query: &Query,
    shared: &ServeShared,
    ident: Ident<'_>,
) -> Prepared {
    let faults = match &query.fault {
        Some(text) => match Fault::parse_list(text) {
            Ok(f) => f,
            Err(e) => return Prepared::Refuse(answer::bad_request(&e.to_string(), ident)),
        },
        None => shared.lab.faults.clone(),
    };
    let plan = Plan::from_faults(&faults);
    // Broken handshakes and mid-frame faults are the lab server's business:
    // they do not make a WebSocket session worth recording.
    let special = plan.answer != Answer::Upgrade
        || plan.bad_accept
        || plan.no_upgrade_header
        || plan.session.fin_mid_frame.is_some()
        || plan.session.huge_frame;
    if special {
        return Prepared::LabFaults;
    }
    let key = match server_handshake::check_upgrade(request) {
        Ok(key) => key,
        Err(bad) => return Prepared::Refuse(bad.answer(ident)),
    };
    let deflate = deflate_answer(request, shared);
    let mut head = server_handshake::switching_protocols(request, key, &plan, ident);
    if let Some(params) = deflate {
        // Before the blank line that ends the head.
        head.truncate(head.len() - 2);
        head.push_str(&format!(
            "Sec-WebSocket-Extensions: {}\r\n\r\n",
            params.header_value()
        ));
    }
    Prepared::Upgrade {
        plan,
        head,
        deflate,
    }
}

/// The request that opened a WebSocket and the answer that opened it, over
/// HTTP/1.1 (101) or HTTP/2 (200 to an extended CONNECT).
pub(super) struct Exchange<'a> {
    pub(super) request: &'a Request,
    pub(super) query: &'a Query,
    pub(super) plan: &'a Plan,
    pub(super) peer: SocketAddr,
    /// When the connection (HTTP/1.1) or the stream (HTTP/2) began.
    pub(super) origin: Instant,
    pub(super) started_at: SystemTime,
    pub(super) http_version: &'static str,
    pub(super) status: u16,
    pub(super) reason: &'static str,
    pub(super) headers: Vec<Header>,
    /// permessage-deflate as agreed in the answer.
    pub(super) deflate: Option<DeflateParams>,
}

impl<'a> Exchange<'a> {
    /// An HTTP/1.1 upgrade answered with `head`, as [`prepare_upgrade`]
    /// decided it.
    pub(super) fn upgrade(
        request: &'a Request,
        query: &'a Query,
        plan: &'a Plan,
        peer: SocketAddr,
        (origin, started_at): (Instant, SystemTime),
        (head, deflate): (&str, Option<DeflateParams>),
    ) -> Exchange<'a> {
        let headers = head
            .split("\r\n")
            .skip(1)
            .filter_map(|line| line.split_once(": "))
            .map(|(name, value)| Header {
                name: name.to_owned(),
                value: value.to_owned(),
            })
            .collect();
        Exchange {
            request,
            query,
            plan,
            peer,
            origin,
            started_at,
            http_version: "HTTP/1.1",
            status: 101,
            reason: "Switching Protocols",
            headers,
            deflate,
        }
    }
}

/// The server's side of permessage-deflate (RFC 7692): the first offer it
/// can honour, when `serve` compresses at all. Every answer says
/// `server_no_context_takeover` (RFC 7692 §7.1.1.1 lets a server add it):
/// each message is compressed on its own and the compressor is freed after
/// it, because flate2 keeps zlib's default memLevel and a kept compressor
/// costs about 200 KiB per connection (measured: 755 MiB of RSS for 3,300
/// held connections). Without a window asked for it compresses with 12
/// bits (4 KiB), as Python `websockets` does.
pub(super) fn deflate_answer(request: &Request, shared: &ServeShared) -> Option<DeflateParams> {
    if !shared.config.deflate {
        return None;
    }
    let offer = request.header("sec-websocket-extensions")?;
    let mut params = deflate::choose_offer(offer)?;
    params.server_max_window_bits = Some(params.server_max_window_bits.unwrap_or(12).min(12));
    params.server_no_context_takeover = true;
    Some(params)
}

/// Runs the evidence session in the server role over `stream` once the
/// answer is sent, and hands its record to the event channel. Returns how
/// the transport should end.
pub(super) async fn run_session<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    leftover: BytesMut,
    exchange: &Exchange<'_>,
    shared: &ServeShared,
) -> Ending {
    let Exchange {
        request,
        query,
        plan,
        peer,
        ..
    } = *exchange;
    let opened = Instant::now();
    let (mut session, heartbeat) = new_session(exchange, shared, opened);
    let after = |d: Option<Duration>| d.map(|d| opened + d);
    let timers = Timers {
        close: plan.session.close.map(|(code, d)| (code, opened + d)),
        reason: query.reason.clone().unwrap_or_default(),
        rst: after(plan.session.rst),
        fin: after(plan.session.fin),
        tick: query.tick.or(plan.session.tick).or(shared.config.tick),
    };
    let conn_id = conn_id(request, query);
    if let Some(id) = &conn_id {
        // Filed at the start too, so a question during the connection gets
        // "still open" rather than "unknown".
        shared.ledger.record(ServerView {
            id: id.clone(),
            instance: shared.lab.instance.clone(),
            end: None,
            frames_received: 0,
            frames_sent: 0,
            last_received_us: None,
            last_sent_us: None,
        });
    }
    let mut shutdown = shared.shutdown.clone();
    let ending = driver::drive(stream, leftover, &mut session, &timers, &mut shutdown).await;

    if shared.events.is_none() && conn_id.is_none() {
        return ending;
    }
    let record = record(exchange, opened, heartbeat, session);
    if let Some(id) = conn_id {
        shared
            .ledger
            .record(server_view(id, &shared.lab.instance, &record));
    }
    if let Some(events) = &shared.events {
        let client = client_id(request, query, peer);
        let event = ServeEvent {
            instance: shared.lab.instance.clone(),
            client,
            connection: record,
        };
        // A full channel (nobody reading fast enough) drops the record
        // rather than letting memory grow.
        let _ = events.try_send(event);
    }
    ending
}

/// The ledger id of a connection: the `X-Wsdoctor-Conn-Id` header, else
/// the `conn-id=` parameter (for clients that cannot set headers); unsafe
/// ids are not filed at all.
pub(super) fn conn_id(request: &Request, query: &Query) -> Option<String> {
    request
        .header(CONN_ID_HEADER)
        .map(str::trim)
        .filter(|id| server_handshake::valid_conn_id(id))
        .map(str::to_owned)
        .or_else(|| query.conn_id.clone())
}

/// The ledger's compact view of a finished connection: its end as the
/// server saw it and the times of its last frames, relative to the 101.
fn server_view(id: String, instance: &str, record: &ConnectionRecord) -> ServerView {
    let opened_us = record.phases.response_head_us.unwrap_or(0);
    let since_open = |at: u64| at.saturating_sub(opened_us);
    let last = |side: Side| record.events_from(side).last().map(|e| since_open(e.at_us));
    ServerView {
        id,
        instance: instance.to_owned(),
        end: record.end.clone(),
        frames_received: record.events_from(Side::Remote).count() as u64,
        frames_sent: record.events_from(Side::Local).count() as u64,
        last_received_us: last(Side::Remote),
        last_sent_us: last(Side::Local),
    }
}

/// The answer to `GET /v1/connections/ID`: the view as JSON, 404 for an id
/// the ledger does not (or no longer) know, 405 for other methods.
fn ledger_answer(id: &str, method: &str, shared: &ServeShared, ident: Ident<'_>) -> Vec<u8> {
    if method != "GET" {
        return answer::status(405, ident);
    }
    let view = server_handshake::valid_conn_id(id)
        .then(|| shared.ledger.get(id))
        .flatten();
    match view.and_then(|v| serde_json::to_string(&v).ok()) {
        Some(body) => answer::json(&body, ident),
        None => answer::status(404, ident),
    }
}

/// The server's evidence session for an exchange (pings, pong policy,
/// greeting), and its heartbeat settings.
pub(super) fn new_session(
    exchange: &Exchange<'_>,
    shared: &ServeShared,
    opened: Instant,
) -> (Session, HeartbeatSettings) {
    let plan = exchange.plan;
    // `ping=` in the query is explicit about this one connection, so it
    // wins over the `ping:` fault and the server's setting.
    let ping_interval = match exchange.query.ping {
        Some(chosen) => chosen,
        None => plan.session.ping.or(shared.config.ping_interval),
    };
    let heartbeat = HeartbeatSettings {
        ping_interval_ms: ping_interval.map(millis),
        pong_timeout_ms: millis(shared.config.pong_timeout),
        pong_policy: match plan.session.pong {
            PongMode::Immediate => PongPolicy::Answer,
            PongMode::Never => PongPolicy::Never,
            PongMode::After(d) => PongPolicy::Delay { ms: millis(d) },
        },
    };
    let mut session = Session::new(
        SessionConfig {
            role: Role::Server,
            heartbeat,
            max_frame_bytes: shared.config.max_message_bytes,
            echo: exchange.query.echo.unwrap_or(true),
            ..SessionConfig::default()
        },
        exchange.origin,
        opened,
    );
    if let Some(params) = exchange.deflate {
        session.use_deflate(params);
    }
    if shared.config.greet || plan.session.greet {
        let greeting = greeting(exchange.request, exchange.peer, &shared.lab.instance);
        session.send_message(opened, &greeting);
    }
    (session, heartbeat)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Who the client is: `client=` in the query, an `X-Client-Id` header, or
/// its address.
pub(super) fn client_id(request: &Request, query: &Query, peer: SocketAddr) -> String {
    let named = query
        .client
        .as_deref()
        .or_else(|| request.header("x-client-id"))
        .map(|c| {
            server_handshake::header_safe(c)
                .chars()
                .take(MAX_CLIENT_ID)
                .collect::<String>()
        })
        .filter(|c| !c.is_empty());
    named.unwrap_or_else(|| peer.to_string())
}

/// What the server received, as JSON: the greeting and `/whoami`. Secret
/// header values are redacted, since the text may end up in logs.
pub(super) fn greeting(request: &Request, peer: SocketAddr, instance: &str) -> String {
    let headers: Vec<[String; 2]> = request
        .headers
        .iter()
        .map(|(n, v)| [n.clone(), redact_header_value(n, v)])
        .collect();
    let pick = |name: &str| request.header(name).map(str::to_owned);
    let forwarded: Vec<[String; 2]> = request
        .headers
        .iter()
        .filter(|(n, _)| {
            let n = n.to_ascii_lowercase();
            n.starts_with("x-forwarded-") || n == "forwarded" || n == "via" || n == "x-real-ip"
        })
        .map(|(n, v)| [n.clone(), v.clone()])
        .collect();
    serde_json::json!({
        "instance": instance,
        "peer": peer.to_string(),
        "method": request.method,
        "target": redact_url(&request.target),
        "upgrade": pick("upgrade"),
        "connection": pick("connection"),
        "extensions_offered": pick("sec-websocket-extensions"),
        "subprotocols_offered": pick("sec-websocket-protocol")
            .map(|v| redact_header_value("sec-websocket-protocol", &v)),
        "forwarded": forwarded,
        "headers": headers,
    })
    .to_string()
}

/// The server's view of the connection, in the client's evidence model.
fn record(
    exchange: &Exchange<'_>,
    opened: Instant,
    heartbeat: HeartbeatSettings,
    session: Session,
) -> ConnectionRecord {
    RecordSeed::new(exchange, opened, heartbeat).finish(session)
}

/// What a connection's record needs besides the session, taken when it
/// opens. Compact (a few allocations, secrets already redacted) because a
/// held connection keeps it for its whole life.
pub(super) struct RecordSeed {
    target: Box<str>,
    /// The request line and headers, one per line.
    request: Box<str>,
    /// The answer's headers as `name: value` lines.
    answer: Box<str>,
    started_at: SystemTime,
    peer: SocketAddr,
    opened_us: u64,
    http_version: &'static str,
    status: u16,
    reason: &'static str,
    heartbeat: HeartbeatSettings,
}

impl RecordSeed {
    pub(super) fn new(
        exchange: &Exchange<'_>,
        opened: Instant,
        heartbeat: HeartbeatSettings,
    ) -> RecordSeed {
        let request = exchange.request;
        let host = request.header("host").unwrap_or("localhost");
        let mut lines = format!(
            "{} {} {}",
            request.method,
            redact_url(&request.target),
            exchange.http_version
        );
        for (name, value) in &request.headers {
            lines.push('\n');
            lines.push_str(&format!("{name}: {}", redact_header_value(name, value)));
        }
        let answer: Vec<String> = exchange
            .headers
            .iter()
            .map(|h| format!("{}: {}", h.name, redact_header_value(&h.name, &h.value)))
            .collect();
        RecordSeed {
            target: redact_url(&format!("ws://{host}{}", request.target)).into(),
            request: lines.into(),
            answer: answer.join("\n").into(),
            started_at: exchange.started_at,
            peer: exchange.peer,
            opened_us: u64::try_from(
                opened
                    .saturating_duration_since(exchange.origin)
                    .as_micros(),
            )
            .unwrap_or(0),
            http_version: exchange.http_version,
            status: exchange.status,
            reason: exchange.reason,
            heartbeat,
        }
    }

    pub(super) fn finish(self, session: Session) -> ConnectionRecord {
        let secs = self
            .started_at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let deflate = session.deflate_record();
        let (events, events_omitted, end, _) = session.into_evidence();
        let http2 = self.http_version == "HTTP/2";
        let headers = self
            .answer
            .lines()
            .filter_map(|line| line.split_once(": "))
            .map(|(name, value)| Header {
                name: name.to_owned(),
                value: value.to_owned(),
            })
            .collect();
        ConnectionRecord {
            target: self.target.into(),
            started_at: wsdoctor_evidence::logs::format_utc(
                i64::try_from(secs)
                    .unwrap_or(i64::MAX / 1000)
                    .saturating_mul(1000),
            ),
            role: Role::Server,
            resolved: Vec::new(),
            peer_addr: Some(self.peer.to_string()),
            phases: PhaseTimings {
                response_head_us: Some(self.opened_us),
                ..PhaseTimings::default()
            },
            tls: None,
            handshake: Some(HandshakeRecord {
                request: self.request.lines().map(str::to_owned).collect(),
                http_version: self.http_version.to_owned(),
                status: self.status,
                reason: self.reason.to_owned(),
                headers,
                body: None,
                subprotocol: None,
                problems: Vec::new(),
            }),
            heartbeat: self.heartbeat,
            events,
            events_omitted,
            end,
            http2_offered: http2,
            // The server that advertised it.
            extended_connect: http2.then_some(true),
            forward_proxy: None,
            deflate,
            app: None,
        }
    }
}
