//! `wsdoctor idle` end to end: real nginx and HAProxy with short timeouts in
//! front of the lab, a lab lifetime cap, and a healthy path.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::process::Command;
use std::time::Instant;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;
use wsdoctor_lab::{LabConfig, LabServer};

/// Runs `wsdoctor idle URL --json EXTRA…`: its exit code, its report and
/// how long it ran by its own clock (the report's `duration_s`). The times
/// asserted are the command's, not the start of a debug build's process,
/// which a loaded 2-core machine stretches; the wall clock is bounded
/// loosely here, so a process that hangs after its report still fails.
fn idle(url: &str, extra: &[&str]) -> (i32, Value, f64) {
    let started = Instant::now();
    let out = Command::cargo_bin("wsdoctor")
        .unwrap()
        .args(["idle", url, "--json"])
        .args(extra)
        .args(if extra.contains(&"--max") {
            &[][..]
        } else {
            &["--max", "20s"][..]
        })
        // These tests measure timers; the heartbeat watch has its own tests.
        .args(if extra.contains(&"--heartbeat-window") {
            &[][..]
        } else {
            &["--heartbeat-window", "0s"][..]
        })
        .output()
        .unwrap();
    let wall = started.elapsed().as_secs_f64();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let took = report["duration_s"].as_f64().unwrap();
    assert!(
        wall < took + PROCESS_SLACK_S,
        "the process took {wall:.2} s, its run {took:.2} s"
    );
    (out.status.code().unwrap_or(-1), report, took)
}

/// What starting and ending a process may add to its run, loosely: a hang
/// (a write waiting out a 10 s deadline) still shows.
const PROCESS_SLACK_S: f64 = 3.0;

/// Within 2 % + 100 ms of the configured value (the bar).
fn close_to(measured: f64, configured: f64) -> bool {
    (measured - configured).abs() <= configured * 0.02 + 0.1
}

fn top(report: &Value) -> &Value {
    &report["findings"][0]
}

#[tokio::test(flavor = "multi_thread")]
async fn nginx_proxy_read_timeout_is_measured_and_named() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let Some(nginx) = support::nginx(lab.addr(), "proxy_read_timeout 3s;") else {
        return;
    };
    let (code, report, took) = idle(&format!("ws://{}/ws", nginx.addr), &[]);
    assert_eq!(code, 1);
    let f = top(&report);
    assert_eq!(f["id"], "idle-timeout", "{report:#}");
    let t = f["measured"]["idle_timeout_s"].as_f64().unwrap();
    assert!(close_to(t, 3.0), "measured {t}");
    assert_eq!(f["measured"]["keepalive_by"], "either");
    assert_eq!(f["intermediary"], "nginx");
    assert!(f["fix"].to_string().contains("proxy_read_timeout"));
    assert!(took <= 3.0 + 2.0 + 0.5, "took {took} s"); // T + 2 s
    eprintln!("nginx proxy_read_timeout 3s: measured {t} s in {took:.2} s");
}

#[tokio::test(flavor = "multi_thread")]
async fn haproxy_timeout_tunnel_is_measured() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let Some(haproxy) = support::haproxy(lab.addr(), "timeout tunnel 3s") else {
        return;
    };
    let (code, report, took) = idle(&format!("ws://{}/ws", haproxy.addr), &[]);
    assert_eq!(code, 1);
    let f = top(&report);
    assert_eq!(f["id"], "idle-timeout", "{report:#}");
    let t = f["measured"]["idle_timeout_s"].as_f64().unwrap();
    assert!(close_to(t, 3.0), "measured {t}");
    assert_eq!(f["measured"]["keepalive_by"], "either");
    assert!(took <= 3.0 + 2.0 + 0.5, "took {took} s");
    eprintln!("haproxy timeout tunnel 3s: measured {t} s in {took:.2} s");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_ends_every_connection_at_two_seconds_is_a_lifetime_cap() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let (code, report, took) = idle(&lab.url("/ws?fault=fin:2s"), &["--samples", "1"]);
    assert_eq!(code, 1);
    let f = top(&report);
    assert_eq!(f["id"], "max-lifetime", "{report:#}");
    assert!(close_to(
        f["measured"]["max_lifetime_s"].as_f64().unwrap(),
        2.0
    ));
    assert!(took < 4.0, "took {took} s");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_healthy_path_reports_no_timeout() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let (code, report, _) = idle(&lab.url("/ws"), &["--max", "2s", "--samples", "1"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(top(&report)["id"], "healthy");
    assert!(top(&report)["title"]
        .as_str()
        .unwrap()
        .contains("No idle timeout below"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_probe_through_nginx_names_it_and_its_directive() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let Some(nginx) = support::nginx(lab.addr(), "proxy_read_timeout 2s;") else {
        return;
    };
    let out = Command::cargo_bin("wsdoctor")
        .unwrap()
        .args([
            "probe",
            &format!("ws://{}/ws", nginx.addr),
            "--watch",
            "4s",
            "--json",
        ])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = top(&report);
    assert_eq!(f["id"], "abnormal-close", "{report:#}");
    assert_eq!(f["measured"]["transport"], "eof");
    assert_eq!(f["intermediary"], "nginx", "{report:#}");
    let fixes = f["fix"].to_string();
    assert!(fixes.contains("proxy_read_timeout"), "{fixes}");
}

/// The lab server behind a fault proxy; both live as long as the returned values.
async fn through_proxy(faults: &str) -> (wsdoctor_lab::DiagServer, wsdoctor_lab::LabProxy) {
    let server = wsdoctor_lab::DiagServer::start(wsdoctor_lab::ServeConfig {
        ping_interval: None,
        greet: false,
        ..wsdoctor_lab::ServeConfig::default()
    })
    .await
    .unwrap();
    let proxy = wsdoctor_lab::LabProxy::start(wsdoctor_lab::ProxyConfig {
        faults: wsdoctor_lab::ProxyFault::parse_list(faults).unwrap(),
        ..wsdoctor_lab::ProxyConfig::new(server.addr())
    })
    .await
    .unwrap();
    (server, proxy)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_way_a_timer_ends_a_connection_is_measured() {
    for (how, transport, code) in [
        ("fin", Some("eof"), None),
        ("rst", Some("reset"), None),
        ("close-1001", None, Some(1001)),
    ] {
        let (_server, proxy) = through_proxy(&format!("idle-timeout=2s:{how}")).await;
        let (code_exit, report, took) = idle(&proxy.url("/ws"), &["--interval", "500ms"]);
        assert_eq!(code_exit, 1, "{how}");
        let f = top(&report);
        assert_eq!(f["id"], "idle-timeout", "{how}: {report:#}");
        let t = f["measured"]["idle_timeout_s"].as_f64().unwrap();
        assert!(close_to(t, 2.0), "{how}: measured {t}");
        assert_eq!(f["measured"]["keepalive_by"], "either", "{how}");
        assert_eq!(f["measured"]["transport"].as_str(), transport, "{how}");
        assert_eq!(f["measured"]["close_code"].as_u64(), code, "{how}");
        assert!(took <= 2.0 + 2.0 + 0.5, "{how}: took {took} s");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_timer_that_only_counts_data_is_told_apart() {
    let (_server, proxy) = through_proxy("idle-timeout=2s:fin:data-only").await;
    let (_, report, _) = idle(&proxy.url("/ws"), &["--interval", "500ms"]);
    let f = top(&report);
    assert_eq!(f["id"], "idle-timeout", "{report:#}");
    assert_eq!(f["measured"]["keepalive_by"], "data", "{report:#}");
    assert!(f["fix"].to_string().contains("ignores WebSocket pings"));
}

/// `wsdoctor serve` as tests start it: no pings of its own (so only the
/// arms' traffic moves), no greeting.
async fn quiet_serve() -> wsdoctor_lab::DiagServer {
    wsdoctor_lab::DiagServer::start(wsdoctor_lab::ServeConfig {
        ping_interval: None,
        greet: false,
        ..wsdoctor_lab::ServeConfig::default()
    })
    .await
    .unwrap()
}

fn evidence_lines(f: &Value) -> String {
    f["evidence"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_behind_nginx_is_paired_and_says_nginx_closed_both_sides() {
    let server = quiet_serve().await;
    let Some(nginx) = support::nginx(server.addr(), "proxy_read_timeout 3s;") else {
        return;
    };
    let (code, report, took) = idle(&format!("ws://{}/ws", nginx.addr), &[]);
    assert_eq!(code, 1);
    let f = top(&report);
    assert_eq!(f["id"], "idle-timeout", "{report:#}");
    let t = f["measured"]["idle_timeout_s"].as_f64().unwrap();
    assert!(close_to(t, 3.0), "measured {t}");
    assert_eq!(f["intermediary"], "nginx");
    let evidence = evidence_lines(f);
    assert!(
        evidence.contains("a TCP FIN without a close frame came to the server"),
        "{evidence}"
    );
    assert!(evidence.contains("closed both sides"), "{evidence}");
    let pairing = &report["observations"]["idle"]["pairing"];
    assert_eq!(pairing["asked"], 6, "{pairing:#}");
    assert_eq!(pairing["answered"], 6, "{pairing:#}");
    // Every sample carries the server's own view of the same connection.
    let samples = report["observations"]["idle"]["samples"]
        .as_array()
        .unwrap();
    assert!(samples.iter().all(|s| s["server"]["id"] == s["conn_id"]));
    assert!(took <= 3.0 + 2.0 + 0.5, "took {took} s");
    eprintln!("serve behind nginx proxy_read_timeout 3s: measured {t} s, paired, in {took:.2} s");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_inbound_arm_against_serve_directly_gets_ticks_and_survives() {
    let server = quiet_serve().await;
    let (code, report, took) = idle(
        &server.url("/ws"),
        &[
            "--arms",
            "silent,inbound,outbound",
            "--samples",
            "1",
            "--interval",
            "300ms",
            "--max",
            "2s",
        ],
    );
    assert_eq!(code, 0, "{report:#}");
    let f = top(&report);
    assert_eq!(f["id"], "healthy");
    let evidence = evidence_lines(f);
    assert!(
        evidence.contains("inbound arm: the server pushed messages"),
        "{evidence}"
    );
    assert!(
        evidence.contains("outbound arm: the client sent a message every interval and the server sent nothing back"),
        "{evidence}"
    );
    let samples = report["observations"]["idle"]["samples"]
        .as_array()
        .unwrap();
    let inbound = samples.iter().find(|s| s["arm"] == "inbound").unwrap();
    let ticks = inbound["connection"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|ev| {
            ev["from"] == "remote"
                && ev["preview"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("tick "))
        })
        .count();
    assert!(ticks >= 4, "{ticks} ticks in 2 s at 300 ms");
    let sent_by_us = inbound["connection"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|ev| ev["from"] == "local" && ev["type"] != "close")
        .count();
    assert_eq!(sent_by_us, 0, "the inbound arm sends nothing");
    assert!(took < 4.0, "took {took} s");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_timer_counting_only_server_to_client_bytes_is_found_by_the_one_direction_arms() {
    let server = quiet_serve().await;
    let proxy = wsdoctor_lab::LabProxy::start(wsdoctor_lab::ProxyConfig {
        faults: wsdoctor_lab::ProxyFault::parse_list("idle-timeout=2s:fin:down-only").unwrap(),
        ..wsdoctor_lab::ProxyConfig::new(server.addr())
    })
    .await
    .unwrap();
    let (code, report, took) = idle(
        &proxy.url("/ws"),
        &[
            "--arms",
            "silent,ping,inbound,outbound",
            "--interval",
            "500ms",
        ],
    );
    assert_eq!(code, 1);
    let f = top(&report);
    assert_eq!(f["id"], "idle-timeout", "{report:#}");
    assert!(close_to(
        f["measured"]["idle_timeout_s"].as_f64().unwrap(),
        2.0
    ));
    assert_eq!(
        f["measured"]["keepalive_by"], "server-to-client",
        "{report:#}"
    );
    assert!(f["fix"]
        .to_string()
        .contains("Only traffic from the server"));
    // The lab proxy closed both sides: the pairing says so.
    assert!(
        evidence_lines(f).contains("closed both sides"),
        "{report:#}"
    );
    assert!(took <= 2.0 + 2.0 + 0.5, "took {took} s");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_inbound_arm_against_a_server_that_sends_nothing_is_explained_not_waited_on() {
    // The lab server does not know `tick=`: nothing arrives on the arm.
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let (code, report, took) = idle(
        &lab.url("/ws"),
        &["--arms", "silent,inbound", "--samples", "1", "--max", "2s"],
    );
    assert_eq!(code, 0, "{report:#}");
    let evidence = evidence_lines(top(&report));
    assert!(
        evidence.contains("inbound arm: the server sent nothing after the handshake"),
        "{evidence}"
    );
    assert!(took < 4.0, "took {took} s");
}

#[tokio::test(flavor = "multi_thread")]
async fn random_drops_are_reported_as_a_distribution_not_an_idle_timeout() {
    let (_server, proxy) = through_proxy("random-drop=500ms-3s").await;
    // Every connection is dropped by 3 s, so the run ends then, far from
    // --max: a run that waited for --max is what the times below catch.
    let (code, report, took) = idle(
        &proxy.url("/ws"),
        &["--samples", "3", "--interval", "300ms", "--max", "10s"],
    );
    assert_eq!(code, 1);
    let f = top(&report);
    assert_eq!(f["id"], "abnormal-close", "{report:#}");
    assert!(
        f["title"].as_str().unwrap().contains("scattered"),
        "{report:#}"
    );
    assert!(f["measured"]["idle_timeout_s"].is_null());
    assert!(f["measured"]["spread_s"].as_f64().unwrap() > 0.1);
    assert!(evidence_lines(f).contains("median"));
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["id"] != "idle-timeout"),
        "{report:#}"
    );
    // Its own clock (no process start, which a loaded machine stretches).
    let ran_s = report["observations"]["idle"]["ran_ms"].as_f64().unwrap() / 1000.0;
    assert!(ran_s < 9.0, "ran {ran_s} s with --max 10s");
    assert!(took < 10.0, "took {took} s with --max 10s");
    eprintln!("random drops: ran {ran_s:.2} s, took {took:.2} s");
}

#[tokio::test(flavor = "multi_thread")]
async fn when_serve_itself_ends_connections_the_pairing_says_the_server_closed_first() {
    let server = quiet_serve().await;
    let Some(nginx) = support::nginx(server.addr(), "proxy_read_timeout 20s;") else {
        return;
    };
    // serve ends every connection after 2 s without a close frame; nginx
    // passes the FIN on, so the client alone cannot tell who it was.
    let url = format!("ws://{}/ws?fault=fin:2s", nginx.addr);
    let (code, report, took) = idle(&url, &["--samples", "1", "--interval", "500ms"]);
    assert_eq!(code, 1);
    let f = top(&report);
    assert_eq!(f["id"], "max-lifetime", "{report:#}");
    let evidence = evidence_lines(f);
    assert!(evidence.contains("the server closed first"), "{evidence}");
    assert!(
        evidence.contains(
            "the server ended it itself (the server closed TCP without a close frame (fin fault))"
        ),
        "{evidence}"
    );
    assert!(f["intermediary"].is_null(), "{report:#}");
    assert!(took < 4.5, "took {took} s");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_protocol_violation_is_reported_as_one_not_as_a_lifetime() {
    // The server announces a 2 GiB frame right after the 101.
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let (code, report, took) = idle(&lab.url("/ws?fault=huge-frame"), &["--samples", "1"]);
    assert_eq!(code, 1);
    let f = top(&report);
    assert_eq!(f["id"], "protocol-error", "{report:#}");
    assert_eq!(f["source"], "idle");
    assert_eq!(f["measured"]["connections_affected"], 3, "{report:#}");
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["id"] != "max-lifetime" && f["measured"]["max_lifetime_s"].is_null()),
        "{report:#}"
    );
    assert!(took < 4.0, "took {took} s");
}
