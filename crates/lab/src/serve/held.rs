//! Plain connections without timers of their own (no ticks, no scheduled
//! faults) are handed to the [`HoldPool`] once the 101 is sent: an idle
//! connection then costs its session and a compact record seed, not a task
//! with an 8 KiB read buffer — what lets one `serve` process hold its
//! 20,000 file descriptors' worth of connections in a few tens of MiB.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use wsdoctor_sources::conn::hold::HoldPool;
use wsdoctor_sources::conn::session::Session;

use super::connection::{client_id, conn_id, new_session, Exchange, RecordSeed};
use super::{ServeEvent, ServeShared};
use crate::conn::Conn;

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

/// Hands the connection to the pool when nothing but the session has to
/// happen on it; gives it back otherwise.
pub(super) fn try_hold(
    conn: Conn,
    mut leftover: BytesMut,
    exchange: &Exchange<'_>,
    shared: &ServeShared,
) -> Result<(), (Conn, BytesMut)> {
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
    let (Some(held), false, Conn::Plain(_)) = (&shared.held, own_timers, &conn) else {
        return Err((conn, leftover));
    };
    let Conn::Plain(tcp) = conn else {
        return Err((conn, leftover));
    };
    let opened = Instant::now();
    let (mut session, heartbeat) = new_session(exchange, shared, opened);
    session.handle_data(opened, &mut leftover);
    drop(leftover);
    let record = shared.events.clone().map(|events| {
        let client = client_id(exchange.request, exchange.query, exchange.peer);
        (
            events,
            shared.lab.instance.clone().into_boxed_str(),
            client.into_boxed_str(),
            RecordSeed::new(exchange, opened, heartbeat),
        )
    });
    let count = Arc::clone(&held.count);
    count.fetch_add(1, Ordering::Relaxed);
    let on_end = Box::new(move |session: Box<Session>| {
        count.fetch_sub(1, Ordering::Relaxed);
        if let Some((events, instance, client, seed)) = record {
            let event = ServeEvent {
                instance: instance.into(),
                client: client.into(),
                connection: seed.finish(*session),
            };
            // As for every connection: a full channel drops the record.
            let _ = events.try_send(event);
        }
    });
    if held.pool.adopt(tcp, Box::new(session), on_end).is_err() {
        // The pool stopped: the server is going away with its connections.
        held.count.fetch_sub(1, Ordering::Relaxed);
    }
    Ok(())
}
