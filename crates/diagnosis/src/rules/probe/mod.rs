//! Rules for `wsdoctor probe`: one connection, held open for a watch.
//!
//! The end of the connection picks the main finding (why it failed or how it
//! ended); heartbeat rules then look at the pings; `healthy` closes the list
//! when nothing reached warning level. An HTTP/2 attempt (`--http2`, or the
//! `h2` record of `--compare-http`) is read by [`h2`].

mod after_open;
mod before_open;
mod client_cert;
mod h2;
mod heartbeat;
mod proxy;
mod rejected;
mod server_refusal;
#[cfg(test)]
mod tests;

use wsdoctor_evidence::{
    ConnectionRecord, EndRecord, FrameKind, HandshakeRecord, ProbeEvidence, Side,
};

use super::common::{self, median};
use crate::advice::rank;
use crate::finding::{CauseId, Finding, Severity, SourceKind};
use crate::fingerprint::active::identify_with_probe;
use crate::fingerprint::{blame, Candidate};
use crate::kb::{kb, Intermediary};

/// Diagnoses one probe. Pure: same evidence, same findings, ranked most
/// important first. An empty list means the evidence was too incomplete to
/// say anything (the verdict is then `inconclusive`).
pub fn diagnose_probe(evidence: &ProbeEvidence) -> Vec<Finding> {
    let ctx = Ctx::new(evidence);
    // An HTTP/2 attempt that failed in its HTTP/2 stage: the upgrade rules
    // would read its answer as a refused HTTP/1.1 upgrade.
    if let Some(f) = h2::failed_primary(&ctx) {
        return vec![f];
    }
    let mut findings = Vec::new();
    // What the close of the connection says; healthy-evidence notes (a
    // normal close) come back separately.
    let mut notes = Vec::new();
    if let Some(h2) = &evidence.h2 {
        h2::compare(&ctx, h2, &mut findings, &mut notes);
    }
    if let Some(end) = ctx.end {
        match &end.end {
            e if e.before_open() => findings.extend(before_open::diagnose(&ctx, e)),
            e => after_open::diagnose(&ctx, e, &mut findings, &mut notes),
        }
    }
    // A 101 the source accepted, and an end that came after it (a source
    // might record a 101 whose problems it reported only in the end).
    let opened = ctx.conn.opened() && !ctx.end.is_some_and(|e| e.end.before_open());
    if opened {
        findings.extend(server_refusal::ignored_subprotocol(&ctx));
        findings.extend(heartbeat::diagnose(&ctx));
        if !findings.iter().any(|f| f.severity >= Severity::Warning) {
            notes.extend(proxy::notes(&ctx));
            findings.push(heartbeat::healthy(&ctx, notes));
        }
    }
    super::app::adjust_probe(evidence, &mut findings);
    rank(&mut findings);
    findings
}

/// The evidence with what every rule needs worked out once.
pub(crate) struct Ctx<'a> {
    pub(crate) ev: &'a ProbeEvidence,
    pub(crate) conn: &'a ConnectionRecord,
    pub(crate) hs: Option<&'a HandshakeRecord>,
    pub(crate) end: Option<&'a EndRecord>,
    /// Products the response points at, ranked.
    pub(crate) candidates: Vec<Candidate>,
    /// The hop we blame, when the fingerprint is strong enough.
    pub(crate) blamed: Option<&'static Intermediary>,
}

impl<'a> Ctx<'a> {
    fn new(ev: &'a ProbeEvidence) -> Ctx<'a> {
        let conn = &ev.connection;
        let hs = conn.handshake.as_ref();
        let candidates = identify_with_probe(hs, ev.hop_probe.as_ref());
        let blamed = blame(&candidates).and_then(|c| kb().intermediary(&c.id));
        Ctx {
            ev,
            conn,
            hs,
            end: conn.end.as_ref(),
            candidates,
            blamed,
        }
    }

    /// A finding from this probe.
    pub(crate) fn finding(
        &self,
        id: CauseId,
        severity: Severity,
        confidence: f64,
        title: impl Into<String>,
    ) -> Finding {
        common::finding(id, severity, confidence, title, SourceKind::Probe)
    }

    /// The blamed hop when it is a proxy (not the app server behind it).
    pub(crate) fn blamed_proxy(&self) -> Option<&'static Intermediary> {
        self.blamed.filter(|i| i.is_proxy())
    }

    /// `AWS Application Load Balancer identified by Set-Cookie: AWSALB`: why
    /// `intermediary` names this hop.
    pub(crate) fn identified_line(&self, i: &Intermediary) -> Option<String> {
        self.candidates
            .iter()
            .find(|c| c.id == i.id)
            .map(|c| format!("{} identified by {}", i.short_name(), c.evidence))
    }

    /// The best-matching app server or library with a kb fix snippet (for heartbeat code).
    pub(crate) fn server_library(&self) -> Option<&'static Intermediary> {
        self.candidates
            .iter()
            .filter_map(|c| kb().intermediary(&c.id))
            .find(|i| !i.is_proxy() && i.fix_snippet.is_some())
    }

    /// When the response head arrived, µs since the attempt started.
    pub(crate) fn open_at_us(&self) -> Option<u64> {
        self.conn.phases.response_head_us
    }

    /// How long the answer to the upgrade request took.
    pub(crate) fn answer_us(&self) -> Option<u64> {
        let p = &self.conn.phases;
        Some(p.response_head_us?.saturating_sub(p.request_written_us?))
    }

    /// How long the open connection was observed: until its end, or the
    /// whole watch when it was still open.
    pub(crate) fn watched_us(&self) -> u64 {
        self.conn
            .open_for_us()
            .unwrap_or(self.ev.watch_ms.saturating_mul(1000))
    }

    /// Times of the server's pings.
    pub(crate) fn server_pings(&self) -> Vec<u64> {
        self.conn.ping_times(Side::Remote)
    }

    /// Median gap between the server's pings, µs (needs two pings).
    pub(crate) fn server_ping_interval_us(&self) -> Option<u64> {
        let pings = self.server_pings();
        median(
            pings
                .windows(2)
                .map(|w| w[1].saturating_sub(w[0]))
                .collect(),
        )
    }

    /// Pongs we sent (answers to the server's pings).
    pub(crate) fn our_pongs(&self) -> usize {
        self.conn
            .events_from(Side::Local)
            .filter(|e| matches!(e.kind, FrameKind::Pong { .. }))
            .count()
    }

    /// The longest stretch without any frame from the server while open, µs.
    pub(crate) fn longest_inbound_silence_us(&self) -> Option<u64> {
        let open = self.open_at_us()?;
        let close = open + self.watched_us();
        let mut last = open;
        let mut longest = 0;
        for e in self.conn.events_from(Side::Remote) {
            longest = longest.max(e.at_us.saturating_sub(last));
            last = last.max(e.at_us);
        }
        Some(longest.max(close.saturating_sub(last)))
    }

    /// `wss://…` as the user gave it (secrets already redacted by the source).
    pub(crate) fn target(&self) -> String {
        wsdoctor_evidence::escape_peer(&self.conn.target)
    }
}

/// The one-line test that shows which hop turns the 101 into something else
/// (the fix of both a refused and a mangled upgrade).
fn curl_fix(ctx: &Ctx<'_>) -> crate::finding::Fix {
    common::fix_with(
        "client",
        "Send the upgrade by hand, to the backend directly and then through each proxy: the hop \
         where the 101 Switching Protocols disappears is the one to fix.",
        &format!(
            "curl -i -N --http1.1 -H 'Connection: Upgrade' -H 'Upgrade: websocket' \\\n  \
             -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \\\n  \
             '{}'",
            common::http_url(&ctx.target())
        ),
    )
}
