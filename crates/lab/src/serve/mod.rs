//! The diagnostic server behind `wsdoctor serve`.
//!
//! An echo server that tells a user what arrived after their proxies (a
//! JSON greeting as the first message, or `GET /whoami` as plain HTTP),
//! pings its clients (default every 30 s, the runbook's fix) and records
//! its own view of every connection in the same evidence model the client
//! uses ([`ConnectionRecord`], role `server`), so the two can be compared.
//! Each connection is run by the very state machine the probe uses
//! (`wsdoctor_wire::session::Session` in the server role).
//!
//! It misbehaves on request like the lab server: per connection with the
//! `fault=` query parameter (see [`crate::Fault`]), or for all connections
//! with [`ServeConfig::faults`].
//!
//! With [`ServeConfig::http2`] it also speaks HTTP/2 — cleartext with prior
//! knowledge (h2c), and over TLS when ALPN picks `h2` — and advertises
//! `SETTINGS_ENABLE_CONNECT_PROTOCOL`, so WebSockets open by extended
//! CONNECT (RFC 8441) as browsers do. HTTP/2-only faults
//! ([`ServeConfig::h2_faults`], or `h2-fault=` per request) break that path
//! alone, e.g. `status:501`: advertised, then refused.
//!
//! ```no_run
//! # async fn demo() -> Result<(), wsdoctor_lab::LabError> {
//! use wsdoctor_lab::{DiagServer, ServeConfig};
//! let mut server = DiagServer::start(ServeConfig::default()).await?;
//! let mut events = server.take_events();   // one ServeEvent per finished connection
//! let url = server.url("/ws?client=web-1");
//! server.shutdown().await;                 // every open connection gets 1001 first
//! # Ok(()) }
//! ```
//!
//! Connections tagged with an id (`X-Wsdoctor-Conn-Id` header or
//! `conn-id=` parameter) are remembered in a small ledger (the last 4,096),
//! and `GET /v1/connections/ID` answers the server's view of one as JSON
//! ([`wsdoctor_evidence::idle::ServerView`]): how it ended, who closed
//! first, when, and its last frames. `wsdoctor idle` pairs it with its own
//! view to say which side of a proxy closed. Per connection, `tick=DUR`
//! pushes `tick N` messages, `ping=off|DUR` replaces the ping interval and
//! `echo=off` stops the echo (the idle experiment's one-direction arms).
//!
//! Memory is bounded: at most [`ServeConfig::max_connections`] at once,
//! request heads of 16 KiB, messages of [`ServeConfig::max_message_bytes`]
//! (refused from the frame header, before the payload is read), at most
//! 10,000 recorded frame events per connection, and a bounded event
//! channel that drops records nobody reads. The server never prints.

mod browser;
mod connection;
mod driver;
mod exchange;
mod h2;
mod held;
mod ledger;
mod procs;

use crate::task::AcceptTask;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use serde::Serialize;
use tokio::io::unix::AsyncFd;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use wsdoctor_evidence::browser::BrowserEvidence;
use wsdoctor_evidence::ConnectionRecord;

use crate::conn::Conn;
use crate::server_fault::Fault;
use crate::{LabError, LabTls, Shared};
use driver::{SHUTDOWN_CODE, SHUTDOWN_REASON};

/// Finished-connection records buffered for the reader of
/// [`DiagServer::take_events`]; more are dropped.
const EVENT_BUFFER: usize = 4096;
/// How often the accept loop considers giving freed memory back, and after
/// how many new connections it does (once a tick passed without any).
const RELEASE_EVERY: Duration = Duration::from_secs(5);
const RELEASE_AFTER_ACCEPTS: usize = 1000;
/// How long a graceful shutdown waits for clients to answer the 1001.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(3);
/// How long a client may take to finish the TLS handshake, or to send the
/// HTTP/2 preface.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How a [`DiagServer`] is set up.
///
/// # Defaults
/// `127.0.0.1:0`, instance `serve`, pings every 30 s with a 10 s pong
/// deadline, no ticks, a greeting, no faults, 20,000 connections, 1 MiB
/// messages, no event records, plain `ws://`, HTTP/1.1 only.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Name in the `X-Wsdoctor-Instance` header, the greeting and the
    /// records (for sticky-session checks).
    pub instance: String,
    /// How often the server pings each client; `None` never.
    pub ping_interval: Option<Duration>,
    /// How long a ping may go unanswered before the client counts as gone.
    pub pong_timeout: Duration,
    /// Push `tick N` text messages on this period.
    pub tick: Option<Duration>,
    /// Send the JSON greeting as the first message.
    pub greet: bool,
    /// Faults for connections whose request has no `fault=` parameter.
    pub faults: Vec<Fault>,
    /// Connections served at once; more are closed right after accept.
    pub max_connections: usize,
    /// Largest frame accepted (and echoed); bigger ones end the connection.
    pub max_message_bytes: u64,
    /// Produce a [`ServeEvent`] per finished connection.
    pub events: bool,
    /// Keep each held connection's target, request and answer headers for
    /// its [`ServeEvent`] (`serve --events` writes them; the log line of a
    /// connection does not use them). Off, a held idle connection keeps
    /// about 900 bytes less (issue 23).
    pub event_heads: bool,
    /// Serve `wss://` with this certificate.
    pub tls: Option<LabTls>,
    /// Also speak HTTP/2 with extended CONNECT (RFC 8441): h2c prior
    /// knowledge on a plain listener, ALPN `h2` (and `http/1.1`) with TLS.
    pub http2: bool,
    /// Faults for extended CONNECT requests only (a request's `h2-fault=`
    /// replaces these), applied before the other faults: `status:501`
    /// advertises WebSockets over HTTP/2 and then refuses them.
    pub h2_faults: Vec<Fault>,
    /// Share the port with other processes (`SO_REUSEPORT`): the kernel
    /// spreads new connections over every `serve` listening on it, past
    /// one process's open-file limit.
    pub reuse_port: bool,
    /// Accept permessage-deflate (RFC 7692) when a client offers it, as
    /// Python `websockets` and browsers' peers usually do (Node `ws` has it
    /// off by default): compressed messages are inflated, and the echo,
    /// ticks and greeting are compressed.
    pub deflate: bool,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            instance: "serve".to_owned(),
            ping_interval: Some(Duration::from_secs(30)),
            pong_timeout: Duration::from_secs(10),
            tick: None,
            greet: true,
            faults: Vec::new(),
            max_connections: 20_000,
            max_message_bytes: 1 << 20,
            events: false,
            event_heads: true,
            tls: None,
            http2: false,
            h2_faults: Vec::new(),
            reuse_port: false,
            deflate: true,
        }
    }
}

/// The server's record of one finished connection: one line of
/// `wsdoctor serve --events`.
#[derive(Debug, Clone, Serialize)]
pub struct ServeEvent {
    /// The server instance.
    pub instance: String,
    /// The client: its `client=` parameter, `X-Client-Id` header, or address.
    pub client: String,
    /// The connection as the server saw it (role `server`; `remote` is the
    /// client).
    pub connection: ConnectionRecord,
}

/// What every connection task reads.
pub(crate) struct ServeShared {
    config: ServeConfig,
    /// The lab server's settings, for the handshake and delegated faults.
    lab: Shared,
    shutdown: watch::Receiver<bool>,
    events: Option<mpsc::Sender<ServeEvent>>,
    /// Reports posted by the browser probe page (with [`ServeConfig::events`]).
    browser: Option<mpsc::Sender<BrowserEvidence>>,
    /// TLS, offering `h2` in ALPN when HTTP/2 is on.
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// Tagged connections, for `GET /v1/connections/ID`.
    ledger: ledger::Ledger,
    /// Plain connections without timers of their own live here once open.
    held: Option<held::HeldConnections>,
    /// The session config of a connection without query overrides or
    /// faults on it, shared by all of them (`exchange::new_session`).
    session_config: Arc<wsdoctor_wire::session::SessionConfig>,
}

impl std::fmt::Debug for ServeShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeShared")
            .field("config", &self.config)
            .field("lab", &self.lab)
            .field("tls", &self.tls.is_some())
            .field("held", &self.held)
            .finish_non_exhaustive()
    }
}

/// A running diagnostic server. Dropping it aborts every connection.
#[derive(Debug)]
pub struct DiagServer {
    addr: SocketAddr,
    secure: bool,
    shutdown: watch::Sender<bool>,
    accept: AcceptTask,
    events: Option<mpsc::Receiver<ServeEvent>>,
    browser: Option<mpsc::Receiver<BrowserEvidence>>,
}

impl DiagServer {
    /// Binds, spawns the accept loop and returns at once.
    pub async fn start(config: ServeConfig) -> Result<DiagServer, LabError> {
        let bind_err = |source| LabError::Bind {
            addr: config.listen,
            source,
        };
        let listener = crate::listen::listen(config.listen, config.reuse_port).map_err(bind_err)?;
        let addr = listener.local_addr().map_err(bind_err)?;
        // Accepted without tokio's reactor: a plain connection goes to the
        // hold pool as it is and is registered once, there (see `held`).
        #[allow(unsafe_code)]
        // SAFETY: the AsyncFd owns the std listener, whose descriptor is
        // open and the same one until the AsyncFd drops it; nothing else
        // closes it.
        let registered =
            unsafe { AsyncFd::register_with_interest(listener, tokio::io::Interest::READABLE) };
        let listener = registered.map_err(|e| bind_err(e.into_parts().1))?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (events_tx, events_rx) = if config.events {
            let (tx, rx) = mpsc::channel(EVENT_BUFFER);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let (browser_tx, browser_rx) = if config.events {
            let (tx, rx) = mpsc::channel(browser::REPORT_BUFFER);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let lab = Shared {
            faults: config.faults.clone(),
            instance: crate::server_handshake::header_safe(&config.instance),
            tls: None,
        };
        let tls = match &config.tls {
            Some(material) => {
                let acceptor = material.acceptor()?;
                if config.http2 {
                    // The lab's acceptor offers no ALPN; h2 needs it chosen
                    // there, in a browser's order of preference.
                    let mut server = (**acceptor.config()).clone();
                    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
                    Some(tokio_rustls::TlsAcceptor::from(Arc::new(server)))
                } else {
                    Some(acceptor)
                }
            }
            None => None,
        };
        let session_config = exchange::plain_session_config(&config);
        let shared = Arc::new(ServeShared {
            session_config,
            config,
            lab,
            shutdown: shutdown_rx,
            events: events_tx,
            browser: browser_tx,
            tls,
            ledger: ledger::Ledger::new(ledger::LEDGER_CAPACITY),
            // Without the pool (threads could not start) tasks hold them all.
            held: wsdoctor_wire_io::hold::HoldPool::per_core()
                .ok()
                .map(|pool| held::HeldConnections {
                    pool,
                    count: Arc::default(),
                }),
        });
        let secure = shared.tls.is_some();
        let accept = AcceptTask::spawn(|stopped| accept_loop(listener, shared, stopped));
        Ok(DiagServer {
            addr,
            secure,
            shutdown,
            accept,
            events: events_rx,
            browser: browser_rx,
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://ADDR/path` (`wss://` with TLS) for this server (an unspecified
    /// listen address is reached through loopback).
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
        let scheme = if self.secure { "wss" } else { "ws" };
        format!("{scheme}://{host}{slash}{path_and_query}")
    }

    /// The records of finished connections (once; `None` after the first
    /// call or without [`ServeConfig::events`]).
    pub fn take_events(&mut self) -> Option<mpsc::Receiver<ServeEvent>> {
        self.events.take()
    }

    /// Reports from browser probe pages (`GET /` hands the page out; it
    /// posts to `…/v1/browser`), each with the server's view of every
    /// connection it lists. Once; `None` without [`ServeConfig::events`].
    pub fn take_browser_reports(&mut self) -> Option<mpsc::Receiver<BrowserEvidence>> {
        self.browser.take()
    }

    /// Graceful stop: stops accepting, sends every open connection a close
    /// frame 1001, waits up to 3 s for them to finish, then aborts the rest.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        self.accept.stop_and_join().await;
    }
}

async fn accept_loop(
    listener: AsyncFd<std::net::TcpListener>,
    shared: Arc<ServeShared>,
    mut stop: oneshot::Receiver<()>,
) {
    let pooled = shared.tls.is_none() && !shared.config.http2 && shared.held.is_some();
    let (hand_back, mut handed_back) = mpsc::unbounded_channel::<held::HandedBack>();
    let mut tasks = JoinSet::new();
    let mut accepted_since_release = 0usize;
    let mut accepted_at_last_tick = 0usize;
    let mut release = tokio::time::interval(RELEASE_EVERY);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = release.tick() => {
                // After a burst of handshakes, once it is over, give their
                // memory back (what a held connection keeps is small; see
                // HoldPool). Not during one: the trim holds the allocator's
                // locks and would slow the handshakes down.
                let calm = accepted_since_release == accepted_at_last_tick;
                if calm && accepted_since_release >= RELEASE_AFTER_ACCEPTS {
                    accepted_since_release = 0;
                    wsdoctor_wire_io::memory::release_freed_memory();
                }
                accepted_at_last_tick = accepted_since_release;
            }
            accepted = accept_std(&listener) => match accepted {
                Ok((tcp, _)) if tasks.len() + held_count(&shared) >= shared.config.max_connections => {
                    drop(tcp);
                }
                Ok((tcp, peer)) => {
                    accepted_since_release += 1;
                    let _ = tcp.set_nodelay(true);
                    let tcp = if pooled {
                        match held::answer_in_pool(tcp, peer, &shared, &hand_back) {
                            Ok(()) => continue,
                            Err(tcp) => tcp,
                        }
                    } else {
                        tcp
                    };
                    let shared = Arc::clone(&shared);
                    tasks.spawn(accept(tcp, BytesMut::new(), peer, shared));
                }
                // Usually out of file descriptors: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            Some(back) = handed_back.recv() => {
                let shared = Arc::clone(&shared);
                tasks.spawn(accept(back.stream, back.received, back.peer, shared));
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drop(listener);
    // Handed back from now on: closed (the send fails) instead of queued.
    drop(handed_back);
    // Connections saw the shutdown signal and are closing with 1001; held
    // ones are told by their pool, which also closes those still waiting
    // for their request head.
    if let Some(held) = &shared.held {
        held.pool
            .close_all(std::time::Instant::now(), SHUTDOWN_CODE, SHUTDOWN_REASON);
    }
    let drained = tokio::time::timeout(SHUTDOWN_WAIT, async {
        while tasks.join_next().await.is_some() {}
        while held_count(&shared) > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    if drained.is_err() {
        tasks.shutdown().await;
    }
}

/// Accepts one connection, as a plain socket (not registered anywhere).
async fn accept_std(
    listener: &AsyncFd<std::net::TcpListener>,
) -> std::io::Result<(std::net::TcpStream, SocketAddr)> {
    loop {
        let mut ready = listener.readable().await?;
        if let Ok(accepted) = ready.try_io(|listener| listener.get_ref().accept()) {
            return accepted;
        }
    }
}

/// Connections the pool holds now.
fn held_count(shared: &ServeShared) -> usize {
    shared.held.as_ref().map_or(0, |held| {
        held.count.load(std::sync::atomic::Ordering::Relaxed)
    })
}

/// TLS (and ALPN), or the h2c preface, decide which server runs the
/// connection; `received` is what the hold pool read of it already.
async fn accept(
    tcp: std::net::TcpStream,
    received: BytesMut,
    peer: SocketAddr,
    shared: Arc<ServeShared>,
) {
    let _ = tcp.set_nodelay(true);
    // accept(2) does not pass the listener's O_NONBLOCK on; tokio needs it.
    if tcp.set_nonblocking(true).is_err() {
        return;
    }
    let Ok(tcp) = TcpStream::from_std(tcp) else {
        return;
    };
    let conn = match &shared.tls {
        Some(acceptor) => {
            let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
            else {
                return;
            };
            let alpn_h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
            let conn = Conn::Tls(Box::new(tls));
            if alpn_h2 {
                return h2::serve(conn, peer, shared).await;
            }
            conn
        }
        None if shared.config.http2 && h2::prior_knowledge(&tcp).await => {
            return h2::serve(Conn::Plain(tcp), peer, shared).await;
        }
        None => Conn::Plain(tcp),
    };
    connection::serve(conn, received, peer, &shared).await;
}
