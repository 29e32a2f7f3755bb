//! The thin tokio shell around [`Session`]: read bytes, write frames, sleep
//! until the next timer. All decisions are the session's.

use std::io;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsdoctor_evidence::Transport;

use super::session::Session;
use super::BoxedStream;

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

/// Writes every frame the session has queued; a failed write ends the
/// session with the transport's classification. Shared by every loop that
/// drives a session (this driver, `serve`, `reconnect`).
pub async fn write_pending<S: tokio::io::AsyncWrite + Unpin + ?Sized>(
    stream: &mut S,
    session: &mut Session,
) {
    while let Some(frame) = session.poll_transmit() {
        match stream.write_all(&frame).await {
            Ok(()) => session.on_transmitted(Instant::now()),
            Err(e) => {
                session.handle_transport_error(
                    Instant::now(),
                    classify_io_error(&e),
                    e.to_string(),
                );
                break;
            }
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
    let chunk = plan.read_buffer.max(256);
    let mut buf = BytesMut::with_capacity(chunk);
    loop {
        write_pending(&mut stream, session).await;
        if session.is_ended() {
            break;
        }
        let _ = stream.flush().await;
        let close_at = *plan.close_at.borrow_and_update();
        let watch_timer = (!session.is_closing()).then_some(close_at);
        let wake = [session.poll_timeout(), watch_timer]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        buf.reserve(chunk);
        tokio::select! {
            read = stream.read_buf(&mut buf) => apply_read(session, read, &mut buf),
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
