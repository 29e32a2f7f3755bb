//! The upgrade as `serve` decides it without I/O, and what a connection's
//! session and record start from: shared by the tokio path
//! ([`super::connection`], [`super::h2`]) and the hold pool
//! ([`super::held`]), which hands connections over between them, so that
//! neither path imports the other for it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use wsdoctor_evidence::DeflateParams;
use wsdoctor_evidence::{
    redact_header_value, redact_url, ConnectionRecord, HandshakeRecord, Header, HeartbeatSettings,
    PhaseTimings, PongPolicy, Role,
};
use wsdoctor_wire::deflate;
use wsdoctor_wire::session::{Session, SessionConfig};

use super::ServeShared;
use crate::answer::{self, Ident};
use crate::config::{Answer, PongMode};
use crate::server_handshake::{self, Query, Request};
use crate::{config::Plan, server_fault::Fault};

/// Longest identity kept from a `client=` parameter or header.
const MAX_CLIENT_ID: usize = 100;
/// The request header that tags a connection for the ledger.
const CONN_ID_HEADER: &str = "x-wsdoctor-conn-id";

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
    let config = SessionConfig {
        role: Role::Server,
        heartbeat,
        max_frame_bytes: shared.config.max_message_bytes,
        echo: exchange.query.echo.unwrap_or(true),
        ..SessionConfig::default()
    };
    // One config for every plain connection, not one allocation each (a
    // held connection keeps it for its life: issue 23).
    let plain = &shared.session_config;
    let config = if config.heartbeat == plain.heartbeat
        && config.max_frame_bytes == plain.max_frame_bytes
        && config.echo == plain.echo
    {
        Arc::clone(plain)
    } else {
        Arc::new(config)
    };
    let mut session = Session::new(config, exchange.origin, opened);
    if let Some(params) = exchange.deflate {
        session.use_deflate(params);
    }
    if shared.config.greet || plan.session.greet {
        let greeting = greeting(exchange.request, exchange.peer, &shared.lab.instance);
        session.send_message(opened, &greeting);
    }
    (session, heartbeat)
}

/// The session config [`new_session`] builds for a connection without
/// query overrides or faults: shared by all of them.
pub(super) fn plain_session_config(config: &super::ServeConfig) -> Arc<SessionConfig> {
    Arc::new(SessionConfig {
        role: Role::Server,
        heartbeat: HeartbeatSettings {
            ping_interval_ms: config.ping_interval.map(millis),
            pong_timeout_ms: millis(config.pong_timeout),
            pong_policy: PongPolicy::Answer,
        },
        max_frame_bytes: config.max_message_bytes,
        echo: true,
        ..SessionConfig::default()
    })
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

/// A record's target, request line and headers, and answer headers, as
/// reports show them (redacted).
fn heads_of(exchange: &Exchange<'_>) -> (Box<str>, Box<str>, Box<str>) {
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
    (
        redact_url(&format!("ws://{host}{}", request.target)).into(),
        lines.into(),
        answer.join("\n").into(),
    )
}

impl RecordSeed {
    /// The record's seed; without `heads`, its target, request and answer
    /// are left empty (no allocation: a held connection keeps its seed for
    /// its whole life).
    pub(super) fn new(
        exchange: &Exchange<'_>,
        opened: Instant,
        heartbeat: HeartbeatSettings,
        heads: bool,
    ) -> RecordSeed {
        let (target, request, answer) = if heads {
            heads_of(exchange)
        } else {
            (Box::default(), Box::default(), Box::default())
        };
        RecordSeed {
            target,
            request,
            answer,
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
