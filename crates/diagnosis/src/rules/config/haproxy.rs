//! HAProxy rules. HAProxy forwards upgrades by itself in HTTP mode, so what
//! can drop WebSockets is its timers (judged in [`super::chain`]), reloads
//! (`hard-stop-after`) and connection limits (`maxconn`).

use wsdoctor_evidence::config::WEBSOCKET_WORDS as WS_WORDS;
use wsdoctor_evidence::config::{
    ConfigEvidence, Edit, EditAction, HaproxySection, Span, TimerSetting,
};

use super::drain::{self, ReloadDrain};
use super::{ConfigFinding, Hop};
use crate::finding::{CauseId, Severity};
use crate::rules::common::fix;

const HAPROXY: &str = "haproxy";

/// The tunnel timeout `--fix` writes: the kb's example value.
const TUNNEL_FIX: &str = "timeout tunnel 1h";

fn is_proxy(s: &HaproxySection) -> bool {
    s.kind == "backend" || s.kind == "listen"
}

fn names_websocket(name: &str) -> bool {
    name.to_ascii_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| WS_WORDS.contains(&w))
}

/// The sections that carry WebSockets: those whose name says so, or all of
/// them when none does (HAProxy config has no other hint).
fn websocket_sections(ev: &ConfigEvidence) -> Vec<&HaproxySection> {
    let proxies: Vec<&HaproxySection> =
        ev.haproxy.sections.iter().filter(|s| is_proxy(s)).collect();
    let named: Vec<&HaproxySection> = proxies
        .iter()
        .copied()
        .filter(|s| names_websocket(&s.name))
        .collect();
    if named.is_empty() {
        proxies
    } else {
        named
    }
}

/// The idle timer of each WebSocket backend once upgraded: `timeout
/// tunnel`, or without it the smaller of `timeout client` (frontend side)
/// and `timeout server`. Unset everywhere means no timer (HAProxy warns).
pub(super) fn hops(ev: &ConfigEvidence) -> Vec<Hop> {
    websocket_sections(ev)
        .into_iter()
        .filter_map(|s| hop(ev, s))
        .collect()
}

fn hop(ev: &ConfigEvidence, s: &HaproxySection) -> Option<Hop> {
    let name = format!("HAProxy {} {}", s.kind, s.name);
    let into = Edit::new(
        &s.span.file,
        s.span.line,
        EditAction::InsertInto,
        vec![TUNNEL_FIX.into()],
    );
    if let Some(t) = s.timeout("tunnel") {
        let idle = t.value?;
        let raise = if t.inherited {
            Some(into)
        } else {
            replace(ev, &t.span, TUNNEL_FIX)
        };
        return Some(Hop {
            name,
            intermediary: HAPROXY.into(),
            idle_ms: Some(idle),
            lifetime_ms: None,
            setting: format!("timeout tunnel {}", t.raw),
            span: Some(t.span.clone()),
            is_default: false,
            raise: raise.into_iter().collect(),
            raise_text: format!(
                "Raise `timeout tunnel` for {} {} (it applies once a connection is upgraded).",
                s.kind, s.name
            ),
            notes: Vec::new(),
        });
    }
    // Without a tunnel timeout both sides' timers keep running.
    let mut candidates: Vec<(&str, &TimerSetting)> = Vec::new();
    if let Some(t) = s.timeout("server") {
        candidates.push(("server", t));
    }
    let fronts: Vec<&HaproxySection> = ev
        .haproxy
        .sections
        .iter()
        .filter(|f| f.kind == "frontend" && f.backends.contains(&s.name))
        .collect();
    if fronts.is_empty() {
        candidates.extend(s.timeout("client").map(|t| ("client", t)));
    }
    for f in fronts {
        candidates.extend(f.timeout("client").map(|t| ("client", t)));
    }
    let (which, t) = candidates
        .into_iter()
        .filter(|(_, t)| t.value.is_some())
        .min_by_key(|(_, t)| t.value)?;
    Some(Hop {
        name,
        intermediary: HAPROXY.into(),
        idle_ms: t.value,
        lifetime_ms: None,
        setting: format!("timeout {which} {} (no timeout tunnel, so it applies to WebSockets)", t.raw),
        span: Some(t.span.clone()),
        is_default: false,
        raise: vec![into],
        raise_text: format!(
            "Add `{TUNNEL_FIX}` to {} {}: once upgraded, the tunnel timeout replaces timeout client/server, so HTTP requests keep their short timeouts.",
            s.kind, s.name
        ),
        notes: Vec::new(),
    })
}

/// Replaces the statement at `span` when it starts its line.
fn replace(ev: &ConfigEvidence, span: &Span, line: &str) -> Option<Edit> {
    let text = ev.source_line(span)?;
    let starts = usize::try_from(span.column).ok()? == text.len() - text.trim_start().len() + 1;
    (starts && !text.contains('#')).then(|| {
        Edit::new(
            &span.file,
            span.line,
            EditAction::Replace,
            vec![line.to_owned()],
        )
    })
}

pub(super) fn diagnose(ev: &ConfigEvidence) -> Vec<ConfigFinding> {
    let mut out = Vec::new();
    if ev.haproxy.sections.is_empty() {
        return out;
    }
    for s in &ev.haproxy.sections {
        for o in s.options.iter().filter(|o| !o.inherited) {
            let Some(option) = o.value.as_deref() else {
                continue;
            };
            out.push(
                ConfigFinding::new(
                    CauseId::UpgradeNotForwarded,
                    Severity::Info,
                    0.2,
                    format!("option {option} in {} {}: upgrades still pass (HAProxy ≥ 1.5 switches upgraded connections to tunnel mode)", s.kind, s.name),
                    Some(&o.span),
                    HAPROXY,
                )
                .label("closes HTTP keep-alive connections, not upgraded ones")
                .evidence("HAProxy 1.4 and older added `Connection: close` to every request, which broke the upgrade; later versions keep the tunnel")
                .fix(fix(HAPROXY, "Nothing to change on HAProxy ≥ 1.5. On 1.4, upgrade, or drop the option for the WebSocket backend.")),
            );
        }
    }
    if let Some(m) = &ev.haproxy.global_maxconn {
        out.extend(maxconn(m.value, &m.span, "global"));
    }
    for s in ev
        .haproxy
        .sections
        .iter()
        .filter(|s| s.kind == "frontend" || s.kind == "listen")
    {
        if let Some(m) = s.maxconn.as_ref().filter(|m| !m.inherited) {
            out.extend(maxconn(m.value, &m.span, &format!("{} {}", s.kind, s.name)));
        }
    }
    if let Some(h) = &ev.haproxy.hard_stop_after {
        out.extend(hard_stop(h));
    }
    out
}

fn maxconn(value: Option<u64>, span: &Span, scope: &str) -> Option<ConfigFinding> {
    let n = value.filter(|n| *n < 10_000)?;
    let mut f = ConfigFinding::new(
        CauseId::LoadLimit,
        Severity::Info,
        0.5,
        format!("maxconn {n} ({scope}): at most {n} WebSockets at once, each holding its slot for its whole life"),
        Some(span),
        HAPROXY,
    )
    .label("long-lived connections fill this quickly")
    .evidence("past maxconn new connections wait in the queue and time out (timeout queue, else timeout connect)")
    .fix(fix(HAPROXY, "Size maxconn for the number of concurrently open WebSockets, plus the HTTP traffic next to them."));
    f.finding.measured.concurrency_limit = Some(n);
    Some(f)
}

/// `hard-stop-after`: how long the old process keeps WebSockets after a reload.
fn hard_stop(h: &TimerSetting) -> Option<ConfigFinding> {
    Some(drain::reload_drain(ReloadDrain {
        ms: h.value?,
        span: &h.span,
        intermediary: HAPROXY,
        title: "Every HAProxy reload ends all WebSockets of the old process".to_owned(),
        label: "old processes are killed after",
        evidence: "a reload hands new connections to a new process; the old one keeps its tunnels only until hard-stop-after",
        client_fix: "Expect a disconnect at every reload: reconnect with exponential backoff and jitter.",
        lengthen: None,
    }))
}
