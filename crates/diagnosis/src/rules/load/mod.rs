//! Rules for a load ramp: where failures or drops began (the knee) and what
//! they were, with the generator's own limits kept apart from the server's.

use wsdoctor_evidence::load::{FailureKind, LoadEvidence, LoadStep};
use wsdoctor_evidence::{format_count as thousands, LocalResource, Transport};

use super::common::{finding, fix, local_limit};
use crate::finding::{rank, CauseId, Finding, Severity, SourceKind};

mod queue;

/// A step "breaks" when more than this share of its attempts failed, or
/// anything dropped during its hold.
const FAILURE_SHARE: f64 = 0.01;

/// A generator this late on its own schedule (µs) measured its own CPU or
/// timers, not the target: reported as the generator's limit.
const GENERATOR_LAG_US: u64 = 1_000_000;

fn failed(step: &LoadStep) -> u64 {
    step.failures.values().sum()
}

fn dropped(step: &LoadStep) -> u64 {
    step.drops.values().sum()
}

fn ms(us: u64) -> String {
    if us < 10_000 {
        format!("{:.1} ms", us as f64 / 1000.0)
    } else {
        format!("{:.0} ms", us as f64 / 1000.0)
    }
}

/// What to change for a kind of failure, in words people search for.
fn fix_for(kind: FailureKind, server: Option<&str>) -> (String, String) {
    let by_nginx = server.is_some_and(|s| s.to_ascii_lowercase().contains("nginx"));
    match kind {
        FailureKind::Http(503) if by_nginx => (
            "nginx".to_owned(),
            "nginx answers 503 when a limit_conn zone or its upstream's max_conns is reached; raise them, and worker_connections (each proxied WebSocket holds two connections), with worker_rlimit_nofile to match.".to_owned(),
        ),
        FailureKind::Http(500..=599) => (
            "server".to_owned(),
            "The server or a proxy in front of it refuses new upgrades past this level: look for a connection limit (maxconn in HAProxy, max_conns/limit_conn in nginx, the application's own cap) and for the process's open-file limit.".to_owned(),
        ),
        // The forward proxy's own limit, not the target's (tinyproxy
        // MaxClients, squid's file descriptors).
        k if k.is_proxy() => (
            "proxy".to_owned(),
            "The forward proxy refuses or fails tunnels past this level: its own connection limit is reached (tinyproxy MaxClients, squid max_filedescriptors). Raise it, or measure the target without the proxy (--no-proxy).".to_owned(),
        ),
        FailureKind::Refused => (
            "server".to_owned(),
            "Connections are refused once the accept queue is full or the server stops listening: raise the listen backlog (net.core.somaxconn and the server's backlog setting) and check that the process did not crash.".to_owned(),
        ),
        FailureKind::ConnectTimeout | FailureKind::HandshakeTimeout | FailureKind::PendingAtEnd => (
            "server".to_owned(),
            "New connections wait unanswered: a limit holds them past this level instead of refusing them (HAProxy's maxconn, Envoy's circuit breakers, a full SYN or accept queue), or the server accepts or upgrades too slowly at this level (a blocked event loop, CPU at 100 %). Check the proxies' connection limits, the server's CPU and the listen backlog.".to_owned(),
        ),
        FailureKind::BeforeUpgrade(Transport::Reset | Transport::Eof) => (
            "server".to_owned(),
            "The server or a proxy closes new connections right away at this level: typically an open-file limit (accept then close), nginx's worker_connections (\"worker_connections are not enough\" in its error log), or a connection cap.".to_owned(),
        ),
        _ => (
            "server".to_owned(),
            "Look in the server's and proxies' logs at the time of this step for the limit that was reached.".to_owned(),
        ),
    }
}

/// Diagnoses a load ramp.
pub fn diagnose_load(e: &LoadEvidence) -> Vec<Finding> {
    let mut findings = Vec::new();
    let knee = e
        .steps
        .iter()
        .position(|s| failed(s) as f64 > s.attempted as f64 * FAILURE_SHARE || dropped(s) > 0);

    // The generator's own limits come first and are never the server's.
    let mut generator_limited = false;
    for s in &e.steps {
        for sample in &s.failure_samples {
            if let Some(resource) = sample.kind.local_resource() {
                if !generator_limited {
                    let mut f = local_limit(resource, &sample.detail, SourceKind::Load);
                    f.measured.concurrency_limit = Some(sample.at_concurrency);
                    f.evidence.push(format!(
                        "at {} open connections, step {}: {} of {} attempts failed this way",
                        thousands(sample.at_concurrency),
                        s.index,
                        s.failures.get(&sample.kind).copied().unwrap_or(0),
                        s.attempted
                    ));
                    if resource == LocalResource::FileDescriptors {
                        if e.shards.len() > 1 {
                            f.evidence.push(format!(
                                "open-file limit per generator process: {} (hard limit {}), {} processes",
                                e.generator.nofile_now,
                                e.generator.nofile_hard,
                                e.shards.len()
                            ));
                        } else {
                            f.evidence.push(format!(
                                "open-file limit of this process: {} (hard limit {})",
                                e.generator.nofile_now, e.generator.nofile_hard
                            ));
                        }
                    }
                    if resource == LocalResource::EphemeralPorts {
                        f.evidence.push(if e.generator.source_ips.is_empty() {
                            "all connections came from one source address".to_owned()
                        } else {
                            format!(
                                "connections came from {} source addresses",
                                e.generator.source_ips.len()
                            )
                        });
                    }
                    findings.push(f);
                }
                generator_limited = true;
            }
        }
    }

    if e.generator.timer_lag_max_us > GENERATOR_LAG_US {
        let mut f = finding(
            CauseId::LoadLimit,
            Severity::Warning,
            0.7,
            format!(
                "wsdoctor's machine fell {} behind its own schedule: its CPU or timers were a limit here, not the target",
                ms(e.generator.timer_lag_max_us)
            ),
            SourceKind::Load,
        );
        f.subject = Some("wsdoctor (this machine)".to_owned());
        f.evidence.push(format!(
            "the generator launched connections up to {} later than planned at {:.0}/s",
            ms(e.generator.timer_lag_max_us),
            e.rate
        ));
        f.evidence.push(
            "latencies measured while the generator was this busy include its own delay".to_owned(),
        );
        f.fix.push(fix(
            "client",
            "Give the generator more CPU: a lower --rate, more processes (--procs), or shards on more machines (--shard I/N, then wsdoctor merge).",
        ));
        findings.push(f);
        generator_limited = true;
    }

    // A limit that holds connections back shows before anything fails, if
    // ever: it comes first when it starts before the knee.
    if let Some(q) = queue::queueing_step(&e.steps).filter(|q| knee.is_none_or(|k| q.step < k)) {
        findings.push(queued_finding(e, &q));
        return finish(findings);
    }

    match knee {
        Some(i) => {
            let step = &e.steps[i];
            let before = i.checked_sub(1).map(|j| &e.steps[j]);
            // The server's failures, without the generator's own.
            let server_failures: Vec<(&FailureKind, &u64)> = step
                .failures
                .iter()
                .filter(|(k, _)| k.local_resource().is_none())
                .collect();
            if server_failures.is_empty() && dropped(step) == 0 {
                return finish(findings);
            }
            let first = step
                .failure_samples
                .iter()
                .find(|f| f.kind.local_resource().is_none());
            // The first failure's count is a lower bound (opens still in
            // flight were not counted yet); what the server went on holding
            // at the end of the step is the level it sustained.
            let limit = match first {
                Some(f) => f.at_concurrency.max(step.open_at_end),
                None => before.map_or(0, |b| b.open_at_end),
            };
            let (top_kind, top_count) = server_failures
                .iter()
                .max_by_key(|(_, n)| **n)
                .map_or((None, 0), |(k, n)| (Some(**k), **n));
            // Nothing opened before the failures: no load limit, whatever
            // failed fails at any level (a broken handshake, a refusal).
            let nothing_opened = e.steps[..=i].iter().all(|s| s.opened == 0);
            // A forward proxy that refuses from the first connection on is
            // no load limit: nothing got through it at all.
            let (id, title) = if limit == 0 && top_kind.is_some_and(FailureKind::is_proxy) {
                (
                    CauseId::ProxyRefused,
                    "The forward proxy refused every tunnel, from the first connection".to_owned(),
                )
            } else if let Some((cause, kind)) = top_kind
                .filter(|_| nothing_opened)
                .and_then(|k| Some((failure_cause(k)?, k)))
            {
                (
                    cause,
                    format!(
                        "Every connection failed from the first one on ({kind}): the handshake fails at any load, this is no load limit"
                    ),
                )
            } else {
                (
                    CauseId::LoadLimit,
                    format!(
                        "Failures begin at about {} concurrent connections",
                        thousands(limit)
                    ),
                )
            };
            let mut f = finding(
                id,
                Severity::Error,
                if first.is_some() { 0.85 } else { 0.7 },
                title,
                SourceKind::Load,
            );
            f.measured.concurrency_limit = Some(limit);
            f.measured.connections_affected = Some(failed(step) + dropped(step));
            if let Some(b) = before {
                f.evidence.push(format!(
                    "up to {} connections (step {}) every upgrade succeeded, handshake p99 {}",
                    thousands(b.open_at_end),
                    b.index,
                    ms(b.handshake.p99_us)
                ));
            }
            if let Some(top_kind) = top_kind.filter(|_| top_count > 0) {
                let server = first.and_then(|f| f.server.clone());
                let from = server
                    .as_deref()
                    .map(|s| format!(" (Server: {s})"))
                    .unwrap_or_default();
                f.evidence.push(format!(
                    "above {} connections, {} of {} new attempts in step {} failed; most as {top_kind}{from}",
                    thousands(limit),
                    failed(step),
                    step.attempted,
                    step.index
                ));
                if let Some(sample) = first {
                    f.evidence.push(format!("first failure: {}", sample.detail));
                }
                if matches!(
                    top_kind,
                    FailureKind::HandshakeTimeout | FailureKind::PendingAtEnd
                ) {
                    f.evidence.push(format!(
                        "queued, not refused: these connections were accepted but got no 101 while {} stayed open",
                        thousands(step.open_at_end)
                    ));
                }
                let (for_, text) = fix_for(top_kind, server.as_deref());
                f.fix.push(fix(&for_, text));
            }
            if dropped(step) > 0 {
                let kinds: Vec<String> =
                    step.drops.iter().map(|(k, n)| format!("{n} {k}")).collect();
                f.evidence.push(format!(
                    "{} open connections were dropped during step {}: {}",
                    dropped(step),
                    step.index,
                    kinds.join(", ")
                ));
                if top_count == 0 {
                    f.fix.push(fix(
                        "server",
                        "Open connections are dropped as load grows: check the server's memory and CPU, and any proxy's connection limits and timeouts at this level.",
                    ));
                }
            }
            if e.generator.timer_lag_max_us > 100_000 {
                f.evidence.push(format!(
                    "note: the generator ran up to {} late on its own schedule; its CPU may have been the bottleneck",
                    ms(e.generator.timer_lag_max_us)
                ));
                f.confidence = (f.confidence - 0.2_f64).max(0.3);
            }
            findings.push(f);
        }
        None if !generator_limited => {
            let last = e.steps.last();
            let mut f = finding(
                CauseId::Healthy,
                Severity::Info,
                0.8,
                format!(
                    "{} concurrent connections held without a failure or drop",
                    thousands(e.peak_open)
                ),
                SourceKind::Load,
            );
            if let Some(last) = last {
                f.evidence.push(format!(
                    "last step: {} connections, handshake p50 {} · p99 {} · max {}",
                    thousands(last.open_at_end),
                    ms(last.handshake.p50_us),
                    ms(last.handshake.p99_us),
                    ms(last.handshake.max_us)
                ));
                if last.echo_rtt.count > 0 {
                    f.evidence.push(format!(
                        "echo RTT p50 {} · p99 {} over {} messages",
                        ms(last.echo_rtt.p50_us),
                        ms(last.echo_rtt.p99_us),
                        last.echo_rtt.count
                    ));
                }
            }
            f.fix.push(fix(
                "client",
                "Nothing broke at this level: ramp higher with -c to find the limit.",
            ));
            findings.push(f);
        }
        None => {}
    }
    finish(findings)
}

/// The cause a kind of failure names when it happens from the first
/// connection on, at any load.
fn failure_cause(kind: FailureKind) -> Option<CauseId> {
    Some(match kind {
        FailureKind::Invalid101 => CauseId::HandshakeInvalid,
        FailureKind::Refused => CauseId::ConnectRefused,
        FailureKind::ConnectTimeout => CauseId::ConnectTimeout,
        FailureKind::Dns => CauseId::DnsFailure,
        FailureKind::Tls => CauseId::TlsFailure,
        FailureKind::Http(502..=504) => CauseId::BackendUnavailable,
        FailureKind::Http(400..=499) => CauseId::UpgradeRejected,
        _ => return None,
    })
}

/// The finding for a limit that queued connections instead of refusing them.
fn queued_finding(e: &LoadEvidence, q: &queue::Queueing) -> Finding {
    let step = &e.steps[q.step];
    let mut f = finding(
        CauseId::LoadLimit,
        Severity::Error,
        0.8,
        format!(
            "New connections wait past about {} concurrent connections: a limit queues them instead of refusing them",
            thousands(q.plateau)
        ),
        SourceKind::Load,
    );
    f.measured.concurrency_limit = Some(q.plateau);
    f.measured.connections_affected = Some(q.waiting);
    if let Some(before) = q.step.checked_sub(1).map(|j| &e.steps[j]) {
        f.evidence.push(format!(
            "up to {} connections (step {}) handshakes took p50 {}",
            thousands(before.open_at_end),
            before.index,
            ms(q.baseline_p50_us)
        ));
    }
    f.evidence.push(format!(
        "step {}: handshake p50 {} · p90 {} · max {} (against {} before), while the number open stopped at {} of {} attempted: {} were still waiting for their 101 when the step's hold ended",
        step.index,
        ms(step.handshake.p50_us),
        ms(step.handshake.p90_us),
        ms(step.handshake.max_us),
        ms(q.baseline_p50_us),
        thousands(step.open_at_end),
        thousands(e.steps[..=q.step].iter().map(|s| s.attempted).sum::<u64>()),
        thousands(q.waiting)
    ));
    let failed_after: u64 = e.steps[q.step..].iter().map(failed).sum();
    f.evidence.push(if failed_after == 0 {
        format!(
            "queued, not refused: none of these attempts failed; the waiting ones opened late, the slowest after {}",
            ms(e.steps[q.step..].iter().map(|s| s.handshake.max_us).max().unwrap_or(0))
        )
    } else {
        format!(
            "queued, not refused: the waiting attempts opened late; {failed_after} attempts from this step on failed in the end"
        )
    });
    f.evidence.push(format!(
        "at most {} connections were open at once",
        thousands(e.peak_open)
    ));
    f.fix.push(fix(
        "server",
        "A limit in the path holds connections past this level until a slot frees, so clients wait instead of failing: HAProxy's maxconn (global, frontend or server line; queued connections wait up to `timeout queue`), Envoy's circuit breakers (max_connections, max_pending_requests), a full listen backlog, or a server that accepts but upgrades late. Raise it to the concurrency you need (each WebSocket holds its slot for its whole life), or make the excess fail fast so clients back off.",
    ));
    if e.generator.timer_lag_max_us > 100_000 {
        f.evidence.push(format!(
            "note: the generator ran up to {} late on its own schedule; its CPU may account for part of the wait",
            ms(e.generator.timer_lag_max_us)
        ));
        f.confidence = 0.5;
    }
    f
}

fn finish(mut findings: Vec<Finding>) -> Vec<Finding> {
    rank(&mut findings);
    findings
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeMap;

    use wsdoctor_evidence::load::{FailureSample, Latency, LoadEvidence, LoadStep};

    use super::diagnose_load;
    use crate::finding::CauseId;

    fn step(
        index: u32,
        attempted: u64,
        opened: u64,
        failures: &[(&str, u64, u64)],
        open_at_end: u64,
    ) -> LoadStep {
        LoadStep {
            index,
            target: u64::from(index) * 100,
            attempted,
            opened,
            failures: failures
                .iter()
                .map(|(k, n, _)| (k.parse().unwrap(), *n))
                .collect::<BTreeMap<_, _>>(),
            failure_samples: failures
                .iter()
                .map(|(k, _, at)| FailureSample {
                    kind: k.parse().unwrap(),
                    detail: format!("{k} happened"),
                    server: Some("nginx/1.22.1".to_owned()),
                    at_concurrency: *at,
                })
                .collect(),
            drops: BTreeMap::new(),
            open_at_end,
            handshake: Latency {
                count: opened,
                p50_us: 900,
                p90_us: 1200,
                p99_us: 2500,
                max_us: 4000,
                histogram: None,
            },
            echo_rtt: Latency::default(),
            ..LoadStep::default()
        }
    }

    fn evidence(steps: Vec<LoadStep>) -> LoadEvidence {
        LoadEvidence {
            target: "ws://127.0.0.1:9001/".into(),
            concurrency: 300,
            rate: 200.0,
            peak_open: steps.iter().map(|s| s.open_at_end).max().unwrap_or(0),
            steps,
            ..LoadEvidence::default()
        }
    }

    #[test]
    fn a_503_wall_is_the_knee() {
        let e = evidence(vec![
            step(1, 100, 100, &[], 100),
            step(2, 100, 100, &[], 200),
            step(3, 100, 24, &[("http-503", 76, 224)], 224),
        ]);
        let f = &diagnose_load(&e)[0];
        assert_eq!(f.id, CauseId::LoadLimit);
        assert_eq!(f.measured.concurrency_limit, Some(224));
        assert!(f
            .evidence
            .iter()
            .any(|l| l.contains("up to 200 connections")));
        assert!(f
            .evidence
            .iter()
            .any(|l| l.contains("76 of 100") && l.contains("nginx")));
        assert!(f.fix[0].text.contains("limit_conn"));
    }

    #[test]
    fn a_proxy_that_refuses_everything_is_no_load_limit() {
        let e = evidence(vec![step(1, 10, 0, &[("proxy-407", 10, 0)], 0)]);
        let f = &diagnose_load(&e)[0];
        assert_eq!(f.id, CauseId::ProxyRefused);
        assert_eq!(f.fix[0].for_, "proxy");
        // Past a level, the proxy's refusals are its own connection limit.
        let e = evidence(vec![
            step(1, 100, 100, &[], 100),
            step(2, 100, 50, &[("proxy-503", 50, 150)], 150),
        ]);
        let f = &diagnose_load(&e)[0];
        assert_eq!(f.id, CauseId::LoadLimit);
        assert!(f.fix[0].text.contains("MaxClients"), "{}", f.fix[0].text);
    }

    #[test]
    fn the_generators_own_limit_is_not_the_servers() {
        let e = evidence(vec![
            step(1, 100, 100, &[], 100),
            step(2, 100, 20, &[("local-file-descriptors", 80, 1019)], 120),
        ]);
        let findings = diagnose_load(&e);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_eq!(
            findings[0].subject.as_deref(),
            Some("wsdoctor (this machine)")
        );
        assert!(findings[0].title.contains("file descriptors"));
    }

    #[test]
    fn connections_still_pending_at_the_end_are_the_knee() {
        let e = evidence(vec![
            step(1, 100, 100, &[], 100),
            step(2, 100, 40, &[("pending-at-end", 60, 140)], 140),
        ]);
        let f = &diagnose_load(&e)[0];
        assert_eq!(f.id, CauseId::LoadLimit);
        assert_eq!(f.measured.concurrency_limit, Some(140));
        assert!(f.fix[0].text.contains("accepts or upgrades too slowly"));
        assert!(f.fix[0].text.contains("maxconn"));
        assert!(f
            .evidence
            .iter()
            .any(|l| l.contains("queued, not refused") && l.contains("while 140 stayed open")));
    }

    #[test]
    fn a_clean_ramp_is_healthy() {
        let e = evidence(vec![
            step(1, 100, 100, &[], 100),
            step(2, 100, 100, &[], 200),
        ]);
        let f = &diagnose_load(&e)[0];
        assert_eq!(f.id, CauseId::Healthy);
        assert!(f.title.starts_with("200 concurrent"));
    }

    #[test]
    fn a_merged_generator_limit_stays_the_generators() {
        let mut e = evidence(vec![
            step(1, 100, 100, &[], 100),
            step(2, 100, 20, &[("local-ephemeral-ports", 80, 120)], 120),
        ]);
        e.shards = vec![Default::default(), Default::default()];
        let findings = diagnose_load(&e);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_eq!(
            findings[0].subject.as_deref(),
            Some("wsdoctor (this machine)")
        );
        assert!(findings[0]
            .evidence
            .iter()
            .any(|l| l.contains("one source address")));
    }

    #[test]
    fn a_late_generator_is_its_own_limit() {
        let mut e = evidence(vec![step(1, 100, 100, &[], 100)]);
        e.generator.timer_lag_max_us = 2_500_000;
        let findings = diagnose_load(&e);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_eq!(
            findings[0].subject.as_deref(),
            Some("wsdoctor (this machine)")
        );
        assert!(findings[0].title.contains("behind its own schedule"));
    }

    #[test]
    fn a_queueing_limit_is_no_healthy_ramp() {
        let slow = |mut s: LoadStep| {
            s.handshake.p50_us = 3_050_000;
            s.handshake.p90_us = 3_400_000;
            s
        };
        let mut e = evidence(vec![
            step(1, 20, 20, &[], 20),
            step(2, 20, 20, &[], 40),
            slow(step(3, 20, 20, &[], 40)),
        ]);
        e.peak_open = 40;
        let findings = diagnose_load(&e);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        let f = &findings[0];
        assert_eq!(f.id, CauseId::LoadLimit);
        assert_eq!(f.measured.concurrency_limit, Some(40));
        assert_eq!(f.measured.connections_affected, Some(20));
        assert!(f.title.contains("queues"), "{}", f.title);
        assert!(f.evidence.iter().any(|l| l.contains("queued, not refused")));
        assert!(f.evidence.iter().any(|l| l.contains("at most 40")));
        assert!(f.fix[0].text.contains("maxconn"));
    }

    #[test]
    fn a_handshake_broken_from_the_first_connection_is_no_load_limit() {
        let e = evidence(vec![step(1, 60, 0, &[("invalid-101", 60, 0)], 0)]);
        let f = &diagnose_load(&e)[0];
        assert_eq!(f.id, CauseId::HandshakeInvalid);
        assert!(!f.title.contains("Failures begin"), "{}", f.title);
        let e = evidence(vec![step(1, 60, 0, &[("http-403", 60, 0)], 0)]);
        assert_eq!(diagnose_load(&e)[0].id, CauseId::UpgradeRejected);
        // Once some opened, the same failure past a level is a limit.
        let e = evidence(vec![
            step(1, 100, 100, &[], 100),
            step(2, 100, 50, &[("http-503", 50, 150)], 150),
        ]);
        assert_eq!(diagnose_load(&e)[0].id, CauseId::LoadLimit);
    }

    #[test]
    fn drops_under_load_count() {
        let mut s2 = step(2, 100, 100, &[], 150);
        s2.drops.insert("reset".parse().unwrap(), 50);
        let e = evidence(vec![step(1, 100, 100, &[], 100), s2]);
        let f = &diagnose_load(&e)[0];
        assert_eq!(f.id, CauseId::LoadLimit);
        assert!(f.evidence.iter().any(|l| l.contains("50 reset")));
    }
}
