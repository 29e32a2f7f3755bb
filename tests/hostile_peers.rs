//! Hostile peers against the real binary, all on 127.0.0.1 and bounded in
//! time: clients that flood `serve` and never read (tests/peers/
//! hostile_client.py), bad input (text that is not UTF-8, oversize frames,
//! endless fragments), and a server that floods pings and then stops
//! reading (tests/peers/hostile_server.py) against `probe` and `idle`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

use support::KillOnDrop as Killed;

/// What one connection may grow `serve` by, whatever its client sends or
/// refuses to read: the 64 KiB outbound bound, one read and one echoed
/// message, with room for the allocator (a debug build).
const SERVE_GROWTH_KIB: u64 = 16 * 1024;

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

/// `wsdoctor serve` on a port of its choosing (the one its banner names),
/// writing its events to `events`; with a certificate file, wss:// only.
fn serve(events: &Path, self_signed: Option<&Path>) -> (Killed, u16) {
    let mut command = Command::cargo_bin("wsdoctor").unwrap();
    command.args(["serve", "--listen", "127.0.0.1:0"]);
    command
        .args(["--ping-interval", "0", "--events"])
        .arg(events);
    if let Some(cert) = self_signed {
        command.arg("--self-signed").arg(cert);
    }
    let scheme = if self_signed.is_some() { "wss" } else { "ws" };
    let (server, addr) = support::spawn_listening(command.stdout(Stdio::null()), scheme);
    (Killed(server), addr.port())
}

/// A Python peer from tests/peers; `None` (a skip) without python3, except
/// under CI.
fn python(script: &str, args: &[String]) -> Option<Child> {
    support::require("python3")?;
    let child = Command::new("python3")
        .arg("-u")
        .arg(format!("tests/peers/{script}"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Some(child)
}

fn first_line(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    line
}

/// Runs hostile_client.py and returns its report line.
fn hostile_client(mode: &str, port: u16, extra: &[&str]) -> Option<(Killed, Value)> {
    let mut args = vec![mode.to_owned(), port.to_string()];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let mut child = python("hostile_client.py", &args)?;
    let line = first_line(&mut child);
    let report = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    Some((Killed(child), report))
}

/// A plain client opens a WebSocket on `port` and gets "hi" echoed.
fn echo_round_trip(port: u16) -> bool {
    let Ok(mut tcp) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp.write_all(
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .unwrap();
    // "hi", masked with the zero key.
    tcp.write_all(&[0x81, 0x82, 0, 0, 0, 0, b'h', b'i'])
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match tcp.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
        if seen.windows(4).any(|w| w == [0x81, 0x02, b'h', b'i']) {
            return true;
        }
    }
    false
}

/// The connections serve recorded, as JSON, once one ended as `kind` (at
/// most `wait`).
fn ended(events: &Path, kind: &str, wait: Duration) -> Vec<Value> {
    let deadline = Instant::now() + wait;
    loop {
        let ends: Vec<Value> = std::fs::read_to_string(events)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| v["connection"].clone())
            .collect();
        if ends.iter().any(|c| c["end"]["end"]["kind"] == kind) || Instant::now() > deadline {
            return ends;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_ping_flood_that_is_never_read_leaves_serve_small_and_serving() {
    let dir = tempfile::tempdir().unwrap();
    let (server, port) = serve(&dir.path().join("events.jsonl"), None);
    let before = rss_kib(server.0.id());
    // 32 MB of empty pings: 5.6 million pongs owed, before coalescing.
    let Some((_flooder, report)) = hostile_client("pings", port, &["--mb", "32", "--hold", "5"])
    else {
        return;
    };
    let after = rss_kib(server.0.id());
    eprintln!("ping flood {report}: serve {before} KiB -> {after} KiB");
    assert!(report["sent"].as_u64().unwrap() > 16 << 20, "{report}");
    assert!(
        after < before + SERVE_GROWTH_KIB,
        "serve grew from {before} KiB to {after} KiB"
    );
    assert!(echo_round_trip(port), "another client is still served");
}

#[test]
fn a_client_that_never_reads_its_echoes_is_paused_then_closed_with_1008() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let (plain, plain_port) = serve(&dir.path().join("plain.jsonl"), None);
    // The tokio driver (TLS) and the hold pool (plain TCP) both.
    let (tls, tls_port) = serve(&dir.path().join("tls.jsonl"), Some(&cert));
    let before = (rss_kib(plain.0.id()), rss_kib(tls.0.id()));
    let flood = ["--mb", "256", "--hold", "20"];
    let Some((_a, plain_report)) = hostile_client("echo", plain_port, &flood) else {
        return;
    };
    let mut tls_flood = flood.to_vec();
    tls_flood.push("--tls");
    let (_b, tls_report) = hostile_client("echo", tls_port, &tls_flood).unwrap();
    // serve stopped reading: the flood blocked long before 256 MB.
    for report in [&plain_report, &tls_report] {
        assert_eq!(report["blocked"], true, "{report}");
        assert!(report["sent"].as_u64().unwrap() < 64 << 20, "{report}");
    }
    let after = (rss_kib(plain.0.id()), rss_kib(tls.0.id()));
    eprintln!(
        "echo flood plain {plain_report} tls {tls_report}: serve {before:?} KiB -> {after:?} KiB"
    );
    assert!(
        after.0 < before.0 + SERVE_GROWTH_KIB,
        "{before:?} -> {after:?}"
    );
    assert!(
        after.1 < before.1 + SERVE_GROWTH_KIB,
        "{before:?} -> {after:?}"
    );
    assert!(
        echo_round_trip(plain_port),
        "another client is still served"
    );
    // The write timeout (10 s) ends them, saying why.
    for events in ["plain.jsonl", "tls.jsonl"] {
        let ends = ended(
            &dir.path().join(events),
            "peer-stopped-reading",
            Duration::from_secs(15),
        );
        let flooder = ends
            .iter()
            .find(|c| c["end"]["end"]["kind"] == "peer-stopped-reading")
            .unwrap_or_else(|| panic!("{events}: {ends:#?}"));
        let close = flooder["events"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|e| e["type"] == "close")
            .unwrap();
        assert_eq!(close["code"], 1008, "{close}");
        let blocked = flooder["end"]["end"]["blocked_ms"].as_u64().unwrap();
        assert!((10_000..12_000).contains(&blocked), "{blocked} ms");
    }
}

/// `wsdoctor lab` (the fault proxy before an in-process serve) on a port
/// of its choosing (the one its banner names).
fn lab() -> (Killed, u16) {
    let (lab, addr) = support::spawn_listening(
        Command::cargo_bin("wsdoctor")
            .unwrap()
            .args(["lab", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::null()),
        "ws",
    );
    (Killed(lab), addr.port())
}

#[test]
fn bad_input_is_closed_with_the_rfc_code_directly_and_through_lab() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, serve_port) = serve(&dir.path().join("events.jsonl"), None);
    let (_lab, lab_port) = lab();
    // RFC 6455 §8.1 (1007), §7.4.1 (1009, for a frame and for a message).
    // Through lab the upstream's close frame comes before its reset: the
    // proxy must pass it on (three rounds: it used to lose that race).
    for (port, rounds) in [(serve_port, 1), (lab_port, 3)] {
        for _ in 0..rounds {
            for (mode, code) in [("bad-utf8", 1007), ("oversize", 1009), ("fragments", 1009)] {
                let Some((_client, report)) = hostile_client(mode, port, &["--mb", "8"]) else {
                    return;
                };
                assert_eq!(report["close_code"], code, "port {port}, {mode}: {report}");
            }
        }
    }
}

/// Runs `wsdoctor ARGS` and returns how long it took, killing it at 30 s.
fn timed(args: &[&str]) -> Duration {
    let started = Instant::now();
    let mut child = Killed(
        Command::cargo_bin("wsdoctor")
            .unwrap()
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    while started.elapsed() < Duration::from_secs(30) {
        if child.0.try_wait().unwrap().is_some() {
            return started.elapsed();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.0.kill();
    started.elapsed()
}

#[test]
fn probe_and_idle_end_on_time_against_a_server_that_stops_reading() {
    let Some(mut server) = python("hostile_server.py", &["flood-then-deaf".into(), "1".into()])
    else {
        return;
    };
    let port = first_line(&mut server).trim().to_owned();
    let _server = Killed(server);
    let url = format!("ws://127.0.0.1:{port}/");
    // Each ends a second past its own deadline (the close answer that never
    // comes). What a hang looks like instead is a write waiting out its own
    // deadline: --connect-timeout in probe (raised to 30 s here, so a hang
    // is unmistakable), 10 s in idle. The bounds leave the rest for the
    // start of a debug build and its work on the flood, which a loaded
    // 2-core machine stretches to seconds (probe took 3.8-5.0 s at a load
    // average of 16).
    let probe = timed(&["probe", &url, "--watch", "2s", "--connect-timeout", "30s"]);
    assert!(
        probe < Duration::from_secs(8),
        "probe --watch 2s took {probe:?}"
    );
    // idle opens six connections to the (single-threaded, flooding) peer
    // first: its watch starts when they are open.
    let idle = timed(&["idle", &url, "--max", "3s"]);
    assert!(idle < Duration::from_secs(9), "idle --max 3s took {idle:?}");
    eprintln!("against flood-then-deaf: probe --watch 2s took {probe:?}, idle --max 3s {idle:?}");
}

/// A server that floods pings and then stops reading never answers our
/// close: the kernel still holds our pongs and close frame for it when the
/// close wait ends, so `probe` names the peer that stopped reading
/// (`slow-consumer`), never "healthy".
#[test]
fn probe_names_a_server_that_stopped_reading() {
    // 8 MiB of pings: our pongs overflow its small receive buffer, so its
    // window closes (1 MiB of pings is answered with fewer bytes than its
    // buffer holds: the kernel takes them, and only "no answer" is seen).
    let Some(mut server) = python("hostile_server.py", &["flood-then-deaf".into(), "8".into()])
    else {
        return;
    };
    let port = first_line(&mut server).trim().to_owned();
    let _server = Killed(server);
    let out = Command::cargo_bin("wsdoctor")
        .unwrap()
        .args([
            "probe",
            &format!("ws://127.0.0.1:{port}/"),
            "--watch",
            "2s",
            "--json",
        ])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert_eq!(ids.first(), Some(&"slow-consumer"), "{ids:?}");
    assert!(!ids.contains(&"healthy"), "{ids:?}");
}

/// The peak resident memory of a process (VmHWM), in KiB.
fn peak_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[test]
fn load_stays_small_against_a_server_that_floods_pings() {
    let Some(mut server) = python(
        "hostile_server.py",
        &["flood-then-deaf".into(), "64".into()],
    ) else {
        return;
    };
    let port = first_line(&mut server).trim().to_owned();
    let _server = Killed(server);
    let url = format!("ws://127.0.0.1:{port}/");
    let mut load = Killed(
        Command::cargo_bin("wsdoctor")
            .unwrap()
            .args([
                "load",
                &url,
                "-c",
                "2",
                "--hold",
                "4s",
                "--step-hold",
                "500ms",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    let mut peak = 0;
    while load.0.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(30), "load hangs");
        peak = peak_kib(load.0.id()).unwrap_or(peak).max(peak);
        std::thread::sleep(Duration::from_millis(50));
    }
    // Before: one pong queued per ping, 184 MB at the peak here.
    assert!(peak < 48 * 1024, "load peaked at {peak} KiB");
}

/// Issue 19's load case: after its flood the server reads nothing, and we
/// have nothing more to send, so no write of ours ever blocks; only our
/// kernel, still holding our close frame unacknowledged when the close
/// wait ends, shows that the peer stopped reading. `load` closes through
/// its hold pool, which reads the kernel's table once for every close that
/// went unanswered: the ramp ends in `slow-consumer`, never `healthy`.
#[test]
fn load_names_a_server_that_stopped_reading() {
    let Some(mut server) = python(
        "hostile_server.py",
        &["flood-then-deaf".into(), "64".into()],
    ) else {
        return;
    };
    let port = first_line(&mut server).trim().to_owned();
    let _server = Killed(server);
    let out = Command::cargo_bin("wsdoctor")
        .unwrap()
        .args([
            "load",
            &format!("ws://127.0.0.1:{port}/"),
            "-c",
            "2",
            "--hold",
            "4s",
            "--step-hold",
            "500ms",
            "--json",
        ])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert!(ids.contains(&"slow-consumer"), "{ids:?}");
    assert!(!ids.contains(&"healthy"), "{ids:?}");
    let dropped: u64 = report["observations"]["load"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["drops"]["peer-stopped-reading"].as_u64())
        .sum();
    assert_eq!(dropped, 2, "{}", report["observations"]["load"]["steps"]);
}
