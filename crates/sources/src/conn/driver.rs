//! The thin tokio shell around [`Session`]: read bytes, write frames, sleep
//! until the next timer. All decisions are the session's.

use std::cell::RefCell;
use std::io;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::session::Session;
use super::{AsyncStream, BoxedStream};
pub use wsdoctor_wire_io::driver::{
    apply_read, classify_io_error, write_pending, DEFAULT_READ_BUFFER,
};

/// When the driver should start closing on its own, and what to say.
#[derive(Debug, Clone)]
pub struct WatchPlan {
    /// When our closing handshake starts (the end of the watch window). A
    /// channel, so a coordinator can move it (the idle experiment ends its
    /// surviving connections as soon as the outcome is certain).
    pub close_at: tokio::sync::watch::Receiver<Instant>,
    /// The close code we send then.
    pub code: u16,
    /// The close reason we send then.
    pub reason: String,
    /// Bytes read per call; a load test holding many connections uses less.
    pub read_buffer: usize,
}

/// A stream a driver reads from: plain TCP is read on readiness straight
/// into a per-thread scratch buffer, so an idle connection holds no read
/// buffer of its own (a load test holding 100,000 connections would
/// otherwise spend most of its memory on empty buffers); TLS and HTTP/2
/// streams are read through a buffer of the connection's.
pub trait ReadSource: AsyncRead + Unpin {
    /// The socket itself when the stream is plain TCP.
    fn plain_tcp(&self) -> Option<&TcpStream>;
}

impl ReadSource for BoxedStream {
    fn plain_tcp(&self) -> Option<&TcpStream> {
        AsyncStream::plain_tcp(self.as_ref())
    }
}

impl ReadSource for TcpStream {
    fn plain_tcp(&self) -> Option<&TcpStream> {
        Some(self)
    }
}

/// What [`next_read`] waited for.
#[derive(Debug)]
pub enum ReadEvent {
    /// A plain socket is readable: [`apply_read_event`] drains it.
    Readable(io::Result<()>),
    /// Bytes (or the end, or an error) read into the connection's buffer.
    Read(io::Result<usize>),
}

/// Waits until there is something to read. Cancel-safe: nothing is consumed
/// until [`apply_read_event`] runs. `buf` is only used (and only grows) for
/// streams that are not plain TCP.
pub async fn next_read<S: ReadSource + ?Sized>(
    stream: &mut S,
    buf: &mut BytesMut,
    chunk: usize,
) -> ReadEvent {
    if let Some(tcp) = stream.plain_tcp() {
        return ReadEvent::Readable(tcp.readable().await);
    }
    buf.reserve(chunk);
    ReadEvent::Read(stream.read_buf(buf).await)
}

/// Reads per readiness at most this many times before letting timers and
/// other connections run (the socket stays readable; the next wait returns
/// at once).
const READS_PER_WAKE: usize = 4;

thread_local! {
    /// The shared read buffer of plain sockets on this thread. Only borrowed
    /// inside [`apply_read_event`], which never awaits.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; DEFAULT_READ_BUFFER]);
}

/// Feeds what [`next_read`] found to the session.
pub fn apply_read_event<S: ReadSource + ?Sized>(
    session: &mut Session,
    stream: &S,
    event: ReadEvent,
    buf: &mut BytesMut,
) {
    match event {
        ReadEvent::Read(read) => apply_read(session, read, buf),
        ReadEvent::Readable(Err(e)) => apply_read(session, Err(e), buf),
        ReadEvent::Readable(Ok(())) => {
            let Some(tcp) = stream.plain_tcp() else {
                return;
            };
            SCRATCH.with(|scratch| {
                let Ok(mut scratch) = scratch.try_borrow_mut() else {
                    return;
                };
                for _ in 0..READS_PER_WAKE {
                    let now = Instant::now();
                    match tcp.try_read(&mut scratch) {
                        Ok(0) => return session.handle_eof(now),
                        Ok(n) => session.handle_data(now, &mut scratch[..n]),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                        Err(e) => {
                            return session.handle_transport_error(
                                now,
                                classify_io_error(&e),
                                e.to_string(),
                            )
                        }
                    }
                    if session.is_ended() || session.read_paused() {
                        return;
                    }
                }
            });
        }
    }
}

/// Bytes our kernel holds for the peer, unacknowledged (plain TCP only).
fn unacknowledged(stream: &BoxedStream) -> Option<u64> {
    let tcp = AsyncStream::plain_tcp(stream.as_ref())?;
    crate::kernel_queue::kernel_queues(tcp).map(|q| q.unacknowledged)
}

/// After the session ended at `now`, having closed at `closed_at`: gives
/// the session what the kernel still holds for the peer, and takes its
/// verdict on whether the peer had stopped reading
/// ([`Session::on_close_unread`]).
fn stopped_reading_at_close(
    session: &mut Session,
    stream: &BoxedStream,
    closed_at: Option<Instant>,
    now: Instant,
) -> bool {
    let Some(closed_at) = closed_at else {
        return false;
    };
    session.on_close_unread(
        unacknowledged(stream),
        now.saturating_duration_since(closed_at),
    )
}

/// Runs `session` over `stream` until it ends. `on_tick` is called after
/// every event with the session (for progress).
pub async fn drive(
    mut stream: BoxedStream,
    mut leftover: BytesMut,
    session: &mut Session,
    plan: &mut WatchPlan,
    mut on_tick: impl FnMut(&Session),
) {
    if !leftover.is_empty() {
        session.handle_data(Instant::now(), &mut leftover);
    }
    // It shares the handshake's read buffer: freed now, not held for the
    // connection's life.
    drop(leftover);
    let chunk = plan.read_buffer.max(256);
    let mut buf = BytesMut::new();
    // When we closed at the end of the watch.
    let mut closed_at: Option<Instant> = None;
    let mut peer_not_reading = false;
    loop {
        // A write blocked at the end of the watch is given up then (the
        // close handshake has its own deadline once it started).
        let give_up_at = (!session.is_closing()).then(|| *plan.close_at.borrow());
        write_pending(&mut stream, session, give_up_at).await;
        if session.is_ended() {
            break;
        }
        let close_at = *plan.close_at.borrow_and_update();
        let watch_timer = (!session.is_closing()).then_some(close_at);
        let wake = [session.poll_timeout(), watch_timer]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let reading = !session.read_paused();
        tokio::select! {
            read = next_read(&mut stream, &mut buf, chunk), if reading => {
                apply_read_event(session, &stream, read, &mut buf);
            }
            // A moved deadline just loops to recompute the wake time; a
            // dropped sender means the deadline can no longer move.
            Ok(()) = plan.close_at.changed() => {}
            () = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {
                let now = Instant::now();
                if !session.is_closing() && now >= close_at {
                    closed_at = Some(now);
                    session.close(now, plan.code, &plan.reason);
                }
                session.handle_timeout(now);
                if session.is_ended() {
                    peer_not_reading = stopped_reading_at_close(session, &stream, closed_at, now);
                }
            }
        }
        on_tick(session);
    }
    if peer_not_reading {
        // A flush would wait on a peer that does not read: end TCP now.
        let _ = tokio::time::timeout(Duration::from_millis(100), stream.shutdown()).await;
        return;
    }
    // Flush a last close frame (our answer to the peer's close) and end TCP
    // politely; errors here change nothing about how the connection ended.
    let flush = async {
        while let Some(frame) = session.poll_transmit() {
            stream.write_all(&frame).await?;
        }
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_millis(500), flush).await;
}
