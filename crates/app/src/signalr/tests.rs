//! SignalR on a simulated clock. No ASP.NET Core server can be installed
//! here (it needs the .NET SDK and NuGet), so the server's side is the
//! transcript of the hub protocol specification (dotnet/aspnetcore
//! src/SignalR/docs/specs/HubProtocol.md, read 2026-12-06).

use std::time::{Duration, Instant};

use wsdoctor_evidence::{AppEventKind, Side};

use crate::{plan, AppChoice, AppProtocol, AppSession, Outgoing, StartContext};

fn session(choice: &str, url: &str, t0: Instant) -> (AppSession, url::Url) {
    let mut url = url::Url::parse(url).unwrap_or_else(|e| panic!("{e}"));
    let mut offered = Vec::new();
    let choice: AppChoice = choice.parse().unwrap_or_else(|e| panic!("{e}"));
    let plan = plan(choice, &mut url, &mut offered).unwrap_or_else(|e| panic!("{e}"));
    assert!(offered.is_empty());
    (AppSession::new(&plan, StartContext::default(), t0), url)
}

fn text(out: Option<Outgoing>) -> String {
    match out {
        Some(Outgoing::Text(text)) => text,
        other => panic!("expected a text message, got {other:?}"),
    }
}

#[test]
fn handshake_pings_every_15_s_and_the_servers_silence_is_overdue_at_30_s() {
    let t0 = Instant::now();
    let (mut s, _) = session("signalr", "ws://h/chathub", t0);
    s.start(t0);
    assert_eq!(
        text(s.poll_transmit()),
        "{\"protocol\":\"json\",\"version\":1}\u{1e}"
    );
    s.handle_text(t0 + Duration::from_millis(3), "{}\u{1e}");
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(15)));
    s.handle_timeout(t0 + Duration::from_secs(15));
    assert_eq!(text(s.poll_transmit()), "{\"type\":6}\u{1e}");
    // The server's own ping, then nothing.
    s.handle_text(t0 + Duration::from_secs(16), "{\"type\":6}\u{1e}");
    s.handle_timeout(t0 + Duration::from_secs(30));
    assert_eq!(text(s.poll_transmit()), "{\"type\":6}\u{1e}");
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(45)));
    s.handle_timeout(t0 + Duration::from_secs(46));
    let record = s.into_record();
    assert_eq!(record.protocol.as_deref(), Some("signalr"));
    assert!(record.init_acked());
    assert_eq!(record.server_heartbeats, 1);
    assert!(record.events.iter().any(|e| matches!(&e.kind,
        AppEventKind::Overdue { what, waited_ms: 30_000 } if what.contains("serverTimeoutInMilliseconds"))), "{:?}", record.events);
}

#[test]
fn close_message_with_error_and_a_refused_handshake() {
    let t0 = Instant::now();
    let (mut s, _) = session("signalr", "ws://h/chathub", t0);
    s.start(t0);
    let _ = s.poll_transmit();
    s.handle_text(t0, "{}\u{1e}");
    s.handle_text(t0, "{\"type\":7,\"error\":\"Connection closed with an error. InvalidOperationException: boom\",\"allowReconnect\":true}\u{1e}");
    let record = s.into_record();
    assert!(record.events.iter().any(|e| matches!(&e.kind,
        AppEventKind::Disconnect { by: Side::Remote, reason } if reason.contains("InvalidOperationException: boom") && reason.contains("allowReconnect: true"))));

    let (mut s, _) = session("signalr", "ws://h/chathub", t0);
    s.start(t0);
    let _ = s.poll_transmit();
    s.handle_text(
        t0,
        "{\"error\":\"Requested protocol 'messagepack' is not available.\"}\u{1e}",
    );
    let record = s.into_record();
    assert!(!record.init_acked());
    assert!(record.events.iter().any(
        |e| matches!(&e.kind, AppEventKind::Error { message } if message.contains("messagepack"))
    ));
}

#[test]
fn a_handshake_never_answered_is_overdue_at_15_s() {
    let t0 = Instant::now();
    let (mut s, _) = session("signalr", "ws://h/chathub", t0);
    s.start(t0);
    let _ = s.poll_transmit();
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(15)));
    s.handle_timeout(t0 + Duration::from_secs(15));
    assert_eq!(s.poll_timeout(), None);
    assert!(matches!(
        s.into_record().events[1].kind,
        AppEventKind::Overdue {
            waited_ms: 15_000,
            ..
        }
    ));
}

#[test]
fn detection_by_hub_path_a_negotiate_url_and_the_handshake_answer() {
    let t0 = Instant::now();
    let (_, url) = session(
        "auto",
        "ws://h/hubs/chat/negotiate?negotiateVersion=1&access_token=x",
        t0,
    );
    // A negotiate URL given by mistake is turned back into the hub's URL.
    assert_eq!(url.as_str(), "ws://h/hubs/chat?access_token=x");
    let (s, _) = session("auto", "ws://h/hubs/chat", t0);
    assert_eq!(s.into_record().protocol.as_deref(), Some("signalr"));
    // `auto` on an unknown path: the answer `{}` + 0x1E is recognised.
    assert!((AppProtocol::SignalR.spec().map(|s| s.sniff)).is_some_and(|sniff| sniff("{}\u{1e}")));
    assert!((AppProtocol::SignalR.spec().map(|s| s.sniff))
        .is_some_and(|sniff| !sniff("{\"type\":6}\u{1e}")));
}
