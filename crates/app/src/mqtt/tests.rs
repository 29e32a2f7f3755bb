//! MQTT on a simulated clock, with packets from the 3.1.1/5.0 standards.

use std::time::{Duration, Instant};

use wsdoctor_evidence::AppEventKind;

use crate::{plan, AppChoice, AppSession, Login, Outgoing, StartContext};

fn session(choice: &str, url: &str, t0: Instant) -> AppSession {
    session_with(choice, url, None, t0)
}

fn session_with(choice: &str, url: &str, login: Option<Login>, t0: Instant) -> AppSession {
    let mut url = url::Url::parse(url).unwrap_or_else(|e| panic!("{e}"));
    let mut offered = Vec::new();
    let choice: AppChoice = choice.parse().unwrap_or_else(|e| panic!("{e}"));
    let plan = plan(choice, &mut url, &mut offered).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(offered, ["mqtt"]);
    let start = StartContext {
        query: String::new(),
        subprotocol: Some("mqtt".to_owned()),
        login,
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

#[test]
fn mqtt5_connects_at_level_5_and_takes_the_brokers_server_keep_alive() {
    let t0 = Instant::now();
    let mut s = session("mqtt5", "ws://broker/mqtt", t0);
    s.start(t0);
    let connect = binary(s.poll_transmit());
    assert_eq!(&connect[4..10], b"MQTT\x05\x02");
    // CONNACK: success, properties: Server Keep Alive 20 s (5.0 §3.2.2.3.14).
    s.handle_binary(t0, &[0x20, 6, 0x00, 0x00, 3, 0x13, 0, 20]);
    // PINGREQ at the broker's 20 s, not the 60 s asked for.
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(20)));
    s.handle_timeout(t0 + Duration::from_secs(20));
    assert_eq!(binary(s.poll_transmit()), [0xC0, 0x00]);
    // The broker ends it: 0x8D Keep Alive timeout, with a reason string.
    s.handle_binary(
        t0 + Duration::from_secs(30),
        &[0xE0, 9, 0x8D, 7, 0x1F, 0, 4, b'i', b'd', b'l', b'e'],
    );
    let record = s.into_record();
    assert_eq!(record.protocol.as_deref(), Some("mqtt5"));
    assert_eq!(record.version.as_deref(), Some("MQTT 5.0"));
    let timers = record.timers.clone().unwrap_or_else(|| panic!("no timers"));
    assert_eq!((timers.interval_ms, timers.timeout_ms), (20_000, 30_000));
    assert!(timers.announced);
    assert!(record.events.iter().any(|e| matches!(&e.kind,
        AppEventKind::InitAcked { what } if what.contains("Server Keep Alive 20 s replaces the 60 s"))));
    let said = record
        .events
        .iter()
        .find_map(|e| match &e.kind {
            AppEventKind::Disconnect { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .unwrap_or_default();
    assert!(
        said.starts_with("DISCONNECT 0x8D Keep Alive timeout"),
        "{said}"
    );
    assert!(said.ends_with("reason string: idle"), "{said}");
    let fact = crate::said_fact(crate::AppProtocol::Mqtt5, &said);
    assert_eq!(fact.map(|f| f.cause), Some("app-heartbeat-timeout"));
}

#[test]
fn a_login_goes_in_connect_and_a_refused_one_says_so() {
    let t0 = Instant::now();
    let login = Login {
        user: "alice".into(),
        password: Some("s3cret".into()),
    };
    for (choice, refusal, code_text) in [
        (
            "mqtt",
            vec![0x20, 2, 0, 4],
            "0x04 Bad user name or password",
        ),
        (
            "mqtt5",
            vec![0x20, 3, 0, 0x86, 0],
            "0x86 Bad User Name or Password",
        ),
    ] {
        let mut s = session_with(choice, "ws://broker/mqtt", Some(login.clone()), t0);
        s.start(t0);
        let connect = binary(s.poll_transmit());
        assert_eq!(connect[9] & 0xC0, 0xC0, "{choice}: both login flags");
        assert!(
            connect.ends_with(b"\x00\x05alice\x00\x06s3cret"),
            "{choice}"
        );
        s.handle_binary(t0, &refusal);
        let record = s.into_record();
        assert!(!record.init_acked());
        let text = format!("{:?}", record.events);
        assert!(
            !text.contains("s3cret") && !text.contains("alice"),
            "{text}"
        );
        assert!(text.contains(code_text), "{text}");
        assert!(text.contains("refused the login wsdoctor sent"), "{text}");
    }
    // No login sent, and the broker wants one: the finding says how to give it.
    let mut s = session("mqtt5", "ws://broker/mqtt", t0);
    s.start(t0);
    let connect = binary(s.poll_transmit());
    assert_eq!(connect[9], 0x02);
    s.handle_binary(t0, &[0x20, 3, 0, 0x87, 0]);
    let text = format!("{:?}", s.into_record().events);
    assert!(text.contains("wsdoctor sent no login"), "{text}");
}

#[test]
fn mqtt5_refused_in_311_form_reads_the_311_code() {
    // aedes 1.2 (3.1.1 only) answers an MQTT 5 CONNECT with CONNACK 1.
    let t0 = Instant::now();
    let mut s = session("mqtt5", "ws://broker/mqtt", t0);
    s.start(t0);
    let _ = s.poll_transmit();
    s.handle_binary(t0, &[0x20, 2, 0, 1]);
    let said = s
        .into_record()
        .events
        .iter()
        .find_map(|e| match &e.kind {
            AppEventKind::Error { message } => Some(message.clone()),
            _ => None,
        })
        .unwrap_or_default();
    assert!(
        said.starts_with("CONNACK 0x01 Unacceptable protocol version")
            && said.contains("--app mqtt speaks 3.1.1"),
        "{said}"
    );
    let fact = crate::said_fact(crate::AppProtocol::Mqtt5, &said);
    assert_eq!(fact.map(|f| f.cause), Some("protocol-error"));
}
