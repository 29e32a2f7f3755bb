//! `abnormal-close`: other connections that ended without a close frame,
//! by transport. Silent ones are left out when a timer explained them.

use wsdoctor_evidence::idle::Arm;
use wsdoctor_evidence::watch::WatchDrop;

use super::{how, Window};
use crate::finding::{CauseId, Finding, Severity, SourceKind};
use crate::rules::common::{finding, fix, human};

/// `timer_found`: an `idle-timeout` or `max-lifetime` finding already
/// explains the silent connections' drops.
pub(super) fn diagnose(w: &Window<'_>, timer_found: bool) -> Option<Finding> {
    let (when, single) = (&w.when, &w.single);
    // Other abnormal ends, by transport.
    let others: Vec<&WatchDrop> = single
        .iter()
        .copied()
        .filter(|d| d.end.transport().is_some())
        .filter(|d| !timer_found || d.arm != Arm::Silent)
        .collect();
    if !others.is_empty() {
        let mut f = finding(
            CauseId::AbnormalClose,
            Severity::Warning,
            0.7,
            format!(
                "{when}: {} connection(s) ended without a close frame",
                others.len()
            ),
            SourceKind::Flow,
        );
        f.measured.transport = others[0].end.transport().map(|t| t.as_str().to_owned());
        f.evidence.extend(others.iter().take(3).map(|d| {
            format!(
                "{} #{} at {}: {} after {} open",
                d.arm.as_str(),
                d.slot,
                d.wall,
                how(d),
                human(d.age_us.unwrap_or(0))
            )
        }));
        f.fix.push(fix("server", "Compare these times with the server's and proxies' logs; `wsdoctor idle` measures the path's timers."));
        return Some(f);
    }
    None
}
