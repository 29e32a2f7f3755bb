//! `wsdoctor load` end to end: the knee of a real server's connection cap,
//! a real nginx with few worker_connections, a healthy ramp, and the
//! generator's own file-descriptor limit reported as its own.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;
use wsdoctor_lab::{LabConfig, LabServer};

fn load(url: &str, args: &[&str]) -> (i32, Value) {
    let out = Command::cargo_bin("wsdoctor")
        .unwrap()
        .args([
            "load",
            url,
            "--json",
            "--step-hold",
            "300ms",
            "--hold",
            "500ms",
        ])
        .args(args)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), report)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_healthy_ramp_gives_no_problem() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let (code, report) = load(
        &lab.url("/ws"),
        &["-c", "300", "--rate", "2000", "--message-every", "100ms"],
    );
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["findings"][0]["id"], "healthy");
    let steps = report["observations"]["load"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 5);
    assert!(steps.iter().all(|s| s["opened"] == s["attempted"]));
    // Echoes count in the step they were sent in, not in the last one
    // (connections report them when they end).
    for step in steps {
        assert!(
            step["echo_rtt"]["count"].as_u64().unwrap_or(0) > 0,
            "no echo counted in step {}: {step:#}",
            step["index"]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_knee_of_a_server_connection_cap_is_found() {
    // The lab serves at most 1,024 connections at once and closes the rest at accept.
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let (code, report) = load(
        &lab.url("/ws"),
        &["-c", "1200", "--step", "300", "--rate", "3000"],
    );
    assert_eq!(code, 1, "{report:#}");
    let f = &report["findings"][0];
    assert_eq!(f["id"], "load-limit", "{report:#}");
    let limit = f["measured"]["concurrency_limit"].as_u64().unwrap();
    assert!((1000..=1024).contains(&limit), "knee at {limit}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_knee_of_nginx_worker_connections_is_found() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    // Each proxied WebSocket holds two of nginx's connections (client and
    // upstream) and the listener one more: 64 allow 31 WebSockets.
    let Some(nginx) = support::nginx_with(lab.addr(), "", "worker_connections 64;") else {
        return;
    };
    let (code, report) = load(
        &format!("ws://{}/ws", nginx.addr),
        &["-c", "60", "--step", "10", "--rate", "500"],
    );
    assert_eq!(code, 1, "{report:#}");
    let f = &report["findings"][0];
    assert_eq!(f["id"], "load-limit", "{report:#}");
    let limit = f["measured"]["concurrency_limit"].as_u64().unwrap();
    eprintln!("nginx worker_connections 64: knee at {limit} WebSockets");
    assert!((29..=32).contains(&limit), "knee at {limit}: {report:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_generators_own_fd_limit_is_reported_as_its_own() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    // A hard limit of 100 open files for the generator only (prlimit via the shell's ulimit).
    let exe = assert_cmd::cargo::cargo_bin("wsdoctor");
    let script = format!(
        "ulimit -n 100 && exec {} load {} -c 200 --rate 2000 --step 200 --hold 300ms --json",
        exe.display(),
        lab.url("/ws")
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let f = &report["findings"][0];
    assert_eq!(f["subject"], "wsdoctor (this machine)", "{report:#}");
    assert!(f["title"].as_str().unwrap().contains("file descriptors"));
    assert!(report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["subject"] == "wsdoctor (this machine)" || f["id"] != "load-limit"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_haproxy_maxconn_that_queues_is_a_limit_not_a_healthy_ramp() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    // `maxconn` in `defaults` is each frontend's: HAProxy accepts no more
    // than 8 at once and leaves the rest waiting in the listen backlog
    // until a slot frees, here when the held connections close.
    let Some(haproxy) = support::haproxy(lab.addr(), "maxconn 8") else {
        return;
    };
    let (code, report) = load(
        &format!("ws://{}/ws", haproxy.addr),
        &["-c", "12", "--step", "4", "--rate", "500"],
    );
    support::schema_validate(&report);
    assert_eq!(code, 1, "{report:#}");
    let f = &report["findings"][0];
    assert_eq!(f["id"], "load-limit", "{report:#}");
    assert_eq!(f["measured"]["concurrency_limit"], 8, "{report:#}");
    let evidence = f["evidence"].to_string();
    assert!(evidence.contains("queued, not refused"), "{evidence}");
    // Never more held at once than were open at once.
    let peak = report["observations"]["load"]["peak_open"]
        .as_u64()
        .unwrap();
    assert_eq!(peak, 8, "{report:#}");
    eprintln!("haproxy maxconn 8, -c 12: {}", f["title"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_101_invalid_is_the_handshake_not_a_limit() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let (code, report) = load(
        &lab.url("/ws?fault=bad-accept"),
        &["-c", "20", "--rate", "500"],
    );
    assert_eq!(code, 1, "{report:#}");
    let f = &report["findings"][0];
    assert_eq!(f["id"], "handshake-invalid", "{report:#}");
    assert!(
        !f["title"].as_str().unwrap().contains("Failures begin"),
        "{report:#}"
    );
}
