//! The knee: the first step where attempts failed or open connections
//! dropped, read as a load limit (or, when nothing ever opened, as the
//! failure it is at any load).

use wsdoctor_evidence::format_count as thousands;
use wsdoctor_evidence::load::{DropKind, FailureKind, LoadEvidence, LoadStep};

use super::kinds::{failure_cause, fix_for};
use super::ms;
use crate::finding::{CauseId, Finding, Severity, SourceKind};
use crate::rules::common::{finding, fix};

/// The finding for the knee at step `i`; `None` when only the generator's
/// own limits failed there.
pub(super) fn diagnose(e: &LoadEvidence, i: usize) -> Option<Finding> {
    let step = &e.steps[i];
    let before = i.checked_sub(1).map(|j| &e.steps[j]);
    // The server's failures, without the generator's own.
    let server_failures: Vec<(&FailureKind, &u64)> = step
        .failures
        .iter()
        .filter(|(k, _)| k.local_resource().is_none())
        .collect();
    if server_failures.is_empty() && step.dropped() == 0 {
        return None;
    }
    let first = step
        .failure_samples
        .iter()
        .find(|f| f.kind.local_resource().is_none());
    // The first failure's count is a lower bound (opens still in
    // flight were not counted yet); what the server went on holding
    // at the end of the step is the level it sustained.
    let limit = match first {
        Some(f) => f.at_concurrency.max(step.open_at_end),
        None => before.map_or(0, |b| b.open_at_end),
    };
    let (top_kind, top_count) = server_failures
        .iter()
        .max_by_key(|(_, n)| **n)
        .map_or((None, 0), |(k, n)| (Some(**k), **n));
    let (id, title) = conclusion(e, i, limit, top_kind);
    let mut f = finding(
        id,
        Severity::Error,
        if first.is_some() { 0.85 } else { 0.7 },
        title,
        SourceKind::Load,
    );
    f.measured.concurrency_limit = Some(limit);
    f.measured.connections_affected = Some(step.failed() + step.dropped());
    if let Some(b) = before {
        f.evidence.push(format!(
            "up to {} connections (step {}) every upgrade succeeded, handshake p99 {}",
            thousands(b.open_at_end),
            b.index,
            ms(b.handshake.p99_us)
        ));
    }
    if let Some(top_kind) = top_kind.filter(|_| top_count > 0) {
        let server = first.and_then(|f| f.server.clone());
        let from = server
            .as_deref()
            .map(|s| format!(" (Server: {s})"))
            .unwrap_or_default();
        f.evidence.push(format!(
                "above {} connections, {} of {} new attempts in step {} failed; most as {top_kind}{from}",
                thousands(limit),
                step.failed(),
                step.attempted,
                step.index
            ));
        if let Some(sample) = first {
            f.evidence.push(format!("first failure: {}", sample.detail));
        }
        if matches!(
            top_kind,
            FailureKind::HandshakeTimeout | FailureKind::PendingAtEnd
        ) {
            f.evidence.push(format!(
                    "queued, not refused: these connections were accepted but got no 101 while {} stayed open",
                    thousands(step.open_at_end)
                ));
        }
        let (for_, text) = fix_for(top_kind, server.as_deref());
        f.fix.push(fix(&for_, text));
    }
    if step.dropped() > 0 {
        add_drops(&mut f, step, top_count);
    }
    if e.generator.timer_lag_max_us > 100_000 {
        f.evidence.push(format!(
                "note: the generator ran up to {} late on its own schedule; its CPU may have been the bottleneck",
                ms(e.generator.timer_lag_max_us)
            ));
        f.confidence = (f.confidence - 0.2_f64).max(0.3);
    }
    Some(f)
}

/// What the knee is and its title: a proxy refusing from the start, a
/// failure at any load, a server that stopped reading, or a load limit.
fn conclusion(
    e: &LoadEvidence,
    i: usize,
    limit: u64,
    top_kind: Option<FailureKind>,
) -> (CauseId, String) {
    let step = &e.steps[i];
    // Nothing opened before the failures: no load limit, whatever
    // failed fails at any level (a broken handshake, a refusal).
    let nothing_opened = e.steps[..=i].iter().all(|s| s.opened == 0);
    // A forward proxy that refuses from the first connection on is
    // no load limit: nothing got through it at all.
    if limit == 0 && top_kind.is_some_and(FailureKind::is_proxy) {
        (
            CauseId::ProxyRefused,
            "The forward proxy refused every tunnel, from the first connection".to_owned(),
        )
    } else if let Some((cause, kind)) = top_kind
        .filter(|_| nothing_opened)
        .and_then(|k| Some((failure_cause(k)?, k)))
    {
        (
                cause,
                format!(
                    "Every connection failed from the first one on ({kind}): the handshake fails at any load, this is no load limit"
                ),
            )
    } else if top_kind.is_none() && !step.drops.is_empty() && stopped_reading_only(step) {
        // A knee in the first step has no level below it to name.
        let title = if limit == 0 {
            format!(
                "The server stopped reading {} connection(s) from the first step on",
                thousands(step.dropped())
            )
        } else {
            format!(
                "The server stops reading its connections at about {} concurrent connections",
                thousands(limit)
            )
        };
        (CauseId::SlowConsumer, title)
    } else {
        (
            CauseId::LoadLimit,
            format!(
                "Failures begin at about {} concurrent connections",
                thousands(limit)
            ),
        )
    }
}

/// The drops of the step, as evidence, and their fix.
fn add_drops(f: &mut Finding, step: &LoadStep, top_count: u64) {
    let kinds: Vec<String> = step.drops.iter().map(|(k, n)| format!("{n} {k}")).collect();
    f.evidence.push(format!(
        "{} open connections were dropped during step {}: {}",
        step.dropped(),
        step.index,
        kinds.join(", ")
    ));
    if step.drops.contains_key(&DropKind::PeerStoppedReading) {
        f.fix.push(fix(
            "server",
            "The server stopped reading what some connections sent (it took none of their bytes for the write timeout): a slow consumer. Its handler blocks, or it reads only on some event; at this level it cannot keep up. Look at the server's event loop and CPU, and at per-connection send queues.",
        ));
    } else if top_count == 0 {
        f.fix.push(fix(
                "server",
                "Open connections are dropped as load grows: check the server's memory and CPU, and any proxy's connection limits and timeouts at this level.",
            ));
    }
}

/// Every drop of the step was a server that stopped reading.
fn stopped_reading_only(step: &LoadStep) -> bool {
    step.drops
        .keys()
        .all(|k| *k == DropKind::PeerStoppedReading)
}
