//! Rules for a load ramp: where failures or drops began (the knee) and what
//! they were, with the generator's own limits kept apart from the server's.

//!
//! One file per conclusion, run in order by [`diagnose_load`]: the
//! generator's own limits ([`generator`]), a limit that queues ([`queue`]),
//! the knee ([`knee`]); what the failure kinds mean is [`kinds`]. Handshakes
//! the kernel's counters show turned away and retried ([`listen`]) explain
//! whichever of them saw handshakes wait, or are the finding itself when
//! nothing failed.

mod generator;
mod kinds;
mod knee;
mod listen;
mod queue;

use wsdoctor_evidence::format_count as thousands;
use wsdoctor_evidence::load::LoadEvidence;

use super::common::{finding, fix};
use crate::advice::rank;
use crate::finding::{CauseId, Finding, Severity, SourceKind};

/// A step "breaks" when more than this share of its attempts failed, or
/// anything dropped during its hold.
const FAILURE_SHARE: f64 = 0.01;

fn ms(us: u64) -> String {
    if us < 10_000 {
        format!("{:.1} ms", us as f64 / 1000.0)
    } else {
        format!("{:.0} ms", us as f64 / 1000.0)
    }
}

/// Diagnoses a load ramp.
pub fn diagnose_load(e: &LoadEvidence) -> Vec<Finding> {
    let mut findings = diagnose_ramp(e);
    // Drops that are an application protocol's, not the load's.
    super::app::adjust_load(e, &mut findings);
    finish(findings)
}

fn diagnose_ramp(e: &LoadEvidence) -> Vec<Finding> {
    // The generator's own limits come first and are never the server's.
    let generator = generator::diagnose(e);
    let mut findings = generator.findings;
    let generator_limited = !findings.is_empty();
    let knee = e
        .steps
        .iter()
        .position(|s| s.failed() as f64 > s.attempted as f64 * FAILURE_SHARE || s.dropped() > 0);

    // A limit that holds connections back shows before anything fails, if
    // ever: it comes first when it starts before the knee.
    let turned_away = listen::turned_away(e);
    if let Some(q) = queue::queueing_step(&e.steps).filter(|q| knee.is_none_or(|k| q.step < k)) {
        // Queued at a full listen queue: that is the finding, with what
        // the queue looked like from the ramp; unless nothing was accepted
        // past a cap, which filled the queue.
        let f = match &turned_away {
            Some(t) if listen::stalled(&e.steps, q.step) => {
                let mut f = queue::queued_finding(e, &q);
                listen::behind_a_cap(&mut f, e, t, q.plateau);
                f
            }
            Some(t) => {
                let mut f = listen::turned_away_finding(e, t);
                f.evidence.extend(queue::queued_finding(e, &q).evidence);
                f
            }
            None => queue::queued_finding(e, &q),
        };
        findings.push(f);
        return finish(findings);
    }

    match knee {
        // This machine ran out where the check before the run said it
        // would: the knee is its own, not the target's.
        Some(_) if generator.predicted => {}
        Some(i) => {
            if let Some(mut f) = knee::diagnose(e, i) {
                match &turned_away {
                    Some(t) if listen::stalled(&e.steps, i.saturating_sub(1)) => {
                        let cap = e.steps[i..].iter().map(|s| s.open_at_end).max();
                        listen::behind_a_cap(&mut f, e, t, cap.unwrap_or(0));
                    }
                    Some(t) => listen::explain(&mut f, e, t),
                    None => {}
                }
                findings.push(f);
            }
        }
        None if generator_limited => {}
        // Nothing failed, but handshakes may have waited at a full listen
        // queue: then it was not healthy.
        None => findings.push(match &turned_away {
            Some(t) => listen::turned_away_finding(e, t),
            None => healthy(e),
        }),
    }
    finish(findings)
}

/// Nothing failed or dropped, and the generator was no limit either.
fn healthy(e: &LoadEvidence) -> Finding {
    let last = e.steps.last();
    let attempted = e.attempted();
    let failed_total = e.failed();
    // Under the share that breaks a step, failures still happened: the
    // title says so rather than claim there were none.
    let (title, confidence) = if failed_total == 0 {
        (
            format!(
                "{} concurrent connections held without a failure or drop",
                thousands(e.peak_open)
            ),
            0.8,
        )
    } else {
        (
            format!(
                "{} concurrent connections held; {} of {} attempts failed, under the {}% a step may lose before it counts as broken",
                thousands(e.peak_open),
                thousands(failed_total),
                thousands(attempted),
                FAILURE_SHARE * 100.0
            ),
            0.6,
        )
    };
    let mut f = finding(
        CauseId::Healthy,
        Severity::Info,
        confidence,
        title,
        SourceKind::Load,
    );
    if failed_total > 0 {
        let listed: Vec<String> = e
            .failures_by_kind()
            .iter()
            .map(|(kind, n)| format!("{kind} {}", thousands(*n)))
            .collect();
        f.evidence
            .push(format!("failed attempts: {}", listed.join(", ")));
    }
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
    if let Some(line) = listen::none_turned_away(e) {
        f.evidence.push(line);
    }
    if e.close.is_some_and(|c| c.interrupted) {
        f.evidence.push(format!(
            "the ramp was stopped early (Ctrl-C) with {} of {} connections reached: nothing is known past that",
            thousands(e.peak_open),
            thousands(e.concurrency)
        ));
    }
    f.fix.push(fix(
        "client",
        "Nothing broke at this level: ramp higher with -c to find the limit.",
    ));
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
        // Credentials, whatever the level: never a connection limit.
        assert!(f.fix[0].text.contains("credentials"), "{}", f.fix[0].text);
        assert!(!f.fix[0].text.contains("MaxClients"), "{}", f.fix[0].text);
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

    fn short_of_files(fits: u64) -> wsdoctor_evidence::machine::MachineLimits {
        use wsdoctor_evidence::machine::{MachineLimits, MachineResource, MachineShortfall};
        MachineLimits {
            file_max: Some(500),
            files_open: Some(60),
            ephemeral_ports: 28_232,
            source_addresses: 1,
            target_here: true,
            shortfalls: vec![MachineShortfall {
                resource: MachineResource::FileMax,
                needed: 600,
                available: 440,
                fits_connections: fits,
                setting: "sysctl -w fs.file-max=720".to_owned(),
                detail: "300 connections need 600 files".to_owned(),
            }],
            ..MachineLimits::default()
        }
    }

    #[test]
    fn a_wall_where_the_check_said_the_machine_runs_out_is_the_machines() {
        let wall = || {
            evidence(vec![
                step(1, 100, 100, &[], 100),
                step(2, 100, 100, &[], 200),
                step(3, 100, 20, &[("connect-timeout", 80, 220)], 220),
            ])
        };
        let mut e = wall();
        e.generator.machine = Some(short_of_files(220));
        let findings = diagnose_load(&e);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        let f = &findings[0];
        assert_eq!(f.subject.as_deref(), Some("wsdoctor (this machine)"));
        assert!(f.title.contains("fs.file-max at about 220"), "{}", f.title);
        assert!(f.fix[0].text.contains("sysctl -w fs.file-max=720"));
        assert!(f.evidence.iter().any(|l| l.contains("loopback")));
        // A check that said thousands fit does not explain a wall at 220.
        let mut e = wall();
        e.generator.machine = Some(short_of_files(5_000));
        let f = &diagnose_load(&e)[0];
        assert_eq!(f.subject, None, "{f:#?}");
    }

    #[test]
    fn a_full_system_file_table_names_file_max() {
        let mut e = evidence(vec![
            step(1, 100, 100, &[], 100),
            step(
                2,
                100,
                20,
                &[("local-system-file-descriptors", 80, 220)],
                120,
            ),
        ]);
        e.steps[1].failure_samples[0].detail =
            "connect: Too many open files in system (os error 23)".to_owned();
        e.generator.machine = Some(short_of_files(220));
        let findings = diagnose_load(&e);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        let f = &findings[0];
        assert!(f
            .evidence
            .iter()
            .any(|l| l.contains("file table was full: fs.file-max 500")));
        assert!(f.fix.iter().any(|x| x.text.contains("fs.file-max=720")));
    }

    #[test]
    fn the_process_limit_is_told_from_the_system_table_by_its_kind_not_its_words() {
        // EMFILE (the process's limit), whatever its text says: the check
        // before the run named only fs.file-max, which is not this.
        let mut e = evidence(vec![
            step(1, 100, 100, &[], 100),
            step(2, 100, 20, &[("local-file-descriptors", 80, 220)], 120),
        ]);
        e.steps[1].failure_samples[0].detail =
            "connect: Too many open files in system (os error 23)".to_owned();
        e.generator.machine = Some(short_of_files(220));
        let findings = diagnose_load(&e);
        let f = findings
            .iter()
            .find(|f| f.subject.as_deref() == Some("wsdoctor (this machine)"))
            .unwrap();
        assert!(f.title.contains("file descriptors"), "{f:#?}");
        assert!(
            !f.evidence.iter().any(|l| l.contains("file table was full")),
            "{f:#?}"
        );
        assert!(
            !f.fix.iter().any(|x| x.text.contains("fs.file-max")),
            "{f:#?}"
        );
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
    fn a_healthy_ramp_with_a_few_failures_says_how_many() {
        let e = evidence(vec![step(1, 1000, 995, &[("connect-timeout", 5, 0)], 995)]);
        let findings = diagnose_load(&e);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        let f = &findings[0];
        assert_eq!(f.id, CauseId::Healthy);
        assert!(!f.title.contains("without a failure"), "{}", f.title);
        assert!(
            f.title.contains("5 of 1,000 attempts failed"),
            "{}",
            f.title
        );
        assert!(f
            .evidence
            .iter()
            .any(|l| l == "failed attempts: connect-timeout 5"));
    }

    #[test]
    fn a_ramp_slower_than_asked_is_the_generators_limit() {
        // 1,000 connections at 100/s plan 10 s of launches; finishing 2 s
        // behind, though no launch was late by more than 50 ms, is the
        // generator's CPU.
        let mut e = evidence(vec![step(1, 1000, 1000, &[], 1000)]);
        e.rate = 100.0;
        e.generator.timer_lag_max_us = 50_000;
        e.generator.schedule_behind_us = 2_000_000;
        let findings = diagnose_load(&e);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_eq!(findings[0].id, CauseId::LoadLimit);
        assert!(findings[0]
            .title
            .contains("2.0 s behind its own schedule over the ramp"));
        assert!(
            findings[0].evidence[0].contains("in 12.0 s where 100/s plans 10.0 s: about 83/s"),
            "{:?}",
            findings[0].evidence
        );
        // Behind by under a tenth of the planned launches: healthy.
        e.generator.schedule_behind_us = 900_000;
        assert_eq!(diagnose_load(&e)[0].id, CauseId::Healthy);
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
    fn connections_the_server_stopped_reading_are_a_slow_consumer_with_its_fix() {
        let mut s2 = step(2, 100, 100, &[], 150);
        s2.drops.insert("peer-stopped-reading".parse().unwrap(), 30);
        let e = evidence(vec![step(1, 100, 100, &[], 100), s2]);
        let f = &diagnose_load(&e)[0];
        assert_eq!(f.id, CauseId::SlowConsumer);
        assert!(f
            .evidence
            .iter()
            .any(|l| l.contains("30 peer-stopped-reading")));
        assert!(f.fix.iter().any(|x| x.text.contains("slow consumer")));
        // Mixed with resets, it is still a load limit, with the same fix.
        let mut s2 = step(2, 100, 100, &[], 150);
        s2.drops.insert("peer-stopped-reading".parse().unwrap(), 30);
        s2.drops.insert("reset".parse().unwrap(), 5);
        let e = evidence(vec![step(1, 100, 100, &[], 100), s2]);
        let f = &diagnose_load(&e)[0];
        assert_eq!(f.id, CauseId::LoadLimit);
        assert!(f.fix.iter().any(|x| x.text.contains("slow consumer")));
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
