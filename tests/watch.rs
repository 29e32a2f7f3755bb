//! `wsdoctor watch` end to end: a real nginx idle timeout and a lab server
//! that keeps ending connections show up in the rolling findings, the
//! metrics (checked by promtool) and the events file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;
use support::free_port;
use wsdoctor_lab::{DiagServer, LabConfig, LabServer, ServeConfig};

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_timeout_shows_in_findings_metrics_and_events() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let Some(nginx) = support::nginx(lab.addr(), "proxy_read_timeout 2s;") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    // Picked here (another process could take it before watch binds):
    // with --json, watch does not say where a port-0 metrics server bound.
    let metrics_port = free_port();
    let mut child = Command::cargo_bin("wsdoctor")
        .unwrap()
        .args([
            "watch",
            &format!("ws://{}/ws", nginx.addr),
            "--conns",
            "4",
            "--interval",
            "500ms",
            "--duration",
            "7s",
        ])
        .args(["--backoff", "100ms", "--backoff-max", "300ms", "--json"])
        .args([
            "--metrics",
            &format!("127.0.0.1:{metrics_port}"),
            "--events",
        ])
        .arg(&events)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Scrape while it runs, once the first drop (at ~2 s) and the finding
    // it makes are in (a fixed 5 s wait was most of the 7 s run on a
    // loaded machine). Bounded by the run itself, whose metrics go with it,
    // and by 20 s (a report too big for the pipe would hold it open).
    let drop_line = r#"wsdoctor_watch_drops_total{arm="silent",how="eof",code=""}"#;
    let finding_line = r#"wsdoctor_watch_finding{id="idle-timeout",severity="error"} 1"#;
    let mut metrics = String::new();
    let mut health = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        if let Some(now) = http_get(metrics_port, "/metrics") {
            metrics = now;
            if metrics.contains(drop_line) && metrics.contains(finding_line) {
                health = http_get(metrics_port, "/healthz").unwrap_or_default();
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let out = child.wait_with_output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["command"], "watch");
    let f = &report["findings"][0];
    assert_eq!(f["id"], "idle-timeout", "{report:#}");
    let t = f["measured"]["idle_timeout_s"].as_f64().unwrap();
    assert!((t - 2.0).abs() < 0.15, "measured {t}");

    assert!(metrics.contains(drop_line), "{metrics}");
    assert!(metrics.contains("wsdoctor_watch_connection_lifetime_seconds_bucket"));
    assert!(metrics.contains(finding_line), "{metrics}");
    assert!(health.ends_with("ok\n"), "{health}");
    if let Some(promtool) = support::require("promtool") {
        let body = metrics
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let mut check = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        check
            .stdin
            .take()
            .unwrap()
            .write_all(body.as_bytes())
            .unwrap();
        let result = check.wait_with_output().unwrap();
        assert!(
            result.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr)
        );
    }
    let lines = std::fs::read_to_string(&events).unwrap();
    let drops: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        drops
            .iter()
            .any(|d| d["event"] == "drop" && d["drop"]["arm"] == "silent"),
        "{lines}"
    );
}

/// A plain GET over a TCP socket (the metrics endpoint is HTTP/1.1 with
/// Connection: close); `None` while nothing answers there.
fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_ends_every_connection_at_once_is_a_mass_disconnect() {
    // Every connection ends 1 s after it opens; the four open together, so
    // they also end together: what a reload looks like.
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let out = Command::cargo_bin("wsdoctor")
        .unwrap()
        .args([
            "watch",
            &lab.url("/ws?fault=close:1012:1s"),
            "--conns",
            "4",
            "--duration",
            "2500ms",
            "--json",
        ])
        .args(["--backoff", "5s", "--backoff-max", "5s"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids[0], "mass-disconnect", "{report:#}");
    let evidence = report["findings"][0]["evidence"].to_string();
    assert!(evidence.contains("1012"), "the burst says how: {evidence}");
}

/// Watch's silent connections through HAProxy over two `serve` instances,
/// cut every 700 ms by `timeout tunnel`; returns the finding ids.
async fn reconnects_through_haproxy(balance: &str) -> Option<Vec<String>> {
    let mut servers = Vec::new();
    for name in ["serve-a", "serve-b"] {
        servers.push(
            DiagServer::start(ServeConfig {
                instance: name.to_owned(),
                ..ServeConfig::default()
            })
            .await
            .unwrap(),
        );
    }
    let addrs: Vec<_> = servers.iter().map(DiagServer::addr).collect();
    let proxy = support::haproxy_balancing(&addrs, balance, "timeout tunnel 700ms")?;
    let url = format!("ws://{}/ws?ping=off", proxy.addr);
    let out = Command::cargo_bin("wsdoctor")
        .unwrap()
        .args(["watch", &url, "--arms", "silent", "--conns", "1"])
        .args([
            "--duration",
            "4s",
            "--backoff",
            "100ms",
            "--backoff-max",
            "200ms",
            "--json",
        ])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    Some(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_owned())
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn reconnects_spread_over_instances_are_a_missing_sticky_session() {
    let Some(spread) = reconnects_through_haproxy("roundrobin").await else {
        return;
    };
    assert!(
        spread.iter().any(|id| id == "sticky-session-missing"),
        "{spread:?}"
    );
    // Hashing by source address keeps one client on one instance.
    let pinned = reconnects_through_haproxy("source").await.unwrap();
    assert!(pinned.iter().any(|id| id == "idle-timeout"), "{pinned:?}");
    assert!(
        !pinned.iter().any(|id| id == "sticky-session-missing"),
        "{pinned:?}"
    );
}
