//! `mass-disconnect`: most connections dropped within a second of each
//! other — a reload, deploy or restart.

use wsdoctor_evidence::watch::{WatchDrop, WatchEvidence};

use super::{broke_protocol, how, ranked_hops, SHOWN_HOPS};
use crate::finding::{CauseId, Finding, Severity, SourceKind};
use crate::fingerprint::hops::{self, Timer};
use crate::rules::common::{finding, fix, hop_fixes};

/// Drops within this long of each other across connections are one event.
const BURST_MS: u64 = 1_000;

/// Groups of drops that happened within [`BURST_MS`] and hit at least half
/// of the connections (and three): reloads, deploys, restarts.
pub(super) fn bursts(e: &WatchEvidence) -> Vec<Vec<&WatchDrop>> {
    let opened: Vec<&WatchDrop> = e
        .drops
        .iter()
        .filter(|d| d.opened && !broke_protocol(d))
        .collect();
    let need = (e.connections as usize).div_ceil(2).max(3);
    let mut out = Vec::new();
    let mut i = 0;
    while i < opened.len() {
        let mut j = i;
        while j + 1 < opened.len() && opened[j + 1].at_ms - opened[i].at_ms <= BURST_MS {
            j += 1;
        }
        if j + 1 - i >= need {
            out.push(opened[i..=j].to_vec());
            i = j + 1;
        } else {
            i += 1;
        }
    }
    out
}

/// The finding for the window's bursts, if it had any.
pub(super) fn diagnose(
    e: &WatchEvidence,
    when: &str,
    bursts: &[Vec<&WatchDrop>],
) -> Option<Finding> {
    if bursts.is_empty() {
        return None;
    }
    let largest = bursts.iter().map(Vec::len).max().unwrap_or(0);
    let mut f = finding(
        CauseId::MassDisconnect,
        Severity::Error,
        0.85,
        format!(
            "{when}: {} time(s) most connections dropped at once",
            bursts.len()
        ),
        SourceKind::Flow,
    );
    for b in bursts {
        let first = b[0];
        let spread = b[b.len() - 1].at_ms - first.at_ms;
        f.evidence.push(format!(
            "{} of {} connections dropped within {} ms at {}: {}",
            b.len(),
            e.connections,
            spread,
            first.wall,
            how(first)
        ));
    }
    f.measured.connections_affected = Some(largest as u64);
    f.measured.cluster_window_s = Some(
        bursts
            .iter()
            .map(|b| b[b.len() - 1].at_ms - b[0].at_ms)
            .max()
            .unwrap_or(0) as f64
            / 1000.0,
    );
    f.fix.push(fix(
        "proxy",
        "A reload, deploy or restart closed every connection at once: match these times with deploy and config-reload logs. Drain old connections gradually (nginx worker_shutdown_timeout, Caddy stream_close_delay) and make clients reconnect with jittered backoff.",
    ));
    // When the reload was is not known here: how the burst closed says
    // whose drain it may have been (FIN: nginx, HAProxy; 1001: Caddy).
    let timer = Timer::AfterReload(None);
    let ranked = ranked_hops(e, bursts[0][0], timer);
    f.intermediary = hops::confident(&ranked).map(|h| h.intermediary.id.clone());
    f.evidence.extend(hops::lines(&ranked, SHOWN_HOPS));
    f.fix.extend(hop_fixes(&ranked, timer, 2));
    Some(f)
}
