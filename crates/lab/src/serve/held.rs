//! Plain connections without timers of their own (no ticks, no scheduled
//! faults) live in the [`HoldPool`] once the 101 is sent: an idle
//! connection then costs its session and a compact record seed, not a task
//! with an 8 KiB read buffer — what lets one `serve` process hold its
//! 20,000 file descriptors' worth of connections in a few tens of MiB.
//!
//! They get there two ways. Accepted plain connections go straight to the
//! pool, which reads the request and asks [`PooledRequest`] (the same
//! decisions as the tokio path, without I/O): a plain upgrade is answered
//! and held right there, anything else (HTTP requests, faults, ticks,
//! tagged connections, malformed heads) comes back to the accept loop with
//! the bytes read so far. TLS and HTTP/2 connections are answered by tokio
//! and handed over afterwards ([`try_hold`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Instant, SystemTime};

use bytes::BytesMut;
use tokio::sync::mpsc;
use wsdoctor_wire::head::HeadProgress;
use wsdoctor_wire::session::Session;
use wsdoctor_wire_io::hold::{HoldPool, OnEnd, Responder, Response};

use super::browser;
use super::exchange::{
    client_id, conn_id, new_session, prepare_upgrade, Exchange, Prepared, RecordSeed,
};
use super::{ServeEvent, ServeShared};
use crate::answer::Ident;
use crate::conn::Conn;
use crate::server_handshake::{self, Head, Query};

/// The pool and how many connections it holds for this server.
pub(super) struct HeldConnections {
    pub(super) pool: HoldPool,
    pub(super) count: Arc<AtomicUsize>,
}

impl std::fmt::Debug for HeldConnections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldConnections")
            .field("count", &self.count.load(Ordering::Relaxed))
            .finish()
    }
}

/// One connection in the pool's count, for as long as this lives.
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(count: &Arc<AtomicUsize>) -> Counted {
        count.fetch_add(1, Ordering::Relaxed);
        Counted(Arc::clone(count))
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether nothing but the session has to happen on this connection.
fn holdable(exchange: &Exchange<'_>, shared: &ServeShared) -> bool {
    let plan = &exchange.plan.session;
    // Tagged connections are few (idle experiments) and report to the ledger
    // from their task.
    let own_timers = plan.close.is_some()
        || plan.rst.is_some()
        || plan.fin.is_some()
        || exchange
            .query
            .tick
            .or(plan.tick)
            .or(shared.config.tick)
            .is_some()
        || conn_id(exchange.request, exchange.query).is_some();
    !own_timers
}

/// The session of a held connection, and what files its record at the end.
fn held_session(
    exchange: &Exchange<'_>,
    shared: &ServeShared,
    opened: Instant,
    counted: Counted,
) -> (Box<Session>, OnEnd) {
    let (session, heartbeat) = new_session(exchange, shared, opened);
    // Boxed: the closure is allocated for every held connection, and
    // without `--events` (no record to file) it should be two pointers,
    // not the ~230 bytes of an empty record (issue 23).
    let record = shared.events.clone().map(|events| {
        let client = client_id(exchange.request, exchange.query, exchange.peer);
        Box::new((
            events,
            shared.lab.instance.clone().into_boxed_str(),
            client.into_boxed_str(),
            RecordSeed::new(exchange, opened, heartbeat, shared.config.event_heads),
        ))
    });
    let on_end = Box::new(move |session: Box<Session>| {
        drop(counted);
        if let Some(record) = record {
            let (events, instance, client, seed) = *record;
            let event = ServeEvent {
                instance: instance.into(),
                client: client.into(),
                connection: seed.finish(*session),
            };
            // As for every connection: a full channel drops the record.
            let _ = events.try_send(event);
        }
    });
    (Box::new(session), on_end)
}

/// Hands the connection to the pool when nothing but the session has to
/// happen on it; gives it back otherwise.
pub(super) fn try_hold(
    conn: Conn,
    mut leftover: BytesMut,
    exchange: &Exchange<'_>,
    shared: &ServeShared,
) -> Result<(), (Conn, BytesMut)> {
    let (Some(held), true, Conn::Plain(_)) = (&shared.held, holdable(exchange, shared), &conn)
    else {
        return Err((conn, leftover));
    };
    let Conn::Plain(tcp) = conn else {
        return Err((conn, leftover));
    };
    let opened = Instant::now();
    let (mut session, on_end) = held_session(exchange, shared, opened, Counted::new(&held.count));
    session.handle_data(opened, &mut leftover);
    drop(leftover);
    // Err only when the pool stopped: the server is going away with its
    // connections (the count went with `on_end`).
    let _ = held.pool.adopt(tcp, session, on_end);
    Ok(())
}

/// A connection the pool gave back, with what it read of it.
#[derive(Debug)]
pub(super) struct HandedBack {
    pub(super) stream: std::net::TcpStream,
    pub(super) received: BytesMut,
    pub(super) peer: SocketAddr,
}

/// Sends an accepted plain connection to the pool to be answered there; the
/// connection comes back through `hand_back` unless it is a plain upgrade.
/// Gives it back at once when the pool has stopped.
pub(super) fn answer_in_pool(
    stream: std::net::TcpStream,
    peer: SocketAddr,
    shared: &Arc<ServeShared>,
    hand_back: &mpsc::UnboundedSender<HandedBack>,
) -> Result<(), std::net::TcpStream> {
    let Some(held) = &shared.held else {
        return Err(stream);
    };
    let responder = Box::new(PooledRequest {
        peer,
        shared: Arc::downgrade(shared),
        origin: Instant::now(),
        started_at: SystemTime::now(),
        hand_back: hand_back.clone(),
        counted: Some(Counted::new(&held.count)),
        progress: HeadProgress::default(),
    });
    let deadline = Instant::now() + server_handshake::HEAD_TIMEOUT;
    held.pool
        .answer(stream, responder, deadline)
        .map_err(|(stream, _)| stream)
}

/// `serve`'s side of a connection the pool answers: the tokio path's
/// decisions ([`prepare_upgrade`], [`holdable`]) on the request head.
struct PooledRequest {
    peer: SocketAddr,
    /// Weak: the pool belongs to the server, and a client that never sends
    /// its head must not keep the server (and so the pool) alive.
    shared: Weak<ServeShared>,
    origin: Instant,
    started_at: SystemTime,
    hand_back: mpsc::UnboundedSender<HandedBack>,
    /// Counts the connection from its accept; moves into the held session.
    counted: Option<Counted>,
    /// How much of the request head was looked at (not parsed again from
    /// its start on every read).
    progress: HeadProgress,
}

impl Responder for PooledRequest {
    fn respond(&mut self, received: &[u8], now: Instant) -> Response {
        let Some((head, head_len)) =
            server_handshake::parse_head_from(received, &mut self.progress)
        else {
            return Response::NeedMore;
        };
        // Too large or malformed: the tokio path says so in its answer.
        let Head::Complete(request, _) = head else {
            return Response::HandBack;
        };
        let path = request.target.split('?').next().unwrap_or_default();
        // The same order as the tokio path: only an upgrade that is not a
        // browser report is a WebSocket.
        if !request.has_token("upgrade", "websocket") || browser::is_report(&request, path) {
            return Response::HandBack;
        }
        let query = Query::parse(&request.target);
        // Gone: the server is stopping; the hand-back finds no one either.
        let Some(shared) = self.shared.upgrade() else {
            return Response::HandBack;
        };
        let shared = &*shared;
        let ident = Ident {
            server: server_handshake::DEFAULT_SERVER,
            instance: &shared.lab.instance,
        };
        let Prepared::Upgrade {
            plan,
            head,
            deflate,
        } = prepare_upgrade(&request, &query, shared, ident)
        else {
            return Response::HandBack;
        };
        let exchange = Exchange::upgrade(
            &request,
            &query,
            &plan,
            self.peer,
            (self.origin, self.started_at),
            (&head, deflate),
        );
        let (true, Some(counted)) = (holdable(&exchange, shared), self.counted.take()) else {
            return Response::HandBack;
        };
        let (session, on_end) = held_session(&exchange, shared, now, counted);
        Response::Upgrade {
            answer: head.into_bytes(),
            head_len,
            session,
            on_end,
        }
    }

    fn hand_back(self: Box<Self>, stream: std::net::TcpStream, received: Vec<u8>) {
        // A closed channel: the server is stopping; the connection closes.
        let _ = self.hand_back.send(HandedBack {
            stream,
            received: BytesMut::from(&received[..]),
            peer: self.peer,
        });
    }
}
