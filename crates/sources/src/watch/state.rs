//! The rolling window of a watch: events in, bounded evidence and metrics
//! out. No I/O, and times come from the monotonic clock of the events.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use wsdoctor_evidence::watch::{WatchDrop, WatchEvidence, WatchStall};
use wsdoctor_evidence::{ConnectionEnd, HandshakeRecord};

use super::metrics::{ArmLabels, DropLabels};
use super::{WatchConfig, WatchEvent, WatchMetrics};

/// At most this many drops are kept, whatever the window: a target that
/// fails every second for a week must not grow memory.
const MAX_DROPS: usize = 10_000;

/// The window and the metrics.
#[derive(Debug)]
pub struct WatchState {
    targets: Vec<String>,
    connections: u32,
    open_now: u32,
    opened_total: u64,
    window: Duration,
    interval_ms: u64,
    expect_every_ms: Option<u64>,
    drops: VecDeque<WatchDrop>,
    stalls: VecDeque<WatchStall>,
    reconnects: u64,
    /// The application protocol, as the first connection that knew its
    /// timers recorded it.
    app: Option<wsdoctor_evidence::AppRecord>,
    /// Each target's first answer to the upgrade (one per target: bounded).
    answers: Vec<Option<HandshakeRecord>>,
    /// The metrics, updated as events arrive.
    pub metrics: WatchMetrics,
}

/// The bounded label values of a drop: how it ended, and the close code.
fn end_label(drop: &WatchDrop) -> (String, String) {
    if !drop.opened {
        return ("handshake-failed".to_owned(), String::new());
    }
    let how = match &drop.end {
        ConnectionEnd::CloseHandshake { code, .. } => {
            let code = code.map_or_else(|| "1005".to_owned(), |c| c.to_string());
            return ("close-frame".to_owned(), code);
        }
        ConnectionEnd::FinWithoutClose { .. } => "eof",
        ConnectionEnd::Reset => "reset",
        ConnectionEnd::HalfOpen { .. } => "half-open",
        ConnectionEnd::TlsError { .. } => "tls",
        _ => "other",
    };
    (how.to_owned(), String::new())
}

impl WatchState {
    /// An empty window of `window` for `config`.
    pub fn new(config: &WatchConfig, window: Duration) -> WatchState {
        WatchState {
            targets: config.targets.iter().map(|t| t.target.redacted()).collect(),
            connections: u32::try_from(config.slots().len()).unwrap_or(u32::MAX),
            open_now: 0,
            opened_total: 0,
            window,
            interval_ms: u64::try_from(config.interval.as_millis()).unwrap_or(u64::MAX),
            expect_every_ms: config
                .expect_every
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            drops: VecDeque::new(),
            stalls: VecDeque::new(),
            reconnects: 0,
            app: None,
            answers: vec![None; config.targets.len()],
            metrics: WatchMetrics::default(),
        }
    }

    /// Takes one event into the window and the metrics.
    pub fn apply(&mut self, event: WatchEvent) {
        match event {
            WatchEvent::Opened {
                target,
                arm,
                handshake_us,
                handshake,
            } => {
                if let Some(first @ None) = self.answers.get_mut(target) {
                    *first = handshake.map(|h| *h);
                }
                self.open_now += 1;
                self.opened_total += 1;
                self.metrics
                    .handshake_seconds
                    .observe(handshake_us as f64 / 1e6);
                self.metrics
                    .open
                    .get_or_create(&ArmLabels {
                        arm: arm.as_str().to_owned(),
                    })
                    .inc();
            }
            WatchEvent::Dropped(drop) => {
                let (how, code) = end_label(&drop);
                self.metrics
                    .drops
                    .get_or_create(&DropLabels {
                        arm: drop.arm.as_str().to_owned(),
                        how,
                        code,
                    })
                    .inc();
                if drop.opened {
                    self.open_now = self.open_now.saturating_sub(1);
                    self.metrics
                        .open
                        .get_or_create(&ArmLabels {
                            arm: drop.arm.as_str().to_owned(),
                        })
                        .dec();
                    if let Some(age) = drop.age_us {
                        self.metrics.lifetime_seconds.observe(age as f64 / 1e6);
                    }
                }
                let unix = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0);
                self.metrics.last_drop.set(unix);
                self.drops.push_back(*drop);
                while self.drops.len() > MAX_DROPS {
                    self.drops.pop_front();
                }
            }
            WatchEvent::Stalled(stall) => {
                self.metrics.stalls.inc();
                self.stalls.push_back(stall);
                while self.stalls.len() > MAX_DROPS {
                    self.stalls.pop_front();
                }
            }
            WatchEvent::Pong { rtt_us } => {
                self.metrics.pong_rtt_seconds.observe(rtt_us as f64 / 1e6);
            }
            WatchEvent::App(app) => {
                self.app.get_or_insert(*app);
            }
            WatchEvent::Reconnecting { .. } => {
                self.reconnects += 1;
                self.metrics.reconnects.inc();
            }
        }
    }

    /// Forgets what is older than the window, `now_ms` after the start.
    pub fn expire(&mut self, now_ms: u64) {
        let horizon =
            now_ms.saturating_sub(u64::try_from(self.window.as_millis()).unwrap_or(u64::MAX));
        while self.drops.front().is_some_and(|d| d.at_ms < horizon) {
            self.drops.pop_front();
        }
        while self.stalls.front().is_some_and(|s| s.at_ms < horizon) {
            self.stalls.pop_front();
        }
    }

    /// The first answer to the upgrade from target `index`, if one opened.
    pub fn answer(&self, index: usize) -> Option<&HandshakeRecord> {
        self.answers.get(index).and_then(Option::as_ref)
    }

    /// The window as evidence for the diagnosis.
    pub fn evidence(&self, now_ms: u64) -> WatchEvidence {
        WatchEvidence {
            targets: self.targets.clone(),
            connections: self.connections,
            open_now: self.open_now,
            opened_total: self.opened_total,
            window_ms: u64::try_from(self.window.as_millis()).unwrap_or(u64::MAX),
            ran_ms: now_ms,
            interval_ms: self.interval_ms,
            expect_every_ms: self.expect_every_ms,
            drops: self.drops.iter().cloned().collect(),
            stalls: self.stalls.iter().cloned().collect(),
            reconnects: self.reconnects,
            app: self.app.clone(),
            hop_probes: Vec::new(),
            first_answers: Vec::new(),
        }
    }
}
