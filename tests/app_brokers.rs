//! `wsdoctor probe` speaking MQTT, STOMP and Action Cable to real servers,
//! direct and through real nginx with a `proxy_read_timeout` shorter than
//! the protocol's heartbeat:
//! - MQTT: aedes 1.2 with aedes-server-factory (npm), MQTT 3.1.1 over WebSocket;
//! - MQTT 3.1.1 and 5: Debian's mosquitto (2.0.11 here), anonymous and with
//!   a password file, behind tests/peers/node/mqtt_ws_bridge.js (ours: a
//!   WebSocket-to-TCP pipe, since Debian's mosquitto fails every websockets
//!   listener with "Unable to start any listening sockets");
//! - STOMP: stomp-broker-js 1.3 (npm), STOMP 1.1 over WebSocket, with a
//!   login required through its connect middleware for the login test;
//! - Action Cable: Rails 6.1 (Debian ruby-actioncable) on puma.
//!
//! SignalR and Phoenix have no server installable here (ASP.NET Core, Hex):
//! they are tested against transcripts in crates/app (signalr/tests.rs,
//! phoenix/tests.rs).

#![allow(clippy::print_stderr)]

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use assert_cmd::cargo::CommandCargoExt as _;
use serde_json::Value;
use support::KillOnDrop;

fn peers() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers")
}

fn bare_port(line: &str) -> Option<u16> {
    line.trim().parse().ok()
}

fn node_peer(script: &str, args: &[&str]) -> Option<(KillOnDrop, SocketAddr)> {
    support::node_peer(script, args, bare_port)
}

fn actioncable_peer(beat_s: &str) -> Option<(KillOnDrop, SocketAddr)> {
    let loads = Command::new("ruby")
        .args(["-e", "require 'action_cable'; require 'puma'"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !loads {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install ruby-actioncable and puma (see .ci/run)"
        );
        eprintln!("skipped: ruby with actioncable and puma is not installed");
        return None;
    }
    let (server, port) = support::spawn_peer(
        "ruby",
        &peers(),
        &["actioncable_server.rb", beat_s],
        bare_port,
    )
    .unwrap_or_else(|| panic!("actioncable_server.rb did not start or said no port"));
    Some((server, SocketAddr::from(([127, 0, 0, 1], port))))
}

fn probe(url: &str, extra: &[&str]) -> Value {
    run("probe", url, extra)
}

fn run(command: &str, url: &str, extra: &[&str]) -> Value {
    run_with_env(command, url, extra, None)
}

/// Runs wsdoctor with `password` in WSDOCTOR_APP_PASSWORD (or without the
/// variable), and fails if the password shows anywhere in its output.
fn run_with_env(command: &str, url: &str, extra: &[&str], password: Option<&str>) -> Value {
    let mut wsdoctor = Command::cargo_bin("wsdoctor").unwrap_or_else(|e| panic!("{e}"));
    wsdoctor.env_remove("WSDOCTOR_APP_PASSWORD");
    if let Some(password) = password {
        wsdoctor.env("WSDOCTOR_APP_PASSWORD", password);
    }
    let out = wsdoctor
        .args([command, url, "--json"])
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    for secret in [Some(SECRET), password].into_iter().flatten() {
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!said.contains(secret), "the password leaked: {said}");
    }
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    support::schema_validate(&report);
    report
}

/// The password the login tests' brokers accept.
const SECRET: &str = "s3cret-pw";

/// Debian's mosquitto on 127.0.0.1 at a free TCP port with its own config
/// in a temp dir (the system service, if any, plays no part), behind our
/// WebSocket bridge. `conf` is added to the listener's config. Returns the
/// broker, the bridge and the bridge's address; `None` (a skip, a failure
/// under CI) when mosquitto is not installed.
fn mosquitto(conf: &str) -> Option<(tempfile::TempDir, KillOnDrop, KillOnDrop, SocketAddr)> {
    let program = support::require("mosquitto")?;
    let passwd = support::require("mosquitto_passwd")?;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let passwords = dir.path().join("passwords");
    let made = Command::new(passwd)
        .args(["-b", "-c"])
        .arg(&passwords)
        .args(["alice", SECRET])
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        made,
        "mosquitto_passwd could not write {}",
        passwords.display()
    );
    let port = support::free_port();
    let config = dir.path().join("mosquitto.conf");
    std::fs::write(
        &config,
        format!(
            "listener {port} 127.0.0.1\npersistence false\nlog_dest stderr\npassword_file {}\n{conf}\n",
            passwords.display()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let broker = KillOnDrop(
        Command::new(program)
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("mosquitto: {e}")),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "mosquitto did not listen on {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (bridge, addr) = node_peer("mqtt_ws_bridge.js", &[&port.to_string()])?;
    Some((dir, broker, bridge, addr))
}

fn ids(report: &Value) -> Vec<&str> {
    report["findings"]
        .as_array()
        .map(|list| list.iter().filter_map(|f| f["id"].as_str()).collect())
        .unwrap_or_default()
}

fn finding<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .and_then(|list| list.iter().find(|f| f["id"] == id))
        .unwrap_or_else(|| panic!("no {id} in {:#}", report["findings"]))
}

/// Held for the whole watch, the protocol spoken, called healthy.
fn assert_healthy(report: &Value, protocol: &str) {
    assert_eq!(ids(report)[0], "healthy", "{:#}", report["findings"]);
    let healthy = finding(report, "healthy");
    assert_eq!(healthy["measured"]["app_protocol"], protocol, "{healthy:#}");
    assert!(
        healthy["measured"]["open_for_s"]
            .as_f64()
            .unwrap_or_default()
            >= 2.9,
        "{healthy:#}"
    );
}

/// nginx's `proxy_read_timeout 2s` cut the connection before the protocol's
/// heartbeat: idle-timeout at nginx, and heartbeat-too-slow naming the setting.
fn assert_cut_by_nginx_before(report: &Value, setting: &str, fix_mentions: &str) {
    let found = ids(report);
    assert!(
        !found.contains(&"healthy") && !found.contains(&"no-heartbeat"),
        "{found:?}"
    );
    let idle = finding(report, "idle-timeout");
    let measured = idle["measured"]["idle_timeout_s"]
        .as_f64()
        .unwrap_or_default();
    assert!((1.5..=3.0).contains(&measured), "{idle:#}");
    let slow = finding(report, "heartbeat-too-slow");
    assert!(
        slow["title"].as_str().unwrap_or_default().contains(setting),
        "{slow:#}"
    );
    // The fix is said in the protocol's own words, next to the proxy's.
    let fixes = slow["fix"].to_string();
    assert!(
        fixes.contains(fix_mentions) && fixes.contains("proxy_read_timeout"),
        "{fixes}"
    );
}

#[test]
fn mqtt_against_aedes_direct_and_through_nginx() {
    let Some((_broker, addr)) = node_peer("mqtt_broker.mjs", &[]) else {
        return;
    };
    let report = probe(&format!("ws://{addr}/mqtt"), &["--watch", "3s"]);
    assert_healthy(&report, "mqtt");
    let Some(nginx) = support::nginx(addr, "proxy_read_timeout 2s;") else {
        return;
    };
    let report = probe(&format!("ws://{}/mqtt", nginx.addr), &["--watch", "5s"]);
    assert_cut_by_nginx_before(&report, "keepalive", "mqtt.connect(url, { keepalive: 1 })");
}

#[test]
fn idle_keeps_an_mqtt_data_arm_alive_with_pingreq() {
    // The data arm used to send its text keepalive, which an MQTT broker
    // answers by dropping the connection at once: idle then said "data
    // traffic closes connections". It sends the protocol's binary PINGREQ.
    let Some((_broker, addr)) = node_peer("mqtt_broker.mjs", &[]) else {
        return;
    };
    let report = run(
        "idle",
        &format!("ws://{addr}/mqtt"),
        &[
            "--max",
            "3s",
            "--samples",
            "1",
            "--interval",
            "500ms",
            "--heartbeat-window",
            "0s",
        ],
    );
    assert_eq!(report["verdict"], "healthy", "{:#}", report["findings"]);
    assert_eq!(ids(&report), ["healthy"]);
}

#[test]
fn stomp_against_stomp_broker_js_direct_and_through_nginx() {
    // The broker wants the client's heart-beat (every MAX(10000, 10000) ms
    // with stompjs's defaults), as RabbitMQ does.
    let Some((_broker, addr)) = node_peer("stomp_broker.js", &["10000"]) else {
        return;
    };
    let report = probe(&format!("ws://{addr}/stomp"), &["--watch", "3s"]);
    assert_healthy(&report, "stomp");
    let Some(nginx) = support::nginx(addr, "proxy_read_timeout 2s;") else {
        return;
    };
    let report = probe(&format!("ws://{}/stomp", nginx.addr), &["--watch", "5s"]);
    // The value is half the measured idle timeout (1000 or 1001 ms, as the
    // timer fired): the setting's name is what is checked.
    assert_cut_by_nginx_before(&report, "heart-beat", "heartbeatOutgoing: ");
}

#[test]
fn actioncable_against_rails_direct_and_through_nginx() {
    // Rails' own beat (3 s) against nginx's 2 s read timeout.
    let Some((_server, addr)) = actioncable_peer("3") else {
        return;
    };
    let report = probe(&format!("ws://{addr}/cable"), &["--watch", "4s"]);
    assert_healthy(&report, "actioncable");
    let Some(nginx) = support::nginx(addr, "proxy_read_timeout 2s;") else {
        return;
    };
    let report = probe(&format!("ws://{}/cable", nginx.addr), &["--watch", "5s"]);
    assert_cut_by_nginx_before(&report, "BEAT_INTERVAL", "has no setting for it");
}

#[test]
fn actioncable_unauthorized_is_the_servers_decision_never_healthy() {
    let Some((_server, addr)) = actioncable_peer("3") else {
        return;
    };
    let report = probe(
        &format!("ws://{addr}/cable?token=reject"),
        &["--watch", "3s"],
    );
    let found = ids(&report);
    assert!(!found.contains(&"healthy"), "{found:?}");
    // Action Cable documents "unauthorized": the contract's policy-close,
    // not a generic server close.
    assert!(found.contains(&"policy-close"), "{found:?}");
    assert!(!found.contains(&"server-close"), "{found:?}");
    let text = report["findings"].to_string();
    assert!(
        text.contains("unauthorized") && text.contains("reject_unauthorized_connection"),
        "{text}"
    );
}

/// A server that accepts only STOMP 1.1's subprotocol (python-websockets
/// 15 with `subprotocols=["v11.stomp"]`, which answers 400 to a handshake
/// offering none it accepts): wsdoctor offers all three, as @stomp/stompjs
/// does, and the server picks v11.stomp. Offering only v12.stomp (as before)
/// got "400 invalid subprotocol; expected one of v11.stomp".
#[test]
fn stomp_offers_every_version_as_stompjs_does() {
    let Some((_peer, port)) = support::python_peer(
        &[
            "tests/peers/python_websockets_echo.py",
            "0",
            "--subprotocols",
            "v11.stomp",
        ],
        |l| l.trim().parse().ok(),
    ) else {
        return;
    };
    let report = probe(
        &format!("ws://127.0.0.1:{port}/"),
        &["--app", "stomp", "--watch", "1s"],
    );
    let handshake = &report["observations"]["probes"][0]["connection"]["handshake"];
    assert_eq!(handshake["status"], 101, "{handshake:#}");
    assert_eq!(handshake["subprotocol"], "v11.stomp");
    assert!(handshake["request"]
        .to_string()
        .contains("Sec-WebSocket-Protocol: v12.stomp, v11.stomp, v10.stomp"));
}

#[test]
fn mqtt_311_and_5_against_mosquitto_direct_and_through_nginx() {
    let Some((_dir, _broker, _bridge, addr)) = mosquitto("allow_anonymous true") else {
        return;
    };
    let url = format!("ws://{addr}/mqtt");
    let report = probe(&url, &["--watch", "3s"]);
    assert_healthy(&report, "mqtt");
    let report = probe(&url, &["--watch", "3s", "--app", "mqtt5"]);
    assert_healthy(&report, "mqtt5");
    let Some(nginx) = support::nginx(addr, "proxy_read_timeout 2s;") else {
        return;
    };
    let through = format!("ws://{}/mqtt", nginx.addr);
    let report = probe(&through, &["--watch", "5s", "--app", "mqtt5"]);
    assert_cut_by_nginx_before(&report, "keepalive", "mqtt.connect(url, { keepalive: 1 })");
}

#[test]
fn mqtt5_pings_at_mosquittos_server_keep_alive() {
    // max_keepalive 10 (mosquitto's smallest): it answers MQTT 5's CONNECT
    // (keep-alive 60 s) with Server Keep Alive 10 in CONNACK and drops a
    // client silent for 15 s. Held for 17 s only if wsdoctor pings at the
    // broker's value.
    let Some((_dir, _broker, _bridge, addr)) = mosquitto("allow_anonymous true\nmax_keepalive 10")
    else {
        return;
    };
    let report = probe(
        &format!("ws://{addr}/mqtt"),
        &["--watch", "17s", "--app", "mqtt5"],
    );
    assert_healthy(&report, "mqtt5");
    assert!(
        report
            .to_string()
            .contains("Server Keep Alive 10 s replaces the 60 s"),
        "{report:#}"
    );
}

#[test]
fn mqtt_logins_against_mosquittos_password_file() {
    let Some((_dir, _broker, _bridge, addr)) = mosquitto("allow_anonymous false") else {
        return;
    };
    for app in ["mqtt", "mqtt5"] {
        // No login: refused, and the finding says so (not the path).
        let report = probe(
            &format!("ws://{addr}/mqtt"),
            &["--watch", "2s", "--app", app],
        );
        assert!(
            !ids(&report).contains(&"healthy"),
            "{app}: {:#}",
            report["findings"]
        );
        let refused = finding(&report, "policy-close").to_string();
        assert!(refused.contains("refused the login"), "{app}: {refused}");
        assert!(
            refused.contains("wsdoctor sent no login"),
            "{app}: {refused}"
        );
        // A wrong password from the environment: refused as a login.
        let report = run_with_env(
            "probe",
            &format!("ws://alice@{addr}/mqtt"),
            &["--watch", "2s", "--app", app],
            Some("wrong-pw"),
        );
        let refused = finding(&report, "policy-close").to_string();
        assert!(
            refused.contains("the login wsdoctor sent"),
            "{app}: {refused}"
        );
        // The right one, from the environment and from the URL.
        let report = run_with_env(
            "probe",
            &format!("ws://alice@{addr}/mqtt"),
            &["--watch", "3s", "--app", app],
            Some(SECRET),
        );
        assert_healthy(&report, app);
        let report = probe(
            &format!("ws://alice:{SECRET}@{addr}/mqtt"),
            &["--watch", "3s", "--app", app],
        );
        assert_healthy(&report, app);
    }
}

#[test]
fn stomp_login_against_stomp_broker_js() {
    let required = format!("alice:{SECRET}");
    let Some((_broker, addr)) = node_peer("stomp_broker.js", &["10000", "1000", &required]) else {
        return;
    };
    let report = probe(&format!("ws://{addr}/stomp"), &["--watch", "2s"]);
    assert!(
        !ids(&report).contains(&"healthy"),
        "{:#}",
        report["findings"]
    );
    let refused = finding(&report, "policy-close").to_string();
    assert!(refused.contains("wsdoctor sent no login"), "{refused}");
    let report = run_with_env(
        "probe",
        &format!("ws://alice@{addr}/stomp"),
        &["--watch", "3s"],
        Some(SECRET),
    );
    assert_healthy(&report, "stomp");
}
