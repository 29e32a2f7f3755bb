//! MQTT on a simulated clock, with packets from the 3.1.1/5.0 standards.

use std::time::{Duration, Instant};

use wsdoctor_evidence::AppEventKind;

use crate::{plan, AppChoice, AppSession, Outgoing, StartContext};

fn session(choice: &str, url: &str, t0: Instant) -> AppSession {
    let mut url = url::Url::parse(url).unwrap_or_else(|e| panic!("{e}"));
    let mut offered = Vec::new();
    let choice: AppChoice = choice.parse().unwrap_or_else(|e| panic!("{e}"));
    let plan = plan(choice, &mut url, &mut offered).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(offered, ["mqtt"]);
    let start = StartContext {
        query: String::new(),
        subprotocol: Some("mqtt".to_owned()),
    };
    AppSession::new(&plan, start, t0)
}

fn binary(out: Option<Outgoing>) -> Vec<u8> {
    match out {
        Some(Outgoing::Binary(bytes)) => bytes,
        other => panic!("expected a binary message, got {other:?}"),
    }
}

#[test]
fn connects_pings_at_the_keep_alive_and_notes_a_missing_pingresp() {
    let t0 = Instant::now();
    let mut s = session("auto", "ws://broker/mqtt", t0);
    s.start(t0);
    let connect = binary(s.poll_transmit());
    assert_eq!(connect[0], 0x10);
    assert_eq!(&connect[4..10], b"MQTT\x04\x02");
    assert_eq!(&connect[10..12], &60u16.to_be_bytes());
    // CONNACK accepted, split in two messages as aedes writes it.
    s.handle_binary(t0, &[0x20]);
    s.handle_binary(t0 + Duration::from_millis(1), &[0x02, 0x00, 0x00]);
    // Nothing due before a keep-alive of silence.
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(60)));
    let t1 = t0 + Duration::from_secs(60);
    s.handle_timeout(t1);
    assert_eq!(binary(s.poll_transmit()), [0xC0, 0x00]);
    s.handle_binary(t1 + Duration::from_millis(5), &[0xD0, 0x00]);
    // The next PINGREQ goes unanswered.
    let t2 = t1 + Duration::from_secs(60);
    assert_eq!(s.poll_timeout(), Some(t2));
    s.handle_timeout(t2);
    assert_eq!(binary(s.poll_transmit()), [0xC0, 0x00]);
    let t3 = t2 + Duration::from_secs(60);
    assert_eq!(s.poll_timeout(), Some(t3));
    s.handle_timeout(t3);
    assert_eq!(s.poll_transmit(), None);
    assert_eq!(s.poll_timeout(), None);
    let record = s.into_record();
    assert_eq!(record.protocol.as_deref(), Some("mqtt"));
    assert_eq!(record.decided_by, "the URL path contains /mqtt");
    assert!(record.init_acked());
    let timers = record.timers.unwrap_or_else(|| panic!("no timers"));
    assert_eq!((timers.interval_ms, timers.timeout_ms), (60_000, 90_000));
    let kinds: Vec<&AppEventKind> = record.events.iter().map(|e| &e.kind).collect();
    assert!(
        matches!(
            kinds[..],
            [
                AppEventKind::InitSent { .. },
                AppEventKind::InitAcked { .. },
                AppEventKind::ClientHeartbeat,
                AppEventKind::HeartbeatAck { rtt_us: 5_000 },
                AppEventKind::ClientHeartbeat,
                AppEventKind::Overdue {
                    waited_ms: 60_000,
                    ..
                },
            ]
        ),
        "{kinds:?}"
    );
}

#[test]
fn a_refusing_connack_is_an_error_and_a_disconnect_with_its_meaning() {
    let t0 = Instant::now();
    let mut s = session("mqtt", "ws://broker/", t0);
    s.start(t0);
    let _ = s.poll_transmit();
    s.handle_binary(t0, &[0x20, 0x02, 0x00, 0x05]);
    let record = s.into_record();
    assert!(!record.init_acked());
    assert!(record.events.iter().any(|e| matches!(&e.kind,
        AppEventKind::Disconnect { reason, .. } if reason.contains("0x05 Not authorized"))));
}

#[test]
fn a_silent_broker_leaves_connack_overdue_and_garbage_is_an_error() {
    let t0 = Instant::now();
    let mut s = session("mqtt", "ws://broker/", t0);
    s.start(t0);
    let _ = s.poll_transmit();
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(30)));
    s.handle_timeout(t0 + Duration::from_secs(30));
    assert_eq!(s.poll_timeout(), None);
    // A remaining length of five bytes breaks the stream; later bytes are ignored.
    s.handle_binary(t0, &[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]);
    s.handle_binary(t0, &[0x20, 0x02, 0x00, 0x00]);
    let record = s.into_record();
    assert!(!record.init_acked());
    assert!(matches!(
        record.events[1].kind,
        AppEventKind::Overdue {
            waited_ms: 30_000,
            ..
        }
    ));
    assert!(
        matches!(&record.events[2].kind, AppEventKind::Error { message } if message.contains("4 bytes"))
    );
}

#[test]
fn raw_watches_and_sends_nothing() {
    let t0 = Instant::now();
    let mut url = url::Url::parse("ws://broker/mqtt").unwrap_or_else(|e| panic!("{e}"));
    let mut offered = Vec::new();
    let raw = plan(AppChoice::Raw, &mut url, &mut offered).unwrap_or_else(|e| panic!("{e}"));
    assert!(offered.is_empty());
    let mut s = AppSession::new(&raw, StartContext::default(), t0);
    s.start(t0);
    assert_eq!(s.poll_transmit(), None);
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(s.keepalive(), None);
}
