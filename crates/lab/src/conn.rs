//! One accepted connection, plain or TLS, behind one type.
//!
//! The handshake and session code is written once against this enum. It also
//! keeps a way to reach the raw TCP socket, which the `rst` fault needs
//! (SO_LINGER has to be set on the socket, below TLS).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// A client connection after the optional TLS handshake.
#[derive(Debug)]
pub(crate) enum Conn {
    Plain(TcpStream),
    // Boxed: the TLS state is large and would bloat every plain connection.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => s.get_ref().0,
        }
    }

    /// Writes all of `bytes` and pushes them out (TLS buffers otherwise).
    pub(crate) async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.write_all(bytes).await?;
        self.flush().await
    }

    /// Resets the connection: SO_LINGER 0 makes the close send RST.
    pub(crate) fn reset(self) {
        // If setting the option fails the close is a FIN instead; nothing more
        // useful can be done about it.
        let _ = socket2::SockRef::from(self.tcp()).set_linger(Some(Duration::ZERO));
        drop(self);
    }

    /// Sends FIN (after TLS close_notify), then reads and discards until the
    /// peer closes too or `linger` passes.
    ///
    /// Draining matters: closing a socket with unread data makes the kernel
    /// send RST, which would turn an intended clean close into a reset.
    pub(crate) async fn finish(mut self, linger: Duration) {
        let _ = tokio::time::timeout(linger, async {
            if self.shutdown().await.is_err() {
                return;
            }
            let mut sink = [0u8; 4096];
            while let Ok(n) = self.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
