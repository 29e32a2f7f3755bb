//! Lifetimes clustered at one value: a timer in the path. A fixed idle
//! timeout ends every connection that went silent for T, so lifetimes pile
//! up at T (plus the time before the connection went silent, usually ~0
//! for clients that never send); a lifetime cap ends every connection at T
//! whatever the traffic, so nothing outlives T.

use wsdoctor_evidence::logs::{quantile, Bucket, LogEvidence};
use wsdoctor_evidence::{EndedBy, HaproxyTermination};

use super::{count, human_ms, percent, samples, secs_f, Ctx};
use crate::finding::{CauseId, Finding, Severity};
use crate::kb::{kb, Intermediary};
use crate::rules::common::{fix, idle_matches, lifetime_matches, names_with_value, raise_idle_fix};

/// Fewer lifetimes than this say nothing about a timer.
const MIN_SAMPLES: u64 = 10;
/// A cluster must hold at least this share of all lifetimes.
const MIN_SHARE: f64 = 0.2;
/// Lifetimes under a second are connections that failed, not timers.
const MIN_VALUE_MS: i64 = 1000;
/// Clusters reported at most (two hops with two timers happen).
const MAX_CLUSTERS: usize = 2;

/// A pile of lifetimes around one value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cluster {
    /// Median lifetime in the cluster, ms.
    pub(crate) value_ms: u64,
    /// p95 − p5 inside the cluster, ms.
    pub(crate) spread_ms: u64,
    pub(crate) count: u64,
    pub(crate) total: u64,
    /// Lifetimes longer than the cluster.
    pub(crate) longer: u64,
    pub(crate) low_ms: u64,
    pub(crate) high_ms: u64,
}

/// How wide a cluster around `at` may be: timers tick at 1 s or so and log
/// clocks add a few ms, so 1 s, or 2 % for long timers.
fn width(at: i64) -> i64 {
    (at / 50).max(1000)
}

/// The densest windows of lifetimes, best first.
pub(crate) fn clusters(lifetimes: &[Bucket]) -> Vec<Cluster> {
    let total: u64 = lifetimes.iter().map(|b| b.count).sum();
    let mut out = Vec::new();
    if total < MIN_SAMPLES {
        return out;
    }
    let mut left: Vec<Bucket> = lifetimes
        .iter()
        .copied()
        .filter(|b| b.at >= MIN_VALUE_MS)
        .collect();
    while out.len() < MAX_CLUSTERS {
        let Some((lo, hi, n)) = densest(&left) else {
            break;
        };
        if (n as f64) < MIN_SHARE * total as f64 || n < MIN_SAMPLES / 2 {
            break;
        }
        let inside = &left[lo..hi];
        let high_at = inside.last().map_or(0, |b| b.at);
        let value = quantile(inside, 0.5).unwrap_or(0);
        let spread = quantile(inside, 0.95).unwrap_or(0) - quantile(inside, 0.05).unwrap_or(0);
        let longer: u64 = lifetimes
            .iter()
            .filter(|b| b.at > high_at)
            .map(|b| b.count)
            .sum();
        out.push(Cluster {
            value_ms: u64::try_from(value).unwrap_or(0),
            spread_ms: u64::try_from(spread).unwrap_or(0),
            count: n,
            total,
            longer,
            low_ms: u64::try_from(inside.first().map_or(0, |b| b.at)).unwrap_or(0),
            high_ms: u64::try_from(high_at).unwrap_or(0),
        });
        left.drain(lo..hi);
    }
    out
}

/// `(start, end, count)` of the window with the most lifetimes.
fn densest(b: &[Bucket]) -> Option<(usize, usize, u64)> {
    let mut best: Option<(usize, usize, u64)> = None;
    let mut end = 0;
    let mut sum = 0u64;
    for start in 0..b.len() {
        let limit = b[start].at + width(b[start].at);
        while end < b.len() && b[end].at <= limit {
            sum += b[end].count;
            end += 1;
        }
        if best.is_none_or(|(_, _, n)| sum > n) {
            best = Some((start, end, sum));
        }
        sum -= b[start].count;
    }
    best
}

pub(super) fn diagnose(ctx: &Ctx<'_>) -> Vec<Finding> {
    clusters(&ctx.ev.lifetimes)
        .iter()
        .map(|c| finding(ctx, c))
        .collect()
}

/// The HAProxy termination state most connections of this cluster ended
/// with, when it is a data-phase timeout (`cD`/`sD`).
fn haproxy_timeout(ev: &LogEvidence, c: &Cluster) -> Option<(HaproxyTermination, u64)> {
    ev.end_reasons
        .iter()
        .filter(|r| {
            r.lifetime_mode_ms
                .is_some_and(|m| m + 1000 >= c.low_ms && m <= c.high_ms + 1000)
        })
        .find_map(|r| {
            let state = r.reason.haproxy()?;
            state.is_data_phase_timeout().then_some((state, r.count))
        })
}

fn finding(ctx: &Ctx<'_>, c: &Cluster) -> Finding {
    let us = c.value_ms.saturating_mul(1000);
    let idle = idle_matches(us);
    let life = lifetime_matches(us);
    let hap = haproxy_timeout(ctx.ev, c);
    let someone_outlives = c.longer * 100 >= c.total;
    let (id, confidence) = if hap.is_some() {
        (CauseId::IdleTimeout, 0.9)
    } else if someone_outlives {
        (
            CauseId::IdleTimeout,
            if idle.is_empty() { 0.75 } else { 0.85 },
        )
    } else if !life.is_empty() && idle.is_empty() {
        (CauseId::MaxLifetime, 0.7)
    } else {
        (CauseId::IdleTimeout, 0.6)
    };
    let blamed = blame(ctx, &idle, &life, hap.is_some(), id);
    let share = c.count as f64 / c.total as f64;
    let severity = if share >= 0.5 {
        Severity::Error
    } else {
        Severity::Warning
    };
    let what = match id {
        CauseId::MaxLifetime => "Connections are capped at",
        _ => "Connections are closed after",
    };
    let mut f = ctx.finding(
        id,
        severity,
        confidence,
        format!(
            "{what} {}: {} of {} lifetimes end there",
            human_ms(c.value_ms),
            percent(c.count, c.total),
            count(c.total)
        ),
    );
    let value = secs_f(c.value_ms);
    match id {
        CauseId::MaxLifetime => f.measured.max_lifetime_s = Some(value),
        _ => f.measured.idle_timeout_s = Some(value),
    }
    f.measured.spread_s = Some(secs_f(c.spread_ms));
    f.measured.samples = Some(samples(c.count));
    f.measured.connections_affected = Some(c.count);
    f.intermediary = blamed.map(|i| i.id.clone());
    f.evidence.push(format!(
        "{} of {} connections with a known lifetime ({}) lasted {:.2}–{:.2} s",
        count(c.count),
        count(c.total),
        percent(c.count, c.total),
        secs_f(c.low_ms),
        secs_f(c.high_ms)
    ));
    f.evidence.push(format!(
        "median {:.3} s, spread {:.3} s (5th to 95th percentile)",
        value,
        secs_f(c.spread_ms)
    ));
    f.evidence.push(if someone_outlives {
        format!(
            "{} ({}) lived longer: connections that stay busy survive the timer, so it counts idle time",
            count(c.longer),
            percent(c.longer, c.total)
        )
    } else {
        "no connection lived longer: either nothing kept connections busy, or it is a cap on \
         connection age (`wsdoctor idle` tells the two apart)"
            .to_owned()
    });
    if let Some((state, n)) = &hap {
        f.evidence.push(format!(
            "HAProxy logged termination state {state} on {} connections: the {} timeout expired in the data phase",
            count(*n),
            if state.ended_by() == EndedBy::Client {
                "client/tunnel"
            } else {
                "server/tunnel"
            }
        ));
    }
    if !idle.is_empty() {
        f.evidence.push(format!(
            "default idle timeouts at this value: {}",
            names_with_value(&idle, |i| i.idle_timeout_default_s)
        ));
    }
    if !life.is_empty() {
        f.evidence.push(format!(
            "default lifetime caps at this value: {}",
            names_with_value(&life, |i| i.max_lifetime_s)
        ));
    }
    if let Some(p) = ctx.producer {
        f.evidence
            .push(format!("the log is written by {}", p.short_name()));
    }
    f.fix = fixes(blamed, id, c.value_ms);
    f
}

/// Whom to name: the log's writer when its default matches (or HAProxy
/// said so), else the first kb product whose default matches.
fn blame(
    ctx: &Ctx<'_>,
    idle: &[&'static Intermediary],
    life: &[&'static Intermediary],
    haproxy_said: bool,
    id: CauseId,
) -> Option<&'static Intermediary> {
    if haproxy_said {
        return kb().intermediary("haproxy");
    }
    let list = if id == CauseId::MaxLifetime {
        life
    } else {
        idle
    };
    if let Some(p) = ctx.producer.filter(|p| list.iter().any(|i| i.id == p.id)) {
        return Some(p);
    }
    list.iter().copied().find(|i| i.is_proxy())
}

fn fixes(blamed: Option<&'static Intermediary>, id: CauseId, value_ms: u64) -> Vec<crate::Fix> {
    let mut out = Vec::new();
    if id == CauseId::MaxLifetime {
        if let Some(i) = blamed {
            let setting = i
                .max_lifetime_setting
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            out.push(fix(
                &i.id,
                format!(
                    "Raise {}'s connection lifetime limit{setting} if it allows.",
                    i.short_name()
                ),
            ));
        }
        out.push(fix(
            "client",
            format!(
                "Reconnect before the cap: close and reopen the socket well under {}, with \
                 backoff and jitter so clients do not all come back at once.",
                human_ms(value_ms)
            ),
        ));
        return out;
    }
    if let Some(f) = blamed.and_then(raise_idle_fix) {
        out.push(f);
    } else if let Some(i) = blamed {
        out.push(fix(
            &i.id,
            format!(
                "Raise {}'s idle timeout above your heartbeat interval.",
                i.short_name()
            ),
        ));
    }
    // The log measured T: ping at half of it rather than the 25 s default.
    out.push(crate::advice::app::server_ping_fix(
        Some(value_ms.saturating_mul(1000)),
        None,
    ));
    out
}
