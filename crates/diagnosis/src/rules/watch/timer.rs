//! `idle-timeout` or `max-lifetime`: silent connections dropped at the
//! same idle time, and (for a cap) busy ones at the same age.

use wsdoctor_evidence::idle::Arm;
use wsdoctor_evidence::watch::{WatchDrop, WatchEvidence};
use wsdoctor_evidence::ConnectionEnd;

use super::{how, ranked_hops, Window, SHOWN_HOPS};
use crate::finding::{CauseId, Finding, Severity, SourceKind};
use crate::fingerprint::hops::{self, Timer};
use crate::rules::common::{
    finding, fix, hop_fixes, human, idle_matches, median, names_with_value, raise_idle_fix,
    raise_lifetime_fix, same_time_us, to_s,
};

/// Candidate hops whose fix is given when none is named.
const LIKELY_FIXES: usize = 3;

/// The timer finding of the window, when most silent drops share one idle time.
pub(super) fn diagnose(w: &Window<'_>) -> Option<Finding> {
    let (e, when, single) = (w.e, &w.when, &w.single);
    let silent: Vec<&WatchDrop> = single
        .iter()
        .copied()
        .filter(|d| d.arm == Arm::Silent)
        .collect();
    let idles: Vec<u64> = silent.iter().filter_map(|d| d.idle_us).collect();
    if let Some(t) = median(idles.clone()) {
        let at_t = idles.iter().filter(|i| same_time_us(**i, t)).count();
        if at_t >= 2 && at_t * 2 > idles.len() {
            let keepalive_drops = single.iter().filter(|d| d.arm != Arm::Silent).count();
            let ages: Vec<u64> = single
                .iter()
                .filter(|d| d.arm != Arm::Silent)
                .filter_map(|d| d.age_us)
                .collect();
            let lifetime = keepalive_drops > 0 && ages.iter().all(|a| same_time_us(*a, t));
            // The server itself closed every one of these drops: no proxy
            // is to blame. A lifetime is then the server's own, which the
            // close-code finding (`server-close`) below reports; an idle
            // timer is still measured, without ranking hops.
            let by_server = single.iter().all(|d| closed_by_server(d));
            if !(by_server && lifetime) {
                return Some(timer_finding(TimerDrops {
                    e,
                    when,
                    t,
                    at_t,
                    idles: idles.len(),
                    keepalive_drops,
                    lifetime,
                    by_server,
                    silent: &silent,
                }));
            }
        }
    }
    None
}

/// The server ended it on purpose: a close frame it started with 1000 or
/// without a code (the same test as idle's).
fn closed_by_server(d: &WatchDrop) -> bool {
    matches!(
        d.end,
        ConnectionEnd::CloseHandshake { code, initiator: wsdoctor_evidence::Side::Remote, .. }
            if crate::rules::server_close::is_deliberate(code)
    )
}

/// What the timer section of a watch saw: drops of silent connections at
/// the same idle time `t`.
#[derive(Clone, Copy)]
struct TimerDrops<'a> {
    e: &'a WatchEvidence,
    when: &'a str,
    t: u64,
    at_t: usize,
    idles: usize,
    keepalive_drops: usize,
    lifetime: bool,
    by_server: bool,
    silent: &'a [&'a WatchDrop],
}

/// `idle-timeout` or `max-lifetime` for drops at the same time `t`, with
/// the hops ranked, unless the server itself closed them (then the timer is
/// the server's own and no hop is named).
fn timer_finding(d: TimerDrops<'_>) -> Finding {
    let TimerDrops {
        e,
        when,
        t,
        at_t,
        keepalive_drops,
        lifetime,
        by_server,
        silent,
        ..
    } = d;
    let mut f = if lifetime {
        let mut f = finding(
            CauseId::MaxLifetime,
            Severity::Error,
            0.8,
            format!(
                "{when}: connections end after {} whatever the traffic",
                human(t)
            ),
            SourceKind::Flow,
        );
        f.measured.max_lifetime_s = Some(to_s(t));
        f
    } else {
        let mut f = finding(
            CauseId::IdleTimeout,
            Severity::Error,
            0.85,
            format!(
                "{when}: {at_t} of {} silent-connection drops at {} idle",
                d.idles,
                human(t)
            ),
            SourceKind::Flow,
        );
        f.measured.idle_timeout_s = Some(to_s(t));
        f
    };
    f.measured.samples = Some(u32::try_from(at_t).unwrap_or(u32::MAX));
    f.measured.connections_affected = Some(at_t as u64);
    if let Some(d) = silent.first() {
        f.evidence.push(format!(
            "e.g. {} #{} at {}: {} after {} of silence",
            d.arm.as_str(),
            d.slot,
            d.wall,
            how(d),
            human(d.idle_us.unwrap_or(0))
        ));
    }
    f.evidence.push(format!("connections that keep busy (every {}) dropped {keepalive_drops} time(s) in the same window", human(e.interval_ms.saturating_mul(1000))));
    let matches = idle_matches(t);
    if !matches.is_empty() {
        f.evidence.push(format!(
            "{} is the default of {}",
            human(t),
            names_with_value(&matches, |i| i.idle_timeout_default_s)
        ));
    }
    let timer = if lifetime {
        Timer::Lifetime(t)
    } else {
        Timer::Idle(t)
    };
    if by_server {
        // Only an idle timer gets here (a lifetime the server keeps is its
        // `server-close`): the server's own, so no hop is ranked.
        f.evidence.push(
            "the server itself closed them with a close frame: the timer is the server's own, not a proxy's"
                .to_owned(),
        );
        f.fix.push(fix(
            "server",
            format!("The server closes connections that are silent for {}: raise its own idle timeout, or keep them busy.", human(t)),
        ));
        return f;
    }
    let ranked = silent
        .first()
        .map(|d| ranked_hops(e, d, timer))
        .unwrap_or_default();
    let blamed = hops::confident(&ranked).map(|h| h.intermediary);
    f.intermediary = blamed.map(|i| i.id.clone());
    f.evidence.extend(hops::lines(&ranked, SHOWN_HOPS));
    let hop_fix = match blamed {
        Some(i) if lifetime => raise_lifetime_fix(i).into_iter().collect(),
        Some(i) => raise_idle_fix(i).into_iter().collect(),
        None => hop_fixes(&ranked, timer, LIKELY_FIXES),
    };
    if lifetime {
        // Pings cannot help against a cap that ignores traffic.
        f.fix.extend(hop_fix);
        f.fix.push(fix(
            "proxy",
            format!("Raise the lifetime cap of the hop that owns it (`wsdoctor idle` names it), and make clients reconnect with backoff before {} is reached.", human(t)),
        ));
    } else {
        f.fix
            .push(crate::advice::app::server_ping_fix(Some(t), None));
        f.fix.extend(hop_fix);
    }
    f
}
