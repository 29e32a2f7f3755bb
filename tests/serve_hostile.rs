//! `wsdoctor serve` as its own process against a burst of 10,000 connections
//! opened and dropped at once (two processes, so neither needs more than
//! the machine's 20,000 open files): it keeps serving, and its memory
//! stays bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

use support::{free_port, KillOnDrop as Killed};

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// `wsdoctor serve` on `port`, without pings.
fn serve(port: u16) -> Command {
    let mut command = Command::cargo_bin("wsdoctor").unwrap();
    command.args([
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--ping-interval",
        "0",
    ]);
    command
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_connections_dropped_at_once_leave_serve_serving() {
    // Port 0 and the address its banner names (said once it listens).
    let (server, addr) = support::spawn_listening(serve(0).stdout(Stdio::null()), "ws");
    let server = Killed(server);
    let port = addr.port();
    let before = rss_kib(server.0.id());
    let mut burst = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            Ok(s) => burst.push(s),
            Err(e) => panic!("connect {} failed: {e}", burst.len()),
        }
    }
    let during = rss_kib(server.0.id());
    drop(burst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let out = Command::cargo_bin("wsdoctor")
        .unwrap()
        .args([
            "probe",
            &format!("ws://127.0.0.1:{port}/ws"),
            "--watch",
            "300ms",
            "--send",
            "still here",
            "--json",
        ])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["verdict"], "healthy", "{report:#}");
    eprintln!("serve RSS: {before} KiB idle, {during} KiB with 10,000 half-open handshakes");
    // 10,000 connections that never finished a handshake cost a small read buffer each at most.
    assert!(
        during < before + 400_000,
        "RSS grew from {before} to {during} KiB"
    );
}

/// Probes `port` once; the verdict.
fn probe_verdict(port: u16) -> Value {
    let out = Command::cargo_bin("wsdoctor")
        .unwrap()
        .args([
            "probe",
            &format!("ws://127.0.0.1:{port}/ws"),
            "--watch",
            "200ms",
            "--json",
        ])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    report["verdict"].clone()
}

#[test]
fn serve_outlives_its_stdout_and_stderr() {
    // `serve | head -3` and a closed terminal: whoever read the output is
    // gone before the banner is written. The server goes on serving.
    let port = free_port();
    let mut child = serve(port)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    drop(child.stderr.take());
    let server = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "serve did not start (or died)");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The first connection's line goes to the closed stdout when it ends;
    // the second must still be served.
    assert_eq!(probe_verdict(port), "healthy");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(probe_verdict(port), "healthy");
    drop(server);
}
