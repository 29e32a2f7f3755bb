//! Which products answered the upgrade: matches the response headers, the
//! cookie names, the error-page body and the request's host against the
//! knowledge base's fingerprints (plus a few rules of our own), so findings
//! can name the hop to fix and use its fix snippet.

pub mod active;
#[cfg(test)]
mod active_tests;
mod chain;
mod drains;
pub mod hops;
mod rules;
mod signal;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Serialize;
use wsdoctor_evidence::HandshakeRecord;

use crate::kb::kb;
use rules::Rule;

/// Below this a candidate is a hint, not an identification: findings do not
/// blame it in their `intermediary` field.
pub const BLAME_THRESHOLD: f64 = 0.5;

/// One product that may have produced (or relayed) the response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// Knowledge-base id: `nginx`, `aws-alb`, `cloudflare`, …
    pub id: String,
    /// 0..1: how sure the match is (several independent signals add up).
    pub confidence: f64,
    /// What matched, e.g. `Server: nginx/1.24.0; body contains "<center>nginx"`
    /// (peer text escaped).
    pub evidence: String,
}

/// Ranks the products the response points at, most likely first. Empty when
/// nothing is recognisable (many backends send no identifying header).
pub fn identify(handshake: &HandshakeRecord) -> Vec<Candidate> {
    let view = signal::View::new(handshake);
    // Per product, each distinct piece of evidence once, with the strongest
    // rule that produced it: a kb rule and a code rule can match the same
    // header, and that is one signal, not two.
    let mut hits: BTreeMap<&str, BTreeMap<String, f64>> = BTreeMap::new();
    for rule in all_rules() {
        if let Some(evidence) = rule.signal.matches(&view) {
            let slot = hits
                .entry(rule.id.as_str())
                .or_default()
                .entry(evidence)
                .or_insert(0.0);
            *slot = slot.max(rule.confidence);
        }
    }
    // What the chain says in passing (Via, CF-Ray, X-Served-By, …).
    for hit in chain::hits(handshake) {
        let slot = hits
            .entry(hit.id)
            .or_default()
            .entry(hit.evidence)
            .or_insert(0.0);
        *slot = slot.max(hit.confidence);
    }
    let mut candidates: Vec<Candidate> = hits
        .into_iter()
        .map(|(id, signals)| {
            // Independent signals combine like independent chances of being
            // wrong: 1 - Π(1 - c). Capped: a fingerprint is never proof.
            let doubt: f64 = signals.values().map(|c| 1.0 - c).product();
            let mut by_strength: Vec<(String, f64)> = signals.into_iter().collect();
            by_strength.sort_by(|a, b| b.1.total_cmp(&a.1));
            Candidate {
                id: id.to_owned(),
                confidence: round2((1.0 - doubt).min(0.99)),
                evidence: by_strength
                    .into_iter()
                    .map(|(e, _)| e)
                    .collect::<Vec<_>>()
                    .join("; "),
            }
        })
        .collect();
    candidates.sort_by(|a, b| b.confidence.total_cmp(&a.confidence).then(a.id.cmp(&b.id)));
    candidates
}

/// The most likely product, when it is likely enough to blame.
pub fn blame(candidates: &[Candidate]) -> Option<&Candidate> {
    candidates
        .first()
        .filter(|c| c.confidence >= BLAME_THRESHOLD)
}

fn all_rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        let mut all = rules::code_rules();
        let from_kb: Vec<Rule> = rules::kb_rules(kb())
            .into_iter()
            .filter(|r| !all.iter().any(|c| c.covers(r)))
            .collect();
        all.extend(from_kb);
        all
    })
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
