//! The app-protocol rules on hand-built evidence (the end-to-end tests in
//! tests/app_protocols.rs run them against the real servers).

#![allow(clippy::unwrap_used)]

use wsdoctor_evidence::{
    AppEvent, AppEventKind, AppRecord, AppTimers, ConnectionEnd, ProbeEvidence, Side,
};

use crate::finding::CauseId;
use crate::rules::diagnose_probe;
use crate::testkit::{Probe, OPEN_AT_US};

fn socketio(spoken: bool, events: Vec<(f64, AppEventKind)>) -> AppRecord {
    let unanswered = events
        .iter()
        .filter(|(_, k)| *k == AppEventKind::ServerHeartbeat { answered: false })
        .count() as u64;
    AppRecord {
        protocol: Some("socketio".to_owned()),
        decided_by: "the URL path contains /socket.io/".to_owned(),
        spoken,
        version: Some("EIO=4".to_owned()),
        timers: Some(AppTimers {
            pinger: Side::Remote,
            interval_ms: 3000,
            timeout_ms: 2000,
            interval_setting: "pingInterval".to_owned(),
            timeout_setting: "pingTimeout".to_owned(),
            announced: true,
            source: "announced in the Engine.IO open packet".to_owned(),
            websocket_pings: false,
        }),
        server_heartbeats: events
            .iter()
            .filter(|(_, k)| matches!(k, AppEventKind::ServerHeartbeat { .. }))
            .count() as u64,
        heartbeats_unanswered: unanswered,
        events: events
            .into_iter()
            .map(|(s, kind)| AppEvent {
                at_us: OPEN_AT_US + (s * 1e6) as u64,
                kind,
            })
            .collect(),
        events_omitted: 0,
    }
}

fn with_app(probe: Probe, app: AppRecord) -> ProbeEvidence {
    let mut ev = probe.build();
    ev.connection.app = Some(app);
    ev
}

fn ids(ev: &ProbeEvidence) -> Vec<CauseId> {
    diagnose_probe(ev).iter().map(|f| f.id).collect()
}

fn server_close(code: Option<u16>, reason: &str) -> ConnectionEnd {
    ConnectionEnd::CloseHandshake {
        code,
        reason: reason.to_owned(),
        initiator: Side::Remote,
        answered: true,
    }
}

#[test]
fn an_unanswered_ping_then_a_close_at_ping_timeout_is_the_protocols_timeout() {
    let ping = AppEventKind::ServerHeartbeat { answered: false };
    let ev = with_app(
        Probe::new().opened().closed(5.0, server_close(None, "")),
        socketio(false, vec![(3.0, ping)]),
    );
    let findings = diagnose_probe(&ev);
    assert_eq!(
        findings[0].id,
        CauseId::AppHeartbeatTimeout,
        "{findings:#?}"
    );
    assert_eq!(
        findings[0].measured.app_protocol.as_deref(),
        Some("socketio")
    );
    assert!(!ids(&ev).contains(&CauseId::Healthy));
}

#[test]
fn a_close_long_after_the_deadline_is_not_blamed_on_the_heartbeat() {
    let ping = AppEventKind::ServerHeartbeat { answered: false };
    let ev = with_app(
        Probe::new().opened().closed(9.0, server_close(None, "")),
        socketio(false, vec![(3.0, ping)]),
    );
    assert!(!ids(&ev).contains(&CauseId::AppHeartbeatTimeout));
}

#[test]
fn answered_pings_keep_a_held_connection_healthy_and_count_as_a_heartbeat() {
    let ping = AppEventKind::ServerHeartbeat { answered: true };
    let ev = with_app(
        Probe::new().opened().watch(8.0).closed(
            8.0,
            ConnectionEnd::CloseHandshake {
                code: Some(1000),
                reason: String::new(),
                initiator: Side::Local,
                answered: true,
            },
        ),
        socketio(true, vec![(3.0, ping.clone()), (6.0, ping)]),
    );
    let got = ids(&ev);
    assert_eq!(got, [CauseId::Healthy], "{got:?}");
}

#[test]
fn a_cut_before_the_next_protocol_ping_is_the_path_and_names_the_setting() {
    let mut probe = Probe::new()
        .opened()
        .closed(2.0, ConnectionEnd::FinWithoutClose { mid_frame: false });
    probe = probe.watch(8.0);
    let ev = with_app(probe, socketio(true, vec![]));
    let findings = diagnose_probe(&ev);
    let slow = findings
        .iter()
        .find(|f| f.id == CauseId::HeartbeatTooSlow)
        .unwrap();
    assert!(slow.title.contains("pingInterval"), "{}", slow.title);
    assert!(slow.fix.iter().any(|f| f
        .snippet
        .as_deref()
        .is_some_and(|s| s.contains("pingInterval: 1000"))));
    // No proxy identified: the idle-timeout names no hop.
    let idle = findings
        .iter()
        .find(|f| f.id == CauseId::IdleTimeout)
        .unwrap();
    assert_eq!(idle.intermediary, None);
}

#[test]
fn a_documented_code_of_the_spoken_protocol_replaces_policy_close() {
    let mut app = socketio(true, vec![]);
    app.protocol = Some("graphql-transport-ws".to_owned());
    app.timers = None;
    let ev = with_app(
        Probe::new().opened().closed(
            3.0,
            server_close(Some(4408), "Connection initialisation timeout"),
        ),
        app,
    );
    let findings = diagnose_probe(&ev);
    assert_eq!(findings[0].id, CauseId::AppInitTimeout);
    assert!(findings[0]
        .evidence
        .iter()
        .any(|e| e.contains("read 2026-")));
    assert!(!findings.iter().any(|f| f.id == CauseId::PolicyClose));
}

#[test]
fn the_detection_is_said_even_when_nothing_was_recognised() {
    let mut app = socketio(true, vec![]);
    app.protocol = None;
    app.timers = None;
    app.decided_by = "no application protocol recognised: \u{1b}[31m".to_owned();
    let ev = with_app(Probe::new().opened().watch(3.0), app);
    let findings = diagnose_probe(&ev);
    let line = findings[0]
        .evidence
        .iter()
        .find(|e| e.starts_with("application protocol: none recognised"))
        .unwrap();
    // Peer-influenced text is escaped.
    assert!(!line.contains('\u{1b}'), "{line}");
}

#[test]
fn nothing_recognised_is_said_once_not_on_every_finding() {
    let mut app = socketio(true, vec![]);
    app.protocol = None;
    app.timers = None;
    app.decided_by = "no application protocol recognised: no marker".to_owned();
    // Our close went unanswered: healthy plus an info finding.
    let ev = with_app(
        Probe::new().opened().watch(3.0).closed(
            3.0,
            ConnectionEnd::CloseHandshake {
                code: Some(1000),
                reason: String::new(),
                initiator: Side::Local,
                answered: false,
            },
        ),
        app,
    );
    let findings = diagnose_probe(&ev);
    assert!(findings.len() >= 2, "{findings:#?}");
    let saying = findings
        .iter()
        .filter(|f| {
            f.evidence
                .iter()
                .any(|e| e.starts_with("application protocol: none recognised"))
        })
        .count();
    assert_eq!(saying, 1, "{findings:#?}");
}

#[test]
fn a_wrong_guess_is_cheap_to_see() {
    // Spoken, but the server never answered the protocol's opening.
    let ev = with_app(Probe::new().opened().watch(3.0), socketio(true, vec![]));
    let findings = diagnose_probe(&ev);
    assert!(findings[0]
        .evidence
        .iter()
        .any(|e| e.contains("never answered its opening")));
}

#[test]
fn protocol_disconnects_map_to_their_documented_cause() {
    // (protocol, what the protocol said before the end, the end, the finding)
    let remote = |reason: &str| AppEventKind::Disconnect {
        by: Side::Remote,
        reason: reason.to_owned(),
    };
    let error = |message: &str| AppEventKind::Error {
        message: message.to_owned(),
    };
    let table: Vec<(&str, Option<AppEventKind>, ConnectionEnd, CauseId)> = vec![
        // Close codes graphql-transport-ws documents.
        ("graphql-transport-ws", None, server_close(Some(4408), "Connection initialisation timeout"), CauseId::AppInitTimeout),
        ("graphql-transport-ws", None, server_close(Some(4403), "Forbidden"), CauseId::UpgradeRejected),
        ("graphql-transport-ws", None, server_close(Some(4401), "Unauthorized"), CauseId::ProtocolError),
        ("graphql-transport-ws", None, server_close(Some(4400), "Invalid message"), CauseId::ProtocolError),
        // Reasons said in the protocol's own messages.
        ("mqtt", Some(remote("DISCONNECT 0x8D Keep Alive timeout: the broker heard nothing")), ConnectionEnd::Reset, CauseId::AppHeartbeatTimeout),
        ("mqtt", Some(remote("DISCONNECT 0x8B Server shutting down: …")), ConnectionEnd::Reset, CauseId::GoingAway),
        ("mqtt", Some(remote("DISCONNECT 0x89 Server busy: …")), ConnectionEnd::Reset, CauseId::LoadLimit),
        ("mqtt", Some(remote("DISCONNECT 0xA0 Maximum connect time: …")), ConnectionEnd::Reset, CauseId::MaxLifetime),
        ("mqtt", Some(remote("CONNACK 0x05 Not authorized: …")), ConnectionEnd::Reset, CauseId::PolicyClose),
        ("actioncable", Some(remote("disconnect \"unauthorized\": rejected; reconnect: false (the client gives up)")), server_close(None, ""), CauseId::PolicyClose),
        ("actioncable", Some(remote("disconnect \"server_restart\": restarting; reconnect: true")), server_close(Some(1000), ""), CauseId::GoingAway),
        ("phoenix", Some(error("phx_error on room:1: the channel process crashed")), ConnectionEnd::Reset, CauseId::ServerError),
        ("signalr", Some(remote("close message (type 7) with error: boom; allowReconnect: false")), server_close(Some(1000), ""), CauseId::ServerError),
        ("stomp", Some(error("ERROR frame: Bad CONNECT (Access refused)")), server_close(None, ""), CauseId::ProtocolError),
        ("socketio", Some(error("the server refused the namespace connect (44): Not authorized")), server_close(Some(1000), ""), CauseId::PolicyClose),
        ("socketio", Some(remote("io server disconnect: the server's application disconnected the socket (Socket.IO DISCONNECT packet 41)")), server_close(Some(1000), ""), CauseId::ServerClose),
        ("graphql-ws", Some(error("connection_error: {\"message\":\"no\"}")), server_close(Some(1011), ""), CauseId::UpgradeRejected),
        // A reason the protocol does not document stays the server's decision.
        ("actioncable", Some(remote("disconnect \"made up\": not a reason Rails sends")), server_close(Some(1000), ""), CauseId::ServerClose),
    ];
    for (protocol, said, end, expected) in table {
        let mut app = socketio(true, said.into_iter().map(|k| (0.5, k)).collect());
        app.protocol = Some(protocol.to_owned());
        app.timers = None;
        let ev = with_app(Probe::new().opened().closed(1.0, end.clone()), app);
        let found = ids(&ev);
        assert!(
            found.contains(&expected) && !found.contains(&CauseId::Healthy),
            "{protocol} {end:?}: expected {expected:?}, got {found:?}"
        );
        if expected != CauseId::ServerClose {
            assert!(
                !found.contains(&CauseId::ServerClose),
                "{protocol}: {found:?}"
            );
        }
    }
}

#[test]
fn a_refused_login_on_a_socket_the_broker_keeps_open_is_still_a_finding() {
    // stomp-broker-js and RabbitMQ answer a refused CONNECT with ERROR and
    // leave the socket open until the client closes at the end of the watch.
    let events = vec![
        (
            0.01,
            AppEventKind::InitSent {
                message: "CONNECT accept-version:1.2,1.1,1.0 heart-beat:10000,10000 login passcode"
                    .to_owned(),
            },
        ),
        (
            0.02,
            AppEventKind::Error {
                message: "ERROR frame in answer to CONNECT (the broker refused the CONNECT and the login wsdoctor sent): CONNECTION ERROR".to_owned(),
            },
        ),
    ];
    let mut app = socketio(true, events);
    app.protocol = Some("stomp".to_owned());
    app.timers = None;
    let we_closed = ConnectionEnd::CloseHandshake {
        code: Some(1000),
        reason: String::new(),
        initiator: Side::Local,
        answered: true,
    };
    let ev = with_app(Probe::new().opened().watch(3.0).closed(3.0, we_closed), app);
    let findings = diagnose_probe(&ev);
    let refused = findings
        .iter()
        .find(|f| f.id == CauseId::PolicyClose)
        .unwrap_or_else(|| panic!("{findings:#?}"));
    assert!(
        refused.title.contains("refused the stomp session"),
        "{refused:#?}"
    );
    assert!(
        refused
            .evidence
            .iter()
            .any(|e| e.contains("kept the connection open")),
        "{refused:#?}"
    );
    assert!(
        findings.iter().all(|f| f.id != CauseId::Healthy),
        "{findings:#?}"
    );
}
