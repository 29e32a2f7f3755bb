//! Mass disconnects: many connections closing within a moment of each other,
//! which no client behaviour explains — a config reload, a deploy, a
//! platform restart. An error log given alongside may name the moment.

use wsdoctor_evidence::logs::{Bucket, LogEvent, LogEventKind, TIMELINE_BUCKET_MS};

use super::{count, percent, samples, Ctx};
use crate::finding::{CauseId, Finding, Severity};
use crate::fingerprint::hops::{self, Observed, Timer};
use crate::fingerprint::Candidate;
use crate::rules::common::{fix, hop_fixes, human};

/// The window a burst is counted in.
const WINDOW_MS: i64 = 1000;
/// Fewer closes than this in a second are never a "mass" disconnect.
const MIN_CLOSES: u64 = 20;
/// A burst must be this many times the average rate.
const RATE_FACTOR: f64 = 10.0;
/// Bursts reported at most.
const MAX_BURSTS: usize = 3;
/// Bursts closer than this are one event.
const SEPARATION_MS: i64 = 30_000;
/// How far from a burst a reload line may be to be named.
const EVENT_RADIUS_MS: i64 = 10 * 60 * 1000;
/// An access log names the hop it came from about as surely as a header.
const PRODUCER_CONFIDENCE: f64 = 0.8;
/// Drain directives whose fix is given.
const DRAIN_FIXES: usize = 2;
/// Candidate hops listed in the evidence.
const SHOWN_HOPS: usize = 3;
/// Closes sooner than this after a reload are the reload, not a drain timer.
const MIN_DRAIN_US: u64 = 10_000_000;
/// How long after a burst reconnects are counted.
const RECONNECT_WINDOW_MS: i64 = 10_000;

/// One burst of closes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Burst {
    /// First and last close bucket in the burst (Unix ms).
    pub(crate) from_ms: i64,
    pub(crate) to_ms: i64,
    pub(crate) closes: u64,
}

/// Bursts of closes in a timeline, largest first.
pub(crate) fn bursts(closes: &[Bucket]) -> Vec<Burst> {
    let total: u64 = closes.iter().map(|b| b.count).sum();
    let (Some(first), Some(last)) = (closes.first(), closes.last()) else {
        return Vec::new();
    };
    // f64: the times are the log's, and an absurd one must not overflow.
    let span_s = ((last.at as f64 - first.at as f64) / 1000.0).max(1.0);
    let per_second = total as f64 / span_s;
    let threshold = (per_second * RATE_FACTOR).max(MIN_CLOSES as f64);
    // Per-bucket level that still belongs to a burst: well above average.
    let bucket_level = per_second * (TIMELINE_BUCKET_MS as f64 / 1000.0) * 3.0;
    let mut windows: Vec<(usize, u64)> = Vec::new();
    let mut end = 0;
    let mut sum = 0;
    for start in 0..closes.len() {
        while end < closes.len() && closes[end].at < closes[start].at + WINDOW_MS {
            sum += closes[end].count;
            end += 1;
        }
        if sum as f64 >= threshold {
            windows.push((start, sum));
        }
        sum -= closes[start].count;
    }
    windows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut out: Vec<Burst> = Vec::new();
    for (start, peak) in windows {
        let at = closes[start].at;
        if out.len() == MAX_BURSTS {
            break;
        }
        if out
            .iter()
            .any(|b| at > b.from_ms - SEPARATION_MS && at < b.to_ms + SEPARATION_MS)
        {
            continue;
        }
        // The burst: loud buckets within a few seconds of the peak window,
        // loud both against the average and against the burst itself (so
        // the steady trickle around a burst is not counted in it).
        let level = bucket_level.max(peak as f64 / 50.0);
        let loud: Vec<&Bucket> = closes
            .iter()
            .filter(|b| b.at >= at - 2000 && b.at < at + WINDOW_MS + 2000)
            .filter(|b| b.count as f64 > level)
            .collect();
        let (Some(f), Some(l)) = (loud.first(), loud.last()) else {
            continue;
        };
        out.push(Burst {
            from_ms: f.at,
            to_ms: l.at + TIMELINE_BUCKET_MS,
            closes: loud.iter().map(|b| b.count).sum(),
        });
    }
    out
}

pub(super) fn diagnose(ctx: &Ctx<'_>) -> Vec<Finding> {
    bursts(&ctx.ev.closes)
        .iter()
        .map(|b| finding(ctx, b))
        .collect()
}

/// The reload or shutdown line nearest to the burst.
fn nearest_event<'e>(events: &'e [LogEvent], burst: &Burst) -> Option<&'e LogEvent> {
    events
        .iter()
        .filter(|e| matches!(e.kind, LogEventKind::Reload | LogEventKind::Shutdown))
        .filter(|e| (e.at_ms - burst.from_ms).abs() <= EVENT_RADIUS_MS)
        .min_by_key(|e| {
            // A reload line outranks the shutdown lines that follow it.
            let penalty = i64::from(e.kind == LogEventKind::Shutdown) * 5_000;
            (e.at_ms - burst.from_ms).abs() + penalty
        })
}

/// The last reload line before the burst: a drain timer counts from it.
fn reload_before<'e>(events: &'e [LogEvent], burst: &Burst) -> Option<&'e LogEvent> {
    events
        .iter()
        .filter(|e| e.kind == LogEventKind::Reload)
        .filter(|e| e.at_ms <= burst.from_ms && burst.from_ms - e.at_ms <= EVENT_RADIUS_MS)
        .max_by_key(|e| e.at_ms)
}

/// The hops whose reload drain may have ended these connections, ranked by
/// the time since the reload and the log's producer.
fn drain_hops(ctx: &Ctx<'_>, timer: Timer) -> Vec<hops::Hop> {
    let named: Vec<Candidate> = ctx
        .producer
        .map(|p| Candidate {
            id: p.id.clone(),
            confidence: PRODUCER_CONFIDENCE,
            evidence: format!("the access log is {}'s", p.short_name()),
            behind_front: false,
            named_by_server_header: false,
        })
        .into_iter()
        .collect();
    hops::rank(&Observed {
        timer: Some(timer),
        shape: None,
        named: &named,
        front: None,
    })
}

fn finding(ctx: &Ctx<'_>, b: &Burst) -> Finding {
    let ev = ctx.ev;
    let window_ms = (b.to_ms - b.from_ms).max(TIMELINE_BUCKET_MS);
    let at = wsdoctor_evidence::logs::format_utc(b.from_ms);
    let event = nearest_event(&ev.events, b);
    let mut title = format!(
        "{} connections closed within {:.1} s at {at}",
        count(b.closes),
        window_ms as f64 / 1000.0
    );
    if let Some(e) = event {
        let what = match e.kind {
            LogEventKind::Reload => "a reload",
            _ => "a shutdown",
        };
        title.push_str(&format!(": {what} {}", relative(e.at_ms - b.from_ms)));
    }
    let severity = if b.closes >= 50 {
        Severity::Error
    } else {
        Severity::Warning
    };
    let mut f = ctx.finding(
        CauseId::MassDisconnect,
        severity,
        if event.is_some() { 0.9 } else { 0.75 },
        title,
    );
    f.measured.connections_affected = Some(b.closes);
    f.measured.cluster_window_s = Some(window_ms as f64 / 1000.0);
    f.measured.samples = Some(samples(b.closes));
    let reload = reload_before(&ev.events, b);
    let since_reload_us = reload.map(|r| u64::try_from(b.from_ms - r.at_ms).unwrap_or(0) * 1000);
    let timer = Timer::AfterReload(since_reload_us);
    let ranked = drain_hops(ctx, timer);
    f.intermediary = hops::confident(&ranked)
        .map(|h| h.intermediary)
        .or(ctx.producer)
        .map(|i| i.id.clone());
    f.evidence.push(format!(
        "{} of all {} connections in the logs ended in these {:.1} s",
        percent(b.closes, ev.connections),
        count(ev.connections),
        window_ms as f64 / 1000.0
    ));
    if let Some(e) = event {
        f.evidence.push(format!(
            "{}:{}: {} ({})",
            e.file,
            e.line,
            e.text,
            relative(e.at_ms - b.from_ms)
        ));
    }
    // Right after a reload is the reload itself; a drain runs for a while.
    let drained = since_reload_us.filter(|us| *us >= MIN_DRAIN_US);
    if let (Some(r), Some(us)) = (reload, drained) {
        f.evidence.push(format!(
            "the closes came {} after the reload at {}:{}: old workers are given a fixed time to finish, then closed",
            human(us),
            r.file,
            r.line
        ));
    }
    f.evidence.extend(hops::lines(&ranked, SHOWN_HOPS));
    let timeouts = ev
        .events
        .iter()
        .filter(|e| e.kind == LogEventKind::UpgradedTimeout)
        .filter(|e| e.at_ms >= b.from_ms - 1000 && e.at_ms <= b.to_ms + 1000)
        .count();
    if timeouts > 0 {
        f.evidence.push(format!(
            "{timeouts} 'upgrade timed out' errors in the error log at the same time"
        ));
    }
    let reopened: u64 = ev
        .opens
        .iter()
        .filter(|o| o.at >= b.from_ms && o.at < b.to_ms + RECONNECT_WINDOW_MS)
        .map(|o| o.count)
        .sum();
    if reopened > 0 {
        f.evidence.push(format!(
            "{} connections opened in the {} s after: clients reconnected together",
            count(reopened),
            RECONNECT_WINDOW_MS / 1000
        ));
    }
    if ev.events.is_empty() {
        f.evidence.push(
            "no error log given: pass nginx's error.log too to see whether a reload caused it"
                .to_owned(),
        );
    }
    f.fix.push(fix(
        "server",
        "Find what happened at that moment (a deploy, a config reload, a scale-in, a \
         platform restart). Drain instead of dropping: before a process stops, send close \
         1001 or 1012 so clients know to reconnect, and for nginx set worker_shutdown_timeout \
         so old workers do not keep sockets for hours after a reload.",
    ));
    f.fix.extend(hop_fixes(&ranked, timer, DRAIN_FIXES));
    // Without jitter the clients of a mass disconnect come back as a herd.
    f.fix.push(crate::advice::app::full_jitter_fix());
    f
}

/// `1.2 s before`, `at the same moment`, `3.0 s after` (event relative to the burst).
fn relative(delta_ms: i64) -> String {
    let s = delta_ms.abs() as f64 / 1000.0;
    match delta_ms {
        d if d.abs() < 50 => "at the same moment".to_owned(),
        d if d < 0 => format!("{s:.1} s before"),
        _ => format!("{s:.1} s after"),
    }
}
