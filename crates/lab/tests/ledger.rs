//! `serve`'s per-connection parameters (`tick=`, `ping=`, `echo=`) and its
//! ledger (`GET /v1/connections/ID`), with tokio-tungstenite as an
//! independent client and raw sockets for the plain HTTP questions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::Message;
use wsdoctor_evidence::idle::ServerView;
use wsdoctor_evidence::{ConnectionEnd, Side};
use wsdoctor_lab::{DiagServer, ServeConfig};

async fn within<T>(secs: u64, fut: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .context("timed out")?
}

/// A plain HTTP/1.1 request; returns the status and the body.
async fn get(server: &DiagServer, method: &str, path: &str) -> Result<(u16, String)> {
    let mut tcp = TcpStream::connect(server.addr()).await?;
    let request =
        format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await?;
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await?;
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no status")?;
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned());
    Ok((status, body.unwrap_or_default()))
}

#[tokio::test]
async fn tagged_connections_are_answered_from_the_ledger() -> Result<()> {
    within(10, async {
        let server = DiagServer::start(ServeConfig {
            instance: "ledger-test".to_owned(),
            ping_interval: Some(Duration::from_millis(100)),
            greet: false,
            ..ServeConfig::default()
        })
        .await?;
        let mut request = server
            .url("/ws?tick=100ms&ping=off&echo=off")
            .into_client_request()?;
        request
            .headers_mut()
            .insert("x-wsdoctor-conn-id", "run1-inbound-1".parse()?);
        let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;

        // While open, the ledger already knows it.
        let (status, body) = get(&server, "GET", "/v1/connections/run1-inbound-1").await?;
        assert_eq!(status, 200, "{body}");
        assert_eq!(ServerView::from_json(body.as_bytes()).unwrap().end, None);

        // echo=off: our message does not come back; ping=off: no pings, in
        // spite of the server's 100 ms setting; tick=100ms: ticks arrive.
        ws.send(Message::Text("not to be echoed".into())).await?;
        let mut ticks = 0;
        while ticks < 3 {
            match ws.next().await.context("eof")?? {
                Message::Text(t) if t.starts_with("tick ") => ticks += 1,
                Message::Ping(_) => bail!("the server pinged despite ping=off"),
                other => bail!("unexpected {other:?}"),
            }
        }
        ws.close(None).await?;
        while ws.next().await.is_some() {}

        // Through any proxy prefix, after the end: our close, as the server saw it.
        let mut view = None;
        for _ in 0..20 {
            let (status, body) =
                get(&server, "GET", "/app/ws/v1/connections/run1-inbound-1").await?;
            assert_eq!(status, 200, "{body}");
            let v = ServerView::from_json(body.as_bytes()).unwrap();
            if v.end.is_some() {
                view = Some(v);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let view = view.context("the end never reached the ledger")?;
        assert_eq!(view.instance, "ledger-test");
        assert!(
            matches!(
                view.end.as_ref().map(|e| &e.end),
                Some(ConnectionEnd::CloseHandshake {
                    initiator: Side::Remote,
                    ..
                })
            ),
            "{view:?}"
        );
        assert_eq!(view.closed_by(), Some(Side::Remote));
        assert!(view.frames_sent >= 3, "{view:?}");
        assert!(view.last_received_us.is_some());

        // Unknown and unsafe ids, and other methods.
        assert_eq!(get(&server, "GET", "/v1/connections/nope").await?.0, 404);
        assert_eq!(get(&server, "GET", "/v1/connections/a%20b").await?.0, 404);
        assert_eq!(get(&server, "GET", "/v1/connections/").await?.0, 404);
        assert_eq!(
            get(&server, "POST", "/v1/connections/run1-inbound-1")
                .await?
                .0,
            405
        );
        server.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn untagged_connections_are_not_remembered() -> Result<()> {
    within(10, async {
        let server = DiagServer::start(ServeConfig {
            greet: false,
            ..ServeConfig::default()
        })
        .await?;
        // An id that fails validation is not filed at all.
        let mut request = server.url("/ws").into_client_request()?;
        request
            .headers_mut()
            .insert("x-wsdoctor-conn-id", "../../etc/passwd".parse()?);
        let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;
        ws.close(None).await?;
        while ws.next().await.is_some() {}
        let (status, _) = get(&server, "GET", "/v1/connections/..%2F..%2Fetc%2Fpasswd").await?;
        assert_eq!(status, 404);
        // `conn-id=` in the query works for clients that cannot set headers.
        let (mut ws, _) =
            tokio_tungstenite::connect_async(server.url("/ws?conn-id=browser-1")).await?;
        ws.close(None).await?;
        while ws.next().await.is_some() {}
        assert_eq!(
            get(&server, "GET", "/v1/connections/browser-1").await?.0,
            200
        );
        server.shutdown().await;
        Ok(())
    })
    .await
}
