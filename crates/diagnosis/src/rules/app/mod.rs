//! Conclusions about the application protocol a connection spoke
//! (Socket.IO, GraphQL over WebSocket, …; recorded in
//! [`wsdoctor_evidence::AppRecord`]): its own heartbeat going unanswered
//! (`app-heartbeat-timeout`, the protocol's timeout, not the path), its
//! opening not happening in time (`app-init-timeout`), its documented
//! close codes and disconnect reasons, and a heartbeat slower than a hop's
//! idle timeout (`heartbeat-too-slow`, naming the protocol's setting).
//! The WebSocket-level rules run first; these refine their findings.

mod fixes;
mod flow;
mod idle;
mod load;
mod probe;
#[cfg(test)]
mod tests;
mod watch;

pub(crate) use flow::annotate_flow;
pub(crate) use idle::adjust_idle;
pub(crate) use load::adjust_load;
pub(crate) use probe::adjust_probe;
pub(crate) use watch::annotate_watch;

use wsdoctor_evidence::{AppRecord, ConnectionRecord, Side};

use crate::finding::{CauseId, Finding, Severity};
use crate::rules::common::{median, peer, secs, to_s};

/// The contract id a protocol's close-code fact names.
fn cause_of(fact_cause: &str) -> (CauseId, Severity) {
    match fact_cause {
        "app-init-timeout" => (CauseId::AppInitTimeout, Severity::Error),
        "app-heartbeat-timeout" => (CauseId::AppHeartbeatTimeout, Severity::Error),
        "protocol-error" => (CauseId::ProtocolError, Severity::Error),
        "upgrade-rejected" => (CauseId::UpgradeRejected, Severity::Error),
        "server-error" => (CauseId::ServerError, Severity::Error),
        "server-close" => (CauseId::ServerClose, Severity::Warning),
        "load-limit" => (CauseId::LoadLimit, Severity::Warning),
        "going-away" => (CauseId::GoingAway, Severity::Warning),
        "max-lifetime" => (CauseId::MaxLifetime, Severity::Warning),
        // Any other application code: the contract's policy-close.
        _ => (CauseId::PolicyClose, Severity::Warning),
    }
}

/// One line saying which protocol was spoken and why, or that none was,
/// and how to override the guess.
pub(crate) fn protocol_line(app: &AppRecord) -> String {
    let why = peer(&app.decided_by, 300);
    match &app.protocol {
        Some(p) if app.spoken && !app.init_acked() => format!(
            "application protocol: {p} spoken ({why}), but the server never answered its opening: if it does not speak {p}, --app raw (or the right --app) tells the truth"
        ),
        Some(p) if app.spoken => format!(
            "application protocol: {p}{} spoken as its client does ({why}); --app raw to speak none",
            app.version.as_deref().map(|v| format!(" {v}")).unwrap_or_default()
        ),
        Some(p) => format!(
            "application protocol: {p} recognised but not spoken ({why}); --app {p} (or auto) speaks it"
        ),
        None => {
            let why = why
                .strip_prefix("no application protocol recognised: ")
                .unwrap_or(&why);
            format!("application protocol: none recognised ({why}); --app NAME speaks one")
        }
    }
}

/// The protocol's heartbeat interval in µs, and where it comes from: the
/// frame log when the heartbeat is WebSocket pings the server did send
/// (two or more), else the timers as announced or defaulted.
pub(crate) fn interval_us(conn: &ConnectionRecord, app: &AppRecord) -> Option<(u64, String)> {
    let t = app.timers.as_ref()?;
    let pings = conn.ping_times(Side::Remote);
    let measured = (t.websocket_pings && !t.announced && pings.len() >= 2)
        .then(|| {
            median(
                pings
                    .windows(2)
                    .map(|w| w[1].saturating_sub(w[0]))
                    .collect(),
            )
        })
        .flatten();
    Some(match measured {
        Some(us) => (
            us,
            format!(
                "measured between the server's WebSocket pings (its default is {})",
                secs(t.interval_ms.saturating_mul(1000))
            ),
        ),
        None => (t.interval_ms.saturating_mul(1000), t.source.clone()),
    })
}

/// The protocol's timers in words.
pub(crate) fn timers_line(conn: &ConnectionRecord, app: &AppRecord) -> Option<String> {
    let t = app.timers.as_ref()?;
    let (interval, source) = interval_us(conn, app)?;
    let who = match t.pinger {
        Side::Remote => "the server pings",
        Side::Local => "the client pings",
    };
    Some(format!(
        "{} heartbeat: {who} every {} ({}), the other side waits {} ({}); {}",
        app.protocol.as_deref().unwrap_or("protocol"),
        secs(interval),
        t.interval_setting,
        secs(t.timeout_ms.saturating_mul(1000)),
        t.timeout_setting,
        source
    ))
}

/// Stamps every finding with the protocol's `measured` keys and adds the
/// lines saying what was spoken and its timers. "None recognised" is said
/// once (on the healthy finding, else the first): on every finding of a
/// bare WebSocket it is noise.
pub(crate) fn annotate(findings: &mut [Finding], conn: &ConnectionRecord, app: &AppRecord) {
    let line = protocol_line(app);
    let timers = timers_line(conn, app);
    let say_once = app.protocol.is_none().then(|| {
        findings
            .iter()
            .position(|f| f.id == CauseId::Healthy)
            .unwrap_or(0)
    });
    for (i, f) in findings.iter_mut().enumerate() {
        stamp(f, conn, app);
        if say_once.is_none_or(|at| at == i) && !f.evidence.contains(&line) {
            f.evidence.push(line.clone());
        }
        if let Some(t) = timers.as_ref().filter(|t| !f.evidence.contains(t)) {
            f.evidence.push(t.clone());
        }
    }
}

/// Sets the contract's `measured.app_*` keys.
pub(crate) fn stamp(f: &mut Finding, conn: &ConnectionRecord, app: &AppRecord) {
    let Some(p) = &app.protocol else { return };
    f.measured.app_protocol = Some(p.clone());
    if let (Some(t), Some((interval, _))) = (&app.timers, interval_us(conn, app)) {
        f.measured.app_ping_interval_s = Some(to_s(interval));
        f.measured.app_ping_timeout_s = Some(t.timeout_ms as f64 / 1000.0);
    }
}
