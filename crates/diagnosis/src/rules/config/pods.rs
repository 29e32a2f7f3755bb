//! Pod shutdown against the drains around it (issue 21, "Kubernetes
//! drains"): a rollout ends every WebSocket of the old pods, so the only
//! question is whether they end with a close frame the client can act on
//! or with a kill.
//!
//! * A `preStop` sleep as long as `terminationGracePeriodSeconds` leaves
//!   the application no time after SIGTERM: Kubernetes starts the grace
//!   period before the hook runs (the hook counts against it:
//!   kubernetes/kubernetes#74160; the container-lifecycle-hooks reference
//!   "The Pod's termination grace period countdown begins before the PreStop
//!   hook is executed"), and kills what is left when it ends, 30 s by
//!   default (Kubernetes in Action 2e §6.4.2; all read 2026-12-06).
//! * The ingress-nginx controller's own pods: its old nginx workers keep
//!   WebSockets until `worker-shutdown-timeout` (240 s by default, kb
//!   `ingress-nginx`), but the pod is killed at its grace period; a shorter
//!   grace period cuts them at that instead.

use wsdoctor_evidence::config::{ConfigEvidence, HopConfig, HopTimer};
use wsdoctor_evidence::format_duration;

use super::edits::set_edit;
use super::ConfigFinding;
use crate::finding::{CauseId, Severity};
use crate::rules::common::fix;

/// The hop product the lint reader gives an application's pods.
pub(super) const POD: &str = "kubernetes-pod";
/// The hop product of the ingress-nginx controller's pods.
pub(super) const NGINX_CONTROLLER_POD: &str = "ingress-nginx-controller-pod";
const GRACE: &str = "terminationGracePeriodSeconds";

/// Kubernetes' default grace period.
const DEFAULT_GRACE_MS: u64 = 30_000;
/// ingress-nginx's default `worker-shutdown-timeout`.
const DEFAULT_WORKER_SHUTDOWN_MS: u64 = 240_000;
/// Time left after the preStop sleep for the application to send close
/// frames and exit: less than this and most sockets end in a kill.
const CLOSE_TIME_MS: u64 = 10_000;
/// What `--fix` leaves for closing after the sleep (or the worker drain).
const FIX_MARGIN_S: u64 = 30;

fn human(ms: u64) -> String {
    format_duration(std::time::Duration::from_millis(ms))
}

/// True for the hops this module judges (the drain rules of [`super::hops`]
/// leave them alone).
pub(super) fn is_pod(h: &HopConfig) -> bool {
    h.product == POD || h.product == NGINX_CONTROLLER_POD
}

fn value(t: &HopTimer) -> Option<u64> {
    t.setting.as_ref().and_then(|s| s.value)
}

pub(super) fn diagnose(ev: &ConfigEvidence) -> Vec<ConfigFinding> {
    let mut out = Vec::new();
    for h in ev.hops.iter().filter(|h| is_pod(h)) {
        let Some(grace) = h.timers.iter().find(|t| t.key == GRACE) else {
            continue;
        };
        let grace_ms = if grace.setting.is_some() {
            match value(grace) {
                Some(v) => v,
                // Templated or invalid: a problem says so already.
                None => continue,
            }
        } else {
            DEFAULT_GRACE_MS
        };
        let longest_sleep = h
            .timers
            .iter()
            .filter(|t| t.key.starts_with("preStop sleep"))
            .filter_map(|t| value(t).map(|v| (v, t)))
            .max_by_key(|(v, _)| *v);
        if let Some((sleep_ms, sleep)) = longest_sleep {
            out.extend(sleep_eats_grace(ev, h, grace, grace_ms, sleep_ms, sleep));
        }
        if h.product == NGINX_CONTROLLER_POD {
            let sleep_ms = longest_sleep.map_or(0, |(v, _)| v);
            out.extend(controller_killed_while_draining(
                ev, h, grace, grace_ms, sleep_ms,
            ));
        }
    }
    out
}

fn grace_words(grace: &HopTimer, grace_ms: u64) -> String {
    match &grace.setting {
        Some(s) => format!("{GRACE}: {}", s.raw),
        None => format!("{GRACE} not set: {} default", human(grace_ms)),
    }
}

fn sleep_eats_grace(
    ev: &ConfigEvidence,
    h: &HopConfig,
    grace: &HopTimer,
    grace_ms: u64,
    sleep_ms: u64,
    sleep: &HopTimer,
) -> Option<ConfigFinding> {
    let left = grace_ms.saturating_sub(sleep_ms);
    if left >= CLOSE_TIME_MS {
        return None;
    }
    let span = sleep.setting.as_ref().map(|s| &s.span);
    let target = sleep_ms.div_ceil(1000) + FIX_MARGIN_S;
    let (severity, confidence) = if h.websocket.is_some() {
        (Severity::Warning, 0.8)
    } else {
        (Severity::Info, 0.5)
    };
    let mut f = ConfigFinding::new(
        CauseId::MassDisconnect,
        severity,
        confidence,
        format!(
            "{}: the {} preStop sleep uses up the {} grace period, so on every rollout its WebSockets end in a kill, not a close frame",
            h.name,
            human(sleep_ms),
            human(grace_ms)
        ),
        span,
        "kubernetes",
    )
    .label(if left == 0 {
        "leaves no time after SIGTERM before the kill".to_owned()
    } else {
        format!("leaves {} of the grace period after SIGTERM", human(left))
    })
    .evidence(format!(
        "{} ({}); {}",
        sleep.key,
        human(sleep_ms),
        grace_words(grace, grace_ms)
    ))
    .evidence("Kubernetes starts the grace period before the preStop hook runs and kills the container when it ends (kubernetes/kubernetes#74160; default 30 s)")
    .fix(fix(
        "kubernetes",
        format!(
            "Give the application time after the sleep to close its WebSockets (1001/1012) before the kill: `{GRACE}: {target}`, and have it close them on SIGTERM."
        ),
    ))
    .edit(set_edit(ev, grace, &target.to_string()));
    if let Some(why) = &h.websocket {
        f = f.evidence(format!("{} is taken to serve WebSockets: {why}", h.name));
    }
    Some(f)
}

fn controller_killed_while_draining(
    ev: &ConfigEvidence,
    h: &HopConfig,
    grace: &HopTimer,
    grace_ms: u64,
    sleep_ms: u64,
) -> Option<ConfigFinding> {
    let drain = ev
        .hops
        .iter()
        .filter(|m| m.name.starts_with("ingress-nginx controller ConfigMap"))
        .flat_map(|m| &m.timers)
        .find(|t| t.key == "worker-shutdown-timeout");
    let (drain_ms, drain_words) = match drain {
        Some(t) => (
            value(t)?,
            format!("worker-shutdown-timeout: {}", t.setting.as_ref()?.raw),
        ),
        None => (
            DEFAULT_WORKER_SHUTDOWN_MS,
            "worker-shutdown-timeout not found in these files: 240s default".to_owned(),
        ),
    };
    let needed = drain_ms.saturating_add(sleep_ms);
    if grace_ms >= needed {
        return None;
    }
    let target = needed.div_ceil(1000) + FIX_MARGIN_S;
    let span = grace.setting.as_ref().map_or(&h.span, |s| &s.span);
    let f = ConfigFinding::new(
        CauseId::MassDisconnect,
        Severity::Warning,
        0.75,
        format!(
            "{} is killed {} into a rollout, but its old nginx workers keep WebSockets for up to {}: a controller rollout cuts them at {}",
            h.name,
            human(grace_ms),
            human(drain_ms),
            human(grace_ms)
        ),
        Some(span),
        "ingress-nginx",
    )
    .label(format!("the kill comes before the {} drain ends", human(drain_ms)))
    .evidence(format!("{}; {drain_words}", grace_words(grace, grace_ms)))
    .evidence("ingress-nginx keeps upgraded connections on old workers until worker-shutdown-timeout (kb: ingress-nginx); Kubernetes kills the pod when its grace period ends")
    .fix(fix(
        "kubernetes",
        format!("Let the pod outlive the drain: `{GRACE}: {target}` (worker-shutdown-timeout plus any preStop sleep, plus a margin)."),
    ))
    .edit(set_edit(ev, grace, &target.to_string()));
    Some(f)
}
