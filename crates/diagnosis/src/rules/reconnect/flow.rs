//! `wsdoctor flow`: a stalled handler (pongs come back, messages do not),
//! a dead path (pongs stopped too), or steady flow. Pure.

use wsdoctor_evidence::reconnect::FlowEvidence;
use wsdoctor_evidence::{ConnectionEnd, Side};

use crate::advice::rank;
use crate::finding::{CauseId, Finding, Severity, SourceKind};
use crate::rules::common::{finding, fix, human, millis};

fn ms(v: u64) -> String {
    human(v.saturating_mul(1000))
}

fn gaps_line(e: &FlowEvidence) -> String {
    match e.largest_gap_ms {
        Some((gap, at)) => format!(
            "{} message(s) in {}; largest gap {} (ending at {} after the upgrade), expected at most {}",
            e.messages,
            ms(e.ran_ms),
            ms(gap),
            ms(at),
            ms(e.expect_every_ms)
        ),
        None => format!("no message in {}", ms(e.ran_ms)),
    }
}

/// The finding for a connection that never opened or ended on its own.
fn ended(e: &FlowEvidence, end: &ConnectionEnd) -> Finding {
    let (id, severity) = match end {
        ConnectionEnd::HalfOpen { .. }
        | ConnectionEnd::Reset
        | ConnectionEnd::FinWithoutClose { .. } => (CauseId::AbnormalClose, Severity::Error),
        ConnectionEnd::CloseHandshake {
            code: Some(1011), ..
        } => (CauseId::ServerError, Severity::Error),
        ConnectionEnd::CloseHandshake {
            code: Some(1001 | 1012 | 1013 | 1014),
            ..
        } => (CauseId::GoingAway, Severity::Warning),
        ConnectionEnd::CloseHandshake {
            code: Some(1008 | 3000..=4999),
            ..
        } => (CauseId::PolicyClose, Severity::Warning),
        ConnectionEnd::CloseHandshake { .. } => (CauseId::ProtocolError, Severity::Warning),
        ConnectionEnd::ConnectRefused { .. } => (CauseId::ConnectRefused, Severity::Error),
        ConnectionEnd::DnsFailed { .. } => (CauseId::DnsFailure, Severity::Error),
        ConnectionEnd::ProxyRefused { .. } | ConnectionEnd::ProxyFailed { .. } => {
            (CauseId::ProxyRefused, Severity::Error)
        }
        ConnectionEnd::HandshakeRejected { status: 502..=504 } => {
            (CauseId::BackendUnavailable, Severity::Error)
        }
        ConnectionEnd::HandshakeRejected { .. } => (CauseId::UpgradeRejected, Severity::Error),
        _ if end.before_open() => (CauseId::ConnectTimeout, Severity::Error),
        _ => (CauseId::AbnormalClose, Severity::Error),
    };
    let half_open = matches!(end, ConnectionEnd::HalfOpen { .. });
    let title = if half_open {
        "Messages and pongs both stopped: the path is half-open (what a browser reports as 1006, much later)".to_owned()
    } else {
        format!(
            "The connection ended before the watch did: {}",
            end.describe()
        )
    };
    let mut f = finding(id, severity, 0.8, title, SourceKind::Flow);
    f.measured.transport = end.transport().map(|t| t.as_str().to_owned());
    if let ConnectionEnd::CloseHandshake { code, .. } = end {
        f.measured.close_code = *code;
    }
    f.evidence.push(end.describe());
    f.evidence.push(gaps_line(e));
    f.fix.push(if half_open {
        fix(
            "client",
            "The client cannot rely on TCP to notice this: ping on a timer and reconnect when a pong does not come back within a few seconds (browsers: an application-level heartbeat with a timeout).",
        )
    } else {
        fix(
            "server",
            format!("Find out why the connection ended (`wsdoctor probe {}` shows how it ends, with evidence).", e.target),
        )
    });
    f
}

/// Diagnoses a flow watch.
pub fn diagnose_flow(e: &FlowEvidence) -> Vec<Finding> {
    let mut findings = Vec::new();
    if let Some(s) = &e.stall {
        let stopped = s.last_message_ms.unwrap_or(0);
        let mut f = finding(
            CauseId::HandlerStalled,
            Severity::Error,
            0.85,
            format!(
                "Messages stopped after {} while pongs kept coming back: the connection is alive, the sender is stuck",
                ms(stopped)
            ),
            SourceKind::Flow,
        );
        f.measured.stall_after_s = Some(stopped as f64 / 1000.0);
        f.evidence.push(format!(
            "no message for {} by {} after the upgrade (expected every {})",
            ms(s.silent_ms),
            ms(s.at_ms),
            ms(e.expect_every_ms)
        ));
        f.evidence.push(format!(
            "last pong {} before, RTT {}: the path and the peer's WebSocket stack answer",
            s.last_pong_ago_ms.map_or_else(|| "—".to_owned(), ms),
            s.last_pong_rtt_us.map_or_else(|| "—".to_owned(), millis)
        ));
        f.evidence.push(gaps_line(e));
        f.fix.push(fix(
            "server",
            "Pings are answered by the WebSocket library, so the connection looks healthy while the application stopped sending: look for an exception swallowed in the message producer, a blocked subscription or a full queue at that time; send an application-level heartbeat from the same code path as the data so a client can tell.",
        ));
        f.fix.push(fix(
            "client",
            format!(
                "Watch the data, not only the socket: when no message arrived for {}, resubscribe or reconnect.",
                ms(e.expect_every_ms.saturating_mul(2))
            ),
        ));
        findings.push(f);
    } else if let Some(end) = e.connection.end.as_ref().map(|r| &r.end) {
        let ours = matches!(
            end,
            ConnectionEnd::CloseHandshake {
                initiator: Side::Local,
                ..
            }
        );
        if !ours {
            findings.push(ended(e, end));
        }
    }
    if findings.is_empty() {
        let mut f = finding(
            CauseId::Healthy,
            Severity::Info,
            0.7,
            format!(
                "Messages kept coming for {} (expected every {})",
                ms(e.ran_ms),
                ms(e.expect_every_ms)
            ),
            SourceKind::Flow,
        );
        f.evidence.push(gaps_line(e));
        f.evidence.push(format!(
            "{} pong(s) to our pings every {}",
            e.pongs,
            ms(e.ping_interval_ms)
        ));
        f.fix.push(fix("client", "Nothing to fix from this watch."));
        findings.push(f);
    }
    crate::rules::app::annotate_flow(e, &mut findings);
    rank(&mut findings);
    findings
}
