//! The application-protocol conclusions for the idle experiment: every
//! arm spoke the protocol, so its heartbeat is part of the traffic; a
//! measured idle timeout below the protocol's heartbeat interval is
//! `heartbeat-too-slow` naming the protocol's setting, not `no-heartbeat`.

use wsdoctor_evidence::idle::IdleEvidence;
use wsdoctor_evidence::{AppRecord, ConnectionRecord};

use super::{annotate, fixes, interval_us};
use crate::finding::{CauseId, Finding, Severity, SourceKind};
use crate::kb::kb;
use crate::rules::common::{finding, human, raise_idle_fix, secs};

/// Refines the idle findings with the protocol the connections spoke.
pub(crate) fn adjust_idle(e: &IdleEvidence, findings: &mut Vec<Finding>) {
    // The connection whose record says the most: one that recognised a
    // protocol and learnt its timers.
    let Some((conn, app)) = e
        .samples
        .iter()
        .filter_map(|s| Some((&s.connection, s.connection.app.as_ref()?)))
        .max_by_key(|(_, a)| (a.protocol.is_some(), a.timers.is_some()))
    else {
        return;
    };
    if let (Some(protocol), Some(_)) = (app.protocol.as_deref(), app.timers.as_ref()) {
        // The protocol has a heartbeat, whatever the WebSocket pings did.
        findings.retain(|f| f.id != CauseId::NoHeartbeat);
        if let Some(f) = too_slow(conn, app, protocol, findings) {
            findings.retain(|f| f.id != CauseId::HeartbeatTooSlow);
            findings.push(f);
        }
    }
    annotate(findings, conn, app);
}

fn too_slow(
    conn: &ConnectionRecord,
    app: &AppRecord,
    protocol: &str,
    findings: &[Finding],
) -> Option<Finding> {
    let timers = app.timers.as_ref()?;
    let idle = findings.iter().find(|f| f.id == CauseId::IdleTimeout)?;
    let idle_us = (idle.measured.idle_timeout_s? * 1e6) as u64;
    let (interval, source) = interval_us(conn, app)?;
    if interval < idle_us {
        return None;
    }
    let hop = idle
        .intermediary
        .as_deref()
        .and_then(|id| kb().intermediary(id));
    let mut f = finding(
        CauseId::HeartbeatTooSlow,
        Severity::Error,
        0.85,
        format!(
            "{protocol}'s heartbeat ({} {}) is not below the path's idle timeout ({})",
            timers.interval_setting,
            human(interval),
            human(idle_us)
        ),
        SourceKind::Idle,
    );
    f.intermediary = idle.intermediary.clone();
    f.measured.idle_timeout_s = idle.measured.idle_timeout_s;
    f.evidence.push(format!(
        "{} is {} ({source}); silent connections were closed after {}",
        timers.interval_setting,
        secs(interval),
        secs(idle_us)
    ));
    f.fix = fixes::faster_heartbeat(protocol, idle_us / 1000);
    f.fix.extend(hop.and_then(raise_idle_fix));
    Some(f)
}
