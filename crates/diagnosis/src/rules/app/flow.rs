//! `flow` with an application protocol spoken: its findings say which
//! protocol and why, and a stall says that the protocol's own heartbeat
//! kept coming (only its data messages were counted as the flow).

use wsdoctor_evidence::reconnect::FlowEvidence;

use super::annotate;
use crate::finding::{CauseId, Finding};

/// Adds the protocol's evidence to `flow`'s findings.
pub(crate) fn annotate_flow(e: &FlowEvidence, findings: &mut [Finding]) {
    let Some(app) = &e.connection.app else { return };
    annotate(findings, &e.connection, app);
    let Some(protocol) = &app.protocol else {
        return;
    };
    for f in findings
        .iter_mut()
        .filter(|f| f.id == CauseId::HandlerStalled)
    {
        let beats = app.server_heartbeats;
        f.evidence.push(format!(
            "only {protocol}'s data messages count as the flow, not its heartbeats or acks: the server's {protocol} heartbeat came {beats} time(s) during the watch, so its protocol stack is alive while the application's messages stopped"
        ));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use wsdoctor_evidence::reconnect::{FlowEvidence, FlowStall};
    use wsdoctor_evidence::AppRecord;

    use crate::finding::CauseId;
    use crate::rules::reconnect::diagnose_flow;

    #[test]
    fn a_stall_under_a_protocol_says_its_heartbeat_kept_coming() {
        let mut e = FlowEvidence {
            target: "ws://127.0.0.1:1/socket.io/".to_owned(),
            expect_every_ms: 500,
            ping_interval_ms: 250,
            max_ms: 4000,
            ran_ms: 1800,
            messages: 9,
            gaps_ms: vec![100; 9],
            largest_gap_ms: Some((800, 1800)),
            pongs: 6,
            stall: Some(FlowStall {
                at_ms: 1800,
                silent_ms: 800,
                last_message_ms: Some(1000),
                last_pong_rtt_us: Some(600),
                last_pong_ago_ms: Some(100),
            }),
            connection: crate::testkit::Probe::new().opened().build().connection,
        };
        e.connection.app = Some(AppRecord {
            protocol: Some("socketio".to_owned()),
            decided_by: "the URL path contains /socket.io/".to_owned(),
            spoken: true,
            server_heartbeats: 5,
            ..AppRecord::default()
        });
        let findings = diagnose_flow(&e);
        let f = &findings[0];
        assert_eq!(f.id, CauseId::HandlerStalled);
        assert_eq!(f.measured.app_protocol.as_deref(), Some("socketio"));
        assert!(
            f.evidence
                .iter()
                .any(|l| l.contains("heartbeat came 5 time(s)")),
            "{:?}",
            f.evidence
        );
        assert!(
            f.evidence
                .iter()
                .any(|l| l.starts_with("application protocol: socketio")),
            "{:?}",
            f.evidence
        );
    }
}
