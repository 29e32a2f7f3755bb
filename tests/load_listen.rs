//! `wsdoctor load` against python-websockets 15 (PyPI), whose listen
//! backlog is asyncio's default of 100: a burst of new connections fills
//! it, the kernel turns handshakes away (TcpExtListenOverflows) and their
//! clients wait a second for a retransmit while nothing fails. Before this
//! check the ramp was called healthy. The same server listening with a
//! backlog of 4096 is the control: the same ramp, no such finding.
//!
//! Then the same server in a network namespace this test makes, so the
//! target is not on this machine's loopback: the overflow counter is then
//! the other host's, and what this machine sees is its own SYNs sent again
//! (TcpExtTCPSynRetrans).
//!
//! nginx in front of it: python's queue is the one that fills, and is
//! named, not nginx's (the sampled queues say whose it was).
//! HAProxy with `maxconn 100` in front is the other control: its queue
//! overflows because it stopped accepting, and the cap is the finding.
//!
//! The tests take one lock, so no other test in this binary turns
//! handshakes away while one counts (the kernel's counters are
//! machine-wide).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::process::Command;
use std::sync::Mutex;

use serde_json::Value;

/// Held by each test while it ramps: the counters are machine-wide.
static COUNTING: Mutex<()> = Mutex::new(());

/// python-websockets' echo server with `extra` arguments; `None` (a skip,
/// a failure under CI) when python3 or the library is missing.
fn python_websockets(extra: &[&str]) -> Option<(support::KillOnDrop, u16)> {
    let args = [&["tests/peers/python_websockets_echo.py", "0"], extra].concat();
    let peer = support::python_peer(&args, |l| l.trim().parse().ok());
    if peer.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install python-websockets (see .ci/run)"
        );
        eprintln!("skipped: python3 with websockets is not installed");
    }
    peer
}

/// A ramp of 2,000 at 20,000 a second to `host`: 50 ms of arrivals is 1,000.
fn ramp_to(host: &str, port: u16) -> Value {
    let url = format!("ws://{host}:{port}/");
    let (_, report) = support::wsdoctor_json(&[
        "load",
        &url,
        "-c",
        "2000",
        "--rate",
        "20000",
        "--step-hold",
        "300ms",
        "--hold",
        "300ms",
        "--json",
    ]);
    report
}

fn ramp(port: u16) -> Value {
    ramp_to("127.0.0.1", port)
}

/// The findings whose title contains `words`.
fn titled<'a>(report: &'a Value, words: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["title"].as_str().unwrap_or("").contains(words))
        .collect()
}

/// The findings of a listen queue that overflowed: the target's, one
/// behind it, or one here the sampling did not catch.
fn overflow_findings(report: &Value) -> Vec<&Value> {
    titled(report, "overflowed")
        .into_iter()
        .filter(|f| f["title"].as_str().unwrap_or("").contains("listen queue"))
        .collect()
}

#[test]
fn a_short_listen_backlog_is_named_with_the_servers_own_fix() {
    let _counting = COUNTING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some((_server, port)) = python_websockets(&[]) else {
        return;
    };
    let report = ramp(port);
    let machine = &report["observations"]["load"]["generator"]["machine"];
    // Read from the kernel, as `ss -ltn` shows it.
    assert_eq!(machine["target_listener"]["backlog"], 100, "{machine:#}");
    assert_eq!(
        machine["target_listener"]["address"],
        format!("127.0.0.1:{port}")
    );
    // Checked before the run: the server's backlog is the fix, not somaxconn.
    let shortfall = machine["shortfalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["resource"] == "accept-backlog")
        .unwrap_or_else(|| panic!("no accept-backlog shortfall: {machine:#}"));
    let setting = shortfall["setting"].as_str().unwrap();
    assert!(
        setting.starts_with("the server's listen backlog to 2000 ("),
        "{setting}"
    );
    assert!(
        shortfall["detail"]
            .as_str()
            .unwrap()
            .contains("has an accept backlog of 100 (`ss -ltn` Send-Q), below net.core.somaxconn"),
        "{shortfall:#}"
    );
    // The ramp: nothing failed, but handshakes waited at the full queue.
    let steps = report["observations"]["load"]["steps"].as_array().unwrap();
    assert!(
        steps.iter().all(|s| s["opened"] == s["attempted"]),
        "{steps:#?}"
    );
    let found = overflow_findings(&report);
    assert_eq!(found.len(), 1, "{:#}", report["findings"]);
    let f = found[0];
    assert_eq!(f["id"], "load-limit");
    assert_eq!(report["findings"][0], *f, "it is the first finding");
    let evidence = f["evidence"].to_string();
    assert!(
        evidence.contains("with an accept backlog of 100"),
        "{evidence}"
    );
    assert!(
        f["fix"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Raise the server's listen backlog to 2000"),
        "{f:#}"
    );
    assert_ne!(report["verdict"], "healthy", "{report:#}");
    // The short backlog is the server's, never this machine's limit.
    assert!(
        !report["findings"]
            .to_string()
            .contains("wsdoctor's machine ran out"),
        "{:#}",
        report["findings"]
    );

    // The control: the same server told to listen with 4096.
    let Some((_roomy, port)) = python_websockets(&["--backlog", "4096"]) else {
        return;
    };
    let report = ramp(port);
    let machine = &report["observations"]["load"]["generator"]["machine"];
    assert_eq!(machine["target_listener"]["backlog"], 4096, "{machine:#}");
    assert!(
        machine["shortfalls"]
            .as_array()
            .is_none_or(|s| s.iter().all(|s| s["resource"] != "accept-backlog")),
        "{machine:#}"
    );
    assert_eq!(
        overflow_findings(&report),
        Vec::<&Value>::new(),
        "{:#}",
        report["findings"]
    );
    // A healthy ramp says what the counter showed, not only that nothing
    // failed.
    let f = &report["findings"][0];
    if f["id"] == "healthy" {
        assert!(
            f["evidence"]
                .to_string()
                .contains("listen-queue overflows (TcpExtListenOverflows) during the ramp"),
            "{f:#}"
        );
    }
}

/// HAProxy with `maxconn 100` in front of python-websockets (backlog 4096):
/// HAProxy stops accepting at 100 and its listen queue (its backlog is its
/// maxconn, 100) overflows. The cap is the finding, not the queue's length:
/// a longer backlog would only let more wait.
#[test]
fn a_proxy_cap_that_fills_its_listen_queue_is_the_cap() {
    let _counting = COUNTING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some((_server, port)) = python_websockets(&["--backlog", "4096"]) else {
        return;
    };
    let upstream = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Some(haproxy) = support::haproxy(upstream, "maxconn 100") else {
        return;
    };
    let report = ramp_to("127.0.0.1", haproxy.addr.port());
    let machine = &report["observations"]["load"]["generator"]["machine"];
    assert_eq!(machine["target_listener"]["backlog"], 100, "{machine:#}");
    let f = &report["findings"][0];
    assert_eq!(f["id"], "load-limit", "{report:#}");
    assert_eq!(f["measured"]["concurrency_limit"], 100, "{f:#}");
    assert!(
        f["title"].as_str().unwrap().contains("a limit queues them"),
        "{f:#}"
    );
    let evidence = f["evidence"].to_string();
    assert!(
        evidence.contains("stopped accepting at about 100 open connections"),
        "{evidence}"
    );
    assert_eq!(overflow_findings(&report), Vec::<&Value>::new());
    // The listener's holder is read as `ss -ltnp` reads it, and named.
    assert_eq!(
        machine["target_listener"]["program"], "haproxy",
        "{machine:#}"
    );
    assert_eq!(f["fix"][0]["for"], "haproxy", "{f:#}");
    assert!(
        f["fix"][0]["text"]
            .as_str()
            .unwrap()
            .contains("stops accepting at its maxconn (about 100 here)"),
        "{f:#}"
    );
}

/// nginx in front of python-websockets listening with a backlog of 16:
/// nginx accepts at once (its backlog is 511) and connects on, and python's
/// queue overflows. (With python's default of 100 behind nginx, two ramps
/// in eight here never caught it even nearly full.) The machine-wide
/// counter cannot say whose queue it was; the sampled queues can, and the
/// server behind is named, not nginx.
#[test]
fn a_full_queue_behind_a_proxy_names_the_server_behind() {
    let _counting = COUNTING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some((_server, port)) = python_websockets(&["--backlog", "16"]) else {
        return;
    };
    let upstream = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Some(nginx) = support::nginx_with(upstream, "", "worker_connections 8192;") else {
        return;
    };
    let report = ramp_to("127.0.0.1", nginx.addr.port());
    let queues = &report["observations"]["load"]["listen_queues"]["queues"];
    let sampled = |address: String| {
        queues
            .as_array()
            .and_then(|qs| qs.iter().find(|q| q["address"] == address.as_str()))
            .cloned()
    };
    let python = sampled(format!("127.0.0.1:{port}"))
        .unwrap_or_else(|| panic!("python's queue was not seen: {queues:#}"));
    assert_eq!(python["backlog"], 16, "{python:#}");
    assert_eq!(python["program"], "python3", "{python:#}");
    assert!(
        python["near_full_samples"].as_u64().unwrap() > 0,
        "{python:#}"
    );
    let nginx_full = sampled(nginx.addr.to_string())
        .is_some_and(|q| q["near_full_samples"].as_u64().unwrap_or(0) > 0);
    if nginx_full {
        // On a machine too slow for nginx's own 511, both queues filled:
        // the target's is then named, rightly.
        eprintln!("nginx's queue filled too: {queues:#}");
        return;
    }
    // The first finding is the overflow's own, or, when some attempts
    // timed out waiting (nginx gives up on the upstream), the knee's with
    // the overflow explained: either way the fix is the server behind.
    let f = &report["findings"][0];
    assert_eq!(f["id"], "load-limit", "{f:#}");
    let title = f["title"].as_str().unwrap();
    assert!(
        !title.contains("overflowed")
            || title.contains(&format!(
                "behind the target, on 127.0.0.1:{port} (python3, pid "
            )),
        "{f:#}"
    );
    assert!(
        f["fix"][0]["text"].as_str().unwrap().starts_with(&format!(
            "The server behind the target, on 127.0.0.1:{port}"
        )),
        "{f:#}"
    );
    let evidence = f["evidence"].to_string();
    assert!(
        evidence.contains("was never seen nearly full"),
        "{evidence}"
    );
    assert!(evidence.contains("(nginx, pid "), "{evidence}");
}

/// A network namespace with a veth pair to it, removed (with the pair) on
/// drop. Its address is 10.251.N.2, this machine's end 10.251.N.1.
struct Namespace {
    name: String,
    address: String,
}

impl Namespace {
    /// `None` when this machine will not make one (no `ip`, not root): a
    /// skip, a failure under CI, whose machines can (.ci/run installs
    /// iproute2 and runs as root).
    fn create() -> Option<Namespace> {
        let n = std::process::id() % 250;
        let name = format!("wsd-load-{}", std::process::id());
        let (host_end, ns_end) = (format!("wsdl{n}a"), format!("wsdl{n}b"));
        let ns = Namespace {
            name: name.clone(),
            address: format!("10.251.{n}.2"),
        };
        let steps: [&[&str]; 8] = [
            &["netns", "add", &name],
            &[
                "link", "add", &host_end, "type", "veth", "peer", "name", &ns_end,
            ],
            &["link", "set", &ns_end, "netns", &name],
            &["addr", "add", &format!("10.251.{n}.1/30"), "dev", &host_end],
            &["link", "set", &host_end, "up"],
            &[
                "-n",
                &name,
                "addr",
                "add",
                &format!("10.251.{n}.2/30"),
                "dev",
                &ns_end,
            ],
            &["-n", &name, "link", "set", &ns_end, "up"],
            &["-n", &name, "link", "set", "lo", "up"],
        ];
        for args in steps {
            let made = Command::new("ip").args(args).output();
            if !made.is_ok_and(|o| o.status.success()) {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI must be able to make a network namespace: ip {args:?}"
                );
                eprintln!("skipped: cannot make a network namespace (ip {args:?})");
                return None;
            }
        }
        Some(ns)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // Deleting the namespace deletes the veth pair with it.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// python-websockets listening in `ns` with `extra` arguments.
fn python_websockets_in(ns: &Namespace, extra: &[&str]) -> (support::KillOnDrop, u16) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/peers/python_websockets_echo.py"
    );
    let args = [
        &[
            "netns",
            "exec",
            &ns.name,
            "python3",
            "-u",
            script,
            "0",
            "--host",
            &ns.address,
        ][..],
        extra,
    ]
    .concat();
    support::spawn_peer(
        "ip",
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")),
        &args,
        |l| l.trim().parse().ok(),
    )
    .unwrap_or_else(|| panic!("python-websockets did not start in {}", ns.name))
}

/// The target on another host (a namespace): its queue's counter is not
/// ours, but the SYNs this machine had to send again say where the wait was.
#[test]
fn syns_left_unanswered_by_a_target_elsewhere_are_named() {
    let _counting = COUNTING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Without python-websockets here there is nothing to run in it.
    if python_websockets(&[]).is_none() {
        return;
    }
    let Some(ns) = Namespace::create() else {
        return;
    };
    let (_server, port) = python_websockets_in(&ns, &[]);
    let report = ramp_to(&ns.address, port);
    let load = &report["observations"]["load"];
    assert_eq!(load["generator"]["machine"]["target_here"], false);
    assert!(load["kernel_start"]["syn_retransmits"].is_u64(), "{load:#}");
    let found = titled(&report, "waited for their SYNs to be answered");
    assert_eq!(found.len(), 1, "{:#}", report["findings"]);
    assert_eq!(report["findings"][0], *found[0], "it is the first finding");
    let evidence = found[0]["evidence"].to_string();
    assert!(
        evidence.contains("SYNs again during the ramp (TcpExtTCPSynRetrans"),
        "{evidence}"
    );
    // This machine's overflow counter is not the target's queue.
    assert_eq!(overflow_findings(&report), Vec::<&Value>::new());

    // The control: the same server in the namespace with a backlog of 4096.
    let (_roomy, port) = python_websockets_in(&ns, &["--backlog", "4096"]);
    let report = ramp_to(&ns.address, port);
    assert_eq!(
        titled(&report, "waited for their SYNs to be answered"),
        Vec::<&Value>::new(),
        "{:#}",
        report["findings"]
    );
}
