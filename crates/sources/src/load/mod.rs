//! `wsdoctor load`: open connections in steps up to a target at a bounded
//! rate, hold them, and record per step how they opened, failed and
//! dropped. The schedule is a pure function ([`LoadPlan`]); tokio runs the
//! connections, each reporting to one aggregator over a channel.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::{mpsc, watch};
use wsdoctor_evidence::load::{FailureSample, GeneratorLimits, Latency, LoadEvidence, LoadStep};

use crate::conn::hold::HoldPool;
use crate::conn::ConnectOptions;
use std::sync::Arc;
use crate::{Progress, ProgressSink};

mod connection;

use connection::{CLOSE_CODE, CLOSE_REASON};
mod plan;

use connection::{run_connection, session_config, Event, Report};
pub use plan::{LoadPlan, StepPlan};

/// A validated load ramp.
///
/// # Defaults
/// 200 new connections per second, 5 steps, 2 s hold after each step and
/// 10 s after the last, no messages, no pings of our own.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Where and how to connect.
    pub connect: ConnectOptions,
    /// How many connections to reach.
    pub concurrency: u64,
    /// New connections per second, at most.
    pub rate: f64,
    /// Connections added per step.
    pub step: u64,
    /// Hold after each step before the next.
    pub step_hold: Duration,
    /// Hold after the last step.
    pub hold: Duration,
    /// Each open connection sends a message this often (echo RTT measured).
    pub message_every: Option<Duration>,
    /// Size of those messages in bytes.
    pub message_size: usize,
    /// Our own ping interval.
    pub ping_interval: Option<Duration>,
    /// Local addresses to spread connections over (round robin).
    pub source_ips: Vec<IpAddr>,
    /// Stop ramping after a step where at least this share of attempts failed.
    pub stop_failure_share: f64,
}

impl LoadConfig {
    /// A ramp to `concurrency` with the documented defaults.
    pub fn new(connect: ConnectOptions, concurrency: u64) -> Self {
        LoadConfig {
            connect,
            concurrency,
            rate: 200.0,
            step: concurrency.div_ceil(5).max(1),
            step_hold: Duration::from_secs(2),
            hold: Duration::from_secs(10),
            message_every: None,
            message_size: 32,
            ping_interval: None,
            source_ips: Vec::new(),
            stop_failure_share: 0.5,
        }
    }
}

impl LoadConfig {
    fn plan(&self) -> LoadPlan {
        LoadPlan::new(
            self.concurrency,
            self.step,
            self.rate,
            self.step_hold,
            self.hold,
        )
    }
    fn steps_duration(&self) -> Duration {
        self.plan()
            .steps
            .last()
            .map_or(Duration::ZERO, |s| s.hold_end)
    }
}

/// Per-step accumulation.
struct StepAcc {
    stats: LoadStep,
    handshake: Option<Histogram<u64>>,
    echo: Option<Histogram<u64>>,
}

fn histogram() -> Option<Histogram<u64>> {
    // 1 µs to 1 h at 3 significant digits: a few tens of KiB per histogram.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).ok()
}

fn latency(h: Option<&Histogram<u64>>) -> Latency {
    match h {
        Some(h) if !h.is_empty() => Latency {
            count: h.len(),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            max_us: h.max(),
        },
        _ => Latency::default(),
    }
}

/// Raises the open-file limit to the hard limit; returns (soft, hard, now).
fn raise_nofile() -> (u64, u64, u64) {
    let (soft, hard) = rlimit::Resource::NOFILE.get().unwrap_or((0, 0));
    let now = rlimit::increase_nofile_limit(hard).unwrap_or(soft);
    (soft, hard, now)
}

/// Runs the ramp. Never fails: every failure of a connection is evidence.
pub async fn run(config: &LoadConfig, progress: Option<ProgressSink>) -> LoadEvidence {
    let started = Instant::now();
    let target = config.connect.target.redacted();
    let (nofile_soft, nofile_hard, nofile_now) = raise_nofile();
    let plan = config.plan();
    let session_config = session_config(config);
    // Open plain-TCP connections are held by a few threads at a few hundred
    // bytes each; without the pool (it could not start) tasks hold them.
    let pool = HoldPool::per_core().ok().map(Arc::new);
    let (deadline_tx, deadline_rx) = watch::channel(started + Duration::from_secs(24 * 3600));
    let (events_tx, mut events_rx) = mpsc::unbounded_channel();
    let mut tasks = tokio::task::JoinSet::new();
    let mut steps: Vec<StepAcc> = plan
        .steps
        .iter()
        .map(|s| StepAcc {
            stats: LoadStep {
                index: s.index,
                target: s.first + s.count,
                ..LoadStep::default()
            },
            handshake: histogram(),
            echo: histogram(),
        })
        .collect();
    let mut open: u64 = 0;
    let mut peak_open: u64 = 0;
    let mut timer_lag_max_us: u64 = 0;
    let mut current = 0usize;
    let mut stopped_after: Option<usize> = None;

    'steps: for (s_index, step) in plan.steps.iter().enumerate() {
        current = s_index;
        let mut next = step.first;
        let end_of_launch = step.first + step.count;
        loop {
            let now = started.elapsed();
            let wake = if next < end_of_launch {
                let at = step.launch_at(next, config.rate);
                if now >= at {
                    timer_lag_max_us = timer_lag_max_us
                        .max(u64::try_from((now - at).as_micros()).unwrap_or(u64::MAX));
                    let mut options = config.connect.clone();
                    if !config.source_ips.is_empty() {
                        let i = usize::try_from(next).unwrap_or(0) % config.source_ips.len();
                        options.bind_ip = Some(config.source_ips[i]);
                    }
                    steps[s_index].stats.attempted += 1;
                    tasks.spawn(run_connection(
                        options,
                        session_config.clone(),
                        s_index,
                        next,
                        deadline_rx.clone(),
                        events_tx.clone(),
                        pool.clone(),
                    ));
                    next += 1;
                    continue;
                }
                at
            } else {
                step.hold_end
            };
            if next >= end_of_launch && now >= step.hold_end {
                break;
            }
            if let Some(sink) = &progress {
                let failed: u64 = steps
                    .iter()
                    .map(|s| s.stats.failures.values().sum::<u64>())
                    .sum();
                let dropped: u64 = steps
                    .iter()
                    .map(|s| s.stats.drops.values().sum::<u64>())
                    .sum();
                sink(Progress::Load {
                    target: target.clone(),
                    step: step.index,
                    steps: plan.steps.len() as u32,
                    open,
                    failed,
                    dropped,
                });
            }
            let tick = started + wake.min(now + Duration::from_millis(200));
            tokio::select! {
                Some(event) = events_rx.recv() => {
                    apply(&mut steps, current, event, &mut open, &mut peak_open);
                }
                () = tokio::time::sleep_until(tokio::time::Instant::from_std(tick)) => {}
                Some(_) = tasks.join_next() => {}
            }
        }
        steps[s_index].stats.open_at_end = open;
        let attempted = steps[s_index].stats.attempted.max(1);
        let failed: u64 = steps[s_index].stats.failures.values().sum();
        if failed as f64 / attempted as f64 >= config.stop_failure_share {
            stopped_after = Some(s_index);
            break 'steps;
        }
    }
    let _ = stopped_after;
    // End every connection: they start their closing handshakes now.
    let _ = deadline_tx.send(Instant::now());
    if let Some(pool) = &pool {
        pool.close_all(Instant::now(), CLOSE_CODE, CLOSE_REASON);
    }
    drop(events_tx);
    // Connections finish their closing handshakes; a peer that never answers
    // costs at most the session's close wait, and this whole drain 3 s. The
    // channel closes once every connection (task or held) has reported.
    let drain_until = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        tokio::select! {
            event = events_rx.recv() => match event {
                // Ends caused by our own close are not drops; any drop still
                // reported now happened during the last hold.
                Some(event) => apply(&mut steps, current, event, &mut open, &mut peak_open),
                None => break,
            },
            Some(_) = tasks.join_next() => {}
            () = tokio::time::sleep_until(drain_until) => break,
        }
    }
    tasks.abort_all();
    drop(pool);
    let steps: Vec<LoadStep> = steps
        .into_iter()
        .filter(|s| s.stats.attempted > 0)
        .map(|mut s| {
            s.stats.handshake = latency(s.handshake.as_ref());
            s.stats.echo_rtt = latency(s.echo.as_ref());
            s.stats
        })
        .collect();
    LoadEvidence {
        target,
        concurrency: config.concurrency,
        rate: config.rate,
        steps,
        generator: GeneratorLimits {
            nofile_soft,
            nofile_hard,
            nofile_now,
            source_ips: config.source_ips.iter().map(ToString::to_string).collect(),
            timer_lag_max_us,
        },
        ran_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        peak_open,
    }
}

fn apply(steps: &mut [StepAcc], current: usize, report: Report, open: &mut u64, peak: &mut u64) {
    match report.event {
        Event::Opened { step, handshake_us } => {
            *open += 1;
            *peak = (*peak).max(*open);
            if let Some(s) = steps.get_mut(step) {
                s.stats.opened += 1;
                if let Some(h) = &mut s.handshake {
                    let _ = h.record(handshake_us.max(1));
                }
            }
        }
        Event::Failed {
            step,
            kind,
            detail,
            server,
        } => {
            if let Some(s) = steps.get_mut(step) {
                let count = s.stats.failures.entry(kind.clone()).or_insert(0);
                *count += 1;
                if *count == 1 {
                    s.stats.failure_samples.push(FailureSample {
                        kind,
                        detail,
                        server,
                        at_concurrency: *open,
                    });
                }
            }
        }
        Event::Dropped { kind } => {
            *open = open.saturating_sub(1);
            if let Some(s) = steps.get_mut(current) {
                *s.stats.drops.entry(kind).or_insert(0) += 1;
            }
        }
        Event::Echo { rtt_us } => {
            if let Some(h) = steps.get_mut(current).and_then(|s| s.echo.as_mut()) {
                let _ = h.record(rtt_us.max(1));
            }
        }
    }
}
