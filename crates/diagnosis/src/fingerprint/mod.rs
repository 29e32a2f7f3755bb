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

use std::collections::{BTreeMap, BTreeSet};
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
    /// Its signal came back through the front hop the active fingerprint
    /// found, so it may be any hop behind that one (its evidence says so).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub behind_front: bool,
    /// One of its signals is the upgrade answer's own `Server` header: the
    /// product says it wrote that answer (a `Via` or a body names a hop
    /// the answer passed, not its author).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub named_by_server_header: bool,
}

/// Ranks the products the response points at, most likely first. Empty when
/// nothing is recognisable (many backends send no identifying header).
pub fn identify(handshake: &HandshakeRecord) -> Vec<Candidate> {
    let view = signal::View::new(handshake);
    // Per product, each distinct piece of evidence once, with the strongest
    // rule that produced it: a kb rule and a code rule can match the same
    // header, and that is one signal, not two.
    let mut hits: BTreeMap<&str, BTreeMap<String, f64>> = BTreeMap::new();
    let mut by_server_header: BTreeSet<&str> = BTreeSet::new();
    for rule in all_rules() {
        if let Some(matched) = rule.signal.matches(&view) {
            if matched.server_header {
                by_server_header.insert(rule.id.as_str());
            }
            let slot = hits
                .entry(rule.id.as_str())
                .or_default()
                .entry(matched.evidence)
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
            let mut by_strength: Vec<(String, f64)> = signals.into_iter().collect();
            by_strength.sort_by(|a, b| b.1.total_cmp(&a.1));
            Candidate {
                named_by_server_header: by_server_header.contains(id),
                ..Candidate::combined(id, by_strength.into_iter().map(|(e, c)| (c, e)))
            }
        })
        .collect();
    sort(&mut candidates);
    candidates
}

impl Candidate {
    /// One product's independent signals, `(confidence, evidence)` in the
    /// order their evidence is shown. They combine like independent chances
    /// of being wrong: 1 - Π(1 - c), capped: a fingerprint is never proof.
    fn combined(id: &str, signals: impl IntoIterator<Item = (f64, String)>) -> Candidate {
        let mut doubt = 1.0;
        let mut evidence = Vec::new();
        for (confidence, line) in signals {
            doubt *= 1.0 - confidence;
            evidence.push(line);
        }
        Candidate {
            id: id.to_owned(),
            confidence: round2((1.0 - doubt).min(0.99)),
            evidence: evidence.join("; "),
            behind_front: false,
            named_by_server_header: false,
        }
    }
}

/// Most likely first; ties by id, so the order is stable.
fn sort(candidates: &mut [Candidate]) {
    candidates.sort_by(|a, b| b.confidence.total_cmp(&a.confidence).then(a.id.cmp(&b.id)));
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
