//! Findings from the browser probe page: what a real browser saw on the
//! user's real path, read next to the server's own view of each
//! connection. Pure.
//!
//! A browser shows only `code`, `reason` and `wasClean`; the server's view
//! adds what it sent. Together they tell apart: a silent connection cut at
//! a fixed age while the busy one lives (an idle timer), both cut at the
//! same age (a lifetime cap), a close frame the server sent but the browser
//! never got (a hop that ends connections its own way), and drops that
//! only happen while the tab is in the background (timer throttling).

use wsdoctor_evidence::browser::{BrowserArm, BrowserConnection, BrowserEvidence};
use wsdoctor_evidence::{escape_peer, ConnectionEnd, Side};

use super::common::{
    close_code_finding, finding, fix, hop_fixes, human, median, peer, same_time_us, to_s,
};
use crate::advice::rank;
use crate::finding::{CauseId, Finding, Severity, SourceKind};
use crate::fingerprint::hops::{self, Observed, Timer};

/// Chrome throttles timers of pages hidden for 5 minutes to once a minute
/// ("intensive wake up throttling", Chrome 88+,
/// developer.chrome.com/blog/timer-throttling-in-chrome-88); any hidden
/// page's timers run at most once a second.
const THROTTLE_AFTER_HIDDEN_MS: u64 = 5 * 60 * 1000;

/// [`same_time_us`] for the page's millisecond clock.
fn same(a_ms: u64, b_ms: u64) -> bool {
    same_time_us(a_ms.saturating_mul(1000), b_ms.saturating_mul(1000))
}

fn lived_words(c: &BrowserConnection) -> String {
    human(c.lived_ms().unwrap_or(0).saturating_mul(1000))
}

fn browser_saw(c: &BrowserConnection) -> String {
    let code = c.code.map_or("no code".to_owned(), |c| c.to_string());
    let reason = if c.reason.is_empty() {
        String::new()
    } else {
        format!(" \"{}\"", peer(&c.reason, 60))
    };
    let clean = match c.was_clean {
        Some(true) => "clean",
        Some(false) => "not clean",
        None => "cleanliness unknown",
    };
    format!("{code}{reason}, {clean}")
}

/// The close frame the server says it sent first, if it did.
fn server_sent_close(c: &BrowserConnection) -> Option<u16> {
    match &c.server.as_ref()?.end.as_ref()?.end {
        ConnectionEnd::CloseHandshake {
            code,
            initiator: Side::Local,
            ..
        } => Some(code.unwrap_or(1005)),
        _ => None,
    }
}

/// Drops a timer in the path could explain: timers close without a close
/// frame of the server's; a connection the server closed itself is about the
/// server, told by the other rules.
fn by_path<'a>(conns: &[&'a BrowserConnection]) -> Vec<&'a BrowserConnection> {
    conns
        .iter()
        .copied()
        .filter(|c| c.was_clean != Some(true) && server_sent_close(c).is_none())
        .collect()
}

/// Diagnoses one page's report.
pub fn diagnose_browser(e: &BrowserEvidence) -> Vec<Finding> {
    let mut findings = Vec::new();
    let dropped: Vec<&BrowserConnection> = e.connections.iter().filter(|c| c.dropped()).collect();
    let of_arm = |arm: BrowserArm| -> Vec<&BrowserConnection> {
        dropped.iter().copied().filter(|c| c.arm == arm).collect()
    };
    let (idle, busy) = (of_arm(BrowserArm::Idle), of_arm(BrowserArm::Heartbeat));

    if let Some(f) = timer_finding(e, &by_path(&idle), &by_path(&busy)) {
        findings.push(f);
    }
    if let Some(f) = swallowed_close(&dropped) {
        findings.push(f);
    }
    findings.extend(close_codes(&dropped));
    if let Some(f) = hidden_drops(e, &busy) {
        findings.push(f);
    }
    if let Some(f) = never_opened(e) {
        findings.push(f);
    }
    for f in &mut findings {
        f.source = SourceKind::Browser;
        f.subject.get_or_insert_with(|| peer(&e.user_agent, 80));
    }
    if findings.is_empty() {
        findings.push(healthy(e));
    }
    rank(&mut findings);
    findings
}

/// The idle arm cut at one age: an idle timer, or a lifetime cap when the
/// heartbeat arm was cut at the same age.
fn timer_finding(
    e: &BrowserEvidence,
    idle: &[&BrowserConnection],
    busy: &[&BrowserConnection],
) -> Option<Finding> {
    let lives: Vec<u64> = idle.iter().filter_map(|c| c.lived_ms()).collect();
    let t = median(lives.clone())?;
    let at_t = lives.iter().filter(|l| same(**l, t)).count();
    if at_t < 2 || at_t * 2 <= lives.len() {
        return None;
    }
    let t_us = t.saturating_mul(1000);
    let busy_at_t = busy
        .iter()
        .filter_map(|c| c.lived_ms())
        .filter(|l| same(*l, t))
        .count();
    // The heartbeat arm dying at t too means a cap that ignores traffic
    // only if its messages came well inside t; a heartbeat slower than the
    // timer leaves that arm as silent as the other.
    let heartbeat_inside = e.settings.heartbeat_ms.saturating_mul(2) <= t;
    let lifetime = busy_at_t >= 1 && heartbeat_inside;
    let mut f = if lifetime {
        let mut f = finding(
            CauseId::MaxLifetime,
            Severity::Error,
            0.75,
            format!(
                "In the browser, connections end after {} whatever the traffic",
                human(t_us)
            ),
            SourceKind::Browser,
        );
        f.measured.max_lifetime_s = Some(to_s(t_us));
        f.fix.push(fix(
            "proxy",
            format!("Raise the lifetime cap of the hop that owns it (`wsdoctor idle` from a machine on the same path names it), and make the page reconnect with backoff before {} is reached.", human(t_us)),
        ));
        f
    } else {
        let mut f = finding(
            CauseId::IdleTimeout,
            Severity::Error,
            0.8,
            format!(
                "In the browser, silent connections are closed after {}",
                human(t_us)
            ),
            SourceKind::Browser,
        );
        f.measured.idle_timeout_s = Some(to_s(t_us));
        f.measured.keepalive_by = Some("data".to_owned());
        f.evidence.push(if busy_at_t == 0 {
            format!(
                "the heartbeat arm (a message every {}) was not cut at that age",
                human(e.settings.heartbeat_ms.saturating_mul(1000))
            )
        } else {
            format!(
                "the heartbeat arm was cut at that age too, but its message every {} is not inside the timer: it was as idle as the silent one (a heartbeat must come well within {})",
                human(e.settings.heartbeat_ms.saturating_mul(1000)),
                human(t_us)
            )
        });
        f.fix
            .push(crate::advice::app::server_ping_fix(Some(t_us), None));
        f
    };
    // A browser cannot tell a FIN from a RST (both are 1006), so only the
    // timer ranks the hops here.
    let timer = if lifetime {
        Timer::Lifetime(t_us)
    } else {
        Timer::Idle(t_us)
    };
    let ranked = hops::rank(&Observed {
        timer: Some(timer),
        shape: None,
        named: &[],
        front: None,
    });
    f.measured.samples = Some(u32::try_from(at_t).unwrap_or(u32::MAX));
    f.measured.connections_affected = Some(at_t as u64);
    let spread = lives.iter().max().unwrap_or(&t) - lives.iter().min().unwrap_or(&t);
    f.measured.spread_s = Some(spread as f64 / 1000.0);
    if let Some(c) = idle.first() {
        f.evidence.push(format!(
            "idle connection #{} lived {}; the browser reported {}",
            c.attempt,
            lived_words(c),
            browser_saw(c)
        ));
    }
    f.evidence.push(format!(
        "{at_t} of {} silent connections ended at {}",
        lives.len(),
        human(t_us)
    ));
    f.evidence.extend(hops::lines(&ranked, 3));
    if !ranked.is_empty() {
        // No active fingerprint from here: the only URL serve has is the
        // one the page reports (the peer's to choose), and serve stands
        // behind the hops, so its route to the front is not the browser's.
        f.evidence.push(format!(
            "the browser shows no response headers and serve sends no fingerprint (it would have to trust the page's URL): `wsdoctor idle {}` from a machine on the browser's path asks the hop itself",
            escape_peer(&e.websocket_url)
        ));
    }
    f.fix.extend(hop_fixes(&ranked, timer, 3));
    Some(f)
}

/// The server sent a close frame, the browser saw none (1006): something
/// between them ended the connection its own way.
fn swallowed_close(dropped: &[&BrowserConnection]) -> Option<Finding> {
    let lost: Vec<(&BrowserConnection, u16)> = dropped
        .iter()
        .filter(|c| c.code == Some(1006) || c.was_clean == Some(false))
        .filter_map(|c| Some((*c, server_sent_close(c)?)))
        .collect();
    let (first, code) = *lost.first()?;
    let mut f = finding(
        CauseId::AbnormalClose,
        Severity::Error,
        0.85,
        format!(
            "The server sent close frame {code}, but the browser saw 1006 (no close frame): a hop between them dropped it"
        ),
        SourceKind::Browser,
    );
    f.measured.transport = Some("eof".to_owned());
    f.measured.close_code = Some(1006);
    f.measured.connections_affected = Some(lost.len() as u64);
    f.evidence.push(format!(
        "{} connection #{}: the server closed with {code}; the browser reported {} after {}",
        first.arm.as_str(),
        first.attempt,
        browser_saw(first),
        lived_words(first)
    ));
    f.evidence.push(format!(
        "{} of {} drops went this way",
        lost.len(),
        dropped.len()
    ));
    f.fix.push(fix(
        "proxy",
        "A proxy, load balancer or CDN closed the client's side without forwarding the server's close frame, so the page cannot see why it was closed (every reason becomes 1006). Check which hop ends tunnels on its own (its logs at these times), and make the page treat 1006 like the code the server sends (reconnect with backoff).",
    ));
    Some(f)
}

/// Close frames that reached the browser, by code.
fn close_codes(dropped: &[&BrowserConnection]) -> Vec<Finding> {
    let mut codes: std::collections::BTreeMap<u16, Vec<&BrowserConnection>> =
        std::collections::BTreeMap::new();
    for c in dropped.iter().filter(|c| c.was_clean == Some(true)) {
        if let Some(code) = c.code {
            codes.entry(code).or_default().push(c);
        }
    }
    codes
        .into_iter()
        .filter_map(|(code, conns)| {
            close_code_finding(
                code,
                conns.len(),
                format!(
                    "The browser got close frame {code} on {} connection(s)",
                    conns.len()
                ),
                conns.iter().map(|c| {
                    format!(
                        "{} connection #{} after {}: {}",
                        c.arm.as_str(),
                        c.attempt,
                        lived_words(c),
                        browser_saw(c)
                    )
                }),
                SourceKind::Browser,
            )
        })
        .collect()
}

/// The heartbeat arm dropped only while the tab was hidden: the page's
/// timers were throttled and its heartbeat stopped.
fn hidden_drops(e: &BrowserEvidence, busy: &[&BrowserConnection]) -> Option<Finding> {
    let hidden: Vec<&&BrowserConnection> = busy.iter().filter(|c| c.hidden_for_ms > 0).collect();
    if hidden.is_empty() || hidden.len() < busy.len() {
        return None;
    }
    let longest = hidden.iter().map(|c| c.hidden_for_ms).max().unwrap_or(0);
    let mut f = finding(
        CauseId::HeartbeatTooSlow,
        Severity::Warning,
        if longest >= THROTTLE_AFTER_HIDDEN_MS {
            0.75
        } else {
            0.55
        },
        "The page's own heartbeat connection dropped only while the tab was in the background",
        SourceKind::Browser,
    );
    f.measured.connections_affected = Some(hidden.len() as u64);
    for c in hidden.iter().take(3) {
        f.evidence.push(format!(
            "heartbeat connection #{} dropped after {}, the tab hidden for {}: {}",
            c.attempt,
            lived_words(c),
            human(c.hidden_for_ms.saturating_mul(1000)),
            browser_saw(c)
        ));
    }
    f.evidence.push(format!(
        "browsers slow the timers of background tabs (Chrome: once a second, and once a minute after {} hidden), so a heartbeat sent from page JavaScript every {} can stop",
        human(THROTTLE_AFTER_HIDDEN_MS.saturating_mul(1000)),
        human(e.settings.heartbeat_ms.saturating_mul(1000))
    ));
    f.fix.push(crate::advice::app::server_ping_fix(None, None));
    f.fix.push(fix(
        "client",
        "Keep heartbeats out of page timers: let the server ping (browsers answer pings without JavaScript), or run the socket in a Web Worker; on `visibilitychange` back to visible, check the socket and reconnect at once if it is gone.",
    ));
    Some(f)
}

/// Not one connection opened: the browser does not say why (1006 before
/// open); the server's ledger says whether the request even reached it.
fn never_opened(e: &BrowserEvidence) -> Option<Finding> {
    if e.connections.is_empty() || e.connections.iter().any(|c| c.opened_ms.is_some()) {
        return None;
    }
    let failed: Vec<&BrowserConnection> = e
        .connections
        .iter()
        .filter(|c| c.closed_ms.is_some())
        .collect();
    let first = failed.first()?;
    let reached = failed.iter().any(|c| c.server.is_some());
    let mut f = if !e.server_views_complete && !reached {
        // Several serve processes share the port: this one's ledger may
        // simply not hold the attempts, so where they ended is unknown.
        let mut f = finding(
            CauseId::UpgradeRejected,
            Severity::Error,
            0.35,
            "The browser could not open a WebSocket; whether the upgrade reached serve is unknown here (several serve processes share the port)",
            SourceKind::Browser,
        );
        f.fix.push(fix(
            "proxy",
            "Run `wsdoctor probe` on the WebSocket URL to see the status and who answered, or run serve as one process for this test.",
        ));
        f
    } else if reached {
        finding(
            CauseId::UpgradeRejected,
            Severity::Error,
            0.5,
            "The browser could not open a WebSocket, though the upgrade reached the server",
            SourceKind::Browser,
        )
    } else {
        let mut f = finding(
            CauseId::UpgradeNotForwarded,
            Severity::Error,
            0.6,
            "The browser could not open a WebSocket, and the upgrade never reached wsdoctor serve: a hop in front answered it",
            SourceKind::Browser,
        );
        f.fix.push(fix(
            "proxy",
            "The page itself arrived through this path, but the WebSocket upgrade did not: the proxy serving the page does not forward Upgrade/Connection (or routes the path elsewhere). Run `wsdoctor probe` on the WebSocket URL to see the status and who answered.",
        ));
        f
    };
    f.evidence.push(format!(
        "{} attempt(s), none opened; the browser reported {} (browsers hide the HTTP status of a failed upgrade)",
        failed.len(),
        browser_saw(first)
    ));
    f.evidence
        .push(format!("WebSocket URL: {}", peer(&e.websocket_url, 120)));
    Some(f)
}

fn healthy(e: &BrowserEvidence) -> Finding {
    let mut f = finding(
        CauseId::Healthy,
        Severity::Info,
        0.5,
        format!(
            "No problem seen from the browser in {}",
            human(e.ran_ms.saturating_mul(1000))
        ),
        SourceKind::Browser,
    );
    let opened = e
        .connections
        .iter()
        .filter(|c| c.opened_ms.is_some())
        .count();
    f.evidence.push(format!(
        "{opened} of {} WebSockets opened; none dropped",
        e.connections.len()
    ));
    if let Some(p) = &e.page_protocol {
        f.evidence
            .push(format!("the page came over {}", peer(p, 20)));
    }
    f.subject = Some(peer(&e.user_agent, 80));
    f.fix.push(fix(
        "client",
        "Nothing to fix from this run. Idle timers longer than the run are not seen: keep the page open longer (`?max=15m`) or run `wsdoctor idle` on the same URL.",
    ));
    f
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
