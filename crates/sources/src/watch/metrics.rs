//! The Prometheus metrics of a watch (prometheus-client, OpenMetrics text).
//! Labels are bounded: arm, transport, close code class, cause id; never a
//! URL or a connection.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of the drop counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct DropLabels {
    pub(crate) arm: String,
    /// `eof`, `reset`, `half-open`, `tls`, `close-frame`, `other`, `handshake-failed`.
    pub(crate) how: String,
    /// The close code for close frames, else empty; codes are a bounded set.
    pub(crate) code: String,
}

/// Labels of the current-findings gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct FindingLabels {
    pub(crate) id: String,
    pub(crate) severity: String,
}

/// Labels of the open-connections gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ArmLabels {
    pub(crate) arm: String,
}

/// Every metric of a watch.
#[derive(Debug)]
pub struct WatchMetrics {
    registry: Registry,
    pub(crate) open: Family<ArmLabels, Gauge>,
    pub(crate) drops: Family<DropLabels, Counter>,
    pub(crate) reconnects: Counter,
    pub(crate) stalls: Counter,
    pub(crate) handshake_seconds: Histogram,
    pub(crate) pong_rtt_seconds: Histogram,
    pub(crate) lifetime_seconds: Histogram,
    pub(crate) last_drop: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub(crate) findings: Family<FindingLabels, Gauge>,
}

impl Default for WatchMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("wsdoctor_watch");
        let open = Family::<ArmLabels, Gauge>::default();
        let drops = Family::<DropLabels, Counter>::default();
        let reconnects = Counter::default();
        let stalls = Counter::default();
        let handshake_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 14));
        let pong_rtt_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        let lifetime_seconds = Histogram::new([
            1.0, 5.0, 15.0, 30.0, 55.0, 60.0, 90.0, 100.0, 120.0, 240.0, 300.0, 350.0, 600.0,
            1800.0, 3600.0, 7200.0, 14400.0, 86400.0,
        ]);
        let last_drop = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        let findings = Family::<FindingLabels, Gauge>::default();
        registry.register(
            "connections_open",
            "WebSocket connections open now, by arm",
            open.clone(),
        );
        registry.register(
            "drops",
            "Connections ended by the path, and reconnects that failed",
            drops.clone(),
        );
        registry.register("reconnects", "Reconnect attempts", reconnects.clone());
        registry.register(
            "stalls",
            "Connections whose messages stopped while pongs kept coming",
            stalls.clone(),
        );
        registry.register(
            "handshake_seconds",
            "Time from connect start to the 101",
            handshake_seconds.clone(),
        );
        registry.register(
            "pong_rtt_seconds",
            "Round trip of our pings",
            pong_rtt_seconds.clone(),
        );
        registry.register(
            "connection_lifetime_seconds",
            "How long connections lived before the path ended them",
            lifetime_seconds.clone(),
        );
        registry.register(
            "last_drop_timestamp_seconds",
            "Unix time of the last drop",
            last_drop.clone(),
        );
        registry.register(
            "finding",
            "Current findings of the rolling window (1 while present)",
            findings.clone(),
        );
        WatchMetrics {
            registry,
            open,
            drops,
            reconnects,
            stalls,
            handshake_seconds,
            pong_rtt_seconds,
            lifetime_seconds,
            last_drop,
            findings,
        }
    }
}

impl WatchMetrics {
    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// The metrics in the classic Prometheus text format (0.0.4), for
    /// scrapers and tools (promtool) that do not ask for OpenMetrics: counter
    /// families take their `_total` name and the OpenMetrics-only lines go.
    pub fn encode_prometheus(&self) -> String {
        let open = self.encode();
        let counters: Vec<String> = open
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.strip_suffix(" counter"))
            .map(str::to_owned)
            .collect();
        let mut out = String::with_capacity(open.len());
        for line in open.lines() {
            if line == "# EOF" || line.starts_with("# UNIT ") {
                continue;
            }
            let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
                let rest = line.strip_prefix(prefix)?;
                let (name, tail) = rest.split_once(' ')?;
                counters
                    .iter()
                    .any(|c| c == name)
                    .then(|| format!("{prefix}{name}_total {tail}"))
            });
            out.push_str(renamed.as_deref().unwrap_or(line));
            out.push('\n');
        }
        out
    }

    /// Replaces the current-findings gauge with `(id, severity)` pairs.
    pub fn set_findings(&self, current: &[(String, String)]) {
        self.findings.clear();
        for (id, severity) in current {
            self.findings
                .get_or_create(&FindingLabels {
                    id: id.clone(),
                    severity: severity.clone(),
                })
                .set(1);
        }
    }
}
