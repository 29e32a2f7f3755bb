//! The aggregates one chunk of lines adds up to, how chunks merge (in file
//! order, so per-client delays across a chunk boundary are kept), and how
//! the merged whole becomes [`LogEvidence`].
//!
//! Memory is bounded by distinct values: lifetime buckets, timeline buckets,
//! hours, clients and (capped) paths and reasons, never by line count.

use std::collections::HashSet;
use std::hash::BuildHasherDefault;

use wsdoctor_evidence::logs::{
    Bucket, ClientReconnects, ConcurrencyBand, EndReason, FailedUpgrade, HourCount, LogEvent,
    LogEventKind, LogEvidence, LogFormat, MalformedLine, LIFETIME_BUCKET_MS, MAX_CONCURRENCY_BANDS,
    MAX_DELAYS_PER_CLIENT, MAX_EVENTS, MAX_MALFORMED_SAMPLES, TIMELINE_BUCKET_MS,
};
use wsdoctor_evidence::LoggedEnd;

use crate::bytes::{show, FxHasher, FxMap};
use crate::record::{Parsed, Record, Upgrade};

/// Distinct paths kept for failed upgrades and for "maybe" upgrades; the
/// rest are counted under [`OTHER_PATHS`]. Real services have a handful of
/// WebSocket paths; this only stops a crawler's random URLs from growing
/// memory.
const MAX_PATHS: usize = 4096;
/// (path, 100 ms bucket, status) slots kept for failed "maybe" upgrades
/// (about 40 MB at most).
const MAX_MAYBE_ERROR_SLOTS: usize = 1_000_000;
/// Distinct end reasons kept.
const MAX_REASONS: usize = 256;
/// The key that stands for every path past [`MAX_PATHS`].
const OTHER_PATHS: &[u8] = b"(other paths)";
/// Resolution of per-reason lifetimes (for "the connections ended by cD
/// mostly lived 60 s").
const REASON_LIFETIME_BUCKET_MS: u64 = 1000;
const HOUR_MS: i64 = 3_600_000;
/// Longest line kept in a malformed-line sample.
const SAMPLE_CHARS: usize = 160;

type FxSet<T> = HashSet<T, BuildHasherDefault<FxHasher>>;
/// Attempts by (100 ms start bucket, status).
type AttemptsAt = FxMap<(i64, u16), u64>;

/// Which entries count (`--since`, `--until`, `--path`).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Entries written before this Unix ms are left out.
    pub since_ms: Option<i64>,
    /// Entries written at or after this Unix ms are left out.
    pub until_ms: Option<i64>,
    /// Only entries whose path starts with this.
    pub path_prefix: Option<Vec<u8>>,
}

impl Filter {
    fn keeps(&self, r: &Record<'_>) -> bool {
        self.since_ms.is_none_or(|s| r.end_ms >= s)
            && self.until_ms.is_none_or(|u| r.end_ms < u)
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|p| r.path.starts_with(p))
    }

    fn keeps_time(&self, ms: i64) -> bool {
        self.since_ms.is_none_or(|s| ms >= s) && self.until_ms.is_none_or(|u| ms < u)
    }
}

/// Per-file counters of one chunk.
#[derive(Debug, Default)]
pub(crate) struct FileStats {
    pub(crate) lines: u64,
    pub(crate) websocket_entries: u64,
    pub(crate) filtered_out: u64,
    pub(crate) malformed: u64,
    /// Line numbers relative to the chunk until merged.
    pub(crate) samples: Vec<MalformedLine>,
}

impl FileStats {
    /// Adds a later chunk whose first line is line `base + 1` of the file.
    pub(crate) fn merge(&mut self, mut later: FileStats, base: u64) {
        for s in &mut later.samples {
            s.line += base;
        }
        let room = MAX_MALFORMED_SAMPLES.saturating_sub(self.samples.len());
        self.samples.extend(later.samples.into_iter().take(room));
        self.lines += later.lines;
        self.websocket_entries += later.websocket_entries;
        self.filtered_out += later.filtered_out;
        self.malformed += later.malformed;
    }
}

#[derive(Debug, Default)]
struct Failure {
    count: u64,
    backend_status: Option<Box<[u8]>>,
    reason: Option<Box<[u8]>>,
    target: Option<Box<[u8]>>,
}

#[derive(Debug, Default)]
struct ReasonStats {
    format: Option<LogFormat>,
    count: u64,
    lifetimes: FxMap<u64, u64>,
}

#[derive(Debug, Clone)]
struct ClientState {
    attempts: u64,
    failed: u64,
    first_start: i64,
    last_end: i64,
    delays: Vec<u32>,
}

impl ClientState {
    fn push_delay(&mut self, start: i64) {
        // Overlapping connections (two tabs) are not reconnects.
        if start >= self.last_end && self.delays.len() < MAX_DELAYS_PER_CLIENT {
            self.delays
                .push(u32::try_from(start - self.last_end).unwrap_or(u32::MAX));
        }
    }
}

/// An event read from an error log, time still local when `local`.
#[derive(Debug)]
struct PendingEvent {
    event: LogEvent,
    local: bool,
}

/// The aggregates of any run of entries (one chunk, or everything).
#[derive(Debug, Default)]
pub(crate) struct Agg {
    first_ms: Option<i64>,
    last_ms: Option<i64>,
    connections: u64,
    failed_total: u64,
    lifetimes: FxMap<u64, u64>,
    closes: FxMap<i64, u64>,
    opens: FxMap<i64, u64>,
    /// Attempts with a logged start by (start bucket, status; 101 for any
    /// connection that opened), and the close buckets of those that
    /// opened: enough to sweep the open count over time.
    tried_at: AttemptsAt,
    closed_at: FxMap<i64, u64>,
    /// Error answers of "maybe" upgrades by path and (start bucket,
    /// status): attempts on paths that turn out to be WebSocket paths.
    maybe_errors_at: FxMap<Box<[u8]>, AttemptsAt>,
    maybe_error_slots: usize,
    statuses: FxMap<u16, u64>,
    failed: FxMap<Box<[u8]>, FxMap<u16, Failure>>,
    maybe: FxMap<Box<[u8]>, StatusCounts>,
    ws_paths: FxSet<Box<[u8]>>,
    reasons: FxMap<Box<[u8]>, ReasonStats>,
    hours: FxMap<i64, (u64, u64)>,
    clients: FxMap<Box<[u8]>, ClientState>,
    events: Vec<PendingEvent>,
    events_dropped: u64,
    /// The zone of the last nginx `$time_local` seen, to read error-log
    /// times (which have none) in the same zone.
    pub(crate) utc_offset_s: Option<i64>,
}

/// Statuses a capacity limit answers with (a 5xx, 429, or none logged):
/// the only failures the open-connection sweep needs.
fn capacity_status(status: u16) -> bool {
    matches!(status, 0 | 429 | 500..=599)
}

/// Counts per status of one path: a path sees a handful of statuses, where
/// a scan of a short list beats hashing (this runs once per plain line).
#[derive(Debug, Default)]
struct StatusCounts(Vec<(u16, u64)>);

impl StatusCounts {
    #[inline]
    fn bump(&mut self, status: u16, by: u64) {
        match self.0.iter_mut().find(|(s, _)| *s == status) {
            Some((_, n)) => *n += by,
            None => self.0.push((status, by)),
        }
    }
}

fn bump<K: std::hash::Hash + Eq>(map: &mut FxMap<K, u64>, key: K, by: u64) {
    *map.entry(key).or_insert(0) += by;
}

/// A map entry for a borrowed byte key, allocating only on first sight, and
/// folding new keys into `overflow` once `cap` keys exist. (Always `Some`;
/// an `Option` because the borrow checker cannot yet return a `get_mut`
/// borrow conditionally, and a panic is not an option.)
fn slot<'m, V: Default>(
    map: &'m mut FxMap<Box<[u8]>, V>,
    key: &[u8],
    cap: usize,
    overflow: &[u8],
) -> Option<&'m mut V> {
    let key = if map.contains_key(key) || map.len() < cap {
        key
    } else {
        overflow
    };
    if !map.contains_key(key) {
        map.insert(key.into(), V::default());
    }
    map.get_mut(key)
}

impl Agg {
    /// Adds one parsed line.
    pub(crate) fn add(
        &mut self,
        parsed: Parsed<'_>,
        format: LogFormat,
        filter: &Filter,
        stats: &mut FileStats,
        line_no: u64,
        file: &str,
    ) {
        match parsed {
            Parsed::Skip => {}
            Parsed::Record(r) => self.add_record(&r, format, filter, stats),
            Parsed::Event {
                local_ms,
                kind,
                text,
            } => self.add_event(local_ms, kind, text, line_no, file),
        }
    }

    fn add_event(&mut self, local_ms: i64, kind: LogEventKind, text: &[u8], line: u64, file: &str) {
        if self.events.len() >= MAX_EVENTS {
            self.events_dropped += 1;
            return;
        }
        self.events.push(PendingEvent {
            event: LogEvent {
                at_ms: local_ms,
                kind,
                file: file.to_owned(),
                line,
                text: show(text, 200),
            },
            local: true,
        });
    }

    fn add_record(
        &mut self,
        r: &Record<'_>,
        format: LogFormat,
        filter: &Filter,
        stats: &mut FileStats,
    ) {
        if r.upgrade == Upgrade::No && !r.opened() {
            return;
        }
        if !filter.keeps(r) {
            stats.filtered_out += 1;
            return;
        }
        if r.utc_offset_s.is_some() {
            self.utc_offset_s = r.utc_offset_s;
        }
        self.first_ms = Some(self.first_ms.map_or(r.end_ms, |f| f.min(r.end_ms)));
        self.last_ms = Some(self.last_ms.map_or(r.end_ms, |l| l.max(r.end_ms)));
        if r.upgrade == Upgrade::Maybe && !r.opened() {
            // The hot path of plain-HTTP lines in nginx logs: one hash.
            if let Some(statuses) = self.maybe.get_mut(r.path) {
                statuses.bump(r.status, 1);
            } else if let Some(statuses) = slot(&mut self.maybe, r.path, MAX_PATHS, OTHER_PATHS) {
                statuses.bump(r.status, 1);
            }
            if let (Some(start), true) = (r.start_ms, capacity_status(r.status)) {
                let at = (start.div_euclid(TIMELINE_BUCKET_MS), r.status);
                self.add_maybe_error(r.path, at, 1);
            }
            return;
        }
        stats.websocket_entries += 1;
        let start = r.start_ms.unwrap_or(r.end_ms);
        let hour = self.hours.entry(r.end_ms.div_euclid(HOUR_MS)).or_default();
        if r.opened() {
            self.connections += 1;
            hour.0 += 1;
            if r.status != 0 {
                bump(&mut self.statuses, r.status, 1);
            }
            // A path answered 101 is a WebSocket path: its other answers
            // (from logs that cannot mark upgrades) are failed upgrades.
            if !r.path.is_empty() && !self.ws_paths.contains(r.path) {
                self.ws_paths.insert(r.path.into());
            }
            let lifetime = r.lifetime_ms;
            if let Some(life) = lifetime {
                bump(&mut self.lifetimes, life / LIFETIME_BUCKET_MS, 1);
            }
            bump(&mut self.closes, r.end_ms.div_euclid(TIMELINE_BUCKET_MS), 1);
            if let Some(reason) = r.reason.filter(|x| !x.is_empty() && *x != b"-") {
                self.add_reason(reason, format, lifetime);
            }
        } else {
            self.failed_total += 1;
            hour.1 += 1;
            bump(&mut self.statuses, r.status, 1);
            let Some(by_status) = slot(&mut self.failed, r.path, MAX_PATHS, OTHER_PATHS) else {
                return;
            };
            let f = by_status.entry(r.status).or_default();
            f.count += 1;
            let keep = |v: Option<&[u8]>| v.filter(|x| !x.is_empty() && *x != b"-").map(Box::from);
            if f.reason.is_none() {
                f.reason = keep(r.reason);
            }
            if f.target.is_none() {
                f.target = keep(r.target);
            }
            if f.backend_status.is_none() {
                f.backend_status = keep(r.backend_status);
            }
        }
        // Only a logged start is an open time; an end time stands in for
        // it in reconnect delays, never on the timeline.
        if let Some(s) = r.start_ms {
            let bucket = s.div_euclid(TIMELINE_BUCKET_MS);
            bump(&mut self.opens, bucket, 1);
            let status = if r.opened() { 101 } else { r.status };
            bump(&mut self.tried_at, (bucket, status), 1);
            if r.opened() {
                bump(
                    &mut self.closed_at,
                    r.end_ms.div_euclid(TIMELINE_BUCKET_MS),
                    1,
                );
            }
        }
        self.add_client(r, start);
    }

    /// Counts a capacity error of a "maybe" upgrade at (bucket, status),
    /// while fewer than [`MAX_MAYBE_ERROR_SLOTS`] (path, bucket, status)
    /// slots exist: plain paths failing for hours must not grow memory
    /// with the file.
    fn add_maybe_error(&mut self, path: &[u8], at: (i64, u16), n: u64) {
        let full = self.maybe_error_slots >= MAX_MAYBE_ERROR_SLOTS;
        let Some(by_bucket) = slot(&mut self.maybe_errors_at, path, MAX_PATHS, OTHER_PATHS) else {
            return;
        };
        match by_bucket.get_mut(&at) {
            Some(count) => *count += n,
            None if !full => {
                by_bucket.insert(at, n);
                self.maybe_error_slots += 1;
            }
            None => {}
        }
    }

    fn add_reason(&mut self, reason: &[u8], format: LogFormat, lifetime: Option<u64>) {
        let Some(stats) = slot(&mut self.reasons, reason, MAX_REASONS, b"(other)") else {
            return;
        };
        stats.format.get_or_insert(format);
        stats.count += 1;
        if let Some(life) = lifetime {
            bump(&mut stats.lifetimes, life / REASON_LIFETIME_BUCKET_MS, 1);
        }
    }

    fn add_client(&mut self, r: &Record<'_>, start: i64) {
        let failed = u64::from(!r.opened());
        match self.clients.get_mut(r.client) {
            Some(c) => {
                c.push_delay(start);
                c.attempts += 1;
                c.failed += failed;
                c.last_end = c.last_end.max(r.end_ms);
            }
            None => {
                self.clients.insert(
                    r.client.into(),
                    ClientState {
                        attempts: 1,
                        failed,
                        first_start: start,
                        last_end: r.end_ms,
                        delays: Vec::new(),
                    },
                );
            }
        }
    }

    /// Makes event line numbers (relative to a block) relative to the file,
    /// the block starting after line `base`.
    pub(crate) fn shift_event_lines(&mut self, base: u64) {
        for e in &mut self.events {
            e.event.line += base;
        }
    }

    /// Adds the aggregates of entries that come after these ones.
    pub(crate) fn merge(&mut self, later: Agg) {
        self.first_ms = min_opt(self.first_ms, later.first_ms);
        self.last_ms = later.last_ms.max(self.last_ms);
        self.connections += later.connections;
        self.failed_total += later.failed_total;
        for (k, v) in later.lifetimes {
            bump(&mut self.lifetimes, k, v);
        }
        for (k, v) in later.closes {
            bump(&mut self.closes, k, v);
        }
        for (k, v) in later.opens {
            bump(&mut self.opens, k, v);
        }
        for (k, v) in later.tried_at {
            bump(&mut self.tried_at, k, v);
        }
        for (k, v) in later.closed_at {
            bump(&mut self.closed_at, k, v);
        }
        for (path, by_bucket) in later.maybe_errors_at {
            for (at, n) in by_bucket {
                self.add_maybe_error(&path, at, n);
            }
        }
        for (k, v) in later.statuses {
            bump(&mut self.statuses, k, v);
        }
        for (path, statuses) in later.failed {
            let Some(mine) = slot(&mut self.failed, &path, MAX_PATHS, OTHER_PATHS) else {
                continue;
            };
            for (status, f) in statuses {
                let m = mine.entry(status).or_default();
                m.count += f.count;
                m.reason = m.reason.take().or(f.reason);
                m.target = m.target.take().or(f.target);
                m.backend_status = m.backend_status.take().or(f.backend_status);
            }
        }
        for (path, statuses) in later.maybe {
            let Some(mine) = slot(&mut self.maybe, &path, MAX_PATHS, OTHER_PATHS) else {
                continue;
            };
            for (status, n) in statuses.0 {
                mine.bump(status, n);
            }
        }
        self.ws_paths.extend(later.ws_paths);
        for (reason, r) in later.reasons {
            let Some(mine) = slot(&mut self.reasons, &reason, MAX_REASONS, b"(other)") else {
                continue;
            };
            mine.format = mine.format.or(r.format);
            mine.count += r.count;
            for (k, v) in r.lifetimes {
                bump(&mut mine.lifetimes, k, v);
            }
        }
        for (hour, (c, f)) in later.hours {
            let mine = self.hours.entry(hour).or_default();
            mine.0 += c;
            mine.1 += f;
        }
        for (client, c) in later.clients {
            match self.clients.get_mut(&client) {
                Some(mine) => {
                    mine.push_delay(c.first_start);
                    for d in c.delays {
                        if mine.delays.len() < MAX_DELAYS_PER_CLIENT {
                            mine.delays.push(d);
                        }
                    }
                    mine.attempts += c.attempts;
                    mine.failed += c.failed;
                    mine.last_end = mine.last_end.max(c.last_end);
                }
                None => {
                    self.clients.insert(client, c);
                }
            }
        }
        let room = MAX_EVENTS.saturating_sub(self.events.len());
        let extra = later.events.len().saturating_sub(room) as u64;
        self.events.extend(later.events.into_iter().take(room));
        self.events_dropped += later.events_dropped + extra;
        self.utc_offset_s = later.utc_offset_s.or(self.utc_offset_s);
    }

    /// The evidence of everything added. Paths answered 101 somewhere turn
    /// their "maybe" entries into failed upgrades; error-log times are moved
    /// into the access logs' zone.
    pub(crate) fn finish(mut self, filter: &Filter) -> LogEvidence {
        self.count_maybe_on_websocket_paths();
        let (concurrency, concurrency_band_width) = concurrency_bands(
            std::mem::take(&mut self.tried_at),
            std::mem::take(&mut self.closed_at),
        );
        let offset_ms = self.utc_offset_s.unwrap_or(0) * 1000;
        let mut statuses: Vec<(u16, u64)> = self.statuses.into_iter().collect();
        statuses.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        LogEvidence {
            files: Vec::new(),
            filters: Vec::new(),
            connections: self.connections,
            failed_upgrades_total: self.failed_total,
            clients: self.clients.len() as u64,
            first_ms: self.first_ms,
            last_ms: self.last_ms,
            lifetimes: sorted_buckets(self.lifetimes, LIFETIME_BUCKET_MS as i64),
            closes: sorted_buckets(self.closes, TIMELINE_BUCKET_MS),
            opens: sorted_buckets(self.opens, TIMELINE_BUCKET_MS),
            statuses,
            failed_upgrades: failed_upgrades(self.failed),
            end_reasons: end_reasons(self.reasons),
            hours: hour_counts(self.hours),
            reconnects: reconnects(self.clients),
            events: events_in_utc(self.events, offset_ms, filter),
            events_dropped: self.events_dropped,
            concurrency,
            concurrency_band_width,
        }
    }

    /// Moves the "maybe" entries of paths answered 101 somewhere into the
    /// failed upgrades and the open-connection sweep: on a WebSocket path,
    /// an error answer is a failed upgrade.
    fn count_maybe_on_websocket_paths(&mut self) {
        let ws_paths = std::mem::take(&mut self.ws_paths);
        for (path, statuses) in std::mem::take(&mut self.maybe) {
            if !ws_paths.contains(&path) {
                continue;
            }
            let Some(by_status) = slot(&mut self.failed, &path, MAX_PATHS, OTHER_PATHS) else {
                continue;
            };
            for (status, n) in statuses.0 {
                by_status.entry(status).or_default().count += n;
                bump(&mut self.statuses, status, n);
                self.failed_total += n;
            }
        }
        for (path, by_bucket) in std::mem::take(&mut self.maybe_errors_at) {
            if ws_paths.contains(&path) {
                for (k, v) in by_bucket {
                    bump(&mut self.tried_at, k, v);
                }
            }
        }
    }
}

/// Error-log events in UTC (local times moved by `offset_ms`), kept by the
/// time filter, oldest first.
fn events_in_utc(pending: Vec<PendingEvent>, offset_ms: i64, filter: &Filter) -> Vec<LogEvent> {
    let mut events: Vec<LogEvent> = pending
        .into_iter()
        .map(|p| {
            let mut e = p.event;
            if p.local {
                e.at_ms -= offset_ms;
            }
            e
        })
        .filter(|e| filter.keeps_time(e.at_ms))
        .collect();
    events.sort_by_key(|e| e.at_ms);
    events
}

/// Failed upgrades by path and status, most common first.
fn failed_upgrades(failed: FxMap<Box<[u8]>, FxMap<u16, Failure>>) -> Vec<FailedUpgrade> {
    let mut out: Vec<FailedUpgrade> = failed
        .into_iter()
        .flat_map(|(path, by_status)| {
            let path = show(&path, 200);
            by_status.into_iter().map(move |(status, f)| FailedUpgrade {
                status,
                path: path.clone(),
                count: f.count,
                backend_status: f.backend_status.map(|b| show(&b, 40)),
                reason: f.reason.map(|b| show(&b, 80)),
                target: f.target.map(|b| show(&b, 80)),
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then(a.status.cmp(&b.status))
            .then(a.path.cmp(&b.path))
    });
    out
}

/// End reasons, most common first (then by the log's word), each read in
/// its format's vocabulary once here rather than once per line.
fn end_reasons(reasons: FxMap<Box<[u8]>, ReasonStats>) -> Vec<EndReason> {
    let mut words: Vec<(String, ReasonStats)> = reasons
        .into_iter()
        .map(|(reason, r)| (show(&reason, 80), r))
        .collect();
    words.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(&b.0)));
    words
        .into_iter()
        .map(|(word, r)| {
            let format = r.format.unwrap_or(LogFormat::Haproxy);
            EndReason {
                format,
                reason: LoggedEnd::read(format, &word),
                count: r.count,
                lifetime_mode_ms: r
                    .lifetimes
                    .iter()
                    .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                    .map(|(k, _)| k * REASON_LIFETIME_BUCKET_MS),
            }
        })
        .collect()
}

/// Connections and failures per hour, in time order.
fn hour_counts(hours: FxMap<i64, (u64, u64)>) -> Vec<HourCount> {
    let mut out: Vec<HourCount> = hours
        .into_iter()
        .map(|(h, (connections, failed))| HourCount {
            hour: h * HOUR_MS,
            connections,
            failed,
        })
        .collect();
    out.sort_by_key(|h| h.hour);
    out
}

/// Clients that reconnected at least twice, busiest first.
fn reconnects(clients: FxMap<Box<[u8]>, ClientState>) -> Vec<ClientReconnects> {
    let mut out: Vec<ClientReconnects> = clients
        .into_iter()
        .filter(|(_, c)| c.delays.len() >= 2)
        .map(|(client, c)| ClientReconnects {
            client: show(&client, 120),
            attempts: c.attempts,
            failed: c.failed,
            delays_ms: c.delays.into_iter().map(u64::from).collect(),
        })
        .collect();
    out.sort_by(|a, b| b.attempts.cmp(&a.attempts).then(a.client.cmp(&b.client)));
    out
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn sorted_buckets<K: Copy + Into<i128>>(map: FxMap<K, u64>, width: i64) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = map
        .into_iter()
        .filter_map(|(k, count)| {
            let at = i64::try_from(k.into() * i128::from(width)).ok()?;
            Some(Bucket { at, count })
        })
        .collect();
    out.sort_by_key(|b| b.at);
    out
}

/// A malformed-line sample (line number relative to its chunk).
pub(crate) fn malformed(stats: &mut FileStats, line_no: u64, line: &[u8], reason: &str) {
    stats.malformed += 1;
    if stats.samples.len() < MAX_MALFORMED_SAMPLES {
        stats.samples.push(MalformedLine {
            line: line_no,
            reason: reason.to_owned(),
            text: show(line, SAMPLE_CHARS),
        });
    }
}

/// Sweeps the open count over 100 ms buckets: each attempt is counted at the
/// number of connections open when its bucket began (opens and closes of
/// the same bucket apply after it). Returns the bands and their width.
fn concurrency_bands(
    tried_at: FxMap<(i64, u16), u64>,
    closed_at: FxMap<i64, u64>,
) -> (Vec<ConcurrencyBand>, u64) {
    let mut tried: Vec<((i64, u16), u64)> = tried_at.into_iter().collect();
    tried.sort_unstable();
    let mut closes: Vec<(i64, u64)> = closed_at.into_iter().collect();
    closes.sort_unstable();
    let mut at_level: Vec<(u64, u16, u64)> = Vec::with_capacity(tried.len());
    let (mut open, mut t, mut c) = (0u64, 0, 0);
    while t < tried.len() || c < closes.len() {
        let bucket = match (tried.get(t), closes.get(c)) {
            (Some(a), Some(b)) => a.0 .0.min(b.0),
            (Some(a), None) => a.0 .0,
            (None, Some(b)) => b.0,
            (None, None) => break,
        };
        let mut opened = 0;
        while let Some(&((b, status), n)) = tried.get(t) {
            if b != bucket {
                break;
            }
            at_level.push((open, status, n));
            if status == 101 {
                opened += n;
            }
            t += 1;
        }
        let mut closed = 0;
        while let Some(&(b, n)) = closes.get(c) {
            if b != bucket {
                break;
            }
            closed += n;
            c += 1;
        }
        open = (open + opened).saturating_sub(closed);
    }
    let max = at_level.iter().map(|l| l.0).max().unwrap_or(0);
    let width = (max + 1).div_ceil(MAX_CONCURRENCY_BANDS).max(1);
    let mut bands: FxMap<(u64, u16), u64> = FxMap::default();
    for (level, status, n) in at_level {
        bump(&mut bands, (level / width * width, status), n);
    }
    let mut out: Vec<ConcurrencyBand> = bands
        .into_iter()
        .map(|((from, status), count)| ConcurrencyBand {
            from,
            status,
            count,
        })
        .collect();
    out.sort_unstable_by_key(|b| (b.from, b.status));
    (out, width)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn band(from: u64, status: u16, count: u64) -> ConcurrencyBand {
        ConcurrencyBand {
            from,
            status,
            count,
        }
    }

    /// Three connections open in buckets 0, 1, 2 and close in bucket 5; a
    /// 503 in bucket 3 sees three open, one in bucket 6 none; opens and
    /// closes of an attempt's own bucket count after it.
    #[test]
    fn the_sweep_counts_open_connections_at_each_attempt() {
        let mut tried = AttemptsAt::default();
        let mut closed = FxMap::default();
        for b in 0..3 {
            tried.insert((b, 101), 1);
        }
        closed.insert(5, 3);
        tried.insert((3, 503), 2);
        tried.insert((5, 503), 1);
        tried.insert((6, 503), 1);
        let (bands, width) = concurrency_bands(tried, closed);
        assert_eq!(width, 1);
        assert_eq!(
            bands,
            vec![
                band(0, 101, 1),
                band(0, 503, 1),
                band(1, 101, 1),
                band(2, 101, 1),
                band(3, 503, 3),
            ]
        );
    }

    /// Past `MAX_CONCURRENCY_BANDS` levels, bands widen.
    #[test]
    fn many_levels_make_wider_bands() {
        let mut tried = AttemptsAt::default();
        for b in 0..3000 {
            tried.insert((b, 101), 1);
        }
        let (bands, width) = concurrency_bands(tried, FxMap::default());
        assert_eq!(width, 3);
        assert_eq!(bands.len(), 1000);
        assert!(bands.iter().all(|b| b.count == 3 && b.from % 3 == 0));
    }
}
