//! The finding of a storm estimate: a policy whose wave after an outage is
//! much taller than full jitter's makes a herd. Pure.

use super::fixes::full_jitter_fix;
use super::storm::{Steps, StormPolicy, StormScenario, StormSeries};
use crate::finding::{CauseId, Finding, Severity, SourceKind};
use crate::rules::common::{finding, fix};

/// A wave this many times taller than full jitter's is a herd.
const HERD_RATIO: f64 = 3.0;

/// Diagnoses `policy`'s wave against the full-jitter `reference` wave.
pub fn diagnose_storm(
    scenario: &StormScenario,
    policy: &StormPolicy,
    wave: &StormSeries,
    reference: &StormSeries,
) -> Vec<Finding> {
    let ratio = wave.peak_after.0 as f64 / reference.peak_after.0.max(1) as f64;
    let evidence = vec![
        format!(
            "{} clients dropped at once, server back after {:.0} s",
            scenario.clients, scenario.outage_s
        ),
        format!(
            "{}: {} attempts/s at {} s after the outage, {} attempts in the first {} s",
            policy.name, wave.peak_after.0, wave.peak_after.1, wave.attempts, scenario.horizon_s
        ),
        format!(
            "full jitter: {} attempts/s at {} s, {} attempts",
            reference.peak_after.0, reference.peak_after.1, reference.attempts
        ),
        format!("{}'s defaults: {}", policy.name, policy.source),
    ];
    if ratio < HERD_RATIO {
        let mut f = finding(
            CauseId::Healthy,
            Severity::Info,
            0.6,
            format!(
                "{} spreads the reconnect wave about as well as full jitter ({ratio:.1}× its peak)",
                policy.name
            ),
            SourceKind::Reconnect,
        );
        f.evidence = evidence;
        f.fix
            .push(fix("client", "Nothing to fix in the reconnect policy."));
        return vec![f];
    }
    // A policy that never grows is no backoff; one that grows in lockstep
    // (or with randomness too narrow to spread the herd) lacks jitter.
    let id = match &policy.steps {
        Steps::Table { delays_s, .. } if delays_s.is_empty() => CauseId::ReconnectNoBackoff,
        _ => CauseId::ReconnectNoJitter,
    };
    let mut f = finding(
        id,
        Severity::Warning,
        0.7,
        format!(
            "After an outage, {} clients on {} arrive {ratio:.0}× faster than with full jitter: {} connections in one second",
            scenario.clients, policy.name, wave.peak_after.0
        ),
        SourceKind::Reconnect,
    );
    f.subject = Some(format!("policy={}", policy.name));
    f.evidence = evidence;
    f.fix.push(full_jitter_fix());
    vec![f]
}
