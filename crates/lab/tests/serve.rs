//! `serve` (the diagnostic server) with real clients: tokio-tungstenite as
//! an independent peer, wsdoctor's probe to compare the two views, and raw
//! sockets for hostile clients.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;
use wsdoctor_evidence::{ConnectionEnd, FrameKind, Role, Side};
use wsdoctor_lab::{DiagServer, ServeConfig, ServeEvent};
use wsdoctor_sources::conn::{ConnectOptions, Target};
use wsdoctor_sources::probe::{self, ProbeConfig};

async fn within<T>(secs: u64, fut: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .context("timed out")?
}

async fn server(ping_ms: Option<u64>) -> Result<DiagServer> {
    Ok(DiagServer::start(ServeConfig {
        instance: "test-serve".to_owned(),
        ping_interval: ping_ms.map(Duration::from_millis),
        events: true,
        ..ServeConfig::default()
    })
    .await?)
}

async fn next_event(rx: &mut tokio::sync::mpsc::Receiver<ServeEvent>) -> Result<ServeEvent> {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await?
        .context("event channel closed")
}

#[tokio::test]
async fn tungstenite_client_gets_greeting_echo_and_pongs() -> Result<()> {
    within(10, async {
        let mut server = server(None).await?;
        let mut events = server.take_events().context("no events")?;
        let (mut ws, response) = connect_async(server.url("/ws?client=web-42")).await?;
        assert_eq!(
            response
                .headers()
                .get("x-wsdoctor-instance")
                .map(|v| v.to_str().ok()),
            Some(Some("test-serve"))
        );
        let greeting = match ws.next().await.context("eof")?? {
            Message::Text(t) => t.to_string(),
            other => bail!("expected the greeting, got {other:?}"),
        };
        let json: serde_json::Value = serde_json::from_str(&greeting)?;
        assert_eq!(json["instance"], "test-serve");
        assert_eq!(json["upgrade"], "websocket");

        ws.send(Message::text("hello")).await?;
        assert_eq!(ws.next().await.context("eof")??, Message::text("hello"));
        ws.send(Message::binary(vec![9u8; 100_000])).await?;
        assert_eq!(
            ws.next().await.context("eof")??,
            Message::binary(vec![9u8; 100_000])
        );
        ws.send(Message::Ping(b"p".to_vec().into())).await?;
        assert_eq!(
            ws.next().await.context("eof")??,
            Message::Pong(b"p".to_vec().into())
        );
        ws.close(None).await?;
        while let Some(Ok(_)) = ws.next().await {}

        let event = next_event(&mut events).await?;
        assert_eq!(event.client, "web-42");
        assert_eq!(event.connection.role, Role::Server);
        let end = event.connection.end.context("no end")?.end;
        assert!(
            matches!(
                end,
                ConnectionEnd::CloseHandshake {
                    initiator: Side::Remote,
                    answered: true,
                    ..
                }
            ),
            "{end:?}"
        );
        server.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn both_views_agree_on_who_closed_and_how() -> Result<()> {
    within(15, async {
        let mut server = server(Some(100)).await?;
        let mut events = server.take_events().context("no events")?;
        let probe_of = |path: &str, watch_ms: u64| {
            let mut c = ProbeConfig::new(ConnectOptions::new(
                Target::parse(&server.url(path)).unwrap(),
            ));
            c.watch = Duration::from_millis(watch_ms);
            c
        };

        // The client closes at the end of its watch.
        let client = probe::run(&probe_of("/ws?client=a", 400), None).await;
        let server_view = next_event(&mut events).await?;
        let c_end = client.connection.end.context("client end")?.end;
        let s_end = server_view
            .connection
            .end
            .clone()
            .context("server end")?
            .end;
        assert!(
            matches!(
                c_end,
                ConnectionEnd::CloseHandshake {
                    code: Some(1000),
                    initiator: Side::Local,
                    answered: true,
                    ..
                }
            ),
            "{c_end:?}"
        );
        assert!(
            matches!(
                s_end,
                ConnectionEnd::CloseHandshake {
                    code: Some(1000),
                    initiator: Side::Remote,
                    answered: true,
                    ..
                }
            ),
            "{s_end:?}"
        );
        // The server's pings were answered by the probe, with RTTs.
        assert!(
            !server_view.connection.pong_rtts_us().is_empty(),
            "{:?}",
            server_view.connection.events
        );

        // The server closes with 1011.
        let client = probe::run(&probe_of("/ws?client=b&fault=close:1011:200ms", 2000), None).await;
        let server_view = next_event(&mut events).await?;
        let c_end = client.connection.end.context("client end")?.end;
        let s_end = server_view
            .connection
            .end
            .clone()
            .context("server end")?
            .end;
        assert!(
            matches!(
                c_end,
                ConnectionEnd::CloseHandshake {
                    code: Some(1011),
                    initiator: Side::Remote,
                    answered: true,
                    ..
                }
            ),
            "{c_end:?}"
        );
        assert!(
            matches!(
                s_end,
                ConnectionEnd::CloseHandshake {
                    code: Some(1011),
                    initiator: Side::Local,
                    answered: true,
                    ..
                }
            ),
            "{s_end:?}"
        );

        // A dead client: the server's ping goes unanswered.
        let mut c = probe_of("/ws?client=c", 1500);
        c.heartbeat.pong_policy = wsdoctor_evidence::PongPolicy::Never;
        let _ = probe::run(&c, None).await;
        let server_view = next_event(&mut events).await?;
        let s_end = server_view
            .connection
            .end
            .clone()
            .context("server end")?
            .end;
        assert!(
            matches!(s_end, ConnectionEnd::HalfOpen { .. })
                || matches!(s_end, ConnectionEnd::CloseHandshake { .. }),
            "{s_end:?}"
        );
        server.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn whoami_and_graceful_shutdown() -> Result<()> {
    within(10, async {
        let server = server(None).await?;
        let mut tcp = TcpStream::connect(server.addr()).await?;
        tcp.write_all(b"GET /whoami HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.1\r\nAuthorization: Bearer secret\r\n\r\n").await?;
        let mut text = String::new();
        tcp.read_to_string(&mut text).await?;
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("10.0.0.1"), "{text}");
        assert!(!text.contains("secret"), "{text}");

        let (mut ws, _) = connect_async(server.url("/ws")).await?;
        let _greeting = ws.next().await;
        let stopping = tokio::spawn(server.shutdown());
        match ws.next().await.context("eof")?? {
            Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1001),
            other => bail!("expected close 1001, got {other:?}"),
        }
        drop(ws);
        stopping.await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_client_that_never_sends_its_head_does_not_keep_the_server_alive() -> Result<()> {
    within(10, async {
        let mut server = server(None).await?;
        let mut events = server.take_events().context("no events")?;
        // Connected, half a head, then silence (a preconnect, a health check).
        let mut silent = TcpStream::connect(server.addr()).await?;
        silent.write_all(b"GET /ws HTTP/1.1\r\n").await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = std::time::Instant::now();
        server.shutdown().await;
        // Everything the server owned is gone: the event channel closes and
        // the silent client is disconnected, long before the 30 s head
        // timeout.
        assert!(events.recv().await.is_none());
        let mut rest = Vec::new();
        let _ = silent.read_to_end(&mut rest).await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_and_a_freed_place_is_taken_again() -> Result<()> {
    within(10, async {
        let server = DiagServer::start(ServeConfig {
            ping_interval: None,
            greet: false,
            max_connections: 3,
            ..ServeConfig::default()
        })
        .await?;
        let url = server.url("/ws");
        let mut open = Vec::new();
        for _ in 0..2 {
            open.push(connect_async(url.as_str()).await?.0);
        }
        // Held ones count, and so does one that has not sent its head yet.
        let silent = TcpStream::connect(server.addr()).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let over = connect_async(url.as_str()).await;
        assert!(over.is_err(), "a fourth connection was served");
        drop(silent);
        // The freed place is taken again once the server has seen it go.
        let mut again = None;
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if let Ok((ws, _)) = connect_async(url.as_str()).await {
                again = Some(ws);
                break;
            }
        }
        assert!(again.is_some(), "no place after one connection closed");
        drop((open, again));
        server.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn hostile_clients_do_not_hurt_others() -> Result<()> {
    within(20, async {
        let mut server = server(None).await?;
        let mut events = server.take_events().context("no events")?;
        // A handshake that never finishes.
        let mut slow = TcpStream::connect(server.addr()).await?;
        slow.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n").await?;
        // A 2 GiB frame header after a valid handshake.
        let mut huge = TcpStream::connect(server.addr()).await?;
        huge.write_all(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .await?;
        huge.write_all(&[0x82, 0xff, 0, 0, 0, 0, 0x80, 0, 0, 0, 1, 2, 3, 4, 5, 6])
            .await?;
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(3), huge.read_to_end(&mut sink)).await;
        let event = next_event(&mut events).await?;
        let end = event.connection.end.context("no end")?.end;
        assert!(
            matches!(end, ConnectionEnd::ProtocolViolation { .. }),
            "{end:?}"
        );
        // A burst of connections opened and dropped at once.
        let mut burst = Vec::new();
        for _ in 0..1000 {
            burst.push(TcpStream::connect(server.addr()).await?);
        }
        drop(burst);
        // Others are still served.
        let (mut ws, _) = connect_async(server.url("/ws")).await?;
        let _greeting = ws.next().await;
        ws.send(Message::text("still here")).await?;
        assert_eq!(
            ws.next().await.context("eof")??,
            Message::text("still here")
        );
        let any_text = |e: &ServeEvent| {
            e.connection
                .events
                .iter()
                .any(|ev| matches!(ev.kind, FrameKind::Text { .. }))
        };
        drop(ws);
        let last = next_event(&mut events).await?;
        assert!(any_text(&last));
        drop(slow);
        server.shutdown().await;
        Ok(())
    })
    .await
}
