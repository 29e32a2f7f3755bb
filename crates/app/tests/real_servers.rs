//! The codecs and the protocols' clients (through [`AppSession`], as the
//! connection drives it) against real servers: aedes 1.2 (npm, MQTT 3.1.1
//! over WebSocket), stomp-broker-js 1.3 (npm, STOMP 1.1 over WebSocket) and
//! Rails Action Cable 6.1 (Debian ruby-actioncable on puma). All installed by
//! `.ci/run`; skipped with a note when missing, except under CI.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::Message;
use wsdoctor_app::mqtt::codec as mqtt;
use wsdoctor_app::stomp::codec as stomp;
use wsdoctor_app::{plan, AppChoice, AppSession, Outgoing, StartContext};
use wsdoctor_evidence::{AppEventKind, AppRecord};

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn peers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/node")
}

/// Starts `node SCRIPT ARGS…` from tests/peers/node and reads its port.
fn node_peer(script: &str, args: &[&str]) -> Option<(KillOnDrop, u16)> {
    let dir = peers_dir();
    if !dir.join("node_modules").is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run npm ci in tests/peers/node (see .ci/run)"
        );
        eprintln!("skipped: tests/peers/node/node_modules is missing (npm ci there)");
        return None;
    }
    peer("node", script, args, &dir)
}

/// Starts `ruby tests/peers/actioncable_server.rb ARGS…` and reads its port.
fn actioncable_peer(args: &[&str]) -> Option<(KillOnDrop, u16)> {
    let dir = peers_dir().join("..");
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
    peer("ruby", "actioncable_server.rb", args, &dir)
}

fn peer(
    program: &str,
    script: &str,
    args: &[&str],
    dir: &std::path::Path,
) -> Option<(KillOnDrop, u16)> {
    let child = Command::new(program)
        .arg(script)
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let Ok(child) = child else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install {program} (see .ci/run)"
        );
        eprintln!("skipped: {program} is not installed");
        return None;
    };
    let mut peer = KillOnDrop(child);
    let stdout = peer.0.stdout.take()?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).ok()?;
    let port = line.trim().parse().ok()?;
    Some((peer, port))
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str, subprotocol: &str) -> (Socket, Option<String>) {
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", subprotocol.parse().unwrap());
    let (socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    let chosen = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    (socket, chosen)
}

async fn next_binary(socket: &mut Socket) -> Option<Vec<u8>> {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .ok()??
        {
            Ok(Message::Binary(bytes)) => return Some(bytes.to_vec()),
            Ok(Message::Text(text)) => return Some(text.as_bytes().to_vec()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Reads messages until they complete at least one packet (aedes writes a
/// packet's header and body as separate WebSocket messages).
async fn next_packets(socket: &mut Socket, decoder: &mut mqtt::Decoder) -> Vec<mqtt::Packet> {
    for _ in 0..16 {
        let packets = decoder.push(&next_binary(socket).await.unwrap()).unwrap();
        if !packets.is_empty() {
            return packets;
        }
    }
    panic!("16 messages and no whole packet");
}

#[tokio::test]
async fn mqtt_311_connect_ping_and_keep_alive_timeout_against_aedes() {
    let Some((_broker, port)) = node_peer("mqtt_broker.mjs", &[]) else {
        return;
    };
    let (mut socket, chosen) = connect(&format!("ws://127.0.0.1:{port}/"), mqtt::SUBPROTOCOL).await;
    assert_eq!(chosen.as_deref(), Some("mqtt"));
    let connect = mqtt::Connect {
        version: mqtt::Version::V311,
        client_id: "wsdoctor-test".into(),
        keep_alive: 1,
        clean_start: true,
        username: None,
        password: None,
    };
    socket
        .send(Message::binary(mqtt::encode_connect(&connect)))
        .await
        .unwrap();
    let mut decoder = mqtt::Decoder::new(mqtt::Version::V311);
    let packets = next_packets(&mut socket, &mut decoder).await;
    assert!(
        matches!(&packets[..], [mqtt::Packet::ConnAck(ack)] if ack.code == 0),
        "{packets:?}"
    );
    socket
        .send(Message::binary(mqtt::PINGREQ.to_vec()))
        .await
        .unwrap();
    let packets = next_packets(&mut socket, &mut decoder).await;
    assert_eq!(packets, [mqtt::Packet::PingResp]);
    // Now stay silent: aedes closes after 1.5 × keep-alive (1.5 s).
    let silent = Instant::now();
    assert_eq!(next_binary(&mut socket).await, None);
    let waited = silent.elapsed();
    assert!(
        waited >= Duration::from_millis(1400) && waited < Duration::from_millis(3000),
        "closed after {waited:?}, expected about 1.5 s"
    );
}

#[tokio::test]
async fn mqtt_5_connect_is_refused_by_a_311_broker_with_code_1() {
    let Some((_broker, port)) = node_peer("mqtt_broker.mjs", &[]) else {
        return;
    };
    let (mut socket, _) = connect(&format!("ws://127.0.0.1:{port}/"), mqtt::SUBPROTOCOL).await;
    let connect = mqtt::Connect {
        version: mqtt::Version::V5,
        client_id: "wsdoctor-test".into(),
        keep_alive: 60,
        clean_start: true,
        username: None,
        password: None,
    };
    socket
        .send(Message::binary(mqtt::encode_connect(&connect)))
        .await
        .unwrap();
    // aedes answers in 3.1.1 form; a v5 client reads the same two bytes.
    let mut decoder = mqtt::Decoder::new(mqtt::Version::V311);
    let packets = next_packets(&mut socket, &mut decoder).await;
    assert!(
        matches!(&packets[..], [mqtt::Packet::ConnAck(ack)] if ack.code == 1),
        "{packets:?}"
    );
    assert_eq!(
        mqtt::describe(mqtt::Version::V311, 1).map(|(name, _)| name),
        Some("Unacceptable protocol version")
    );
}

#[tokio::test]
async fn stomp_connect_heart_beat_and_silence_against_stomp_broker_js() {
    // The broker wants a client heart-beat every 500 ms (margin 300 ms).
    let Some((_broker, port)) = node_peer("stomp_broker.js", &["500", "300"]) else {
        return;
    };
    let (mut socket, _) = connect(&format!("ws://127.0.0.1:{port}/stomp"), "v12.stomp").await;
    let client = stomp::HeartBeat {
        can_send_ms: 200,
        wants_ms: 0,
    };
    let frame = stomp::connect_frame(Some("127.0.0.1"), stomp::Version::V12, client);
    socket
        .send(Message::text(
            String::from_utf8(frame.encode(stomp::Version::V12)).unwrap(),
        ))
        .await
        .unwrap();
    let mut decoder = stomp::Decoder::new(stomp::Version::V12);
    let got = decoder
        .push(&next_binary(&mut socket).await.unwrap())
        .unwrap();
    let Some(stomp::Incoming::Frame(connected)) = got.first() else {
        panic!("{got:?}")
    };
    assert_eq!(connected.command, "CONNECTED");
    assert_eq!(connected.header("version"), Some("1.1"));
    let server = connected
        .header("heart-beat")
        .and_then(stomp::HeartBeat::parse);
    let negotiated = stomp::negotiate(client, server);
    assert_eq!(
        negotiated.client_sends_every,
        Some(Duration::from_millis(500))
    );
    assert_eq!(negotiated.server_sends_every, None);
    // Heart-beats at the negotiated period keep the connection open ...
    for beat in 0..5 {
        if let Ok(message) = tokio::time::timeout(Duration::from_millis(400), socket.next()).await {
            panic!("heart-beat {beat}: the broker sent {message:?} while the client kept its heart-beat");
        }
        socket.send(Message::text("\n")).await.unwrap();
    }
    // ... and silence gets it closed by the broker after the period + margin.
    let silent = Instant::now();
    assert_eq!(next_binary(&mut socket).await, None);
    let waited = silent.elapsed();
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_secs(3),
        "closed after {waited:?}"
    );
}

/// Runs one connection the way the shell does: plan, connect offering the
/// plan's subprotocols, start the session, feed it every message, send what
/// it queues, fire its timers; for `watch`, or until the server closes.
async fn drive(choice: &str, url: &str, watch: Duration) -> (AppRecord, bool) {
    let mut url = url::Url::parse(url).unwrap();
    let mut offered = Vec::new();
    let plan = plan(choice.parse::<AppChoice>().unwrap(), &mut url, &mut offered).unwrap();
    let mut request = url.as_str().into_client_request().unwrap();
    if !offered.is_empty() {
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            offered.join(", ").parse().unwrap(),
        );
    }
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    let chosen = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let start = Instant::now();
    let context = StartContext {
        query: url.query().unwrap_or_default().to_owned(),
        subprotocol: chosen,
        login: None,
    };
    let mut session = AppSession::new(&plan, context, start);
    session.start(start);
    let deadline = start + watch;
    let mut closed_by_server = false;
    loop {
        while let Some(out) = session.poll_transmit() {
            let message = match out {
                Outgoing::Text(text) => Message::text(text),
                Outgoing::Binary(bytes) => Message::binary(bytes),
            };
            socket.send(message).await.unwrap();
        }
        let wake = session
            .poll_timeout()
            .map_or(deadline, |due| due.min(deadline));
        let wait = wake.saturating_duration_since(Instant::now());
        match tokio::time::timeout(wait, socket.next()).await {
            Err(_) => {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                session.handle_timeout(now);
            }
            Ok(Some(Ok(Message::Text(text)))) => session.handle_text(Instant::now(), text.as_str()),
            Ok(Some(Ok(Message::Binary(bytes)))) => session.handle_binary(Instant::now(), &bytes),
            Ok(Some(Ok(Message::Close(_))) | None | Some(Err(_))) => {
                closed_by_server = true;
                break;
            }
            Ok(Some(Ok(_))) => {}
        }
    }
    (session.into_record(), closed_by_server)
}

#[tokio::test]
async fn mqtt_session_connects_to_aedes_and_holds() {
    let Some((_broker, port)) = node_peer("mqtt_broker.mjs", &[]) else {
        return;
    };
    let (record, closed) = drive(
        "auto",
        &format!("ws://127.0.0.1:{port}/mqtt"),
        Duration::from_millis(1500),
    )
    .await;
    assert!(
        !closed,
        "aedes closed a connection that sent CONNECT: {record:?}"
    );
    assert_eq!(record.protocol.as_deref(), Some("mqtt"));
    assert!(record.init_acked(), "{record:?}");
}

#[tokio::test]
async fn mqtt_session_reads_aedes_refusing_a_keep_alive_over_its_limit() {
    // aedes' keepaliveLimit (seconds) refuses a CONNECT whose keep-alive is
    // above it (CONNACK 6 in aedes' table; not a 3.1.1 code): the session
    // records the refusal with the code it got.
    let Some((_broker, port)) = node_peer("mqtt_broker.mjs", &["30"]) else {
        return;
    };
    let (record, _) = drive(
        "mqtt",
        &format!("ws://127.0.0.1:{port}/"),
        Duration::from_millis(1500),
    )
    .await;
    assert!(!record.init_acked());
    assert!(
        record.events.iter().any(|e| matches!(&e.kind, AppEventKind::Disconnect { reason, .. } if reason.starts_with("CONNACK 0x06"))),
        "{record:?}"
    );
}

#[tokio::test]
async fn stomp_session_negotiates_heart_beats_with_stomp_broker_js() {
    let Some((_broker, port)) = node_peer("stomp_broker.js", &["500", "300"]) else {
        return;
    };
    let (record, closed) = drive(
        "auto",
        &format!("ws://127.0.0.1:{port}/stomp"),
        Duration::from_millis(1500),
    )
    .await;
    assert!(!closed, "{record:?}");
    assert_eq!(record.protocol.as_deref(), Some("stomp"));
    assert_eq!(record.version.as_deref(), Some("STOMP 1.1"));
    // The broker wants the client's beat every MAX(cx 10000, 500) ms.
    let timers = record.timers.clone().unwrap();
    assert_eq!((timers.interval_ms, timers.announced), (10_000, true));
    assert!(record.init_acked());
}

#[tokio::test]
async fn actioncable_session_counts_pings_and_reads_an_unauthorized_disconnect() {
    let Some((_server, port)) = actioncable_peer(&["0.2"]) else {
        return;
    };
    let (record, closed) = drive(
        "auto",
        &format!("ws://127.0.0.1:{port}/cable"),
        Duration::from_millis(1500),
    )
    .await;
    assert!(!closed, "{record:?}");
    assert_eq!(record.protocol.as_deref(), Some("actioncable"));
    assert!(record.init_acked());
    assert!(
        record.server_heartbeats >= 4,
        "{} pings in 1.5 s at 0.2 s",
        record.server_heartbeats
    );
    assert!(!record
        .events
        .iter()
        .any(|e| matches!(e.kind, AppEventKind::Overdue { .. })));

    let (record, closed) = drive(
        "auto",
        &format!("ws://127.0.0.1:{port}/cable?token=reject"),
        Duration::from_secs(3),
    )
    .await;
    assert!(closed);
    assert!(
        record.events.iter().any(|e| matches!(&e.kind,
            AppEventKind::Disconnect { reason, .. } if reason.contains("\"unauthorized\"") && reason.contains("reconnect: false"))),
        "{record:?}"
    );
}
