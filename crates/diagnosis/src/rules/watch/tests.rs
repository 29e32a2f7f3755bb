#![allow(clippy::unwrap_used, clippy::expect_used)]

use wsdoctor_evidence::idle::Arm;
use wsdoctor_evidence::watch::{WatchAnswer, WatchDrop, WatchEvidence, WatchStall};
use wsdoctor_evidence::ConnectionEnd;

use super::{behind_unknown_hop, diagnose_watch};
use crate::finding::CauseId;
use crate::testkit::handshake;

fn drop(at_ms: u64, arm: Arm, slot: u32, end: ConnectionEnd, idle_s: f64) -> WatchDrop {
    WatchDrop {
        at_ms,
        wall: format!("t+{at_ms}ms"),
        target: "wss://example.test/ws".into(),
        arm,
        slot,
        opened: true,
        age_us: Some((idle_s * 1e6) as u64),
        idle_us: Some((idle_s * 1e6) as u64),
        end,
        server: None,
        instance: None,
    }
}

fn fin() -> ConnectionEnd {
    ConnectionEnd::FinWithoutClose { mid_frame: false }
}

fn window(drops: Vec<WatchDrop>) -> WatchEvidence {
    WatchEvidence {
        targets: vec!["wss://example.test/ws".into()],
        connections: 6,
        open_now: 6,
        opened_total: 6,
        window_ms: 3_600_000,
        ran_ms: 3_600_000,
        interval_ms: 20_000,
        drops,
        ..WatchEvidence::default()
    }
}

#[test]
fn a_reload_is_a_mass_disconnect() {
    let drops = (0..6)
        .map(|i| {
            drop(
                100_000 + i * 7,
                if i % 2 == 0 { Arm::Silent } else { Arm::Ping },
                i as u32,
                fin(),
                30.0 + i as f64,
            )
        })
        .collect();
    let f = &diagnose_watch(&window(drops))[0];
    assert_eq!(f.id, CauseId::MassDisconnect);
    assert_eq!(f.measured.connections_affected, Some(6));
}

#[test]
fn a_burst_of_fins_points_at_the_reload_drains_and_1001_at_caddy() {
    let burst = |end: fn() -> ConnectionEnd| {
        let drops = (0..6)
            .map(|i| {
                drop(
                    100_000 + i * 7,
                    Arm::Silent,
                    i as u32,
                    end(),
                    30.0 + i as f64,
                )
            })
            .collect();
        diagnose_watch(&window(drops)).remove(0)
    };
    let f = burst(fin);
    let first = f.evidence.iter().find(|l| l.starts_with("  ")).unwrap();
    assert!(first.contains("nginx"), "{:#?}", f.evidence);
    assert!(f.fix.iter().any(|x| x
        .snippet
        .as_deref()
        .is_some_and(|s| s.contains("worker_shutdown_timeout"))));
    let f = burst(|| ConnectionEnd::CloseHandshake {
        code: Some(1001),
        reason: String::new(),
        initiator: wsdoctor_evidence::Side::Remote,
        answered: true,
    });
    let first = f.evidence.iter().find(|l| l.starts_with("  ")).unwrap();
    assert!(first.contains("caddy"), "{:#?}", f.evidence);
}

#[test]
fn silent_resets_at_350_seconds_point_at_the_nlb() {
    let drops = (0..4)
        .map(|i| {
            drop(
                350_000 + i * 351_000,
                Arm::Silent,
                1,
                ConnectionEnd::Reset,
                350.2,
            )
        })
        .collect();
    let f = &diagnose_watch(&window(drops))[0];
    assert_eq!(f.id, CauseId::IdleTimeout);
    assert_eq!(f.intermediary, None, "no header names it: {f:#?}");
    let first = f.evidence.iter().find(|l| l.starts_with("  ")).unwrap();
    assert!(first.contains("aws-nlb"), "{:#?}", f.evidence);
    assert!(f.fix.iter().any(|x| x.for_ == "aws-nlb"));
}

#[test]
fn silent_drops_at_sixty_seconds_are_an_idle_timeout() {
    let drops = (0..4)
        .map(|i| drop(60_000 + i * 61_000, Arm::Silent, 1, fin(), 60.01))
        .collect();
    let f = &diagnose_watch(&window(drops))[0];
    assert_eq!(f.id, CauseId::IdleTimeout);
    assert_eq!(f.measured.idle_timeout_s, Some(60.01));
    assert!(f.evidence.iter().any(|l| l.contains("default of")));
}

#[test]
fn a_header_name_lower_cased_by_a_hop_in_front_is_ranked_not_named() {
    let target = "wss://example.test/ws";
    let watched = |first_answer: &[(&str, &str)]| {
        let drops = (0..4)
            .map(|i| WatchDrop {
                server: Some("nginx/1.24.0".into()),
                ..drop(60_000 + i * 61_000, Arm::Silent, 1, fin(), 60.01)
            })
            .collect();
        WatchEvidence {
            first_answers: vec![WatchAnswer {
                target: target.into(),
                answer: handshake(101, first_answer, None),
            }],
            ..window(drops)
        }
    };
    // nginx wrote its own 101: it is the hop whose timer fired.
    let as_nginx_writes_it = watched(&[
        ("Server", "nginx/1.24.0"),
        ("Upgrade", "websocket"),
        ("Connection", "upgrade"),
    ]);
    let f = &diagnose_watch(&as_nginx_writes_it)[0];
    assert_eq!(f.id, CauseId::IdleTimeout);
    assert_eq!(f.intermediary.as_deref(), Some("nginx"), "{f:#?}");
    assert!(behind_unknown_hop(&as_nginx_writes_it).is_empty());
    // Every name lower-cased on the way (HAProxy does): the hop in front
    // is unknown, and nginx's header no longer names the culprit.
    let renamed = watched(&[
        ("server", "nginx/1.24.0"),
        ("upgrade", "websocket"),
        ("connection", "upgrade"),
    ]);
    let f = &diagnose_watch(&renamed)[0];
    assert_eq!(f.id, CauseId::IdleTimeout);
    assert_eq!(f.intermediary, None, "{f:#?}");
    assert_eq!(behind_unknown_hop(&renamed), vec![target.to_owned()]);
}

#[test]
fn a_server_that_closes_every_connection_at_one_age_names_no_proxy() {
    // Every arm, busy or silent, ended by the server's own 1000 at
    // 30 s: its session lifetime, not a hop's cap.
    let by_server = || ConnectionEnd::CloseHandshake {
        code: Some(1000),
        reason: "session over".into(),
        initiator: wsdoctor_evidence::Side::Remote,
        answered: true,
    };
    let drops = (0..4)
        .map(|i| {
            let arm = if i % 2 == 0 { Arm::Silent } else { Arm::Ping };
            drop(30_000 + i * 31_000, arm, 1, by_server(), 30.0)
        })
        .collect();
    let findings = diagnose_watch(&window(drops));
    let ids: Vec<CauseId> = findings.iter().map(|f| f.id).collect();
    assert!(ids.contains(&CauseId::ServerClose), "{ids:?}");
    assert!(!ids.contains(&CauseId::MaxLifetime), "{ids:?}");
    assert!(findings.iter().all(|f| f.intermediary.is_none()));
}

#[test]
fn a_server_that_closes_silent_connections_owns_the_idle_timer() {
    let by_server = || ConnectionEnd::CloseHandshake {
        code: Some(1000),
        reason: "Idle for 60000ms".into(),
        initiator: wsdoctor_evidence::Side::Remote,
        answered: true,
    };
    let drops = (0..4)
        .map(|i| drop(60_000 + i * 61_000, Arm::Silent, 1, by_server(), 60.0))
        .collect();
    let findings = diagnose_watch(&window(drops));
    let f = findings
        .iter()
        .find(|f| f.id == CauseId::IdleTimeout)
        .expect("an idle timer");
    assert!(f.intermediary.is_none());
    assert!(f.evidence.iter().any(|l| l.contains("the server's own")));
    assert!(!f.evidence.iter().any(|l| l.contains("likely hops")));
}

#[test]
fn stalls_and_failed_reconnects() {
    let mut e = window(vec![WatchDrop {
        opened: false,
        end: ConnectionEnd::ConnectRefused {
            addr: "192.0.2.1:443".into(),
        },
        ..drop(1_000, Arm::Ping, 2, fin(), 0.0)
    }]);
    e.stalls.push(WatchStall {
        at_ms: 5_000,
        target: "wss://example.test/ws".into(),
        slot: 2,
        silent_ms: 12_000,
        last_pong_rtt_us: Some(800),
    });
    e.expect_every_ms = Some(5_000);
    let ids: Vec<CauseId> = diagnose_watch(&e).iter().map(|f| f.id).collect();
    assert!(
        ids.contains(&CauseId::HandlerStalled) && ids.contains(&CauseId::ConnectRefused),
        "{ids:?}"
    );
}

#[test]
fn reconnects_that_change_instance_are_a_missing_sticky_session() {
    let on = |at: u64, slot: u32, instance: &str| WatchDrop {
        instance: Some(instance.to_owned()),
        ..drop(at, Arm::Ping, slot, fin(), 0.0)
    };
    let moving = window(vec![
        on(1_000, 1, "a"),
        on(9_000, 1, "b"),
        on(20_000, 2, "a"),
    ]);
    let f = diagnose_watch(&moving)
        .into_iter()
        .find(|f| f.id == CauseId::StickySessionMissing)
        .unwrap();
    assert!(f.evidence[0].contains("a → b"), "{:?}", f.evidence);
    let staying = window(vec![
        on(1_000, 1, "a"),
        on(9_000, 1, "a"),
        on(20_000, 2, "b"),
    ]);
    assert!(!diagnose_watch(&staying)
        .iter()
        .any(|f| f.id == CauseId::StickySessionMissing));
}

#[test]
fn protocol_violations_are_no_timer_samples() {
    let broken = || ConnectionEnd::ProtocolViolation {
        rule: "reserved opcode 0x3".into(),
    };
    let drops = (0..8)
        .map(|i| {
            let arm = if i % 2 == 0 { Arm::Silent } else { Arm::Ping };
            drop(1_000 + i * 400, arm, 1 + i as u32 % 2, broken(), 0.0)
        })
        .collect();
    let findings = diagnose_watch(&window(drops));
    let ids: Vec<CauseId> = findings.iter().map(|f| f.id).collect();
    assert_eq!(ids, vec![CauseId::ProtocolError], "{findings:#?}");
    assert_eq!(findings[0].measured.connections_affected, Some(8));
    assert!(findings[0].evidence[0].contains("reserved opcode"));
}

#[test]
fn a_watch_where_nothing_ever_opened_is_a_failure_never_healthy() {
    let mut e = window(vec![WatchDrop {
        opened: false,
        age_us: None,
        idle_us: None,
        end: ConnectionEnd::HandshakeTimedOut { after_ms: 8_000 },
        ..drop(8_000, Arm::Silent, 1, fin(), 0.0)
    }]);
    e.opened_total = 0;
    e.open_now = 0;
    let findings = diagnose_watch(&e);
    assert_eq!(findings[0].id, CauseId::BackendUnavailable);
    assert!(findings[0].title.contains("no connection ever opened"));
    assert!(!findings.iter().any(|f| f.id == CauseId::Healthy));
    // Before any attempt has ended there is nothing to say, not "healthy".
    e.drops.clear();
    assert!(diagnose_watch(&e).is_empty());
}

#[test]
fn a_quiet_window_is_healthy() {
    let f = &diagnose_watch(&window(Vec::new()))[0];
    assert_eq!(f.id, CauseId::Healthy);
}
