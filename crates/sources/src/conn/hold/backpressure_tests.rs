//! The pool against a peer that stops reading: reading pauses at the
//! session's bound and the connection ends at the write timeout.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use std::sync::mpsc;
use std::time::Instant;

use super::*;
use crate::conn::session::{Session, SessionConfig};
use wsdoctor_evidence::{ConnectionEnd, Role};

/// A real WebSocket server (tungstenite) that answers the upgrade and then
/// never reads, holding the socket open for `hold`.
async fn deaf_server(hold: Duration) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        tokio::time::sleep(hold).await;
        drop(ws);
    });
    addr
}

#[tokio::test]
async fn a_server_that_stops_reading_ends_at_the_write_timeout() {
    let addr = deaf_server(Duration::from_secs(20)).await;
    let target = crate::conn::Target::parse(&format!("ws://{addr}/")).unwrap();
    let options = crate::conn::ConnectOptions::new(target);
    let origin = Instant::now();
    let config = SessionConfig {
        // More than both kernels buffer, sent at once.
        messages: vec!["x".repeat(1 << 20); 24],
        send_every: Duration::from_millis(1),
        write_timeout: Duration::from_millis(800),
        ..SessionConfig::default()
    };
    let mut record = crate::conn::new_record(&options.target, Role::Client, config.heartbeat);
    let open = crate::conn::open(&options, origin, &mut record)
        .await
        .expect("open");
    let session = Box::new(Session::new(config, origin, open.opened_at));
    let tcp = open
        .stream
        .into_any()
        .downcast::<tokio::net::TcpStream>()
        .expect("plain TCP");
    let pool = HoldPool::start(1).unwrap();
    let (ended_tx, ended_rx) = mpsc::channel();
    pool.adopt(
        *tcp,
        session,
        Box::new(move |s: Box<Session>| {
            let _ = ended_tx.send(s);
        }),
    )
    .map_err(|_| "adopt")
    .unwrap();
    let session = tokio::task::spawn_blocking(move || ended_rx.recv_timeout(TEST_WAIT * 2))
        .await
        .unwrap()
        .expect("the connection ended");
    let (_, _, end, sent) = session.into_evidence();
    let end = end.expect("an end");
    match end.end {
        ConnectionEnd::PeerStoppedReading {
            queued_bytes,
            blocked_ms,
        } => {
            assert!(blocked_ms >= 800, "{blocked_ms} ms");
            // Not all 24 MB: the session stopped queueing at the bound.
            assert!(queued_bytes < 4 << 20, "{queued_bytes} B");
        }
        other => panic!("{other:?}"),
    }
    assert!(sent.len() < 24, "{} messages sent", sent.len());
}
