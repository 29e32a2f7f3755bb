//! The generator's planted patterns are found, and found exactly, on a
//! small generated log of each flavor.

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub, dead_code)]

#[path = "support/generator.rs"]
mod generator;

use wsdoctor_diagnosis::rules::logs::diagnose_logs;
use wsdoctor_diagnosis::{CauseId, Finding};
use wsdoctor_logs::{read_logs, Input, LogsConfig, NginxFormat};

fn find(findings: &[Finding], id: CauseId) -> &Finding {
    findings
        .iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no {id:?} in {findings:#?}"))
}

fn check(flavor: generator::Flavor) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gen.log");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    // About 6 minutes of log: long enough for 60 s lifetimes around the
    // mass disconnect in the middle.
    let bytes = match flavor {
        generator::Flavor::Alb => 8_000_000,
        generator::Flavor::Nginx => 2_500_000,
    };
    let planted = generator::generate(flavor, bytes, 7, &mut out).unwrap();
    drop(out);
    let mut config = LogsConfig::new(vec![Input::Path(path)]);
    if flavor == generator::Flavor::Nginx {
        config.nginx_format = NginxFormat::compile(generator::NGINX_FORMAT).unwrap();
    }
    let ev = read_logs(&config).unwrap();
    assert_eq!(ev.files[0].lines, planted.lines);
    assert_eq!(ev.files[0].malformed, 0);
    assert_eq!(ev.connections, planted.connections);
    assert_eq!(ev.failed_upgrades_total, planted.failed);
    let findings = diagnose_logs(&ev);

    let idle = find(&findings, CauseId::IdleTimeout);
    assert_eq!(
        idle.measured.connections_affected,
        Some(planted.idle),
        "{idle:#?}"
    );
    let t = idle.measured.idle_timeout_s.unwrap();
    assert!((60.0..=60.02).contains(&t), "{t}");

    let mass = find(&findings, CauseId::MassDisconnect);
    assert_eq!(
        mass.measured.connections_affected,
        Some(planted.mass),
        "{mass:#?}"
    );
    assert!(mass
        .title
        .contains(&wsdoctor_logs::format_rfc3339(planted.mass_at_ms)));
    assert_eq!(
        findings
            .iter()
            .filter(|f| f.id == CauseId::MassDisconnect)
            .count(),
        1
    );

    let storm = find(&findings, CauseId::ReconnectNoBackoff);
    assert_eq!(
        storm.measured.samples,
        Some(planted.storm_clients as u32),
        "{storm:#?}"
    );

    let failed: u64 = findings
        .iter()
        .filter(|f| {
            matches!(
                f.id,
                CauseId::BackendUnavailable | CauseId::UpgradeNotForwarded
            )
        })
        .filter_map(|f| f.measured.connections_affected)
        .sum();
    assert_eq!(failed, planted.failed);

    assert!(planted.load_limited > 100, "{planted:?}");
    let limit = find(&findings, CauseId::LoadLimit);
    assert_eq!(
        limit.measured.concurrency_limit,
        Some(generator::LOAD_LIMIT),
        "{limit:#?}"
    );
    assert_eq!(limit.measured.http_status, Some(503), "{limit:#?}");
    assert_eq!(
        findings
            .iter()
            .filter(|f| f.id == CauseId::LoadLimit)
            .count(),
        1
    );
}

#[test]
fn planted_patterns_in_an_alb_log() {
    check(generator::Flavor::Alb);
}

#[test]
fn planted_patterns_in_an_nginx_log() {
    check(generator::Flavor::Nginx);
}
