//! `wsdoctor reconnect`: a WebSocket server the user points a real client
//! at. It drops every connection on schedule (RST, FIN without a close
//! frame, or a close code), optionally refuses the next handshakes with 503,
//! and measures how long each client takes to come back, whether it pings
//! on its own, and how often.
//!
//! [`Tracker`] is the sans-IO bookkeeping (who, when, what next, done?);
//! `server` is the tokio shell: accept, read the request head, answer, and
//! run the connection with the same session state machine as every other
//! check, in the server role, speaking the client's application protocol
//! when it has one (`wsdoctor_app::listen`). The server never prints.

mod server;
mod tracker;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::watch;
use wsdoctor_app::AppChoice;
use wsdoctor_evidence::reconnect::{Interruption, ReconnectEvidence};
use wsdoctor_evidence::{check_at_most, check_between, ConfigError};

pub use tracker::{Admission, Tracker, MAX_CLIENTS};

/// Connections held open at once; more are closed right after accept.
const MAX_OPEN: usize = 20_000;

/// A validated reconnect experiment.
///
/// # Defaults
/// Listens on `127.0.0.1:9002`; drops each connection 5 s after the upgrade
/// with a TCP reset, 5 drops per client, no refusals, gives up after 10 min.
#[derive(Debug, Clone)]
pub struct ReconnectConfig {
    /// Where to listen (loopback unless the user says otherwise).
    pub listen: SocketAddr,
    /// How long each connection is held before it is dropped.
    pub drop_after: Duration,
    /// Drops per client.
    pub drops: u32,
    /// How to drop, in turn.
    pub ways: Vec<Interruption>,
    /// Handshakes refused with 503 after each drop.
    pub refuse: u32,
    /// The longest the run lasts.
    pub max: Duration,
    /// The application protocol spoken to clients (`--app`; `auto`
    /// decides per request from its path and offered subprotocols).
    pub app: AppChoice,
}

impl ReconnectConfig {
    /// The config as given when every setting is within what the experiment
    /// supports: 1–1000 drops, at most 100 refusals, a hold of at most 24 h,
    /// a max of 1 s to 7 days.
    pub fn validated(self) -> Result<Self, ConfigError> {
        check_between("--drops", self.drops, 1, 1000)?;
        check_at_most("--refuse", self.refuse, 100)?;
        check_at_most(
            "--drop-after",
            self.drop_after,
            Duration::from_secs(24 * 3600),
        )?;
        check_between(
            "--max",
            self.max,
            Duration::from_secs(1),
            Duration::from_secs(7 * 24 * 3600),
        )?;
        Ok(self)
    }
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        ReconnectConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 9002)),
            drop_after: Duration::from_secs(5),
            drops: 5,
            ways: vec![Interruption::Reset],
            refuse: 0,
            max: Duration::from_secs(600),
            app: AppChoice::Auto,
        }
    }
}

/// What every connection task reads and writes.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) started: Instant,
    pub(crate) tracker: Mutex<Tracker>,
    /// Turns true when the run ends: held connections close with 1001.
    pub(crate) stop: watch::Receiver<bool>,
    /// What `--app` said.
    pub(crate) app: AppChoice,
}

impl Shared {
    pub(crate) fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// A bound, not yet running reconnect server.
#[derive(Debug)]
pub struct ReconnectServer {
    config: ReconnectConfig,
    listener: TcpListener,
    addr: SocketAddr,
}

/// Progress of a run, for the caller's status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconnectProgress {
    /// Clients seen.
    pub clients: usize,
    /// Clients dropped enough times that came back.
    pub complete: usize,
    /// Time since the start.
    pub elapsed: Duration,
}

impl ReconnectServer {
    /// Binds the listener (so the caller can print the address before
    /// clients arrive).
    pub async fn bind(config: ReconnectConfig) -> std::io::Result<ReconnectServer> {
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        Ok(ReconnectServer {
            config,
            listener,
            addr,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Runs until every client seen was dropped enough times and came back,
    /// `max` passes, or `interrupt` turns true. `progress` is called about
    /// four times a second.
    pub async fn run(
        self,
        mut interrupt: watch::Receiver<bool>,
        mut progress: impl FnMut(ReconnectProgress),
    ) -> ReconnectEvidence {
        let started = Instant::now();
        let (stop_tx, stop_rx) = watch::channel(false);
        let c = &self.config;
        let shared = Arc::new(Shared {
            started,
            tracker: Mutex::new(Tracker::new(
                c.drop_after,
                c.drops,
                c.ways.clone(),
                c.refuse,
            )),
            stop: stop_rx,
            app: c.app,
        });
        let deadline = tokio::time::Instant::now() + c.max;
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut tasks = tokio::task::JoinSet::new();
        let ended_by = loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((tcp, _)) if tasks.len() >= MAX_OPEN => drop(tcp),
                    Ok((tcp, peer)) => {
                        let shared = Arc::clone(&shared);
                        tasks.spawn(async move { server::serve(tcp, peer, &shared).await });
                    }
                    // Usually out of file descriptors: back off instead of spinning.
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                },
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                _ = tick.tick() => {
                    let (clients, complete, done) = match shared.tracker.lock() {
                        Ok(t) => {
                            let (clients, complete) = t.progress();
                            (clients, complete, t.complete(shared.now_ms()))
                        }
                        Err(_) => break "interrupted",
                    };
                    progress(ReconnectProgress { clients, complete, elapsed: started.elapsed() });
                    if done {
                        break "complete";
                    }
                }
                () = tokio::time::sleep_until(deadline) => break "max",
                changed = interrupt.changed() => {
                    if changed.is_err() || *interrupt.borrow() {
                        break "interrupted";
                    }
                }
            }
        };
        drop(self.listener);
        let ran_ms = shared.now_ms();
        // Held connections close with 1001; give them a moment.
        let _ = stop_tx.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(3), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        tasks.abort_all();
        let listen = self.addr.to_string();
        let evidence = match shared.tracker.lock() {
            Ok(t) => t.evidence(listen, ran_ms, ended_by),
            Err(_) => ReconnectEvidence {
                listen,
                ended_by: "interrupted".to_owned(),
                ..ReconnectEvidence::default()
            },
        };
        evidence
    }
}

#[cfg(test)]
mod config_tests {
    use super::*;

    fn refusal(edit: impl FnOnce(&mut ReconnectConfig)) -> Option<String> {
        let mut config = ReconnectConfig::default();
        edit(&mut config);
        config.validated().err().map(|e| e.to_string())
    }

    #[test]
    fn the_constructor_holds_the_bounds() {
        assert_eq!(refusal(|_| {}), None);
        let drops = Some("--drops must be between 1 and 1000");
        assert_eq!(refusal(|c| c.drops = 0).as_deref(), drops);
        assert_eq!(refusal(|c| c.drops = 1001).as_deref(), drops);
        assert_eq!(
            refusal(|c| c.refuse = 101).as_deref(),
            Some("--refuse must be at most 100")
        );
        assert_eq!(
            refusal(|c| c.drop_after = Duration::from_secs(86_401)).as_deref(),
            Some("--drop-after must be at most 24h")
        );
        let max = Some("--max must be between 1s and 7d");
        assert_eq!(
            refusal(|c| c.max = Duration::from_millis(999)).as_deref(),
            max
        );
        assert_eq!(
            refusal(|c| c.max = Duration::from_secs(7 * 86_400 + 1)).as_deref(),
            max
        );
    }
}
