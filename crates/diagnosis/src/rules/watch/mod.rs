//! Rolling findings of a watch: the drops of a window, read the way an SRE
//! reads a dashboard — a burst across connections, a fixed silence, a fixed
//! age, close codes, failed reconnects, stalled flow. Pure.
//!
//! One file per conclusion; [`diagnose_watch`] runs them in order over one
//! [`Window`].

mod abnormal;
mod bursts;
mod close_codes;
mod failed;
mod instances;
mod protocol;
mod stalled;
#[cfg(test)]
mod tests;
mod timer;

use wsdoctor_evidence::watch::{WatchDrop, WatchEvidence};
use wsdoctor_evidence::ConnectionEnd;
use wsdoctor_evidence::{HandshakeRecord, Header, HopProbeRecord};

use super::common::{finding, fix, human};
use crate::advice::rank;
use crate::finding::{CauseId, Finding, Severity, SourceKind};
use crate::fingerprint::active::{front_of, identify_with_probe, note_on_top};
use crate::fingerprint::hops::{self, Hop, Observed, Shape, Timer};

/// One window of a watch, as every rule reads it.
struct Window<'a> {
    e: &'a WatchEvidence,
    /// `in the last 5 m 0 s`: how every title starts.
    when: String,
    /// Drops of open connections that were not part of a burst.
    single: Vec<&'a WatchDrop>,
}

/// Diagnoses the window.
pub fn diagnose_watch(e: &WatchEvidence) -> Vec<Finding> {
    let mut findings = Vec::new();
    let when = window_words(e);

    let bursts = bursts::bursts(e);
    findings.extend(bursts::diagnose(e, &when, &bursts));
    let in_burst = |d: &WatchDrop| bursts.iter().any(|b| b.iter().any(|x| std::ptr::eq(*x, d)));
    let single: Vec<&WatchDrop> = e
        .drops
        .iter()
        .filter(|d| d.opened && !in_burst(d) && !broke_protocol(d))
        .collect();
    let w = Window { e, when, single };

    findings.extend(timer::diagnose(&w));
    findings.extend(close_codes::diagnose(&w));
    findings.extend(instances::diagnose(&w));
    findings.extend(protocol::diagnose(&w));
    findings.extend(failed::diagnose(&w));
    let timer_found = findings
        .iter()
        .any(|f| f.id == CauseId::IdleTimeout || f.id == CauseId::MaxLifetime);
    findings.extend(abnormal::diagnose(&w, timer_found));
    findings.extend(stalled::diagnose(&w));

    // Healthy needs evidence: a watch that never saw a connection open
    // (only possible before any attempt has ended) says nothing.
    if findings.is_empty() && e.opened_total > 0 {
        findings.push(healthy(&w));
    }
    super::app::annotate_watch(e, &mut findings);
    rank(&mut findings);
    // What the fingerprint after the watch sent and what answered.
    for p in &e.hop_probes {
        note_on_top(&mut findings, Some(&p.probe));
    }
    findings
}

fn healthy(w: &Window<'_>) -> Finding {
    let e = w.e;
    let mut f = finding(
        CauseId::Healthy,
        Severity::Info,
        0.7,
        format!(
            "{}: no drop, {} of {} connections open",
            w.when, e.open_now, e.connections
        ),
        SourceKind::Flow,
    );
    f.evidence
        .push(format!("{} reconnect(s) since the start", e.reconnects));
    f.fix.push(fix(
        "client",
        "Nothing to fix; keep the watch running to catch intermittent drops.",
    ));
    f
}

fn window_words(e: &WatchEvidence) -> String {
    let span = e.ran_ms.min(e.window_ms);
    format!("in the last {}", human(span.saturating_mul(1000)))
}

/// A connection the server ended by breaking RFC 6455: what timers, bursts
/// and hops explain is not what ended it, so it is no timer sample.
fn broke_protocol(d: &WatchDrop) -> bool {
    matches!(d.end, ConnectionEnd::ProtocolViolation { .. })
}

fn how(d: &WatchDrop) -> String {
    d.end.describe()
}

/// Candidate hops listed in the evidence.
const SHOWN_HOPS: usize = 3;

/// The hops that may have ended `d` (and the drops like it) at `timer`,
/// from how it ended, the `Server` header its handshake answer had and,
/// when it ran after the watch, the active fingerprint of its target.
fn ranked_hops(e: &WatchEvidence, d: &WatchDrop, timer: Timer) -> Vec<Hop> {
    // A watch keeps only the Server header; it is what identify() reads first.
    let answer = d.server.as_ref().map(|server| HandshakeRecord {
        request: Vec::new(),
        http_version: "HTTP/1.1".to_owned(),
        status: 101,
        reason: "Switching Protocols".to_owned(),
        headers: vec![Header {
            name: "Server".to_owned(),
            value: server.clone(),
        }],
        body: None,
        subprotocol: None,
        problems: Vec::new(),
    });
    let probe = hop_probe_of(e, &d.target);
    let named = identify_with_probe(answer.as_ref(), probe);
    let front = front_of_target(e, &d.target);
    hops::rank(&Observed {
        timer: Some(timer),
        shape: Shape::of(&d.end),
        named: &named,
        front: front.as_deref(),
    })
}

/// The active fingerprint of `target`, when it ran after the watch.
fn hop_probe_of<'a>(e: &'a WatchEvidence, target: &str) -> Option<&'a HopProbeRecord> {
    e.hop_probes
        .iter()
        .find(|p| p.target == target)
        .map(|p| &p.probe)
}

/// What stands in front of the products `target`'s answers name, read as
/// the idle and probe rules read it ([`front_of`]): the product its
/// fingerprint found there, else an unidentified hop when its first
/// answer had every header name lower-cased, else nothing.
fn front_of_target(e: &WatchEvidence, target: &str) -> Option<String> {
    let first_answer = e
        .first_answers
        .iter()
        .find(|a| a.target == target)
        .map(|a| &a.answer);
    front_of(first_answer, hop_probe_of(e, target))
}

/// The targets behind a hop that lower-cased every header name of their
/// first answer and that no fingerprint identified: the product a header
/// names is ranked there, never named (the report's `behind_unknown_hop`).
pub fn behind_unknown_hop(e: &WatchEvidence) -> Vec<String> {
    e.targets
        .iter()
        .filter(|target| front_of_target(e, target).as_deref() == Some(hops::UNKNOWN_FRONT))
        .cloned()
        .collect()
}
