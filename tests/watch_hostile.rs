//! `wsdoctor watch` against hostile servers (issue 19 items 8 and 9): one
//! that never answers the upgrade, one that drips its 101, one that breaks
//! the protocol right after it. A watch that never saw a connection open
//! is never healthy, it ends within a second of its duration, and a
//! protocol violation is reported as one, not as a timer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

/// The hostile peer in `mode`, or `None` (skipped) without python3.
fn hostile(mode: &str) -> Option<(support::KillOnDrop, u16)> {
    let peer = support::python_peer(&["tests/peers/hostile_handshake.py", mode], |l| {
        l.trim().parse().ok()
    });
    if peer.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 is needed for the hostile peer"
        );
        eprintln!("skipped: python3 did not start the hostile peer");
    }
    peer
}

/// Runs `watch URL --duration DUR --json` plus `extra`; returns the exit
/// code, the report and how long it ran.
fn watch(url: &str, duration: &str, extra: &[&str]) -> (i32, Value, Duration) {
    let started = Instant::now();
    let out = Command::cargo_bin("wsdoctor")
        .unwrap()
        .args(["watch", url, "--duration", duration, "--json"])
        .args(extra)
        .output()
        .unwrap();
    let ran = started.elapsed();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    support::schema_validate(&report);
    (out.status.code().unwrap_or(-1), report, ran)
}

fn ids(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Nothing opened: a failure naming the handshake timeout, exit 1, and the
/// watch over within a second of its duration (the pending handshakes are
/// cancelled at the deadline, not waited for).
fn never_opens(mode: &str) {
    let Some((_peer, port)) = hostile(mode) else {
        return;
    };
    let (code, report, ran) = watch(&format!("ws://127.0.0.1:{port}/ws"), "3s", &[]);
    assert_eq!(code, 1, "{report:#}");
    assert!(!ids(&report).contains(&"healthy".to_owned()), "{report:#}");
    let f = &report["findings"][0];
    assert_eq!(f["id"], "backend-unavailable", "{report:#}");
    let title = f["title"].as_str().unwrap();
    assert!(title.contains("no connection ever opened"), "{title}");
    assert!(
        title.contains("no HTTP response to the upgrade request"),
        "{title}"
    );
    assert_eq!(report["observations"]["watch"]["opened_total"], 0);
    // By its own clock (the start of a debug build's process is not the
    // watch's), and loosely by the wall clock: a process that outlives its
    // report, waiting on a handshake, still fails.
    let took = report["duration_s"].as_f64().unwrap();
    assert!(took < 4.0, "a 3 s watch ran {took} s");
    assert!(
        ran < Duration::from_secs_f64(took + 3.0),
        "a 3 s watch ran {took} s, its process {ran:?}"
    );
}

#[test]
fn a_server_that_never_answers_is_never_healthy_and_the_watch_ends_on_time() {
    never_opens("silent");
}

#[test]
fn a_server_that_drips_its_101_is_never_healthy_and_the_watch_ends_on_time() {
    never_opens("drip");
}

#[test]
fn a_protocol_violation_is_a_protocol_error_not_a_timer() {
    let Some((_peer, port)) = hostile("badframe") else {
        return;
    };
    let (code, report, _) = watch(
        &format!("ws://127.0.0.1:{port}/ws"),
        "2s",
        &["--backoff", "100ms", "--backoff-max", "200ms"],
    );
    assert_eq!(code, 1, "{report:#}");
    let ids = ids(&report);
    assert_eq!(ids[0], "protocol-error", "{report:#}");
    for timer in ["max-lifetime", "idle-timeout", "mass-disconnect", "healthy"] {
        assert!(!ids.contains(&timer.to_owned()), "{timer}: {report:#}");
    }
    assert!(
        report["findings"][0]["evidence"][0]
            .as_str()
            .unwrap()
            .contains("opcode"),
        "{report:#}"
    );
}
