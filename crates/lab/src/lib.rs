//! `wsdoctor-lab`: a WebSocket server that misbehaves on request.
//!
//! It exists so wsdoctor's demo and integration tests can meet, on
//! `127.0.0.1`, every way a real deployment breaks WebSocket connections:
//! proxies answering with error pages, broken handshakes, resets, half-sent
//! frames, missing pongs, servers closing with 1011, and so on.
//!
//! Without faults it is a well-behaved echo server. Faults are chosen per
//! connection with the request's `fault=` query parameter (a comma-separated
//! list, see [`Fault`]), or for the whole server with [`LabConfig::faults`]:
//!
//! ```no_run
//! # async fn demo() -> Result<(), wsdoctor_lab::LabError> {
//! use wsdoctor_lab::{LabConfig, LabServer};
//! let lab = LabServer::start(LabConfig::default()).await?;
//! let url = lab.url("/ws?fault=ping:1s,close:1011:2s&reason=overloaded");
//! // ... point a client at `url` ...
//! lab.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Other query parameters: `reason=` (text of the `close` fault's frame) and
//! `server=` (replaces the `Server` header value in every answer, e.g.
//! `server=nginx/1.24.0`).
//!
//! The server never prints; it only answers sockets.
//!
//! `serve` runs each connection on the same sans-IO session as the client
//! (`wsdoctor-wire`) in the same shells (`wsdoctor-wire-io`); the lab does
//! not import `wsdoctor-sources`, the client it is the test peer of (only
//! its tests do). The flow is one way: wire → wire-io → sources / lab →
//! evidence → diagnosis → report.

#![warn(missing_docs)]

mod answer;
mod config;
mod conn;
mod fault_session;
#[doc(hidden)]
pub mod fuzzing;
mod listen;
mod proxy;
mod serve;
mod server_fault;
mod server_handshake;
mod task;
mod tls;

use crate::task::AcceptTask;
// The frame codec is the protocol crate's; `crate::frames` keeps one path to it.
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use wsdoctor_wire::frames;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

pub use config::LabConfig;
pub use listen::LISTEN_BACKLOG;
pub use proxy::{
    checked_time_scale, EndHow, IdleCounts, LabProxy, ProxyConfig, ProxyFault,
    ProxyFaultParseError, UpstreamUrl, UpstreamUrlError, PRESETS, PROXY_FAULTS,
};
pub use serve::{DiagServer, ServeConfig, ServeEvent};
pub use server_fault::{Fault, FaultParseError};
pub use tls::LabTls;

/// Connections served at once; more are closed right after accept, so a
/// runaway test cannot exhaust the process.
const MAX_CONNECTIONS: usize = 1024;
/// How long a client may take to finish the TLS handshake.
const TLS_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the lab could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabError {
    /// The listening socket could not be set up.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: io::Error,
    },
    /// rustls refused the TLS configuration (e.g. the key does not match).
    #[error("TLS configuration rejected: {0}")]
    Tls(#[from] rustls::Error),
    /// The self-signed certificate could not be made.
    #[error("cannot make a self-signed certificate: {0}")]
    Cert(#[from] rcgen::Error),
    /// A PEM certificate or key could not be read.
    #[error("bad PEM input: {0}")]
    Pem(String),
}

/// What every connection task of one server reads.
pub(crate) struct Shared {
    faults: Vec<Fault>,
    /// Already made safe for a header value.
    instance: String,
    tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("faults", &self.faults)
            .field("instance", &self.instance)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// A running lab server. Dropping it stops it too (tasks are aborted).
#[derive(Debug)]
pub struct LabServer {
    addr: SocketAddr,
    tls: bool,
    accept: AcceptTask,
}

impl LabServer {
    /// Binds, spawns the accept loop and returns at once.
    ///
    /// Must be called inside a Tokio runtime (with the time and I/O drivers
    /// enabled), which then runs the server.
    pub async fn start(config: LabConfig) -> Result<LabServer, LabError> {
        let tls = config.tls.as_ref().map(LabTls::acceptor).transpose()?;
        let bind_err = |source| LabError::Bind {
            addr: config.listen,
            source,
        };
        let listener = crate::listen::listen_tokio(config.listen).map_err(bind_err)?;
        let addr = listener.local_addr().map_err(bind_err)?;
        let shared = Arc::new(Shared {
            faults: config.faults,
            instance: server_handshake::header_safe(&config.instance),
            tls,
        });
        let is_tls = shared.tls.is_some();
        let accept = AcceptTask::spawn(|stopped| accept_loop(listener, shared, stopped));
        Ok(LabServer {
            addr,
            tls: is_tls,
            accept,
        })
    }

    /// The address the server listens on (with the real port when the
    /// configured one was 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A URL for this server: `ws://127.0.0.1:PORT/x?y`, or `wss://` with
    /// TLS. A missing leading `/` is added. A server listening on an
    /// unspecified address (`0.0.0.0`, `::`) is reached through loopback.
    pub fn url(&self, path_and_query: &str) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        let host = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => {
                SocketAddr::from((Ipv4Addr::LOCALHOST, self.addr.port()))
            }
            IpAddr::V6(ip) if ip.is_unspecified() => {
                SocketAddr::from((Ipv6Addr::LOCALHOST, self.addr.port()))
            }
            _ => self.addr,
        };
        let slash = if path_and_query.starts_with('/') {
            ""
        } else {
            "/"
        };
        format!("{scheme}://{host}{slash}{path_and_query}")
    }

    /// Stops accepting, ends every connection (abruptly: their tasks are
    /// aborted) and waits until all of them are gone.
    pub async fn shutdown(mut self) {
        self.accept.stop_and_join().await;
    }
}

/// Accepts until told to stop, then ends every connection.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: oneshot::Receiver<()>) {
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            // A send or a dropped sender both mean stop.
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) if tasks.len() >= MAX_CONNECTIONS => drop(tcp),
                Ok((tcp, peer)) => {
                    tasks.spawn(connection(tcp, peer, Arc::clone(&shared)));
                }
                // Usually out of file descriptors: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            // Reap finished connections so the set stays small.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drop(listener);
    tasks.shutdown().await;
}

/// One accepted connection, from TLS (if any) to the end.
async fn connection(tcp: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    // Faults are about timing; Nagle's delay would blur them.
    let _ = tcp.set_nodelay(true);
    let conn = match &shared.tls {
        None => conn::Conn::Plain(tcp),
        Some(acceptor) => match tokio::time::timeout(TLS_TIMEOUT, acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => conn::Conn::Tls(Box::new(tls)),
            _ => return,
        },
    };
    server_handshake::serve(conn, peer, &shared).await;
}
