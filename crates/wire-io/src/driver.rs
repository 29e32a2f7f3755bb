//! The tokio steps every loop that drives a [`Session`] shares (the
//! client's `wsdoctor_sources::conn::driver`, `serve`, the reconnect
//! lab): write what the session queued, with its deadlines, and feed it a
//! read's result. All decisions are the session's.

use std::io;
use std::time::Instant;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use wsdoctor_evidence::Transport;

use crate::Session;

/// Read buffer for one connection: large enough for typical frames (the
/// session decodes incrementally, so frames may be larger).
pub const DEFAULT_READ_BUFFER: usize = 16 * 1024;

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
