//! The idle rules on hand-built experiments (no sockets).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use wsdoctor_evidence::idle::{Arm, IdleEvidence, IdleSample};
use wsdoctor_evidence::{
    ConnectionEnd, ConnectionRecord, EndRecord, FrameEvent, FrameKind, HeartbeatSettings,
    PhaseTimings, PongPolicy, Role, Side,
};

use super::diagnose_idle;
use crate::finding::{CauseId, Severity};
use crate::testkit::handshake;

const OPEN_US: u64 = 2_000;

fn us(secs: f64) -> u64 {
    (secs * 1e6).round() as u64
}

fn record(
    server: Option<&str>,
    end: Option<(ConnectionEnd, f64, f64)>,
    server_pings: &[f64],
) -> ConnectionRecord {
    let mut headers = vec![("Upgrade", "websocket"), ("Connection", "Upgrade")];
    if let Some(s) = server {
        headers.push(("Server", s));
    }
    ConnectionRecord {
        target: "wss://example.test/ws".into(),
        started_at: "2026-11-26T00:00:00Z".into(),
        role: Role::Client,
        resolved: vec!["192.0.2.1".into()],
        peer_addr: Some("192.0.2.1:443".into()),
        phases: PhaseTimings {
            response_head_us: Some(OPEN_US),
            ..PhaseTimings::default()
        },
        tls: None,
        handshake: Some(handshake(101, &headers, None)),
        heartbeat: HeartbeatSettings {
            ping_interval_ms: None,
            pong_timeout_ms: 10_000,
            pong_policy: PongPolicy::Answer,
        },
        events: server_pings
            .iter()
            .map(|t| FrameEvent {
                at_us: OPEN_US + us(*t),
                from: Side::Remote,
                kind: FrameKind::Ping { len: 0 },
            })
            .collect(),
        events_omitted: 0,
        end: end.map(|(end, age, idle)| EndRecord {
            end,
            at_us: OPEN_US + us(age),
            open_for_us: Some(us(age)),
            since_last_inbound_us: Some(us(idle)),
            since_last_pong_us: None,
            since_last_outbound_us: Some(us(idle)),
        }),
        http2_offered: false,
        extended_connect: None,
    }
}

fn ours() -> ConnectionEnd {
    ConnectionEnd::CloseHandshake {
        code: Some(1000),
        reason: String::new(),
        initiator: Side::Local,
        answered: true,
    }
}

fn fin() -> ConnectionEnd {
    ConnectionEnd::FinWithoutClose { mid_frame: false }
}

struct Exp(Vec<IdleSample>, u64);

impl Exp {
    fn new() -> Exp {
        Exp(Vec::new(), 0)
    }
    fn ran(mut self, secs: f64) -> Exp {
        self.1 = (secs * 1000.0) as u64;
        self
    }
    fn arm(mut self, arm: Arm, server: Option<&str>, ends: &[(ConnectionEnd, f64, f64)]) -> Exp {
        for (i, e) in ends.iter().enumerate() {
            self.0.push(IdleSample {
                arm,
                sample: i as u32 + 1,
                connection: record(server, Some(e.clone()), &[]),
            });
        }
        self
    }
    fn done(self) -> IdleEvidence {
        IdleEvidence {
            target: "wss://example.test/ws".into(),
            interval_ms: 1000,
            max_ms: 600_000,
            ran_ms: self.1,
            stopped_early: true,
            samples: self.0,
        }
    }
}

#[test]
fn silent_drops_at_sixty_seconds_behind_an_alb() {
    let e = Exp::new()
        .ran(61.6)
        .arm(
            Arm::Silent,
            Some("awselb/2.0"),
            &[(fin(), 60.01, 60.01), (fin(), 60.03, 60.03)],
        )
        .arm(Arm::Ping, Some("awselb/2.0"), &[(ours(), 61.6, 0.4)])
        .arm(Arm::Data, Some("awselb/2.0"), &[(ours(), 61.6, 0.4)])
        .done();
    let findings = diagnose_idle(&e);
    let f = &findings[0];
    assert_eq!(f.id, CauseId::IdleTimeout);
    assert_eq!(f.measured.idle_timeout_s, Some(60.02));
    assert_eq!(f.measured.keepalive_by.as_deref(), Some("either"));
    assert_eq!(f.measured.transport.as_deref(), Some("eof"));
    assert_eq!(f.intermediary.as_deref(), Some("aws-alb"), "{f:#?}");
    assert!(f.fix.iter().any(|x| x
        .snippet
        .as_deref()
        .is_some_and(|s| s.contains("idle_timeout.timeout_seconds"))));
    assert!(
        f.fix.iter().any(|x| x.text.contains("every 30.0 s")),
        "{:#?}",
        f.fix
    );
    assert!(findings.iter().any(|f| f.id == CauseId::NoHeartbeat));
}

#[test]
fn pings_ignored_means_keepalive_by_data() {
    let e = Exp::new()
        .ran(4.0)
        .arm(Arm::Silent, None, &[(fin(), 3.0, 3.0), (fin(), 3.01, 3.01)])
        .arm(Arm::Ping, None, &[(fin(), 3.0, 0.1)])
        .arm(Arm::Data, None, &[(ours(), 4.0, 0.2)])
        .done();
    let f = &diagnose_idle(&e)[0];
    assert_eq!(f.id, CauseId::IdleTimeout);
    assert_eq!(f.measured.keepalive_by.as_deref(), Some("data"));
    assert!(f
        .fix
        .iter()
        .any(|x| x.text.contains("ignores WebSocket pings")));
}

#[test]
fn everyone_dying_together_is_a_lifetime_cap() {
    let e = Exp::new()
        .ran(30.1)
        .arm(
            Arm::Silent,
            Some("Google Frontend"),
            &[(fin(), 30.0, 30.0), (fin(), 30.02, 30.02)],
        )
        .arm(Arm::Ping, Some("Google Frontend"), &[(fin(), 30.01, 0.3)])
        .arm(Arm::Data, Some("Google Frontend"), &[(fin(), 30.0, 0.2)])
        .done();
    let f = &diagnose_idle(&e)[0];
    assert_eq!(f.id, CauseId::MaxLifetime);
    assert_eq!(f.measured.max_lifetime_s, Some(30.01));
    assert!(f.fix.iter().any(|x| x.text.contains("Pings cannot help")));
}

#[test]
fn scattered_drops_are_not_called_one_timer() {
    let e = Exp::new()
        .ran(96.0)
        .arm(
            Arm::Silent,
            None,
            &[(fin(), 40.0, 40.0), (fin(), 95.0, 95.0)],
        )
        .arm(Arm::Ping, None, &[(ours(), 96.0, 0.3)])
        .done();
    let f = &diagnose_idle(&e)[0];
    assert_eq!(f.id, CauseId::IdleTimeout);
    assert!(f.confidence < 0.7);
    assert!(f.title.contains("not one fixed timer"), "{}", f.title);
}

#[test]
fn a_path_that_never_drops_is_healthy_and_says_what_is_not_ruled_out() {
    let e = Exp::new()
        .ran(120.0)
        .arm(Arm::Silent, None, &[(ours(), 120.0, 120.0)])
        .arm(Arm::Ping, None, &[(ours(), 120.0, 0.5)])
        .done();
    let findings = diagnose_idle(&e);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].id, CauseId::Healthy);
    assert_eq!(findings[0].severity, Severity::Info);
    assert!(
        findings[0]
            .evidence
            .iter()
            .any(|l| l.contains("not ruled out") && l.contains("350")),
        "{:#?}",
        findings[0].evidence
    );
}

#[test]
fn slow_server_pings_are_named() {
    let mut e = Exp::new()
        .ran(61.0)
        .arm(
            Arm::Silent,
            Some("nginx/1.24.0"),
            &[(fin(), 60.0, 60.0), (fin(), 60.0, 60.0)],
        )
        .arm(Arm::Ping, Some("nginx/1.24.0"), &[(ours(), 61.0, 0.1)])
        .done();
    // The server pinged every 90 s: once, early, and again too late.
    e.samples[0].connection.events = [0.0, 90.0]
        .iter()
        .map(|t| FrameEvent {
            at_us: us(*t),
            from: Side::Remote,
            kind: FrameKind::Ping { len: 0 },
        })
        .collect();
    let findings = diagnose_idle(&e);
    assert!(
        findings.iter().any(|f| f.id == CauseId::HeartbeatTooSlow),
        "{findings:#?}"
    );
    assert_eq!(findings[0].intermediary.as_deref(), Some("nginx"));
}

#[test]
fn a_configured_nginx_timeout_still_names_nginx() {
    let e = Exp::new()
        .ran(4.0)
        .arm(
            Arm::Silent,
            Some("nginx/1.22.1"),
            &[(fin(), 3.0, 3.0), (fin(), 3.0, 3.0)],
        )
        .arm(Arm::Ping, Some("nginx/1.22.1"), &[(ours(), 4.0, 0.1)])
        .done();
    let f = &diagnose_idle(&e)[0];
    assert_eq!(f.intermediary.as_deref(), Some("nginx"));
    assert!(
        f.evidence.iter().any(|l| l.contains("configurable")),
        "{:#?}",
        f.evidence
    );
    assert!(f.fix.iter().any(|x| x
        .snippet
        .as_deref()
        .is_some_and(|s| s.contains("proxy_read_timeout"))));
}

#[test]
fn nothing_opened_falls_back_to_the_probe_rules() {
    let mut r = record(
        None,
        Some((
            ConnectionEnd::ConnectRefused {
                addr: "192.0.2.1:443".into(),
            },
            0.0,
            0.0,
        )),
        &[],
    );
    r.handshake = None;
    r.end.as_mut().unwrap().open_for_us = None;
    let e = IdleEvidence {
        target: "wss://example.test/ws".into(),
        interval_ms: 1000,
        max_ms: 600_000,
        ran_ms: 1,
        stopped_early: true,
        samples: vec![IdleSample {
            arm: Arm::Silent,
            sample: 1,
            connection: r,
        }],
    };
    let f = &diagnose_idle(&e)[0];
    assert_eq!(f.id, CauseId::ConnectRefused);
    assert_eq!(f.source, crate::SourceKind::Idle);
}
