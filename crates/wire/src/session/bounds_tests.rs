//! What a hostile peer can make a session hold or accept, on a simulated
//! clock: the outbound bound and pong coalescing, a peer that stops reading,
//! invalid UTF-8, and messages over the size limit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A masked (client-to-server) frame, what a server session reads.
fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [7, 1, 9, 3];
    let mut out = vec![(u8::from(fin) << 7) | opcode];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// An unmasked (server-to-client) frame, what a client session reads.
fn server_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | opcode, payload.len() as u8];
    out.extend_from_slice(payload);
    out
}

fn server(config: SessionConfig) -> (Session, Instant) {
    let t0 = Instant::now();
    let config = SessionConfig {
        role: Role::Server,
        echo: true,
        ..config
    };
    (Session::new(config, t0, t0), t0)
}

fn client(config: SessionConfig) -> (Session, Instant) {
    let t0 = Instant::now();
    (Session::new(config, t0, t0), t0)
}

fn feed(session: &mut Session, now: Instant, bytes: &[u8]) {
    session.handle_data(now, &mut bytes.to_vec());
}

/// Opcode and payload of every frame the (server) session has to send.
fn drain(session: &mut Session) -> Vec<(u8, Vec<u8>)> {
    std::iter::from_fn(|| session.poll_transmit())
        .map(|w| {
            let len = usize::from(w[1] & 0x7f);
            (w[0] & 0x0f, w[2..2 + len.min(w.len() - 2)].to_vec())
        })
        .collect()
}

fn end(session: Session) -> ConnectionEnd {
    session.into_evidence().2.expect("the session ended").end
}

#[test]
fn a_ping_flood_owes_one_pong_answering_the_latest() {
    let (mut s, t0) = server(SessionConfig::default());
    let mut flood = Vec::new();
    for i in 0..10_000u32 {
        flood.extend(client_frame(true, 0x9, &i.to_be_bytes()));
    }
    feed(&mut s, t0, &flood);
    assert!(s.outbound_bytes() < 200, "{} B owed", s.outbound_bytes());
    assert!(!s.read_paused());
    let sent = drain(&mut s);
    assert_eq!(sent, vec![(0xA, 9_999u32.to_be_bytes().to_vec())]);
    // One pong event, not ten thousand.
    let (events, ..) = s.into_evidence();
    let pongs = events
        .iter()
        .filter(|e| e.from == Side::Local && matches!(e.kind, FrameKind::Pong { .. }))
        .count();
    assert_eq!(pongs, 1);
}

#[test]
fn echoes_past_the_bound_pause_reading_until_sent() {
    let config = SessionConfig {
        max_queued_bytes: 4 * 1024,
        ..SessionConfig::default()
    };
    let (mut s, t0) = server(config);
    let message = client_frame(true, 0x1, &[b'x'; 1000]);
    for _ in 0..4 {
        feed(&mut s, t0, &message);
    }
    assert!(!s.read_paused(), "4 echoes of 1 KB fit in 4 KiB");
    feed(&mut s, t0, &message);
    assert!(s.read_paused(), "{} B owed", s.outbound_bytes());
    // The driver takes one frame the socket only half accepts.
    let frame = s.poll_transmit().unwrap();
    s.on_unsent(t0, frame.len() / 2, true);
    assert!(s.read_paused());
    drain(&mut s);
    s.on_unsent(t0 + ms(1), 0, true);
    assert!(!s.read_paused(), "all written: reading resumes");
}

#[test]
fn a_peer_that_stops_reading_ends_at_the_write_timeout_with_1008() {
    let config = SessionConfig {
        write_timeout: ms(3_000),
        ..SessionConfig::default()
    };
    let (mut s, t0) = server(config);
    feed(&mut s, t0, &client_frame(true, 0x1, b"hello"));
    let frame = s.poll_transmit().unwrap();
    // The socket takes part of it, then nothing more.
    s.on_unsent(t0 + ms(10), 4, true);
    s.on_unsent(t0 + ms(500), 4, false);
    assert_eq!(
        s.poll_timeout(),
        Some(t0 + ms(3_010)),
        "from the last progress"
    );
    s.handle_timeout(t0 + ms(3_009));
    assert!(!s.is_ended());
    s.handle_timeout(t0 + ms(3_010));
    assert!(s.is_ended());
    let sent = drain(&mut s);
    assert_eq!(sent[0].0, 0x8, "a close frame says why");
    assert_eq!(sent[0].1[..2], 1008u16.to_be_bytes());
    assert!(String::from_utf8_lossy(&sent[0].1[2..]).contains("not reading"));
    match end(s) {
        ConnectionEnd::PeerStoppedReading {
            queued_bytes,
            blocked_ms,
        } => {
            assert_eq!(queued_bytes, 4);
            assert_eq!(blocked_ms, 3_000);
        }
        other => panic!("{other:?}"),
    }
    drop(frame);
}

#[test]
fn a_write_given_up_by_the_driver_ends_without_more_frames() {
    let (mut s, t0) = client(SessionConfig::default());
    feed(&mut s, t0, &server_frame(true, 0x9, b"p"));
    let pong = s.poll_transmit().unwrap();
    s.on_unsent(t0, pong.len(), true);
    s.on_write_stalled(t0 + ms(1_700));
    assert!(s.poll_transmit().is_none(), "a frame may be half written");
    assert!(matches!(
        end(s),
        ConnectionEnd::PeerStoppedReading {
            blocked_ms: 1_700,
            ..
        }
    ));
}

#[test]
fn a_write_cut_short_by_the_watch_end_is_not_evidence() {
    let (mut s, t0) = client(SessionConfig::default());
    feed(&mut s, t0, &server_frame(true, 0x9, b"p"));
    let pong = s.poll_transmit().unwrap();
    s.on_unsent(t0, pong.len(), true);
    s.on_write_stalled(t0 + ms(200));
    match end(s) {
        ConnectionEnd::LocalDeadline { what } => assert!(what.contains("200 ms"), "{what}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_socket_that_takes_bytes_again_clears_the_stall() {
    let config = SessionConfig {
        write_timeout: ms(1_000),
        ..SessionConfig::default()
    };
    let (mut s, t0) = server(config);
    s.on_unsent(t0, 100, true);
    s.on_unsent(t0 + ms(900), 0, true);
    assert_eq!(s.write_deadline(), None);
    s.handle_timeout(t0 + ms(2_000));
    assert!(!s.is_ended());
}

#[test]
fn delayed_pongs_are_bounded_under_a_flood() {
    let config = SessionConfig {
        heartbeat: HeartbeatSettings {
            ping_interval_ms: None,
            pong_timeout_ms: 10_000,
            pong_policy: PongPolicy::Delay { ms: 1_000 },
        },
        ..SessionConfig::default()
    };
    let (mut s, t0) = client(config);
    let mut flood = Vec::new();
    for i in 0..5_000u32 {
        flood.extend(server_frame(true, 0x9, &i.to_be_bytes()));
    }
    feed(&mut s, t0, &flood);
    assert!(s.b().delayed_pongs.len() <= MAX_DELAYED_PONGS);
    assert_eq!(
        s.b().delayed_pongs.back().map(|(_, p)| p.clone()),
        Some(4_999u32.to_be_bytes().to_vec()),
        "the latest ping is the one answered"
    );
}

/// How a text message split as given ends: the close code we sent and the
/// end, or `None` when it was accepted.
fn text_in_fragments(parts: &[&[u8]]) -> Option<(u16, ConnectionEnd)> {
    let (mut s, t0) = server(SessionConfig::default());
    for (i, part) in parts.iter().enumerate() {
        let opcode = if i == 0 { 0x1 } else { 0x0 };
        feed(
            &mut s,
            t0,
            &client_frame(i + 1 == parts.len(), opcode, part),
        );
    }
    let sent = drain(&mut s);
    if !s.is_ended() {
        return None;
    }
    let close = sent.iter().find(|(op, _)| *op == 0x8)?;
    Some((u16::from_be_bytes([close.1[0], close.1[1]]), end(s)))
}

#[test]
fn invalid_utf8_fails_with_1007_across_fragments() {
    let euro = "€".as_bytes(); // e2 82 ac
                               // A code point split across fragments is fine.
    assert!(text_in_fragments(&[b"a", &euro[..1], &euro[1..2], &euro[2..], b"b"]).is_none());
    assert!(text_in_fragments(&["😀".as_bytes()[..3].as_ref(), &"😀".as_bytes()[3..]]).is_none());
    for bad in [
        vec![&[0xffu8][..]],
        vec![b"ok", &[0xc3]],            // ends inside a code point
        vec![&euro[..2], b"x"],          // continuation missing across fragments
        vec![b"a", &[0xed, 0xa0, 0x80]], // a surrogate
    ] {
        let (code, end) = text_in_fragments(&bad).expect("closed");
        assert_eq!(code, 1007, "{bad:?}");
        assert!(
            matches!(&end, ConnectionEnd::ProtocolViolation { rule } if rule.contains("UTF-8") && rule.contains("§8.1")),
            "{end:?}"
        );
    }
}

#[test]
fn a_client_reports_a_server_sending_invalid_utf8() {
    let (mut s, t0) = client(SessionConfig::default());
    feed(&mut s, t0, &server_frame(true, 0x1, &[b'h', 0xc0, 0xaf]));
    assert!(matches!(
        end(s),
        ConnectionEnd::ProtocolViolation { rule } if rule.contains("UTF-8")
    ));
}

#[test]
fn binary_messages_are_not_checked_for_utf8() {
    let (mut s, t0) = server(SessionConfig::default());
    feed(&mut s, t0, &client_frame(true, 0x2, &[0xff, 0xfe]));
    assert!(!s.is_ended());
}

#[test]
fn an_endless_fragmented_message_is_closed_with_1009_at_the_limit() {
    let config = SessionConfig {
        max_frame_bytes: 10_000,
        ..SessionConfig::default()
    };
    let (mut s, t0) = server(config);
    feed(&mut s, t0, &client_frame(false, 0x2, &[0; 1000]));
    let mut fragments = 1;
    while !s.is_ended() && fragments < 100 {
        feed(&mut s, t0, &client_frame(false, 0x0, &[0; 1000]));
        fragments += 1;
    }
    assert_eq!(
        fragments, 11,
        "closed on the fragment that passes 10,000 bytes"
    );
    let sent = drain(&mut s);
    assert_eq!(
        sent.last().map(|(op, p)| (*op, p[..2].to_vec())),
        Some((0x8, 1009u16.to_be_bytes().to_vec()))
    );
    assert!(
        matches!(end(s), ConnectionEnd::ProtocolViolation { rule } if rule.contains("fragmented"))
    );
}

#[test]
fn our_own_messages_wait_while_the_peer_has_not_taken_what_we_owe() {
    let config = SessionConfig {
        messages: vec!["x".repeat(100_000), "y".into()],
        send_every: ms(10),
        ..SessionConfig::default()
    };
    let (mut s, t0) = client(config);
    s.handle_timeout(t0);
    let first = s.poll_transmit().unwrap();
    // The socket took none of it yet.
    s.on_unsent(t0, first.len(), true);
    assert_ne!(s.poll_timeout(), Some(t0 + ms(10)), "the next send waits");
    s.handle_timeout(t0 + ms(10));
    assert!(s.poll_transmit().is_none());
    s.on_unsent(t0 + ms(50), 0, true);
    assert_eq!(s.poll_timeout(), Some(t0 + ms(10)), "due again at once");
    s.handle_timeout(t0 + ms(50));
    assert!(s.poll_transmit().is_some());
}

#[test]
fn a_masked_payload_split_anywhere_is_decoded() {
    // The decoder's masking phase wraps in a u8: chunks of 253+ bytes
    // (mod 256) after an odd start once panicked in debug builds.
    let payload: Vec<u8> = (0..1024u32).map(|i| b'a' + (i % 26) as u8).collect();
    let frame = client_frame(true, 0x1, &payload);
    let header = frame.len() - payload.len();
    for first in [1, 2, 3] {
        for second in [253, 254, 255, 509, 510, 511] {
            let (mut s, t0) = server(SessionConfig::default());
            let cut = header + first;
            feed(&mut s, t0, &frame[..cut]);
            feed(&mut s, t0, &frame[cut..cut + second]);
            feed(&mut s, t0, &frame[cut + second..]);
            assert!(!s.is_ended(), "{first} + {second}");
            let echo = drain(&mut s);
            assert_eq!(echo.len(), 1);
        }
    }
}
