//! `idle-timeout` or `max-lifetime` when the silent arm dropped: the timer
//! measured, the hop that owns it ranked, and the fix in the words of the
//! traffic that kept connections open.

use wsdoctor_evidence::idle::{Arm, IdleEvidence};

use super::sides::{pairing_lines, Closer};
use super::{
    ends, finding, heartbeat, how, random_drops, ranked_hops, sample_line, survivor_line, ArmView,
    LIKELY_FIXES, SHOWN_HOPS,
};
use crate::advice::app::{app_heartbeat_fix, ping_interval_s, server_ping_fix};
use crate::finding::{CauseId, Finding, Severity};
use crate::fingerprint::hops::{self, Hop, Shape, Timer};
use crate::kb::{kb, Intermediary};
use crate::rules::common::{
    fix, hop_fixes, human, median, raise_idle_fix, raise_lifetime_fix, same_time_us, to_s,
};

/// What the dropped reference arm measured, and how the other arms compare.
struct Measure<'v, 'a> {
    /// Median silence and age at the drop (µs).
    t_idle: u64,
    t_age: u64,
    /// The silences at the drop (µs), and how far apart they are.
    idles: Vec<u64>,
    spread: u64,
    /// The other arms that opened, and those of them that never dropped.
    keepalive: Vec<&'v ArmView<'a>>,
    kept_alive: Vec<Arm>,
    /// Busy connections died at the same age too: a cap, not an idle timer.
    lifetime: bool,
    /// The silences agree: one fixed timer.
    fixed: bool,
    /// The server itself closed every dropped connection.
    by_server: bool,
}

/// The timer findings when the reference (silent) arm dropped entirely:
/// random drops when busy arms dropped off the timer, else the timer and
/// (for an idle timer) what the heartbeat does about it.
pub(super) fn timer_findings(
    e: &IdleEvidence,
    views: &[ArmView<'_>],
    reference: &ArmView<'_>,
    hb: &heartbeat::Heartbeat,
) -> Vec<Finding> {
    let idles = reference.idles();
    let ages = reference.ages();
    let (Some(t_idle), Some(t_age)) = (median(idles.clone()), median(ages)) else {
        return Vec::new();
    };
    let spread =
        idles.iter().max().copied().unwrap_or(0) - idles.iter().min().copied().unwrap_or(0);
    let keepalive: Vec<&ArmView<'_>> = views
        .iter()
        .filter(|v| v.arm != reference.arm && !v.opened.is_empty())
        .collect();
    let died_together =
        |v: &&ArmView<'_>| v.all_dropped() && v.ages().iter().all(|a| same_time_us(*a, t_age));
    let lifetime = !keepalive.is_empty() && keepalive.iter().all(died_together);
    let kept_alive: Vec<Arm> = keepalive
        .iter()
        .filter(|v| v.dropped.is_empty())
        .map(|v| v.arm)
        .collect();
    let (_, transport, close_code) = how(reference.dropped[0]);
    let fixed = spread <= (t_idle / 100).max(250_000);
    // Connections that kept busy dropped too, at other ages than the silent
    // ones and at scattered times: no timer does that, random drops do.
    let busy_dropped = keepalive.iter().any(|v| !v.dropped.is_empty());
    let busy_off_timer = keepalive
        .iter()
        .flat_map(|v| v.ages())
        .any(|a| !same_time_us(a, t_age));
    if !lifetime && busy_dropped && (!fixed || busy_off_timer) {
        return vec![random_drops(e, views, transport, close_code)];
    }
    // The server itself closed every dropped connection (1000, an empty
    // close frame): no proxy is to blame. A lifetime is then the server's
    // own, said by `server-close`; an idle timer is still measured here,
    // without ranking hops that did not do it.
    let by_server = views
        .iter()
        .flat_map(|v| v.dropped.iter())
        .all(|s| ends::closed_by_server(s));
    if by_server && lifetime {
        return Vec::new();
    }
    let m = Measure {
        t_idle,
        t_age,
        idles,
        spread,
        keepalive,
        kept_alive,
        lifetime,
        fixed,
        by_server,
    };
    let (mut f, ranked, blamed, timer) = measured_finding(e, reference, &m);
    add_fixes(&mut f, &m, &ranked, blamed, timer);
    let mut findings = vec![f];
    if !lifetime {
        findings.extend(heartbeat::findings(e, hb, t_idle));
    }
    findings
}

/// The timer's finding with what was measured and the hops ranked; the
/// blamed hop (if one is named with confidence) and the timer come back
/// for the fixes.
fn measured_finding(
    e: &IdleEvidence,
    reference: &ArmView<'_>,
    m: &Measure<'_, '_>,
) -> (Finding, Vec<Hop>, Option<&'static Intermediary>, Timer) {
    let Measure {
        t_idle,
        t_age,
        spread,
        lifetime,
        fixed,
        by_server,
        ..
    } = *m;
    let (idles, keepalive, kept_alive) = (&m.idles, &m.keepalive, &m.kept_alive);
    let ran_us = e.ran_ms.saturating_mul(1000);
    let (text, transport, close_code) = how(reference.dropped[0]);
    let mut f = if lifetime {
        let mut f = finding(
            CauseId::MaxLifetime,
            Severity::Error,
            if fixed { 0.9 } else { 0.6 },
            format!(
                "Connections are closed after {} whatever the traffic",
                human(t_age)
            ),
        );
        f.measured.max_lifetime_s = Some(to_s(t_age));
        f
    } else {
        let title = if fixed {
            format!("Idle connections are closed after {}", human(t_idle))
        } else {
            let lo = idles.iter().min().copied().unwrap_or(t_idle);
            let hi = idles.iter().max().copied().unwrap_or(t_idle);
            format!(
                "Idle connections are closed after {}–{} of silence (not one fixed timer)",
                human(lo),
                human(hi)
            )
        };
        let mut f = finding(
            CauseId::IdleTimeout,
            Severity::Error,
            if fixed { 0.9 } else { 0.55 },
            title,
        );
        f.measured.idle_timeout_s = Some(to_s(t_idle));
        f.measured.keepalive_by = keepalive_by(keepalive, kept_alive);
        f
    };
    f.measured.spread_s = Some(to_s(spread));
    f.measured.transport = transport;
    f.measured.close_code = close_code;
    f.measured.connections_affected = Some(reference.dropped.len() as u64);
    f.evidence = reference.dropped.iter().map(|s| sample_line(s)).collect();
    for v in keepalive {
        if v.dropped.is_empty() {
            f.evidence.push(survivor_line(v, ran_us));
        } else {
            f.evidence.extend(v.dropped.iter().map(|s| sample_line(s)));
        }
    }
    f.evidence.push(format!("every drop: {text}"));
    f.evidence.extend(direction_lines(keepalive));
    let (pair_lines, closer) = pairing_lines(e, &reference.dropped);
    f.evidence.extend(pair_lines);
    let timer = if lifetime {
        Timer::Lifetime(t_age)
    } else {
        Timer::Idle(t_idle)
    };
    let shape = reference.dropped[0]
        .connection
        .end
        .as_ref()
        .and_then(|end| Shape::of(&end.end));
    let ranked = if by_server {
        f.evidence.push(
            "the server itself closed them with a close frame: the timer is the server's own, not a proxy's"
                .to_owned(),
        );
        Vec::new()
    } else {
        ranked_hops(e, timer, shape)
    };
    // The server's own view overrules a header: a hop that merely relayed
    // the server's close is not to blame.
    let blamed = hops::confident(&ranked)
        .map(|h| h.intermediary)
        .filter(|_| closer != Some(Closer::Server));
    f.evidence.extend(hops::lines(&ranked, SHOWN_HOPS));
    f.intermediary = blamed.map(|i| i.id.clone());
    (f, ranked, blamed, timer)
}

/// The fixes: raise the blamed hop's timer (or the likeliest owners'), and
/// keep the connection busy in the direction that counts.
fn add_fixes(
    f: &mut Finding,
    m: &Measure<'_, '_>,
    ranked: &[Hop],
    blamed: Option<&'static Intermediary>,
    timer: Timer,
) {
    match (blamed, m.lifetime) {
        (Some(i), false) => f.fix.extend(raise_idle_fix(i)),
        (Some(i), true) => f.fix.extend(raise_lifetime_fix(i)),
        (None, _) if m.by_server => f.fix.push(fix(
            "server",
            format!("The server closes connections that are silent for {}: raise its own idle timeout, or keep them busy.", human(m.t_idle)),
        )),
        // Nothing names the hop: the likeliest two or three owners of this timer.
        (None, _) => f.fix.extend(hop_fixes(ranked, timer, LIKELY_FIXES)),
    }
    // One ping interval for every command: half the timeout, 30 s at most.
    let ping_every = human(ping_interval_s(Some(m.t_idle)).saturating_mul(1_000_000));
    if m.lifetime {
        let setting = blamed
            .and_then(|i| i.max_lifetime_setting.clone())
            .unwrap_or_else(|| "the connection lifetime or request timeout of the hop".to_owned());
        f.fix.push(fix(
            "proxy",
            format!("Pings cannot help against a lifetime cap: raise it ({setting}), and make clients reconnect with backoff before {} is reached.", human(m.t_age)),
        ));
    } else if f.measured.keepalive_by.as_deref() == Some(SERVER_TO_CLIENT) {
        f.fix.push(fix(
            "server",
            format!(
                "Only traffic from the server resets this timer (AWS CloudFront counts only origin-to-client bytes): send a WebSocket ping or a small message from the server every {ping_every}. Client pings help only through the server's pongs, and client messages the server does not answer not at all.",
            ),
        ));
        if f.intermediary.is_none() {
            if let Some(cf) = kb().intermediary("aws-cloudfront") {
                f.evidence.push(format!(
                    "{} times out idle connections this way (only origin-to-client bytes count; {} s, not adjustable)",
                    cf.short_name(),
                    cf.idle_timeout_default_s.unwrap_or(600)
                ));
            }
        }
    } else if f.measured.keepalive_by.as_deref() == Some(CLIENT_TO_SERVER) {
        f.fix.push(fix(
            "client",
            format!(
                "Only traffic from the client resets this timer: make the client send a small heartbeat message every {ping_every} (server pings count only through the client's pongs).",
            ),
        ));
    } else if f.measured.keepalive_by.as_deref() == Some("data") {
        f.fix.push(app_heartbeat_fix(
            "server",
            m.t_idle,
            "This path ignores WebSocket pings",
        ));
    } else {
        f.fix.push(server_ping_fix(Some(m.t_idle), None));
    }
}

/// `keepalive_by` when only traffic from the server to the client counts
/// (an extension of the contract's `data`, `ping`, `either`, `none`).
const SERVER_TO_CLIENT: &str = "server-to-client";
/// `keepalive_by` when only traffic from the client to the server counts.
const CLIENT_TO_SERVER: &str = "client-to-server";

/// Which traffic kept a connection open past the timeout, in the contract's
/// words. The direction is only claimed when both one-direction arms ran
/// and exactly one of them survived.
fn keepalive_by(keepalive: &[&ArmView<'_>], kept_alive: &[Arm]) -> Option<String> {
    let ran = |a: Arm| keepalive.iter().any(|v| v.arm == a);
    if ran(Arm::Inbound) && ran(Arm::Outbound) {
        match (
            kept_alive.contains(&Arm::Inbound),
            kept_alive.contains(&Arm::Outbound),
        ) {
            (true, false) => return Some(SERVER_TO_CLIENT.to_owned()),
            (false, true) => return Some(CLIENT_TO_SERVER.to_owned()),
            _ => {}
        }
    }
    // The one-direction arms carry data frames too (ticks, messages).
    let data_arms = [Arm::Data, Arm::Inbound, Arm::Outbound];
    if !ran(Arm::Ping) && !data_arms.into_iter().any(ran) {
        return None;
    }
    let value = match (
        kept_alive.contains(&Arm::Ping),
        data_arms.iter().any(|a| kept_alive.contains(a)),
    ) {
        (true, true) => "either",
        (true, false) => "ping",
        (false, true) => "data",
        (false, false) => "none",
    };
    Some(value.to_owned())
}

/// What the one-direction arms say on their own, when only one of them ran
/// (with both, `keepalive_by` says it).
fn direction_lines(keepalive: &[&ArmView<'_>]) -> Vec<String> {
    let of = |arm: Arm| keepalive.iter().find(|v| v.arm == arm);
    match (of(Arm::Inbound), of(Arm::Outbound)) {
        (Some(inbound), None) if inbound.dropped.is_empty() => vec![
            "traffic from the server alone keeps the path open (the inbound arm survived): a heartbeat sent by the server works".to_owned(),
        ],
        (Some(inbound), None) if inbound.all_dropped() => vec![
            "traffic from the server alone does not keep the path open (the inbound arm dropped too): the client has to send".to_owned(),
        ],
        (None, Some(outbound)) if outbound.dropped.is_empty() => vec![
            "traffic from the client alone keeps the path open (the outbound arm survived)".to_owned(),
        ],
        (None, Some(outbound)) if outbound.all_dropped() => vec![
            "traffic from the client alone does not keep the path open (the outbound arm dropped too): the server has to send".to_owned(),
        ],
        _ => Vec::new(),
    }
}
