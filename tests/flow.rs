//! `wsdoctor flow` end to end: a ticking `serve` behind the lab proxy's
//! `stall` fault (data frames stop, pings and pongs still pass) is a
//! stalled handler, found within one expected interval; the same server
//! without the fault is healthy.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::process::Command;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;
use wsdoctor_lab::{DiagServer, LabProxy, ProxyConfig, ProxyFault, ServeConfig};

async fn ticking_server() -> DiagServer {
    DiagServer::start(ServeConfig {
        tick: Some(Duration::from_millis(100)),
        greet: false,
        ..ServeConfig::default()
    })
    .await
    .unwrap()
}

/// `wsdoctor flow URL --expect-every EXPECT EXTRA… --json`: its exit code,
/// report and wall time in seconds.
async fn flow(url: String, expect_every: &str, extra: &[&str]) -> (i32, Value, f64) {
    let expect_every = expect_every.to_owned();
    let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let out = Command::cargo_bin("wsdoctor")
            .unwrap()
            .args(["flow", &url, "--expect-every", &expect_every, "--json"])
            .args(&extra)
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        (
            out.status.code().unwrap_or(-1),
            report,
            started.elapsed().as_secs_f64(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_stream_with_live_pongs_is_a_stalled_handler() {
    let server = ticking_server().await;
    let mut config = ProxyConfig::new(server.addr());
    config.faults = ProxyFault::parse_list("stall=500ms").unwrap();
    let proxy = LabProxy::start(config).await.unwrap();
    let (code, report, took) = flow(proxy.url("/ws"), "200ms", &["--max", "10s"]).await;
    assert_eq!(code, 1, "{report:#}");
    let f = &report["findings"][0];
    assert_eq!(f["id"], "handler-stalled", "{report:#}");
    assert_eq!(f["source"], "flow");
    let stopped = f["measured"]["stall_after_s"].as_f64().unwrap();
    assert!(
        (0.3..=0.55).contains(&stopped),
        "messages stopped at {stopped}"
    );
    let stall = &report["observations"]["flow"]["stall"];
    // Certain within one expected interval (200 ms) of the first missed tick.
    let at = stall["at_ms"].as_u64().unwrap();
    let last = stall["last_message_ms"].as_u64().unwrap();
    assert!(
        at <= last + 200 + 200,
        "stall found at {at} ms, last message {last} ms"
    );
    assert!(stall["last_pong_rtt_us"].as_u64().is_some());
    assert!(took < 5.0, "reported as soon as certain, took {took} s");
    eprintln!("stall found {} ms after the last message", at - last);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_healthy_ticking_server_gives_no_problem() {
    let server = ticking_server().await;
    // Ticks every 400 ms (this connection's `tick=`), expected every 800 ms:
    // one lost tick is an 800 ms gap, and the 400 ms left over take a loaded
    // machine's scheduling (a 100 ms tick against 200 ms saw gaps of
    // 207–264 ms at load averages of 7–27, a 250 ms tick against 500 ms one
    // of 517 ms).
    let (code, report, _) = flow(server.url("/ws?tick=400ms"), "800ms", &["--max", "4s"]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["findings"][0]["id"], "healthy");
    let flow = &report["observations"]["flow"];
    assert!(flow["messages"].as_u64().unwrap() >= 7, "{flow:#}");
    let largest = flow["largest_gap_ms"][0].as_u64().unwrap();
    assert!(largest < 800, "largest gap {largest} ms: {flow:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blackholed_path_is_half_open() {
    let server = ticking_server().await;
    let mut config = ProxyConfig::new(server.addr());
    config.faults = ProxyFault::parse_list("blackhole-after=300ms").unwrap();
    let proxy = LabProxy::start(config).await.unwrap();
    let (code, report, _) = flow(proxy.url("/ws"), "200ms", &["--max", "10s"]).await;
    assert_eq!(code, 1);
    let f = &report["findings"][0];
    assert_eq!(f["id"], "abnormal-close", "{report:#}");
    assert_eq!(f["measured"]["transport"], "half-open");
}
