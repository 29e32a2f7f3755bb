//! Application protocols end to end, against the real servers from the
//! registries (npm `socket.io` 4, `graphql-ws` 6, `subscriptions-transport-ws`
//! 0.11 in tests/peers/node, installed by `.ci/run` with `npm ci`; PyPI
//! `python-socketio` 5), direct and through real nginx with a
//! `proxy_read_timeout` shorter than the protocol's heartbeat. Time is
//! scaled down through the servers' own options (pingInterval 2–3 s).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::net::SocketAddr;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;
use support::KillOnDrop;

/// Our node peers print "listening PORT" once they listen.
fn node_peer(script: &str, args: &[&str]) -> Option<(KillOnDrop, SocketAddr)> {
    support::node_peer(script, args, support::listening_port)
}

fn socketio(
    ping_interval_ms: u32,
    ping_timeout_ms: u32,
    eio3: bool,
) -> Option<(KillOnDrop, SocketAddr)> {
    let (i, t) = (ping_interval_ms.to_string(), ping_timeout_ms.to_string());
    let mut args = vec!["0", i.as_str(), t.as_str()];
    if eio3 {
        args.push("allowEIO3");
    }
    node_peer("socketio_server.js", &args)
}

fn probe(url: &str, extra: &[&str]) -> (i32, Value) {
    support::wsdoctor_json(&[&["probe", url, "--json"], extra].concat())
}

fn ids(report: &Value) -> Vec<String> {
    support::finding_ids(report)
}

fn finding<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no {id}: {report:#}"))
}

fn app(report: &Value) -> &Value {
    &report["observations"]["probes"][0]["connection"]["app"]
}

/// Healthy, held for the whole watch (we closed it), with the protocol's
/// heartbeat heard and answered.
fn assert_held_healthy(code: i32, report: &Value, protocol: &str) {
    assert_eq!(report["verdict"], "healthy", "{report:#}");
    assert_eq!(code, 0);
    let conn = &report["observations"]["probes"][0]["connection"];
    assert_eq!(conn["end"]["end"]["initiator"], "local", "{report:#}");
    assert_eq!(app(report)["protocol"], protocol);
    assert_eq!(app(report)["spoken"], true);
    assert_eq!(app(report)["heartbeats_unanswered"], 0);
    assert_eq!(report["findings"][0]["measured"]["app_protocol"], protocol);
    assert!(
        !ids(report).contains(&"no-heartbeat".to_owned()),
        "{report:#}"
    );
}

#[test]
fn socketio_v4_is_spoken_and_a_healthy_path_is_healthy() {
    let Some((_server, addr)) = socketio(2000, 1500, false) else {
        return;
    };
    // The path alone decides, and the Engine.IO query is added.
    let (code, report) = probe(&format!("ws://{addr}/socket.io/"), &["--watch", "7s"]);
    assert_held_healthy(code, &report, "socketio");
    let app = app(&report);
    assert!(app["server_heartbeats"].as_u64().unwrap() >= 3, "{app:#}");
    assert_eq!(app["decided_by"], "the URL path contains /socket.io/");
    assert_eq!(app["timers"]["interval_ms"], 2000);
    assert!(report["target"]
        .as_str()
        .unwrap()
        .contains("EIO=4&transport=websocket"));
    assert_eq!(
        report["findings"][0]["measured"]["app_ping_interval_s"],
        2.0
    );
}

#[test]
fn socketio_not_answering_its_pings_is_the_protocol_timeout_not_the_path() {
    let Some((_server, addr)) = socketio(2000, 1500, false) else {
        return;
    };
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (code, report) = probe(&url, &["--watch", "7s", "--app", "raw"]);
    assert_eq!(code, 1);
    let top = &report["findings"][0];
    assert_eq!(top["id"], "app-heartbeat-timeout", "{report:#}");
    assert!(top["title"].as_str().unwrap().contains("pingTimeout"));
    assert!(!ids(&report).contains(&"healthy".to_owned()));
    assert!(!ids(&report).contains(&"idle-timeout".to_owned()));
    assert_eq!(app(&report)["spoken"], false);
    // Nothing was sent: raw is raw.
    let conn = &report["observations"]["probes"][0]["connection"];
    let ours = conn["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["from"] == "local" && e["type"] == "text")
        .count();
    assert_eq!(ours, 0);
}

#[test]
fn socketio_v3_pings_itself() {
    let Some((_server, addr)) = socketio(2000, 1500, true) else {
        return;
    };
    let url = format!("ws://{addr}/socket.io/?EIO=3&transport=websocket");
    let (code, report) = probe(&url, &["--watch", "6s"]);
    assert_held_healthy(code, &report, "socketio");
    let events = app(&report)["events"].as_array().unwrap();
    let acks = events
        .iter()
        .filter(|e| e["event"] == "heartbeat-ack")
        .count();
    assert!(acks >= 2, "{events:#?}");
    assert_eq!(app(&report)["version"], "EIO=3");
}

#[test]
fn socketio_through_nginx_shorter_than_ping_interval_names_both() {
    let Some((_server, addr)) = socketio(3000, 2000, false) else {
        return;
    };
    let Some(nginx) = support::nginx(addr, "proxy_read_timeout 2s;") else {
        return;
    };
    let (code, report) = probe(
        &format!("ws://{}/socket.io/", nginx.addr),
        &["--watch", "6s"],
    );
    assert_eq!(code, 1);
    let idle = finding(&report, "idle-timeout");
    assert_eq!(idle["intermediary"], "nginx", "{report:#}");
    let slow = finding(&report, "heartbeat-too-slow");
    assert!(
        slow["title"].as_str().unwrap().contains("pingInterval"),
        "{slow:#}"
    );
    assert_eq!(slow["measured"]["app_ping_interval_s"], 3.0);
    let fixes = slow["fix"].to_string();
    assert!(
        fixes.contains("pingInterval") && fixes.contains("proxy_read_timeout"),
        "{fixes}"
    );
    let all = ids(&report);
    assert!(!all.contains(&"no-heartbeat".to_owned()) && !all.contains(&"healthy".to_owned()));
}

#[test]
fn socketio_through_nginx_longer_than_ping_interval_is_healthy() {
    let Some((_server, addr)) = socketio(1500, 1500, false) else {
        return;
    };
    let Some(nginx) = support::nginx(addr, "proxy_read_timeout 3s;") else {
        return;
    };
    let (code, report) = probe(
        &format!("ws://{}/socket.io/", nginx.addr),
        &["--watch", "6s"],
    );
    assert_held_healthy(code, &report, "socketio");
}

/// python-socketio 5 (PyPI), Engine.IO v4.
fn python_socketio(interval_s: &str, timeout_s: &str) -> Option<(KillOnDrop, SocketAddr)> {
    let ready = Command::new("python3")
        .args(["-c", "import socketio, aiohttp"])
        .status()
        .is_ok_and(|s| s.success());
    if !ready {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install python-socketio and aiohttp (see .ci/run)"
        );
        eprintln!("skipped: python-socketio or aiohttp is not installed");
        return None;
    }
    let (peer, port) = support::python_peer(
        &[
            "tests/peers/python_socketio_server.py",
            "0",
            interval_s,
            timeout_s,
        ],
        |line| line.trim().strip_prefix("listening ")?.parse().ok(),
    )?;
    Some((peer, SocketAddr::from(([127, 0, 0, 1], port))))
}

#[test]
fn python_socketio_direct_and_through_nginx() {
    let Some((_server, addr)) = python_socketio("2", "1.5") else {
        return;
    };
    let (code, report) = probe(&format!("ws://{addr}/socket.io/"), &["--watch", "6s"]);
    assert_held_healthy(code, &report, "socketio");
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (_, report) = probe(&url, &["--watch", "6s", "--app", "raw"]);
    assert_eq!(
        report["findings"][0]["id"], "app-heartbeat-timeout",
        "{report:#}"
    );
    let Some(nginx) = support::nginx(addr, "proxy_read_timeout 1s;") else {
        return;
    };
    let (_, report) = probe(
        &format!("ws://{}/socket.io/", nginx.addr),
        &["--watch", "5s"],
    );
    assert_eq!(finding(&report, "idle-timeout")["intermediary"], "nginx");
    assert!(finding(&report, "heartbeat-too-slow")["title"]
        .as_str()
        .unwrap()
        .contains("pingInterval"));
}

fn graphql(args: &[&str]) -> Option<(KillOnDrop, SocketAddr)> {
    node_peer("graphql_server.js", args)
}

#[test]
fn graphql_transport_ws_inits_and_is_healthy() {
    let Some((_server, addr)) = graphql(&["transport-ws", "0", "1500", "2000"]) else {
        return;
    };
    let url = format!("ws://{addr}/graphql");
    let (code, report) = probe(&url, &["--watch", "5s", "--app", "graphql-transport-ws"]);
    assert_held_healthy(code, &report, "graphql-transport-ws");
    let events = app(&report)["events"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["what"] == "connection_ack"),
        "{events:#?}"
    );
    // Offering the subprotocol is enough for auto.
    let (code, report) = probe(
        &url,
        &["--watch", "3s", "--subprotocol", "graphql-transport-ws"],
    );
    assert_held_healthy(code, &report, "graphql-transport-ws");
}

#[test]
fn graphql_transport_ws_4408_is_the_missing_init_with_its_source() {
    let Some((_server, addr)) = graphql(&["transport-ws", "0", "0", "2000"]) else {
        return;
    };
    let url = format!("ws://{addr}/graphql");
    let (code, report) = probe(
        &url,
        &[
            "--watch",
            "5s",
            "--app",
            "raw",
            "--subprotocol",
            "graphql-transport-ws",
        ],
    );
    assert_eq!(code, 1);
    let top = &report["findings"][0];
    assert_eq!(top["id"], "app-init-timeout", "{report:#}");
    assert_eq!(top["measured"]["close_code"], 4408);
    assert!(
        top["evidence"].to_string().contains("PROTOCOL.md"),
        "{top:#}"
    );
    assert!(!ids(&report).contains(&"policy-close".to_owned()));
}

#[test]
fn graphql_transport_ws_4403_when_the_server_refuses_the_init() {
    let Some((_server, addr)) = graphql(&["transport-ws", "0", "0", "2000", "reject"]) else {
        return;
    };
    let (_, report) = probe(
        &format!("ws://{addr}/graphql"),
        &["--watch", "3s", "--app", "graphql-transport-ws"],
    );
    let top = &report["findings"][0];
    assert_eq!(top["measured"]["close_code"], 4403, "{report:#}");
    assert!(top["title"].as_str().unwrap().contains("Forbidden"));
}

#[test]
fn graphql_transport_ws_through_nginx_shorter_than_keepalive() {
    let Some((_server, addr)) = graphql(&["transport-ws", "0", "1200", "2000"]) else {
        return;
    };
    let Some(nginx) = support::nginx(addr, "proxy_read_timeout 3s;") else {
        return;
    };
    let url = format!("ws://{}/graphql", nginx.addr);
    let (code, report) = probe(&url, &["--watch", "5s", "--app", "graphql-transport-ws"]);
    assert_held_healthy(code, &report, "graphql-transport-ws");
    drop(nginx);
    let Some(nginx) = support::nginx(addr, "proxy_read_timeout 1s;") else {
        return;
    };
    let url = format!("ws://{}/graphql", nginx.addr);
    let (_, report) = probe(&url, &["--watch", "5s", "--app", "graphql-transport-ws"]);
    assert_eq!(
        finding(&report, "idle-timeout")["intermediary"],
        "nginx",
        "{report:#}"
    );
    assert!(finding(&report, "heartbeat-too-slow")["title"]
        .as_str()
        .unwrap()
        .contains("keepAlive"));
}

#[test]
fn legacy_graphql_ws_inits_hears_ka_and_is_healthy() {
    let Some((_server, addr)) = graphql(&["legacy", "0", "1000"]) else {
        return;
    };
    let (code, report) = probe(
        &format!("ws://{addr}/graphql"),
        &["--watch", "4s", "--app", "graphql-ws"],
    );
    assert_held_healthy(code, &report, "graphql-ws");
    assert!(app(&report)["server_heartbeats"].as_u64().unwrap() >= 3);
    // Measured between two ka messages of a 1 s keepAlive timer.
    let measured = app(&report)["timers"]["interval_ms"].as_u64().unwrap();
    assert!((800..=1300).contains(&measured), "{measured}");
    let Some(nginx) = support::nginx(addr, "proxy_read_timeout 2s;") else {
        return;
    };
    let url = format!("ws://{}/graphql", nginx.addr);
    let (code, report) = probe(&url, &["--watch", "4s", "--app", "graphql-ws"]);
    assert_held_healthy(code, &report, "graphql-ws");
}

#[test]
fn legacy_graphql_ws_connection_error_is_the_servers_decision() {
    let Some((_server, addr)) = graphql(&["legacy", "0", "0", "reject"]) else {
        return;
    };
    let (code, report) = probe(
        &format!("ws://{addr}/graphql"),
        &["--watch", "3s", "--app", "graphql-ws"],
    );
    assert_eq!(code, 1, "{report:#}");
    let top = &report["findings"][0];
    assert!(
        top["title"].as_str().unwrap().contains("connection_error"),
        "{report:#}"
    );
    // subscriptions-transport-ws documents connection_error as onConnect's
    // refusal: upgrade-rejected, as graphql-transport-ws's 4403.
    assert_eq!(top["id"], "upgrade-rejected", "{report:#}");
    assert!(!ids(&report).contains(&"healthy".to_owned()));
}

#[test]
fn unknown_protocols_are_refused() {
    // Every protocol --app names is spoken now (phoenix was not, at first).
    let out = Command::cargo_bin("wsdoctor")
        .unwrap()
        .args(["probe", "ws://127.0.0.1:9/", "--app", "bogus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn explain_answers_every_graphql_transport_ws_code() {
    for code in [
        "4400", "4401", "4403", "4406", "4408", "4409", "4429", "4499", "4500",
    ] {
        let out = Command::cargo_bin("wsdoctor")
            .unwrap()
            .args(["explain", code, "--json"])
            .output()
            .unwrap();
        let e: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            e["title"]
                .as_str()
                .unwrap()
                .contains("graphql-transport-ws"),
            "{code}: {e:#}"
        );
        assert!(e["sources"].to_string().contains("read 2026"), "{code}");
    }
}

fn idle(url: &str, extra: &[&str]) -> Value {
    let out = Command::cargo_bin("wsdoctor")
        .unwrap()
        .args(["idle", url, "--json"])
        .args(extra)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    support::schema_validate(&report);
    report
}

#[test]
fn idle_speaks_socketio_on_every_arm() {
    let Some((_server, addr)) = socketio(1500, 1500, false) else {
        return;
    };
    // Direct: the data arm sends Engine.IO's noop, every arm answers the
    // pings, so nothing is dropped (before, the data arm was closed at once
    // and the rest at pingInterval + pingTimeout).
    let report = idle(&format!("ws://{addr}/socket.io/"), &["--max", "6s"]);
    assert_eq!(report["verdict"], "healthy", "{report:#}");
    let Some(nginx) = support::nginx(addr, "proxy_read_timeout 1s;") else {
        return;
    };
    let report = idle(
        &format!("ws://{}/socket.io/", nginx.addr),
        &["--max", "6s", "--interval", "300ms"],
    );
    let idle = finding(&report, "idle-timeout");
    assert_eq!(idle["intermediary"], "nginx", "{report:#}");
    let slow = finding(&report, "heartbeat-too-slow");
    assert!(
        slow["title"].as_str().unwrap().contains("pingInterval"),
        "{slow:#}"
    );
    assert!(
        !ids(&report).contains(&"no-heartbeat".to_owned()),
        "{report:#}"
    );
}

#[test]
fn watch_speaks_socketio_so_its_server_keeps_every_connection() {
    let Some((_server, addr)) = socketio(1000, 1000, false) else {
        return;
    };
    let url = format!("ws://{addr}/socket.io/");
    let watch = |app: &str| {
        let out = Command::cargo_bin("wsdoctor")
            .unwrap()
            .args(["watch", &url, "--json", "--duration", "5s", "--conns", "2"])
            .args(["--interval", "500ms", "--app", app])
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        support::schema_validate(&report);
        report
    };
    // Spoken: every arm answers the server's pings (the data arm sends
    // Engine.IO's noop), so nothing drops in 5 s, four pingIntervals.
    let report = watch("auto");
    assert_eq!(report["verdict"], "healthy", "{report:#}");
    // Its findings carry the protocol and the timers the server announced.
    let healthy = &report["findings"][0];
    assert_eq!(
        healthy["measured"]["app_protocol"], "socketio",
        "{healthy:#}"
    );
    assert_eq!(healthy["measured"]["app_ping_interval_s"], 1.0);
    assert!(
        healthy["evidence"].to_string().contains("(pingInterval)"),
        "{healthy:#}"
    );
    // Not spoken: the server ends every connection at pingInterval +
    // pingTimeout; the watch sees it (the difference is the protocol).
    let report = watch("raw");
    assert_ne!(report["verdict"], "healthy", "{report:#}");
}

/// `wsdoctor flow URL --expect-every 500ms --max 4s` (auto: the path says
/// Socket.IO) against the real socket.io server emitting a `tick` event
/// every 100 ms, with Engine.IO pinging every 300 ms.
fn flow_socketio(server_args: &[&str]) -> (i32, Value) {
    let mut args = vec!["0", "300", "200"];
    args.extend_from_slice(server_args);
    let Some((_server, addr)) = node_peer("socketio_server.js", &args) else {
        return (-1, Value::Null);
    };
    let out = Command::cargo_bin("wsdoctor")
        .unwrap()
        .args(["flow", &format!("ws://{addr}/socket.io/")])
        .args(["--expect-every", "500ms", "--max", "4s", "--json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    support::schema_validate(&report);
    (out.status.code().unwrap_or(-1), report)
}

#[test]
fn flow_counts_socketio_events_not_its_pings_so_a_stalled_handler_shows() {
    // The events stop after 1 s; Engine.IO's pings (data messages on the
    // wire, every 300 ms) go on, and would hide the stall if counted.
    let (code, report) = flow_socketio(&["tick=100", "stopAfter=1000"]);
    if report.is_null() {
        return;
    }
    assert_eq!(code, 1, "{report:#}");
    let top = &report["findings"][0];
    assert_eq!(top["id"], "handler-stalled", "{report:#}");
    assert_eq!(top["measured"]["app_protocol"], "socketio");
    let stopped = top["measured"]["stall_after_s"].as_f64().unwrap();
    assert!((0.9..=1.4).contains(&stopped), "{report:#}");
    assert!(
        top["evidence"].to_string().contains("heartbeat came"),
        "{report:#}"
    );
}

#[test]
fn flow_speaks_socketio_and_calls_a_flowing_stream_healthy() {
    let (code, report) = flow_socketio(&["tick=100"]);
    if report.is_null() {
        return;
    }
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["findings"][0]["id"], "healthy", "{report:#}");
    let flow = &report["observations"]["flow"];
    // Held for the whole watch (a client that does not answer the pings
    // is closed at 500 ms), with only the tick events counted.
    assert!(flow["messages"].as_u64().unwrap() >= 30, "{flow:#}");
    assert_eq!(flow["connection"]["app"]["protocol"], "socketio");
    assert!(
        flow["connection"]["app"]["server_heartbeats"]
            .as_u64()
            .unwrap()
            >= 10
    );
}

/// SignalR's negotiate step. No SignalR server runs here (it needs ASP.NET
/// Core), so tests/peers/signalr_transcript_server.py (aiohttp) replays the
/// exchange of the published spec (TransportProtocols.md, HubProtocol.md):
/// the version-1 negotiate answer, and a hub that refuses the upgrade with
/// 404 "No Connection with that ID" unless `id=<connectionToken>` is given,
/// as ASP.NET Core does when negotiation is required.
#[test]
fn signalr_negotiates_when_the_hub_requires_it() {
    let Some((_peer, port)) =
        support::python_peer(&["tests/peers/signalr_transcript_server.py", "0.5"], |l| {
            l.trim().parse().ok()
        })
    else {
        return;
    };
    let (code, report) = probe(
        &format!("ws://127.0.0.1:{port}/chathub"),
        &["--app", "signalr", "--watch", "2s"],
    );
    assert_eq!(code, 0, "{report:#}");
    let healthy = &report["findings"][0];
    assert_eq!(healthy["id"], "healthy", "{report:#}");
    assert_eq!(healthy["measured"]["app_protocol"], "signalr");
    let text = report.to_string();
    assert!(text.contains("negotiated: POST"), "{report:#}");
    // The connectionToken went in the URL and is redacted in the report.
    assert!(text.contains("id=REDACTED"), "{report:#}");
    assert!(!text.contains("05265228-1e2c"), "{report:#}");
}
