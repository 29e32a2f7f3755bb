//! What a connection reads from peers before and besides frames:
//! permessage-deflate negotiation and inflation, and the answers of forward
//! proxies (HTTP CONNECT, SOCKS5).

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use arbitrary::Unstructured;
use tokio::io::AsyncWriteExt as _;
use wsdoctor_evidence::{DeflateParams, HeartbeatSettings, PongPolicy, Role};
use wsdoctor_sources::conn::{new_record, ForwardProxy, Target};
use wsdoctor_wire::deflate::{check_answer, choose_offer};

use crate::{chunked, split_control};

/// Largest inflated message the target allows (the real limit is the
/// session's message cap; a small one reaches the refusal path sooner).
const INFLATE_LIMIT: u64 = 256 * 1024;

fn window(u: &mut Unstructured<'_>) -> Option<u8> {
    match u.int_in_range(0..=8u8).unwrap_or(0) {
        0 => None,
        n => Some(n + 7),
    }
}

/// Negotiation texts, a compressed message from a hostile peer, and a round
/// trip of our own compressor into our own inflater.
pub(crate) fn deflate(data: &[u8]) {
    let (control, payload) = split_control(data, 24);
    let text = String::from_utf8_lossy(payload);
    for params in [check_answer(&text).ok(), choose_offer(&text)]
        .into_iter()
        .flatten()
    {
        for bits in [params.server_max_window_bits, params.client_max_window_bits]
            .into_iter()
            .flatten()
        {
            assert!(
                (8..=15).contains(&bits),
                "window of {bits} bits accepted from {text:?}"
            );
        }
    }
    let mut u = Unstructured::new(control);
    let params = DeflateParams {
        server_no_context_takeover: u.arbitrary().unwrap_or(false),
        client_no_context_takeover: u.arbitrary().unwrap_or(false),
        server_max_window_bits: window(&mut u),
        client_max_window_bits: window(&mut u),
    };
    let server = u.arbitrary().unwrap_or(false);
    let frames = chunked(&mut u, payload);
    if let Ok(out) = wsdoctor_wire::fuzzing::inflate_message(params, server, &frames, INFLATE_LIMIT)
    {
        assert!(
            out.len() as u64 <= INFLATE_LIMIT,
            "inflated {} bytes",
            out.len()
        );
    }
    // Our compressor's output must inflate back to what went in, message
    // after message (context takeover carries the window between them).
    let messages = chunked(&mut u, payload);
    for (sent, read) in messages
        .iter()
        .zip(wsdoctor_wire::fuzzing::deflate_round_trip(
            params,
            &messages,
            INFLATE_LIMIT,
        ))
    {
        match read {
            Ok(Some(back)) => assert_eq!(&back, sent, "deflate round trip changed a message"),
            Ok(None) => {}
            Err(e) => panic!("our own compressed message did not inflate: {e}"),
        }
    }
}

/// A loopback listener playing the proxy, on a runtime of its own.
struct Harness {
    runtime: tokio::runtime::Runtime,
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("a loopback listener");
        let addr = listener.local_addr().expect("its address");
        Harness {
            runtime,
            listener,
            addr,
        }
    })
}

/// Distinctive, so finding it in an output cannot be chance.
const PASSWORD: &str = "Pw9zQxFuzzSecret";

/// The proxy's answer is `data` (after the first byte, which picks HTTP
/// CONNECT or SOCKS5, with or without credentials): the tunnel attempt
/// ends in time, and neither the record nor the error shows the password.
pub(crate) fn proxy_reply(data: &[u8]) {
    let h = harness();
    let (mode, answer) = data.split_first().unwrap_or((&0, &[]));
    let scheme = ["http", "socks5", "socks5h"][usize::from(mode % 3)];
    let auth = if mode & 4 != 0 {
        format!("fuzz:{PASSWORD}@")
    } else {
        String::new()
    };
    let proxy = ForwardProxy::parse(&format!("{scheme}://{auth}{}", h.addr), "flag")
        .expect("a loopback proxy URL parses");
    // An IP target for socks5:// (no lookup), a name for the others.
    let target = if scheme == "socks5" {
        "ws://127.0.0.1:9/ws"
    } else {
        "ws://fuzz.invalid:9/ws"
    };
    let target = Target::parse(target).expect("the target parses");
    let heartbeat = HeartbeatSettings {
        ping_interval_ms: None,
        pong_timeout_ms: 1000,
        pong_policy: PongPolicy::Answer,
    };
    let mut record = new_record(&target, Role::Client, heartbeat);
    let result = h.runtime.block_on(async {
        let mut tcp = tokio::net::TcpStream::connect(h.addr)
            .await
            .expect("loopback connects");
        let (mut peer, _) = h.listener.accept().await.expect("the proxy side accepts");
        let answer = answer.to_vec();
        let proxy_side = tokio::spawn(async move {
            // The client may stop reading early (a refusal): fine.
            let _ = peer.write_all(&answer).await;
            let _ = peer.shutdown().await;
            // Keep the socket until the client is done, so a short answer
            // ends in EOF rather than a reset.
            tokio::time::sleep(Duration::from_millis(50)).await;
        });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        let started = tokio::time::Instant::now();
        let result =
            wsdoctor_sources::fuzzing::tunnel(&mut tcp, &proxy, &target, deadline, &mut record)
                .await;
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the tunnel outlived its deadline"
        );
        proxy_side.abort();
        Some(result)
    });
    let Some(result) = result else {
        return;
    };
    let shown = format!("{result:?} {:?}", record.forward_proxy);
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("fuzz:{PASSWORD}"),
    );
    // Unless the proxy itself sent them back.
    let echoed = |secret: &str| answer.windows(secret.len()).any(|w| w == secret.as_bytes());
    if !echoed(PASSWORD) && !echoed(&basic) {
        assert!(
            !shown.contains(PASSWORD),
            "the proxy password is in {shown}"
        );
        assert!(
            !shown.contains(&basic),
            "the Basic credentials are in {shown}"
        );
    }
}
