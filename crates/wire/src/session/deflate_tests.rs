//! permessage-deflate in the session, on a simulated clock: frames built
//! with flate2 as a peer would.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

use super::*;

/// A frame with RSV1 as given, masked when `mask` (client-to-server).
fn frame(fin: bool, rsv1: bool, opcode: u8, payload: &[u8], mask: bool) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | (u8::from(rsv1) << 6) | opcode];
    let mask_bit = if mask { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let key = [0x12, 0x34, 0x56, 0x78];
    if mask {
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// One message as a peer compresses it: a sync flush, tail stripped.
fn compress(compressor: &mut Compress, text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 1024);
    compressor
        .compress_vec(text, &mut out, FlushCompress::Sync)
        .unwrap();
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

fn session(role: Role, echo: bool, max: u64, params: DeflateParams) -> (Session, Instant) {
    let t0 = Instant::now();
    let config = SessionConfig {
        role,
        echo,
        max_frame_bytes: max,
        ..SessionConfig::default()
    };
    let mut session = Session::new(config, t0, t0);
    session.use_deflate(params);
    (session, t0)
}

fn feed(session: &mut Session, at: Instant, bytes: &[u8]) {
    session.handle_data(at, &mut bytes.to_vec());
}

fn texts_received(session: Session) -> (Vec<(usize, String)>, Option<EndRecord>) {
    let (events, _, end, _) = session.into_evidence();
    let texts = events
        .into_iter()
        .filter(|e| e.from == Side::Remote)
        .filter_map(|e| match e.kind {
            FrameKind::Text { len, preview, .. } => Some((len, preview)),
            _ => None,
        })
        .collect();
    (texts, end)
}

#[test]
fn the_server_inflates_a_compressed_message_and_echoes_it_compressed() {
    let (mut server, t0) = session(Role::Server, true, 1 << 20, DeflateParams::default());
    let text = "hello deflate ".repeat(700);
    let mut client = Compress::new_with_window_bits(Compression::default(), false, 15);
    let wire = compress(&mut client, text.as_bytes());
    feed(&mut server, t0, &frame(true, true, 0x1, &wire, true));
    let echo = server.poll_transmit().expect("an echo");
    assert_eq!(echo[0], 0x80 | 0x40 | 0x1, "FIN, RSV1, text");
    let header = if echo[1] == 126 { 4 } else { 2 };
    let mut payload = echo[header..].to_vec();
    payload.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut inflater = Decompress::new(false);
    let mut echoed = Vec::with_capacity(text.len() + 16);
    inflater
        .decompress_vec(&payload, &mut echoed, FlushDecompress::Sync)
        .unwrap();
    assert_eq!(echoed, text.as_bytes());
    let record = server.deflate_record().unwrap();
    assert_eq!(record.compressed_messages_in, 1);
    assert_eq!(record.compressed_bytes_in, wire.len() as u64);
    assert_eq!(record.inflated_bytes_in, text.len() as u64);
    let (texts, end) = texts_received(server);
    assert_eq!(texts[0].0, text.len());
    assert!(end.is_none());
}

#[test]
fn the_window_carries_over_between_messages_unless_the_server_resets_it() {
    let first = "the quick brown fox jumps over the lazy dog ".repeat(20);
    let second = first.clone();
    let mut server = Compress::new_with_window_bits(Compression::default(), false, 15);
    let one = compress(&mut server, first.as_bytes());
    // Refers back into the first message: a handful of bytes.
    let two = compress(&mut server, second.as_bytes());
    assert!(two.len() < 16, "{}", two.len());

    let (mut client, t0) = session(Role::Client, false, 1 << 20, DeflateParams::default());
    feed(&mut client, t0, &frame(true, true, 0x1, &one, false));
    feed(&mut client, t0, &frame(true, true, 0x1, &two, false));
    let (texts, end) = texts_received(client);
    assert_eq!(texts.len(), 2);
    assert_eq!(texts[1].0, second.len());
    assert!(second.starts_with(&texts[1].1));
    assert!(end.is_none());

    // With server_no_context_takeover agreed, the client forgets the window
    // after each message, so the same back-reference cannot be followed.
    let reset = DeflateParams {
        server_no_context_takeover: true,
        ..DeflateParams::default()
    };
    let (mut client, t0) = session(Role::Client, false, 1 << 20, reset);
    feed(&mut client, t0, &frame(true, true, 0x1, &one, false));
    feed(&mut client, t0, &frame(true, true, 0x1, &two, false));
    let (texts, end) = texts_received(client);
    assert_eq!(texts.len(), 1);
    let ConnectionEnd::ProtocolViolation { rule } = end.unwrap().end else {
        panic!("a violation")
    };
    assert!(rule.contains("not valid deflate"), "{rule}");

    // A server that does reset is read correctly, message after message.
    let (mut client, t0) = session(Role::Client, false, 1 << 20, reset);
    for _ in 0..2 {
        let mut fresh = Compress::new_with_window_bits(Compression::default(), false, 15);
        let wire = compress(&mut fresh, first.as_bytes());
        feed(&mut client, t0, &frame(true, true, 0x1, &wire, false));
    }
    let (texts, end) = texts_received(client);
    assert_eq!(texts.len(), 2);
    assert!(end.is_none());
}

#[test]
fn a_fragmented_compressed_message_is_inflated_whole() {
    let text = "fragment ".repeat(300);
    let mut server = Compress::new_with_window_bits(Compression::default(), false, 15);
    let wire = compress(&mut server, text.as_bytes());
    let (head, tail) = wire.split_at(wire.len() / 2);
    let (mut client, t0) = session(Role::Client, false, 1 << 20, DeflateParams::default());
    feed(&mut client, t0, &frame(false, true, 0x1, head, false));
    feed(&mut client, t0, &frame(true, false, 0x0, tail, false));
    let (texts, end) = texts_received(client);
    assert_eq!(texts, vec![(text.len(), text.chars().take(120).collect())]);
    assert!(end.is_none());
}

#[test]
fn a_deflate_bomb_is_closed_with_1009_at_the_limit() {
    // 64 MiB of zeros compresses to about 64 KiB.
    let zeros = vec![0u8; 64 << 20];
    let mut server = Compress::new_with_window_bits(Compression::best(), false, 15);
    let bomb = compress(&mut server, &zeros);
    drop(zeros);
    assert!(bomb.len() < 128 * 1024, "{}", bomb.len());
    let (mut client, t0) = session(Role::Client, false, 1 << 20, DeflateParams::default());
    feed(&mut client, t0, &frame(true, true, 0x2, &bomb, false));
    assert!(client.is_ended());
    let close = client.poll_transmit().expect("a close frame");
    // Masked close: 2 header bytes, 4 mask bytes, then the code.
    let code = u16::from_be_bytes([close[6] ^ close[2], close[7] ^ close[3]]);
    assert_eq!(code, 1009);
    let inflated = client.deflate_record().unwrap().inflated_bytes_in;
    assert!(inflated <= (1 << 20) + 8 * 1024, "{inflated}");
    let (_, end) = texts_received(client);
    let ConnectionEnd::ProtocolViolation { rule } = end.unwrap().end else {
        panic!("a violation")
    };
    assert!(rule.contains("1048576 byte limit"), "{rule}");
}

#[test]
fn rsv1_is_refused_on_control_and_continuation_frames() {
    let cases = [
        (
            frame(true, true, 0x9, b"ping", false),
            "RSV1 set on a Ping frame",
        ),
        (
            [
                frame(false, false, 0x1, b"plain", false),
                frame(true, true, 0x0, b"x", false),
            ]
            .concat(),
            "RSV1 set on a continuation frame",
        ),
    ];
    for (bytes, want) in cases {
        let (mut client, t0) = session(Role::Client, false, 1 << 20, DeflateParams::default());
        feed(&mut client, t0, &bytes);
        let (_, end) = texts_received(client);
        let ConnectionEnd::ProtocolViolation { rule } = end.unwrap().end else {
            panic!("a violation")
        };
        assert!(rule.contains(want), "{rule}");
    }
    // Without the extension RSV1 stays a violation of RFC 6455.
    let t0 = Instant::now();
    let mut plain = Session::new(SessionConfig::default(), t0, t0);
    feed(&mut plain, t0, &frame(true, true, 0x1, b"x", false));
    let ConnectionEnd::ProtocolViolation { rule } = plain.into_evidence().2.unwrap().end else {
        panic!("a violation")
    };
    assert!(rule.contains("without a negotiated extension"), "{rule}");
}

#[test]
fn a_session_without_deflate_stays_small() {
    // `load` holds 100,000 of them: the codec is one pointer until used,
    // and so is everything a frame, a timer or a close needs (`Busy`).
    // 576 B before the busy part was split off (issue 23).
    let size = std::mem::size_of::<Session>();
    assert!(size <= 112, "Session is {size} B");
}

#[test]
fn a_held_idle_session_allocates_nothing_more() {
    // What the hold pool does with an idle connection: flush it, ask for
    // its timer and its backpressure. None of it may allocate the busy
    // part, or every held connection pays for it.
    let t0 = Instant::now();
    for role in [Role::Client, Role::Server] {
        let config = SessionConfig {
            role,
            max_events: 0,
            ..SessionConfig::default()
        };
        let mut session = Session::new(config, t0, t0);
        assert_eq!(session.poll_transmit(), None);
        session.on_unsent(t0, 0, false);
        assert_eq!(session.poll_timeout(), None);
        assert!(!session.read_paused() && !session.is_closing() && !session.is_ended());
        assert_eq!(session.outbound_bytes(), 0);
        assert!(
            session.busy.is_none(),
            "{role:?}: an idle session became busy"
        );
        // The first frame makes it busy, and it works as before.
        feed(
            &mut session,
            t0,
            &frame(true, false, 0x9, b"p", role == Role::Server),
        );
        assert!(session.busy.is_some());
        assert!(session.poll_transmit().is_some(), "{role:?}: the pong");
    }
    // A session with something scheduled is busy from the start.
    let pinging = SessionConfig {
        heartbeat: HeartbeatSettings {
            ping_interval_ms: Some(1_000),
            ..SessionConfig::default().heartbeat
        },
        ..SessionConfig::default()
    };
    let session = Session::new(pinging, t0, t0);
    assert_eq!(session.poll_timeout(), Some(t0 + Duration::from_secs(1)));
}
