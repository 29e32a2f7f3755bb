//! Failed upgrades: upgrade requests answered with anything but 101,
//! grouped by what the status says about who refused.

use wsdoctor_evidence::logs::FailedUpgrade;

use super::{count, percent, samples, Ctx};
use crate::finding::{CauseId, Finding, Fix, Severity};
use crate::rules::common::{fix, fix_with};

/// Rows of (status, path) shown per finding.
const MAX_ROWS: usize = 5;

/// What a status to an upgrade request means: the cause, how sure, and why.
fn cause(status: u16) -> (CauseId, f64, &'static str) {
    match status {
        200 => (
            CauseId::UpgradeNotForwarded,
            0.7,
            "200: a plain HTTP handler answered, the Upgrade header never reached a WebSocket server",
        ),
        426 => (
            CauseId::UpgradeNotForwarded,
            0.75,
            "426: the backend got the request without its Upgrade header",
        ),
        400 => (
            CauseId::UpgradeNotForwarded,
            0.5,
            "400: most often a hop dropped the Upgrade/Connection headers and the backend refused a plain request",
        ),
        502..=504 => (
            CauseId::BackendUnavailable,
            0.85,
            "the proxy could not reach a healthy backend",
        ),
        500..=599 => (
            CauseId::BackendUnavailable,
            0.5,
            "the backend failed while answering the handshake",
        ),
        0 => (
            CauseId::BackendUnavailable,
            0.4,
            "no answer was logged: the client or the hop gave up before a response",
        ),
        _ => (
            CauseId::UpgradeRejected,
            0.7,
            "the server refused the upgrade itself (authentication, origin, path, subprotocol)",
        ),
    }
}

pub(super) fn diagnose(ctx: &Ctx<'_>) -> Vec<Finding> {
    let ev = ctx.ev;
    let attempts = ev.connections + ev.failed_upgrades_total;
    let mut out = Vec::new();
    for id in [
        CauseId::UpgradeNotForwarded,
        CauseId::BackendUnavailable,
        CauseId::UpgradeRejected,
    ] {
        let rows: Vec<&FailedUpgrade> = ev
            .failed_upgrades
            .iter()
            .filter(|f| cause(f.status).0 == id)
            .collect();
        let n: u64 = rows.iter().map(|r| r.count).sum();
        if n == 0 {
            continue;
        }
        out.push(finding(ctx, id, &rows, n, attempts));
    }
    out
}

fn finding(ctx: &Ctx<'_>, id: CauseId, rows: &[&FailedUpgrade], n: u64, attempts: u64) -> Finding {
    let top = rows[0];
    let (_, confidence, why) = cause(top.status);
    let share = n as f64 / attempts.max(1) as f64;
    let severity = if share >= 0.05 {
        Severity::Error
    } else if share >= 0.005 || n >= 10 {
        Severity::Warning
    } else {
        Severity::Info
    };
    let mut statuses: Vec<u16> = rows.iter().map(|r| r.status).collect();
    statuses.sort_unstable();
    statuses.dedup();
    let list: Vec<String> = statuses.iter().map(u16::to_string).collect();
    let what = match id {
        CauseId::UpgradeNotForwarded => "the upgrade did not reach a WebSocket server",
        CauseId::BackendUnavailable => "the backend was unavailable",
        _ => "the server refused the upgrade",
    };
    let mut f = ctx.finding(
        id,
        severity,
        confidence,
        format!(
            "{} of {} upgrade requests got {} instead of 101: {what}",
            count(n),
            count(attempts),
            list.join("/")
        ),
    );
    f.measured.http_status = Some(top.status);
    f.measured.samples = Some(samples(n));
    f.measured.connections_affected = Some(n);
    f.intermediary = ctx.producer.map(|p| p.id.clone());
    f.evidence.push(format!(
        "{} of upgrade requests failed this way; {why}",
        percent(n, attempts)
    ));
    for r in rows.iter().take(MAX_ROWS) {
        let mut line = format!(
            "{} on {}: {}",
            status_text(r.status),
            r.path,
            count(r.count)
        );
        if let Some(b) = &r.backend_status {
            line.push_str(&format!(", backend answered {b}"));
        }
        if let Some(reason) = &r.reason {
            line.push_str(&format!(", reason {reason}"));
        }
        if let Some(t) = &r.target {
            line.push_str(&format!(", target {t}"));
        }
        f.evidence.push(line);
    }
    if rows.len() > MAX_ROWS {
        f.evidence.push(format!(
            "… and {} more status/path pairs",
            rows.len() - MAX_ROWS
        ));
    }
    f.fix = fixes(ctx, id, top);
    f
}

fn status_text(status: u16) -> String {
    match status {
        0 => "no status".to_owned(),
        s => format!("HTTP {s}"),
    }
}

fn fixes(ctx: &Ctx<'_>, id: CauseId, top: &FailedUpgrade) -> Vec<Fix> {
    let mut out = Vec::new();
    match id {
        CauseId::UpgradeNotForwarded => {
            if let Some(p) = ctx.producer {
                let snippet = p
                    .fix_snippet
                    .as_deref()
                    .filter(|s| s.to_ascii_lowercase().contains("upgrade"));
                let text = p.websocket_config.clone().unwrap_or_else(|| {
                    format!(
                        "Make {} forward the Upgrade and Connection headers.",
                        p.short_name()
                    )
                });
                out.push(match snippet {
                    Some(s) => fix_with(&p.id, text, s),
                    None => fix(&p.id, text),
                });
            }
            out.push(fix(
                "proxy",
                format!(
                    "Every hop between client and server must pass Upgrade and Connection (they \
                     are hop-by-hop) and speak HTTP/1.1 to the next one; `wsdoctor probe` on \
                     {} at each hop shows where the header is lost.",
                    top.path
                ),
            ));
        }
        CauseId::BackendUnavailable => {
            let reason = top
                .reason
                .as_deref()
                .map(|r| format!(" (the load balancer says {r})"))
                .unwrap_or_default();
            out.push(fix(
                "server",
                format!(
                    "Check the health and capacity of the backends behind {}{reason}: \
                     crashed or restarting processes, failing health checks, full accept \
                     queues or connection limits.",
                    top.path
                ),
            ));
        }
        _ => out.push(fix(
            "server",
            format!(
                "Compare what clients send to {} with what the server requires (token, \
                 Origin, path, Sec-WebSocket-Protocol); the server's own log says which check \
                 failed.",
                top.path
            ),
        )),
    }
    out
}
