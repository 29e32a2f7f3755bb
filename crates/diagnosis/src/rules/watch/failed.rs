//! Failed reconnects, or, when nothing ever opened, failed connects: the
//! cause of the last failure.

use wsdoctor_evidence::watch::WatchDrop;
use wsdoctor_evidence::ConnectionEnd;

use super::{how, Window};
use crate::finding::{CauseId, Finding, Severity, SourceKind};
use crate::rules::common::{finding, fix};

pub(super) fn diagnose(w: &Window<'_>) -> Option<Finding> {
    let (e, when) = (w.e, &w.when);
    // Failed reconnects (or, when nothing ever opened, failed connects).
    let failed: Vec<&WatchDrop> = e.drops.iter().filter(|d| !d.opened).collect();
    if !failed.is_empty() {
        let last = failed[failed.len() - 1];
        let id = match &last.end {
            ConnectionEnd::ConnectRefused { .. } => CauseId::ConnectRefused,
            ConnectionEnd::ConnectTimedOut { .. } | ConnectionEnd::ConnectFailed { .. } => {
                CauseId::ConnectTimeout
            }
            ConnectionEnd::DnsFailed { .. } => CauseId::DnsFailure,
            ConnectionEnd::TlsFailed { .. } => CauseId::TlsFailure,
            ConnectionEnd::ProxyRefused { .. } | ConnectionEnd::ProxyFailed { .. } => {
                CauseId::ProxyRefused
            }
            ConnectionEnd::HandshakeRejected { status: 502..=504 } => CauseId::BackendUnavailable,
            ConnectionEnd::HandshakeRejected { .. } => CauseId::UpgradeRejected,
            ConnectionEnd::HandshakeInvalid { .. } => CauseId::HandshakeInvalid,
            _ => CauseId::BackendUnavailable,
        };
        let title = if e.opened_total == 0 {
            format!(
                "{when}: no connection ever opened; {} attempt(s) failed, the last: {}",
                failed.len(),
                how(last)
            )
        } else {
            format!("{when}: {} reconnect attempt(s) failed", failed.len())
        };
        let mut f = finding(id, Severity::Error, 0.8, title, SourceKind::Flow);
        f.evidence
            .push(format!("first at {}: {}", failed[0].wall, how(failed[0])));
        if failed.len() > 1 {
            f.evidence
                .push(format!("last at {}: {}", last.wall, how(last)));
        }
        f.fix.push(fix("server", "The target refused or failed new connections during this time: `wsdoctor probe` shows the failing step with the raw answer."));
        return Some(f);
    }
    None
}
