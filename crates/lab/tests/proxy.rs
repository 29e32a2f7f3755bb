//! The fault proxy over real sockets on 127.0.0.1: byte transparency with a
//! raw upstream, and each fault as wsdoctor's own probe sees it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use wsdoctor_evidence::{ConnectionEnd, HeartbeatSettings, PongPolicy, ProbeEvidence, Side};
use wsdoctor_lab::{EndHow, IdleCounts, LabConfig, LabProxy, LabServer, ProxyConfig, ProxyFault};
use wsdoctor_sources::conn::{ConnectOptions, Target};
use wsdoctor_sources::probe::{self, ProbeConfig};

async fn within<T>(secs: u64, fut: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .context("timed out")?
}

async fn proxy_to(upstream: SocketAddr, faults: &str) -> Result<LabProxy> {
    Ok(LabProxy::start(ProxyConfig {
        faults: ProxyFault::parse_list(faults)?,
        ..ProxyConfig::new(upstream)
    })
    .await?)
}

/// A lab server with `faults` behind a proxy with `proxy_faults`.
async fn chain(proxy_faults: &str) -> Result<(LabServer, LabProxy)> {
    let server = LabServer::start(LabConfig::default()).await?;
    let proxy = proxy_to(server.addr(), proxy_faults).await?;
    Ok((server, proxy))
}

async fn probe_url(url: &str, watch_ms: u64, pings_ms: Option<u64>) -> Result<ProbeEvidence> {
    let mut config = ProbeConfig::new(ConnectOptions::new(Target::parse(url)?));
    config.watch = Duration::from_millis(watch_ms);
    if let Some(ms) = pings_ms {
        config.heartbeat = HeartbeatSettings {
            ping_interval_ms: Some(ms),
            pong_timeout_ms: ms * 3,
            pong_policy: PongPolicy::Answer,
        };
    }
    Ok(probe::run(&config, None).await)
}

/// Whether an end is the expected one.
type EndCheck = fn(&ConnectionEnd) -> bool;

fn end_of(e: &ProbeEvidence) -> Result<(ConnectionEnd, u64)> {
    let end = e.connection.end.clone().context("no end recorded")?;
    Ok((end.end, end.open_for_us.unwrap_or(0) / 1000))
}

#[tokio::test]
async fn no_fault_forwards_bytes_unchanged() -> Result<()> {
    within(10, async {
        let upstream = TcpListener::bind("127.0.0.1:0").await?;
        let proxy = proxy_to(upstream.local_addr()?, "").await?;
        let request = b"GET /chat?x=1 HTTP/1.1\r\nHost: example\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\nX-Odd-Case: KeEp\r\n\r\n";
        let response = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        // Frames of every kind, masked upwards, in a stream of ~200 KB;
        // the payloads vary so a shifted or re-framed byte would show.
        let frames = |masked: bool| {
            let mut out = Vec::new();
            for i in 0..300u32 {
                let len = (i as usize * 37) % 2000;
                let opcode = [1u8, 2, 9, 10, 0x01][i as usize % 5];
                out.push(0x80 | opcode);
                let mask_bit = if masked { 0x80 } else { 0 };
                let len = if opcode >= 8 { len % 126 } else { len };
                if len < 126 {
                    out.push(mask_bit | len as u8);
                } else {
                    out.push(mask_bit | 126);
                    out.extend_from_slice(&(len as u16).to_be_bytes());
                }
                if masked {
                    out.extend_from_slice(&i.to_be_bytes());
                }
                out.extend((0..len).map(|j| (j as u32 ^ i) as u8));
            }
            out
        };
        let (up_stream, down_stream) = (frames(true), frames(false));

        let server = {
            let down_stream = down_stream.clone();
            let want_up = up_stream.clone();
            tokio::spawn(async move {
                let (mut tcp, _) = upstream.accept().await?;
                let mut got = vec![0u8; request.len()];
                tcp.read_exact(&mut got).await?;
                assert_eq!(got, request.to_vec(), "request head changed");
                tcp.write_all(response).await?;
                for chunk in down_stream.chunks(777) {
                    tcp.write_all(chunk).await?;
                }
                let mut got = vec![0u8; want_up.len()];
                tcp.read_exact(&mut got).await?;
                assert!(got == want_up, "client-to-server bytes changed");
                anyhow::Ok(())
            })
        };

        let mut client = TcpStream::connect(proxy.addr()).await?;
        client.write_all(request).await?;
        let mut want = response[..response.len() - 2].to_vec();
        want.extend_from_slice(b"Via: 1.1 wsdoctor-lab\r\n\r\n");
        let mut head = vec![0u8; want.len()];
        client.read_exact(&mut head).await?;
        assert_eq!(
            String::from_utf8_lossy(&head),
            String::from_utf8_lossy(&want)
        );
        for chunk in up_stream.chunks(1001) {
            client.write_all(chunk).await?;
        }
        let mut got = vec![0u8; down_stream.len()];
        client.read_exact(&mut got).await?;
        assert!(got == down_stream, "server-to-client bytes changed");
        server.await??;
        proxy.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn healthy_probe_sees_the_via_header() -> Result<()> {
    within(10, async {
        let (server, proxy) = chain("").await?;
        let e = probe_url(&proxy.url("/ws"), 300, Some(50)).await?;
        let hs = e.connection.handshake.as_ref().context("no handshake")?;
        assert_eq!(hs.header("via"), Some("1.1 wsdoctor-lab"));
        assert_eq!(hs.header("server"), Some("wsdoctor-lab"));
        let (end, _) = end_of(&e)?;
        assert!(
            matches!(
                end,
                ConnectionEnd::CloseHandshake {
                    initiator: Side::Local,
                    answered: true,
                    ..
                }
            ),
            "{end:?}"
        );
        assert!(
            !e.connection.pong_rtts_us().is_empty(),
            "our pings were answered"
        );
        proxy.shutdown().await;
        server.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn idle_timeout_ends_as_asked() -> Result<()> {
    within(10, async {
        let cases: &[(&str, EndCheck)] = &[
            ("idle-timeout=400ms", |e| {
                matches!(e, ConnectionEnd::FinWithoutClose { mid_frame: false })
            }),
            ("idle-timeout=400ms:rst", |e| {
                matches!(e, ConnectionEnd::Reset)
            }),
            ("idle-timeout=400ms:close-1001", |e| {
                matches!(
                    e,
                    ConnectionEnd::CloseHandshake {
                        code: Some(1001),
                        initiator: Side::Remote,
                        answered: true,
                        ..
                    }
                )
            }),
        ];
        for (faults, check) in cases {
            let (server, proxy) = chain(faults).await?;
            let e = probe_url(&proxy.url("/ws"), 2000, None).await?;
            let (end, open_ms) = end_of(&e)?;
            assert!(check(&end), "{faults}: {end:?}");
            assert!((380..900).contains(&open_ms), "{faults}: open {open_ms} ms");
            proxy.shutdown().await;
            server.shutdown().await;
        }
        Ok(())
    })
    .await
}

#[tokio::test]
async fn idle_timer_counts_the_right_traffic() -> Result<()> {
    within(15, async {
        // Our pings every 100 ms: with `both` they keep the path alive; with
        // `data-only` they do not; with `down-only` the pongs coming back do.
        for (faults, survives) in [
            ("idle-timeout=400ms", true),
            ("idle-timeout=400ms:down-only", true),
            ("idle-timeout=400ms:data-only", false),
            ("idle-timeout=400ms,ignore-pings-for-idle", false),
        ] {
            let (server, proxy) = chain(faults).await?;
            let e = probe_url(&proxy.url("/ws"), 1200, Some(100)).await?;
            let (end, _) = end_of(&e)?;
            let local_close = matches!(
                end,
                ConnectionEnd::CloseHandshake {
                    initiator: Side::Local,
                    ..
                }
            );
            assert_eq!(local_close, survives, "{faults}: {end:?}");
            proxy.shutdown().await;
            server.shutdown().await;
        }
        // A server that never answers pings: only our side talks. `both`
        // counts our pings; `down-only` (CloudFront, nginx) does not.
        for (faults, survives) in [
            ("idle-timeout=400ms", true),
            ("idle-timeout=400ms:down-only", false),
        ] {
            let (server, proxy) = chain(faults).await?;
            let url = proxy.url("/ws?fault=no-pong");
            let mut config = ProbeConfig::new(ConnectOptions::new(Target::parse(&url)?));
            config.watch = Duration::from_millis(1200);
            config.heartbeat = HeartbeatSettings {
                ping_interval_ms: Some(100),
                pong_timeout_ms: 5000,
                pong_policy: PongPolicy::Answer,
            };
            let e = probe::run(&config, None).await;
            let (end, _) = end_of(&e)?;
            let cut = matches!(end, ConnectionEnd::FinWithoutClose { .. });
            assert_eq!(cut, !survives, "{faults} with a silent server: {end:?}");
            proxy.shutdown().await;
            server.shutdown().await;
        }
        Ok(())
    })
    .await
}

#[tokio::test]
async fn lifetime_reset_and_blackhole() -> Result<()> {
    within(15, async {
        let (server, proxy) = chain("max-lifetime=500ms").await?;
        let e = probe_url(&proxy.url("/ws"), 2000, Some(100)).await?;
        let (end, open_ms) = end_of(&e)?;
        assert!(
            matches!(end, ConnectionEnd::FinWithoutClose { .. }),
            "{end:?}"
        );
        assert!((480..900).contains(&open_ms), "open {open_ms} ms");
        proxy.shutdown().await;
        server.shutdown().await;

        let (server, proxy) = chain("reset-after=300ms").await?;
        let e = probe_url(&proxy.url("/ws"), 2000, Some(100)).await?;
        assert!(
            matches!(end_of(&e)?.0, ConnectionEnd::Reset),
            "{:?}",
            end_of(&e)?
        );
        proxy.shutdown().await;
        server.shutdown().await;

        let (server, proxy) = chain("blackhole-after=300ms").await?;
        let e = probe_url(&proxy.url("/ws"), 3000, Some(100)).await?;
        let (end, open_ms) = end_of(&e)?;
        assert!(matches!(end, ConnectionEnd::HalfOpen { .. }), "{end:?}");
        assert!(open_ms < 1200, "open {open_ms} ms");
        proxy.shutdown().await;
        server.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn upstream_down_is_a_502_from_the_proxy() -> Result<()> {
    within(10, async {
        let free = TcpListener::bind("127.0.0.1:0").await?;
        let addr = free.local_addr()?;
        drop(free);
        let proxy = proxy_to(addr, "").await?;
        let e = probe_url(&proxy.url("/ws"), 300, None).await?;
        let hs = e.connection.handshake.as_ref().context("no handshake")?;
        if hs.status != 502 {
            bail!("status {}", hs.status);
        }
        assert_eq!(hs.header("via"), Some("1.1 wsdoctor-lab"));
        proxy.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn config_struct_form_works() -> Result<()> {
    within(10, async {
        let server = LabServer::start(LabConfig::default()).await?;
        let proxy = LabProxy::start(ProxyConfig {
            faults: vec![ProxyFault::IdleTimeout {
                after: Duration::from_millis(300),
                how: EndHow::Rst,
                counts: IdleCounts::Both,
            }],
            ..ProxyConfig::new(server.addr())
        })
        .await?;
        let e = probe_url(&proxy.url("ws"), 1500, None).await?;
        assert!(matches!(end_of(&e)?.0, ConnectionEnd::Reset));
        proxy.shutdown().await;
        server.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn strip_upgrade_answers_like_nginx() -> Result<()> {
    within(10, async {
        let (server, proxy) = chain("strip-upgrade").await?;
        let e = probe_url(&proxy.url("/ws"), 300, None).await?;
        let hs = e.connection.handshake.as_ref().context("no handshake")?;
        assert_eq!(hs.status, 426, "the backend never saw the upgrade");
        assert_eq!(hs.header("server"), Some("nginx/1.24.0"));
        assert_eq!(hs.header("via"), Some("1.1 wsdoctor-lab"));
        proxy.shutdown().await;
        server.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn max_conns_refuses_with_503() -> Result<()> {
    within(10, async {
        let (server, proxy) = chain("max-conns=1").await?;
        let url = proxy.url("/ws");
        let holder = {
            let url = url.clone();
            tokio::spawn(async move { probe_url(&url, 800, None).await })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let e = probe_url(&url, 100, None).await?;
        let hs = e.connection.handshake.as_ref().context("no handshake")?;
        assert_eq!(hs.status, 503);
        let first = holder.await??;
        assert_eq!(first.connection.handshake.map(|h| h.status), Some(101));
        proxy.shutdown().await;
        server.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn latency_delays_each_direction() -> Result<()> {
    within(10, async {
        let (server, proxy) = chain("latency=60ms").await?;
        let mut config = ProbeConfig::new(ConnectOptions::new(Target::parse(&proxy.url("/ws"))?));
        config.watch = Duration::from_millis(600);
        config.messages = vec!["one".to_owned(), "two".to_owned()];
        config.send_every = Duration::from_millis(100);
        let e = probe::run(&config, None).await;
        let rtts: Vec<u64> = e.sent.iter().filter_map(|m| m.echo_rtt_us).collect();
        assert_eq!(rtts.len(), 2, "{:?}", e.sent);
        for rtt in rtts {
            assert!((120_000..400_000).contains(&rtt), "echo RTT {rtt} µs");
        }
        proxy.shutdown().await;
        server.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn dropped_pongs_look_half_open() -> Result<()> {
    within(10, async {
        let (server, proxy) = chain("drop-pongs").await?;
        let e = probe_url(&proxy.url("/ws"), 3000, Some(100)).await?;
        let (end, open_ms) = end_of(&e)?;
        assert!(matches!(end, ConnectionEnd::HalfOpen { .. }), "{end:?}");
        assert!(open_ms < 1000, "open {open_ms} ms");
        proxy.shutdown().await;
        server.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn swallowed_close_becomes_a_bare_fin() -> Result<()> {
    within(10, async {
        // The server closes with 1011; the client never sees the frame,
        // only the FIN the server sends when its close goes unanswered.
        let (server, proxy) = chain("swallow-close").await?;
        let e = probe_url(&proxy.url("/ws?fault=close:1011:200ms"), 4000, None).await?;
        let (end, _) = end_of(&e)?;
        assert!(
            matches!(end, ConnectionEnd::FinWithoutClose { .. }),
            "{end:?}"
        );
        proxy.shutdown().await;
        server.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn injected_close_reaches_the_client() -> Result<()> {
    within(10, async {
        let (server, proxy) = chain("inject-close=1012@300ms").await?;
        let e = probe_url(&proxy.url("/ws"), 2000, Some(100)).await?;
        let (end, open_ms) = end_of(&e)?;
        assert!(
            matches!(
                end,
                ConnectionEnd::CloseHandshake {
                    code: Some(1012),
                    initiator: Side::Remote,
                    answered: true,
                    ..
                }
            ),
            "{end:?}"
        );
        assert!((280..800).contains(&open_ms), "open {open_ms} ms");
        proxy.shutdown().await;
        server.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn stall_keeps_pongs_but_stops_messages() -> Result<()> {
    within(10, async {
        let (server, proxy) = chain("stall=400ms").await?;
        let e = probe_url(&proxy.url("/ws?fault=tick:50ms"), 1200, Some(100)).await?;
        let opened_us = e.connection.phases.response_head_us.unwrap_or(0);
        let remote = |text: bool| -> Vec<u64> {
            e.connection
                .events_from(Side::Remote)
                .filter(|ev| {
                    matches!(ev.kind, wsdoctor_evidence::FrameKind::Text { .. }) == text
                        && !matches!(ev.kind, wsdoctor_evidence::FrameKind::Close { .. })
                })
                .map(|ev| (ev.at_us - opened_us) / 1000)
                .collect()
        };
        let texts = remote(true);
        let others = remote(false);
        assert!(texts.len() >= 4, "ticks before the stall: {texts:?}");
        assert!(
            texts.iter().all(|ms| *ms < 480),
            "ticks after the stall: {texts:?}"
        );
        assert!(
            others.iter().any(|ms| *ms > 700),
            "pongs after the stall: {others:?}"
        );
        proxy.shutdown().await;
        server.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn mass_disconnect_ends_everyone_at_once() -> Result<()> {
    within(10, async {
        let (server, proxy) = chain("mass-disconnect@600ms").await?;
        let mut probes = Vec::new();
        for i in 0..4u64 {
            let url = proxy.url("/ws");
            probes.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(i * 80)).await;
                let started = tokio::time::Instant::now();
                let e = probe_url(&url, 3000, None).await?;
                let (end, open_ms) = end_of(&e)?;
                anyhow::Ok((end, started.elapsed().as_millis() as u64 + i * 80, open_ms))
            }));
        }
        let mut ends_ms = Vec::new();
        for p in probes {
            let (end, ended_ms, _) = p.await??;
            assert!(
                matches!(end, ConnectionEnd::FinWithoutClose { .. }),
                "{end:?}"
            );
            ends_ms.push(ended_ms);
        }
        let spread = ends_ms.iter().max().unwrap() - ends_ms.iter().min().unwrap();
        assert!(spread < 60, "ends {ends_ms:?}");
        proxy.shutdown().await;
        server.shutdown().await;
        Ok(())
    })
    .await
}

/// An upstream that closes with 1009 and resets at once (what a server does
/// that refuses a message while the rest of it is still arriving): the
/// client still gets the close frame, then the reset.
#[tokio::test]
async fn an_upstream_close_frame_reaches_the_client_before_its_reset() -> Result<()> {
    within(30, async {
        let request = b"GET / HTTP/1.1\r\nHost: example\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";
        let response = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        let close_1009 = [0x88u8, 0x02, 0x03, 0xF1];
        // The race was lost in most runs; twenty in a row must pass it on.
        for run in 0..20 {
            let upstream = TcpListener::bind("127.0.0.1:0").await?;
            let proxy = proxy_to(upstream.local_addr()?, "").await?;
            let server = tokio::spawn(async move {
                let (mut tcp, _) = upstream.accept().await?;
                let mut got = vec![0u8; request.len()];
                tcp.read_exact(&mut got).await?;
                tcp.write_all(response).await?;
                // The first bytes of an oversize message: refused.
                let mut first = [0u8; 1];
                tcp.read_exact(&mut first).await?;
                tcp.write_all(&close_1009).await?;
                // Closing with unread bytes sends RST, at once.
                socket2::SockRef::from(&tcp).set_linger(Some(Duration::ZERO))?;
                drop(tcp);
                anyhow::Ok(())
            });
            let mut client = TcpStream::connect(proxy.addr()).await?;
            client.write_all(request).await?;
            let mut head = vec![0u8; response.len() + b"Via: 1.1 wsdoctor-lab\r\n".len()];
            client.read_exact(&mut head).await?;
            // A binary frame announcing 64 MiB, and some of it.
            let mut frame = vec![0x82u8, 0x80 | 127];
            frame.extend_from_slice(&(64u64 << 20).to_be_bytes());
            frame.extend_from_slice(&[0; 4]);
            frame.extend_from_slice(&[0; 4096]);
            client.write_all(&frame).await?;
            server.await??;
            let mut got = Vec::new();
            let mut buf = [0u8; 64];
            loop {
                match client.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            if got != close_1009 {
                bail!("run {run}: the client got {got:02x?}, not the 1009 close frame");
            }
            proxy.shutdown().await;
        }
        Ok(())
    })
    .await
}
