//! Phoenix on a simulated clock. No Phoenix server can be installed here
//! (it needs Elixir and Hex), so the server's side is the transcript of
//! phoenix's own tests and sources: test/phoenix/socket/v2_json_serializer_test.exs
//! and lib/phoenix/socket.ex's heartbeat reply (read 2026-12-06).

use std::time::{Duration, Instant};

use wsdoctor_evidence::{AppEventKind, Side};

use crate::{plan, AppChoice, AppSession, Outgoing, StartContext};

fn session(url: &str, t0: Instant) -> (AppSession, url::Url) {
    let mut url = url::Url::parse(url).unwrap_or_else(|e| panic!("{e}"));
    let mut offered = Vec::new();
    let plan = plan(AppChoice::Auto, &mut url, &mut offered).unwrap_or_else(|e| panic!("{e}"));
    (AppSession::new(&plan, StartContext::default(), t0), url)
}

fn text(out: Option<Outgoing>) -> String {
    match out {
        Some(Outgoing::Text(text)) => text,
        other => panic!("expected a text message, got {other:?}"),
    }
}

#[test]
fn heartbeats_every_30_s_and_a_missing_reply_is_overdue() {
    let t0 = Instant::now();
    let (mut s, url) = session("ws://h/socket/websocket?token=abc", t0);
    assert_eq!(url.as_str(), "ws://h/socket/websocket?token=abc&vsn=2.0.0");
    s.start(t0);
    assert_eq!(s.poll_transmit(), None);
    let t1 = t0 + Duration::from_secs(30);
    assert_eq!(s.poll_timeout(), Some(t1));
    s.handle_timeout(t1);
    assert_eq!(
        text(s.poll_transmit()),
        r#"[null,"1","phoenix","heartbeat",{}]"#
    );
    s.handle_text(
        t1 + Duration::from_millis(2),
        r#"[null,"1","phoenix","phx_reply",{"response":{},"status":"ok"}]"#,
    );
    let t2 = t1 + Duration::from_secs(30);
    s.handle_timeout(t2);
    assert_eq!(
        text(s.poll_transmit()),
        r#"[null,"2","phoenix","heartbeat",{}]"#
    );
    // No reply to ref 2: at the next beat phoenix.js would close.
    s.handle_timeout(t2 + Duration::from_secs(30));
    let record = s.into_record();
    assert_eq!(record.decided_by, "the URL path contains /socket/websocket");
    let kinds: Vec<&AppEventKind> = record.events.iter().map(|e| &e.kind).collect();
    assert!(
        matches!(
            kinds[..],
            [
                AppEventKind::ClientHeartbeat,
                AppEventKind::HeartbeatAck { rtt_us: 2_000 },
                AppEventKind::ClientHeartbeat,
                AppEventKind::Overdue {
                    waited_ms: 30_000,
                    ..
                },
                AppEventKind::ClientHeartbeat,
            ]
        ),
        "{kinds:?}"
    );
    let timers = record.timers.unwrap_or_else(|| panic!("no timers"));
    assert_eq!((timers.interval_ms, timers.timeout_ms), (30_000, 60_000));
}

#[test]
fn channel_error_and_close_are_events_and_bad_messages_errors() {
    let t0 = Instant::now();
    let (mut s, _) = session("ws://h/socket/websocket", t0);
    s.start(t0);
    s.handle_text(t0, r#"["1","1","room:lobby","phx_error",{}]"#);
    s.handle_text(t0, r#"["1","2","room:lobby","phx_close",{}]"#);
    s.handle_text(t0, r#"{"topic":"phoenix","event":"heartbeat"}"#);
    let record = s.into_record();
    assert!(
        matches!(&record.events[0].kind, AppEventKind::Error { message } if message.contains("room:lobby"))
    );
    assert!(matches!(
        &record.events[1].kind,
        AppEventKind::Disconnect {
            by: Side::Remote,
            ..
        }
    ));
    assert!(
        matches!(&record.events[2].kind, AppEventKind::Error { message } if message.contains("V2"))
    );
}

#[test]
fn a_socket_mount_with_app_phoenix_gets_the_websocket_path() {
    let mut url = url::Url::parse("ws://h/socket").unwrap_or_else(|e| panic!("{e}"));
    let mut offered = Vec::new();
    let choice: AppChoice = "phoenix".parse().unwrap_or_else(|e| panic!("{e}"));
    let _ = plan(choice, &mut url, &mut offered).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(url.as_str(), "ws://h/socket/websocket?vsn=2.0.0");
}
