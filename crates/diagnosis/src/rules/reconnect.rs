//! Rules for client behaviour: how each client reconnects after the server
//! drops it (`wsdoctor reconnect`), the reconnect wave a policy makes after
//! an outage (`wsdoctor storm`), and stalled message flow (`wsdoctor
//! flow`). Pure.

pub mod fixes;
mod flow;
pub mod policy;
pub mod presets;
pub mod storm;
mod storm_rule;

use serde::Serialize;
use wsdoctor_evidence::reconnect::{Interruption, ReconnectClient, ReconnectEvidence};

pub use flow::diagnose_flow;
use policy::{classify, PolicyFit, PolicyKind};
pub use storm_rule::diagnose_storm;

use super::common::{finding, human};
use crate::advice::rank;
use crate::finding::{CauseId, Finding, Severity, SourceKind};

/// Per-client findings at most; the rest are summed up in the last one.
const MAX_CLIENT_FINDINGS: usize = 20;
/// Delays listed in one evidence line.
const SHOWN_DELAYS: usize = 10;

/// What one client's delays say.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientPolicy {
    /// The client.
    pub client: String,
    /// The delays classified, s (see [`sequence`]).
    pub delays_s: Vec<f64>,
    /// What came before each of those delays.
    pub after: Vec<String>,
    /// The policy, when the delays are enough to name one.
    pub fit: Option<PolicyFit>,
    /// Median delay after each kind of interruption: label, s, count.
    pub by_interruption: Vec<(String, f64, usize)>,
    /// Other clients on the same deterministic schedule.
    pub lockstep_with: Vec<String>,
}

/// The delays to classify: the longest run of retries after one drop when
/// the server refused handshakes (a client that resets its backoff once
/// connected only shows growth there), otherwise every delay in order.
pub fn sequence(c: &ReconnectClient) -> (Vec<f64>, Vec<String>) {
    let mut best: &[wsdoctor_evidence::reconnect::ReconnectGap] = &[];
    let mut start = 0;
    for i in 0..=c.gaps.len() {
        let ends = i == c.gaps.len() || (i > start && !c.gaps[i].after.is_refusal());
        if ends {
            if i - start > best.len() {
                best = &c.gaps[start..i];
            }
            start = i;
        }
    }
    let gaps = if c.refused > 0 && best.len() >= 3 {
        best
    } else {
        &c.gaps[..]
    };
    (
        gaps.iter().map(|g| g.delay_ms as f64 / 1000.0).collect(),
        gaps.iter().map(|g| g.after.label()).collect(),
    )
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn by_interruption(c: &ReconnectClient) -> Vec<(String, f64, usize)> {
    let mut kinds: Vec<Interruption> = Vec::new();
    for g in &c.gaps {
        if !kinds.contains(&g.after) {
            kinds.push(g.after);
        }
    }
    kinds
        .iter()
        .map(|k| {
            let mut d: Vec<f64> = c
                .gaps
                .iter()
                .filter(|g| g.after == *k)
                .map(|g| g.delay_ms as f64 / 1000.0)
                .collect();
            let n = d.len();
            (k.label(), median(&mut d), n)
        })
        .collect()
}

/// Two deterministic schedules are the same when every delay agrees to 10 %
/// (or 20 ms): such clients, dropped together, come back together.
fn same_schedule(a: &[f64], b: &[f64]) -> bool {
    let n = a.len().min(b.len());
    n >= 2
        && a.iter()
            .zip(b)
            .take(n)
            .all(|(x, y)| (x - y).abs() <= (0.1 * x.max(*y)).max(0.02))
}

/// Every client's policy, in order of arrival.
pub fn client_policies(e: &ReconnectEvidence) -> Vec<ClientPolicy> {
    let mut out: Vec<ClientPolicy> = e
        .clients
        .iter()
        .map(|c| {
            let (delays_s, after) = sequence(c);
            ClientPolicy {
                client: c.client.clone(),
                fit: classify(&delays_s),
                delays_s,
                after,
                by_interruption: by_interruption(c),
                lockstep_with: Vec::new(),
            }
        })
        .collect();
    let deterministic = |p: &ClientPolicy| {
        p.fit.as_ref().is_some_and(|f| {
            matches!(
                f.kind,
                PolicyKind::Exponential | PolicyKind::Linear | PolicyKind::Fixed
            ) && f.spread < 0.15
        })
    };
    // Bounded: lockstep is only looked for among the first clients.
    let n = out.len().min(500);
    for i in 0..n {
        if !deterministic(&out[i]) {
            continue;
        }
        let peers: Vec<String> = (0..n)
            .filter(|j| *j != i && deterministic(&out[*j]))
            .filter(|j| same_schedule(&out[i].delays_s, &out[*j].delays_s))
            .map(|j| out[j].client.clone())
            .collect();
        out[i].lockstep_with = peers;
    }
    out
}

fn secs_list(v: &[f64], after: &[String]) -> String {
    let shown: Vec<String> = v
        .iter()
        .zip(after)
        .take(SHOWN_DELAYS)
        .map(|(d, a)| format!("{a} → {d:.3}"))
        .collect();
    let more = if v.len() > SHOWN_DELAYS { ", …" } else { "" };
    format!("{}{more} s", shown.join(", "))
}

/// One line for the fitted schedule.
pub fn describe_fit(f: &PolicyFit) -> String {
    let mut s = match f.kind {
        PolicyKind::Immediate => format!("immediate (median {:.3} s)", f.base_s),
        PolicyKind::Fixed => format!("fixed {:.3} s", f.base_s),
        PolicyKind::Linear => format!(
            "linear from {:.3} s, +{:.3} s per attempt",
            f.base_s,
            f.step_s.unwrap_or(0.0)
        ),
        PolicyKind::Exponential => format!(
            "exponential from {:.3} s, ×{:.2} per attempt",
            f.base_s,
            f.factor.unwrap_or(0.0)
        ),
        PolicyKind::ExponentialJitter => format!(
            "exponential with jitter, ×{:.2} per attempt on average",
            f.factor.unwrap_or(0.0)
        ),
    };
    if let Some(cap) = f.cap_s {
        s.push_str(&format!(", capped at {cap:.3} s"));
    }
    s.push_str(&format!(", spread {:.0} %", f.spread * 100.0));
    if f.skipped > 0 {
        s.push_str(&format!(" (first {} delay(s) left out)", f.skipped));
    }
    s
}

fn client_finding(p: &ClientPolicy, c: &ReconnectClient, fit: &PolicyFit) -> Option<Finding> {
    let name = &p.client;
    let lockstep = !p.lockstep_with.is_empty();
    let (id, severity, confidence, title) = match fit.kind {
        PolicyKind::ExponentialJitter => return None,
        PolicyKind::Immediate => (
            CauseId::ReconnectNoBackoff,
            Severity::Error,
            0.9,
            format!("client={name} reconnects immediately after every drop, without backing off"),
        ),
        PolicyKind::Fixed => (
            CauseId::ReconnectNoBackoff,
            if fit.base_s < 1.0 {
                Severity::Error
            } else {
                Severity::Warning
            },
            0.85,
            format!(
                "client={name} reconnects every {:.2} s, without backing off",
                fit.base_s
            ),
        ),
        PolicyKind::Linear | PolicyKind::Exponential => (
            CauseId::ReconnectNoJitter,
            Severity::Warning,
            if lockstep { 0.9 } else { 0.75 },
            format!(
                "client={name} backs off {} but without jitter: clients dropped together come back together",
                if fit.kind == PolicyKind::Linear { "linearly" } else { "exponentially" }
            ),
        ),
    };
    let mut f = finding(id, severity, confidence, title, SourceKind::Reconnect);
    f.subject = Some(format!("client={name}"));
    f.measured.reconnect_policy = Some(fit.kind.as_str().to_owned());
    f.measured.reconnect_delays_s = Some(
        p.delays_s
            .iter()
            .map(|d| (d * 1000.0).round() / 1000.0)
            .collect(),
    );
    f.measured.samples = u32::try_from(p.delays_s.len()).ok();
    f.evidence.push(format!(
        "delays after each interruption: {}",
        secs_list(&p.delays_s, &p.after)
    ));
    f.evidence.push(format!("schedule: {}", describe_fit(fit)));
    if p.by_interruption.len() > 1 {
        let parts: Vec<String> = p
            .by_interruption
            .iter()
            .map(|(k, d, n)| format!("after {k} {d:.3} s (×{n})"))
            .collect();
        f.evidence
            .push(format!("median delay by cause: {}", parts.join(", ")));
    }
    if lockstep {
        let shown: Vec<&str> = p.lockstep_with.iter().take(5).map(String::as_str).collect();
        f.evidence.push(format!(
            "{} other client(s) reconnect on the same schedule to 10 %: {}",
            p.lockstep_with.len(),
            shown.join(", ")
        ));
    }
    f.evidence.push(heartbeat_line(c));
    f.fix.push(fixes::full_jitter_fix());
    Some(f)
}

/// Whether the client pings of its own accord, and how often.
pub fn heartbeat_line(c: &ReconnectClient) -> String {
    match (c.pings, c.ping_interval_ms) {
        (0, _) => format!(
            "the client sent no ping in {} of open connections: it will not notice a half-open connection itself",
            human(c.open_ms.saturating_mul(1000))
        ),
        (n, Some(ms)) => format!(
            "the client pings on its own: {n} ping(s), every ~{}",
            human(ms.saturating_mul(1000))
        ),
        (n, None) => format!("the client sent {n} ping(s)"),
    }
}

/// Diagnoses a reconnect run: one finding per client without backoff or
/// jitter (`subject: client=NAME`), or a healthy one when every classified
/// client backs off with jitter. No finding at all when no client was seen
/// often enough (the verdict is then inconclusive).
pub fn diagnose_reconnect(e: &ReconnectEvidence) -> Vec<Finding> {
    let policies = client_policies(e);
    let mut findings = Vec::new();
    let mut extra = 0usize;
    let mut jittered = Vec::new();
    for (p, c) in policies.iter().zip(&e.clients) {
        let Some(fit) = &p.fit else { continue };
        match client_finding(p, c, fit) {
            Some(f) if findings.len() < MAX_CLIENT_FINDINGS => findings.push(f),
            Some(_) => extra += 1,
            None => jittered.push((p, c, fit)),
        }
    }
    if extra > 0 {
        if let Some(last) = findings.last_mut() {
            last.evidence.push(format!(
                "{extra} more client(s) have the same kind of problem (see observations)"
            ));
        }
    }
    if findings.is_empty() && !jittered.is_empty() {
        let mut f = finding(
            CauseId::Healthy,
            Severity::Info,
            0.7,
            format!(
                "{} client(s) back off exponentially with jitter",
                jittered.len()
            ),
            SourceKind::Reconnect,
        );
        for (p, c, fit) in jittered.iter().take(5) {
            f.evidence
                .push(format!("client={}: {}", p.client, describe_fit(fit)));
            f.evidence.push(heartbeat_line(c));
        }
        f.measured.reconnect_policy = Some(PolicyKind::ExponentialJitter.as_str().to_owned());
        f.fix.push(super::common::fix(
            "client",
            "Nothing to fix in the reconnect policy.",
        ));
        findings.push(f);
    }
    rank(&mut findings);
    findings
}

#[cfg(test)]
mod tests;
