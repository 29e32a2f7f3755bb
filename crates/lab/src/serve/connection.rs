//! One `serve` connection: the request, `/whoami`, the 101, then the
//! evidence session, and the record of it all. The session part is shared
//! with the HTTP/2 streams of [`super::h2`].

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};

use wsdoctor_evidence::idle::ServerView;
use wsdoctor_evidence::{ConnectionRecord, HeartbeatSettings, Side};
use wsdoctor_wire::session::Session;

use super::browser;
use super::driver::{self, Ending, Timers};
use super::exchange::{
    client_id, conn_id, greeting, new_session, prepare_upgrade, Exchange, Prepared, RecordSeed,
};
use super::{ServeEvent, ServeShared};
use crate::answer::{self, Ident};
use crate::conn::Conn;
use crate::server_handshake::{self, Query};

/// How long to wait for the client's FIN after ours.
const FIN_LINGER: Duration = Duration::from_secs(2);
/// Where the ledger answers: `GET [PREFIX]/v1/connections/ID`.
const LEDGER_PATH: &str = "/v1/connections/";

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

/// The server's view of the connection, in the client's evidence model.
fn record(
    exchange: &Exchange<'_>,
    opened: Instant,
    heartbeat: HeartbeatSettings,
    session: Session,
) -> ConnectionRecord {
    RecordSeed::new(exchange, opened, heartbeat, true).finish(session)
}
