//! The application-protocol conclusions for one probed connection.

use wsdoctor_evidence::{
    AppEventKind, AppRecord, ConnectionEnd, ConnectionRecord, EndRecord, ProbeEvidence, Side,
};

use super::{annotate, cause_of, fixes};
use crate::finding::{CauseId, Finding, Severity, SourceKind};
use crate::fingerprint::{blame, identify};
use crate::kb::kb;
use crate::rules::common::{finding, fix, fix_with, human, peer, raise_idle_fix, secs, to_s};

/// How far a close may be from the protocol's deadline and still be it:
/// timers fire late under load, and the close crosses the path.
fn near(at_us: u64, expected_us: u64) -> bool {
    let slack = (expected_us / 10).max(750_000);
    at_us.abs_diff(expected_us) <= slack
}

/// Refines the WebSocket-level findings of one probe with what its
/// application protocol says. Pure, like every rule.
pub(crate) fn adjust_probe(ev: &ProbeEvidence, findings: &mut Vec<Finding>) {
    let conn = &ev.connection;
    let Some(app) = &conn.app else { return };
    let mut added = Vec::new();
    if let Some(end) = &conn.end {
        // The WebSocket-level close findings (`policy-close` for a 4xxx
        // code, `server-close` for a 1000) say less than the protocol does
        // about the same close: the protocol's finding replaces them.
        let generic_close =
            |f: &Finding| matches!(f.id, CauseId::PolicyClose | CauseId::ServerClose);
        if let Some(f) = documented_close(conn, app, end) {
            findings.retain(|f| !generic_close(f));
            added.push(f);
        } else if let Some(f) = close_another_protocol_documents(app, end) {
            findings.retain(|f| !generic_close(f));
            added.push(f);
        } else if let Some(f) = heartbeat_timeout(conn, app, end) {
            findings.retain(|f| !generic_close(f));
            added.push(f);
        } else if let Some(f) = protocol_disconnect(app, end) {
            // The protocol said why; the close code that followed (1011
            // after subscriptions-transport-ws's connection_error) is not
            // an exception in a handler.
            findings.retain(|f| {
                !matches!(
                    f.id,
                    CauseId::ServerError | CauseId::PolicyClose | CauseId::ServerClose
                )
            });
            added.push(f);
        }
        let path = path_before_heartbeat(conn, app, end, findings);
        if path.iter().any(|f| f.id == CauseId::HeartbeatTooSlow) {
            // Ours names the protocol's setting; the WebSocket-level one
            // only the pings.
            findings.retain(|f| f.id != CauseId::HeartbeatTooSlow);
        }
        added.extend(path);
    }
    // The protocol's heartbeat is a heartbeat: `no-heartbeat` looks only at
    // WebSocket pings.
    let protocol_heartbeat = app.server_heartbeats > 0
        || app
            .events
            .iter()
            .any(|e| matches!(e.kind, AppEventKind::ClientHeartbeat));
    if protocol_heartbeat {
        findings.retain(|f| f.id != CauseId::NoHeartbeat);
    }
    if added.iter().any(|f| f.severity >= Severity::Warning) {
        findings.retain(|f| f.id != CauseId::Healthy);
    }
    findings.extend(added);
    annotate(findings, conn, app);
}

/// The server's close frame, when it sent one: code, reason, age.
fn server_close(end: &EndRecord) -> Option<(Option<u16>, &str)> {
    match &end.end {
        ConnectionEnd::CloseHandshake {
            code,
            reason,
            initiator: Side::Remote,
            ..
        } => Some((*code, reason.as_str())),
        _ => None,
    }
}

fn open_for(end: &EndRecord) -> u64 {
    end.open_for_us.unwrap_or(end.at_us)
}

/// A 4000–4999 close the spoken (or recognised) protocol documents.
fn documented_close(conn: &ConnectionRecord, app: &AppRecord, end: &EndRecord) -> Option<Finding> {
    let (Some(code), reason) = server_close(end)? else {
        return None;
    };
    let protocol = app.protocol.as_deref()?;
    let (_, fact) = wsdoctor_app::close_code_facts(code)
        .into_iter()
        .find(|(p, _)| p.id() == protocol)?;
    let (id, severity) = cause_of(fact.cause);
    let age = open_for(end);
    let mut f = finding(
        id,
        severity,
        0.9,
        format!(
            "{protocol} closed the connection with {code} {} after {}: {}",
            fact.name,
            human(age),
            fact.meaning
        ),
        SourceKind::Probe,
    );
    f.measured.close_code = Some(code);
    if !reason.is_empty() {
        f.measured.close_reason = Some(peer(reason, 123));
    }
    f.measured.open_for_s = Some(to_s(age));
    f.evidence.push(format!(
        "the server sent close {code} \"{}\" {} after the 101",
        peer(reason, 123),
        secs(age)
    ));
    f.evidence.push(init_line(app, conn));
    f.evidence.push(format!(
        "{code} is {protocol}'s {}: {} (source: {}, read {})",
        fact.name, fact.meaning, fact.source, fact.read
    ));
    let for_ = if id == CauseId::ServerError {
        "server"
    } else {
        "client"
    };
    f.fix.push(fix(for_, sentence(fact.fix)));
    if code == 4408 {
        f.fix.push(fix_with(
            "server",
            "graphql-ws server: raise connectionInitWaitTimeout (3 s by default) if clients need longer to send connection_init",
            "useServer({ schema, connectionInitWaitTimeout: 10_000 }, wsServer);",
        ));
    }
    Some(f)
}

/// `fix` texts of the facts are clauses; a fix is a sentence.
fn sentence(clause: &str) -> String {
    let mut chars = clause.chars();
    chars
        .next()
        .map(|c| {
            format!(
                "{}{}.",
                c.to_uppercase(),
                chars.as_str().trim_end_matches('.')
            )
        })
        .unwrap_or_default()
}

/// No protocol was recognised, but the server's 4000–4999 code is one a
/// protocol documents: say which, and how to speak it.
fn close_another_protocol_documents(app: &AppRecord, end: &EndRecord) -> Option<Finding> {
    if app.protocol.is_some() {
        return None;
    }
    let (Some(code), reason) = server_close(end)? else {
        return None;
    };
    let facts = wsdoctor_app::close_code_facts(code);
    let (protocol, fact) = facts.first()?;
    let (id, severity) = cause_of(fact.cause);
    let age = open_for(end);
    let mut f = finding(
        id,
        severity,
        0.6,
        format!(
            "The server closed with {code} after {}: {protocol} documents {code} as {} ({}), if this server speaks it",
            human(age),
            fact.name,
            fact.meaning
        ),
        SourceKind::Probe,
    );
    f.measured.close_code = Some(code);
    if !reason.is_empty() {
        f.measured.close_reason = Some(peer(reason, 123));
    }
    f.measured.open_for_s = Some(to_s(age));
    f.evidence.push(format!(
        "the server sent close {code} \"{}\" {} after the 101",
        peer(reason, 123),
        secs(age)
    ));
    for (p, fact) in &facts {
        f.evidence.push(format!(
            "{code} is {p}'s {}: {} (source: {}, read {})",
            fact.name, fact.meaning, fact.source, fact.read
        ));
    }
    f.fix.push(fix(
        "client",
        format!("If the server speaks {protocol}, probe it as its client does: `wsdoctor probe URL --app {protocol}`. {}", sentence(fact.fix)),
    ));
    Some(f)
}

/// Whether and when the protocol's opening was sent and acknowledged.
fn init_line(app: &AppRecord, conn: &ConnectionRecord) -> String {
    let open = conn.phases.response_head_us.unwrap_or(0);
    let sent = app.first(|k| matches!(k, AppEventKind::InitSent { .. }));
    let acked = app
        .events
        .iter()
        .rfind(|e| matches!(e.kind, AppEventKind::InitAcked { .. }));
    match (sent, acked, app.spoken) {
        (_, _, false) => {
            "wsdoctor did not speak the protocol (--app raw): no opening message was sent"
                .to_owned()
        }
        (None, _, true) => "no opening message was sent".to_owned(),
        (Some(s), Some(a), true) => format!(
            "the opening was sent {} after the 101 and acknowledged ({}) {} after it",
            secs(s.at_us.saturating_sub(open)),
            match &a.kind {
                AppEventKind::InitAcked { what } => peer(what, 80),
                _ => String::new(),
            },
            secs(a.at_us.saturating_sub(s.at_us))
        ),
        (Some(s), None, true) => format!(
            "the opening was sent {} after the 101 and never acknowledged",
            secs(s.at_us.saturating_sub(open))
        ),
    }
}

/// The server (not the path) closed at the protocol's heartbeat deadline
/// after a heartbeat went unanswered: the client's fault, not the path's.
fn heartbeat_timeout(conn: &ConnectionRecord, app: &AppRecord, end: &EndRecord) -> Option<Finding> {
    let protocol = app.protocol.as_deref()?;
    let timers = app.timers.as_ref()?;
    // Who ended it: the server's close frame, or TCP from its side.
    let by_peer = server_close(end).is_some()
        || matches!(
            end.end,
            ConnectionEnd::FinWithoutClose { .. } | ConnectionEnd::Reset
        );
    if !by_peer {
        return None;
    }
    let (awaited_from, what) = match timers.pinger {
        Side::Remote => {
            let unanswered = app
                .events
                .iter()
                .rfind(|e| e.kind == AppEventKind::ServerHeartbeat { answered: false })?;
            (
                unanswered.at_us,
                format!(
                    "the server's heartbeat at {} went unanswered",
                    secs(unanswered.at_us)
                ),
            )
        }
        Side::Local => {
            // The client pings; none sent (not spoken) means the server's
            // wait starts at the open (Engine.IO v3: pingInterval + pingTimeout).
            if app.spoken {
                return None;
            }
            let open = conn.phases.response_head_us?;
            (
                open.saturating_add(timers.interval_ms.saturating_mul(1000)),
                "the client sent no heartbeat (--app raw)".to_owned(),
            )
        }
    };
    let deadline = awaited_from.saturating_add(timers.timeout_ms.saturating_mul(1000));
    if !near(end.at_us, deadline) {
        return None;
    }
    let mut f = finding(
        CauseId::AppHeartbeatTimeout,
        Severity::Error,
        0.9,
        format!(
            "The server gave up on the client: {protocol}'s heartbeat went unanswered and {} ({}) ran out; the path did not end it",
            timers.timeout_setting,
            human(timers.timeout_ms.saturating_mul(1000))
        ),
        SourceKind::Probe,
    );
    f.measured.open_for_s = Some(to_s(open_for(end)));
    if let Some((code, reason)) = server_close(end) {
        f.measured.close_code = code;
        if !reason.is_empty() {
            f.measured.close_reason = Some(peer(reason, 123));
        }
    }
    f.evidence.push(what);
    f.evidence.push(format!(
        "the connection ended at {} ({}), {} after that, as {} says",
        secs(end.at_us),
        end_words(end),
        secs(end.at_us.saturating_sub(awaited_from)),
        timers.timeout_setting
    ));
    f.fix = fixes::answer_heartbeat(protocol, &timers.timeout_setting);
    Some(f)
}

fn end_words(end: &EndRecord) -> String {
    match &end.end {
        ConnectionEnd::CloseHandshake {
            code: Some(c),
            initiator: Side::Remote,
            ..
        } => format!("the server's close frame {c}"),
        ConnectionEnd::CloseHandshake {
            code: None,
            initiator: Side::Remote,
            ..
        } => "the server's close frame without a code".to_owned(),
        ConnectionEnd::FinWithoutClose { .. } => "TCP FIN without a close frame".to_owned(),
        ConnectionEnd::Reset => "TCP reset".to_owned(),
        _ => "its end".to_owned(),
    }
}

/// The server said at the protocol level why it ends the session
/// (Socket.IO `41`, Engine.IO close, `44`, `connection_error`) and then
/// ended it.
fn protocol_disconnect(app: &AppRecord, end: &EndRecord) -> Option<Finding> {
    let protocol = app.protocol.as_deref()?;
    let by_peer = server_close(end).is_some()
        || matches!(
            end.end,
            ConnectionEnd::FinWithoutClose { .. } | ConnectionEnd::Reset
        );
    // A broker that refuses the opening (a STOMP ERROR instead of
    // CONNECTED: RabbitMQ and stomp-broker-js keep the socket open after
    // it) said why as plainly as one that closes.
    let refused_opening = !app.init_acked()
        && app
            .events
            .iter()
            .any(|e| matches!(e.kind, AppEventKind::Error { .. }));
    if !by_peer && !refused_opening {
        return None;
    }
    let said = app.events.iter().rev().find_map(|e| match &e.kind {
        AppEventKind::Disconnect {
            by: Side::Remote,
            reason,
        } => Some((e.at_us, reason.as_str())),
        AppEventKind::Error { message } => Some((e.at_us, message.as_str())),
        _ => None,
    })?;
    let fact = wsdoctor_app::AppProtocol::from_id(protocol)
        .and_then(|p| wsdoctor_app::said_fact(p, said.1));
    let (id, severity) = cause_of(fact.map_or("server-close", |fact| fact.cause));
    let mut f = finding(
        id,
        severity,
        0.85,
        format!(
            "The server {} the {protocol} session on purpose {} after the 101: {}",
            if by_peer { "ended" } else { "refused" },
            human(open_for(end)),
            peer(said.1, 160)
        ),
        SourceKind::Probe,
    );
    f.measured.open_for_s = Some(to_s(open_for(end)));
    f.evidence
        .push(format!("at {}: {}", secs(said.0), peer(said.1, 300)));
    f.evidence.push(if by_peer {
        format!("then the connection ended ({})", end_words(end))
    } else {
        format!(
            "the server kept the connection open after refusing; it ended: {}",
            end_words(end)
        )
    });
    match fact {
        Some(fact) => {
            f.evidence.push(format!(
                "{protocol} documents {} ({}): {} (source: {}, read {})",
                fact.key, fact.name, fact.meaning, fact.source, fact.read
            ));
            f.fix.push(fix("server", fact.fix.to_owned()));
        }
        None => f.fix.push(fix(
            "server",
            format!("This is the server application's decision: look in its log at that time for why it disconnected the {protocol} session (authentication, a kick, a namespace middleware error)."),
        )),
    }
    Some(f)
}

/// The path (not the server's protocol) ended the connection while the
/// protocol's heartbeat was still due: a hop's idle timeout shorter than
/// the heartbeat. `idle-timeout` at the hop when the answer identifies it,
/// and `heartbeat-too-slow` naming the protocol's setting.
fn path_before_heartbeat(
    conn: &ConnectionRecord,
    app: &AppRecord,
    end: &EndRecord,
    findings: &[Finding],
) -> Vec<Finding> {
    let (Some(protocol), Some(timers)) = (app.protocol.as_deref(), app.timers.as_ref()) else {
        return Vec::new();
    };
    // A cut without a close frame, or a proxy's 1001/1006-style close, not
    // the protocol's own: ended without a close frame from the server.
    if !matches!(
        end.end,
        ConnectionEnd::FinWithoutClose { .. } | ConnectionEnd::Reset
    ) {
        return Vec::new();
    }
    let Some(silence_us) = end.since_last_inbound_us else {
        return Vec::new();
    };
    let Some((interval_us, interval_source)) = super::interval_us(conn, app) else {
        return Vec::new();
    };
    // The next heartbeat was still due when the path gave up.
    if silence_us >= interval_us || silence_us < 200_000 {
        return Vec::new();
    }
    let hop = conn
        .handshake
        .as_ref()
        .map(identify)
        .and_then(|c| blame(&c).and_then(|b| kb().intermediary(&b.id)))
        .filter(|i| i.is_proxy());
    let mut out = Vec::new();
    if !findings.iter().any(|f| f.id == CauseId::IdleTimeout) {
        let at = hop
            .map(|h| format!(" at {}", h.short_name()))
            .unwrap_or_default();
        let mut f = finding(
            CauseId::IdleTimeout,
            Severity::Error,
            if hop.is_some() { 0.75 } else { 0.6 },
            format!(
                "The path closed the connection after {} without traffic{at}, before {protocol}'s next heartbeat was due",
                human(silence_us)
            ),
            SourceKind::Probe,
        );
        f.intermediary = hop.map(|h| h.id.clone());
        f.measured.idle_timeout_s = Some(to_s(silence_us));
        f.measured.samples = Some(1);
        f.measured.transport = Some(
            match end.end {
                ConnectionEnd::Reset => "reset",
                _ => "eof",
            }
            .to_owned(),
        );
        f.evidence.push(format!(
            "nothing arrived for {} before the connection ended ({}), no close frame",
            secs(silence_us),
            end_words(end)
        ));
        if hop.is_none() {
            f.evidence.push("no hop is named: the answer to the upgrade identifies none; `wsdoctor idle URL` measures the timer with more samples".to_owned());
        }
        f.fix.extend(hop.and_then(raise_idle_fix));
        if f.fix.is_empty() {
            f.fix.push(fix("proxy", "Raise the idle (read) timeout of the hop in front of the server above the protocol's heartbeat interval"));
        }
        out.push(f);
    }
    let mut slow = finding(
        CauseId::HeartbeatTooSlow,
        Severity::Error,
        0.85,
        format!(
            "{protocol}'s heartbeat ({} {}) is slower than this path's idle timeout (~{})",
            timers.interval_setting,
            human(interval_us),
            human(silence_us)
        ),
        SourceKind::Probe,
    );
    slow.intermediary = hop.map(|h| h.id.clone());
    slow.measured.idle_timeout_s = Some(to_s(silence_us));
    slow.evidence.push(format!(
        "{} is {} ({}); the path ended the connection after {} of silence",
        timers.interval_setting,
        secs(interval_us),
        interval_source,
        secs(silence_us)
    ));
    slow.fix = fixes::faster_heartbeat(protocol, silence_us / 1000);
    slow.fix.extend(hop.and_then(raise_idle_fix));
    out.push(slow);
    out
}
