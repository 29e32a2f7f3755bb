//! `watch` with an application protocol spoken: every finding says which
//! protocol, why, and the heartbeat it announced (the timers a path's idle
//! timeout is compared with), and carries the contract's `measured.app_*`.

use wsdoctor_evidence::watch::WatchEvidence;

use super::protocol_line;
use crate::finding::Finding;
use crate::rules::common::secs;

/// Adds the protocol's evidence to `watch`'s findings.
pub(crate) fn annotate_watch(e: &WatchEvidence, findings: &mut [Finding]) {
    let Some(app) = &e.app else { return };
    let Some(protocol) = &app.protocol else {
        return;
    };
    let line = protocol_line(app);
    let timers = app.timers.as_ref().map(|t| {
        let who = match t.pinger {
            wsdoctor_evidence::Side::Remote => "the server pings",
            wsdoctor_evidence::Side::Local => "the client pings",
        };
        format!(
            "{protocol} heartbeat: {who} every {} ({}), the other side waits {} ({}); {}",
            secs(t.interval_ms.saturating_mul(1000)),
            t.interval_setting,
            secs(t.timeout_ms.saturating_mul(1000)),
            t.timeout_setting,
            t.source
        )
    });
    for f in findings.iter_mut() {
        f.measured.app_protocol = Some(protocol.clone());
        if let Some(t) = &app.timers {
            f.measured.app_ping_interval_s = Some(t.interval_ms as f64 / 1000.0);
            f.measured.app_ping_timeout_s = Some(t.timeout_ms as f64 / 1000.0);
        }
        for l in std::iter::once(&line).chain(timers.as_ref()) {
            if !f.evidence.contains(l) {
                f.evidence.push(l.clone());
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use wsdoctor_evidence::watch::WatchEvidence;
    use wsdoctor_evidence::{AppEvent, AppEventKind, AppRecord, AppTimers, Side};

    use crate::finding::CauseId;
    use crate::rules::watch::diagnose_watch;

    #[test]
    fn watch_findings_carry_the_protocol_and_its_announced_timers() {
        let e = WatchEvidence {
            targets: vec!["ws://127.0.0.1:1/socket.io/".to_owned()],
            connections: 2,
            open_now: 2,
            opened_total: 2,
            window_ms: 60_000,
            ran_ms: 5_000,
            interval_ms: 25_000,
            app: Some(AppRecord {
                protocol: Some("socketio".to_owned()),
                decided_by: "the URL path contains /socket.io/".to_owned(),
                spoken: true,
                version: Some("EIO=4".to_owned()),
                timers: Some(AppTimers {
                    pinger: Side::Remote,
                    interval_ms: 1000,
                    timeout_ms: 500,
                    interval_setting: "pingInterval".to_owned(),
                    timeout_setting: "pingTimeout".to_owned(),
                    announced: true,
                    source: "announced in the Engine.IO open packet".to_owned(),
                    websocket_pings: false,
                }),
                events: vec![AppEvent {
                    at_us: 1_000,
                    kind: AppEventKind::InitAcked {
                        what: "Engine.IO open packet".to_owned(),
                    },
                }],
                ..AppRecord::default()
            }),
            ..WatchEvidence::default()
        };
        let findings = diagnose_watch(&e);
        assert!(!findings.is_empty());
        for f in &findings {
            assert_eq!(f.measured.app_protocol.as_deref(), Some("socketio"));
            assert_eq!(f.measured.app_ping_interval_s, Some(1.0));
            assert_eq!(f.measured.app_ping_timeout_s, Some(0.5));
            assert!(
                f.evidence
                    .iter()
                    .any(|l| l.contains("every 1.000 s (pingInterval)")),
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
        assert_eq!(findings[0].id, CauseId::Healthy);
    }
}
