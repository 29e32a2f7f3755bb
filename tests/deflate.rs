//! permessage-deflate (RFC 7692) end to end on 127.0.0.1: `probe --deflate`
//! against python-websockets (which accepts it by default), against `serve`
//! (HTTP/1.1 and HTTP/2), and against `serve` with deflate turned off.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::process::Command;
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;
use wsdoctor_diagnosis::{diagnose_probe, CauseId};
use wsdoctor_evidence::ProbeEvidence;
use wsdoctor_lab::{DiagServer, ServeConfig};
use wsdoctor_sources::conn::{ConnectOptions, HttpVersion, Target};
use wsdoctor_sources::probe::{run, ProbeConfig};

/// A compressible 10 KB message.
fn ten_kb() -> String {
    "compress me, I repeat myself. ".repeat(340)
}

#[test]
fn probe_deflate_against_python_websockets_inflates_the_echo() {
    let peer = support::python_peer(&["tests/peers/python_websockets_echo.py", "0"], |l| {
        l.trim().parse().ok()
    });
    let Some((_peer, port)) = peer else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install python3 and the websockets package"
        );
        eprintln!("skipped: python3 with the websockets package is not installed");
        return;
    };
    let url = format!("ws://127.0.0.1:{port}/");
    let message = ten_kb();
    let out = Command::cargo_bin("wsdoctor")
        .unwrap()
        .args([
            "probe",
            "--json",
            "--deflate",
            &url,
            "--watch",
            "1s",
            "--send",
        ])
        .arg(&message)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["verdict"], "healthy", "{report:#}");
    let probe = &report["observations"]["probes"][0];
    let deflate = &probe["connection"]["deflate"];
    // python-websockets 15 agrees with client_max_window_bits=12 by default.
    assert_eq!(deflate["server_no_context_takeover"], false, "{deflate:#}");
    assert!(deflate["compressed_messages_in"].as_u64().unwrap() >= 1);
    let inflated = deflate["inflated_bytes_in"].as_u64().unwrap();
    let compressed = deflate["compressed_bytes_in"].as_u64().unwrap();
    assert!(inflated >= message.len() as u64, "{deflate:#}");
    assert!(compressed * 10 < inflated, "{deflate:#}");
    let request = probe["connection"]["handshake"]["request"].to_string();
    assert!(request.contains("permessage-deflate; client_max_window_bits"));
    // The echo matched the message sent: it inflated to the same text.
    assert!(probe["sent"][0]["echo_rtt_us"].is_u64(), "{probe:#}");

    let text = Command::cargo_bin("wsdoctor")
        .unwrap()
        .args(["probe", "--deflate", &url, "--watch", "500ms", "--send"])
        .arg(&message)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("extensions") && text.contains("permessage-deflate (server_max_window_bits="),
        "{text}"
    );
}

async fn serve(deflate: bool, http2: bool) -> DiagServer {
    DiagServer::start(ServeConfig {
        ping_interval: None,
        deflate,
        http2,
        ..ServeConfig::default()
    })
    .await
    .unwrap()
}

async fn probe(server: &DiagServer, http: HttpVersion) -> ProbeEvidence {
    let mut connect = ConnectOptions::new(Target::parse(&server.url("/ws")).unwrap());
    connect.deflate = true;
    connect.http = http;
    let mut config = ProbeConfig::new(connect);
    config.watch = Duration::from_millis(400);
    config.messages = vec![ten_kb(), ten_kb()];
    config.send_every = Duration::from_millis(50);
    run(&config, None).await
}

fn echoes_matched(e: &ProbeEvidence) -> usize {
    e.sent.iter().filter(|m| m.echo_rtt_us.is_some()).count()
}

#[tokio::test]
async fn serve_compresses_its_greeting_and_echoes() {
    for http in [HttpVersion::Http1, HttpVersion::Http2] {
        let server = serve(true, http == HttpVersion::Http2).await;
        let e = probe(&server, http).await;
        let deflate = e.connection.deflate.expect("negotiated");
        // serve limits its own window to 12 bits, as python-websockets does,
        // and compresses each message on its own (no compressor is kept).
        assert_eq!(deflate.params.server_max_window_bits, Some(12));
        assert!(deflate.params.server_no_context_takeover);
        // The greeting and both echoes came compressed.
        assert_eq!(deflate.compressed_messages_in, 3, "{http:?}");
        assert!(deflate.compressed_bytes_in * 10 < deflate.inflated_bytes_in);
        assert_eq!(echoes_matched(&e), 2, "{http:?}");
        assert_eq!(diagnose_probe(&e)[0].id, CauseId::Healthy);
        server.shutdown().await;
    }
}

#[tokio::test]
async fn serve_without_deflate_declines_and_stays_healthy() {
    let server = serve(false, false).await;
    let e = probe(&server, HttpVersion::Http1).await;
    assert!(e.connection.deflate.is_none());
    let handshake = e.connection.handshake.as_ref().unwrap();
    assert!(handshake.header("Sec-WebSocket-Extensions").is_none());
    assert_eq!(echoes_matched(&e), 2);
    assert_eq!(diagnose_probe(&e)[0].id, CauseId::Healthy);
    server.shutdown().await;
}

/// A server whose 101 answers the offer with `extensions`.
async fn answering(extensions: &'static str) -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
            let n = tcp.read(&mut buf).await.unwrap();
            if n == 0 {
                return;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let head = String::from_utf8_lossy(&head);
        let key = head
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap()
            .trim();
        let answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Extensions: {extensions}\r\n\r\n",
            wsdoctor_sources::conn::handshake::accept_key(key)
        );
        let _ = tcp.write_all(answer.as_bytes()).await;
        let _ = tcp.read(&mut buf).await;
    });
    (url, task)
}

#[tokio::test]
async fn an_answer_breaking_rfc_7692_is_handshake_invalid_with_the_reason() {
    for (answer, offered, why) in [
        (
            "permessage-deflate; server_max_window_bits=16",
            true,
            "not a window size",
        ),
        ("permessage-deflate; colour=blue", true, "unknown parameter"),
        ("permessage-deflate", false, "did not offer"),
    ] {
        let (url, server) = answering(answer).await;
        let mut connect = ConnectOptions::new(Target::parse(&url).unwrap());
        connect.deflate = offered;
        let mut config = ProbeConfig::new(connect);
        config.watch = Duration::from_millis(100);
        let e = run(&config, None).await;
        let findings = diagnose_probe(&e);
        assert_eq!(findings[0].id, CauseId::HandshakeInvalid, "{answer}");
        let said = serde_json::to_string(&findings[0]).unwrap();
        assert!(said.contains(why), "{answer}: {said}");
        assert!(e.connection.deflate.is_none());
        server.abort();
    }
}
