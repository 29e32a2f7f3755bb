//! Failures that rise with concurrent connections: upgrade attempts made
//! while few connections were open all succeed, and once the open count
//! passes a level a clear share of them fail with one status. That is a
//! capacity limit (worker connections, maxconn, open files), not a broken
//! backend, which fails at any load.

use wsdoctor_evidence::logs::{ConcurrencyBand, LogEvidence};

use super::{count, percent, samples, Ctx};
use crate::finding::{CauseId, Finding, Severity};
use crate::rules::common::fix;

/// Attempts needed below the step, so "no failures" means something.
const MIN_BELOW: u64 = 50;
/// Attempts needed at and above the step.
const MIN_ABOVE: u64 = 20;
/// Failures of the status needed above the step.
const MIN_FAILED_ABOVE: u64 = 10;
/// Below the step the status is (nearly) absent…
const MAX_RATE_BELOW: f64 = 0.02;
/// …above it, it answers at least this share of attempts…
const MIN_RATE_ABOVE: f64 = 0.2;
/// …and at least this many times the share below.
const MIN_STEP: f64 = 5.0;

/// Statuses a capacity limit answers with: 5xx from a proxy or server out
/// of room, 429 from a limiter, 0 when the hop gave up without one.
fn capacity_status(status: u16) -> bool {
    matches!(status, 0 | 429 | 500..=599)
}

/// A step for one status: the concurrency the failures start at, the
/// rates below and above, and the attempts on each side.
#[derive(Debug, Clone, Copy)]
struct Step {
    status: u16,
    split: u64,
    limit: u64,
    below: (u64, u64),
    above: (u64, u64),
}

fn rate((failed, attempts): (u64, u64)) -> f64 {
    failed as f64 / attempts.max(1) as f64
}

/// The best step of `status` over the bands, if one passes every test.
fn step_for(levels: &[(u64, u64)], bands: &[ConcurrencyBand], status: u16) -> Option<Step> {
    let failed_at = |from: u64| -> u64 {
        bands
            .iter()
            .filter(|b| b.from == from && b.status == status)
            .map(|b| b.count)
            .sum()
    };
    let failed: Vec<u64> = levels.iter().map(|(from, _)| failed_at(*from)).collect();
    let total_attempts: u64 = levels.iter().map(|l| l.1).sum();
    let total_failed: u64 = failed.iter().sum();
    let mut best: Option<(f64, Step)> = None;
    let (mut attempts_below, mut failed_below) = (0, 0);
    for (i, (from, attempts)) in levels.iter().enumerate() {
        let below = (failed_below, attempts_below);
        let above = (total_failed - failed_below, total_attempts - attempts_below);
        attempts_below += attempts;
        failed_below += failed[i];
        let passes = below.1 >= MIN_BELOW
            && above.1 >= MIN_ABOVE
            && above.0 >= MIN_FAILED_ABOVE
            && rate(below) <= MAX_RATE_BELOW
            && rate(above) >= MIN_RATE_ABOVE
            && rate(above) >= MIN_STEP * rate(below);
        if !passes {
            continue;
        }
        let gap = rate(above) - rate(below);
        if best.is_none_or(|(g, _)| gap > g) {
            // The limit: the open count at the median failure above the step.
            let mut seen = 0;
            let half = above.0.div_ceil(2);
            let limit = levels[i..]
                .iter()
                .zip(&failed[i..])
                .find(|(_, f)| {
                    seen += **f;
                    seen >= half
                })
                .map_or(*from, |(l, _)| l.0);
            best = Some((
                gap,
                Step {
                    status,
                    split: *from,
                    limit,
                    below,
                    above,
                },
            ));
        }
    }
    best.map(|(_, s)| s)
}

/// Attempts per band, ascending.
fn levels(ev: &LogEvidence) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for b in &ev.concurrency {
        match out.last_mut() {
            Some(last) if last.0 == b.from => last.1 += b.count,
            _ => out.push((b.from, b.count)),
        }
    }
    out
}

pub(super) fn diagnose(ctx: &Ctx<'_>) -> Vec<Finding> {
    let ev = ctx.ev;
    let levels = levels(ev);
    let mut statuses: Vec<u16> = ev
        .concurrency
        .iter()
        .map(|b| b.status)
        .filter(|s| capacity_status(*s))
        .collect();
    statuses.sort_unstable();
    statuses.dedup();
    let mut steps: Vec<Step> = statuses
        .iter()
        .filter_map(|s| step_for(&levels, &ev.concurrency, *s))
        .collect();
    steps.sort_by(|a, b| b.above.0.cmp(&a.above.0).then(a.status.cmp(&b.status)));
    let Some(top) = steps.first().copied() else {
        return Vec::new();
    };
    let list: Vec<String> = steps.iter().map(|s| s.status.to_string()).collect();
    let affected: u64 = steps.iter().map(|s| s.above.0).sum();
    let mut f = ctx.finding(
        CauseId::LoadLimit,
        Severity::Error,
        0.75,
        format!(
            "Upgrades fail with {} once about {} connections are open",
            list.join("/"),
            count(top.limit)
        ),
    );
    f.intermediary = ctx.producer.map(|p| p.id.clone());
    f.measured.concurrency_limit = Some(top.limit);
    f.measured.http_status = Some(top.status);
    f.measured.connections_affected = Some(affected);
    f.measured.samples = Some(samples(top.below.1 + top.above.1));
    let width = ev.concurrency_band_width.max(1);
    f.evidence.push(format!(
        "with fewer than {} connections open: {} of {} attempts got {} ({})",
        count(top.split),
        count(top.below.0),
        count(top.below.1),
        top.status,
        percent(top.below.0, top.below.1)
    ));
    f.evidence.push(format!(
        "with {} or more open: {} of {} got {} ({}); half the failures came at {} open or more{}",
        count(top.split),
        count(top.above.0),
        count(top.above.1),
        top.status,
        percent(top.above.0, top.above.1),
        count(top.limit),
        if width > 1 {
            format!(" (counted in bands of {width})")
        } else {
            String::new()
        }
    ));
    let reasons: Vec<&str> = ev
        .failed_upgrades
        .iter()
        .filter(|r| steps.iter().any(|s| s.status == r.status))
        .filter_map(|r| r.reason.as_deref())
        .take(3)
        .collect();
    if !reasons.is_empty() {
        f.evidence
            .push(format!("the hop's reasons: {}", reasons.join(", ")));
    }
    f.evidence.push(
        "open connections are counted from each entry's open and close times, at 100 ms resolution"
            .to_owned(),
    );
    f.fix = fixes(ctx);
    f.confirm = Some(format!(
        "`wsdoctor load URL -c {}` ramps past the level and shows where failures start",
        top.limit.saturating_mul(2).max(10)
    ));
    vec![f]
}

fn fixes(ctx: &Ctx<'_>) -> Vec<crate::finding::Fix> {
    let producer = ctx.producer.map(|p| p.id.as_str());
    let mut out = Vec::new();
    match producer {
        Some("nginx") => out.push(fix(
            "nginx",
            "Raise worker_connections (each proxied WebSocket takes two: client and upstream) and worker_rlimit_nofile; past the limit nginx logs `worker_connections are not enough`.",
        )),
        Some("haproxy") => out.push(fix(
            "haproxy",
            "Raise maxconn (global and per frontend) and the servers' maxconn: termination state sQ means requests waited in the queue past timeout queue, SC that the server refused the connection.",
        )),
        Some("aws-alb") => out.push(fix(
            "backend",
            "The ALB scales itself, so a limit tied to concurrency is more likely the targets': raise the backend's connection limit or add targets.",
        )),
        _ => {}
    }
    out.push(fix(
        "server",
        "Check the open-files limit of the server process (`ulimit -n`, systemd LimitNOFILE): every WebSocket holds a descriptor. Raise it, or spread connections over more instances.",
    ));
    out
}
