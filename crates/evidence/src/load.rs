//! What a load ramp observed: per step, how many connections were attempted,
//! opened, failed (and how), dropped while held, and the latency
//! percentiles; plus the generator's own limits, so they are never blamed on
//! the server.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::machine::{KernelSample, MachineLimits};

pub use crate::load_end::{DropKind, FailureKind, UnknownEndKind};

/// Latency percentiles in µs (from an HdrHistogram).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latency {
    /// How many values.
    pub count: u64,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Largest.
    pub max_us: u64,
    /// The whole HdrHistogram (1 µs to 1 h, 3 significant digits) in
    /// hdrhistogram's V2 serialization, base64: what `wsdoctor merge` adds up
    /// so the percentiles of several shards are exact, never averaged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram: Option<String>,
}

/// A failure seen in a step, with one example of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureSample {
    /// The kind (`refused`, `connect-timeout`, `http-503`, `tls`, `local-file-descriptors`, …).
    pub kind: FailureKind,
    /// How it ended, in words (peer strings escaped).
    pub detail: String,
    /// The `Server` header of the answer, when there was one.
    pub server: Option<String>,
    /// How many connections were open when it happened.
    pub at_concurrency: u64,
}

/// One step of the ramp.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadStep {
    /// 1-based.
    pub index: u32,
    /// The concurrency this step aimed for.
    pub target: u64,
    /// Connections attempted in this step.
    pub attempted: u64,
    /// Of those, how many opened (valid 101).
    pub opened: u64,
    /// Failures by kind.
    pub failures: BTreeMap<FailureKind, u64>,
    /// The first failure of each kind in this step.
    pub failure_samples: Vec<FailureSample>,
    /// Connections (of any step) dropped during this step's hold, by how.
    pub drops: BTreeMap<DropKind, u64>,
    /// Connections open when the step's hold ended.
    pub open_at_end: u64,
    /// Handshake latency (connect start to 101) of this step's connections.
    pub handshake: Latency,
    /// Echo round trips measured during this step.
    pub echo_rtt: Latency,
    /// The generator's resident memory when the step's hold ended (the sum
    /// over the processes of a merge); absent where it cannot be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_bytes: Option<u64>,
    /// What each open connection costs the generator: the growth of its
    /// resident memory since the start, divided by the connections open
    /// at the step's end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_per_connection: Option<u64>,
    /// The kernel's memory when the step's hold ended (machine-wide).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<KernelSample>,
    /// What the kernel held per TCP socket at the step's end: its growth
    /// since the start over the TCP sockets added (both ends' when the
    /// target is on this machine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_bytes_per_socket: Option<u64>,
}

impl LoadStep {
    /// This step's attempts that failed, of every kind.
    pub fn failed(&self) -> u64 {
        self.failures.values().sum()
    }

    /// Connections dropped during this step's hold, of every kind.
    pub fn dropped(&self) -> u64 {
        self.drops.values().sum()
    }

    /// Sets [`LoadStep::rss_bytes`] and [`LoadStep::bytes_per_connection`]
    /// from a sample at the step's end and the one at the start.
    pub fn set_memory(&mut self, rss_bytes: Option<u64>, rss_at_start: Option<u64>) {
        self.rss_bytes = rss_bytes;
        self.bytes_per_connection = match (rss_bytes, rss_at_start) {
            (Some(now), Some(start)) if self.open_at_end > 0 => {
                Some(now.saturating_sub(start) / self.open_at_end)
            }
            _ => None,
        };
    }

    /// Sets [`LoadStep::kernel`] and [`LoadStep::kernel_bytes_per_socket`]
    /// from a sample at the step's end and the one at the start.
    pub fn set_kernel(&mut self, now: Option<KernelSample>, at_start: Option<&KernelSample>) {
        self.kernel = now;
        self.kernel_bytes_per_socket = match (now, at_start) {
            (Some(now), Some(start)) => now.bytes_per_socket_since(start),
            _ => None,
        };
    }
}

/// The generator's own situation: what it could use, so its limits are
/// reported as its own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratorLimits {
    /// The open-file soft limit at start.
    pub nofile_soft: u64,
    /// The hard limit.
    pub nofile_hard: u64,
    /// What wsdoctor raised the soft limit to.
    pub nofile_now: u64,
    /// Local source addresses the connections were spread over.
    pub source_ips: Vec<String>,
    /// The largest lag of the generator's own timers (µs): a busy generator
    /// measures its own delay, not the server's.
    pub timer_lag_max_us: u64,
    /// How far behind its own schedule the generator finished launching
    /// (µs): the sum of the delays it could not catch up on. Each delay
    /// may be short while their sum is long: a generator short of CPU
    /// launches at a slower rate than asked without ever being very late
    /// at once.
    #[serde(default)]
    pub schedule_behind_us: u64,
    /// What the generator decided for itself and the user should know (more
    /// processes past the open-file limit, more source addresses past the
    /// ephemeral ports), in words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// This machine's limits against what the run needed, checked before
    /// it started (absent where they could not be read, and in reports of
    /// older versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<MachineLimits>,
}

/// The ramp's schedule as asked for: shards of one ramp must have the same,
/// so `wsdoctor merge` refuses results that do not belong together.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadPlanSpec {
    /// Connections added per step (of the whole ramp).
    pub step: u64,
    /// Hold after each step, in ms.
    pub step_hold_ms: u64,
    /// Hold after the last step, in ms.
    pub hold_ms: u64,
    /// Message interval per connection, in ms.
    pub message_every_ms: Option<u64>,
    /// Message size in bytes.
    pub message_size: usize,
    /// Our own ping interval, in ms.
    pub ping_interval_ms: Option<u64>,
}

/// Which slice of the ramp a result is: the connections whose index in the
/// whole ramp is `index` modulo `count` (0-based `index`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSpec {
    /// 0-based.
    pub index: u32,
    /// How many shards the ramp was cut into.
    pub count: u32,
}

/// One shard of a merged result, as that process saw itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSummary {
    /// 0-based shard index.
    pub index: u32,
    /// How long the shard ran, in ms.
    pub ran_ms: u64,
    /// Its own highest number of open connections.
    pub peak_open: u64,
    /// Connections it attempted.
    pub attempted: u64,
    /// Its limits (open files, source addresses, timer lag).
    pub generator: GeneratorLimits,
}

/// The whole ramp.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadEvidence {
    /// The target, secrets redacted.
    pub target: String,
    /// The concurrency asked for.
    pub concurrency: u64,
    /// Connections opened per second (the cap).
    pub rate: f64,
    /// The steps, in order.
    pub steps: Vec<LoadStep>,
    /// The generator's limits.
    pub generator: GeneratorLimits,
    /// How long the ramp ran, in ms.
    pub ran_ms: u64,
    /// The highest number of connections open at once. For a merge: the
    /// sum of the shards' peaks (interleaved shards run in lockstep, so their
    /// peaks coincide), never less than the largest sum at a step end.
    pub peak_open: u64,
    /// The schedule asked for (absent in reports of older versions).
    #[serde(default)]
    pub plan: LoadPlanSpec,
    /// Set when this result is one slice of a ramp (`load --shard I/N`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardSpec>,
    /// Set when this result merges shards (`merge`, `load --procs`): each
    /// shard as it saw itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardSummary>,
    /// The generator's resident memory before the first connection (the
    /// sum over the processes of a merge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_start_bytes: Option<u64>,
    /// The connections offered permessage-deflate (`--deflate`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deflate_offered: bool,
    /// The application protocol the connections spoke (`--app`), or the
    /// one the URL names that they did not speak (`--app raw`); absent when
    /// none was recognised before connecting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<LoadApp>,
    /// The kernel's memory before the first connection (machine-wide).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_start: Option<KernelSample>,
    /// With the target on this machine: its listen queues, sampled through
    /// the ramp, and which filled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_queues: Option<crate::machine::ListenQueueWatch>,
    /// How closing every connection went at the end of the ramp (or on
    /// Ctrl-C): how many, how long it took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close: Option<CloseSummary>,
}

impl LoadEvidence {
    /// Attempts over every step.
    pub fn attempted(&self) -> u64 {
        self.steps.iter().map(|s| s.attempted).sum()
    }

    /// Failed attempts over every step.
    pub fn failed(&self) -> u64 {
        self.steps.iter().map(LoadStep::failed).sum()
    }

    /// Drops over every step.
    pub fn dropped(&self) -> u64 {
        self.steps.iter().map(LoadStep::dropped).sum()
    }

    /// Failed attempts over every step, by kind (in the kinds' names' order).
    pub fn failures_by_kind(&self) -> BTreeMap<String, u64> {
        by_name(self.steps.iter().flat_map(|s| &s.failures))
    }

    /// Drops over every step, by kind (in the kinds' names' order).
    pub fn drops_by_kind(&self) -> BTreeMap<String, u64> {
        by_name(self.steps.iter().flat_map(|s| &s.drops))
    }
}

fn by_name<'a, K: std::fmt::Display + 'a>(
    counts: impl Iterator<Item = (&'a K, &'a u64)>,
) -> BTreeMap<String, u64> {
    let mut by = BTreeMap::new();
    for (kind, n) in counts {
        *by.entry(kind.to_string()).or_default() += n;
    }
    by
}

/// The ramp's close waits for its connections' closing handshakes until
/// none has finished for this many seconds…
pub const CLOSE_DRAIN_STALL_SECS: u64 = 10;
/// …and at most this many in all.
pub const CLOSE_DRAIN_MAX_SECS: u64 = 120;

/// How the ramp's own close of its connections went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloseSummary {
    /// Connections open when the close began.
    pub open_at_close: u64,
    /// From the close until every connection had reported its end, or,
    /// once the drain ended ([`CLOSE_DRAIN_STALL_SECS`], [`CLOSE_DRAIN_MAX_SECS`]),
    /// until the hold pool's workers had let go of every socket, in ms.
    pub took_ms: u64,
    /// Connections that had not finished their closing handshake when the
    /// drain ended.
    pub unfinished: u64,
    /// The ramp was cut short by Ctrl-C.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
}

/// The application protocol of a load ramp's connections.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadApp {
    /// Its `--app` id (`socketio`).
    pub protocol: String,
    /// True when every connection spoke it; false when it was only
    /// recognised (`--app raw`).
    pub spoken: bool,
    /// Why this protocol (the URL path, the subprotocol, `--app`).
    pub decided_by: String,
}
