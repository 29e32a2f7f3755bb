//! Rules for the idle experiment: which arms the path ended, when, and how,
//! into `idle-timeout` / `max-lifetime` / heartbeat findings with the hop
//! named where the evidence allows. Pure: evidence in, findings out.

use wsdoctor_evidence::idle::{Arm, IdleEvidence, IdleSample};
use wsdoctor_evidence::{ConnectionEnd, ProbeEvidence};

use super::common::{fix, human, median, names_with_value, same_time_us, secs, to_s};

use crate::advice::rank;
use crate::finding::{CauseId, Finding, Severity, SourceKind};
use crate::fingerprint::active::{front_of, identify_with_probe};
use crate::fingerprint::hops::{self, Hop, Observed, Shape, Timer};
use crate::kb::{kb, Intermediary};

mod ends;
mod heartbeat;
mod sides;
mod timer;
use sides::{check_arm, pairing_lines, ArmCheck};

/// Candidate hops listed in a finding's evidence.
const SHOWN_HOPS: usize = 3;
/// Candidate hops whose fix is given when none is named.
const LIKELY_FIXES: usize = 3;

struct ArmView<'a> {
    arm: Arm,
    opened: Vec<&'a IdleSample>,
    dropped: Vec<&'a IdleSample>,
}

impl ArmView<'_> {
    fn all_dropped(&self) -> bool {
        !self.opened.is_empty() && self.dropped.len() == self.opened.len()
    }
    fn ages(&self) -> Vec<u64> {
        self.dropped.iter().filter_map(|s| s.age_us()).collect()
    }
    fn idles(&self) -> Vec<u64> {
        self.dropped.iter().filter_map(|s| s.idle_us()).collect()
    }
}

fn view(e: &IdleEvidence, arm: Arm) -> Option<ArmView<'_>> {
    let of_arm: Vec<&IdleSample> = e.samples.iter().filter(|s| s.arm == arm).collect();
    if of_arm.is_empty() {
        return None;
    }
    let opened: Vec<&IdleSample> = of_arm
        .into_iter()
        .filter(|s| s.connection.opened())
        .collect();
    let dropped = opened.iter().copied().filter(|s| s.dropped()).collect();
    Some(ArmView {
        arm,
        opened,
        dropped,
    })
}

/// How the path ended a connection, for titles and `measured`.
fn how(sample: &IdleSample) -> (String, Option<String>, Option<u16>) {
    match sample.connection.end.as_ref().map(|e| &e.end) {
        Some(end @ ConnectionEnd::CloseHandshake { code, .. }) => (end.describe(), None, *code),
        Some(end) => (
            end.describe(),
            end.transport().map(|t| t.as_str().to_owned()),
            None,
        ),
        None => ("still open".to_owned(), None, None),
    }
}

/// The products that may own the timer, ranked from the timer value, how
/// the connections ended and the handshake's headers together.
fn ranked_hops(e: &IdleEvidence, timer: Timer, shape: Option<Shape>) -> Vec<Hop> {
    let handshake = e
        .samples
        .iter()
        .find_map(|s| s.connection.handshake.as_ref());
    let named = identify_with_probe(handshake, e.hop_probe.as_ref());
    let front = front_of(handshake, e.hop_probe.as_ref());
    hops::rank(&Observed {
        timer: Some(timer),
        shape,
        named: &named,
        front: front.as_deref(),
    })
}

fn sample_line(s: &IdleSample) -> String {
    let age = s.age_us().map_or_else(|| "?".to_owned(), secs);
    let idle = s.idle_us().map_or_else(|| "?".to_owned(), secs);
    format!(
        "{} #{}: {} after {age} open, {idle} since the last frame either way",
        s.arm.as_str(),
        s.sample,
        how(s).0
    )
}

fn survivor_line(arm: &ArmView<'_>, ran_us: u64) -> String {
    format!(
        "{} arm ({} connection{}): still open after {}, closed by us",
        arm.arm.as_str(),
        arm.opened.len(),
        if arm.opened.len() == 1 { "" } else { "s" },
        secs(ran_us)
    )
}

/// Diagnoses an idle experiment.
pub fn diagnose_idle(e: &IdleEvidence) -> Vec<Finding> {
    let (odd, rest): (Vec<IdleSample>, Vec<IdleSample>) = e
        .samples
        .iter()
        .cloned()
        .partition(|s| s.connection.opened() && ends::non_timer_end(s));
    if !odd.is_empty() {
        return with_non_timer_ends(e, &odd, rest);
    }
    // The one-direction arms count only when the server did its part
    // (pushed ticks on `inbound`, kept quiet on `outbound`).
    let mut notes = Vec::new();
    let mut left_out = Vec::new();
    for arm in [Arm::Inbound, Arm::Outbound] {
        match check_arm(e, arm) {
            Some(ArmCheck::Honoured(lines)) => notes.extend(lines),
            Some(ArmCheck::Ignored(line)) => {
                notes.push(line);
                left_out.push(arm);
            }
            None => {}
        }
    }
    let all_views = || {
        [
            Arm::Silent,
            Arm::Ping,
            Arm::Data,
            Arm::Inbound,
            Arm::Outbound,
        ]
        .into_iter()
        .filter_map(|a| view(e, a))
    };
    let mut views: Vec<ArmView<'_>> = all_views().filter(|v| !left_out.contains(&v.arm)).collect();
    if views.iter().all(|v| v.opened.is_empty()) {
        // Only left-out arms opened: an inbound arm nothing arrived on is
        // still a silent connection, which is better than no conclusion.
        views = all_views().collect();
    }
    if views.iter().all(|v| v.opened.is_empty()) {
        return nothing_opened(e);
    }
    let mut findings = Vec::new();
    let reference = views
        .iter()
        .find(|v| v.arm == Arm::Silent)
        .or(views.first());
    let Some(reference) = reference else {
        return findings;
    };
    let hb = heartbeat::observe(e);

    findings.extend(conclusion(e, &views, reference, &hb));
    // Connections the server itself closed (1000, an empty close frame):
    // who closed, when and what it said is an answer of its own.
    let by_server: Vec<&IdleSample> = views
        .iter()
        .flat_map(|v| v.dropped.iter().copied())
        .collect();
    findings.extend(ends::server_close_finding(e, &by_server));
    // What the one-direction arms did belongs with the main conclusion.
    if let Some(main) = findings.first_mut() {
        main.evidence.extend(notes);
    }
    for f in &mut findings {
        f.source = SourceKind::Idle;
        f.measured.samples = Some(u32::try_from(e.samples.len()).unwrap_or(u32::MAX));
    }
    super::app::adjust_idle(e, &mut findings);
    rank(&mut findings);
    findings
}

/// Some connections ended in a way no timer explains (a reset by the
/// server's code, a protocol error): those first, then what the rest say,
/// without a `healthy` next to a broken connection.
fn with_non_timer_ends(
    e: &IdleEvidence,
    odd: &[IdleSample],
    rest: Vec<IdleSample>,
) -> Vec<Finding> {
    let mut findings = ends::non_timer_findings(e, odd);
    if rest.iter().any(|s| s.connection.opened()) {
        let rest = IdleEvidence {
            samples: rest,
            ..e.clone()
        };
        // The rest never dropped: that is no health next to a broken connection.
        findings.extend(
            diagnose_idle(&rest)
                .into_iter()
                .filter(|f| f.id != CauseId::Healthy),
        );
    }
    for f in &mut findings {
        f.source = SourceKind::Idle;
        f.measured.samples = Some(u32::try_from(e.samples.len()).unwrap_or(u32::MAX));
    }
    rank(&mut findings);
    findings
}

/// Nothing opened: the probe rules say why, from the first attempt.
fn nothing_opened(e: &IdleEvidence) -> Vec<Finding> {
    let Some(first) = e.samples.first() else {
        return Vec::new();
    };
    let mut findings = crate::rules::diagnose_probe(&ProbeEvidence {
        connection: first.connection.clone(),
        watch_ms: e.max_ms,
        sent: Vec::new(),
        h2: None,
        hop_probe: e.hop_probe.clone(),
    });
    for f in &mut findings {
        f.source = SourceKind::Idle;
    }
    findings
}

/// The main conclusion from which arms dropped: a timer (the silent arm
/// died), random drops, traffic that kills, or no drop at all.
fn conclusion(
    e: &IdleEvidence,
    views: &[ArmView<'_>],
    reference: &ArmView<'_>,
    hb: &heartbeat::Heartbeat,
) -> Vec<Finding> {
    let ran_us = e.ran_ms.saturating_mul(1000);
    if reference.all_dropped() {
        timer::timer_findings(e, views, reference, hb)
    } else if views.iter().any(ArmView::all_dropped)
        && views.iter().any(|v| {
            let partly = !v.dropped.is_empty() && !v.all_dropped();
            let ages = v.ages();
            let (first, last) = (ages.iter().min(), ages.iter().max());
            let scattered = v.all_dropped()
                && first
                    .zip(last)
                    .is_some_and(|(first, last)| !same_time_us(*first, *last));
            partly || scattered
        })
    {
        // One arm gone entirely and another partly, or one arm gone at
        // scattered times: drops at random times, not traffic that kills.
        let (_, transport, close_code) = views
            .iter()
            .find_map(|v| v.dropped.first())
            .map_or((String::new(), None, None), |s| how(s));
        vec![random_drops(e, views, transport, close_code)]
    } else if views.iter().any(ArmView::all_dropped) {
        let mut findings = Vec::new();
        // A keepalive arm died while silent ones lived: traffic itself ends connections.
        for v in views.iter().filter(|v| v.all_dropped()) {
            let mut f = finding(
                CauseId::AbnormalClose,
                Severity::Error,
                0.6,
                format!(
                    "Connections that send {} traffic are closed; silent ones are not",
                    v.arm.as_str()
                ),
            );
            f.evidence = v.dropped.iter().map(|s| sample_line(s)).collect();
            f.evidence.push(survivor_line(reference, ran_us));
            f.evidence.extend(pairing_lines(e, &v.dropped).0);
            f.fix.push(fix(
                "server",
                "Look in the server's log at these times: something rejects the keepalive traffic (an unknown message type, a rate limit, pings it does not expect).",
            ));
            findings.push(f);
        }
        findings
    } else {
        let measured = match hb.interval {
            Some(heartbeat::Interval::Measured(p)) => Some(p),
            _ => None,
        };
        vec![no_drop_finding(e, views, ran_us, measured)]
    }
}

fn finding(id: CauseId, severity: Severity, confidence: f64, title: String) -> Finding {
    super::common::finding(id, severity, confidence, title, SourceKind::Idle)
}

/// Drops at scattered ages on busy and silent connections alike: the
/// distribution, not one number.
fn random_drops(
    e: &IdleEvidence,
    views: &[ArmView<'_>],
    transport: Option<String>,
    close_code: Option<u16>,
) -> Finding {
    let dropped: Vec<&IdleSample> = views
        .iter()
        .flat_map(|v| v.dropped.iter().copied())
        .collect();
    let mut ages: Vec<u64> = dropped.iter().filter_map(|s| s.age_us()).collect();
    ages.sort_unstable();
    let lo = ages.first().copied().unwrap_or(0);
    let hi = ages.last().copied().unwrap_or(0);
    let mid = median(ages.clone()).unwrap_or(0);
    let opened: usize = views.iter().map(|v| v.opened.len()).sum();
    let mut f = finding(
        CauseId::AbnormalClose,
        Severity::Error,
        0.7,
        format!(
            "Connections are dropped at scattered times ({}–{}), busy or silent: not an idle timer",
            human(lo),
            human(hi)
        ),
    );
    f.measured.spread_s = Some(to_s(hi - lo));
    f.measured.transport = transport;
    f.measured.close_code = close_code;
    f.measured.connections_affected = Some(dropped.len() as u64);
    f.evidence.push(format!(
        "{} of {opened} connections dropped; age at the drop: min {}, median {}, max {}",
        dropped.len(),
        secs(lo),
        secs(mid),
        secs(hi)
    ));
    f.evidence.push(format!(
        "ages in order: {}",
        ages.iter().map(|a| secs(*a)).collect::<Vec<_>>().join(", ")
    ));
    f.evidence
        .extend(dropped.iter().take(6).map(|s| sample_line(s)));
    f.evidence.extend(pairing_lines(e, &dropped).0);
    f.fix.push(fix(
        "client",
        "Drops at random moments are not fixed by a keepalive: reconnect with jittered backoff and resume state. To find the hop, run `wsdoctor watch` on the path for a while and compare with each proxy's logs and restarts (some edges, like Cloudflare's, end connections at any time).",
    ));
    f
}

fn no_drop_finding(
    e: &IdleEvidence,
    views: &[ArmView<'_>],
    ran_us: u64,
    ping_interval: Option<u64>,
) -> Finding {
    let longer: Vec<&Intermediary> = kb()
        .intermediaries()
        .iter()
        .filter(|i| {
            i.idle_timeout_default_s
                .is_some_and(|t| u64::from(t) * 1_000_000 > ran_us)
        })
        .collect();
    let mut f = finding(
        CauseId::Healthy,
        Severity::Info,
        0.7,
        format!(
            "No idle timeout below {}: no connection was dropped",
            human(ran_us)
        ),
    );
    f.evidence = views
        .iter()
        .filter(|v| !v.opened.is_empty())
        .map(|v| survivor_line(v, ran_us))
        .collect();
    if let Some(p) = ping_interval {
        f.measured.server_ping_interval_s = Some(to_s(p));
        f.evidence.push(format!(
            "the server pings every {}: that traffic resets idle timers, so even the silent arm was not silent",
            secs(p)
        ));
    }
    if !longer.is_empty() && e.max_ms < 3_600_000 {
        f.evidence.push(format!(
            "hops with longer default idle timeouts are not ruled out: {}",
            names_with_value(&longer, |i| i.idle_timeout_default_s)
        ));
    }
    f.fix.push(fix(
        "client",
        format!("Nothing to fix below {}. To look further, raise --max past the next suspect (e.g. --max 6m for AWS NLB's 350 s).", human(ran_us)),
    ));
    f
}

#[cfg(test)]
mod tests;
