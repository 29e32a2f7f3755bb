//! The session on a simulated clock: no sockets, no sleeping.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// An unmasked (server-to-client) frame.
fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | opcode];
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= 0xffff => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// Opcode and unmasked payload of a frame we sent (clients always mask).
fn unmask(wire: &[u8]) -> (u8, Vec<u8>) {
    assert_eq!(wire[1] & 0x80, 0x80, "client frames must be masked");
    let len = (wire[1] & 0x7f) as usize;
    assert!(len < 126, "test frames are small");
    let mask = &wire[2..6];
    let payload = wire[6..6 + len]
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ mask[i % 4])
        .collect();
    (wire[0] & 0x0f, payload)
}

struct Harness {
    session: Session,
    t0: Instant,
}

impl Harness {
    fn new(config: SessionConfig) -> Harness {
        let t0 = Instant::now();
        Harness {
            session: Session::new(config, t0, t0),
            t0,
        }
    }
    fn at(&self, millis: u64) -> Instant {
        self.t0 + ms(millis)
    }
    fn feed(&mut self, millis: u64, bytes: &[u8]) {
        let now = self.at(millis);
        self.session.handle_data(now, &mut bytes.to_vec());
    }
    fn tick(&mut self, millis: u64) {
        let now = self.at(millis);
        self.session.handle_timeout(now);
    }
    fn sent(&mut self) -> Vec<(u8, Vec<u8>)> {
        std::iter::from_fn(|| self.session.poll_transmit())
            .map(|w| unmask(&w))
            .collect()
    }
    fn end(self) -> EndRecord {
        self.session.into_evidence().2.expect("the session ended")
    }
}

fn heartbeat(ping_ms: Option<u64>, pong_timeout_ms: u64, policy: PongPolicy) -> SessionConfig {
    SessionConfig {
        heartbeat: HeartbeatSettings {
            ping_interval_ms: ping_ms,
            pong_timeout_ms,
            pong_policy: policy,
        },
        ..SessionConfig::default()
    }
}

#[test]
fn answers_server_pings_at_once_by_default() {
    let mut h = Harness::new(SessionConfig::default());
    h.feed(100, &frame(true, 0x9, b"hb"));
    assert_eq!(h.sent(), vec![(0xA, b"hb".to_vec())]);
    assert!(!h.session.is_ended());
}

#[test]
fn never_policy_stays_silent_and_delay_policy_waits() {
    let mut h = Harness::new(heartbeat(None, 10_000, PongPolicy::Never));
    h.feed(100, &frame(true, 0x9, b"x"));
    assert!(h.sent().is_empty());

    let mut h = Harness::new(heartbeat(None, 10_000, PongPolicy::Delay { ms: 300 }));
    h.feed(100, &frame(true, 0x9, b"x"));
    assert!(h.sent().is_empty());
    assert_eq!(h.session.poll_timeout(), Some(h.at(400)));
    h.tick(399);
    assert!(h.sent().is_empty());
    h.tick(400);
    assert_eq!(h.sent(), vec![(0xA, b"x".to_vec())]);
}

#[test]
fn unanswered_ping_means_half_open_at_the_pong_deadline() {
    let mut h = Harness::new(heartbeat(Some(1_000), 2_000, PongPolicy::Answer));
    assert_eq!(h.session.poll_timeout(), Some(h.at(1_000)));
    h.tick(1_000);
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, 0x9);
    h.tick(2_000); // second ping; the first is still unanswered
    h.tick(2_999);
    assert!(!h.session.is_ended());
    h.tick(3_000);
    let end = h.end();
    assert_eq!(
        end.end,
        ConnectionEnd::HalfOpen {
            ping_unanswered_ms: 2_000
        }
    );
    assert_eq!(end.since_last_inbound_us, Some(3_000_000));
}

#[test]
fn pongs_are_matched_to_pings_with_their_rtt() {
    let mut h = Harness::new(heartbeat(Some(1_000), 2_000, PongPolicy::Answer));
    h.tick(1_000);
    let (_, payload) = h.sent().remove(0);
    h.feed(1_042, &frame(true, 0xA, &payload));
    h.tick(3_500); // would be past the deadline had the pong not matched
    assert!(!h.session.is_ended());
    let (events, ..) = h.session.into_evidence();
    let rtts: Vec<_> = events
        .iter()
        .filter_map(|e| match e.kind {
            FrameKind::Pong { rtt_us, .. } => rtt_us,
            _ => None,
        })
        .collect();
    assert_eq!(rtts, vec![42_000]);
}

#[test]
fn remote_close_is_answered_with_the_same_code() {
    let mut h = Harness::new(SessionConfig::default());
    let mut payload = 1011u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"boom");
    h.feed(2_000, &frame(true, 0x8, &payload));
    assert_eq!(h.sent(), vec![(0x8, 1011u16.to_be_bytes().to_vec())]);
    let end = h.end();
    assert_eq!(
        end.end,
        ConnectionEnd::CloseHandshake {
            code: Some(1011),
            reason: "boom".into(),
            initiator: Side::Remote,
            answered: true
        }
    );
    assert_eq!(end.open_for_us, Some(2_000_000));
    // The close frame itself is not activity: the idle clock says 2 s of silence.
    assert_eq!(end.since_last_inbound_us, Some(2_000_000));
}

#[test]
fn our_close_answered_or_not() {
    let mut h = Harness::new(SessionConfig::default());
    h.session.close(h.at(5_000), 1000, "done");
    assert_eq!(h.sent()[0].0, 0x8);
    h.feed(5_010, &frame(true, 0x8, &1000u16.to_be_bytes()));
    assert!(matches!(
        h.end().end,
        ConnectionEnd::CloseHandshake {
            initiator: Side::Local,
            answered: true,
            ..
        }
    ));

    let mut h = Harness::new(SessionConfig::default());
    h.session.close(h.at(5_000), 1000, "done");
    // One second for the answer: a command ends at most that past its deadline.
    assert_eq!(h.session.poll_timeout(), Some(h.at(6_000)));
    h.tick(6_000);
    assert!(matches!(
        h.end().end,
        ConnectionEnd::CloseHandshake {
            initiator: Side::Local,
            answered: false,
            ..
        }
    ));
}

/// Closes at 5 s; the wire bytes of what it then had to send.
fn close_at_5s(h: &mut Harness) -> u64 {
    h.session.close(h.at(5_000), 1000, "done");
    wire_len(h)
}

/// Wire bytes of the frames the session has to send now (taken).
fn wire_len(h: &mut Harness) -> u64 {
    std::iter::from_fn(|| h.session.poll_transmit())
        .map(|w| w.len() as u64)
        .sum()
}

fn unanswered(h: Harness) -> bool {
    matches!(
        h.end().end,
        ConnectionEnd::CloseHandshake {
            initiator: Side::Local,
            answered: false,
            ..
        }
    )
}

#[test]
fn an_unanswered_close_behind_bytes_still_unacknowledged_is_a_peer_that_stopped_reading() {
    let mut h = Harness::new(SessionConfig::default());
    assert_eq!(h.session.unanswered_close_waited(), None);
    let close_frame = close_at_5s(&mut h);
    assert_eq!(close_frame, 12, "2 + 4 (mask) + 2 (code) + \"done\"");
    h.tick(6_000);
    // The shell asks how long it waited (the default close wait: 1 s).
    assert_eq!(h.session.unanswered_close_waited(), Some(ms(1_000)));
    // 4,096 bytes written ahead of our close frame, still unacknowledged.
    assert!(h
        .session
        .on_close_unread(Some(4_096 + close_frame), ms(1_000)));
    assert_eq!(h.session.unanswered_close_waited(), None);
    assert_eq!(
        h.end().end,
        ConnectionEnd::PeerStoppedReading {
            queued_bytes: 4_108,
            blocked_ms: 1_000
        }
    );
}

#[test]
fn our_close_frame_alone_unacknowledged_shows_no_shut_window() {
    // What the kernel holds at the end is our close frame: a reading
    // peer's late ACK on a loaded machine looks the same (a healthy
    // stomp-broker-js, 31 bytes).
    let mut h = Harness::new(SessionConfig::default());
    let close_frame = close_at_5s(&mut h);
    h.tick(6_000);
    assert!(!h.session.on_close_unread(Some(close_frame), ms(1_000)));
    assert!(unanswered(h));
    // Nothing held, or the kernel could not be read.
    for held in [Some(0), None] {
        let mut h = Harness::new(SessionConfig::default());
        close_at_5s(&mut h);
        h.tick(6_000);
        assert!(!h.session.on_close_unread(held, ms(1_000)), "{held:?}");
        assert!(unanswered(h), "{held:?}");
    }
    // Answered: the peer was reading, whatever the kernel holds.
    let mut h = Harness::new(SessionConfig::default());
    close_at_5s(&mut h);
    h.feed(5_010, &frame(true, 0x8, &1000u16.to_be_bytes()));
    assert_eq!(h.session.unanswered_close_waited(), None);
    assert!(!h.session.on_close_unread(Some(4_108), ms(1_000)));
    assert!(matches!(
        h.end().end,
        ConnectionEnd::CloseHandshake { answered: true, .. }
    ));
}

#[test]
fn eof_at_a_frame_boundary_or_mid_frame() {
    let mut h = Harness::new(SessionConfig::default());
    h.feed(10, &frame(true, 0x1, b"hello"));
    h.session.handle_eof(h.at(60_000));
    let end = h.end();
    assert_eq!(end.end, ConnectionEnd::FinWithoutClose { mid_frame: false });
    assert_eq!(end.since_last_inbound_us, Some(59_990_000));

    let mut h = Harness::new(SessionConfig::default());
    let whole = frame(true, 0x1, &[b'a'; 100]);
    h.feed(10, &whole[..20]);
    h.session.handle_eof(h.at(20));
    assert_eq!(
        h.end().end,
        ConnectionEnd::FinWithoutClose { mid_frame: true }
    );
}

#[test]
fn a_frame_announcing_two_gib_is_refused_before_its_payload() {
    let mut h = Harness::new(SessionConfig::default());
    let mut header = vec![0x82, 127];
    header.extend_from_slice(&(2u64 << 30).to_be_bytes());
    header.extend_from_slice(&[0u8; 32]);
    h.feed(5, &header);
    let sent = h.sent();
    assert_eq!(sent[0].0, 0x8, "we fail the connection with a close frame");
    assert_eq!(
        sent[0].1[..2],
        1009u16.to_be_bytes(),
        "RFC 6455 §7.4.1: 1009 for a message too big"
    );
    assert!(
        matches!(h.end().end, ConnectionEnd::ProtocolViolation { rule } if rule.contains("2147483648 bytes"))
    );
}

#[test]
fn protocol_violations_are_named() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![0x81, 0x81, 1, 2, 3, 4, b'x'], "masked"),
        (frame(true, 0x3, b""), "reserved"),
        (frame(true, 0x0, b"x"), "continuation"),
        (vec![0xC1, 0x00], "RSV"),
        (frame(true, 0x8, &[3]), "1-byte"),
        (frame(true, 0x8, &1006u16.to_be_bytes()), "1006"),
    ];
    for (bytes, needle) in cases {
        let mut h = Harness::new(SessionConfig::default());
        h.feed(1, &bytes);
        match h.end().end {
            ConnectionEnd::ProtocolViolation { rule } => {
                assert!(rule.contains(needle), "{needle}: {rule}");
            }
            other => panic!("{needle}: {other:?}"),
        }
    }
}

#[test]
fn fragmented_echo_is_matched_and_messages_go_out_on_schedule() {
    let config = SessionConfig {
        messages: vec!["one".into(), "two".into()],
        send_every: ms(500),
        ..SessionConfig::default()
    };
    let mut h = Harness::new(config);
    assert_eq!(h.session.poll_timeout(), Some(h.at(0)));
    h.tick(0);
    assert_eq!(h.sent(), vec![(0x1, b"one".to_vec())]);
    assert_eq!(h.session.poll_timeout(), Some(h.at(500)));
    // The echo arrives in two frames with a ping between them.
    let mut bytes = frame(false, 0x1, b"o");
    bytes.extend(frame(true, 0x9, b""));
    bytes.extend(frame(true, 0x0, b"ne"));
    h.feed(7, &bytes);
    h.tick(500);
    let (events, _, _, sent) = h.session.into_evidence();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].echo_rtt_us, Some(7_000));
    assert!(events.iter().any(|e| matches!(&e.kind, FrameKind::Text { preview, echo_rtt_us: Some(7_000), .. } if preview == "one")));
}

#[test]
fn login_headers_are_redacted_in_previews_where_they_are_made() {
    // A STOMP CONNECT with its credentials, sent and echoed back: the wire
    // carries them, the recorded previews never do.
    let connect = "CONNECT\naccept-version:1.2\nlogin:guest\npasscode:s3cr\n\n\0";
    let config = SessionConfig {
        messages: vec![connect.into()],
        send_every: ms(500),
        ..SessionConfig::default()
    };
    let mut h = Harness::new(config);
    h.tick(0);
    assert_eq!(h.sent(), vec![(0x1, connect.as_bytes().to_vec())]);
    h.feed(7, &frame(true, 0x1, connect.as_bytes()));
    let (events, _, _, sent) = h.session.into_evidence();
    // The echo still matched what was sent, not its preview.
    assert_eq!(sent[0].echo_rtt_us, Some(7_000));
    let previews: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.kind {
            FrameKind::Text { preview, .. } => Some(preview.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(previews.len(), 2, "{events:?}");
    for p in previews {
        assert_eq!(
            p,
            "CONNECT\naccept-version:1.2\nlogin:REDACTED\npasscode:REDACTED\n\n\0"
        );
    }
}

#[test]
fn event_log_is_bounded() {
    let mut h = Harness::new(heartbeat(None, 10_000, PongPolicy::Never));
    let ping = frame(true, 0x9, b"");
    let many: Vec<u8> = ping
        .iter()
        .copied()
        .cycle()
        .take(ping.len() * (MAX_RECORDED_EVENTS + 5))
        .collect();
    h.feed(1, &many);
    let (events, omitted, ..) = h.session.into_evidence();
    assert_eq!(events.len(), MAX_RECORDED_EVENTS);
    assert_eq!(omitted, 5);
}

proptest::proptest! {
    /// Splitting the byte stream anywhere yields the same recorded frames.
    #[test]
    fn chunking_does_not_change_what_is_seen(cuts in proptest::collection::vec(0usize..200, 0..8)) {
        let mut wire = frame(true, 0x9, b"ping!");
        wire.extend(frame(false, 0x1, b"hello "));
        wire.extend(frame(true, 0x0, b"world"));
        wire.extend(frame(true, 0x2, &[7u8; 130]));
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (wire.len() + 1)).collect();
        cuts.sort_unstable();
        let mut whole = Harness::new(SessionConfig::default());
        whole.feed(1, &wire);
        let mut split = Harness::new(SessionConfig::default());
        let mut last = 0;
        for cut in cuts.into_iter().chain([wire.len()]) {
            split.feed(1, &wire[last..cut]);
            last = cut;
        }
        let a = whole.session.into_evidence().0;
        let b = split.session.into_evidence().0;
        proptest::prop_assert_eq!(a, b);
    }
}

proptest::proptest! {
    /// Whatever a hostile peer sends, the session neither panics nor keeps
    /// more than its bounded buffers, and a decided end is never undone.
    #[test]
    fn arbitrary_bytes_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..300), 0..20)) {
        let mut h = Harness::new(heartbeat(Some(50), 100, PongPolicy::Answer));
        let mut ended_with = None;
        for (i, chunk) in chunks.iter().enumerate() {
            h.feed(i as u64 * 10, chunk);
            h.tick(i as u64 * 10 + 5);
            while h.session.poll_transmit().is_some() {}
            if let (Some(first), Some(now)) = (&ended_with, h.session.end.as_ref()) {
                proptest::prop_assert_eq!(first, now);
            }
            ended_with = ended_with.or_else(|| h.session.end.clone());
        }
        proptest::prop_assert!(h.session.message.as_ref().is_none_or(|m| m.kept.len() <= KEEP_MESSAGE_BYTES));
    }
}
