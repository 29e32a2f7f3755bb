//! `wsdoctor serve --procs 2` with the built binary: both processes accept
//! on the one port, a load through it is healthy, and when the parent
//! stops its worker goes too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{free_port, instances_answering, whoami, wsdoctor};

/// Pids of the processes whose command line holds `needle`.
fn processes_with(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline)
            .replace('\0', " ")
            .contains(needle)
        {
            pids.push(pid);
        }
    }
    pids
}

/// Starts `serve --procs 2` on `port` and returns it once both processes
/// answer there.
fn start(port: u16) -> Child {
    let mut child = wsdoctor()
        .args(["serve", "--procs", "2", "--ping-interval", "0", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The banner means the parent listens.
    let mut banner = String::new();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    stderr.read_line(&mut banner).unwrap();
    assert!(banner.contains("listening"), "{banner}");
    // Keep reading: the rest of the banner (and anything later) must find
    // an open pipe, as it would on a terminal.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    // The worker binds its own listener after the parent's banner; until
    // then every connection goes to the parent.
    let instances = instances_answering(port, 2);
    assert_eq!(instances.len(), 2, "only {instances:?} answered in 10 s");
    child
}

#[test]
fn two_processes_share_the_port_and_stop_together() {
    let port = free_port();
    let listen = format!("--listen 127.0.0.1:{port}");
    let mut parent = start(port);
    assert_eq!(processes_with(&listen).len(), 2, "parent and one worker");

    // The kernel spreads new connections over both listeners (start
    // waited for both to answer; here any 64 must reach both).
    let instances: std::collections::BTreeSet<String> =
        (0..64).filter_map(|_| whoami(port)).collect();
    assert_eq!(instances.len(), 2, "{instances:?}");

    // A small load through both is healthy.
    let out = wsdoctor()
        .args([
            "load", "--json", "-c", "400", "--rate", "2000", "--hold", "1s",
        ])
        .arg(format!("ws://127.0.0.1:{port}/"))
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["verdict"], "healthy", "{report}");

    // SIGINT to the parent alone: the worker sees its stdin close and goes.
    let killed = Command::new("kill")
        .args(["-INT", &parent.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_with(&listen).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = parent.wait();
    assert!(
        processes_with(&listen).is_empty(),
        "left running: {:?}",
        processes_with(&listen)
    );
}

/// Killed outright (no handler runs, nothing is dropped), the parent
/// leaves its worker nothing but the pipe on its stdin closing: the worker
/// must take that as the parent gone and exit, even while it holds
/// connections whose client never answers its close frame.
#[test]
fn a_worker_exits_when_its_parent_is_killed() {
    let port = free_port();
    let listen = format!("--listen 127.0.0.1:{port}");
    let mut parent = start(port);
    assert_eq!(processes_with(&listen).len(), 2, "parent and one worker");
    // Upgraded connections on both processes (the kernel spreads them),
    // each held open by a client that reads nothing and never answers.
    let upgrade = b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";
    let held: Vec<TcpStream> = (0..16)
        .filter_map(|_| {
            let mut tcp = TcpStream::connect(("127.0.0.1", port)).ok()?;
            tcp.write_all(upgrade).ok()?;
            Some(tcp)
        })
        .collect();
    assert_eq!(held.len(), 16);
    // Each upgraded before the kill: its 101 read (and nothing after it).
    for (i, tcp) in held.iter().enumerate() {
        let head = response_head(tcp);
        assert!(head.starts_with("HTTP/1.1 101"), "connection {i}: {head:?}");
    }
    parent.kill().unwrap();
    let _ = parent.wait();
    let killed_at = Instant::now();
    let deadline = killed_at + Duration::from_secs(10);
    while !processes_with(&listen).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left = processes_with(&listen);
    for pid in &left {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    assert!(
        left.is_empty(),
        "the worker outlived its killed parent by 10 s: {left:?}"
    );
    eprintln!(
        "worker gone {:.2} s after its parent was killed",
        killed_at.elapsed().as_secs_f64()
    );
    drop(held);
}

/// The response head on `tcp`, read a byte at a time (at most 5 s) so that
/// nothing after it is taken from the socket.
fn response_head(mut tcp: &TcpStream) -> String {
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 4096 {
        match tcp.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

#[test]
fn procs_needs_a_fixed_port() {
    let out = wsdoctor()
        .args(["serve", "--procs", "2", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--procs needs a fixed port"), "{stderr}");
}
