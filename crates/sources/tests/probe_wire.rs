//! The instrumented connection against real servers on 127.0.0.1:0: every
//! way a connection ends, told apart on the wire.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use wsdoctor_evidence::{
    ConnectionEnd, FrameKind, PongPolicy, ProbeEvidence, Side, TlsFailureKind, Transport,
};
use wsdoctor_lab::{LabConfig, LabServer, LabTls};
use wsdoctor_sources::conn::{ConnectOptions, Target, TlsOptions};
use wsdoctor_sources::probe::{run, ProbeConfig};

async fn lab() -> LabServer {
    LabServer::start(LabConfig::default())
        .await
        .expect("lab starts")
}

fn config(url: &str, watch_ms: u64) -> ProbeConfig {
    let mut config = ProbeConfig::new(ConnectOptions::new(Target::parse(url).expect("valid url")));
    config.watch = Duration::from_millis(watch_ms);
    config
}

async fn probe(url: &str, watch_ms: u64) -> ProbeEvidence {
    run(&config(url, watch_ms), None).await
}

fn end(e: &ProbeEvidence) -> ConnectionEnd {
    e.connection.end.clone().expect("ended").end
}

#[tokio::test]
async fn healthy_echo_with_server_pings() {
    let lab = lab().await;
    let mut c = config(&lab.url("/ws?fault=ping:200ms"), 900);
    c.messages = vec!["hello".into(), "world".into()];
    c.send_every = Duration::from_millis(100);
    let e = run(&c, None).await;
    assert!(e.connection.opened());
    assert!(matches!(
        end(&e),
        ConnectionEnd::CloseHandshake {
            initiator: Side::Local,
            answered: true,
            code: Some(1000),
            ..
        }
    ));
    assert_eq!(e.sent.len(), 2);
    assert!(
        e.sent.iter().all(|m| m.echo_rtt_us.is_some()),
        "{:?}",
        e.sent
    );
    let pings = e.connection.ping_times(Side::Remote);
    assert!((3..=5).contains(&pings.len()), "{pings:?}");
    let p = &e.connection.phases;
    assert!(
        p.connect_done_us.is_some()
            && p.request_written_us.is_some()
            && p.response_head_us.is_some()
    );
    assert!(p.dns_done_us.is_none(), "an IP literal needs no DNS");
    assert_eq!(
        e.connection.handshake.as_ref().unwrap().header("Server"),
        Some("wsdoctor-lab")
    );
}

#[tokio::test]
async fn healthy_against_tungstenite_as_an_independent_peer() {
    use futures_util::{SinkExt, StreamExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if msg.is_text() && ws.send(msg).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let mut c = config(&format!("ws://{addr}/"), 500);
    c.messages = vec!["interop".into()];
    c.heartbeat.ping_interval_ms = Some(100);
    let e = run(&c, None).await;
    assert!(
        matches!(
            end(&e),
            ConnectionEnd::CloseHandshake {
                initiator: Side::Local,
                answered: true,
                ..
            }
        ),
        "{:?}",
        end(&e)
    );
    assert!(e.sent[0].echo_rtt_us.is_some());
    assert!(
        !e.connection.pong_rtts_us().is_empty(),
        "tungstenite answers our pings"
    );
}

#[tokio::test]
async fn refused_answers_keep_status_headers_and_body() {
    let lab = lab().await;
    for (fault, status, needle) in [
        ("status:200", 200, "<html"),
        ("status:400&server=nginx/1.24.0", 400, "400 Bad Request"),
        ("status:426", 426, "Upgrade Required"),
        ("status:502&server=nginx", 502, "502 Bad Gateway"),
    ] {
        let e = probe(&lab.url(&format!("/ws?fault={fault}")), 500).await;
        assert_eq!(
            end(&e),
            ConnectionEnd::HandshakeRejected { status },
            "{fault}"
        );
        let hs = e.connection.handshake.as_ref().unwrap();
        assert!(
            hs.body.as_ref().unwrap().text.contains(needle),
            "{fault}: {:?}",
            hs.body
        );
        if fault.contains("nginx") {
            assert!(hs.header("Server").unwrap().starts_with("nginx"));
        }
    }
}

#[tokio::test]
async fn an_invalid_101_is_named() {
    let lab = lab().await;
    let e = probe(&lab.url("/ws?fault=bad-accept"), 500).await;
    assert!(matches!(end(&e), ConnectionEnd::HandshakeInvalid { problems } if problems.len() == 1));
}

#[tokio::test]
async fn close_codes_from_the_server() {
    let lab = lab().await;
    for code in [1011u16, 1001, 1000] {
        let e = probe(
            &lab.url(&format!("/ws?fault=close:{code}:100ms&reason=bye")),
            2_000,
        )
        .await;
        assert_eq!(
            end(&e),
            ConnectionEnd::CloseHandshake {
                code: Some(code),
                reason: "bye".into(),
                initiator: Side::Remote,
                answered: true
            }
        );
        let open_for = e.connection.open_for_us().unwrap();
        assert!((80_000..1_000_000).contains(&open_for), "{open_for}");
    }
}

#[tokio::test]
async fn reset_and_fin_without_close_frame_are_told_apart() {
    let lab = lab().await;
    let e = probe(&lab.url("/ws?fault=rst:200ms"), 2_000).await;
    assert_eq!(end(&e), ConnectionEnd::Reset);
    assert_eq!(end(&e).transport(), Some(Transport::Reset));
    let e = probe(&lab.url("/ws?fault=fin:200ms"), 2_000).await;
    assert_eq!(end(&e), ConnectionEnd::FinWithoutClose { mid_frame: false });
    let since = e
        .connection
        .end
        .as_ref()
        .unwrap()
        .since_last_inbound_us
        .unwrap();
    assert!(
        (150_000..1_000_000).contains(&since),
        "idle clock since the 101: {since}"
    );
    let e = probe(&lab.url("/ws?fault=fin-mid-frame:100ms"), 2_000).await;
    assert_eq!(end(&e), ConnectionEnd::FinWithoutClose { mid_frame: true });
}

#[tokio::test]
async fn a_peer_that_stops_answering_pings_is_half_open() {
    let lab = lab().await;
    let mut c = config(&lab.url("/ws?fault=no-pong"), 5_000);
    c.heartbeat.ping_interval_ms = Some(100);
    c.heartbeat.pong_timeout_ms = 300;
    let e = run(&c, None).await;
    assert!(
        matches!(end(&e), ConnectionEnd::HalfOpen { ping_unanswered_ms } if (300..600).contains(&ping_unanswered_ms))
    );
}

#[tokio::test]
async fn our_pong_policy_is_what_the_server_sees() {
    let lab = lab().await;
    let mut c = config(&lab.url("/ws?fault=ping:100ms"), 450);
    c.heartbeat.pong_policy = PongPolicy::Never;
    let e = run(&c, None).await;
    let ours = e
        .connection
        .events_from(Side::Local)
        .filter(|ev| matches!(ev.kind, FrameKind::Pong { .. }))
        .count();
    assert_eq!(ours, 0);
    assert!(!e.connection.ping_times(Side::Remote).is_empty());
}

#[tokio::test]
async fn a_hostile_two_gib_frame_is_refused_without_reading_it() {
    let lab = lab().await;
    let e = probe(&lab.url("/ws?fault=huge-frame"), 2_000).await;
    assert!(matches!(end(&e), ConnectionEnd::ProtocolViolation { rule } if rule.contains("limit")));
}

#[tokio::test]
async fn failures_before_the_handshake() {
    // A port that was just free: nothing listens.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = probe(&format!("ws://127.0.0.1:{port}/"), 500).await;
    assert!(matches!(end(&e), ConnectionEnd::ConnectRefused { .. }));

    // .invalid never resolves (RFC 6761); a sandbox without a resolver just times out.
    let mut c = config("ws://no-such-host.invalid/", 500);
    c.connect.connect_timeout = Duration::from_secs(2);
    let e = run(&c, None).await;
    assert!(
        matches!(end(&e), ConnectionEnd::DnsFailed { .. }),
        "{:?}",
        end(&e)
    );

    let lab = lab().await;
    let mut c = config(&lab.url("/ws?fault=hang"), 500);
    c.connect.handshake_timeout = Duration::from_millis(300);
    let e = run(&c, None).await;
    assert_eq!(end(&e), ConnectionEnd::HandshakeTimedOut { after_ms: 300 });

    let e = probe(&lab.url("/ws?fault=not-http"), 500).await;
    assert!(
        matches!(end(&e), ConnectionEnd::ProtocolViolation { .. }),
        "{:?}",
        end(&e)
    );
}

#[tokio::test]
async fn tls_is_verified_unless_told_otherwise() {
    let (tls, cert_pem) = LabTls::self_signed(&["localhost", "127.0.0.1"]).unwrap();
    let lab = LabServer::start(LabConfig {
        tls: Some(tls),
        ..LabConfig::default()
    })
    .await
    .unwrap();
    let url = lab.url("/ws");
    assert!(url.starts_with("wss://"));

    let e = probe(&url, 300).await;
    assert!(
        matches!(
            end(&e),
            ConnectionEnd::TlsFailed {
                failure: TlsFailureKind::UntrustedCertificate,
                ..
            }
        ),
        "{:?}",
        end(&e)
    );

    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert_pem).unwrap();
    let mut c = config(&url, 300);
    c.connect.tls.add_ca_file(&ca).unwrap();
    let e = run(&c, None).await;
    assert!(e.connection.opened(), "{:?}", end(&e));
    let tls_info = e.connection.tls.clone().unwrap();
    assert!(tls_info.verified);
    assert!(tls_info.version.contains("TLS"), "{tls_info:?}");

    let mut c = config(&url, 300);
    c.connect.tls = TlsOptions {
        insecure: true,
        ..TlsOptions::default()
    };
    let e = run(&c, None).await;
    assert!(e.connection.opened());
    assert!(!e.connection.tls.unwrap().verified);

    // wss:// to a plain port: the peer does not speak TLS.
    let plain = LabServer::start(LabConfig::default()).await.unwrap();
    let e = probe(&format!("wss://{}/", plain.addr()), 300).await;
    assert!(
        matches!(end(&e), ConnectionEnd::TlsFailed { .. }),
        "{:?}",
        end(&e)
    );
}
