//! `wsdoctor reconnect` and `wsdoctor storm` end to end: reconnecting
//! clients written here (one per policy, at a shrunk time scale) and
//! python-websockets' own reconnect loop are pointed at the real binary,
//! and each client's policy must come out right.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;
use wsdoctor_evidence::{HeartbeatSettings, PongPolicy, Role};
use wsdoctor_sources::conn::driver::{drive, WatchPlan};
use wsdoctor_sources::conn::session::{Session, SessionConfig};
use wsdoctor_sources::conn::{self, ConnectOptions, Target};

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// A client that reconnects after every end with `delays[attempt]` (the
/// last one repeating), and never resets its attempt counter (like
/// reconnecting-websocket, whose counter resets only after 5 s up).
async fn reconnecting_client(url: String, delays: Vec<Duration>, stop: Arc<AtomicBool>) {
    let options = ConnectOptions::new(Target::parse(&url).unwrap());
    let mut attempt = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let origin = Instant::now();
        let heartbeat = HeartbeatSettings {
            ping_interval_ms: None,
            pong_timeout_ms: 10_000,
            pong_policy: PongPolicy::Answer,
        };
        let mut record = conn::new_record(&options.target, Role::Client, heartbeat);
        if let Some(open) = conn::open(&options, origin, &mut record).await {
            let mut session = Session::new(SessionConfig::default(), origin, open.opened_at);
            let (_never, close_at) =
                tokio::sync::watch::channel(Instant::now() + Duration::from_secs(3600));
            let mut plan = WatchPlan {
                close_at,
                code: 1000,
                reason: String::new(),
                read_buffer: 4096,
            };
            drive(open.stream, open.leftover, &mut session, &mut plan, |_| {}).await;
        }
        let delay = delays
            .get(attempt)
            .or(delays.last())
            .copied()
            .unwrap_or_default();
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}

/// xorshift: reproducible "random" numbers for the jittered client.
fn uniform(seed: u64, n: usize) -> Vec<f64> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

/// Starts `wsdoctor reconnect --listen 127.0.0.1:0 ARGS… --json` and
/// returns it with the port it says it bound (no port picked beforehand
/// that another process could take, and no connection of ours to the
/// server before the clients').
fn start_reconnect(args: &[&str]) -> (std::process::Child, u16) {
    let (child, addr) = support::spawn_listening(
        Command::cargo_bin("wsdoctor")
            .unwrap()
            .args(["reconnect", "--listen", "127.0.0.1:0", "--json"])
            .args(args)
            .stdout(Stdio::piped()),
        "ws",
    );
    (child, addr.port())
}

/// Runs `wsdoctor reconnect` with `extra` flags while `clients` (name,
/// delays) reconnect to it; returns the exit code and the JSON report.
async fn reconnect(clients: &[(&str, Vec<Duration>)], extra: &[&str]) -> (i32, Value) {
    let (child, port) =
        start_reconnect(&[&["--drop-after", "100ms", "--max", "20s"], extra].concat());
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = clients
        .iter()
        .map(|(name, delays)| {
            let url = format!("ws://127.0.0.1:{port}/ws?client={name}");
            tokio::spawn(reconnecting_client(url, delays.clone(), Arc::clone(&stop)))
        })
        .collect();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.abort();
    }
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    (out.status.code().unwrap_or(-1), report)
}

fn policy_of<'a>(report: &'a Value, client: &str) -> &'a str {
    report["observations"]["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["client"] == client)
        .and_then(|p| p["fit"]["kind"].as_str())
        .unwrap_or_else(|| panic!("no policy for {client}: {report:#}"))
}

fn finding_for<'a>(report: &'a Value, client: &str) -> Option<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["subject"] == format!("client={client}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn each_policy_is_classified() {
    let jitter: Vec<Duration> = uniform(0x9E37_79B9_7F4A_7C15, 8)
        .iter()
        .enumerate()
        .map(|(i, u)| Duration::from_secs_f64(u * (0.05 * 2f64.powi(i as i32)).min(2.0)))
        .collect();
    let clients = [
        ("immediate", vec![ms(0)]),
        ("fixed", vec![ms(300)]),
        ("exponential", (0..7).map(|i| ms(50 << i)).collect()),
        ("jitter", jitter),
    ];
    let started = Instant::now();
    let (code, report) = reconnect(&clients, &["--drops", "7"]).await;
    eprintln!(
        "classified 4 clients in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["command"], "reconnect");
    assert_eq!(report["observations"]["reconnect"]["ended_by"], "complete");
    assert_eq!(policy_of(&report, "immediate"), "immediate");
    assert_eq!(policy_of(&report, "fixed"), "fixed");
    assert_eq!(policy_of(&report, "exponential"), "exponential");
    assert_eq!(policy_of(&report, "jitter"), "exponential-jitter");

    let f = finding_for(&report, "immediate").unwrap();
    assert_eq!(f["id"], "reconnect-no-backoff");
    assert_eq!(f["measured"]["reconnect_policy"], "immediate");
    assert_eq!(
        f["measured"]["reconnect_delays_s"]
            .as_array()
            .unwrap()
            .len(),
        7
    );
    let f = finding_for(&report, "fixed").unwrap();
    assert_eq!(f["id"], "reconnect-no-backoff");
    let fixed = f["measured"]["reconnect_delays_s"][2].as_f64().unwrap();
    assert!((fixed - 0.3).abs() < 0.05, "{fixed}");
    let f = finding_for(&report, "exponential").unwrap();
    assert_eq!(f["id"], "reconnect-no-jitter");
    assert!(f["fix"][0]["snippet"]
        .as_str()
        .unwrap()
        .contains("Math.random()"));
    assert!(finding_for(&report, "jitter").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_in_lockstep_are_named_and_the_storm_is_estimated() {
    let schedule: Vec<Duration> = (0..5).map(|i| ms(50 << i)).collect();
    let clients = [
        ("a", schedule.clone()),
        ("b", schedule.clone()),
        ("c", schedule),
    ];
    let (code, report) = reconnect(
        &clients,
        &[
            "--drops",
            "5",
            "--close-code",
            "rst,1013,fin",
            "--clients",
            "1000",
        ],
    )
    .await;
    assert_eq!(code, 1);
    for name in ["a", "b", "c"] {
        let f = finding_for(&report, name).unwrap();
        assert_eq!(f["id"], "reconnect-no-jitter", "{report:#}");
        assert_eq!(f["confidence"], 0.9);
        assert!(f.to_string().contains("same schedule"), "{f:#}");
        assert!(f.to_string().contains("after close 1013"), "{f:#}");
    }
    let runs = &report["observations"]["storm"]["runs"];
    let measured = runs[0][1]["peak_after"][0].as_u64().unwrap();
    let jittered = runs[1][1]["peak_after"][0].as_u64().unwrap();
    assert_eq!(measured, 1000, "the whole herd in one second");
    assert!(jittered < 500, "{jittered}");
}

#[tokio::test(flavor = "multi_thread")]
async fn python_websockets_reconnect_loop_is_exponential_without_jitter() {
    let ok = Command::new("python3")
        .args(["-c", "import websockets"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install python3 websockets"
        );
        eprintln!("skipped: python3 with websockets is not installed");
        return;
    }
    let (child, port) = start_reconnect(&[
        "--drop-after",
        "300ms",
        "--drops",
        "2",
        "--refuse",
        "4",
        "--max",
        "20s",
    ]);
    // The library's own loop, with its backoff constants scaled down
    // through the environment variables it documents (5 s → 100 ms).
    let script = r#"
import asyncio, sys, websockets
async def main(uri):
    async for ws in websockets.connect(uri, ping_interval=0.1):
        try:
            async for m in ws:
                pass
        except websockets.ConnectionClosed:
            continue
asyncio.run(main(sys.argv[1]))
"#;
    let mut python = Command::new("python3")
        .args(["-c", script, &format!("ws://127.0.0.1:{port}/?client=py")])
        .env("WEBSOCKETS_BACKOFF_INITIAL_DELAY", "0.1")
        .env("WEBSOCKETS_BACKOFF_MIN_DELAY", "0.1")
        .env("WEBSOCKETS_BACKOFF_MAX_DELAY", "5")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let _ = python.kill();
    let _ = python.wait();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(policy_of(&report, "py"), "exponential", "{report:#}");
    let f = finding_for(&report, "py").unwrap();
    assert_eq!(f["id"], "reconnect-no-jitter");
    assert!(f.to_string().contains("pings on its own"), "{f:#}");
    eprintln!("python-websockets: {}", f["evidence"][1]);
}

#[test]
fn storm_presets_match_their_published_schedules() {
    let run = |args: &[&str]| -> (i32, Value) {
        let out = Command::cargo_bin("wsdoctor")
            .unwrap()
            .arg("storm")
            .args(args)
            .arg("--json")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            serde_json::from_slice(&out.stdout).unwrap(),
        )
    };
    // partysocket: 3 s, ×1.3, no jitter → attempts at 3, 6.9, 11.97 s; the
    // whole population in each of those seconds.
    let (code, report) = run(&["--policy", "partysocket", "--clients", "1000"]);
    assert_eq!(code, 1);
    assert_eq!(report["findings"][0]["id"], "reconnect-no-jitter");
    let wave = &report["observations"]["storm"]["runs"][0][1]["per_second"];
    assert_eq!(wave[3], 1000);
    assert_eq!(wave[6], 1000);
    assert_eq!(wave[11], 1000);
    // Explicit full jitter is healthy.
    let (code, report) = run(&[
        "--base", "1s", "--factor", "2", "--cap", "30s", "--jitter", "full",
    ]);
    assert_eq!(code, 0, "{report:#}");
    // Unknown presets are a usage error.
    let (code, _) = (
        Command::cargo_bin("wsdoctor")
            .unwrap()
            .args(["storm", "--policy", "nope"])
            .output()
            .unwrap()
            .status
            .code()
            .unwrap_or(-1),
        (),
    );
    assert_eq!(code, 2);
}
