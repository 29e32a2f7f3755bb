//! `load --app`: every connection of a ramp speaks the application protocol
//! as its real client does, against a real socket.io 4.8 server
//! (tests/peers/node, installed by `.ci/run` with `npm ci`) whose
//! pingInterval is scaled down to 1 s (pingTimeout 0.5 s): with `auto` the
//! connections are held past pingInterval + pingTimeout; with `--app raw`
//! the server drops every one of them then.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::net::SocketAddr;

use serde_json::Value;
use support::KillOnDrop;

fn socketio() -> Option<(KillOnDrop, SocketAddr)> {
    support::node_peer(
        "socketio_server.js",
        &["0", "1000", "500"],
        support::listening_port,
    )
}

fn load(url: &str, extra: &[&str]) -> (i32, Value) {
    let fixed = ["load", url, "-c", "100", "--rate", "1000", "--step", "100"];
    support::wsdoctor_json(&[&fixed[..], &["--hold", "3s", "--json"], extra].concat())
}

fn drops(report: &Value) -> u64 {
    report["observations"]["load"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["drops"].as_object().unwrap().values())
        .map(|n| n.as_u64().unwrap())
        .sum()
}

#[test]
fn socketio_sessions_are_held_past_ping_interval_plus_timeout() {
    let Some((_server, addr)) = socketio() else {
        return;
    };
    // auto decides from the path, and adds EIO=4&transport=websocket.
    let (code, report) = load(&format!("ws://{addr}/socket.io/"), &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["verdict"], "healthy");
    assert_eq!(drops(&report), 0);
    assert_eq!(report["observations"]["load"]["peak_open"], 100);
    assert!(report["target"]
        .as_str()
        .unwrap()
        .contains("EIO=4&transport=websocket"));
    assert_eq!(report["observations"]["load"]["app"]["spoken"], true);
}

#[test]
fn socketio_drops_raw_connections_at_ping_interval_plus_timeout() {
    let Some((_server, addr)) = socketio() else {
        return;
    };
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (code, report) = load(&url, &["--app", "raw"]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(drops(&report), 100, "{report:#}");
    // Why: the protocol's own timeout for a client that does not answer
    // its pings, not a load limit at 0 connections.
    let top = &report["findings"][0];
    assert_eq!(top["id"], "app-heartbeat-timeout", "{report:#}");
    assert!(top["title"].as_str().unwrap().contains("pingInterval"));
    assert!(top["fix"].to_string().contains("--app socketio"));
    assert!(!report["findings"].to_string().contains("load-limit"));
    let app = &report["observations"]["load"]["app"];
    assert_eq!(app["protocol"], "socketio");
    assert_eq!(app["spoken"], false);
}
