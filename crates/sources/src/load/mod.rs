//! `wsdoctor load`: open connections in steps up to a target at a bounded
//! rate, hold them, and record per step how they opened, failed and
//! dropped. The schedule is a pure function ([`LoadPlan`]); tokio runs the
//! connections, each reporting to one aggregator over a channel.
//!
//! Past one process: a shard ([`Shard`]) runs one interleaved slice of the
//! plan, [`merge()`] adds shard results up exactly (histograms included),
//! and [`procs`] runs shards as child processes of the same binary.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::{mpsc, watch};
use wsdoctor_evidence::load::{
    CloseSummary, FailureKind, FailureSample, GeneratorLimits, KernelSample, LoadEvidence,
    LoadPlanSpec, LoadStep,
};
use wsdoctor_evidence::machine::MachineLimits;
use wsdoctor_evidence::{check_at_least, format_count, ConfigError};

use crate::conn::hold::{Dial, HoldPool};
use crate::conn::session::SessionConfig;
use crate::conn::ConnectOptions;
use crate::{Progress, ProgressSink};
use std::sync::Arc;

mod connection;
mod events;
pub mod fanout;
mod hist;
mod merge;

use connection::{CLOSE_CODE, CLOSE_REASON};
mod plan;
pub mod procs;
pub mod scale;
mod stop;

use connection::{run_connection, session_config, Event, PooledConnection, Report};
pub use events::EventsWriter;
use events::LineKind;
pub use merge::{merge, MergeError, Merged, ShardResult};
pub use plan::{LoadPlan, Shard, ShardError, StepPlan};
pub use stop::StopFlag;

/// The live status is sent at most this often: what it sums is per step,
/// never per connection, but a ramp takes thousands of reports a second.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);
/// Once the ramp closes its connections (at the end, or on Ctrl-C) it waits
/// for their closing handshakes while they keep finishing: it lets the rest
/// go once none has finished for this long. Closing costs CPU at both ends
/// (two frames and a FIN each): a 2-core machine closes ~18,000 a second
/// between `load` and `serve`, so a fixed wait would cut a million short.
const DRAIN_STALL: Duration = Duration::from_secs(wsdoctor_evidence::load::CLOSE_DRAIN_STALL_SECS);
/// And at most this long in all, however steadily they finish.
const DRAIN_MAX: Duration = Duration::from_secs(wsdoctor_evidence::load::CLOSE_DRAIN_MAX_SECS);
/// How far behind its schedule a process may launch to catch up. Past it
/// the schedule moves back instead: a process the CPU starved for a second
/// (dozens of `--procs` children and `serve` workers share 2 cores at a
/// million) would otherwise launch that second's connections at once, a SYN
/// burst that overflows the accept queues, whose retransmits starve it
/// further: at a million, 825,668 connect timeouts. The ramp then takes
/// longer than planned: `schedule_behind_us` says by how much it fell
/// behind (`timer_lag_max_us` only the longest single delay, measured
/// against the moved schedule).
const MAX_CATCH_UP: Duration = Duration::from_millis(20);
/// How often the drain looks at how many are still closing.
const DRAIN_TICK: Duration = Duration::from_millis(250);

/// The largest message a ramp sends (`--size`).
const MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;
/// The most source addresses a ramp spreads over (`--source-ips`).
const MAX_SOURCE_IPS: usize = 1025;

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
    /// Stop ramping after a step where at least this share of attempts
    /// failed (each shard decides on its own slice; interleaved slices see
    /// the same share).
    pub stop_failure_share: f64,
    /// Run only this slice of the plan (`--shard I/N`); `None` is the whole.
    pub shard: Option<Shard>,
    /// With no `source_ips` and a loopback target, spread this process's
    /// connections over 127.0.0.2… when one address's ephemeral ports
    /// would not be enough.
    pub auto_source_ips: bool,
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
            shard: None,
            auto_source_ips: true,
        }
    }

    /// The config as given when every setting is within what a ramp
    /// supports: 1 to 1,000,000 connections, a rate above 0 and at most
    /// 100,000 per second, steps of at least 1, messages of at most 16 MiB,
    /// at most 1025 source addresses.
    pub fn validated(self) -> Result<Self, ConfigError> {
        if self.concurrency == 0 || self.concurrency > 1_000_000 {
            return Err(ConfigError::Rule {
                setting: "-c",
                rule: "must be between 1 and 1000000",
            });
        }
        if !(self.rate > 0.0 && self.rate <= 100_000.0) {
            return Err(ConfigError::Rule {
                setting: "--rate",
                rule: "must be more than 0 and at most 100000 per second",
            });
        }
        check_at_least("--step", self.step, 1)?;
        if self.message_size > MAX_MESSAGE_SIZE {
            return Err(ConfigError::Rule {
                setting: "--size",
                rule: "is at most 16 MiB",
            });
        }
        if self.source_ips.len() > MAX_SOURCE_IPS {
            return Err(ConfigError::Rule {
                setting: "--source-ips",
                rule: "must be a range of 1 to 1025 addresses, first to last",
            });
        }
        Ok(self)
    }

    /// The schedule as recorded in the evidence, for `merge` to compare.
    pub fn plan_spec(&self) -> LoadPlanSpec {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        LoadPlanSpec {
            step: self.step,
            step_hold_ms: ms(self.step_hold),
            hold_ms: ms(self.hold),
            message_every_ms: self.message_every.map(ms),
            message_size: self.message_size,
            ping_interval_ms: self.ping_interval.map(ms),
        }
    }

    /// How many connections this process launches (its shard's share).
    pub fn connections_here(&self) -> u64 {
        let shard = self.shard.unwrap_or(Shard::WHOLE);
        self.plan()
            .steps
            .iter()
            .map(|s| s.owned(shard).count() as u64)
            .sum()
    }

    /// The one rule for where this ramp's connections come from, run as
    /// `processes` processes: the explicit list (`--source-ips`); else, with
    /// `auto_source_ips` on a loopback IPv4 target whose connections here
    /// would use more than an eighth of one address's ephemeral ports,
    /// 127.0.0.2… as many as they need and at least one per process; else
    /// none (the system's choice). The single process, the split between
    /// `--procs` children and the machine check all ask this.
    pub fn sources_for(&self, processes: u32) -> Sources {
        if !self.source_ips.is_empty()
            || !self.auto_source_ips
            || !scale::is_loopback(self.connect.target.ip)
        {
            return Sources {
                ips: self.source_ips.clone(),
                note: None,
            };
        }
        let ports = scale::ephemeral_ports();
        let here = self.connections_here();
        let needed = scale::source_addresses_needed(here, ports);
        if needed <= 1 {
            return Sources {
                ips: Vec::new(),
                note: None,
            };
        }
        let ips = scale::loopback_sources(needed.max(u64::from(processes)));
        let note = format!(
            "spread {} connections over {} local source addresses ({}) on its own{}: the kernel's search for a free port on each connect stays cheap while an address uses under an eighth of its {} ephemeral ports (net.ipv4.ip_local_port_range)",
            format_count(here),
            ips.len(),
            scale::describe_sources(&ips),
            if processes > 1 { ", a slice per process" } else { "" },
            format_count(ports)
        );
        Sources {
            ips,
            note: Some(note),
        }
    }

    /// How many source addresses the connections will come from (run as
    /// `processes` processes): as [`LoadConfig::sources_for`] chooses them,
    /// and 1 when it leaves the choice to the system.
    pub fn source_addresses(&self, processes: u32) -> u64 {
        (self.sources_for(processes).ips.len() as u64).max(1)
    }

    /// This machine's limits against what this ramp needs of them, run as
    /// `processes` processes: the check made before the run.
    pub fn machine_check(&self, processes: u32) -> MachineLimits {
        let target_here = self.connect.target.ip.is_some_and(|ip| ip.is_loopback());
        let mut limits = crate::machine::read_limits(self.source_addresses(processes), target_here);
        // The target's own listen queue, asked of the kernel: straight to a
        // server here, not through a proxy (whose queue it would not be).
        if let (Some(ip), None) = (self.connect.target.ip, &self.connect.proxy) {
            if target_here {
                limits.target_listener = crate::listener::target_listener(
                    std::net::SocketAddr::new(ip, self.connect.target.port),
                );
            }
        }
        limits.shortfalls = crate::machine::check(
            &limits,
            &crate::machine::Need {
                connections: self.connections_here(),
                rate: self.rate,
                target_here,
                generator_processes: u64::from(processes.max(1)),
                sends_messages: self.message_every.is_some(),
                // Whose server the target is, and its backlog, load
                // cannot tell.
                server_backlog: None,
            },
        );
        limits
    }
}

/// The local source addresses of a ramp, as [`LoadConfig::sources_for`]
/// chose them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources {
    /// The addresses, used round robin (empty: the system's choice).
    pub ips: Vec<IpAddr>,
    /// Why, in words, when chosen on its own rather than given.
    pub note: Option<String>,
}

/// A finished ramp: the evidence, and how writing the events went.
#[derive(Debug)]
pub struct LoadRun {
    /// What the ramp observed.
    pub evidence: LoadEvidence,
    /// With `--events`: lines written, or the first write error (one line).
    pub events: Option<Result<u64, String>>,
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

use hist::{histogram, latency};

/// Raises the open-file limit to the hard limit; returns (soft, hard, now).
fn raise_nofile() -> (u64, u64, u64) {
    let (soft, hard) = rlimit::Resource::NOFILE.get().unwrap_or((0, 0));
    let now = rlimit::increase_nofile_limit(hard).unwrap_or(soft);
    (soft, hard, now)
}

/// Runs the ramp. Never fails: every failure of a connection is evidence.
pub async fn run(config: &LoadConfig, progress: Option<ProgressSink>) -> LoadEvidence {
    run_with(config, progress, None).await.evidence
}

/// Runs the ramp, writing the per-connection timeline to `events` when given.
pub async fn run_with(
    config: &LoadConfig,
    progress: Option<ProgressSink>,
    events: Option<EventsWriter>,
) -> LoadRun {
    let machine = config.machine_check(1);
    run_until(
        config,
        progress,
        events,
        &StopFlag::default(),
        Some(machine),
    )
    .await
}

/// As [`run_with`], and when `stop` is raised (Ctrl-C) the ramp stops
/// launching, closes every connection as at its end, and reports what it
/// saw so far with how long the close took. `machine` is the caller's
/// [`LoadConfig::machine_check`], made once before the run (and said
/// then), kept in the evidence; `None` for a `--procs` child, whose parent
/// checks the machine for the whole ramp.
pub async fn run_until(
    config: &LoadConfig,
    progress: Option<ProgressSink>,
    mut events: Option<EventsWriter>,
    stop: &StopFlag,
    machine: Option<MachineLimits>,
) -> LoadRun {
    let started = Instant::now();
    let nofile = raise_nofile();
    let Sources {
        ips: source_ips,
        note: source_note,
    } = config.sources_for(1);
    if let Some(w) = &mut events {
        w.set_shard(config.shard.map(Shard::spec));
    }
    // Open plain-TCP connections are held by a few threads at a few hundred
    // bytes each; without the pool (it could not start) tasks hold them.
    let pool = HoldPool::per_core().ok().map(Arc::new);
    // Plain ws:// straight to one address: the pool opens the connections
    // itself (one registration per socket, no task, no hand-over).
    // A connection that speaks an application protocol is opened by a task,
    // which attaches the protocol, and then handed to the pool.
    let pooled_dial = match &pool {
        Some(_) if !speaks_app(&config.connect) => pool_dial_address(&config.connect).await,
        _ => None,
    };
    // After the pool's threads started: what follows is the connections'.
    let rss_start = crate::memory::resident_bytes();
    let kernel_start = crate::machine::kernel_sample();
    let (deadline_tx, deadline_rx) = watch::channel(started + Duration::from_secs(24 * 3600));
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let plan = config.plan();
    let steps = plan.steps.iter().map(StepAcc::new).collect();
    let mut ramp = Ramp {
        config,
        shard: config.shard.unwrap_or(Shard::WHOLE),
        plan,
        started,
        target: config.connect.target.redacted(),
        progress,
        events,
        source_ips,
        launched_here: 0,
        session_config: session_config(config),
        pool,
        pooled_dial,
        shared_options: Arc::new(config.connect.clone()),
        rss_start,
        kernel_start,
        stop: stop.clone(),
        last_progress: None,
        deadline_rx,
        events_tx,
        events_rx,
        tasks: tokio::task::JoinSet::new(),
        steps,
        open: 0,
        peak_open: 0,
        timer_lag_max_us: 0,
        slip: Duration::ZERO,
        current: 0,
    };
    // A target here: which of this machine's listen queues fill.
    let sampler = machine
        .as_ref()
        .filter(|m| m.target_here)
        .map(|_| crate::listener::QueueSampler::start(LISTEN_QUEUE_SAMPLE_EVERY));
    for s_index in 0..ramp.plan.steps.len() {
        if ramp.run_step(s_index).await {
            break;
        }
    }
    let listen_queues = sampler.and_then(crate::listener::QueueSampler::finish);
    // End every connection: they start their closing handshakes now.
    let _ = deadline_tx.send(Instant::now());
    let mut run = ramp.finish(nofile, source_note, machine).await;
    run.evidence.listen_queues = listen_queues;
    run
}

/// How often the listen queues of a target here are sampled: python
/// asyncio's batch accept drained its full queue of 100 within 20 ms
/// (sampled every 20 ms, a ramp that overflowed it showed no full sample;
/// every 5 ms, `ss -ltn` saw it full 10 times in 300).
pub(crate) const LISTEN_QUEUE_SAMPLE_EVERY: Duration = Duration::from_millis(5);

impl StepAcc {
    fn new(step: &StepPlan) -> StepAcc {
        StepAcc {
            stats: LoadStep {
                index: step.index,
                target: step.first + step.count,
                ..LoadStep::default()
            },
            handshake: histogram(),
            echo: histogram(),
        }
    }
}

/// One ramp while it runs: what launching, counting and draining share
/// (one struct rather than one long function over two dozen locals).
struct Ramp<'c> {
    config: &'c LoadConfig,
    plan: LoadPlan,
    shard: Shard,
    started: Instant,
    /// The target as reports name it (credentials redacted).
    target: String,
    progress: Option<ProgressSink>,
    events: Option<EventsWriter>,
    source_ips: Vec<IpAddr>,
    /// Connections this process launched, for the round robin over
    /// `source_ips`.
    launched_here: usize,
    session_config: Arc<SessionConfig>,
    pool: Option<Arc<HoldPool>>,
    /// The address the pool dials itself, when it can.
    pooled_dial: Option<std::net::SocketAddr>,
    shared_options: Arc<ConnectOptions>,
    rss_start: Option<u64>,
    kernel_start: Option<KernelSample>,
    /// Raised on Ctrl-C: stop launching, close everything, report.
    stop: StopFlag,
    /// When the live status was last sent.
    last_progress: Option<Instant>,
    deadline_rx: watch::Receiver<Instant>,
    events_tx: mpsc::UnboundedSender<Report>,
    events_rx: mpsc::UnboundedReceiver<Report>,
    tasks: tokio::task::JoinSet<()>,
    steps: Vec<StepAcc>,
    open: u64,
    peak_open: u64,
    timer_lag_max_us: u64,
    /// How far the schedule has been pushed back because this process fell
    /// behind it (see [`MAX_CATCH_UP`]).
    slip: Duration,
    /// The step being run (0-based).
    current: usize,
}

impl Ramp<'_> {
    /// Runs step `s_index`: launches this process's connections of it, each
    /// when the whole ramp would launch it (a shard keeps the global
    /// schedule), then holds. True when so many of its attempts failed that
    /// the ramp stops here.
    async fn run_step(&mut self, s_index: usize) -> bool {
        self.current = s_index;
        let step = self.plan.steps[s_index];
        let mut owned = step.owned(self.shard).peekable();
        let mut released = false;
        loop {
            if self.stop.is_raised() {
                self.close_step(s_index);
                return true;
            }
            let now = self.started.elapsed();
            if !released && owned.peek().is_none() {
                released = self.release_if_settled(s_index);
            }
            let wake = if let Some(&next) = owned.peek() {
                let at = step.launch_at(next, self.config.rate) + self.slip;
                if now >= at {
                    let lag = now - at;
                    self.timer_lag_max_us = self
                        .timer_lag_max_us
                        .max(u64::try_from(lag.as_micros()).unwrap_or(u64::MAX));
                    if lag > MAX_CATCH_UP {
                        self.slip += lag;
                    }
                    owned.next();
                    self.launch(s_index, next);
                    continue;
                }
                at
            } else {
                step.hold_end + self.slip
            };
            if owned.peek().is_none() && now >= step.hold_end + self.slip {
                break;
            }
            self.report_progress(step.index);
            let tick = self.started + wake.min(now + Duration::from_millis(200));
            let event = tokio::select! {
                Some(event) = self.events_rx.recv() => Some(event),
                () = tokio::time::sleep_until(tokio::time::Instant::from_std(tick)) => None,
                Some(_) = self.tasks.join_next() => None,
            };
            if let Some(event) = event {
                let mut agg = Aggregate {
                    steps: &mut self.steps,
                    current: self.current,
                    open: &mut self.open,
                    peak: &mut self.peak_open,
                    events: self.events.as_mut(),
                    plan: &self.plan,
                    started: self.started,
                };
                agg.apply(event);
            }
        }
        let stats = self.close_step(s_index);
        let attempted = stats.attempted.max(1);
        let failed = stats.failed();
        failed as f64 / attempted as f64 >= self.config.stop_failure_share
    }

    /// Records what the step ends with: connections open, and the memory
    /// of this process and of the kernel.
    fn close_step(&mut self, s_index: usize) -> &LoadStep {
        let open = self.open;
        let stats = &mut self.steps[s_index].stats;
        stats.open_at_end = open;
        stats.set_memory(crate::memory::resident_bytes(), self.rss_start);
        stats.set_kernel(crate::machine::kernel_sample(), self.kernel_start.as_ref());
        stats
    }

    /// Once every handshake of the step is over, what they needed while in
    /// flight is free: hands it back. True when it did.
    fn release_if_settled(&self, s_index: usize) -> bool {
        let stats = &self.steps[s_index].stats;
        let failed = stats.failed();
        if stats.opened + failed >= stats.attempted {
            crate::memory::release_freed_memory();
            return true;
        }
        false
    }

    /// Launches connection `conn` of step `s_index`: dialled by the hold
    /// pool when it can, else as a task.
    fn launch(&mut self, s_index: usize, conn: u64) {
        // Round robin over this process's own launches: a shard's global
        // indices share a stride and would pick a subset of the addresses.
        let bind_ip = (!self.source_ips.is_empty())
            .then(|| self.source_ips[self.launched_here % self.source_ips.len()])
            .or(self.config.connect.bind_ip);
        self.launched_here += 1;
        self.steps[s_index].stats.attempted += 1;
        if let (Some(pool), Some(addr)) = (&self.pool, self.pooled_dial) {
            let dial = Dial {
                addr,
                bind_ip,
                options: Arc::clone(&self.shared_options),
                session: Arc::clone(&self.session_config),
                observer: Box::new(PooledConnection::new(s_index, conn, self.events_tx.clone())),
            };
            // A stopped pool drops the dial: the attempt counts as pending
            // at the end, as an aborted task's does.
            let _ = pool.dial(dial);
            return;
        }
        let mut options = self.config.connect.clone();
        options.bind_ip = bind_ip;
        if !speaks_app(&options) {
            // Bare: no protocol session, not even one that only watches.
            options.app = None;
        }
        self.tasks.spawn(run_connection(
            options,
            self.session_config.clone(),
            s_index,
            conn,
            self.deadline_rx.clone(),
            self.events_tx.clone(),
            self.pool.clone(),
        ));
    }

    /// The live status, at most every [`PROGRESS_EVERY`]: running totals
    /// only, so a tick costs the same at a million connections as at one.
    fn report_progress(&mut self, step: u32) {
        let Some(sink) = &self.progress else { return };
        let now = Instant::now();
        if self
            .last_progress
            .is_some_and(|t| now.duration_since(t) < PROGRESS_EVERY)
        {
            return;
        }
        self.last_progress = Some(now);
        // Failures and drops so far are the steps' own counts: a failure
        // counts in its connection's step, a drop in the current one, and a
        // step not yet begun counts none.
        sink(Progress::Load {
            target: self.target.clone(),
            step,
            steps: self.plan.steps.len() as u32,
            open: self.open,
            failed: self.steps.iter().map(|s| s.stats.failed()).sum(),
            dropped: self.steps.iter().map(|s| s.stats.dropped()).sum(),
        });
    }

    /// Closes every connection, takes what they still report, and writes
    /// the evidence.
    async fn finish(
        self,
        nofile: (u64, u64, u64),
        source_note: Option<String>,
        machine: Option<MachineLimits>,
    ) -> LoadRun {
        let Ramp {
            config,
            plan,
            started,
            target,
            mut events,
            source_ips,
            pool,
            rss_start,
            kernel_start,
            stop,
            events_tx,
            mut events_rx,
            mut tasks,
            mut steps,
            mut open,
            peak_open,
            timer_lag_max_us,
            slip,
            current,
            ..
        } = self;
        let open_at_close = open;
        let close_started = Instant::now();
        if let Some(pool) = &pool {
            pool.close_all(close_started, CLOSE_CODE, CLOSE_REASON);
        }
        drop(events_tx);
        // Connections finish their closing handshakes; a peer that never
        // answers costs at most the session's close wait, and the drain
        // ends once none has finished for DRAIN_STALL (or at DRAIN_MAX).
        // The channel closes once every connection (task or held) has
        // reported; each one still closing holds a sender.
        let drain_max = tokio::time::Instant::now() + DRAIN_MAX;
        let mut stall_until = tokio::time::Instant::now() + DRAIN_STALL;
        let mut still_closing = events_rx.sender_strong_count();
        let mut tick = tokio::time::interval(DRAIN_TICK);
        // Our own closes report nothing, so `open` no longer falls: a
        // connection a queueing limit lets through only now (once ours
        // close) was never open at the same time as them, and must not
        // raise the peak.
        let mut peak_while_draining = peak_open;
        let mut agg = Aggregate {
            steps: &mut steps,
            current,
            open: &mut open,
            peak: &mut peak_while_draining,
            events: events.as_mut(),
            plan: &plan,
            started,
        };
        loop {
            tokio::select! {
                event = events_rx.recv() => match event {
                    // Ends caused by our own close are not drops; any drop
                    // still reported now happened during the last hold.
                    Some(event) => agg.apply(event),
                    None => break,
                },
                Some(_) = tasks.join_next() => {}
                now = tick.tick() => {
                    let left = events_rx.sender_strong_count();
                    if left < still_closing {
                        still_closing = left;
                        stall_until = now + DRAIN_STALL;
                    }
                    if now >= stall_until || now >= drain_max {
                        break;
                    }
                }
            }
        }
        // Each connection still closing holds a sender of the channel.
        let unfinished = events_rx.sender_strong_count() as u64;
        tasks.abort_all();
        drop(pool);
        let close = CloseSummary {
            open_at_close,
            took_ms: u64::try_from(close_started.elapsed().as_millis()).unwrap_or(u64::MAX),
            unfinished,
            interrupted: stop.is_raised(),
        };
        let steps: Vec<LoadStep> = steps
            .into_iter()
            .filter(|s| s.stats.attempted > 0)
            .map(|mut s| {
                s.stats.handshake = latency(s.handshake.as_ref());
                s.stats.echo_rtt = latency(s.echo.as_ref());
                count_pending(&mut s.stats);
                s.stats
            })
            .collect();
        let (nofile_soft, nofile_hard, nofile_now) = nofile;
        let evidence = LoadEvidence {
            target,
            concurrency: config.concurrency,
            rate: config.rate,
            steps,
            generator: GeneratorLimits {
                nofile_soft,
                nofile_hard,
                nofile_now,
                source_ips: source_ips.iter().map(ToString::to_string).collect(),
                timer_lag_max_us,
                schedule_behind_us: u64::try_from(slip.as_micros()).unwrap_or(u64::MAX),
                notes: source_note.into_iter().collect(),
                machine,
            },
            ran_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            peak_open,
            plan: config.plan_spec(),
            shard: config.shard.map(Shard::spec),
            shards: Vec::new(),
            rss_start_bytes: rss_start,
            deflate_offered: config.connect.deflate,
            app: load_app(&config.connect),
            kernel_start,
            listen_queues: None,
            close: Some(close),
        };
        LoadRun {
            evidence,
            events: events.map(EventsWriter::finish),
        }
    }
}

/// True when the connections speak the protocol `conn::app::prepare`
/// planned: `--app NAME`, or `auto` decided from the URL path or the
/// subprotocol. Then every connection carries that protocol's session.
/// `raw`, and `auto` with nothing recognised, leave connections bare: a
/// protocol session on each only to watch, or to sniff the server's first
/// message, would cost a million-connection ramp its memory.
fn speaks_app(options: &ConnectOptions) -> bool {
    options
        .app
        .as_ref()
        .is_some_and(|plan| plan.speaks() && plan.protocol.is_some())
}

/// The protocol for the evidence: spoken, or recognised and not spoken.
fn load_app(options: &ConnectOptions) -> Option<wsdoctor_evidence::load::LoadApp> {
    let plan = options.app.as_ref()?;
    Some(wsdoctor_evidence::load::LoadApp {
        protocol: plan.protocol?.id().to_owned(),
        spoken: speaks_app(options),
        decided_by: plan.decided_by.clone(),
    })
}

/// The one address the hold pool can dial for every connection of the
/// ramp: a plain `ws://` target without a forward proxy over HTTP/1.1,
/// whose host is an address or resolves to exactly one (more than one, and
/// the tokio dialer tries them in turn for each connection; a lookup that
/// fails is left to it too, so each attempt reports it).
async fn pool_dial_address(options: &ConnectOptions) -> Option<std::net::SocketAddr> {
    let target = &options.target;
    // A pinned route (--resolve, --connect-to, -4/-6) is followed by the
    // tokio dialer only.
    let plain = !target.secure
        && options.proxy.is_none()
        && options.route == crate::conn::Route::default()
        && options.http == crate::conn::HttpVersion::Http1;
    if !plain {
        return None;
    }
    if let Some(ip) = target.ip {
        return Some(std::net::SocketAddr::new(ip, target.port));
    }
    let lookup = tokio::net::lookup_host((target.host.as_str(), target.port));
    let found: Vec<_> = tokio::time::timeout(options.connect_timeout, lookup)
        .await
        .ok()?
        .ok()?
        .collect();
    match found.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

/// Counts a step's attempts that never reported as failures of their own
/// kind: left out, a server too slow to answer at this level would look
/// healthy (seen at 15,000 connections at 5,000/s: SYN retransmits after
/// 1 s and 3 s, and thousands of connects still waiting at the end).
fn count_pending(step: &mut LoadStep) {
    let resolved = step.opened + step.failed();
    let pending = step.attempted.saturating_sub(resolved);
    if pending == 0 {
        return;
    }
    step.failures.insert(FailureKind::PendingAtEnd, pending);
    step.failure_samples.push(FailureSample {
        kind: FailureKind::PendingAtEnd,
        detail: format!(
            "{pending} connections had neither opened nor failed when the ramp ended: their TCP connect or the server's 101 was still pending"
        ),
        server: None,
        at_concurrency: step.open_at_end,
    });
}

/// The aggregator's state while it takes the connections' reports.
struct Aggregate<'a> {
    steps: &'a mut [StepAcc],
    /// The step being run (0-based), where drops and echoes are counted.
    current: usize,
    open: &'a mut u64,
    peak: &'a mut u64,
    events: Option<&'a mut EventsWriter>,
    plan: &'a LoadPlan,
    started: Instant,
}

impl Aggregate<'_> {
    fn apply(&mut self, report: Report) {
        if let Some(w) = self.events.as_deref_mut() {
            let since = report.at.saturating_duration_since(self.started);
            let step_of = |i: usize| u32::try_from(i + 1).unwrap_or(u32::MAX);
            let conn_step = self.plan.step_of(report.conn).map_or(0, step_of);
            let line = match &report.event {
                Event::Opened { handshake_us, .. } => Some(LineKind::Opened {
                    handshake_us: *handshake_us,
                }),
                Event::Failed { kind, detail, .. } => Some(LineKind::Failed {
                    kind: *kind,
                    detail,
                }),
                Event::Dropped { kind } => Some(LineKind::Dropped {
                    kind: *kind,
                    during_step: step_of(self.current),
                }),
                Event::Echo { .. } => None,
            };
            if let Some(line) = line {
                w.line(report.conn, conn_step, since, line);
            }
        }
        apply(
            self.steps,
            self.current,
            report,
            self.open,
            self.peak,
            Some((self.started, self.plan)),
        );
    }
}

/// `echo_steps`: when the ramp started and its plan, to count an echo in
/// the step it was sent in.
fn apply(
    steps: &mut [StepAcc],
    current: usize,
    report: Report,
    open: &mut u64,
    peak: &mut u64,
    echo_steps: Option<(Instant, &LoadPlan)>,
) {
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
                let count = s.stats.failures.entry(kind).or_insert(0);
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
        Event::Echo { rtt_us, sent_at } => {
            let step = echo_steps
                .and_then(|(started, plan)| {
                    let since = sent_at.checked_duration_since(started)?;
                    plan.steps
                        .iter()
                        .position(|s| s.start <= since && since < s.hold_end)
                })
                .unwrap_or(current);
            if let Some(h) = steps.get_mut(step).and_then(|s| s.echo.as_mut()) {
                let _ = h.record(rtt_us.max(1));
            }
        }
    }
}

#[cfg(test)]
mod tests;
