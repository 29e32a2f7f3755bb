//! The WebSocket-aware fault proxy.
//!
//! # API in one screen
//!
//! ```no_run
//! # async fn demo() -> Result<(), wsdoctor_lab::LabError> {
//! use std::time::Duration;
//! use wsdoctor_lab::{EndHow, IdleCounts, LabConfig, LabProxy, LabServer, ProxyConfig, ProxyFault};
//!
//! let server = LabServer::start(LabConfig::default()).await?;
//! let proxy = LabProxy::start(ProxyConfig {
//!     faults: vec![ProxyFault::IdleTimeout {
//!         after: Duration::from_secs(2),
//!         how: EndHow::Fin,               // or Rst, Close(1001), Http504
//!         counts: IdleCounts::DownOnly,   // or Both (default), DataOnly
//!     }],
//!     ..ProxyConfig::new(server.addr())
//! })
//! .await?;
//! let url = proxy.url("/ws");             // ws://127.0.0.1:PORT/ws, through the proxy
//! // Faults also parse from text: ProxyFault::parse_list("idle-timeout=2s:rst,drop-pongs")
//! // and presets: ProxyFault::preset("alb", 0.05) (60 s scaled to 3 s).
//! proxy.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # What it does
//!
//! The proxy reads the client's request head and forwards it unchanged
//! (`strip-upgrade` aside), then forwards the upstream's answer with one
//! header added, `Via: 1.1 wsdoctor-lab`, so fingerprinting sees a hop.
//! After a 101 it relays raw bytes both ways through a passive frame
//! decoder: frames are never re-encoded, so without faults the two byte
//! streams arrive exactly as sent. Faults drop whole frames, insert close
//! frames at frame boundaries, or end the TCP connections (FIN, RST), see
//! [`ProxyFault`]. Its own HTTP answers (502 when the upstream is down, 503
//! over `max-conns`, 504 when the upstream does not answer) look like
//! nginx's.
//!
//! The proxy never prints.

mod connection;
/// Entry points for the fuzz targets (re-exported by `crate::fuzzing`).
pub(crate) mod fuzzing;
mod head;
mod plan;
mod proxy_fault;
mod pump;
mod relay;
mod upstream;

use crate::task::AcceptTask;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio::time::Instant;

pub use proxy_fault::{
    checked_time_scale, EndHow, IdleCounts, ProxyFault, ProxyFaultParseError, PRESETS, PROXY_FAULTS,
};
pub use upstream::{UpstreamUrl, UpstreamUrlError};

use crate::LabError;
use plan::ProxyPlan;

/// Connections relayed at once; more are closed right after accept, so a
/// runaway client cannot exhaust the process (each one holds two sockets).
const MAX_CONNECTIONS: usize = 8192;

/// How a [`LabProxy`] is set up.
///
/// # Defaults
/// ([`ProxyConfig::new`]) listens on `127.0.0.1:0`, no faults.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The WebSocket server behind the proxy (plain TCP; `ws://` only).
    pub upstream: SocketAddr,
    /// Faults applied to every connection.
    pub faults: Vec<ProxyFault>,
}

impl ProxyConfig {
    /// A fault-free proxy on a free loopback port in front of `upstream`.
    pub fn new(upstream: SocketAddr) -> ProxyConfig {
        ProxyConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            upstream,
            faults: Vec::new(),
        }
    }
}

/// What every connection task of one proxy reads.
#[derive(Debug)]
pub(crate) struct ProxyShared {
    upstream: SocketAddr,
    plan: ProxyPlan,
    /// When `mass-disconnect` fires, for every connection alike.
    mass_at: Option<Instant>,
    /// Connections open now (for `max-conns`).
    active: AtomicUsize,
}

/// A running fault proxy. Dropping it stops it too (tasks are aborted).
#[derive(Debug)]
pub struct LabProxy {
    addr: SocketAddr,
    shared: Arc<ProxyShared>,
    accept: AcceptTask,
}

impl LabProxy {
    /// Binds, spawns the accept loop and returns at once. Must be called
    /// inside a Tokio runtime with I/O and time enabled.
    pub async fn start(config: ProxyConfig) -> Result<LabProxy, LabError> {
        let bind_err = |source| LabError::Bind {
            addr: config.listen,
            source,
        };
        let listener = crate::listen::listen_tokio(config.listen).map_err(bind_err)?;
        let addr = listener.local_addr().map_err(bind_err)?;
        let plan = ProxyPlan::from_faults(&config.faults);
        let mass_at = plan.mass.map(|(at, _)| Instant::now() + at);
        let shared = Arc::new(ProxyShared {
            upstream: config.upstream,
            plan,
            mass_at,
            active: AtomicUsize::new(0),
        });
        let accept =
            AcceptTask::spawn(|stopped| accept_loop(listener, Arc::clone(&shared), stopped));
        Ok(LabProxy {
            addr,
            shared,
            accept,
        })
    }

    /// The address the proxy listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://ADDR/path` through the proxy (a missing leading `/` is added;
    /// an unspecified listen address is reached through loopback).
    pub fn url(&self, path_and_query: &str) -> String {
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
        format!("ws://{host}{slash}{path_and_query}")
    }

    /// Connections being relayed now.
    pub fn active_connections(&self) -> usize {
        self.shared.active.load(Ordering::Relaxed)
    }

    /// Stops accepting, ends every connection (abruptly: their tasks are
    /// aborted) and waits until they are gone.
    pub async fn shutdown(mut self) {
        self.accept.stop_and_join().await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<ProxyShared>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) if tasks.len() >= MAX_CONNECTIONS => drop(tcp),
                Ok((tcp, _)) => {
                    shared.active.fetch_add(1, Ordering::Relaxed);
                    let slot = connection::Slot(Arc::clone(&shared));
                    tasks.spawn(connection::serve(tcp, slot));
                }
                // Usually out of file descriptors: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drop(listener);
    tasks.shutdown().await;
}
