//! Real-shaped fixtures per format, with known answers: gzip with two
//! members, CRLF, a truncated last line, non-UTF-8 bytes, an older ALB
//! format version, custom nginx formats, HAProxy timers, error-log reloads
//! and a HAR file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use wsdoctor_diagnosis::rules::logs::diagnose_logs;
use wsdoctor_diagnosis::{CauseId, Finding};
use wsdoctor_evidence::logs::{LogEvidence, LogFormat};
use wsdoctor_evidence::{EventEnd, LoggedEnd};
use wsdoctor_logs::{read_logs, Filter, Input, LogsConfig, LogsError, NginxFormat};

fn fixture(name: &str) -> Input {
    Input::Path(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
}

fn read(names: &[&str], tweak: impl FnOnce(&mut LogsConfig)) -> LogEvidence {
    let mut config = LogsConfig::new(names.iter().map(|n| fixture(n)).collect());
    tweak(&mut config);
    read_logs(&config).expect("fixture reads")
}

fn find(findings: &[Finding], id: CauseId) -> &Finding {
    findings
        .iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no {id:?} in {findings:#?}"))
}

const CUSTOM: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time"#;

#[test]
fn alb_gzip_crlf_truncated_non_utf8_and_old_version() {
    let ev = read(&["alb.log.gz"], |_| {});
    let file = &ev.files[0];
    assert_eq!(file.format, LogFormat::Alb);
    assert!(file.gzip && file.detected);
    assert_eq!(file.lines, 21);
    assert_eq!(file.websocket_entries, 18);
    assert_eq!(file.malformed, 2, "{:#?}", file.malformed_samples);
    assert_eq!(file.malformed_samples[0].line, 20);
    assert_eq!(file.malformed_samples[1].line, 21);
    assert_eq!(ev.connections, 17);
    assert_eq!(ev.failed_upgrades_total, 1);
    assert_eq!(
        ev.with_lifetime(),
        16,
        "the 2017 line has no request_creation_time"
    );
    let failed = &ev.failed_upgrades[0];
    assert_eq!((failed.status, failed.path.as_str()), (502, "/chat"));
    assert_eq!(failed.reason.as_deref(), Some("TargetConnectionError"));

    let findings = diagnose_logs(&ev);
    let idle = find(&findings, CauseId::IdleTimeout);
    assert_eq!(idle.measured.idle_timeout_s, Some(60.01));
    assert_eq!(idle.measured.connections_affected, Some(12));
    assert_eq!(idle.intermediary.as_deref(), Some("aws-alb"));
    assert!(idle.subject.as_deref().unwrap().ends_with("alb.log.gz"));
    let backend = find(&findings, CauseId::BackendUnavailable);
    assert_eq!(backend.measured.http_status, Some(502));
}

#[test]
fn nginx_custom_format_lifetimes_and_failed_upgrades() {
    let ev = read(&["nginx-custom.log"], |c| {
        c.nginx_format = NginxFormat::compile(CUSTOM).unwrap();
    });
    assert_eq!(ev.files[0].format, LogFormat::Nginx);
    assert_eq!(ev.files[0].malformed, 1);
    assert_eq!(ev.connections, 10);
    assert_eq!(
        ev.failed_upgrades_total, 4,
        "polling and /index.html are not upgrades"
    );
    let findings = diagnose_logs(&ev);
    let idle = find(&findings, CauseId::IdleTimeout);
    assert_eq!(idle.measured.idle_timeout_s, Some(100.0));
    let nf = find(&findings, CauseId::UpgradeNotForwarded);
    assert_eq!(nf.measured.http_status, Some(400));
    assert_eq!(nf.measured.connections_affected, Some(4));
}

#[test]
fn haproxy_timers_and_termination_states() {
    let ev = read(&["haproxy.log"], |_| {});
    assert_eq!(ev.files[0].format, LogFormat::Haproxy);
    assert_eq!(ev.connections, 11);
    assert_eq!(ev.end_reasons[0].reason.to_string(), "cD");
    assert_eq!(ev.end_reasons[0].count, 10);
    assert_eq!(ev.end_reasons[0].lifetime_mode_ms, Some(60_000));
    let findings = diagnose_logs(&ev);
    let idle = find(&findings, CauseId::IdleTimeout);
    assert_eq!(idle.intermediary.as_deref(), Some("haproxy"));
    assert!(idle
        .evidence
        .iter()
        .any(|e| e.contains("state cD on 10 connections: the client/tunnel timeout")));
    find(&findings, CauseId::BackendUnavailable);
}

#[test]
fn mass_disconnect_names_the_reload_from_the_error_log() {
    let ev = read(&["nginx-combined.log", "nginx-error.log"], |_| {});
    assert_eq!(ev.files[1].format, LogFormat::NginxError);
    assert_eq!(ev.events.len(), 3);
    let findings = diagnose_logs(&ev);
    let mass = find(&findings, CauseId::MassDisconnect);
    assert_eq!(mass.measured.connections_affected, Some(40));
    assert!(
        mass.title.contains("a reload 1.0 s before"),
        "{}",
        mass.title
    );
    assert!(mass
        .evidence
        .iter()
        .any(|e| e.contains("nginx-error.log:1")));
}

#[test]
fn har_reconnects_without_backoff() {
    let ev = read(&["chrome.har"], |_| {});
    assert_eq!(ev.files[0].format, LogFormat::Har);
    assert_eq!(ev.files[0].lines, 6);
    assert_eq!(ev.connections, 5);
    assert_eq!(ev.with_lifetime(), 0, "a HAR does not record closes");
    let findings = diagnose_logs(&ev);
    let storm = find(&findings, CauseId::ReconnectNoBackoff);
    assert_eq!(
        storm.measured.reconnect_policy.as_deref(),
        Some("immediate")
    );
    assert_eq!(storm.measured.reconnect_delays_s, Some(vec![1.0; 4]));
}

#[test]
fn filters_since_until_and_path() {
    let ev = read(&["nginx-custom.log"], |c| {
        c.nginx_format = NginxFormat::compile(CUSTOM).unwrap();
        c.filter = Filter {
            since_ms: wsdoctor_logs::parse_user_time("2026-01-15T13:12:00Z"),
            until_ms: wsdoctor_logs::parse_user_time("2026-01-15T13:15:00Z"),
            path_prefix: Some(b"/ws".to_vec()),
        };
    });
    assert_eq!(ev.connections, 3, "13:12, 13:13, 13:14 UTC");
    // 7 connections, 4 failed upgrades and /index.html; polling is no upgrade.
    assert_eq!(ev.files[0].filtered_out, 12);
    assert_eq!(ev.filters.len(), 3);
}

#[test]
fn unreadable_and_unknown_inputs_are_errors() {
    let missing = LogsConfig::new(vec![fixture("does-not-exist.log")]);
    assert!(matches!(read_logs(&missing), Err(LogsError::Open { .. })));
    let dir = LogsConfig::new(vec![fixture("")]);
    assert!(matches!(read_logs(&dir), Err(LogsError::Read { .. })));
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), "hello\nworld\n").unwrap();
    let unknown = LogsConfig::new(vec![Input::Path(tmp.path().to_owned())]);
    assert!(matches!(
        read_logs(&unknown),
        Err(LogsError::UnknownFormat { .. })
    ));
}

/// Made by running `wsdoctor serve --events` behind `wsdoctor lab
/// idle-timeout=2s`: three rounds of four `wsdoctor probe --watch 5s`
/// through the lab (each cut at 2 s by a FIN), then two probes straight to
/// the server that close normally after 1 s and 0.5 s.
#[test]
fn wsdoctor_serve_events() {
    let ev = read(&["wsdoctor-serve.jsonl"], |_| {});
    let file = &ev.files[0];
    assert_eq!(file.format, LogFormat::Wsdoctor);
    assert!(file.detected);
    assert_eq!(
        (file.lines, file.websocket_entries, file.malformed),
        (14, 14, 0)
    );
    assert_eq!(ev.connections, 14);
    assert_eq!(ev.clients, 6);
    let fin = ev
        .end_reasons
        .iter()
        .find(|r| r.reason == LoggedEnd::Wsdoctor(EventEnd::FinWithoutClose))
        .expect("FIN ends");
    assert_eq!((fin.count, fin.lifetime_mode_ms), (12, Some(2000)));
    let normal = ev
        .end_reasons
        .iter()
        .find(|r| r.reason.to_string() == "close 1000");
    assert_eq!(normal.map(|r| r.count), Some(2));
    let findings = diagnose_logs(&ev);
    let idle = find(&findings, CauseId::IdleTimeout);
    assert_eq!(idle.measured.idle_timeout_s, Some(2.0));
    assert_eq!(idle.measured.connections_affected, Some(12));
}

#[test]
fn wsdoctor_events_with_junk_browser_and_watch_lines() {
    let serve = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wsdoctor-serve.jsonl"),
    )
    .unwrap();
    let mut text = serve;
    text.extend_from_slice(b"{\"browser\":{\"ua\":\"x\"},\"findings\":[]}\n");
    text.extend_from_slice(b"{\"connection\": truncated\n");
    text.extend_from_slice(br#"{"drop":{"age_us":4999198,"arm":"silent","at_ms":5004,"end":{"kind":"reset"},"idle_us":1,"opened":true,"slot":3,"target":"ws://localhost:8089/chat","wall":"2026-11-26T11:53:30Z"},"event":"drop"}"#);
    text.push(b'\n');
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.jsonl");
    std::fs::write(&path, &text).unwrap();
    let ev = read_logs(&LogsConfig::new(vec![Input::Path(path)])).unwrap();
    let file = &ev.files[0];
    assert_eq!(
        (file.lines, file.websocket_entries, file.malformed),
        (17, 15, 1)
    );
    assert_eq!(file.malformed_samples[0].line, 16);
    assert_eq!(ev.connections, 15);
    assert!(ev
        .end_reasons
        .iter()
        .any(|r| r.reason == LoggedEnd::Wsdoctor(EventEnd::Reset) && r.count == 1));
}
