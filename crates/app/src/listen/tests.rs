//! The listening side on a simulated clock, with the client messages
//! socket.io-client 4.8 and graphql-ws 6.4 send (from their sources and the
//! protocols' PROTOCOL.md).

use std::time::{Duration, Instant};

use wsdoctor_evidence::AppEventKind;

use super::*;
use crate::Outgoing;

fn drain(s: &mut AppSession) -> Vec<String> {
    std::iter::from_fn(|| s.poll_transmit())
        .map(|o| match o {
            Outgoing::Text(t) => t,
            Outgoing::Binary(_) => "<binary>".to_owned(),
        })
        .collect()
}

fn offered(subs: &[&str]) -> Vec<String> {
    subs.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn socketio_v4_opens_acks_the_namespace_and_pings() {
    let t0 = Instant::now();
    let mut l = listen(
        AppChoice::Auto,
        "/socket.io/?EIO=4&transport=websocket",
        &[],
        t0,
    )
    .unwrap();
    assert_eq!(l.subprotocol, None);
    l.session.start(t0);
    let open = drain(&mut l.session);
    assert_eq!(open.len(), 1, "{open:?}");
    let json: serde_json::Value = serde_json::from_str(&open[0][1..]).unwrap();
    assert_eq!(json["pingInterval"], 25_000);
    assert_eq!(json["pingTimeout"], 20_000);
    assert!(json["sid"].is_string());
    l.session.handle_text(t0, "40");
    let ack = drain(&mut l.session);
    assert!(ack[0].starts_with("40{\"sid\":\""), "{ack:?}");
    l.session.handle_text(t0, r#"40/chat,{"token":"x"}"#);
    assert!(drain(&mut l.session)[0].starts_with("40/chat,{\"sid\""));
    let due = l.session.poll_timeout().unwrap();
    assert_eq!(due, t0 + Duration::from_secs(25));
    l.session.handle_timeout(due);
    assert_eq!(drain(&mut l.session), ["2"]);
    l.session.handle_text(due + Duration::from_millis(3), "3");
    let r = l.session.into_record();
    assert_eq!(r.protocol.as_deref(), Some("socketio"));
    assert_eq!(r.decided_by, "the request path contains /socket.io/");
    assert!(r
        .events
        .iter()
        .any(|e| e.kind == AppEventKind::HeartbeatAck { rtt_us: 3000 }));
}

#[test]
fn socketio_v3_connects_unasked_and_answers_the_clients_pings() {
    let t0 = Instant::now();
    let mut l = listen(
        AppChoice::Auto,
        "/socket.io/?EIO=3&transport=websocket",
        &[],
        t0,
    )
    .unwrap();
    l.session.start(t0);
    let open = drain(&mut l.session);
    assert_eq!(open[1], "40");
    assert_eq!(l.session.poll_timeout(), None);
    l.session.handle_text(t0, "2");
    assert_eq!(drain(&mut l.session), ["3"]);
    assert_eq!(l.session.into_record().server_heartbeats, 1);
}

#[test]
fn graphql_transport_ws_chooses_the_subprotocol_and_acks_init() {
    let t0 = Instant::now();
    let mut l = listen(
        AppChoice::Auto,
        "/graphql",
        &offered(&["graphql-transport-ws"]),
        t0,
    )
    .unwrap();
    assert_eq!(l.subprotocol.as_deref(), Some("graphql-transport-ws"));
    l.session.start(t0);
    assert!(drain(&mut l.session).is_empty(), "the client speaks first");
    l.session
        .handle_text(t0, r#"{"type":"connection_init","payload":{}}"#);
    assert_eq!(drain(&mut l.session), [r#"{"type":"connection_ack"}"#]);
    l.session.handle_text(
        t0,
        r#"{"id":"1","type":"subscribe","payload":{"query":"subscription { tick }"}}"#,
    );
    assert!(drain(&mut l.session).is_empty(), "subscriptions stay open");
    l.session.handle_text(t0, r#"{"type":"ping"}"#);
    assert_eq!(drain(&mut l.session), [r#"{"type":"pong"}"#]);
}

#[test]
fn legacy_graphql_ws_acks_init() {
    let t0 = Instant::now();
    let mut l = listen(AppChoice::Auto, "/graphql", &offered(&["graphql-ws"]), t0).unwrap();
    assert_eq!(l.subprotocol.as_deref(), Some("graphql-ws"));
    l.session.start(t0);
    l.session
        .handle_text(t0, r#"{"type":"connection_init","payload":{}}"#);
    assert_eq!(drain(&mut l.session), [r#"{"type":"connection_ack"}"#]);
}

#[test]
fn raw_and_unrecognised_requests_stay_bare_websocket() {
    let t0 = Instant::now();
    assert!(listen(AppChoice::Raw, "/socket.io/?EIO=4", &[], t0).is_none());
    assert!(listen(AppChoice::Auto, "/ws?client=a", &offered(&["chat"]), t0).is_none());
    // Named explicitly, it is spoken on any path.
    let l = listen(AppChoice::Use(AppProtocol::SocketIo), "/realtime", &[], t0).unwrap();
    assert_eq!(l.session.into_record().decided_by, "--app socketio");
}

#[test]
fn only_the_listenable_protocols_may_be_named() {
    assert!(check_listen_choice(AppChoice::Use(AppProtocol::GraphqlWs)).is_ok());
    assert_eq!(
        check_listen_choice(AppChoice::Use(AppProtocol::Mqtt)),
        Err(NotListenable(AppProtocol::Mqtt))
    );
}

#[test]
fn hostile_client_messages_do_not_panic_or_echo_junk() {
    let t0 = Instant::now();
    let mut l = listen(AppChoice::Auto, "/socket.io/", &[], t0).unwrap();
    l.session.start(t0);
    let _ = drain(&mut l.session);
    for m in ["", "4", "40/", "40/\r\nx,{}", "4é", "é", "40/ns", "3", "1"] {
        l.session.handle_text(t0, m);
    }
    for sent in drain(&mut l.session) {
        assert!(!sent.contains('\r'), "{sent:?}");
    }
}

#[test]
fn signalr_answers_the_handshake_and_pings_every_keepalive_interval() {
    let t0 = Instant::now();
    // auto knows it only by our negotiate's token; skipNegotiation needs --app.
    assert!(listen(AppChoice::Auto, "/hub", &[], t0).is_none());
    let token = signalr::negotiate_answer();
    let json: serde_json::Value = serde_json::from_str(&token).unwrap();
    let id = json["connectionToken"].as_str().unwrap();
    assert_eq!(json["availableTransports"][0]["transport"], "WebSockets");
    let mut l = listen(AppChoice::Auto, &format!("/hub?id={id}"), &[], t0).unwrap();
    l.session.start(t0);
    assert!(drain(&mut l.session).is_empty(), "the client speaks first");
    // @microsoft/signalr's handshake request, then its first ping.
    l.session
        .handle_text(t0, "{\"protocol\":\"json\",\"version\":1}\u{1e}");
    assert_eq!(drain(&mut l.session), ["{}\u{1e}"]);
    let due = l.session.poll_timeout().unwrap();
    assert_eq!(due, t0 + Duration::from_secs(15));
    l.session.handle_timeout(due);
    assert_eq!(drain(&mut l.session), ["{\"type\":6}\u{1e}"]);
    l.session.handle_text(due, "{\"type\":6}\u{1e}");
    let r = l.session.into_record();
    assert_eq!(r.protocol.as_deref(), Some("signalr"));
    assert!(r.init_acked());
    assert_eq!(r.server_heartbeats, 1);
    // MessagePack is not spoken: refused in ASP.NET Core's words.
    let mut l = listen(AppChoice::Use(AppProtocol::SignalR), "/hub", &[], t0).unwrap();
    l.session.start(t0);
    l.session
        .handle_text(t0, "{\"protocol\":\"messagepack\",\"version\":1}\u{1e}");
    assert_eq!(
        drain(&mut l.session),
        ["{\"error\":\"The protocol 'messagepack' is not supported.\"}\u{1e}"]
    );
    assert!(is_negotiate(
        AppChoice::Auto,
        "POST",
        "/hub/negotiate?negotiateVersion=1"
    ));
    assert!(!is_negotiate(AppChoice::Raw, "POST", "/hub/negotiate"));
    assert!(!is_negotiate(AppChoice::Auto, "GET", "/hub/negotiate"));
}
