//! Reconnect storms planted in generated ALB and nginx logs: a client
//! that reconnects after random waits that never grow is `random`, no
//! backoff; one backing off exponentially with full jitter is not.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    unreachable_pub,
    dead_code
)]

#[path = "support/generator.rs"]
mod generator;

use generator::{PlantedClient, Retry};
use wsdoctor_diagnosis::rules::logs::diagnose_logs;
use wsdoctor_diagnosis::CauseId;
use wsdoctor_logs::{read_logs, Input, LogsConfig, NginxFormat};

const STORMING: &str = "192.0.2.100";
const BACKING_OFF: &str = "192.0.2.101";

fn check(flavor: generator::Flavor, bytes: u64, attempts: u64) {
    // The client: WebSockets of 150 ms, reconnecting after 0.05–3 s.
    let clients = [
        PlantedClient {
            client: STORMING.to_owned(),
            start_s: 5,
            attempts,
            life_ms: 150,
            retry: Retry::Uniform {
                lo_ms: 50,
                hi_ms: 3000,
            },
        },
        PlantedClient {
            client: BACKING_OFF.to_owned(),
            start_s: 5,
            attempts: 17,
            life_ms: 150,
            retry: Retry::FullJitter {
                base_ms: 1000,
                cap_ms: 30_000,
            },
        },
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gen.log");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let planted = generator::generate_with(flavor, bytes, 7, &clients, &mut out).unwrap();
    drop(out);
    let mut config = LogsConfig::new(vec![Input::Path(path)]);
    if flavor == generator::Flavor::Nginx {
        config.nginx_format = NginxFormat::compile(generator::NGINX_FORMAT).unwrap();
    }
    let ev = read_logs(&config).unwrap();
    let storming = ev.reconnects.iter().find(|c| c.client == STORMING).unwrap();
    // All of them, less those the log's end cut off.
    assert!(
        (attempts * 8 / 10..=attempts).contains(&storming.attempts),
        "{storming:?}"
    );
    let findings = diagnose_logs(&ev);
    let storm = findings
        .iter()
        .find(|f| f.id == CauseId::ReconnectNoBackoff)
        .unwrap_or_else(|| panic!("no reconnect-no-backoff: {findings:#?}"));
    // The generator's own fixed-delay storms, and the random one; never
    // the client that backs off.
    assert_eq!(
        storm.measured.samples,
        Some(planted.storm_clients as u32 + 1),
        "{storm:#?}"
    );
    let evidence = storm.evidence.join("\n");
    assert!(evidence.contains("1 random"), "{evidence}");
    assert!(
        evidence.contains(&format!("client {STORMING}: ")) && evidence.contains(", random, delays"),
        "{evidence}"
    );
    assert!(!evidence.contains(BACKING_OFF), "{evidence}");
    eprintln!("{flavor:?}: {}\n{evidence}", storm.title);
}

#[test]
fn a_jittered_storm_in_an_alb_log_is_no_backoff() {
    // About 25 minutes of log and 1,000 reconnects, as in the report that
    // found the gap.
    check(generator::Flavor::Alb, 34_000_000, 1000);
}

#[test]
fn a_jittered_storm_in_an_nginx_log_is_no_backoff() {
    check(generator::Flavor::Nginx, 2_500_000, 150);
}
