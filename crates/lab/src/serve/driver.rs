//! The tokio shell around the evidence [`Session`] on the server side: read,
//! write, sleep until the next timer, and act on the server's own timers
//! (ticks, the `close`/`rst`/`fin` faults, shutdown).
//!
//! The session decides everything about frames (pongs, echoes, the close
//! handshake, pong deadlines) and records it, exactly as on the client side.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite};
use tokio::sync::watch;
use wsdoctor_wire::session::Session;
use wsdoctor_wire_io::driver::{apply_read, write_pending};

/// Bytes requested per socket read (the session decodes incrementally).
const READ_CHUNK: usize = 8 * 1024;
/// The close code and reason of a graceful shutdown.
pub(super) const SHUTDOWN_CODE: u16 = 1001;
pub(super) const SHUTDOWN_REASON: &str = "server shutting down";

/// The server's own timers for one connection, as instants.
#[derive(Debug, Clone, Default)]
pub(crate) struct Timers {
    pub(crate) close: Option<(u16, Instant)>,
    pub(crate) reason: String,
    pub(crate) rst: Option<Instant>,
    pub(crate) fin: Option<Instant>,
    pub(crate) tick: Option<Duration>,
}

/// How the socket is to be ended once the session is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// FIN and wait briefly for the client's (the server closes first).
    Fin,
    /// RST.
    Reset,
}

/// Runs the session until it ends; returns how to end the socket. Generic
/// over the stream: a TCP/TLS connection, or an HTTP/2 stream (RFC 8441).
pub(crate) async fn drive<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut S,
    mut leftover: BytesMut,
    session: &mut Session,
    timers: &Timers,
    shutdown: &mut watch::Receiver<bool>,
) -> Ending {
    let opened = Instant::now();
    if !leftover.is_empty() {
        session.handle_data(opened, &mut leftover);
    }
    let mut next_tick = timers.tick.map(|d| opened + d);
    let mut ticks = 0u64;
    let mut close_at = timers.close;
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut stopping = *shutdown.borrow();
    if stopping {
        session.close(opened, SHUTDOWN_CODE, SHUTDOWN_REASON);
    }
    loop {
        write_pending(conn, session, None).await;
        if session.is_ended() {
            return Ending::Fin;
        }
        let open = !session.is_closing();
        let wake = [
            session.poll_timeout(),
            timers.rst,
            timers.fin,
            close_at.filter(|_| open).map(|(_, at)| at),
            next_tick.filter(|_| open),
        ]
        .into_iter()
        .flatten()
        .min();
        buf.reserve(READ_CHUNK);
        tokio::select! {
            read = conn.read_buf(&mut buf), if !session.read_paused() => {
                apply_read(session, read, &mut buf);
            }
            changed = shutdown.changed(), if !stopping => {
                // A dropped sender means the server is gone: stop as well.
                let _ = changed;
                stopping = true;
                session.close(Instant::now(), SHUTDOWN_CODE, SHUTDOWN_REASON);
            }
            () = sleep_opt(wake) => {
                let now = Instant::now();
                if timers.rst.is_some_and(|at| now >= at) {
                    session.abandon(now, "the server reset the connection (rst fault)");
                    return Ending::Reset;
                }
                if timers.fin.is_some_and(|at| now >= at) {
                    session.abandon(now, "the server closed TCP without a close frame (fin fault)");
                    return Ending::Fin;
                }
                if let Some((code, at)) = close_at {
                    if open && now >= at {
                        close_at = None;
                        session.close(now, code, &timers.reason);
                    }
                }
                if let (Some(at), Some(every)) = (next_tick, timers.tick) {
                    if open && now >= at {
                        ticks += 1;
                        session.send_message(now, &format!("tick {ticks}"));
                        next_tick = Some(now + every);
                    }
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
