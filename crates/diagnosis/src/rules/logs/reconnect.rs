//! Reconnect policies, from each client's delays between the end of one
//! connection and the start of its next: retrying at once or at a fixed
//! short delay (no backoff), or backing off on exactly the same schedule as
//! every other client (no jitter).

use std::collections::HashMap;

use wsdoctor_evidence::logs::ClientReconnects;

use super::{count, samples, Ctx};
use crate::advice::app::full_jitter_fix;
use crate::finding::{CauseId, Finding, Severity};

/// A client needs this many delays before its policy is named.
const MIN_DELAYS: usize = 3;
/// "Short": a fixed delay above this is a deliberate pause, not a loop.
const SHORT_MS: u64 = 10_000;
/// Delays this close to zero are "immediate".
const IMMEDIATE_MS: u64 = 1000;
/// Examples shown per finding.
const EXAMPLES: usize = 3;
/// Delays equal across clients to this precision are in lockstep.
const LOCKSTEP_ROUND_MS: u64 = 100;

/// A client with this many delays, none of them growing, has no backoff
/// whatever their spread (`random`).
const MIN_FLAT_DELAYS: usize = 8;
/// The first delays a backoff starts from …
const FIRST_DELAYS: usize = 3;
/// … and how far past their largest a later delay must reach to be
/// growth. Simulated over 20,000 samples of 16 delays each: waits uniform
/// in 0.05–3 s look grown in 1.1 % of samples; full-jitter exponential
/// backoff looks grown in 99.3 % (0.5 s doubling to a 10 s cap) to 100 %
/// (1 s to 30 s), but only in 57 % when its cap is 10 times its base (1 s
/// to 10 s): past its third doubling such a client draws from one range too.
const GROWTH_OVER_FIRST: u64 = 4;

/// A client's retry policy, in the contract's `reconnect_policy` words.
pub(crate) fn policy(delays: &[u64]) -> Option<&'static str> {
    pattern(delays).or_else(|| flat_random(delays).then_some("random"))
}

/// Delays that never grow, whatever their spread: random waits drawn from
/// one fixed range. Exponential backoff with full jitter draws from a
/// range that doubles, so its later delays outgrow its first ones.
fn flat_random(delays: &[u64]) -> bool {
    if delays.len() < MIN_FLAT_DELAYS {
        return false;
    }
    let first_max = delays[..FIRST_DELAYS].iter().copied().max().unwrap_or(0);
    let max = delays.iter().copied().max().unwrap_or(0);
    max < GROWTH_OVER_FIRST * first_max.max(1)
}

/// The recognisable shapes: immediate, fixed, growth to a cap.
fn pattern(delays: &[u64]) -> Option<&'static str> {
    if delays.len() < MIN_DELAYS {
        return None;
    }
    let max = delays.iter().copied().max().unwrap_or(0);
    if max <= IMMEDIATE_MS {
        return Some("immediate");
    }
    let n = delays.len() as f64;
    let mean = delays.iter().sum::<u64>() as f64 / n;
    let var = delays
        .iter()
        .map(|d| (*d as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    if var.sqrt() <= 0.1 * mean {
        return Some("fixed");
    }
    // Growth until a cap: ratios of consecutive delays while they still grow.
    let ratios: Vec<f64> = delays
        .windows(2)
        .map(|w| w[1] as f64 / (w[0].max(1)) as f64)
        .collect();
    let growing: Vec<f64> = ratios.iter().copied().take_while(|r| *r >= 1.15).collect();
    let rest_flat = ratios[growing.len()..]
        .iter()
        .all(|r| (0.85..=1.15).contains(r));
    if growing.len() >= 2 && rest_flat {
        let doubling = growing.iter().all(|r| (1.8..=2.2).contains(r));
        return Some(if doubling {
            "exponential"
        } else if growing.iter().all(|r| *r >= 1.3) {
            "exponential-jitter"
        } else {
            "linear"
        });
    }
    None
}

pub(super) fn diagnose(ctx: &Ctx<'_>) -> Vec<Finding> {
    let mut tight: Vec<(&ClientReconnects, &'static str)> = Vec::new();
    let mut exponential: Vec<&ClientReconnects> = Vec::new();
    let mut classified = 0u64;
    for c in &ctx.ev.reconnects {
        let Some(p) = policy(&c.delays_ms) else {
            continue;
        };
        classified += 1;
        let median = median(&c.delays_ms);
        match p {
            "immediate" => tight.push((c, p)),
            "fixed" | "random" if median <= SHORT_MS => tight.push((c, p)),
            "exponential" => exponential.push(c),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if !tight.is_empty() {
        out.push(no_backoff(ctx, &tight, classified));
    }
    if let Some(f) = no_jitter(ctx, &exponential) {
        out.push(f);
    }
    out
}

fn median(values: &[u64]) -> u64 {
    let mut v = values.to_vec();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

fn delays_text(delays: &[u64]) -> String {
    let shown: Vec<String> = delays
        .iter()
        .take(8)
        .map(|d| format!("{:.1}", *d as f64 / 1000.0))
        .collect();
    let more = if delays.len() > 8 { ", …" } else { "" };
    format!("{}{more} s", shown.join(", "))
}

fn delays_s(delays: &[u64]) -> Vec<f64> {
    delays.iter().map(|d| *d as f64 / 1000.0).collect()
}

fn no_backoff(
    ctx: &Ctx<'_>,
    tight: &[(&ClientReconnects, &'static str)],
    classified: u64,
) -> Finding {
    // The most common policy names the finding; its clients come first.
    let of = |p: &str| tight.iter().filter(|(_, q)| *q == p).count();
    let policy = ["immediate", "fixed", "random"]
        .into_iter()
        .max_by_key(|p| (of(p), std::cmp::Reverse(*p)))
        .unwrap_or("immediate");
    let mut tight: Vec<(&ClientReconnects, &'static str)> = tight.to_vec();
    tight.sort_by_key(|(c, p)| (*p != policy, std::cmp::Reverse(c.attempts)));
    let n = tight.len() as u64;
    let severity = if n >= 10 || n * 10 >= classified.max(1) {
        Severity::Error
    } else {
        Severity::Warning
    };
    let example = tight[0].0;
    let secs = |ms: u64| ms as f64 / 1000.0;
    let how = match policy {
        "immediate" => "immediately after each drop".to_owned(),
        "fixed" => format!(
            "every {:.1} s after each drop",
            secs(median(&example.delays_ms))
        ),
        _ => {
            let lo = example.delays_ms.iter().copied().min().unwrap_or(0);
            let hi = example.delays_ms.iter().copied().max().unwrap_or(0);
            format!(
                "after random waits of {:.2}–{:.1} s that never grow",
                secs(lo),
                secs(hi)
            )
        }
    };
    let who = if n == 1 {
        "1 client reconnects".to_owned()
    } else {
        format!("{} clients reconnect", count(n))
    };
    let mut f = ctx.finding(
        CauseId::ReconnectNoBackoff,
        severity,
        0.8,
        format!("{who} {how}, without backing off"),
    );
    f.measured.reconnect_policy = Some(policy.to_owned());
    f.measured.reconnect_delays_s = Some(delays_s(&example.delays_ms));
    f.measured.samples = Some(samples(n));
    f.evidence.push(format!(
        "{} of {} clients with a recognisable retry pattern retry at once, at a fixed delay, or after waits that never grow (median under {} s)",
        count(n),
        count(classified),
        SHORT_MS / 1000
    ));
    let policies: Vec<String> = ["immediate", "fixed", "random"]
        .into_iter()
        .filter(|p| of(p) > 0)
        .map(|p| format!("{} {p}", count(of(p) as u64)))
        .collect();
    if policies.len() > 1 {
        f.evidence
            .push(format!("by policy: {}", policies.join(", ")));
    }
    if policy == "random" {
        f.evidence.push(format!(
            "random but never growing: in the {} waits recorded for client {} none reaches {GROWTH_OVER_FIRST}× the largest of its first {FIRST_DELAYS}; backoff draws them from a range that doubles after each failure",
            example.delays_ms.len(),
            example.client
        ));
    }
    // The first client of each policy, then the busiest others.
    let mut shown: Vec<(&ClientReconnects, &'static str)> = Vec::new();
    for (c, p) in &tight {
        if !shown.iter().any(|(_, q)| q == p) {
            shown.push((c, p));
        }
    }
    for (c, p) in &tight {
        if shown.len() >= EXAMPLES {
            break;
        }
        if !shown.iter().any(|(s, _)| std::ptr::eq(*s, *c)) {
            shown.push((c, p));
        }
    }
    for (c, p) in shown.iter().take(EXAMPLES) {
        f.evidence.push(format!(
            "client {}: {} attempts ({} failed), {p}, delays {}",
            c.client,
            count(c.attempts),
            count(c.failed),
            delays_text(&c.delays_ms)
        ));
    }
    f.fix.push(full_jitter_fix());
    f
}

fn no_jitter(ctx: &Ctx<'_>, exponential: &[&ClientReconnects]) -> Option<Finding> {
    // Clients on the same schedule, to 100 ms, over their first delays.
    let mut schedules: HashMap<Vec<u64>, u64> = HashMap::new();
    for c in exponential {
        let key: Vec<u64> = c
            .delays_ms
            .iter()
            .take(MIN_DELAYS + 1)
            .map(|d| (d + LOCKSTEP_ROUND_MS / 2) / LOCKSTEP_ROUND_MS * LOCKSTEP_ROUND_MS)
            .collect();
        *schedules.entry(key).or_insert(0) += 1;
    }
    let (schedule, same) = schedules
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))?;
    if same < 3 || same * 2 < exponential.len() as u64 {
        return None;
    }
    let mut f = ctx.finding(
        CauseId::ReconnectNoJitter,
        Severity::Warning,
        0.75,
        format!(
            "{} clients back off on the identical schedule ({}): they reconnect in lockstep",
            count(same),
            delays_text(&schedule)
        ),
    );
    f.measured.reconnect_policy = Some("exponential".to_owned());
    f.measured.reconnect_delays_s = Some(delays_s(&schedule));
    f.measured.samples = Some(samples(same));
    f.evidence.push(format!(
        "{} of {} exponentially backing-off clients share the delays {} to {} ms",
        count(same),
        count(exponential.len() as u64),
        delays_text(&schedule),
        LOCKSTEP_ROUND_MS
    ));
    for c in exponential.iter().take(EXAMPLES) {
        f.evidence.push(format!(
            "client {}: delays {}",
            c.client,
            delays_text(&c.delays_ms)
        ));
    }
    f.fix.push(full_jitter_fix());
    Some(f)
}
