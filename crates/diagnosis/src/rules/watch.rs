//! Rolling findings of a watch: the drops of a window, read the way an SRE
//! reads a dashboard — a burst across connections, a fixed silence, a fixed
//! age, close codes, failed reconnects, stalled flow. Pure.

use wsdoctor_evidence::idle::Arm;
use wsdoctor_evidence::watch::{WatchDrop, WatchEvidence};
use wsdoctor_evidence::ConnectionEnd;

use wsdoctor_evidence::{HandshakeRecord, Header};

use super::common::{
    close_code_finding, finding, fix, hop_fixes, human, idle_matches, median, names_with_value,
    raise_idle_fix, raise_lifetime_fix, same_time_us, to_s,
};
use super::sticky::{sticky_finding, InstanceTrail};
use crate::finding::{rank, CauseId, Finding, Severity, SourceKind};
use crate::fingerprint::hops::{self, Hop, Observed, Shape, Timer};
use crate::fingerprint::identify;

/// Drops within this long of each other across connections are one event.
const BURST_MS: u64 = 1_000;

fn window_words(e: &WatchEvidence) -> String {
    let span = e.ran_ms.min(e.window_ms);
    format!("in the last {}", human(span.saturating_mul(1000)))
}

/// Groups of drops that happened within [`BURST_MS`] and hit at least half
/// of the connections (and three): reloads, deploys, restarts.
fn bursts(e: &WatchEvidence) -> Vec<Vec<&WatchDrop>> {
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

/// A connection the server ended by breaking RFC 6455: what timers, bursts
/// and hops explain is not what ended it, so it is no timer sample.
fn broke_protocol(d: &WatchDrop) -> bool {
    matches!(d.end, ConnectionEnd::ProtocolViolation { .. })
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

fn how(d: &WatchDrop) -> String {
    d.end.describe()
}

/// Candidate hops listed in the evidence.
const SHOWN_HOPS: usize = 3;
/// Candidate hops whose fix is given when none is named.
const LIKELY_FIXES: usize = 3;

/// The hops that may have ended `d` (and the drops like it) at `timer`,
/// from how it ended and the `Server` header its handshake answer had.
fn ranked_hops(d: &WatchDrop, timer: Timer) -> Vec<Hop> {
    // A watch keeps only the Server header; it is what identify() reads first.
    let named = d
        .server
        .as_ref()
        .map(|server| {
            identify(&HandshakeRecord {
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
            })
        })
        .unwrap_or_default();
    hops::rank(&Observed {
        timer: Some(timer),
        shape: Shape::of(&d.end),
        named: &named,
    })
}

/// Connections the server ended by breaking RFC 6455, as one finding.
fn protocol_violations(e: &WatchEvidence, when: &str) -> Option<Finding> {
    let broken: Vec<&WatchDrop> = e
        .drops
        .iter()
        .filter(|d| d.opened && broke_protocol(d))
        .collect();
    let first = broken.first()?;
    let mut f = finding(
        CauseId::ProtocolError,
        Severity::Error,
        0.85,
        format!(
            "{when}: the server broke the WebSocket protocol on {} connection(s)",
            broken.len()
        ),
        SourceKind::Flow,
    );
    f.measured.connections_affected = Some(broken.len() as u64);
    f.evidence.extend(broken.iter().take(3).map(|d| {
        format!(
            "{} #{} at {}: {} after {} open",
            d.arm.as_str(),
            d.slot,
            d.wall,
            how(d),
            human(d.age_us.unwrap_or(0))
        )
    }));
    if let Some(server) = &first.server {
        f.evidence.push(format!("Server: {server}"));
    }
    f.fix.push(fix(
        "server",
        "Fix the server, or the proxy that rewrites frames, so it follows RFC 6455; \
         the rule above is what it broke (`wsdoctor probe` shows the frames).",
    ));
    Some(f)
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
        .map(|d| ranked_hops(d, timer))
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

/// Diagnoses the window.
pub fn diagnose_watch(e: &WatchEvidence) -> Vec<Finding> {
    let mut findings = Vec::new();
    let when = window_words(e);

    let bursts = bursts(e);
    let in_burst = |d: &WatchDrop| bursts.iter().any(|b| b.iter().any(|x| std::ptr::eq(*x, d)));
    if !bursts.is_empty() {
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
        for b in &bursts {
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
        let ranked = ranked_hops(bursts[0][0], timer);
        f.intermediary = hops::confident(&ranked).map(|h| h.intermediary.id.clone());
        f.evidence.extend(hops::lines(&ranked, SHOWN_HOPS));
        f.fix.extend(hop_fixes(&ranked, timer, 2));
        findings.push(f);
    }

    // Drops of open connections that were not part of a burst.
    let single: Vec<&WatchDrop> = e
        .drops
        .iter()
        .filter(|d| d.opened && !in_burst(d) && !broke_protocol(d))
        .collect();
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
                findings.push(timer_finding(TimerDrops {
                    e,
                    when: &when,
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
    // Close frames from the server, by code.
    let mut codes: std::collections::BTreeMap<u16, Vec<&WatchDrop>> =
        std::collections::BTreeMap::new();
    for d in &single {
        if let ConnectionEnd::CloseHandshake {
            code: Some(code),
            initiator: wsdoctor_evidence::Side::Remote,
            ..
        } = d.end
        {
            codes.entry(code).or_default().push(d);
        }
    }
    for (code, drops) in codes {
        findings.extend(close_code_finding(
            code,
            drops.len(),
            format!(
                "{when}: the server closed {} connection(s) with {code}",
                drops.len()
            ),
            drops
                .iter()
                .map(|d| format!("{} #{} at {}: {}", d.arm.as_str(), d.slot, d.wall, how(d))),
            SourceKind::Flow,
        ));
    }

    // Reconnects of one slot that moved between server instances.
    let mut trails: std::collections::BTreeMap<(&str, &str, u32), Vec<String>> =
        std::collections::BTreeMap::new();
    for d in e.drops.iter().filter(|d| d.opened) {
        if let Some(instance) = &d.instance {
            trails
                .entry((d.target.as_str(), d.arm.as_str(), d.slot))
                .or_default()
                .push(instance.clone());
        }
    }
    let trails: Vec<InstanceTrail> = trails
        .into_iter()
        .map(|((target, arm, slot), instances)| InstanceTrail {
            client: format!("{arm} #{slot} of {target}"),
            instances,
        })
        .collect();
    if let Some(mut f) = sticky_finding(&trails, SourceKind::Flow) {
        f.title = format!("{when}: {}", f.title);
        findings.push(f);
    }

    findings.extend(protocol_violations(e, &when));

    // Failed reconnects (or, when nothing ever opened, failed connects).
    let failed: Vec<&WatchDrop> = e.drops.iter().filter(|d| !d.opened).collect();
    if !failed.is_empty() {
        let last = failed[failed.len() - 1];
        let id = match &last.end {
            ConnectionEnd::ConnectRefused { .. } => CauseId::ConnectRefused,
            ConnectionEnd::ConnectTimedOut { .. } | ConnectionEnd::ConnectFailed { .. } => {
                CauseId::ConnectTimeout
            }
            ConnectionEnd::DnsFailed { .. } => CauseId::DnsFailure,
            ConnectionEnd::TlsFailed { .. } => CauseId::TlsFailure,
            ConnectionEnd::ProxyRefused { .. } | ConnectionEnd::ProxyFailed { .. } => {
                CauseId::ProxyRefused
            }
            ConnectionEnd::HandshakeRejected { status: 502..=504 } => CauseId::BackendUnavailable,
            ConnectionEnd::HandshakeRejected { .. } => CauseId::UpgradeRejected,
            ConnectionEnd::HandshakeInvalid { .. } => CauseId::HandshakeInvalid,
            _ => CauseId::BackendUnavailable,
        };
        let title = if e.opened_total == 0 {
            format!(
                "{when}: no connection ever opened; {} attempt(s) failed, the last: {}",
                failed.len(),
                how(last)
            )
        } else {
            format!("{when}: {} reconnect attempt(s) failed", failed.len())
        };
        let mut f = finding(id, Severity::Error, 0.8, title, SourceKind::Flow);
        f.evidence
            .push(format!("first at {}: {}", failed[0].wall, how(failed[0])));
        if failed.len() > 1 {
            f.evidence
                .push(format!("last at {}: {}", last.wall, how(last)));
        }
        f.fix.push(fix("server", "The target refused or failed new connections during this time: `wsdoctor probe` shows the failing step with the raw answer."));
        findings.push(f);
    }

    // Other abnormal ends, by transport.
    let others: Vec<&WatchDrop> = single
        .iter()
        .copied()
        .filter(|d| d.end.transport().is_some())
        .filter(|d| {
            !findings
                .iter()
                .any(|f| f.id == CauseId::IdleTimeout || f.id == CauseId::MaxLifetime)
                || d.arm != Arm::Silent
        })
        .collect();
    if !others.is_empty() {
        let mut f = finding(
            CauseId::AbnormalClose,
            Severity::Warning,
            0.7,
            format!(
                "{when}: {} connection(s) ended without a close frame",
                others.len()
            ),
            SourceKind::Flow,
        );
        f.measured.transport = others[0].end.transport().map(|t| t.as_str().to_owned());
        f.evidence.extend(others.iter().take(3).map(|d| {
            format!(
                "{} #{} at {}: {} after {} open",
                d.arm.as_str(),
                d.slot,
                d.wall,
                how(d),
                human(d.age_us.unwrap_or(0))
            )
        }));
        f.fix.push(fix("server", "Compare these times with the server's and proxies' logs; `wsdoctor idle` measures the path's timers."));
        findings.push(f);
    }

    if !e.stalls.is_empty() {
        let s = &e.stalls[0];
        let mut f = finding(
            CauseId::HandlerStalled,
            Severity::Error,
            0.8,
            format!(
                "{when}: messages stopped on {} connection(s) while pongs kept coming",
                e.stalls.len()
            ),
            SourceKind::Flow,
        );
        f.measured.stall_after_s = Some(s.silent_ms as f64 / 1000.0);
        f.evidence.push(format!(
            "{} #{}: no message for {} (expected every {}), last pong RTT {}",
            s.target,
            s.slot,
            human(s.silent_ms.saturating_mul(1000)),
            human(e.expect_every_ms.unwrap_or(0).saturating_mul(1000)),
            s.last_pong_rtt_us.map_or_else(|| "—".to_owned(), human)
        ));
        f.fix.push(fix(
            "server",
            "The connection is alive but the application stopped sending: look for an exception swallowed in the message handler or a blocked subscription at that time.",
        ));
        findings.push(f);
    }

    // Healthy needs evidence: a watch that never saw a connection open
    // (only possible before any attempt has ended) says nothing.
    if findings.is_empty() && e.opened_total > 0 {
        let mut f = finding(
            CauseId::Healthy,
            Severity::Info,
            0.7,
            format!(
                "{when}: no drop, {} of {} connections open",
                e.open_now, e.connections
            ),
            SourceKind::Flow,
        );
        f.evidence
            .push(format!("{} reconnect(s) since the start", e.reconnects));
        f.fix.push(fix(
            "client",
            "Nothing to fix; keep the watch running to catch intermittent drops.",
        ));
        findings.push(f);
    }
    super::app::annotate_watch(e, &mut findings);
    rank(&mut findings);
    findings
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use wsdoctor_evidence::idle::Arm;
    use wsdoctor_evidence::watch::{WatchDrop, WatchEvidence, WatchStall};
    use wsdoctor_evidence::ConnectionEnd;

    use super::diagnose_watch;
    use crate::finding::CauseId;

    fn drop(at_ms: u64, arm: Arm, slot: u32, end: ConnectionEnd, idle_s: f64) -> WatchDrop {
        WatchDrop {
            at_ms,
            wall: format!("t+{at_ms}ms"),
            target: "wss://example.test/ws".into(),
            arm,
            slot,
            opened: true,
            age_us: Some((idle_s * 1e6) as u64),
            idle_us: Some((idle_s * 1e6) as u64),
            end,
            server: None,
            instance: None,
        }
    }

    fn fin() -> ConnectionEnd {
        ConnectionEnd::FinWithoutClose { mid_frame: false }
    }

    fn window(drops: Vec<WatchDrop>) -> WatchEvidence {
        WatchEvidence {
            targets: vec!["wss://example.test/ws".into()],
            connections: 6,
            open_now: 6,
            opened_total: 6,
            window_ms: 3_600_000,
            ran_ms: 3_600_000,
            interval_ms: 20_000,
            drops,
            ..WatchEvidence::default()
        }
    }

    #[test]
    fn a_reload_is_a_mass_disconnect() {
        let drops = (0..6)
            .map(|i| {
                drop(
                    100_000 + i * 7,
                    if i % 2 == 0 { Arm::Silent } else { Arm::Ping },
                    i as u32,
                    fin(),
                    30.0 + i as f64,
                )
            })
            .collect();
        let f = &diagnose_watch(&window(drops))[0];
        assert_eq!(f.id, CauseId::MassDisconnect);
        assert_eq!(f.measured.connections_affected, Some(6));
    }

    #[test]
    fn a_burst_of_fins_points_at_the_reload_drains_and_1001_at_caddy() {
        let burst = |end: fn() -> ConnectionEnd| {
            let drops = (0..6)
                .map(|i| {
                    drop(
                        100_000 + i * 7,
                        Arm::Silent,
                        i as u32,
                        end(),
                        30.0 + i as f64,
                    )
                })
                .collect();
            diagnose_watch(&window(drops)).remove(0)
        };
        let f = burst(fin);
        let first = f.evidence.iter().find(|l| l.starts_with("  ")).unwrap();
        assert!(first.contains("nginx"), "{:#?}", f.evidence);
        assert!(f.fix.iter().any(|x| x
            .snippet
            .as_deref()
            .is_some_and(|s| s.contains("worker_shutdown_timeout"))));
        let f = burst(|| ConnectionEnd::CloseHandshake {
            code: Some(1001),
            reason: String::new(),
            initiator: wsdoctor_evidence::Side::Remote,
            answered: true,
        });
        let first = f.evidence.iter().find(|l| l.starts_with("  ")).unwrap();
        assert!(first.contains("caddy"), "{:#?}", f.evidence);
    }

    #[test]
    fn silent_resets_at_350_seconds_point_at_the_nlb() {
        let drops = (0..4)
            .map(|i| {
                drop(
                    350_000 + i * 351_000,
                    Arm::Silent,
                    1,
                    ConnectionEnd::Reset,
                    350.2,
                )
            })
            .collect();
        let f = &diagnose_watch(&window(drops))[0];
        assert_eq!(f.id, CauseId::IdleTimeout);
        assert_eq!(f.intermediary, None, "no header names it: {f:#?}");
        let first = f.evidence.iter().find(|l| l.starts_with("  ")).unwrap();
        assert!(first.contains("aws-nlb"), "{:#?}", f.evidence);
        assert!(f.fix.iter().any(|x| x.for_ == "aws-nlb"));
    }

    #[test]
    fn silent_drops_at_sixty_seconds_are_an_idle_timeout() {
        let drops = (0..4)
            .map(|i| drop(60_000 + i * 61_000, Arm::Silent, 1, fin(), 60.01))
            .collect();
        let f = &diagnose_watch(&window(drops))[0];
        assert_eq!(f.id, CauseId::IdleTimeout);
        assert_eq!(f.measured.idle_timeout_s, Some(60.01));
        assert!(f.evidence.iter().any(|l| l.contains("default of")));
    }

    #[test]
    fn a_server_that_closes_every_connection_at_one_age_names_no_proxy() {
        // Every arm, busy or silent, ended by the server's own 1000 at
        // 30 s: its session lifetime, not a hop's cap.
        let by_server = || ConnectionEnd::CloseHandshake {
            code: Some(1000),
            reason: "session over".into(),
            initiator: wsdoctor_evidence::Side::Remote,
            answered: true,
        };
        let drops = (0..4)
            .map(|i| {
                let arm = if i % 2 == 0 { Arm::Silent } else { Arm::Ping };
                drop(30_000 + i * 31_000, arm, 1, by_server(), 30.0)
            })
            .collect();
        let findings = diagnose_watch(&window(drops));
        let ids: Vec<CauseId> = findings.iter().map(|f| f.id).collect();
        assert!(ids.contains(&CauseId::ServerClose), "{ids:?}");
        assert!(!ids.contains(&CauseId::MaxLifetime), "{ids:?}");
        assert!(findings.iter().all(|f| f.intermediary.is_none()));
    }

    #[test]
    fn a_server_that_closes_silent_connections_owns_the_idle_timer() {
        let by_server = || ConnectionEnd::CloseHandshake {
            code: Some(1000),
            reason: "Idle for 60000ms".into(),
            initiator: wsdoctor_evidence::Side::Remote,
            answered: true,
        };
        let drops = (0..4)
            .map(|i| drop(60_000 + i * 61_000, Arm::Silent, 1, by_server(), 60.0))
            .collect();
        let findings = diagnose_watch(&window(drops));
        let f = findings
            .iter()
            .find(|f| f.id == CauseId::IdleTimeout)
            .expect("an idle timer");
        assert!(f.intermediary.is_none());
        assert!(f.evidence.iter().any(|l| l.contains("the server's own")));
        assert!(!f.evidence.iter().any(|l| l.contains("likely hops")));
    }

    #[test]
    fn stalls_and_failed_reconnects() {
        let mut e = window(vec![WatchDrop {
            opened: false,
            end: ConnectionEnd::ConnectRefused {
                addr: "192.0.2.1:443".into(),
            },
            ..drop(1_000, Arm::Ping, 2, fin(), 0.0)
        }]);
        e.stalls.push(WatchStall {
            at_ms: 5_000,
            target: "wss://example.test/ws".into(),
            slot: 2,
            silent_ms: 12_000,
            last_pong_rtt_us: Some(800),
        });
        e.expect_every_ms = Some(5_000);
        let ids: Vec<CauseId> = diagnose_watch(&e).iter().map(|f| f.id).collect();
        assert!(
            ids.contains(&CauseId::HandlerStalled) && ids.contains(&CauseId::ConnectRefused),
            "{ids:?}"
        );
    }

    #[test]
    fn reconnects_that_change_instance_are_a_missing_sticky_session() {
        let on = |at: u64, slot: u32, instance: &str| WatchDrop {
            instance: Some(instance.to_owned()),
            ..drop(at, Arm::Ping, slot, fin(), 0.0)
        };
        let moving = window(vec![
            on(1_000, 1, "a"),
            on(9_000, 1, "b"),
            on(20_000, 2, "a"),
        ]);
        let f = diagnose_watch(&moving)
            .into_iter()
            .find(|f| f.id == CauseId::StickySessionMissing)
            .unwrap();
        assert!(f.evidence[0].contains("a → b"), "{:?}", f.evidence);
        let staying = window(vec![
            on(1_000, 1, "a"),
            on(9_000, 1, "a"),
            on(20_000, 2, "b"),
        ]);
        assert!(!diagnose_watch(&staying)
            .iter()
            .any(|f| f.id == CauseId::StickySessionMissing));
    }

    #[test]
    fn protocol_violations_are_no_timer_samples() {
        let broken = || ConnectionEnd::ProtocolViolation {
            rule: "reserved opcode 0x3".into(),
        };
        let drops = (0..8)
            .map(|i| {
                let arm = if i % 2 == 0 { Arm::Silent } else { Arm::Ping };
                drop(1_000 + i * 400, arm, 1 + i as u32 % 2, broken(), 0.0)
            })
            .collect();
        let findings = diagnose_watch(&window(drops));
        let ids: Vec<CauseId> = findings.iter().map(|f| f.id).collect();
        assert_eq!(ids, vec![CauseId::ProtocolError], "{findings:#?}");
        assert_eq!(findings[0].measured.connections_affected, Some(8));
        assert!(findings[0].evidence[0].contains("reserved opcode"));
    }

    #[test]
    fn a_watch_where_nothing_ever_opened_is_a_failure_never_healthy() {
        let mut e = window(vec![WatchDrop {
            opened: false,
            age_us: None,
            idle_us: None,
            end: ConnectionEnd::HandshakeTimedOut { after_ms: 8_000 },
            ..drop(8_000, Arm::Silent, 1, fin(), 0.0)
        }]);
        e.opened_total = 0;
        e.open_now = 0;
        let findings = diagnose_watch(&e);
        assert_eq!(findings[0].id, CauseId::BackendUnavailable);
        assert!(findings[0].title.contains("no connection ever opened"));
        assert!(!findings.iter().any(|f| f.id == CauseId::Healthy));
        // Before any attempt has ended there is nothing to say, not "healthy".
        e.drops.clear();
        assert!(diagnose_watch(&e).is_empty());
    }

    #[test]
    fn a_quiet_window_is_healthy() {
        let f = &diagnose_watch(&window(Vec::new()))[0];
        assert_eq!(f.id, CauseId::Healthy);
    }
}
