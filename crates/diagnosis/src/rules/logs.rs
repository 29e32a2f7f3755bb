//! Rules for `wsdoctor logs`: patterns across many connections that no
//! single probe can see. Each submodule reads one aspect of the aggregates:
//! lifetimes clustered at one value (a timer), failed upgrades by status,
//! closes bunched in time (a reload or deploy), and per-client reconnect
//! delays (retry policy), and failures that rise with open connections
//! (a capacity limit). Pure: the same evidence gives the same findings.

mod lifetimes;
mod load_limit;
mod mass;
mod reconnect;
#[cfg(test)]
mod tests;
mod upgrades;

use wsdoctor_evidence::logs::{LogEvidence, LogFormat};

use super::common;
use crate::advice::rank;
use crate::finding::{CauseId, Finding, Severity, SourceKind};
use crate::kb::{kb, Intermediary};

/// Diagnoses what the logs show, ranked most important first. Empty when
/// the logs hold no WebSocket entry at all (the verdict is then
/// `inconclusive`: there was nothing to judge).
pub fn diagnose_logs(evidence: &LogEvidence) -> Vec<Finding> {
    let ctx = Ctx::new(evidence);
    let mut findings = Vec::new();
    findings.extend(lifetimes::diagnose(&ctx));
    findings.extend(upgrades::diagnose(&ctx));
    findings.extend(mass::diagnose(&ctx));
    findings.extend(reconnect::diagnose(&ctx));
    findings.extend(load_limit::diagnose(&ctx));
    let seen = evidence.connections + evidence.failed_upgrades_total;
    if seen > 0 && !findings.iter().any(|f| f.severity >= Severity::Warning) {
        findings.push(healthy(&ctx));
    }
    rank(&mut findings);
    findings
}

/// The evidence with what every rule needs worked out once.
pub(crate) struct Ctx<'a> {
    pub(crate) ev: &'a LogEvidence,
    /// The hop that wrote the (first) access log, from the kb.
    pub(crate) producer: Option<&'static Intermediary>,
}

impl<'a> Ctx<'a> {
    fn new(ev: &'a LogEvidence) -> Ctx<'a> {
        let producer = ev
            .formats()
            .into_iter()
            .filter(|f| *f != LogFormat::NginxError)
            .find_map(LogFormat::intermediary)
            .and_then(|id| kb().intermediary(id));
        Ctx { ev, producer }
    }

    /// A finding from the logs, about the log files.
    pub(crate) fn finding(
        &self,
        id: CauseId,
        severity: Severity,
        confidence: f64,
        title: impl Into<String>,
    ) -> Finding {
        let mut f = common::finding(id, severity, confidence, title, SourceKind::Log);
        f.subject = Some(self.ev.subject());
        f
    }
}

/// `82 %` of a share in 0..=1.
pub(crate) fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0 %".to_owned();
    }
    let p = part as f64 * 100.0 / whole as f64;
    if p > 0.0 && p < 1.0 {
        format!("{p:.1} %")
    } else {
        format!("{p:.0} %")
    }
}

/// Milliseconds for titles: `60.0 s`, `5 m 0 s`.
pub(crate) fn human_ms(ms: u64) -> String {
    common::human(ms.saturating_mul(1000))
}

/// Milliseconds as seconds for `measured`, to the millisecond.
pub(crate) fn secs_f(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// A count for `measured.samples`.
pub(crate) fn samples(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn healthy(ctx: &Ctx<'_>) -> Finding {
    let ev = ctx.ev;
    let mut f = ctx.finding(
        CauseId::Healthy,
        Severity::Info,
        0.5,
        format!(
            "No drop pattern in {} WebSocket connections",
            count(ev.connections)
        ),
    );
    f.measured.samples = Some(samples(ev.connections));
    f.evidence = vec![
        format!(
            "lifetimes: {} known, no value shared by a fifth of them",
            count(ev.with_lifetime())
        ),
        format!(
            "upgrades: {} failed of {}",
            count(ev.failed_upgrades_total),
            count(ev.connections + ev.failed_upgrades_total)
        ),
        "close times: no burst of closes within a second".to_owned(),
        format!(
            "reconnects: {} clients reconnected more than twice; none at once, at a fixed short delay or after short waits that never grow",
            count(ev.reconnects.len() as u64)
        ),
    ];
    f.fix.push(common::fix(
        "server",
        "Nothing to fix from these logs. Logs cannot show how idle a connection was: \
         `wsdoctor idle` measures the idle timeout of a path directly.",
    ));
    f
}

/// `1,204`: counts people read at a glance.
pub(crate) use wsdoctor_evidence::format_count as count;
