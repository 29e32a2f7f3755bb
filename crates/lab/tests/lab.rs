//! The lab over real sockets on 127.0.0.1, seen by real clients
//! (tokio-tungstenite, or raw TCP where a client library would hide the
//! detail under test).

use std::future::Future;
use std::io::ErrorKind;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use futures_util::{SinkExt as _, StreamExt as _};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};
use wsdoctor_lab::{Fault, LabConfig, LabServer, LabTls};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Every test is bounded, so a regression fails instead of hanging CI.
async fn within<T>(what: &str, fut: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(Duration::from_secs(5), fut)
        .await
        .with_context(|| format!("{what}: timed out"))?
}

async fn lab() -> Result<LabServer> {
    let config = LabConfig {
        instance: "test-lab".to_owned(),
        ..LabConfig::default()
    };
    Ok(LabServer::start(config).await?)
}

async fn connect(lab: &LabServer, path: &str) -> Result<Ws> {
    let (ws, _) = connect_async(lab.url(path)).await?;
    Ok(ws)
}

/// The next message the client sees, or the error that ended the stream.
async fn next(ws: &mut Ws) -> Result<Option<Result<Message, WsError>>> {
    Ok(tokio::time::timeout(Duration::from_secs(3), ws.next()).await?)
}

/// Sends a raw request and returns everything the server sends until it
/// closes.
async fn raw(lab: &LabServer, request: &str) -> Result<String> {
    let mut tcp = TcpStream::connect(lab.addr()).await?;
    tcp.write_all(request.as_bytes()).await?;
    let mut out = Vec::new();
    tcp.read_to_end(&mut out).await?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn upgrade_request(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

#[tokio::test]
async fn echo_round_trip() -> Result<()> {
    within("echo", async {
        let lab = lab().await?;
        let mut request = lab.url("/ws").into_client_request()?;
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", "chat, superchat".parse()?);
        let (mut ws, response) = connect_async(request).await?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        assert_eq!(header("server").as_deref(), Some("wsdoctor-lab"));
        assert_eq!(header("x-wsdoctor-instance").as_deref(), Some("test-lab"));
        assert_eq!(header("sec-websocket-protocol").as_deref(), Some("chat"));

        ws.send(Message::text("hello")).await?;
        assert_eq!(
            next(&mut ws).await?.context("eof")??,
            Message::text("hello")
        );
        let big = vec![7u8; 200_000];
        ws.send(Message::binary(big.clone())).await?;
        assert_eq!(next(&mut ws).await?.context("eof")??, Message::binary(big));
        ws.send(Message::Ping(b"p1".to_vec().into())).await?;
        assert_eq!(
            next(&mut ws).await?.context("eof")??,
            Message::Pong(b"p1".to_vec().into())
        );

        ws.close(Some(CloseFrame {
            code: CloseCode::Away,
            reason: "bye".into(),
        }))
        .await?;
        match next(&mut ws).await?.context("eof")?? {
            Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Away),
            other => bail!("expected the close echoed, got {other:?}"),
        }
        lab.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn message_over_1mib_is_refused_with_1009() -> Result<()> {
    within("1009", async {
        let lab = lab().await?;
        let mut ws = connect(&lab, "/").await?;
        ws.send(Message::binary(vec![0u8; (1 << 20) + 1])).await?;
        match next(&mut ws).await?.context("eof")?? {
            Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1009),
            other => bail!("expected close 1009, got {other:?}"),
        }
        Ok(())
    })
    .await
}

#[tokio::test]
async fn status_503_answers_with_an_nginx_page() -> Result<()> {
    within("503", async {
        let lab = lab().await?;
        let out = raw(
            &lab,
            &upgrade_request("/ws?fault=status:503&server=nginx/1.24.0"),
        )
        .await?;
        assert!(out.starts_with("HTTP/1.1 503 "), "{out}");
        assert!(out.contains("\r\nServer: nginx/1.24.0\r\n"), "{out}");
        let (head, body) = out.split_once("\r\n\r\n").context("no head end")?;
        assert!(
            head.contains(&format!("Content-Length: {}\r\n", body.len())),
            "{head}"
        );
        assert!(
            body.contains("503 Service Temporarily Unavailable"),
            "{body}"
        );

        // And a WebSocket client sees it as an HTTP error.
        match connect_async(lab.url("/ws?fault=status:503")).await {
            Err(WsError::Http(response)) => assert_eq!(response.status().as_u16(), 503),
            other => bail!("expected HTTP 503, got {other:?}"),
        }
        Ok(())
    })
    .await
}

#[tokio::test]
async fn broken_http_answers() -> Result<()> {
    within("broken answers", async {
        let lab = lab().await?;
        let out = raw(&lab, &upgrade_request("/?fault=http10")).await?;
        assert!(out.starts_with("HTTP/1.0 200 OK\r\n"), "{out}");
        let out = raw(&lab, &upgrade_request("/?fault=not-http")).await?;
        assert_eq!(out, "SSH-2.0-OpenSSH_9.6\r\n");
        let out = raw(&lab, &upgrade_request("/?fault=status:426")).await?;
        assert!(
            out.contains("\r\nUpgrade: websocket\r\n") && out.ends_with("Upgrade Required"),
            "{out}"
        );

        // `fin:0s` ends the session at once, so the raw read reaches EOF.
        let out = raw(&lab, &upgrade_request("/?fault=bad-accept,fin:0s")).await?;
        assert!(out.starts_with("HTTP/1.1 101 "), "{out}");
        assert!(!out.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{out}");
        let out = raw(&lab, &upgrade_request("/?fault=no-upgrade-header,fin:0s")).await?;
        assert!(
            out.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
            "{out}"
        );
        assert!(
            !out.to_ascii_lowercase().contains("upgrade: websocket"),
            "{out}"
        );

        match connect_async(lab.url("/?fault=bad-accept")).await {
            Err(WsError::Protocol(e)) => assert!(e.to_string().contains("Accept"), "{e}"),
            other => bail!("expected an accept mismatch, got {other:?}"),
        }
        Ok(())
    })
    .await
}

#[tokio::test]
async fn unknown_fault_is_a_visible_400() -> Result<()> {
    within("bad fault", async {
        let lab = lab().await?;
        let out = raw(&lab, &upgrade_request("/?fault=ping:1s,explode")).await?;
        assert!(out.starts_with("HTTP/1.1 400 "), "{out}");
        assert!(out.contains("`explode`"), "{out}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn oversized_head_gets_431_and_plain_get_gets_426() -> Result<()> {
    within("431", async {
        let lab = lab().await?;
        let filler = "x".repeat(17 * 1024);
        let out = raw(&lab, &format!("GET / HTTP/1.1\r\nX-Big: {filler}\r\n\r\n")).await?;
        assert!(out.starts_with("HTTP/1.1 431 "), "{out}");
        let out = raw(&lab, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await?;
        assert!(out.starts_with("HTTP/1.1 426 "), "{out}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn rst_resets_the_connection() -> Result<()> {
    within("rst", async {
        let lab = lab().await?;
        let mut ws = connect(&lab, "/ws?fault=rst:100ms").await?;
        match next(&mut ws).await? {
            Some(Err(WsError::Io(e))) if e.kind() == ErrorKind::ConnectionReset => Ok(()),
            other => bail!("expected a connection reset, got {other:?}"),
        }
    })
    .await
}

#[tokio::test]
async fn fin_ends_without_close_frame() -> Result<()> {
    within("fin", async {
        let lab = lab().await?;
        let mut ws = connect(&lab, "/ws?fault=fin:100ms").await?;
        match next(&mut ws).await? {
            Some(Err(WsError::Protocol(e))) => {
                assert!(e.to_string().contains("closing handshake"), "{e}");
                Ok(())
            }
            None => Ok(()),
            other => bail!("expected EOF without close, got {other:?}"),
        }
    })
    .await
}

#[tokio::test]
async fn fin_mid_frame_leaves_a_torn_frame() -> Result<()> {
    within("fin-mid-frame", async {
        let lab = lab().await?;
        let mut tcp = TcpStream::connect(lab.addr()).await?;
        tcp.write_all(upgrade_request("/?fault=fin-mid-frame:50ms").as_bytes())
            .await?;
        let mut out = Vec::new();
        tcp.read_to_end(&mut out).await?;
        let end = out
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .context("no head")?;
        let frames = &out[end + 4..];
        // FIN + text, length 100, then only 10 payload bytes.
        assert_eq!(frames.len(), 12, "{frames:?}");
        assert_eq!(&frames[..2], &[0x81, 100]);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn close_fault_sends_code_and_reason() -> Result<()> {
    within("close", async {
        let lab = lab().await?;
        let mut ws = connect(&lab, "/ws?fault=close:1011:100ms&reason=over%20loaded").await?;
        match next(&mut ws).await?.context("eof")?? {
            Message::Close(Some(frame)) => {
                assert_eq!(frame.code, CloseCode::Error);
                assert_eq!(frame.reason.as_str(), "over loaded");
            }
            other => bail!("expected close 1011, got {other:?}"),
        }
        Ok(())
    })
    .await
}

#[tokio::test]
async fn server_pings_and_ticks() -> Result<()> {
    within("ping and tick", async {
        let lab = lab().await?;
        let mut ws = connect(&lab, "/ws?fault=ping:50ms,tick:60ms").await?;
        let (mut pings, mut ticks) = (Vec::new(), Vec::new());
        while pings.len() < 2 || ticks.len() < 2 {
            match next(&mut ws).await?.context("eof")?? {
                Message::Ping(p) => pings.push(p.to_vec()),
                Message::Text(t) => ticks.push(t.as_str().to_owned()),
                other => bail!("unexpected {other:?}"),
            }
        }
        assert_eq!(pings[0], 1u64.to_be_bytes());
        assert_eq!(pings[1], 2u64.to_be_bytes());
        assert_eq!(ticks[..2], ["tick 1", "tick 2"]);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn pong_delay_and_no_pong() -> Result<()> {
    within("pongs", async {
        let lab = lab().await?;
        let mut ws = connect(&lab, "/ws?fault=pong-delay:200ms").await?;
        let sent = Instant::now();
        ws.send(Message::Ping(b"x".to_vec().into())).await?;
        assert_eq!(
            next(&mut ws).await?.context("eof")??,
            Message::Pong(b"x".to_vec().into())
        );
        assert!(sent.elapsed() >= Duration::from_millis(190));

        let mut ws = connect(&lab, "/ws?fault=no-pong").await?;
        ws.send(Message::Ping(b"y".to_vec().into())).await?;
        ws.send(Message::text("after")).await?;
        // The echo comes back; the pong never does.
        assert_eq!(
            next(&mut ws).await?.context("eof")??,
            Message::text("after")
        );
        let quiet = tokio::time::timeout(Duration::from_millis(200), ws.next()).await;
        assert!(quiet.is_err(), "expected silence, got {quiet:?}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn greet_reports_the_request() -> Result<()> {
    within("greet", async {
        let lab = lab().await?;
        let mut ws = connect(&lab, "/ws?fault=greet").await?;
        let Message::Text(text) = next(&mut ws).await?.context("eof")?? else {
            bail!("expected a text greeting");
        };
        let json: serde_json::Value = serde_json::from_str(text.as_str())?;
        assert_eq!(json["instance"], "test-lab");
        assert!(json["peer"]
            .as_str()
            .is_some_and(|p| p.starts_with("127.0.0.1:")));
        let headers = json["headers"].as_array().context("headers")?;
        assert!(headers.iter().any(|h| h[0]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case("sec-websocket-key"))));
        // Still an echo server afterwards.
        ws.send(Message::text("hi")).await?;
        assert_eq!(next(&mut ws).await?.context("eof")??, Message::text("hi"));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn huge_frame_is_announced_but_never_sent() -> Result<()> {
    within("huge-frame", async {
        let lab = lab().await?;
        let mut ws = connect(&lab, "/ws?fault=huge-frame").await?;
        match next(&mut ws).await? {
            Some(Err(WsError::Capacity(_))) => Ok(()),
            other => bail!("expected the client to refuse the frame, got {other:?}"),
        }
    })
    .await
}

#[tokio::test]
async fn config_faults_apply_unless_the_request_names_some() -> Result<()> {
    within("config faults", async {
        let config = LabConfig {
            faults: vec!["status:502".parse::<Fault>()?],
            ..LabConfig::default()
        };
        let lab = LabServer::start(config).await?;
        let out = raw(&lab, &upgrade_request("/")).await?;
        assert!(out.starts_with("HTTP/1.1 502 Bad Gateway\r\n"), "{out}");
        // An empty `fault=` means "no faults", overriding the config.
        let mut ws = connect(&lab, "/?fault=").await?;
        ws.send(Message::text("ok")).await?;
        assert_eq!(next(&mut ws).await?.context("eof")??, Message::text("ok"));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn shutdown_ends_hanging_connections() -> Result<()> {
    within("shutdown", async {
        let lab = lab().await?;
        let addr = lab.addr();
        let mut tcp = TcpStream::connect(addr).await?;
        tcp.write_all(upgrade_request("/?fault=hang").as_bytes())
            .await?;
        let mut buf = [0u8; 64];
        let early = tokio::time::timeout(Duration::from_millis(150), tcp.read(&mut buf)).await;
        assert!(early.is_err(), "hang answered: {early:?}");
        lab.shutdown().await;
        // The connection is gone (EOF or reset), and so is the listener.
        let n = tcp.read(&mut buf).await.unwrap_or(0);
        assert_eq!(n, 0);
        assert!(TcpStream::connect(addr).await.is_err());
        Ok(())
    })
    .await
}

#[tokio::test]
async fn tls_echo_with_self_signed_cert() -> Result<()> {
    within("tls", async {
        let (tls, pem) = LabTls::self_signed(&["localhost", "127.0.0.1"])?;
        let config = LabConfig {
            tls: Some(tls),
            ..LabConfig::default()
        };
        let lab = LabServer::start(config).await?;
        let url = lab.url("/ws");
        assert!(url.starts_with("wss://127.0.0.1:"), "{url}");

        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots.add(cert?)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let tcp = TcpStream::connect(lab.addr()).await?;
        let name = ServerName::try_from("127.0.0.1")?;
        let stream = connector.connect(name, tcp).await?;
        let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await?;

        ws.send(Message::text("secure hello")).await?;
        let reply = tokio::time::timeout(Duration::from_secs(3), ws.next())
            .await?
            .ok_or_else(|| anyhow!("eof"))??;
        assert_eq!(reply, Message::text("secure hello"));
        ws.close(None).await?;
        lab.shutdown().await;
        Ok(())
    })
    .await
}

#[test]
fn url_shapes() -> Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let lab = lab().await?;
        let port = lab.addr().port();
        assert_eq!(lab.url("/x?y"), format!("ws://127.0.0.1:{port}/x?y"));
        assert_eq!(lab.url("x"), format!("ws://127.0.0.1:{port}/x"));
        Ok(())
    })
}
