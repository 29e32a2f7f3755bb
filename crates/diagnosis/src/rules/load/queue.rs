//! A limit that queues instead of refusing: HAProxy's `maxconn`, Envoy's
//! circuit breakers, a full accept backlog, a server that accepts but
//! answers late. No attempt fails; past the limit new connections wait for
//! a slot, so a step's handshake latency jumps by orders of magnitude while
//! the number of open connections stops growing.

use wsdoctor_evidence::format_count as thousands;
use wsdoctor_evidence::load::{LoadEvidence, LoadStep};

use super::ms;
use crate::finding::{CauseId, Finding, Severity, SourceKind};
use crate::rules::common::{finding, fix};

/// A step's slow handshakes (p90) this many times the ramp's fast ones
/// (the lowest p50 of the steps before) waited for something; they did not
/// just work harder.
const JUMP_FACTOR: u64 = 20;

/// … and at least this slow (µs): below it a large factor is scheduling
/// noise on a sub-millisecond path.
const JUMP_FLOOR_US: u64 = 100_000;

/// The first step where connections queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Queueing {
    /// Index into the steps.
    pub(super) step: usize,
    /// The most connections open at a step end from this step on: the
    /// limit's level.
    pub(super) plateau: u64,
    /// Attempts (of this step and before) neither open nor failed when
    /// this step's hold ended.
    pub(super) waiting: u64,
    /// The handshake p50 of the fast steps before (µs).
    pub(super) baseline_p50_us: u64,
}

/// Finds the first step whose handshakes jumped while some attempts were
/// still waiting for their 101 at the step's end; or, when no jump shows
/// (the first step already queued most of its attempts, so its own median
/// is slow), a step after which the number open did not grow at all while
/// attempts went on and none failed: they all waited.
pub(super) fn queueing_step(steps: &[LoadStep]) -> Option<Queueing> {
    let mut attempted = 0u64;
    let mut resolved_elsewhere = 0u64;
    let mut baseline: Option<u64> = None;
    // The first step that ended with attempts waiting, with its waiting
    // count and the baseline before it.
    let mut first_waiting: Option<(usize, u64, u64)> = None;
    let mut open_before: Option<u64> = None;
    for (i, s) in steps.iter().enumerate() {
        attempted += s.attempted;
        resolved_elsewhere += s.failed() + s.dropped();
        // Failures of these steps reported only later make this smaller,
        // never larger: an undercount.
        let waiting = attempted.saturating_sub(resolved_elsewhere + s.open_at_end);
        // The first step has no step before: its own median is the fast
        // level when only its tail queued.
        let base = baseline.unwrap_or(s.handshake.p50_us).max(1);
        let slow = s.handshake.p90_us;
        let jumped = s.handshake.count > 0
            && slow >= JUMP_FLOOR_US
            && slow >= base.saturating_mul(JUMP_FACTOR);
        let plateau = || steps[i..].iter().map(|s| s.open_at_end).max().unwrap_or(0);
        if jumped && waiting > 0 {
            return Some(Queueing {
                step: i,
                plateau: plateau(),
                waiting,
                baseline_p50_us: base,
            });
        }
        let flat = open_before.is_some_and(|before| before > 0 && s.open_at_end <= before)
            && s.attempted > 0
            && s.failed() + s.dropped() == 0;
        if let (true, Some((step, waited, base))) = (flat && waiting > 0, first_waiting) {
            return Some(Queueing {
                step,
                plateau: plateau(),
                waiting: waited,
                baseline_p50_us: base,
            });
        }
        if waiting > 0 && first_waiting.is_none() {
            first_waiting = Some((i, waiting, base));
        }
        open_before = Some(s.open_at_end);
        if s.handshake.count > 0 {
            baseline = Some(baseline.map_or(s.handshake.p50_us, |b| b.min(s.handshake.p50_us)));
        }
    }
    None
}

/// The finding for a limit that queued connections instead of refusing them.
pub(super) fn queued_finding(e: &LoadEvidence, q: &Queueing) -> Finding {
    let step = &e.steps[q.step];
    let mut f = finding(
        CauseId::LoadLimit,
        Severity::Error,
        0.8,
        format!(
            "New connections wait past about {} concurrent connections: a limit queues them instead of refusing them",
            thousands(q.plateau)
        ),
        SourceKind::Load,
    );
    f.measured.concurrency_limit = Some(q.plateau);
    f.measured.connections_affected = Some(q.waiting);
    if let Some(before) = q.step.checked_sub(1).map(|j| &e.steps[j]) {
        f.evidence.push(format!(
            "up to {} connections (step {}) handshakes took p50 {}",
            thousands(before.open_at_end),
            before.index,
            ms(q.baseline_p50_us)
        ));
    }
    // The first step has no step before to compare with.
    let against = if q.step > 0 {
        format!(" (against {} before)", ms(q.baseline_p50_us))
    } else {
        String::new()
    };
    f.evidence.push(format!(
        "step {}: handshake p50 {} · p90 {} · max {}{against}, while the number open stopped at {} of {} attempted: {} were still waiting for their 101 when the step's hold ended",
        step.index,
        ms(step.handshake.p50_us),
        ms(step.handshake.p90_us),
        ms(step.handshake.max_us),
        thousands(step.open_at_end),
        thousands(e.steps[..=q.step].iter().map(|s| s.attempted).sum::<u64>()),
        thousands(q.waiting)
    ));
    let failed_after: u64 = e.steps[q.step..].iter().map(LoadStep::failed).sum();
    f.evidence.push(if failed_after == 0 {
        format!(
            "queued, not refused: none of these attempts failed; the waiting ones opened late, the slowest after {}",
            ms(e.steps[q.step..].iter().map(|s| s.handshake.max_us).max().unwrap_or(0))
        )
    } else {
        format!(
            "queued, not refused: the waiting attempts opened late; {failed_after} attempts from this step on failed in the end"
        )
    });
    f.evidence.push(format!(
        "at most {} connections were open at once",
        thousands(e.peak_open)
    ));
    f.fix.push(fix(
        "server",
        "A limit in the path holds connections past this level until a slot frees, so clients wait instead of failing: HAProxy's maxconn (global, frontend or server line; queued connections wait up to `timeout queue`), Envoy's circuit breakers (max_connections, max_pending_requests), a full listen backlog, or a server that accepts but upgrades late. Raise it to the concurrency you need (each WebSocket holds its slot for its whole life), or make the excess fail fast so clients back off.",
    ));
    if e.generator.timer_lag_max_us > 100_000 {
        f.evidence.push(format!(
            "note: the generator ran up to {} late on its own schedule; its CPU may account for part of the wait",
            ms(e.generator.timer_lag_max_us)
        ));
        f.confidence = 0.5;
    }
    f
}

#[cfg(test)]
mod tests {
    use wsdoctor_evidence::load::{Latency, LoadStep};

    use super::queueing_step;

    /// A step of 12 attempts: `open` at its end, handshakes p50/p90 in ms.
    fn step(index: u32, open: u64, p50_ms: u64, p90_ms: u64) -> LoadStep {
        LoadStep {
            index,
            target: u64::from(index) * 12,
            attempted: 12,
            opened: 12,
            open_at_end: open,
            handshake: Latency {
                count: 12,
                p50_us: p50_ms * 1000,
                p90_us: p90_ms * 1000,
                p99_us: p90_ms * 1000,
                max_us: p90_ms * 1000,
                histogram: None,
            },
            ..LoadStep::default()
        }
    }

    /// What a case expects: the queueing step's index, plateau and waiting.
    type Expected = Option<(usize, u64, u64)>;

    #[test]
    fn the_rule_table() {
        // (what, steps, expected (step index, plateau, waiting))
        let cases: Vec<(&str, Vec<LoadStep>, Expected)> = vec![
            (
                "haproxy maxconn 40 at -c 60: held until ours closed",
                vec![
                    step(1, 12, 1, 3),
                    step(2, 24, 1, 1),
                    step(3, 36, 1, 4),
                    step(4, 40, 3394, 3410),
                    step(5, 40, 3052, 3080),
                ],
                Some((3, 40, 8)),
            ),
            (
                "only the step's tail queued (p50 fast, p90 slow)",
                vec![step(1, 12, 1, 2), step(2, 21, 2, 2500)],
                Some((1, 21, 3)),
            ),
            (
                "a clean ramp",
                vec![step(1, 12, 1, 3), step(2, 24, 1, 2), step(3, 36, 2, 5)],
                None,
            ),
            (
                "slower under load, but every connection opened in its step",
                vec![step(1, 12, 1, 3), step(2, 24, 150, 400)],
                None,
            ),
            (
                "connections still opening at the step end, latency flat (a slow rate, not a queue)",
                vec![step(1, 12, 5, 8), step(2, 22, 5, 9)],
                None,
            ),
            (
                "a jump by 20x that stays under 100 ms is noise",
                vec![step(1, 12, 1, 2), step(2, 20, 2, 60)],
                None,
            ),
            (
                "the first step already queues past 8",
                vec![step(1, 8, 1, 900)],
                Some((0, 8, 4)),
            ),
            (
                "haproxy maxconn 100 at 20,000/s: most of the first step queued, no jump; the number open stays at the cap (measured, in steps of 12 here)",
                vec![step(1, 4, 1636, 2078), step(2, 4, 2081, 2312), step(3, 4, 1072, 1248)],
                Some((0, 4, 8)),
            ),
            (
                "slow but growing every step: no cap",
                vec![step(1, 6, 1636, 2078), step(2, 14, 2081, 2312), step(3, 30, 1072, 1248)],
                None,
            ),
        ];
        for (what, steps, expected) in cases {
            let got = queueing_step(&steps).map(|q| (q.step, q.plateau, q.waiting));
            assert_eq!(got, expected, "{what}");
        }
    }

    #[test]
    fn failures_and_drops_are_not_waiting() {
        let mut s2 = step(2, 20, 1, 3000);
        s2.failures
            .insert(wsdoctor_evidence::load::FailureKind::Http(503), 4);
        let none = queueing_step(&[step(1, 12, 1, 2), s2]);
        assert_eq!(none, None, "the 4 missing connections failed, none waited");
    }
}
