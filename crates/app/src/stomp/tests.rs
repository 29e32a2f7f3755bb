//! STOMP on a simulated clock, with frames from the STOMP 1.2 specification.

use std::time::{Duration, Instant};

use wsdoctor_evidence::{AppEventKind, Side};

use crate::{plan, AppChoice, AppSession, Outgoing, StartContext};

fn session(url: &str, chosen: Option<&str>, t0: Instant) -> AppSession {
    let mut url = url::Url::parse(url).unwrap_or_else(|e| panic!("{e}"));
    let mut offered = Vec::new();
    let plan = plan(AppChoice::Auto, &mut url, &mut offered).unwrap_or_else(|e| panic!("{e}"));
    let start = StartContext {
        query: String::new(),
        subprotocol: chosen.map(str::to_owned),
        login: None,
    };
    AppSession::new(&plan, start, t0)
}

fn text(out: Option<Outgoing>) -> String {
    match out {
        Some(Outgoing::Text(text)) => text,
        other => panic!("expected a text message, got {other:?}"),
    }
}

#[test]
fn the_servers_chosen_subprotocol_decides_and_heart_beats_follow_the_negotiation() {
    let t0 = Instant::now();
    let mut s = session("ws://h/ws", Some("v12.stomp"), t0);
    s.start(t0);
    assert_eq!(
        text(s.poll_transmit()),
        "CONNECT\naccept-version:1.2,1.1,1.0\nheart-beat:10000,10000\n\n\0"
    );
    // The server can send every 5 s and wants ours every 20 s: we send every
    // MAX(10000, 20000) = 20 s and expect its every MAX(5000, 10000) = 10 s.
    s.handle_text(t0, "CONNECTED\nversion:1.2\nheart-beat:5000,20000\n\n\0");
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(20)));
    for second in [5, 10, 15] {
        s.handle_text(t0 + Duration::from_secs(second), "\n");
    }
    let t1 = t0 + Duration::from_secs(20);
    s.handle_timeout(t1);
    assert_eq!(text(s.poll_transmit()), "\n");
    // The server falls silent after 15 s: overdue at 15 + 2 × 10 s.
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(35)));
    s.handle_timeout(t0 + Duration::from_secs(35));
    let record = s.into_record();
    assert!(
        record
            .decided_by
            .contains("the server chose the subprotocol v12.stomp"),
        "{}",
        record.decided_by
    );
    assert_eq!(record.version.as_deref(), Some("STOMP 1.2"));
    assert_eq!(record.server_heartbeats, 3);
    assert_eq!(record.heartbeats_unanswered, 0);
    let timers = record.timers.unwrap_or_else(|| panic!("no timers"));
    assert_eq!(
        (timers.pinger, timers.interval_ms, timers.announced),
        (Side::Local, 20_000, true)
    );
    assert!(record
        .events
        .iter()
        .any(|e| matches!(e.kind, AppEventKind::ClientHeartbeat)));
    assert!(record.events.iter().any(|e| matches!(
        e.kind,
        AppEventKind::Overdue {
            waited_ms: 20_000,
            ..
        }
    )));
}

#[test]
fn no_heart_beat_header_means_none_either_way() {
    let t0 = Instant::now();
    let mut s = session("ws://h/stomp", None, t0);
    s.start(t0);
    let _ = s.poll_transmit();
    s.handle_text(t0, "CONNECTED\nversion:1.1\n\n\0");
    assert_eq!(s.poll_timeout(), None);
    let record = s.into_record();
    assert_eq!(record.decided_by, "the URL path contains /stomp");
    assert_eq!(record.version.as_deref(), Some("STOMP 1.1"));
    assert_eq!(record.timers, None);
}

#[test]
fn an_error_frame_is_the_servers_reason_for_closing() {
    let t0 = Instant::now();
    let mut s = session("ws://h/stomp", Some("v12.stomp"), t0);
    s.start(t0);
    let _ = s.poll_transmit();
    // §ERROR's example.
    s.handle_text(
        t0,
        "ERROR\nreceipt-id:message-12345\ncontent-type:text/plain\ncontent-length:170\nmessage:malformed frame received\n\nThe message:\n-----\nMESSAGE\ndestined:/queue/a\nreceipt:message-12345\n\nHello queue a!\n-----\nDid not contain a destination header, which is REQUIRED\nfor message propagation.\n\0",
    );
    let record = s.into_record();
    assert!(
        record.events.iter().any(|e| matches!(&e.kind,
        AppEventKind::Error { message } if message.starts_with("ERROR frame in answer to CONNECT")
            && message.contains("wsdoctor sent no login")
            && message.contains(": malformed frame received"))),
        "{:?}",
        record.events
    );
}

#[test]
fn a_login_goes_in_connect_and_an_error_before_connected_is_its_refusal() {
    let t0 = Instant::now();
    let mut url = url::Url::parse("ws://h/stomp").unwrap_or_else(|e| panic!("{e}"));
    let plan = plan(AppChoice::Auto, &mut url, &mut Vec::new()).unwrap_or_else(|e| panic!("{e}"));
    let start = StartContext {
        query: String::new(),
        subprotocol: Some("v12.stomp".to_owned()),
        login: Some(crate::Login {
            user: "guest".into(),
            password: Some("s3cret".into()),
        }),
    };
    let mut s = AppSession::new(&plan, start, t0);
    s.start(t0);
    assert_eq!(
        text(s.poll_transmit()),
        "CONNECT\naccept-version:1.2,1.1,1.0\nheart-beat:10000,10000\nlogin:guest\npasscode:s3cret\n\n\0"
    );
    // stomp-broker-js's answer when a connect middleware refuses.
    s.handle_text(
        t0,
        "ERROR\nmessage:CONNECTION ERROR\ncontent-length:16\n\nCONNECTION ERROR\0",
    );
    let record = s.into_record();
    let events = format!("{:?}", record.events);
    assert!(
        !events.contains("s3cret") && !events.contains("guest"),
        "{events}"
    );
    assert!(
        events.contains("CONNECT accept-version:1.2,1.1,1.0 heart-beat:10000,10000 login passcode"),
        "{events}"
    );
    let said = record
        .events
        .iter()
        .find_map(|e| match &e.kind {
            AppEventKind::Error { message } => Some(message.clone()),
            _ => None,
        })
        .unwrap_or_default();
    assert!(
        said.contains("refused the CONNECT and the login wsdoctor sent"),
        "{said}"
    );
    let fact = crate::said_fact(crate::AppProtocol::Stomp, &said);
    assert_eq!(fact.map(|f| f.cause), Some("policy-close"));
}

#[test]
fn rabbitmq_web_stomp_transcript() {
    // Seen from Debian's rabbitmq-server 3.10.8 with rabbitmq_web_stomp
    // (2026-12-06): CONNECTED ends with an EOL in the same message, heart-beats
    // every 10 s, and a refused login is an ERROR frame (the socket stays open).
    let t0 = Instant::now();
    let mut s = session("ws://h/ws", Some("v12.stomp"), t0);
    s.start(t0);
    let _ = s.poll_transmit();
    s.handle_text(
        t0,
        "CONNECTED\nserver:RabbitMQ/3.10.8\nsession:session-t5_MCmj9cfJISn2oxZft7w\nheart-beat:10000,10000\nversion:1.2\n\n\0\n",
    );
    s.handle_text(t0 + Duration::from_secs(5), "\n");
    s.handle_text(t0 + Duration::from_secs(15), "\n");
    s.handle_text(
        t0 + Duration::from_secs(16),
        "ERROR\nmessage:Bad CONNECT\ncontent-type:text/plain\nversion:1.0,1.1,1.2\ncontent-length:30\n\nAccess refused for user 'bad'\n\0\n",
    );
    let record = s.into_record();
    assert_eq!(record.server_heartbeats, 4);
    assert!(record.init_acked());
    assert!(record.events.iter().any(|e| matches!(&e.kind,
        AppEventKind::Error { message } if message == "ERROR frame: Bad CONNECT (Access refused for user 'bad')")), "{:?}", record.events);
    let timers = record.timers.unwrap_or_else(|| panic!("no timers"));
    assert_eq!((timers.pinger, timers.interval_ms), (Side::Local, 10_000));
}

#[test]
fn connected_never_coming_is_overdue() {
    let t0 = Instant::now();
    let mut s = session("ws://h/stomp", None, t0);
    s.start(t0);
    let _ = s.poll_transmit();
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    s.handle_timeout(t0 + Duration::from_secs(10));
    assert_eq!(s.poll_timeout(), None);
    let record = s.into_record();
    assert!(matches!(
        record.events[1].kind,
        AppEventKind::Overdue {
            waited_ms: 10_000,
            ..
        }
    ));
}
