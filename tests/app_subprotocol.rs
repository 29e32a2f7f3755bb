//! A WebSocket server that refuses what we offered (its subprotocol, its
//! Engine.IO query) is the server's refusal, not a proxy that dropped the
//! Upgrade header: against real python-websockets 15 (PyPI), npm `ws` 8 and
//! socket.io 4.8 (tests/peers/node), direct and through real nginx.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::net::SocketAddr;

use serde_json::Value;
use support::KillOnDrop;

fn probe(url: &str, extra: &[&str]) -> (i32, Value) {
    support::wsdoctor_json(&[&["probe", url, "--json", "--no-fingerprint"], extra].concat())
}

fn ids(report: &Value) -> Vec<String> {
    support::finding_ids(report)
}

/// python-websockets 15 accepting only `chat` (it answers 400 to a
/// handshake offering none of its subprotocols).
/// A skip when python3 or websockets is missing, which fails under CI.
fn python_websockets_chat() -> Option<(KillOnDrop, u16)> {
    support::require("python3")?;
    let peer = support::python_peer(
        &[
            "tests/peers/python_websockets_echo.py",
            "0",
            "--subprotocols",
            "chat",
        ],
        |l| l.trim().parse().ok(),
    );
    assert!(
        peer.is_some() || std::env::var_os("CI").is_none(),
        "python-websockets did not start (pip install websockets==15.0.1)"
    );
    peer
}

fn assert_refused_subprotocol(code: i32, report: &Value) {
    assert_eq!(code, 1);
    let top = &report["findings"][0];
    assert_eq!(top["id"], "upgrade-rejected", "{report:#}");
    assert_eq!(top["measured"]["http_status"], 400);
    let title = top["title"].as_str().unwrap();
    assert!(
        title.contains("refused") && title.contains("chat"),
        "{title}"
    );
    let fixes = top["fix"].to_string();
    assert!(fixes.contains("--subprotocol chat"), "{fixes}");
    assert!(
        !ids(report).contains(&"upgrade-not-forwarded".to_owned()),
        "{report:#}"
    );
}

#[test]
fn python_websockets_refusing_our_subprotocol_is_the_servers_refusal() {
    let Some((_server, port)) = python_websockets_chat() else {
        return;
    };
    let url = format!("ws://127.0.0.1:{port}/");
    // Offered one it does not speak: "invalid subprotocol; expected one of chat".
    let (code, report) = probe(
        &url,
        &[
            "--subprotocol",
            "superchat",
            "--app",
            "raw",
            "--watch",
            "1s",
        ],
    );
    assert_refused_subprotocol(code, &report);
    assert!(report["findings"][0]["title"]
        .as_str()
        .unwrap()
        .contains("superchat"));
    // Offered none: "missing subprotocol".
    let (code, report) = probe(&url, &["--app", "raw", "--watch", "1s"]);
    assert_eq!(code, 1);
    assert_eq!(
        report["findings"][0]["id"], "upgrade-rejected",
        "{report:#}"
    );
    assert!(report["findings"][0]["title"]
        .as_str()
        .unwrap()
        .contains("offering no subprotocol"));
    // The one it speaks: healthy.
    let (code, report) = probe(&url, &["--subprotocol", "chat", "--watch", "1s"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["verdict"], "healthy");
}

#[test]
fn python_websockets_refusal_through_nginx_is_not_blamed_on_nginx() {
    let Some((_server, port)) = python_websockets_chat() else {
        return;
    };
    let Some(nginx) = support::nginx(SocketAddr::from(([127, 0, 0, 1], port)), "") else {
        return;
    };
    let (code, report) = probe(
        &format!("ws://{}/", nginx.addr),
        &[
            "--subprotocol",
            "superchat",
            "--app",
            "raw",
            "--watch",
            "1s",
        ],
    );
    assert_refused_subprotocol(code, &report);
}

fn node_peer(script: &str, args: &[&str]) -> Option<(KillOnDrop, SocketAddr)> {
    support::node_peer(script, args, support::listening_port)
}

#[test]
fn ws_choosing_no_subprotocol_is_not_healthy() {
    // npm ws 8 with handleProtocols returning false: a 101 without
    // Sec-WebSocket-Protocol, which browsers and ws's client fail.
    let Some((_server, addr)) = node_peer("ws_server.js", &["0", "protocols=chat"]) else {
        return;
    };
    let url = format!("ws://{addr}/");
    let (code, report) = probe(
        &url,
        &[
            "--subprotocol",
            "superchat",
            "--app",
            "raw",
            "--watch",
            "1s",
        ],
    );
    assert_eq!(code, 1, "{report:#}");
    let top = &report["findings"][0];
    assert_eq!(top["id"], "upgrade-rejected", "{report:#}");
    assert_eq!(top["severity"], "warning");
    assert!(top["title"].as_str().unwrap().contains("superchat"));
    assert!(!ids(&report).contains(&"healthy".to_owned()));
    let (code, report) = probe(&url, &["--subprotocol", "chat", "--watch", "1s"]);
    assert_eq!(code, 0, "{report:#}");
    // No subprotocol offered, none chosen: nothing to say.
    let (code, report) = probe(&url, &["--watch", "1s"]);
    assert_eq!(code, 0, "{report:#}");
}

#[test]
fn engine_io_refusing_the_query_is_socketio_not_a_proxy() {
    let Some((_server, addr)) = node_peer("socketio_server.js", &["0", "2000", "1500"]) else {
        return;
    };
    // raw sends the URL as given: no transport=websocket.
    let (code, report) = probe(
        &format!("ws://{addr}/socket.io/"),
        &["--app", "raw", "--watch", "1s"],
    );
    assert_eq!(code, 1);
    let top = &report["findings"][0];
    assert_eq!(top["id"], "upgrade-rejected", "{report:#}");
    assert!(top["title"].as_str().unwrap().contains("Transport unknown"));
    assert!(top["fix"].to_string().contains("--app socketio"));
    // The same through nginx: nginx passed the upgrade, Engine.IO refused it.
    let Some(nginx) = support::nginx(addr, "") else {
        return;
    };
    let (_, report) = probe(
        &format!("ws://{}/socket.io/?EIO=4", nginx.addr),
        &["--app", "raw", "--watch", "1s"],
    );
    let top = &report["findings"][0];
    assert_eq!(top["id"], "upgrade-rejected", "{report:#}");
    assert!(top["title"].as_str().unwrap().contains("Transport unknown"));
}
