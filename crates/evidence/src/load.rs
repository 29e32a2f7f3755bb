//! What a load ramp observed: per step, how many connections were attempted,
//! opened, failed (and how), dropped while held, and the latency
//! percentiles; plus the generator's own limits, so they are never blamed on
//! the server.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
}

/// A failure seen in a step, with one example of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureSample {
    /// The kind (`refused`, `timeout`, `http-503`, `tls`, `reset`, `local-file-descriptors`, …).
    pub kind: String,
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
    pub failures: BTreeMap<String, u64>,
    /// The first failure of each kind in this step.
    pub failure_samples: Vec<FailureSample>,
    /// Connections (of any step) dropped during this step's hold, by how.
    pub drops: BTreeMap<String, u64>,
    /// Connections open when the step's hold ended.
    pub open_at_end: u64,
    /// Handshake latency (connect start to 101) of this step's connections.
    pub handshake: Latency,
    /// Echo round trips measured during this step.
    pub echo_rtt: Latency,
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
    /// The highest number of connections open at once.
    pub peak_open: u64,
}
