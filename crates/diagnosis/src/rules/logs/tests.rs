#![allow(clippy::unwrap_used, clippy::expect_used)]

use wsdoctor_evidence::logs::{Bucket, ClientReconnects, LogEvidence, LogFile, LogFormat};

use super::diagnose_logs;
use super::lifetimes::clusters;
use super::mass::bursts;
use super::reconnect::policy;
use crate::finding::{CauseId, Severity, SourceKind};

fn buckets(values: &[(i64, u64)]) -> Vec<Bucket> {
    values
        .iter()
        .map(|&(at, count)| Bucket { at, count })
        .collect()
}

fn file(format: LogFormat) -> LogFile {
    LogFile {
        path: "access.log".into(),
        format,
        detected: true,
        gzip: false,
        bytes: 0,
        lines: 0,
        websocket_entries: 0,
        filtered_out: 0,
        malformed: 0,
        malformed_samples: Vec::new(),
    }
}

#[test]
fn policies() {
    assert_eq!(policy(&[0, 10, 200]), Some("immediate"));
    assert_eq!(policy(&[5000, 5100, 4950, 5000]), Some("fixed"));
    assert_eq!(policy(&[1000, 2000, 4000, 8000, 8000]), Some("exponential"));
    assert_eq!(
        policy(&[1000, 2700, 4100, 9800]),
        Some("exponential-jitter")
    );
    assert_eq!(policy(&[3000, 90_000, 7000]), None);
    assert_eq!(policy(&[1000, 1000]), None, "too few delays");
}

/// splitmix64, for reproducible random delays.
fn unit(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

/// 16 waits uniform in `lo..hi` ms.
fn uniform(seed: u64, lo: f64, hi: f64) -> Vec<u64> {
    let mut s = seed;
    (0..16)
        .map(|_| (lo + unit(&mut s) * (hi - lo)) as u64)
        .collect()
}

/// 16 waits of exponential backoff with full jitter: random(0, min(cap, base·2^n)).
fn full_jitter(seed: u64, base: f64, cap: f64) -> Vec<u64> {
    let mut s = seed;
    (0..16)
        .map(|n| (unit(&mut s) * cap.min(base * 2f64.powi(n))) as u64)
        .collect()
}

#[test]
fn the_reconnect_classifier_table() {
    let capped: Vec<u64> = [500, 1000, 2000, 4000, 8000, 16_000]
        .into_iter()
        .chain([30_000; 10])
        .collect();
    let cases: Vec<(&str, Vec<u64>, Option<&str>)> = vec![
        (
            "immediate",
            vec![0, 20, 5, 300, 10, 0, 40, 15],
            Some("immediate"),
        ),
        (
            "fixed 2 s",
            vec![2000, 2010, 1990, 2000, 2005, 1995],
            Some("fixed"),
        ),
        (
            "random 0.05-3 s, flat",
            uniform(7, 50.0, 3000.0),
            Some("random"),
        ),
        (
            "random 0.5-10 s, flat",
            uniform(11, 500.0, 10_000.0),
            Some("random"),
        ),
        (
            "exponential, doubling",
            vec![1000, 2000, 4000, 8000, 16_000],
            Some("exponential"),
        ),
        ("capped exponential", capped, Some("exponential")),
        (
            "exponential with full jitter",
            full_jitter(7, 1000.0, 30_000.0),
            None,
        ),
        (
            "exponential with full jitter, low cap",
            full_jitter(3, 500.0, 10_000.0),
            None,
        ),
        (
            "too few random delays to say",
            uniform(7, 50.0, 3000.0)[..6].to_vec(),
            None,
        ),
    ];
    for (what, delays, expected) in cases {
        assert_eq!(policy(&delays), expected, "{what}: {delays:?}");
    }
    // Over many draws: flat random waits are named, full jitter never is.
    let flat = (0..200)
        .filter(|&seed| policy(&uniform(seed, 50.0, 3000.0)) == Some("random"))
        .count();
    assert!(flat >= 180, "{flat} of 200 flat clients named");
    let jittered = (0..200)
        .filter(|&seed| policy(&full_jitter(seed, 1000.0, 30_000.0)) == Some("random"))
        .count();
    assert_eq!(jittered, 0, "full-jitter backoff taken for no backoff");
}

#[test]
fn a_jittered_storm_without_growth_is_no_backoff() {
    let mut ev = LogEvidence::default();
    ev.files.push(file(LogFormat::Alb));
    ev.reconnects = vec![
        ClientReconnects {
            client: "203.0.113.9".into(),
            attempts: 1000,
            failed: 0,
            delays_ms: uniform(5, 50.0, 3000.0),
        },
        ClientReconnects {
            client: "203.0.113.10".into(),
            attempts: 17,
            failed: 0,
            delays_ms: full_jitter(5, 1000.0, 30_000.0),
        },
    ];
    let findings = diagnose_logs(&ev);
    let storm: Vec<_> = findings
        .iter()
        .filter(|f| f.id == CauseId::ReconnectNoBackoff)
        .collect();
    assert_eq!(storm.len(), 1, "{findings:#?}");
    let f = storm[0];
    assert_eq!(f.measured.reconnect_policy.as_deref(), Some("random"));
    assert_eq!(
        f.measured.samples,
        Some(1),
        "the backing-off client is left out"
    );
    assert!(f.title.contains("never grow"), "{}", f.title);
    assert!(f
        .evidence
        .iter()
        .any(|l| l.contains("203.0.113.9: 1,000 attempts")));
}

#[test]
fn a_pile_at_sixty_seconds_is_one_cluster() {
    let mut b = vec![(60_000, 50), (60_010, 30), (60_020, 5)];
    b.extend((1..20).map(|i| (i * 300_000, 1)));
    b.push((5_000, 3));
    let c = clusters(&buckets(&b));
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].count, 85);
    assert_eq!(c[0].value_ms, 60_000);
    assert_eq!(c[0].longer, 19);
    assert!(clusters(&buckets(&[(60_000, 5)])).is_empty(), "too few");
}

#[test]
fn a_burst_of_closes_stands_out_of_a_steady_rate() {
    let mut b: Vec<(i64, u64)> = (0..600).map(|s| (s * 1000, 1)).collect();
    b.push((300_100, 200));
    b.push((300_200, 150));
    b.sort_unstable();
    let found = bursts(&buckets(&b));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].from_ms, 300_100);
    assert_eq!(found[0].closes, 350);
    assert!(bursts(&buckets(&b[..10])).is_empty());
}

#[test]
fn alb_log_with_idle_drops_and_a_storm() {
    let mut lifetimes = vec![(60_000, 400), (60_010, 90)];
    lifetimes.extend((1..100).map(|i| (61_000 + i * 10_000, 2)));
    let ev = LogEvidence {
        files: vec![file(LogFormat::Alb)],
        connections: 688,
        failed_upgrades_total: 0,
        lifetimes: buckets(&lifetimes),
        closes: buckets(&(0..688).map(|i| (i * 1000, 1)).collect::<Vec<_>>()),
        reconnects: vec![ClientReconnects {
            client: "198.51.100.7".into(),
            attempts: 6,
            failed: 0,
            delays_ms: vec![1000, 1000, 1000, 1000, 1000],
        }],
        ..LogEvidence::default()
    };
    let findings = diagnose_logs(&ev);
    let top = &findings[0];
    assert_eq!(top.id, CauseId::IdleTimeout);
    assert_eq!(top.severity, Severity::Error);
    assert_eq!(top.source, SourceKind::Log);
    assert_eq!(top.intermediary.as_deref(), Some("aws-alb"));
    assert_eq!(top.subject.as_deref(), Some("access.log"));
    assert_eq!(top.measured.idle_timeout_s, Some(60.0));
    assert!(top.fix.iter().any(|f| f.for_ == "aws-alb"));
    let storm = findings
        .iter()
        .find(|f| f.id == CauseId::ReconnectNoBackoff)
        .unwrap();
    assert_eq!(
        storm.measured.reconnect_policy.as_deref(),
        Some("immediate")
    );
    assert!(!findings.iter().any(|f| f.id == CauseId::MassDisconnect));
}

#[test]
fn lockstep_backoff_is_no_jitter() {
    let schedule = vec![1000, 2000, 4000, 8000];
    let reconnects = (0..5)
        .map(|i| ClientReconnects {
            client: format!("10.0.0.{i}"),
            attempts: 5,
            failed: 4,
            delays_ms: schedule.clone(),
        })
        .collect();
    let ev = LogEvidence {
        files: vec![file(LogFormat::Nginx)],
        connections: 25,
        reconnects,
        ..LogEvidence::default()
    };
    let findings = diagnose_logs(&ev);
    let f = findings
        .iter()
        .find(|f| f.id == CauseId::ReconnectNoJitter)
        .unwrap();
    assert_eq!(
        f.measured.reconnect_delays_s,
        Some(vec![1.0, 2.0, 4.0, 8.0])
    );
    assert_eq!(f.measured.samples, Some(5));
}

#[test]
fn nothing_to_judge_and_nothing_wrong() {
    assert!(diagnose_logs(&LogEvidence::default()).is_empty());
    let quiet = LogEvidence {
        files: vec![file(LogFormat::Nginx)],
        connections: 3,
        lifetimes: buckets(&[(5_000, 1), (900_000, 1), (3_000_000, 1)]),
        ..LogEvidence::default()
    };
    let findings = diagnose_logs(&quiet);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].id, CauseId::Healthy);
}

#[test]
fn a_burst_240_s_after_a_reload_is_nginx_worker_shutdown_timeout() {
    use wsdoctor_evidence::logs::{LogEvent, LogEventKind};
    let reload_at = 1_700_000_000_000_i64;
    let burst_at = reload_at + 240_000;
    let ev = |files: Vec<LogFile>| {
        let mut closes: Vec<(i64, u64)> = (0..600).map(|s| (reload_at + s * 1000, 1)).collect();
        closes.push((burst_at + 100, 300));
        closes.sort_unstable();
        LogEvidence {
            files,
            connections: 900,
            closes: buckets(&closes),
            events: vec![LogEvent {
                at_ms: reload_at,
                kind: LogEventKind::Reload,
                file: "error.log".into(),
                line: 7,
                text: "signal process started".into(),
            }],
            ..LogEvidence::default()
        }
    };
    let mass = |files| {
        diagnose_logs(&ev(files))
            .into_iter()
            .find(|f| f.id == CauseId::MassDisconnect)
            .unwrap()
    };
    // Without an access log that names the hop: nginx (240 s is
    // ingress-nginx's default) ranked before HAProxy, neither named.
    let f = mass(Vec::new());
    let text = f.evidence.join("\n");
    let nginx = text.find("  nginx (").unwrap();
    let haproxy = text.find("  haproxy (").unwrap();
    assert!(nginx < haproxy, "{text}");
    assert!(
        text.contains("240.1 s after the reload at error.log:7"),
        "{text}"
    );
    assert_eq!(f.intermediary, None);
    let fixes: Vec<&str> = f.fix.iter().map(|x| x.for_.as_str()).collect();
    assert!(
        fixes.starts_with(&["server", "nginx", "haproxy"]),
        "{fixes:?}"
    );
    assert!(f.fix[1]
        .snippet
        .as_deref()
        .is_some_and(|s| s.contains("worker_shutdown_timeout")));
    assert!(f.fix[2]
        .snippet
        .as_deref()
        .is_some_and(|s| s.contains("hard-stop-after")));
    // nginx's own access log names it.
    let f = mass(vec![file(LogFormat::Nginx)]);
    assert_eq!(f.intermediary.as_deref(), Some("nginx"));
}

/// Ten 101s and (per level) some failures of `status` at each level.
fn concurrency(levels: &[(u64, u64, u64)], status: u16) -> LogEvidence {
    use wsdoctor_evidence::logs::ConcurrencyBand;
    let mut bands = Vec::new();
    for &(from, ok, failed) in levels {
        bands.push(ConcurrencyBand {
            from,
            status: 101,
            count: ok,
        });
        if failed > 0 {
            bands.push(ConcurrencyBand {
                from,
                status,
                count: failed,
            });
        }
    }
    let connections = levels.iter().map(|l| l.1).sum();
    let failed = levels.iter().map(|l| l.2).sum();
    LogEvidence {
        files: vec![file(LogFormat::Haproxy)],
        connections,
        failed_upgrades_total: failed,
        concurrency: bands,
        concurrency_band_width: 1,
        ..LogEvidence::default()
    }
}

#[test]
fn load_limit_is_a_step_in_failures_by_open_connections() {
    // Clean up to 99 open, then half of the attempts at 100 fail with 503.
    let mut levels: Vec<(u64, u64, u64)> = (0..100).map(|c| (c, 2, 0)).collect();
    levels.extend([(100, 20, 20), (101, 2, 1)]);
    let findings = diagnose_logs(&concurrency(&levels, 503));
    let f = findings
        .iter()
        .find(|f| f.id == CauseId::LoadLimit)
        .expect("load-limit");
    assert_eq!(f.measured.concurrency_limit, Some(100));
    assert_eq!(f.measured.http_status, Some(503));
    assert_eq!(f.measured.connections_affected, Some(21));
    assert_eq!(f.intermediary.as_deref(), Some("haproxy"));
    assert!(f.fix.iter().any(|x| x.text.contains("maxconn")));
    assert!(f.fix.iter().any(|x| x.text.contains("ulimit -n")));

    // A failure rate that does not change with load is no limit…
    let flat: Vec<(u64, u64, u64)> = (0..200).map(|c| (c, 4, u64::from(c % 4 == 0))).collect();
    let findings = diagnose_logs(&concurrency(&flat, 503));
    assert!(findings.iter().all(|f| f.id != CauseId::LoadLimit));
    // …nor a step with too few attempts above it, nor 4xx answers.
    let mut few: Vec<(u64, u64, u64)> = (0..100).map(|c| (c, 2, 0)).collect();
    few.push((100, 3, 9));
    assert!(diagnose_logs(&concurrency(&few, 503))
        .iter()
        .all(|f| f.id != CauseId::LoadLimit));
    assert!(diagnose_logs(&concurrency(&levels, 403))
        .iter()
        .all(|f| f.id != CauseId::LoadLimit));
}
