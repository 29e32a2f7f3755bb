//! What `wsdoctor logs` read: per-file counts and bounded aggregates of the
//! WebSocket connections the logs record (lifetimes, close times, failed
//! upgrades, per-client reconnect delays, end reasons, error-log events).
//!
//! A log may hold hundreds of millions of lines, so nothing here keeps one
//! entry per line: every collection is bounded by the number of distinct
//! values (lifetime buckets, seconds of the time range, clients, paths), and
//! the caps below bound the rest. Times are Unix milliseconds (UTC) and
//! durations milliseconds: log timestamps carry no finer precision that
//! matters for timers of seconds.

use serde::{Deserialize, Serialize};

use crate::LoggedEnd;

/// Width of a lifetime bucket: 10 ms keeps a 60.00 s timer distinct from a
/// 60.2 s one while a day of lifetimes fits in 8.6 M buckets at most.
pub const LIFETIME_BUCKET_MS: u64 = 10;
/// Width of a close/open-time bucket: 100 ms resolves a reload that ends
/// thousands of connections "at once".
pub const TIMELINE_BUCKET_MS: i64 = 100;
/// How many reconnect delays are kept per client (the first ones: a client's
/// policy shows in its first retries).
pub const MAX_DELAYS_PER_CLIENT: usize = 16;
/// How many malformed lines are kept as samples per file.
pub const MAX_MALFORMED_SAMPLES: usize = 5;
/// How many error-log events are kept (the rest are only counted).
pub const MAX_EVENTS: usize = 10_000;

/// The formats `wsdoctor logs` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// AWS Application Load Balancer access log.
    Alb,
    /// nginx access log (`combined` or a custom `log_format`).
    Nginx,
    /// nginx error log.
    NginxError,
    /// HAProxy log (`option httplog` or `option tcplog`).
    Haproxy,
    /// HTTP Archive from a browser's developer tools.
    Har,
    /// wsdoctor's own JSON Lines events (`serve --events`, `watch --events`).
    Wsdoctor,
}

impl LogFormat {
    /// Every format, in the order `--format` lists them.
    pub const ALL: [LogFormat; 6] = [
        LogFormat::Alb,
        LogFormat::Nginx,
        LogFormat::NginxError,
        LogFormat::Haproxy,
        LogFormat::Har,
        LogFormat::Wsdoctor,
    ];

    /// The spelling of `--format` and of reports.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Alb => "alb",
            LogFormat::Nginx => "nginx",
            LogFormat::NginxError => "nginx-error",
            LogFormat::Haproxy => "haproxy",
            LogFormat::Har => "har",
            LogFormat::Wsdoctor => "wsdoctor",
        }
    }

    /// A name for people: `AWS ALB access log`.
    pub fn describe(self) -> &'static str {
        match self {
            LogFormat::Alb => "AWS ALB access log",
            LogFormat::Nginx => "nginx access log",
            LogFormat::NginxError => "nginx error log",
            LogFormat::Haproxy => "HAProxy log",
            LogFormat::Har => "HAR file",
            LogFormat::Wsdoctor => "wsdoctor events",
        }
    }

    /// The knowledge-base id of the hop that writes this log, when a hop does
    /// (a HAR file is written by the browser, at the client end).
    pub fn intermediary(self) -> Option<&'static str> {
        match self {
            LogFormat::Alb => Some("aws-alb"),
            LogFormat::Nginx | LogFormat::NginxError => Some("nginx"),
            LogFormat::Haproxy => Some("haproxy"),
            LogFormat::Har | LogFormat::Wsdoctor => None,
        }
    }

    /// Parses the `--format` spelling.
    pub fn parse(text: &str) -> Option<LogFormat> {
        LogFormat::ALL.into_iter().find(|f| f.as_str() == text)
    }
}

/// One line that could not be read as the file's format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MalformedLine {
    /// 1-based line number in the (decompressed) file.
    pub line: u64,
    /// Why it was refused (`no timestamp`, `status is not a number`, …).
    pub reason: String,
    /// The start of the line, lossily decoded and escaped for terminals.
    pub text: String,
}

/// What was read from one input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogFile {
    /// The path as the user gave it (`-` for standard input).
    pub path: String,
    /// The format it was read as.
    pub format: LogFormat,
    /// True when the format was detected rather than forced with `--format`.
    pub detected: bool,
    /// True when the input was gzip-compressed.
    pub gzip: bool,
    /// Bytes read after decompression.
    pub bytes: u64,
    /// Lines (or HAR entries) read.
    pub lines: u64,
    /// Entries about WebSockets (upgrade attempts and connections).
    pub websocket_entries: u64,
    /// Entries left out by `--since`, `--until` or `--path`.
    pub filtered_out: u64,
    /// Lines that are not of the format (never fatal).
    pub malformed: u64,
    /// The first few malformed lines.
    pub malformed_samples: Vec<MalformedLine>,
}

/// A count at a point (a lifetime bucket, a moment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// Start of the bucket: ms of lifetime, or Unix ms.
    pub at: i64,
    /// How many fell into it.
    pub count: u64,
}

/// Non-101 answers to upgrade requests, for one status and path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedUpgrade {
    /// The HTTP status the client got (0 when the log shows none).
    pub status: u16,
    /// The request path without its query (which may hold tokens).
    pub path: String,
    /// How many.
    pub count: u64,
    /// The status the backend answered, when the log has it and it differs
    /// from `status` (ALB `target_status_code`, nginx `$upstream_status`).
    pub backend_status: Option<String>,
    /// The hop's own reason, when it logs one (ALB `error_reason`).
    pub reason: Option<String>,
    /// Where it would have gone, when known (ALB target, HAProxy server).
    pub target: Option<String>,
}

/// How connections ended, by the log's own words: HAProxy termination
/// states (`cD`, `sD`, `SD`, …), the ends of wsdoctor's events and ALB
/// `error_reason`s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "EndReasonFields")]
pub struct EndReason {
    /// The format whose vocabulary `reason` is.
    pub format: LogFormat,
    /// The end as logged, typed where the vocabulary is known (serialized
    /// as the log's word).
    pub reason: LoggedEnd,
    /// How many connections ended this way.
    pub count: u64,
    /// The most common lifetime of these connections, at 1 s resolution.
    pub lifetime_mode_ms: Option<u64>,
}

/// [`EndReason`] as the JSON carries it: the word is read in the
/// vocabulary of `format`, which a lone string cannot tell.
#[derive(Deserialize)]
struct EndReasonFields {
    format: LogFormat,
    reason: String,
    count: u64,
    lifetime_mode_ms: Option<u64>,
}

impl From<EndReasonFields> for EndReason {
    fn from(f: EndReasonFields) -> Self {
        EndReason {
            format: f.format,
            reason: LoggedEnd::read(f.format, &f.reason),
            count: f.count,
            lifetime_mode_ms: f.lifetime_mode_ms,
        }
    }
}

/// Connections and failures that ended in one hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourCount {
    /// Unix ms of the start of the hour (UTC).
    pub hour: i64,
    /// WebSocket connections that ended in it.
    pub connections: u64,
    /// Failed upgrades in it.
    pub failed: u64,
}

/// One client's reconnects: the delays between the end of a connection (or
/// attempt) and the start of its next one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientReconnects {
    /// The client as the log names it (an address, or a URL in a HAR file).
    pub client: String,
    /// Connections and attempts seen.
    pub attempts: u64,
    /// Failed upgrades among them.
    pub failed: u64,
    /// The first [`MAX_DELAYS_PER_CLIENT`] delays, ms, in order.
    pub delays_ms: Vec<u64>,
}

/// What an error-log line says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogEventKind {
    /// The server reloaded its configuration or was told to (SIGHUP,
    /// `reconfiguring`): old workers finish their WebSockets and exit.
    Reload,
    /// Workers shutting down or exiting (after a reload, or a stop).
    Shutdown,
    /// `upstream timed out … while proxying upgraded connection`: nginx's
    /// `proxy_read_timeout` ended a WebSocket.
    UpgradedTimeout,
    /// Another error while proxying an upgraded connection (reset, …).
    UpgradedError,
}

/// One line of an error log that matters for drops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEvent {
    /// Unix ms.
    pub at_ms: i64,
    /// What happened.
    pub kind: LogEventKind,
    /// The file it came from.
    pub file: String,
    /// 1-based line number.
    pub line: u64,
    /// The line, cut and escaped.
    pub text: String,
}

/// Everything `wsdoctor logs` learned from its inputs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogEvidence {
    /// One entry per input, in the order given.
    pub files: Vec<LogFile>,
    /// The filters that applied, for people (`since 2026-01-15T14:00:00Z`).
    pub filters: Vec<String>,
    /// WebSocket connections that opened (101, or a tunnel in TCP mode).
    pub connections: u64,
    /// Upgrade requests that did not get a 101.
    pub failed_upgrades_total: u64,
    /// Distinct clients among connections and attempts.
    pub clients: u64,
    /// Earliest entry time seen, Unix ms.
    pub first_ms: Option<i64>,
    /// Latest entry time seen, Unix ms.
    pub last_ms: Option<i64>,
    /// Connection lifetimes, [`LIFETIME_BUCKET_MS`] buckets, ascending; only
    /// connections whose log gives a duration.
    pub lifetimes: Vec<Bucket>,
    /// Close times of connections, [`TIMELINE_BUCKET_MS`] buckets, ascending.
    pub closes: Vec<Bucket>,
    /// Open times of connections and attempts, [`TIMELINE_BUCKET_MS`] buckets.
    pub opens: Vec<Bucket>,
    /// Statuses answered to upgrade requests (101 included), most common first.
    pub statuses: Vec<(u16, u64)>,
    /// Failed upgrades by status and path, most common first.
    pub failed_upgrades: Vec<FailedUpgrade>,
    /// End reasons, most common first.
    pub end_reasons: Vec<EndReason>,
    /// Per-hour counts, ascending.
    pub hours: Vec<HourCount>,
    /// Clients that reconnected at least twice, most attempts first.
    pub reconnects: Vec<ClientReconnects>,
    /// Error-log events (at most [`MAX_EVENTS`]), ascending in time.
    pub events: Vec<LogEvent>,
    /// Error-log events beyond the cap, only counted.
    pub events_dropped: u64,
    /// Upgrade attempts (101s and failures) by the number of connections
    /// open when they were made, from logs with open and close times;
    /// ascending by band, then status. Bands are
    /// [`LogEvidence::concurrency_band_width`] connections wide.
    #[serde(default)]
    pub concurrency: Vec<ConcurrencyBand>,
    /// Width of the concurrency bands (1 until more than
    /// [`MAX_CONCURRENCY_BANDS`] levels were seen).
    #[serde(default)]
    pub concurrency_band_width: u64,
}

/// Most concurrency bands kept; wider bands beyond.
pub const MAX_CONCURRENCY_BANDS: u64 = 1024;

/// Attempts answered `status` while `from`..`from + width` connections were open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConcurrencyBand {
    /// Open connections at the attempt (the band's lowest value).
    pub from: u64,
    /// The answer (101 for a connection that opened, tunnels included).
    pub status: u16,
    /// How many attempts.
    pub count: u64,
}

impl LogEvidence {
    /// Connections with a known lifetime.
    pub fn with_lifetime(&self) -> u64 {
        self.lifetimes.iter().map(|b| b.count).sum()
    }

    /// The lifetime (ms, bucket start) at quantile `q` in 0..=1.
    pub fn lifetime_quantile(&self, q: f64) -> Option<u64> {
        quantile(&self.lifetimes, q).and_then(|v| u64::try_from(v).ok())
    }

    /// The formats read, without repeats, in input order.
    pub fn formats(&self) -> Vec<LogFormat> {
        let mut out: Vec<LogFormat> = Vec::new();
        for f in &self.files {
            if !out.contains(&f.format) {
                out.push(f.format);
            }
        }
        out
    }

    /// The paths of the inputs, joined: the `subject` of findings.
    pub fn subject(&self) -> String {
        let paths: Vec<&str> = self.files.iter().map(|f| f.path.as_str()).collect();
        paths.join(", ")
    }

    /// Lifetime counts over `edges_ms` (ascending): one count per range
    /// `[0, e0)`, `[e0, e1)`, …, `[e_last, ∞)`.
    pub fn lifetime_histogram(&self, edges_ms: &[u64]) -> Vec<u64> {
        let mut counts = vec![0; edges_ms.len() + 1];
        for b in &self.lifetimes {
            let at = u64::try_from(b.at).unwrap_or(0);
            let slot = edges_ms.partition_point(|e| *e <= at);
            counts[slot] += b.count;
        }
        counts
    }
}

impl EndReason {
    /// What the end means, for the vocabularies wsdoctor knows.
    pub fn meaning(&self) -> Option<&'static str> {
        self.reason.meaning()
    }
}

/// `2026-01-15T14:02:11Z` for Unix ms (UTC, second precision).
pub fn format_utc(ms: i64) -> String {
    // H. Hinnant's civil_from_days.
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// The bucket start at quantile `q` of a sorted bucket list.
pub fn quantile(buckets: &[Bucket], q: f64) -> Option<i64> {
    let total: u64 = buckets.iter().map(|b| b.count).sum();
    if total == 0 {
        return None;
    }
    // Nearest-rank: the smallest value with at least q of the mass at or below it.
    let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
    let mut seen = 0;
    for b in buckets {
        seen += b.count;
        if seen >= rank {
            return Some(b.at);
        }
    }
    buckets.last().map(|b| b.at)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn buckets(values: &[(i64, u64)]) -> Vec<Bucket> {
        values
            .iter()
            .map(|&(at, count)| Bucket { at, count })
            .collect()
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let b = buckets(&[(10, 1), (20, 2), (30, 1)]);
        assert_eq!(quantile(&b, 0.0), Some(10));
        assert_eq!(quantile(&b, 0.5), Some(20));
        assert_eq!(quantile(&b, 0.75), Some(20));
        assert_eq!(quantile(&b, 1.0), Some(30));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn histogram_puts_edges_in_the_upper_range() {
        let ev = LogEvidence {
            lifetimes: buckets(&[(0, 1), (999, 1), (1000, 2), (60_000, 3)]),
            ..LogEvidence::default()
        };
        assert_eq!(ev.lifetime_histogram(&[1000, 60_000]), vec![2, 2, 3]);
        assert_eq!(ev.with_lifetime(), 7);
    }

    #[test]
    fn end_reasons_read_back_typed() {
        let json = r#"{"format":"haproxy","reason":"cD","count":3,"lifetime_mode_ms":null}"#;
        let r: EndReason = serde_json::from_str(json).unwrap();
        assert!(r
            .reason
            .haproxy()
            .is_some_and(|t| t.is_data_phase_timeout()));
        assert_eq!(serde_json::to_string(&r).unwrap(), json);
    }

    #[test]
    fn utc_format() {
        assert_eq!(format_utc(1_768_485_731_999), "2026-01-15T14:02:11Z");
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn format_names_round_trip() {
        for f in LogFormat::ALL {
            assert_eq!(LogFormat::parse(f.as_str()), Some(f));
        }
    }
}
