//! Connections that ended otherwise than on a path's timer: broken by the
//! server (a protocol violation, a code naming another cause), or closed by
//! the server on purpose (`server-close`). Neither is a timer sample.

use wsdoctor_evidence::idle::{IdleEvidence, IdleSample};
use wsdoctor_evidence::{ConnectionEnd, ProbeEvidence, Side};

use super::sample_line;
use crate::finding::{CauseId, Finding, Severity, SourceKind};
use crate::rules::server_close;

/// True for the ends no timer produces: the server broke the protocol, an
/// I/O error, or a close frame whose code names another cause (1002, 1003,
/// 1007, 1009, 1010, 1011). Such a connection is not a timer sample: its
/// age says nothing about a lifetime or an idle timeout.
pub(super) fn non_timer_end(s: &IdleSample) -> bool {
    match s.connection.end.as_ref().map(|e| &e.end) {
        Some(ConnectionEnd::ProtocolViolation { .. } | ConnectionEnd::Io { .. }) => true,
        Some(ConnectionEnd::CloseHandshake {
            code: Some(code),
            initiator: Side::Remote,
            ..
        }) => matches!(code, 1002 | 1003 | 1007 | 1009 | 1010 | 1011),
        _ => false,
    }
}

/// What the probe rules say about the first connection that ended without
/// a timer, with every such connection listed.
pub(super) fn non_timer_findings(e: &IdleEvidence, odd: &[IdleSample]) -> Vec<Finding> {
    let Some(first) = odd.first() else {
        return Vec::new();
    };
    let mut findings: Vec<Finding> = crate::rules::diagnose_probe(&ProbeEvidence {
        connection: first.connection.clone(),
        watch_ms: e.max_ms,
        sent: Vec::new(),
        h2: None,
        hop_probe: e.hop_probe.clone(),
    })
    .into_iter()
    .filter(|f| f.severity >= Severity::Warning && f.id != CauseId::NoHeartbeat)
    .collect();
    let opened = e.samples.iter().filter(|s| s.connection.opened()).count();
    if let Some(main) = findings.first_mut() {
        main.evidence.push(format!(
            "{} of {opened} connections ended this way, not on a timer (so no lifetime or idle timeout is read from their ages):",
            odd.len()
        ));
        main.evidence
            .extend(odd.iter().take(6).map(|s| format!("  {}", sample_line(s))));
        main.measured.connections_affected = Some(odd.len() as u64);
    }
    findings
}

/// The server ended it on purpose: a close frame it started with 1000 or
/// without a code.
pub(super) fn closed_by_server(s: &IdleSample) -> bool {
    matches!(
        s.connection.end.as_ref().map(|e| &e.end),
        Some(ConnectionEnd::CloseHandshake { code, initiator: Side::Remote, .. })
            if server_close::is_deliberate(*code)
    )
}

/// `server-close` for the connections among `dropped` that the server
/// closed on purpose; `None` when it closed none.
pub(super) fn server_close_finding(e: &IdleEvidence, dropped: &[&IdleSample]) -> Option<Finding> {
    let closes: Vec<server_close::ServerClosed> = dropped
        .iter()
        .filter_map(|s| match s.connection.end.as_ref().map(|e| &e.end) {
            Some(ConnectionEnd::CloseHandshake {
                code,
                reason,
                initiator: Side::Remote,
                ..
            }) if server_close::is_deliberate(*code) => Some(server_close::ServerClosed {
                label: format!("{} #{}", s.arm.as_str(), s.sample),
                code: *code,
                reason: reason.clone(),
                age_us: s.age_us().unwrap_or(0),
                idle_us: s.idle_us(),
            }),
            _ => None,
        })
        .collect();
    server_close::finding_for(&closes, e.max_ms.saturating_mul(1000), SourceKind::Idle)
}
