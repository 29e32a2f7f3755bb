//! Rules for hops read from manifests, templates, API output and proxy
//! configs other than nginx/HAProxy ([`HopConfig`]): Kubernetes Ingress
//! controllers and cloud load balancers, Envoy, Terraform, CloudFormation,
//! AWS/gcloud output, Apache httpd.
//!
//! Their idle timers and lifetime caps join the timer stack in
//! [`super::chain`], with the product default from the kb when the file
//! does not set one. What is judged here: upgrade forwarding where a
//! product needs it configured, and Envoy's route `timeout`.

use wsdoctor_evidence::config::{
    ConfigEvidence, ConfigKind, EditAction, HopConfig, HopTimer, TimerRole,
};
use wsdoctor_evidence::format_duration;

use super::drain::{self, ReloadDrain};
use super::edits::set_edit;
use super::{ConfigFinding, Hop};
use crate::finding::{CauseId, Severity};
use crate::kb::kb;
use crate::rules::common::fix;

/// What `--fix` raises a timer to, unless the product's maximum is lower:
/// an hour, as the kb's fixes do (ingress-nginx docs: "higher than one hour").
const RAISE_TO_S: u64 = 3600;

/// Envoy's route `timeout` default (RouteAction.timeout, 15 s).
const ENVOY_ROUTE_TIMEOUT_MS: u64 = 15_000;

/// Products that front everything behind them: one hop whatever the path.
const LOAD_BALANCERS: &[&str] = &["aws-alb", "aws-nlb", "aws-clb", "gcp-external-alb"];

fn human(ms: u64) -> String {
    format_duration(std::time::Duration::from_millis(ms))
}

/// The hops that carry WebSockets: load balancers always; of the others,
/// those something names as WebSocket hops, or all of a product's hops when
/// none of them is named.
fn websocket_hops(ev: &ConfigEvidence) -> Vec<&HopConfig> {
    ev.hops
        .iter()
        .filter(|h| {
            h.websocket.is_some()
                || LOAD_BALANCERS.contains(&h.product.as_str())
                || !ev
                    .hops
                    .iter()
                    .any(|o| o.product == h.product && o.websocket.is_some())
        })
        .collect()
}

/// The value `--fix` writes: an hour, or the product's maximum when lower.
fn raise_to_s(product: &str, role: TimerRole) -> u64 {
    let max = kb().intermediary(product).and_then(|i| match role {
        TimerRole::Lifetime => i.max_lifetime_max_s,
        _ => i.idle_timeout_max_s,
    });
    max.map_or(RAISE_TO_S, |m| RAISE_TO_S.min(u64::from(m)))
}

/// The product default for a timer role, from the kb.
fn default_ms(product: &str, role: TimerRole) -> Option<u64> {
    let i = kb().intermediary(product)?;
    let s = match role {
        TimerRole::Idle => i.idle_timeout_default_s,
        TimerRole::Lifetime => i.max_lifetime_s,
        TimerRole::Request => None,
        _ => None,
    }?;
    Some(u64::from(s) * 1000)
}

/// Chain hops: every idle timer and lifetime cap of the WebSocket hops,
/// written or defaulted (a value of 0 disables a timer).
pub(super) fn hops(ev: &ConfigEvidence) -> Vec<Hop> {
    let mut out = Vec::new();
    for h in websocket_hops(ev) {
        for t in &h.timers {
            if !matches!(t.role, TimerRole::Idle | TimerRole::Lifetime) {
                continue;
            }
            let (ms, setting, span, is_default) = match &t.setting {
                Some(s) => {
                    let Some(v) = s.value else { continue };
                    let setting = if s.inherited {
                        format!(
                            "{} {} (inherited: not set on {} itself)",
                            t.key, s.raw, h.name
                        )
                    } else {
                        format!("{} {}", t.key, s.raw)
                    };
                    (v, setting, s.span.clone(), false)
                }
                None => {
                    let Some(d) = default_ms(&h.product, t.role) else {
                        continue;
                    };
                    (
                        d,
                        format!("{} not set: {} default", t.key, human(d)),
                        h.span.clone(),
                        true,
                    )
                }
            };
            if ms == 0 {
                continue;
            }
            let target = raise_to_s(&h.product, t.role);
            // CLI output records a live setting; it is changed with the
            // CLI, not by patching the output.
            let from_cli = matches!(h.source, ConfigKind::AwsCli | ConfigKind::Gcloud);
            let raise = if ms < target * 1000 && !from_cli {
                set_edit(ev, t, &t.style.write(target))
            } else {
                None
            };
            let what = match t.role {
                TimerRole::Lifetime => "lifetime cap",
                _ => "idle timeout",
            };
            let raise_text = match (from_cli, h.product.as_str()) {
                (true, "aws-alb") => format!("Raise the {what} of the ALB: `aws elbv2 modify-load-balancer-attributes --load-balancer-arn <alb-arn> --attributes Key={},Value={target}`.", t.key),
                (true, "aws-nlb") => format!("Raise the {what} of the NLB listener: `aws elbv2 modify-listener-attributes --listener-arn <listener-arn> --attributes Key={},Value={target}`.", t.key),
                (true, "gcp-external-alb") => format!("Raise the {what} of {}: `gcloud compute backend-services update <name> --global --timeout={target}`.", h.name),
                // The exact line(s) --fix writes.
                _ => match &raise {
                    Some(e) => format!(
                        "Raise the {what} of {} to {}: {} `{}`.",
                        h.name,
                        human(target * 1000),
                        if e.action == EditAction::Replace { "write" } else { "add" },
                        e.lines.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ")
                    ),
                    None => format!(
                        "Raise the {what} of {}: set `{}` to {} ({}).",
                        h.name,
                        t.key,
                        t.style.write(target),
                        human(target * 1000)
                    ),
                },
            };
            let mut hop = Hop {
                name: h.name.clone(),
                intermediary: h.product.clone(),
                idle_ms: None,
                lifetime_ms: None,
                setting,
                span: Some(span),
                is_default,
                raise: raise.into_iter().collect(),
                raise_text,
                notes: h.notes.clone(),
            };
            match t.role {
                TimerRole::Lifetime => hop.lifetime_ms = Some(ms),
                _ => hop.idle_ms = Some(ms),
            }
            out.push(hop);
        }
    }
    out
}

pub(super) fn diagnose(ev: &ConfigEvidence) -> Vec<ConfigFinding> {
    let mut out = Vec::new();
    let hops = websocket_hops(ev);
    // A hop nothing names as a WebSocket hop is only a guess: one warning
    // per product says "if WebSockets go here…", not one per proxy line.
    let mut guessed: Vec<&str> = Vec::new();
    for h in &hops {
        if h.websocket.is_none() {
            if guessed.contains(&h.product.as_str()) {
                continue;
            }
            guessed.push(&h.product);
        }
        out.extend(upgrade(h));
    }
    for h in hops.iter().filter(|h| h.product == "envoy") {
        out.extend(envoy_route_timeout(ev, h));
    }
    // Caddy's drain is per reverse_proxy (judged where WebSockets go); a
    // controller's drain applies to everything it serves.
    for h in hops.iter().filter(|h| h.product == "caddy") {
        out.extend(reload_drain(ev, h));
    }
    for h in ev.hops.iter().filter(|h| h.product != "caddy") {
        out.extend(reload_drain(ev, h));
    }
    out
}

/// The drain `--fix` writes for ingress-nginx: its default (240s, kb
/// `ingress-nginx.max_lifetime_note`).
const INGRESS_NGINX_DRAIN_S: u64 = 240;

/// ingress-nginx's `worker-shutdown-timeout`: every reload (an Ingress or
/// endpoint change) ends the old workers' WebSockets after it. Judged like
/// nginx's own `worker_shutdown_timeout`.
fn worker_drain(ev: &ConfigEvidence, h: &HopConfig, t: &HopTimer) -> Option<ConfigFinding> {
    let s = t.setting.as_ref()?;
    let value = t.style.write(INGRESS_NGINX_DRAIN_S);
    Some(drain::reload_drain(ReloadDrain {
        ms: s.value?,
        span: &s.span,
        intermediary: &h.product,
        title: format!("Every reload of {} closes all WebSockets of the old workers", h.name),
        label: "old workers close their connections after",
        evidence: "ingress-nginx reloads nginx on Ingress and endpoint changes; old workers keep upgraded connections only until worker-shutdown-timeout (default 240s)",
        client_fix: "Expect a disconnect at every reload: reconnect with exponential backoff and jitter so clients do not return all at once.",
        lengthen: Some((
            fix(
                &h.product,
                format!("Give old workers longer to drain: `{}: \"{value}\"` (the default).", t.key),
            ),
            set_edit(ev, t, &value),
        )),
    }))
}

/// What `--fix` gives a reload drain: five minutes, the example in Caddy's
/// reverse_proxy docs for `stream_close_delay`.
const DRAIN_FIX_S: u64 = 300;

/// Reloads that close WebSockets at once (Caddy without
/// `stream_close_delay`: kb `caddy.reload_close_*`, a 1001 to every
/// connection on every config reload).
fn reload_drain(ev: &ConfigEvidence, h: &HopConfig) -> Option<ConfigFinding> {
    // Pod shutdown drains are judged in `pods`.
    if super::pods::is_pod(h) {
        return None;
    }
    let t = h.timer(TimerRole::Drain)?;
    if h.product != "caddy" {
        return worker_drain(ev, h, t);
    }
    let ms = match &t.setting {
        Some(s) => s.value?,
        None => 0,
    };
    if ms > 0 {
        return None;
    }
    let span = t.setting.as_ref().map_or(&h.span, |s| &s.span);
    let (severity, confidence) = if h.websocket.is_some() {
        (Severity::Warning, 0.75)
    } else {
        (Severity::Info, 0.4)
    };
    let mut f = ConfigFinding::new(
        CauseId::MassDisconnect,
        severity,
        confidence,
        format!(
            "Every config reload closes the WebSockets of {} at once (1001 Going Away): no `{}`",
            h.name, t.key
        ),
        Some(span),
        &h.product,
    )
    .label(format!("no {} here: reloads close every WebSocket", t.key))
    .evidence("Caddy closes upgraded connections on each config reload with a 1001 close frame to client and upstream, unless stream_close_delay postpones it (caddyserver/caddy reverseproxy/streaming.go)")
    .fix(fix(
        &h.product,
        format!(
            "Keep WebSockets open across reloads: `{} {}` in the reverse_proxy block, and reconnect with backoff and jitter.",
            t.key,
            t.style.write(DRAIN_FIX_S)
        ),
    ))
    .edit(set_edit(ev, t, &t.style.write(DRAIN_FIX_S)));
    if let Some(why) = &h.websocket {
        f = f.evidence(format!("{} is taken to carry WebSockets: {why}", h.name));
    }
    f.finding.measured.close_code = Some(1001);
    Some(f)
}

fn upgrade(h: &HopConfig) -> Option<ConfigFinding> {
    let u = h.upgrade.as_ref().filter(|u| !u.enabled)?;
    let (severity, confidence) = if h.websocket.is_some() {
        (Severity::Error, 0.9)
    } else {
        (Severity::Warning, 0.5)
    };
    let (title, help) = match h.product.as_str() {
        "envoy" => (
            format!("{} does not forward WebSocket upgrades: no `upgrade_configs` with `upgrade_type: websocket`", h.name),
            "Add `upgrade_configs: [{upgrade_type: websocket}]` to the HTTP connection manager (or to the route): without it Envoy answers upgrade requests itself (403 or 404) and never passes them on.".to_owned(),
        ),
        "apache-httpd" => (
            format!("{} proxies to http:// without `upgrade=websocket` and no ws:// target: the upgrade is not forwarded", h.name),
            format!("On httpd 2.4.47 or newer add `upgrade=websocket` to the ProxyPass line ({}); on older versions proxy the WebSocket path to a ws:// URL with mod_proxy_wstunnel.", u.what),
        ),
        "nginx" => (
            format!("{} has no `nginx.org/websocket-services`: NGINX Ingress Controller forwards upgrades only to the services listed there", h.name),
            "Add the annotation `nginx.org/websocket-services: \"<service>\"` naming the WebSocket backend service(s).".to_owned(),
        ),
        _ => (
            format!("{} does not forward WebSocket upgrades ({})", h.name, u.what),
            format!("Enable WebSocket upgrades on {} ({}).", h.name, u.what),
        ),
    };
    let mut f = ConfigFinding::new(
        CauseId::UpgradeNotForwarded,
        severity,
        confidence,
        title,
        Some(&u.span),
        &h.product,
    )
    .label(format!("no {} here", u.what))
    .fix(fix(&h.product, help));
    if let Some(why) = &h.websocket {
        f = f.evidence(format!("{} is taken to carry WebSockets: {why}", h.name));
    }
    for n in &h.notes {
        f = f.evidence(n.clone());
    }
    Some(f.edit(u.fix.clone()))
}

/// Envoy's route `timeout` (default 15 s). Envoy versions before PR
/// #41075 (2025) let it end upgraded WebSockets at 15 s whatever the
/// traffic; since then it applies to the upgrade handshake only (kb
/// `envoy.websocket_config`; research note 18). Without a version to go on
/// this is a warning: `timeout: 0s` on WebSocket routes is right on both.
fn envoy_route_timeout(ev: &ConfigEvidence, h: &HopConfig) -> Option<ConfigFinding> {
    let t = h.timer(TimerRole::Request)?;
    let (ms, written) = match &t.setting {
        Some(s) => (s.value?, format!("{} {}", t.key, s.raw)),
        None => (
            ENVOY_ROUTE_TIMEOUT_MS,
            format!("{} not set: 15 s default", t.key),
        ),
    };
    if ms == 0 {
        return None;
    }
    let span = t.setting.as_ref().map_or(&h.span, |s| &s.span);
    let (severity, confidence) = if h.websocket.is_some() {
        (Severity::Warning, 0.5)
    } else {
        (Severity::Info, 0.3)
    };
    let mut f = ConfigFinding::new(
        CauseId::MaxLifetime,
        severity,
        confidence,
        format!(
            "{} has a {} route timeout: older Envoy versions end WebSockets on it after {} whatever the traffic",
            h.name,
            human(ms),
            human(ms)
        ),
        Some(span),
        "envoy",
    )
    .label(format!("{written}; use `timeout: 0s` on WebSocket routes"))
    .evidence(written)
    .evidence("Envoy before PR #41075 (2025) applied the route timeout to the whole upgraded stream (envoyproxy/envoy#20062); newer versions apply it to the handshake only")
    .fix(fix(
        "envoy",
        "Disable the route timeout on WebSocket routes: `timeout: 0s` in the route action; idle connections are then ended by stream_idle_timeout / the route's idle_timeout.",
    ))
    .edit(set_edit(ev, t, "0s"));
    if let Some(why) = &h.websocket {
        f = f.evidence(format!("{} is taken to carry WebSockets: {why}", h.name));
    }
    f.finding.measured.max_lifetime_s = Some(ms as f64 / 1000.0);
    Some(f)
}
