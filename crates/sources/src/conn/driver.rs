//! The thin tokio shell around [`Session`]: read bytes, write frames, sleep
//! until the next timer. All decisions are the session's.

use std::cell::RefCell;
use std::io;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsdoctor_evidence::Transport;

use super::session::Session;
use super::{AsyncStream, BoxedStream};

/// Read buffer for one connection: large enough for typical frames (the
/// session decodes incrementally, so frames may be larger).
pub const DEFAULT_READ_BUFFER: usize = 16 * 1024;

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

/// Maps an I/O error to how the transport failed. Typed, never from text:
/// `ECONNRESET`/`ECONNABORTED` are a reset, a rustls error inside the
/// io::Error is TLS, and `UnexpectedEof` (TCP closed without TLS
/// close_notify) is a plain end of stream.
pub fn classify_io_error(e: &io::Error) -> Option<Transport> {
    match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => Some(Transport::Reset),
        io::ErrorKind::UnexpectedEof => Some(Transport::Eof),
        _ if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) => Some(Transport::Tls),
        _ => None,
    }
}

/// Writes every frame the session has queued, then flushes; a failed write
/// ends the session with the transport's classification. Shared by every
/// loop that drives a session (this driver, `serve`).
///
/// Every write has a deadline: the socket may take no byte for the
/// session's write timeout ([`Session::write_deadline`]), and never past
/// `give_up_at` (the caller's own deadline, e.g. the end of the watch). A
/// write still blocked then means the peer stopped reading: the session
/// ends as such ([`Session::on_write_stalled`]) and nothing more is sent.
/// While a write waits nothing is read, so the peer cannot make us queue more.
pub async fn write_pending<S: tokio::io::AsyncWrite + Unpin + ?Sized>(
    stream: &mut S,
    session: &mut Session,
    give_up_at: Option<Instant>,
) {
    let mut wrote = 0;
    while let Some(frame) = session.poll_transmit() {
        let mut written = 0;
        session.on_unsent(Instant::now(), frame.len(), true);
        while written < frame.len() {
            let write = stream.write(&frame[written..]);
            match with_deadline(session, give_up_at, write).await {
                None => return session.on_write_stalled(Instant::now()),
                Some(Ok(0)) => {
                    let e = io::Error::from(io::ErrorKind::WriteZero);
                    return session.handle_transport_error(Instant::now(), None, e.to_string());
                }
                Some(Ok(n)) => {
                    written += n;
                    session.on_unsent(Instant::now(), frame.len() - written, true);
                }
                Some(Err(e)) => {
                    return session.handle_transport_error(
                        Instant::now(),
                        classify_io_error(&e),
                        e.to_string(),
                    );
                }
            }
        }
        wrote += frame.len();
        session.on_transmitted(Instant::now());
    }
    if wrote > 0 {
        // TLS and HTTP/2 streams hold bytes until flushed; a flush that
        // blocks is a write that blocks. They hold at most what was just
        // written.
        session.on_unsent(Instant::now(), wrote, true);
        match with_deadline(session, give_up_at, stream.flush()).await {
            None => session.on_write_stalled(Instant::now()),
            Some(_) => session.on_unsent(Instant::now(), 0, true),
        }
    }
}

/// Runs a write until the earlier of the session's write deadline and
/// `give_up_at`; `None` when that passed first.
async fn with_deadline<T>(
    session: &Session,
    give_up_at: Option<Instant>,
    write: impl std::future::Future<Output = T>,
) -> Option<T> {
    let deadline = [session.write_deadline(), give_up_at]
        .into_iter()
        .flatten()
        .min();
    match deadline {
        Some(at) => tokio::time::timeout_at(tokio::time::Instant::from_std(at), write)
            .await
            .ok(),
        None => Some(write.await),
    }
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

/// Feeds one read result to the session: bytes, end of stream, or an error.
pub fn apply_read(session: &mut Session, read: io::Result<usize>, buf: &mut BytesMut) {
    let now = Instant::now();
    match read {
        Ok(0) => session.handle_eof(now),
        Ok(_) => {
            session.handle_data(now, buf);
            buf.clear();
        }
        Err(e) => session.handle_transport_error(now, classify_io_error(&e), e.to_string()),
    }
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
                    session.close(now, plan.code, &plan.reason);
                }
                session.handle_timeout(now);
            }
        }
        on_tick(session);
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
