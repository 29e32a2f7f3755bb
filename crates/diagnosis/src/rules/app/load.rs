//! The application-protocol conclusion for a load ramp: connections that
//! did not speak the protocol the URL names (`--app raw`) are dropped by
//! its server on its own schedule (Socket.IO at pingInterval + pingTimeout,
//! graphql-transport-ws at connectionInitWaitTimeout), which is not a load
//! limit: the drops say so, and how to speak the protocol instead.

use wsdoctor_evidence::load::LoadEvidence;

use crate::finding::{CauseId, Finding, Severity, SourceKind};
use crate::rules::common::{finding, fix, peer};

/// Replaces a drops-only load limit with the protocol's own reason when the
/// connections did not speak the protocol the URL names.
pub(crate) fn adjust_load(e: &LoadEvidence, findings: &mut Vec<Finding>) {
    let Some(app) = e.app.as_ref().filter(|a| !a.spoken) else {
        return;
    };
    let dropped = e.dropped();
    let failed = e.failed();
    let Some((cause, what)) = unspoken_cause(&app.protocol) else {
        return;
    };
    if dropped == 0 {
        return;
    }
    let attempted = e.attempted();
    let mut f = finding(
        cause,
        Severity::Error,
        if failed == 0 { 0.85 } else { 0.6 },
        format!(
            "{dropped} of {attempted} connections were dropped by the server because they did not speak {} (--app raw): {what}",
            app.protocol
        ),
        SourceKind::Load,
    );
    f.measured.connections_affected = Some(dropped);
    f.measured.app_protocol = Some(app.protocol.clone());
    f.evidence.push(drops_line(e));
    f.evidence.push(format!(
        "application protocol: {} recognised but not spoken ({})",
        app.protocol,
        peer(&app.decided_by, 200)
    ));
    f.fix.push(fix(
        "client",
        format!(
            "Load with the protocol spoken as its real client does: `--app {}` (or the default \
             `auto`), so the ramp measures the server's capacity, not its timeout for silent clients.",
            app.protocol
        ),
    ));
    // The drops were the protocol's, not a level of load: a knee found
    // only in drops says nothing about capacity.
    if failed == 0 {
        findings.retain(|f| f.id != CauseId::LoadLimit && f.id != CauseId::Healthy);
    }
    findings.push(f);
}

/// What a server of `protocol` does to a client that speaks none of it.
fn unspoken_cause(protocol: &str) -> Option<(CauseId, &'static str)> {
    Some(match protocol {
        "socketio" => (
            CauseId::AppHeartbeatTimeout,
            "Engine.IO closes a client that does not answer its pings after pingInterval + pingTimeout (45 s at socket.io's defaults)",
        ),
        "signalr" => (
            CauseId::AppInitTimeout,
            "ASP.NET Core closes a connection whose hub handshake does not come within HandshakeTimeout (15 s)",
        ),
        "phoenix" => (
            CauseId::AppHeartbeatTimeout,
            "Phoenix closes a socket that sends no heartbeat for 60 s",
        ),
        "graphql-transport-ws" => (
            CauseId::AppInitTimeout,
            "graphql-ws closes with 4408 a client that sends no connection_init within connectionInitWaitTimeout (3 s)",
        ),
        "stomp" | "mqtt" | "mqtt5" => (
            CauseId::AppInitTimeout,
            "the broker closes a connection that sends no CONNECT in time",
        ),
        _ => return None,
    })
}

fn drops_line(e: &LoadEvidence) -> String {
    let list: Vec<String> = e
        .drops_by_kind()
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    format!("drops: {}", list.join(", "))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeMap;

    use wsdoctor_evidence::load::{DropKind, LoadApp, LoadEvidence, LoadStep};

    use crate::finding::CauseId;
    use crate::rules::load::diagnose_load;

    fn ramp(spoken: bool) -> LoadEvidence {
        LoadEvidence {
            target: "ws://127.0.0.1:9/socket.io/?EIO=4&transport=websocket".into(),
            concurrency: 100,
            rate: 1000.0,
            steps: vec![LoadStep {
                index: 1,
                target: 100,
                attempted: 100,
                opened: 100,
                drops: BTreeMap::from([(DropKind::Close(1005), 100)]),
                ..LoadStep::default()
            }],
            app: Some(LoadApp {
                protocol: "socketio".into(),
                spoken,
                decided_by: "the URL path contains /socket.io/".into(),
            }),
            ..LoadEvidence::default()
        }
    }

    #[test]
    fn raw_drops_are_the_protocols_timeout_not_a_load_limit() {
        let findings = diagnose_load(&ramp(false));
        assert_eq!(
            findings[0].id,
            CauseId::AppHeartbeatTimeout,
            "{findings:#?}"
        );
        assert!(findings[0].title.contains("pingInterval + pingTimeout"));
        assert!(!findings.iter().any(|f| f.id == CauseId::LoadLimit));
        // Spoken and still dropped: the load rules keep their say.
        let findings = diagnose_load(&ramp(true));
        assert!(!findings
            .iter()
            .any(|f| f.id == CauseId::AppHeartbeatTimeout));
    }
}
