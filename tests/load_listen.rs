//! `wsdoctor load` against python-websockets 15 (PyPI), whose listen
//! backlog is asyncio's default of 100: a burst of new connections fills
//! it, the kernel turns handshakes away (TcpExtListenOverflows) and their
//! clients wait a second for a retransmit while nothing fails. Before this
//! check the ramp was called healthy. The same server listening with a
//! backlog of 4096 is the control: the same ramp, no such finding.
//!
//! One test function, so no other test in this binary overflows a queue on
//! the machine while it counts (the kernel's counter is machine-wide).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use serde_json::Value;

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

/// A ramp of 2,000 at 20,000 a second: 50 ms of arrivals is 1,000.
fn ramp(port: u16) -> Value {
    let url = format!("ws://127.0.0.1:{port}/");
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

fn overflow_findings(report: &Value) -> Vec<&Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["title"]
                .as_str()
                .unwrap_or("")
                .contains("overflowed the server's listen queue")
        })
        .collect()
}

#[test]
fn a_short_listen_backlog_is_named_with_the_servers_own_fix() {
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
        !report["findings"].to_string().contains("wsdoctor's machine ran out"),
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
}
