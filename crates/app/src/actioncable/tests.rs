//! Action Cable on a simulated clock, with the messages Rails 6.1 sends
//! (seen from Debian's ruby-actioncable; see tests/peers/actioncable_server.rb).

use std::time::{Duration, Instant};

use wsdoctor_evidence::{AppEventKind, Side};

use crate::{plan, AppChoice, AppSession, StartContext};

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

#[test]
fn welcome_pings_and_staleness_after_6_s() {
    let t0 = Instant::now();
    let mut s = session("ws://h/cable", Some("actioncable-v1-json"), t0);
    s.start(t0);
    assert_eq!(s.poll_transmit(), None);
    s.handle_text(t0, r#"{"type":"welcome"}"#);
    for second in [0, 3, 6] {
        s.handle_text(
            t0 + Duration::from_secs(second),
            r#"{"type":"ping","message":1796588440}"#,
        );
    }
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(12)));
    s.handle_timeout(t0 + Duration::from_secs(12));
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(s.keepalive(), None);
    let record = s.into_record();
    assert!(record.init_acked());
    assert_eq!(
        (record.server_heartbeats, record.heartbeats_unanswered),
        (3, 0)
    );
    assert!(matches!(
        record.events.last().map(|e| &e.kind),
        Some(AppEventKind::Overdue {
            waited_ms: 6_000,
            ..
        })
    ));
}

#[test]
fn the_welcome_alone_decides_on_any_path_and_disconnect_says_why() {
    let t0 = Instant::now();
    let mut s = session("ws://h/ws", None, t0);
    s.start(t0);
    s.handle_text(t0, r#"{"type":"welcome"}"#);
    s.handle_text(
        t0,
        r#"{"type":"disconnect","reason":"unauthorized","reconnect":false}"#,
    );
    let record = s.into_record();
    assert_eq!(record.protocol.as_deref(), Some("actioncable"));
    assert!(record
        .decided_by
        .contains("the server's first message is a Rails Action Cable greeting"));
    assert!(record.events.iter().any(|e| matches!(&e.kind,
        AppEventKind::Disconnect { by: Side::Remote, reason }
            if reason.contains("reject_unauthorized_connection") && reason.contains("reconnect: false"))), "{:?}", record.events);
}
