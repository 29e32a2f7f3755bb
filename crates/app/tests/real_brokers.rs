//! The codecs against real brokers from npm (installed into tests/peers/node
//! by `.ci/run`): aedes 1.2 (MQTT 3.1.1 over WebSocket) and stomp-broker-js
//! 1.3 (STOMP 1.1 over WebSocket). Skipped with a note when node or the
//! packages are missing, except under CI.

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
    let child = Command::new("node")
        .arg(script)
        .args(args)
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let Ok(child) = child else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install node (see .ci/run)"
        );
        eprintln!("skipped: node is not installed");
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
