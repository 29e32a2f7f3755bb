//! Issue 23's million-connection path, scaled down for CI: 50,000 idle
//! WebSockets from `load --procs 4` (source addresses 127.0.0.x chosen by
//! load) to `serve --procs 4`, both the tests' own binary on this machine.
//! All must open, none may drop during the hold, and all must be closed at
//! the end (none left established in the kernel), within bounded time. `bench/load/million.sh` is the full-size run.
//!
//! A machine that cannot hold it (fs.file-max, memory, the open-file hard
//! limit) is said and the test skips, except under `CI`, where it fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::io::Read as _;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{free_port, wsdoctor};

const CONNECTIONS: u64 = 50_000;
const PROCS: &str = "4";
/// The whole test's bound: the ramp takes 5 s at this rate when the
/// machine keeps up (debug build), the hold 10 s, the close under 3 s.
const LOAD_BOUND: Duration = Duration::from_secs(150);

/// Stops the serve group however the test ends: killing the parent closes
/// the workers' stdin, and they go too.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn proc_number(path: &str, field: usize) -> Option<u64> {
    std::fs::read_to_string(path)
        .ok()?
        .split_whitespace()
        .nth(field)?
        .parse()
        .ok()
}

fn mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    line.split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
        .map(|k| k * 1024)
}

/// Why this machine cannot hold the run, if it cannot.
fn machine_cannot() -> Option<String> {
    let files = 2 * CONNECTIONS + 10_000;
    match (
        proc_number("/proc/sys/fs/file-max", 0),
        proc_number("/proc/sys/fs/file-nr", 0),
    ) {
        (Some(max), Some(open)) if max.saturating_sub(open) < files => {
            return Some(format!(
                "fs.file-max {max} with {open} open leaves fewer than the {files} files both ends need"
            ));
        }
        (None, _) | (_, None) => return Some("no /proc/sys/fs (not Linux)".to_owned()),
        _ => {}
    }
    // Both ends with the kernel's share: ~12 KiB a connection, doubled.
    let memory = CONNECTIONS * 24 * 1024;
    if mem_available().is_some_and(|m| m < memory) {
        return Some(format!(
            "less than {} MiB of memory available",
            memory >> 20
        ));
    }
    let (_, hard) = rlimit::Resource::NOFILE.get().unwrap_or((0, 0));
    // 4 processes a side must hold 12,500 each.
    if hard < 14_000 {
        return Some(format!(
            "the open-file hard limit ({hard}) is under the 14,000 a process needs here"
        ));
    }
    // Busy with other work (a shared machine), 2 cores open a few hundred
    // connections a second instead of thousands: this test measures
    // nothing then. CI's machine runs the tests alone: there it runs.
    if std::env::var_os("CI").is_some() {
        return None;
    }
    let cores = std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64);
    if let Some(load) = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse::<f64>().ok())
        .filter(|l| *l > 3.0 * cores)
    {
        return Some(format!(
            "the machine is busy (load average {load:.1} on {cores} cores)"
        ));
    }
    None
}

/// TCP sockets established to or from `port` on this machine (either end),
/// from `/proc/net/tcp`: `local rem st` with addresses as `HEX:PORT`.
fn established_on(port: u16) -> usize {
    let text = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let port_of = |addr: &str| {
        addr.rsplit(':')
            .next()
            .and_then(|p| u16::from_str_radix(p, 16).ok())
    };
    text.lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3
                && fields[3] == "01"
                && (port_of(fields[1]) == Some(port) || port_of(fields[2]) == Some(port))
        })
        .count()
}

fn start_serve(port: u16) -> Serve {
    let child = wsdoctor()
        .args([
            "serve",
            "--procs",
            PROCS,
            "--ping-interval",
            "0",
            "--no-greeting",
        ])
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let serve = Serve(child);
    // Every process answers before the load starts (the workers bind after
    // the parent; a fixed 700 ms wait hoped they had).
    let procs: usize = PROCS.parse().unwrap();
    let instances = support::instances_answering(port, procs);
    assert_eq!(
        instances.len(),
        procs,
        "only {instances:?} answered in 10 s"
    );
    serve
}

/// Runs load to its end within [`LOAD_BOUND`]; its stdout (the report).
fn run_load(port: u16) -> (Value, String, Duration) {
    let started = Instant::now();
    let mut child = wsdoctor()
        .args(["load", "--json", "--procs", PROCS])
        .arg(format!("ws://127.0.0.1:{port}/"))
        .args(["-c", &CONNECTIONS.to_string()])
        .args(["--step", &CONNECTIONS.to_string()])
        // A debug build on a busy 2-core machine opens a few thousand a
        // second: the hold lets a slow ramp finish before it is counted,
        // and a SYN dropped from a full backlog gets its retransmits.
        .args([
            "--rate",
            "10000",
            "--hold",
            "10s",
            "--connect-timeout",
            "30s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > LOAD_BOUND {
            let _ = child.kill();
            panic!("load did not finish within {LOAD_BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = started.elapsed();
    let stdout = out.join().unwrap();
    let stderr = err.join().unwrap();
    let report: Value = serde_json::from_slice(&stdout).unwrap_or_else(|e| {
        panic!(
            "not a report ({e}): {}\n{stderr}",
            String::from_utf8_lossy(&stdout)
        )
    });
    (report, stderr, took)
}

#[test]
fn fifty_thousand_through_both_multi_process_paths() {
    if let Some(why) = machine_cannot() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI's machine cannot hold {CONNECTIONS} loopback connections: {why}"
        );
        eprintln!("skipped: this machine cannot hold {CONNECTIONS} loopback connections: {why}");
        return;
    }
    let port = free_port();
    let _serve = start_serve(port);
    let (report, stderr, took) = run_load(port);
    let load = &report["observations"]["load"];
    let steps = load["steps"].as_array().unwrap();
    let opened: u64 = steps.iter().map(|s| s["opened"].as_u64().unwrap()).sum();
    let failures: Vec<&Value> = steps.iter().map(|s| &s["failures"]).collect();
    let drops: Vec<&Value> = steps.iter().map(|s| &s["drops"]).collect();
    let context = format!("{failures:?} {drops:?} took {took:?}\n{stderr}");
    assert_eq!(opened, CONNECTIONS, "{context}");
    assert_eq!(load["peak_open"].as_u64(), Some(CONNECTIONS), "{context}");
    assert!(
        failures.iter().all(|f| f.as_object().unwrap().is_empty()),
        "{context}"
    );
    assert!(
        drops.iter().all(|d| d.as_object().unwrap().is_empty()),
        "{context}"
    );
    assert_eq!(report["verdict"], "healthy", "{report}");
    // Four processes, each with source addresses of its own.
    assert_eq!(load["shards"].as_array().unwrap().len(), 4);
    let sources = load["generator"]["source_ips"].as_array().unwrap();
    assert!(sources.len() >= 4, "{sources:?}");
    // Every connection was closed at the end, in bounded time: load says
    // so, and the kernel has none of them left established.
    let close = &load["close"];
    assert_eq!(
        close["open_at_close"].as_u64(),
        Some(CONNECTIONS),
        "{close}"
    );
    assert!(close["took_ms"].as_u64().unwrap() <= 60_000, "{close}");
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut left = established_on(port);
    while left > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        left = established_on(port);
    }
    assert_eq!(left, 0, "sockets of port {port} still established; {close}");
    // This machine's check ran (a report without it checked nothing),
    // read the limits the test's own check read, saw the target here, and
    // found room; and the kernel's share was measured.
    let generator = &load["generator"];
    let machine = &generator["machine"];
    assert!(machine.is_object(), "no machine check: {generator}");
    assert!(machine["file_max"].is_u64(), "{machine}");
    assert!(machine["mem_available_bytes"].is_u64(), "{machine}");
    assert!(
        machine["ephemeral_ports"].as_u64().is_some_and(|p| p > 0),
        "{machine}"
    );
    assert_eq!(machine["target_here"], true, "{machine}");
    assert!(machine["shortfalls"].is_null(), "{machine}");
    // (Machine-wide: on a shared machine other work can free more slab
    // than the sockets took, and then there is no figure, never a wrong one.)
    assert!(steps[0]["kernel"].is_object(), "{}", steps[0]);
    let kernel = steps[0]["kernel_bytes_per_socket"].as_u64();
    assert!(
        kernel.is_none_or(|k| k > 500 && k < 64 * 1024),
        "{kernel:?}"
    );
    eprintln!(
        "{CONNECTIONS} connections opened, held and closed in {took:?}; close {close}; kernel {kernel:?} B per socket"
    );
}
