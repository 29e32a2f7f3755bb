//! The timer stack: every idle timer and lifetime cap on the path — from
//! the files (nginx `proxy_read_timeout`, HAProxy tunnel timeouts) and from
//! the kb for hops named with `--via` — judged together against the
//! application's heartbeat (`--app-ping`).
//!
//! A heartbeat "clears" a hop when its interval is at most 80 % of the
//! hop's idle timeout. Equal is not enough: timers tick coarsely, a ping
//! leaves late under load, and an interval equal to the timeout races it
//! (Mattermost's 60 s pings against the ALB's 60 s are the kb's example).

use std::time::Duration;

use wsdoctor_evidence::config::{ConfigEvidence, TimerRole};
use wsdoctor_evidence::format_duration;

use super::{haproxy, hops, nginx, ConfigFinding, Hop};
use crate::finding::{CauseId, Severity};
use crate::kb::kb;
use crate::rules::common::{fix, fix_with, raise_idle_fix};

/// The share of an idle timeout a heartbeat may use and still clear it.
const MARGIN: f64 = 0.8;

/// Without a known heartbeat, idle timers below this are worth a warning:
/// the defaults people hit (55–350 s) all are.
const WORRYING_IDLE_MS: u64 = 600_000;

fn human(ms: u64) -> String {
    format_duration(Duration::from_millis(ms))
}

fn clears(ping_ms: u64, idle_ms: u64) -> bool {
    (ping_ms as f64) <= idle_ms as f64 * MARGIN
}

pub(super) fn diagnose(ev: &ConfigEvidence) -> Vec<ConfigFinding> {
    let mut hops = nginx::hops(ev);
    hops.extend(haproxy::hops(ev));
    hops.extend(hops::hops(ev));
    hops.extend(via_hops(ev));
    let mut out = Vec::new();
    for h in &hops {
        out.extend(lifetime(h));
    }
    let idle: Vec<&Hop> = hops.iter().filter(|h| h.idle_ms.is_some()).collect();
    let Some(tightest) = idle.iter().copied().min_by_key(|h| h.idle_ms) else {
        return out;
    };
    let tightest_ms = tightest.idle_ms.unwrap_or_default();
    let heartbeat = heartbeat(ev);
    let ping = heartbeat.as_ref().map(|(ms, _)| *ms);
    match &heartbeat {
        None => {
            for h in &idle {
                out.extend(idle_without_heartbeat(h, tightest_ms));
            }
        }
        Some((ping, from)) => {
            for h in &idle {
                out.extend(
                    heartbeat_too_slow(h, *ping, tightest_ms).map(|f| f.evidence(from.clone())),
                );
            }
        }
    }
    if idle.len() > 1 || ping.is_some() {
        let mut f = stack(&idle, tightest, ping);
        if let Some((_, from)) = &heartbeat {
            f = f.evidence(from.clone());
        }
        out.push(f);
    }
    out
}

/// The heartbeat to judge against: `--app-ping`, else the slowest one
/// read from application code (a library switched off has none, and then
/// neither does the application).
fn heartbeat(ev: &ConfigEvidence) -> Option<(u64, String)> {
    if let Some(ms) = ev.app_ping_ms {
        return Some((ms, format!("heartbeat every {} (--app-ping)", human(ms))));
    }
    let settings: Vec<&wsdoctor_evidence::config::TimerSetting> = ev
        .hops
        .iter()
        .flat_map(|h| &h.timers)
        .filter(|t| t.role == TimerRole::Heartbeat)
        .filter_map(|t| t.setting.as_ref())
        .collect();
    if settings.iter().any(|s| s.value.is_none()) {
        return None;
    }
    let slowest = settings.into_iter().max_by_key(|s| s.value)?;
    let ms = slowest.value?;
    Some((
        ms,
        format!(
            "heartbeat every {}: {} at {}",
            human(ms),
            slowest.raw,
            slowest.span.file_line()
        ),
    ))
}

fn via_hops(ev: &ConfigEvidence) -> Vec<Hop> {
    ev.via
        .iter()
        .filter_map(|id| kb().intermediary(id))
        .map(|i| Hop {
            name: i.short_name().to_owned(),
            intermediary: i.id.clone(),
            idle_ms: i.idle_timeout_default_s.map(|s| u64::from(s) * 1000),
            lifetime_ms: i.max_lifetime_s.map(|s| u64::from(s) * 1000),
            setting: i.idle_timeout_default_s.map_or_else(
                || "no documented idle timeout".to_owned(),
                |s| format!("default idle timeout {s} s (from the knowledge base)"),
            ),
            span: None,
            is_default: true,
            raise: Vec::new(),
            raise_text: String::new(),
            notes: Vec::new(),
        })
        .collect()
}

/// The fix that raises a hop: its own edit text, or the kb's snippet for
/// hops outside the files.
fn raise_fix(h: &Hop) -> Option<crate::finding::Fix> {
    if h.span.is_some() {
        return Some(fix(&h.intermediary, h.raise_text.clone()));
    }
    kb().intermediary(&h.intermediary).and_then(raise_idle_fix)
}

/// The heartbeat for the tightest idle timer of the stack: a ping every
/// half of it, as code (the snippets live in [`crate::advice::app`]).
fn heartbeat_fix(tightest_ms: u64) -> crate::finding::Fix {
    crate::advice::app::server_ping_fix(Some(tightest_ms.saturating_mul(1000)), None)
}

fn place(h: &Hop) -> String {
    match &h.span {
        Some(s) => format!("{} at {}", h.setting, s.file_line()),
        None => format!("{} (--via)", h.setting),
    }
}

fn idle_without_heartbeat(h: &Hop, tightest_ms: u64) -> Option<ConfigFinding> {
    let idle = h.idle_ms?;
    if idle >= WORRYING_IDLE_MS {
        return None;
    }
    let mut f = ConfigFinding::new(
        CauseId::IdleTimeout,
        Severity::Warning,
        if h.is_default { 0.7 } else { 0.8 },
        format!(
            "{} closes WebSockets that are silent for {}{}",
            h.name,
            human(idle),
            if h.is_default { " (its default)" } else { "" }
        ),
        h.span.as_ref(),
        &h.intermediary,
    )
    .label(format!("idle connections are closed after {}", human(idle)))
    .evidence(place(h))
    .evidence("no application heartbeat given (--app-ping): any connection quiet for longer is dropped, usually without a close frame (1006)");
    for n in &h.notes {
        f = f.evidence(n.clone());
    }
    f.finding.measured.idle_timeout_s = Some(idle as f64 / 1000.0);
    f.finding.measured.keepalive_by = Some("either".to_owned());
    f = f.fix(heartbeat_fix(tightest_ms));
    if let Some(raise) = raise_fix(h) {
        f = f.fix(raise);
    }
    f.edits.extend(h.raise.iter().cloned());
    Some(f)
}

fn heartbeat_too_slow(h: &Hop, ping: u64, tightest_ms: u64) -> Option<ConfigFinding> {
    let idle = h.idle_ms?;
    if clears(ping, idle) {
        return None;
    }
    let (severity, how) = if ping >= idle {
        (Severity::Error, "is too slow for")
    } else {
        (Severity::Warning, "races")
    };
    let mut f = ConfigFinding::new(
        CauseId::HeartbeatTooSlow,
        severity,
        0.85,
        format!(
            "A {} heartbeat {how} {}, which closes WebSockets idle for {}",
            human(ping),
            h.name,
            human(idle)
        ),
        h.span.as_ref(),
        &h.intermediary,
    )
    .label(format!(
        "closes after {} idle; the heartbeat comes every {}",
        human(idle),
        human(ping)
    ))
    .evidence(place(h))
    .evidence(format!(
        "a heartbeat clears a timer with margin at ≤ {:.0} % of it: ≤ {} here",
        MARGIN * 100.0,
        human((idle as f64 * MARGIN) as u64)
    ));
    f.finding.measured.idle_timeout_s = Some(idle as f64 / 1000.0);
    f = f.fix(heartbeat_fix(tightest_ms));
    if let Some(raise) = raise_fix(h) {
        f = f.fix(raise);
    }
    f.edits.extend(h.raise.iter().cloned());
    Some(f)
}

/// A lifetime cap of at least this long is normal housekeeping (reconnect
/// logic covers it); shorter ones cut ordinary sessions.
const HARMLESS_LIFETIME_MS: u64 = 3_600_000;

fn lifetime(h: &Hop) -> Option<ConfigFinding> {
    let cap = h.lifetime_ms?;
    let i = kb().intermediary(&h.intermediary);
    let severity = if cap >= HARMLESS_LIFETIME_MS {
        Severity::Info
    } else {
        Severity::Warning
    };
    let mut f = ConfigFinding::new(
        CauseId::MaxLifetime,
        severity,
        0.7,
        format!(
            "{} ends every WebSocket after {}, whatever the traffic",
            h.name,
            human(cap)
        ),
        h.span.as_ref(),
        &h.intermediary,
    )
    .evidence(
        i.and_then(|i| i.max_lifetime_note.clone())
            .unwrap_or_else(|| format!("lifetime cap {}", human(cap))),
    )
    .evidence("pings cannot prevent this: only reconnecting (with backoff and jitter) or raising the cap can");
    if h.span.is_some() {
        f = f.evidence(place(h)).label(format!(
            "connections are ended after {}, idle or not",
            human(cap)
        ));
    }
    for n in &h.notes {
        f = f.evidence(n.clone());
    }
    if h.span.is_some() && !h.raise_text.is_empty() && cap < HARMLESS_LIFETIME_MS {
        f = f.fix(fix(&h.intermediary, h.raise_text.clone()));
        f.edits.extend(h.raise.iter().cloned());
    }
    f.finding.measured.max_lifetime_s = Some(cap as f64 / 1000.0);
    f = match i.and_then(|i| i.fix_snippet.as_deref()) {
        Some(snippet) => f.fix(fix_with(
            &h.intermediary,
            format!(
                "Raise the lifetime cap where {} allows it, and reconnect before it.",
                h.name
            ),
            snippet,
        )),
        None => f.fix(fix(
            "client",
            "Reconnect before the cap, with backoff and jitter.",
        )),
    };
    Some(f)
}

fn stack(idle: &[&Hop], tightest: &Hop, ping: Option<u64>) -> ConfigFinding {
    let tightest_ms = tightest.idle_ms.unwrap_or_default();
    let title = match ping {
        None => format!(
            "Tightest idle timer on the path: {} after {} — a heartbeat must come every {} or faster",
            tightest.name,
            human(tightest_ms),
            human((tightest_ms as f64 * MARGIN) as u64)
        ),
        Some(p) if clears(p, tightest_ms) => format!(
            "The {} heartbeat clears every idle timer on the path (tightest: {} after {})",
            human(p),
            tightest.name,
            human(tightest_ms)
        ),
        Some(p) => format!(
            "The {} heartbeat does not clear the tightest idle timer: {} after {}",
            human(p),
            tightest.name,
            human(tightest_ms)
        ),
    };
    let mut sorted: Vec<&&Hop> = idle.iter().collect();
    sorted.sort_by_key(|h| h.idle_ms);
    let mut f = ConfigFinding::new(
        CauseId::IdleTimeout,
        Severity::Info,
        0.8,
        title,
        tightest.span.as_ref(),
        &tightest.intermediary,
    )
    .label("the tightest idle timer on the path");
    for h in sorted {
        let t = h.idle_ms.map(human).unwrap_or_default();
        let mark = match ping {
            Some(p) if h.idle_ms.is_some_and(|i| clears(p, i)) => "  ✓ cleared",
            Some(_) => "  ✗ not cleared",
            None => "",
        };
        f = f.evidence(format!("{t:>8}  {}: {}{mark}", h.name, place(h)));
    }
    f.finding.measured.idle_timeout_s = Some(tightest_ms as f64 / 1000.0);
    f.fix(heartbeat_fix(tightest_ms))
}
