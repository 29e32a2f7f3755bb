//! Server heartbeats and server closes, against real components: nginx
//! (Debian) in front of a python-websockets server (tests/peers) with a
//! chosen ping interval, or one that ends every connection itself.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Instant;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

/// The python-websockets server with these arguments, and its address;
/// `None` (skipped, except under CI) without python3 and websockets.
fn python_server(args: &[&str]) -> Option<(support::KillOnDrop, SocketAddr)> {
    let mut all = vec!["tests/peers/python_websockets_echo.py"];
    all.extend_from_slice(args);
    match support::python_peer(&all, |l| l.trim().parse().ok()) {
        Some((peer, port)) => Some((peer, SocketAddr::from(([127, 0, 0, 1], port)))),
        None => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must install python3 and the websockets package"
            );
            eprintln!("skipped: python3 with the websockets package is not installed");
            None
        }
    }
}

fn wsdoctor(args: &[&str]) -> (i32, Value, f64) {
    let started = Instant::now();
    let out = Command::cargo_bin("wsdoctor")
        .unwrap()
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let took = started.elapsed().as_secs_f64();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    support::schema_validate(&report);
    (out.status.code().unwrap_or(-1), report, took)
}

fn finding<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no {id}: {report:#}"))
}

#[test]
fn a_heartbeat_slower_than_nginxs_timer_is_too_slow_not_absent() {
    // nginx cuts upstream silence at 2 s; the server pings every 3 s.
    let Some((_server, addr)) = python_server(&["3"]) else {
        return;
    };
    let Some(nginx) = support::nginx(addr, "proxy_read_timeout 2s;") else {
        return;
    };
    let url = format!("ws://{}/", nginx.addr);
    let (code, report, took) = wsdoctor(&[
        "idle",
        &url,
        "--interval",
        "500ms",
        "--max",
        "20s",
        "--heartbeat-window",
        "7s",
    ]);
    assert_eq!(code, 1);
    let top = &report["findings"][0];
    assert_eq!(top["id"], "idle-timeout", "{report:#}");
    let t = top["measured"]["idle_timeout_s"].as_f64().unwrap();
    assert!((t - 2.0).abs() <= 0.15, "measured {t}");
    assert_eq!(top["intermediary"], "nginx");
    let slow = finding(&report, "heartbeat-too-slow");
    let p = slow["measured"]["server_ping_interval_s"].as_f64().unwrap();
    assert!((p - 3.0).abs() <= 0.2, "ping interval {p}");
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["id"] != "no-heartbeat"),
        "{report:#}"
    );
    // The fix: half the measured 2 s timer.
    assert!(slow["fix"].to_string().contains("every 1 s"), "{slow:#}");
    // The survivors were kept for the window, and no longer.
    assert!((7.0..11.0).contains(&took), "took {took} s");
    let idle = &report["observations"]["idle"];
    assert_eq!(idle["heartbeat_window_ms"], 7000);
    assert!(
        idle["timer_certain_ms"].as_u64().unwrap() < 4000,
        "{idle:#}"
    );
    eprintln!(
        "nginx 2 s, server pings every 3 s: timeout {t} s, ping interval {p} s, in {took:.1} s"
    );
}

#[test]
fn no_heartbeat_is_stated_with_its_window() {
    let Some((_server, addr)) = python_server(&["0"]) else {
        return;
    };
    let Some(nginx) = support::nginx(addr, "proxy_read_timeout 2s;") else {
        return;
    };
    let url = format!("ws://{}/", nginx.addr);
    let (code, report, took) = wsdoctor(&[
        "idle",
        &url,
        "--interval",
        "500ms",
        "--max",
        "20s",
        "--heartbeat-window",
        "5s",
    ]);
    assert_eq!(code, 1);
    assert_eq!(report["findings"][0]["id"], "idle-timeout", "{report:#}");
    let none = finding(&report, "no-heartbeat");
    let title = none["title"].as_str().unwrap();
    // The window it states is the one it watched (5 s, and the closing).
    let watched = none["measured"]["watched_s"].as_f64().unwrap();
    assert!(
        title.starts_with(&format!("No ping from the server in {watched:.1} s")),
        "{title}"
    );
    // 5 s is shorter than common heartbeats: said, not claimed.
    assert_eq!(none["severity"], "info");
    assert!(title.contains("cannot be excluded"), "{title}");
    assert!((4.9..6.0).contains(&watched), "watched {watched}");
    assert!((5.0..9.0).contains(&took), "took {took} s");
}

#[test]
fn a_server_closing_during_the_probe_watch_is_the_answer() {
    let Some((_server, addr)) = python_server(&[
        "0",
        "--close-after",
        "1",
        "--close-reason",
        "done for today",
    ]) else {
        return;
    };
    let url = format!("ws://{addr}/");
    let (code, report, _) = wsdoctor(&["probe", &url, "--watch", "3s"]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["verdict"], "problems");
    let f = &report["findings"][0];
    assert_eq!(f["id"], "server-close", "{report:#}");
    assert_eq!(f["measured"]["close_code"], 1000);
    assert_eq!(f["measured"]["close_reason"], "done for today");
    let age = f["measured"]["open_for_s"].as_f64().unwrap();
    assert!((0.9..1.5).contains(&age), "age {age}");
    assert!(f["fix"].to_string().contains("done for today"));
    assert!(report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["id"] != "healthy"));
}

#[test]
fn a_server_ending_every_connection_at_one_age_is_a_server_close_in_idle() {
    let Some((_server, addr)) =
        python_server(&["0", "--close-after", "2", "--close-reason", "session over"])
    else {
        return;
    };
    let url = format!("ws://{addr}/");
    let (code, report, _) = wsdoctor(&["idle", &url, "--samples", "1", "--max", "10s"]);
    assert_eq!(code, 1, "{report:#}");
    let f = finding(&report, "server-close");
    assert_eq!(f["measured"]["close_reason"], "session over");
    assert_eq!(f["measured"]["connections_affected"], 3);
    assert!(
        f["title"].as_str().unwrap().contains("at the same age"),
        "{f:#}"
    );
}
