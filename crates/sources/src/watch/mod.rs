//! `wsdoctor watch`: a canary that keeps connections open through the real
//! path for as long as it runs, reconnects after every drop with
//! full-jitter exponential backoff (never a storm itself), and reports each
//! drop, failed reconnect and stalled flow as an event.
//!
//! [`WatchState`] is the sans-IO window over those events (bounded, fed
//! with monotonic times) and keeps the Prometheus metrics; [`serve_metrics`]
//! is the tiny HTTP endpoint in front of them.

mod http;
mod metrics;
mod state;

use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, watch};
use wsdoctor_evidence::idle::Arm;
use wsdoctor_evidence::watch::{WatchDrop, WatchStall};
use wsdoctor_evidence::{
    check_at_least, check_between, ConfigError, ConnectionEnd, ConnectionRecord, EndRecord,
    HandshakeRecord, HeartbeatSettings, PongPolicy, Role,
};

pub use http::serve_metrics;
pub use metrics::WatchMetrics;
pub use state::WatchState;

use crate::conn::driver::{drive, WatchPlan};
use crate::conn::session::{Session, SessionConfig};
use crate::conn::{self, rfc3339_from_unix, ConnectOptions};

/// The header `wsdoctor serve` names its instance in.
pub const DEFAULT_INSTANCE_HEADER: &str = "X-Wsdoctor-Instance";
/// How long connections get to close when the watch ends.
const CLOSE_GRACE: Duration = Duration::from_millis(700);
/// Longest instance name kept.
const MAX_INSTANCE: usize = 80;

/// A validated watch.
///
/// # Defaults
/// One connection per arm (silent and ping), keepalive every 20 s, backoff
/// from 1 s up to 60 s, a one-hour window.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// The targets.
    pub targets: Vec<ConnectOptions>,
    /// Connections kept open per target, spread over the arms in turn.
    pub conns: u32,
    /// The arms.
    pub arms: Vec<Arm>,
    /// How often the ping and data arms send.
    pub interval: Duration,
    /// Messages from the server are expected at least this often (stall detection).
    pub expect_every: Option<Duration>,
    /// First reconnect delay ceiling.
    pub backoff_base: Duration,
    /// Largest reconnect delay.
    pub backoff_cap: Duration,
    /// The response header that names the server instance (sticky-session
    /// check).
    pub instance_header: String,
}

impl WatchConfig {
    /// A watch of `targets` with the documented defaults.
    pub fn new(targets: Vec<ConnectOptions>) -> Self {
        WatchConfig {
            targets,
            conns: 2,
            arms: vec![Arm::Silent, Arm::Ping],
            interval: Duration::from_secs(20),
            expect_every: None,
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(60),
            instance_header: DEFAULT_INSTANCE_HEADER.to_owned(),
        }
    }

    /// The config as given when every setting is within what a watch
    /// supports: 1–1000 connections per target, an interval of 100 ms or
    /// more, a backoff above 0 and at most its cap, and an instance header
    /// that is a header name (trimmed).
    pub fn validated(mut self) -> Result<Self, ConfigError> {
        check_between("--conns", self.conns, 1, 1000)?;
        check_at_least("--interval", self.interval, Duration::from_millis(100))?;
        if self.backoff_base.is_zero() || self.backoff_cap < self.backoff_base {
            return Err(ConfigError::Rule {
                setting: "--backoff",
                rule: "must be more than 0 and at most --backoff-max",
            });
        }
        let header = self.instance_header.trim();
        if header.is_empty()
            || !header
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ConfigError::Rule {
                setting: "--instance-header",
                rule: "must be a header name like X-Instance-Id",
            });
        }
        self.instance_header = header.to_owned();
        Ok(self)
    }

    /// Every connection slot: (target index, arm, 1-based slot number).
    pub fn slots(&self) -> Vec<(usize, Arm, u32)> {
        let mut slots = Vec::new();
        if self.arms.is_empty() {
            return slots;
        }
        for t in 0..self.targets.len() {
            for i in 0..self.conns {
                let arm = self.arms[i as usize % self.arms.len()];
                slots.push((t, arm, i + 1));
            }
        }
        slots
    }
}

/// What the slots report.
#[derive(Debug, Clone)]
pub enum WatchEvent {
    /// A connection opened.
    Opened {
        /// Target index.
        target: usize,
        /// The slot's arm.
        arm: Arm,
        /// Handshake time (connect start to 101), µs.
        handshake_us: u64,
        /// The answer to the upgrade (the state keeps each target's first,
        /// for the hop fingerprint after the watch).
        handshake: Option<Box<HandshakeRecord>>,
    },
    /// A connection ended, or a reconnect failed.
    Dropped(Box<WatchDrop>),
    /// Messages stopped while pongs kept coming.
    Stalled(WatchStall),
    /// A pong came back (for the RTT histogram).
    Pong {
        /// Its round trip.
        rtt_us: u64,
    },
    /// The application protocol a connection speaks, once its timers are
    /// known (the first one is kept).
    App(Box<wsdoctor_evidence::AppRecord>),
    /// A slot will reconnect after this delay.
    Reconnecting {
        /// The delay chosen.
        delay: Duration,
    },
}

/// Full-jitter exponential backoff (AWS architecture blog's "full jitter"):
/// a uniformly random delay up to `min(cap, base × 2^attempt)`, so a fleet of
/// canaries never reconnects in lockstep.
pub fn backoff(attempt: u32, base: Duration, cap: Duration, unit_random: f64) -> Duration {
    let ceiling = base
        .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
        .min(cap);
    ceiling.mul_f64(unit_random.clamp(0.0, 1.0))
}

fn session_config(config: &WatchConfig, arm: Arm) -> SessionConfig {
    let interval_ms = u64::try_from(config.interval.as_millis()).unwrap_or(u64::MAX);
    let mut session = SessionConfig {
        role: Role::Client,
        heartbeat: HeartbeatSettings {
            ping_interval_ms: None,
            pong_timeout_ms: interval_ms.saturating_mul(2).max(5_000),
            pong_policy: PongPolicy::Answer,
        },
        // Only the clocks matter here; a frame log would grow for days.
        max_events: 0,
        ..SessionConfig::default()
    };
    match arm {
        // The watch CLI offers silent, ping and data only; the idle
        // experiment's one-direction arms would watch like silent ones.
        Arm::Silent | Arm::Inbound | Arm::Outbound => {}
        Arm::Ping => session.heartbeat.ping_interval_ms = Some(interval_ms),
        Arm::Data => {
            // Pings carry the stall check; data keeps data-only timers busy.
            session.heartbeat.ping_interval_ms = Some(interval_ms);
            session.messages = vec!["wsdoctor watch".to_owned(); 100_000];
            session.send_every = config.interval;
            // The protocol's own keepalive once one is spoken: its server
            // drops anything else.
            session.app_keepalive = true;
        }
    }
    session
}

fn wall_now() -> String {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339_from_unix(secs)
}

fn ms_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// How an attempt still pending at the end of the watch stands: connected
/// (so the server, or a hop, never answered the upgrade) or not even that.
fn pending_end(
    record: &ConnectionRecord,
    options: &ConnectOptions,
    origin: Instant,
) -> ConnectionEnd {
    let after_ms = u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX);
    if record.phases.connect_done_us.is_some() {
        ConnectionEnd::HandshakeTimedOut { after_ms }
    } else {
        ConnectionEnd::ConnectTimedOut {
            addr: format!("{}:{}", options.target.host, options.target.port),
            after_ms,
        }
    }
}

/// The `Server` header and the instance header of the answer, escaped (the
/// instance cut to [`MAX_INSTANCE`] characters).
fn peer_labels(
    record: &ConnectionRecord,
    instance_header: &str,
) -> (Option<String>, Option<String>) {
    let server = record
        .handshake
        .as_ref()
        .and_then(|h| h.header("Server"))
        .map(wsdoctor_evidence::escape_peer);
    let instance = record
        .handshake
        .as_ref()
        .and_then(|h| h.header(instance_header))
        .map(|v| wsdoctor_evidence::escape_peer(&v.chars().take(MAX_INSTANCE).collect::<String>()));
    (server, instance)
}

/// Which slot is speaking, and where its events go.
struct SlotReporter<'a> {
    events: &'a mpsc::UnboundedSender<WatchEvent>,
    started: Instant,
    target: &'a str,
    target_index: usize,
    arm: Arm,
    slot: u32,
}

/// What holding one opened connection needs to know.
struct Holding<'a> {
    options: &'a ConnectOptions,
    record: &'a ConnectionRecord,
    session_config: SessionConfig,
    origin: Instant,
    expect_every: Option<Duration>,
}

/// Holds an opened connection until it ends, reporting its handshake time,
/// the `--app` layer's timers once, each new pong round trip, and a stall
/// (pongs still answered, but no data for twice `--expect-every`) once.
async fn hold_open(
    reporter: &SlotReporter<'_>,
    holding: Holding<'_>,
    open: conn::OpenConnection,
    close_at: watch::Receiver<Instant>,
) -> Option<EndRecord> {
    let events = reporter.events;
    let _ = events.send(WatchEvent::Opened {
        target: reporter.target_index,
        arm: reporter.arm,
        handshake_us: holding.record.phases.response_head_us.unwrap_or(0),
        handshake: holding.record.handshake.clone().map(Box::new),
    });
    let mut session = Session::new(holding.session_config, holding.origin, open.opened_at);
    if let Some(params) = open.deflate {
        session.use_deflate(params);
    }
    // Speak the application protocol as its client does: its
    // server ends connections that ignore its heartbeat.
    conn::app::attach(
        &mut session,
        holding.options,
        holding.record,
        open.opened_at,
    );
    let mut plan = WatchPlan {
        close_at,
        code: 1001,
        reason: "wsdoctor watch stopped".to_owned(),
        read_buffer: 4096,
    };
    let expect = holding.expect_every;
    let mut stalled = false;
    let mut last_rtt = None;
    let mut app_told = false;
    drive(open.stream, open.leftover, &mut session, &mut plan, |s| {
        if !app_told {
            if let Some(app) = s.app_record().filter(|a| a.timers.is_some()) {
                app_told = true;
                let _ = events.send(WatchEvent::App(Box::new(app.clone())));
            }
        }
        if let Some(rtt_us) = s.last_pong_rtt_us().filter(|r| Some(*r) != last_rtt) {
            last_rtt = Some(rtt_us);
            let _ = events.send(WatchEvent::Pong { rtt_us });
        }
        let Some(expect) = expect else { return };
        let now = Instant::now();
        let since_data = now.saturating_duration_since(s.last_data_in().unwrap_or(open.opened_at));
        let pongs_alive = s
            .last_pong_at()
            .is_some_and(|p| now.saturating_duration_since(p) < expect);
        if !stalled && pongs_alive && since_data > expect.saturating_mul(2) {
            stalled = true;
            let _ = events.send(WatchEvent::Stalled(WatchStall {
                at_ms: ms_since(reporter.started),
                target: reporter.target.to_owned(),
                slot: reporter.slot,
                silent_ms: u64::try_from(since_data.as_millis()).unwrap_or(u64::MAX),
                last_pong_rtt_us: s.last_pong_rtt_us(),
            }));
        }
    })
    .await;
    let (_, _, end, _) = session.into_evidence();
    end
}

/// One slot: connect, hold until the path ends it, report, back off, again;
/// until `stop` turns true.
async fn run_slot(
    config: WatchConfig,
    (target_index, arm, slot): (usize, Arm, u32),
    started: Instant,
    events: mpsc::UnboundedSender<WatchEvent>,
    mut stop: watch::Receiver<bool>,
    close_at: watch::Receiver<Instant>,
) {
    let options = &config.targets[target_index];
    let target = options.target.redacted();
    let mut attempt = 0u32;
    while !*stop.borrow() {
        let origin = Instant::now();
        let session_config = session_config(&config, arm);
        let mut record = conn::new_record(&options.target, Role::Client, session_config.heartbeat);
        // A handshake still pending when the watch ends is cancelled there
        // (the watch ends on time) and reported as what it is: an attempt
        // that did not open in all that time.
        let opened = tokio::select! {
            opened = conn::open(options, origin, &mut record) => opened,
            _ = stop.wait_for(|stopped| *stopped) => {
                let _ = events.send(WatchEvent::Dropped(Box::new(WatchDrop {
                    at_ms: ms_since(started),
                    wall: wall_now(),
                    target: target.clone(),
                    arm,
                    slot,
                    opened: false,
                    age_us: None,
                    idle_us: None,
                    end: pending_end(&record, options, origin),
                    server: None,
                    instance: None,
                })));
                break;
            }
        };
        let (server, instance) = peer_labels(&record, &config.instance_header);
        let end = match opened {
            None => record.end.map(|e| (e, false)),
            Some(open) => {
                let reporter = SlotReporter {
                    events: &events,
                    started,
                    target: &target,
                    target_index,
                    arm,
                    slot,
                };
                let holding = Holding {
                    options,
                    record: &record,
                    session_config,
                    origin,
                    expect_every: config.expect_every,
                };
                hold_open(&reporter, holding, open, close_at.clone())
                    .await
                    .map(|e| (e, true))
            }
        };
        if *stop.borrow() {
            break;
        }
        let Some((end, opened)) = end else { break };
        let lived = end.open_for_us.unwrap_or(0);
        let _ = events.send(WatchEvent::Dropped(Box::new(WatchDrop {
            at_ms: ms_since(started),
            wall: wall_now(),
            target: target.clone(),
            arm,
            slot,
            opened,
            age_us: end.open_for_us,
            idle_us: match (end.since_last_inbound_us, end.since_last_outbound_us) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            end: end.end,
            server,
            instance,
        })));
        // A connection that lived a while resets the backoff: this drop is
        // news, not a retry storm.
        attempt = if opened && lived >= 10_000_000 {
            0
        } else {
            attempt + 1
        };
        let delay = backoff(
            attempt,
            config.backoff_base,
            config.backoff_cap,
            fastrand::f64(),
        );
        let _ = events.send(WatchEvent::Reconnecting { delay });
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Runs the watch until `stop` turns true, reporting through `events`.
pub async fn run(
    config: WatchConfig,
    events: mpsc::UnboundedSender<WatchEvent>,
    mut stop: watch::Receiver<bool>,
) {
    let started = Instant::now();
    let (close_tx, close_rx) = watch::channel(started + Duration::from_secs(100 * 365 * 24 * 3600));
    let mut tasks = tokio::task::JoinSet::new();
    for slot in config.slots() {
        tasks.spawn(run_slot(
            config.clone(),
            slot,
            started,
            events.clone(),
            stop.clone(),
            close_rx.clone(),
        ));
    }
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            break;
        }
    }
    // Close every connection politely (1001, going away) and give them a
    // moment, short enough that the watch ends within a second of its
    // duration (a peer that never answers the close is not waited for).
    let _ = close_tx.send(Instant::now());
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(edit: impl FnOnce(&mut WatchConfig)) -> Option<String> {
        let mut config = WatchConfig::new(Vec::new());
        edit(&mut config);
        config.validated().err().map(|e| e.to_string())
    }

    #[test]
    fn the_constructor_holds_the_bounds() {
        assert_eq!(refusal(|_| {}), None);
        assert_eq!(refusal(|c| c.conns = 1000), None);
        assert_eq!(
            refusal(|c| c.conns = 0).as_deref(),
            Some("--conns must be between 1 and 1000")
        );
        assert_eq!(
            refusal(|c| c.conns = 1001).as_deref(),
            Some("--conns must be between 1 and 1000")
        );
        assert_eq!(
            refusal(|c| c.interval = Duration::from_millis(99)).as_deref(),
            Some("--interval must be at least 100ms")
        );
        let backoff = Some("--backoff must be more than 0 and at most --backoff-max");
        assert_eq!(
            refusal(|c| c.backoff_base = Duration::ZERO).as_deref(),
            backoff
        );
        assert_eq!(
            refusal(|c| c.backoff_base = c.backoff_cap + Duration::from_secs(1)).as_deref(),
            backoff
        );
        let header = Some("--instance-header must be a header name like X-Instance-Id");
        assert_eq!(
            refusal(|c| c.instance_header = " ".into()).as_deref(),
            header
        );
        assert_eq!(
            refusal(|c| c.instance_header = "X: y".into()).as_deref(),
            header
        );
        let config = WatchConfig {
            instance_header: " X-Node ".into(),
            ..WatchConfig::new(Vec::new())
        }
        .validated();
        assert_eq!(
            config.map(|c| c.instance_header).ok().as_deref(),
            Some("X-Node")
        );
    }

    #[test]
    fn backoff_is_full_jitter_under_a_cap() {
        let base = Duration::from_secs(1);
        let cap = Duration::from_secs(60);
        assert_eq!(backoff(0, base, cap, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(3, base, cap, 1.0), Duration::from_secs(8));
        assert_eq!(backoff(10, base, cap, 1.0), cap);
        assert_eq!(backoff(40, base, cap, 0.5), Duration::from_secs(30));
        assert_eq!(backoff(5, base, cap, 0.0), Duration::ZERO);
    }

    #[test]
    fn slots_spread_over_arms() {
        let target =
            crate::conn::Target::parse("ws://127.0.0.1:1/").unwrap_or_else(|e| panic!("{e}"));
        let mut config = WatchConfig::new(vec![ConnectOptions::new(target)]);
        config.conns = 3;
        assert_eq!(
            config.slots(),
            vec![(0, Arm::Silent, 1), (0, Arm::Ping, 2), (0, Arm::Silent, 3)]
        );
    }
}
