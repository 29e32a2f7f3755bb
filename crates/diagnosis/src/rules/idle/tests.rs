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
        forward_proxy: None,
        deflate: None,
        app: None,
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
                conn_id: None,
                server: None,
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
            heartbeat_window_ms: None,
            timer_certain_ms: None,
            samples: self.0,
            pairing: None,
            hop_probe: None,
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
        f.fix.iter().any(|x| x.text.contains("every 30 s")),
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
    // No header GCP is known by: 30 s is its backend-service timeout, ranked
    // first and fixed first, but not named.
    let first_hop = f.evidence.iter().find(|l| l.starts_with("  ")).unwrap();
    assert!(first_hop.contains("gcp-external-alb"), "{:#?}", f.evidence);
    assert_eq!(f.intermediary, None);
    assert_eq!(f.fix[0].for_, "gcp-external-alb", "{:#?}", f.fix);
    assert!(f.fix[0]
        .snippet
        .as_deref()
        .is_some_and(|s| s.contains("--timeout=")));
}

#[test]
fn drops_at_350_s_by_reset_rank_the_nlb_first_and_a_fin_there_says_it_does_not_fit() {
    let at = |end: fn() -> ConnectionEnd| {
        let e = Exp::new()
            .ran(352.0)
            .arm(
                Arm::Silent,
                None,
                &[(end(), 350.2, 350.2), (end(), 350.4, 350.4)],
            )
            .arm(Arm::Ping, None, &[(ours(), 352.0, 0.3)])
            .done();
        diagnose_idle(&e).remove(0)
    };
    let reset = at(|| ConnectionEnd::Reset);
    // No header: ranked and fixed first, not named.
    assert_eq!(reset.intermediary, None, "{reset:#?}");
    let first_hop = reset.evidence.iter().find(|l| l.starts_with("  ")).unwrap();
    assert!(
        first_hop.contains("aws-nlb") && first_hop.contains("silently"),
        "{first_hop}"
    );
    assert_eq!(reset.fix[0].for_, "aws-nlb", "{:#?}", reset.fix);
    let fin = at(fin);
    assert_eq!(fin.intermediary, None, "{fin:#?}");
    assert!(
        fin.evidence
            .iter()
            .any(|l| l.contains("aws-nlb") && l.contains("but we saw a TCP FIN")),
        "{:#?}",
        fin.evidence
    );
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
        heartbeat_window_ms: None,
        timer_certain_ms: None,
        samples: vec![IdleSample {
            arm: Arm::Silent,
            sample: 1,
            connection: r,
            conn_id: None,
            server: None,
        }],
        pairing: None,
        hop_probe: None,
    };
    let f = &diagnose_idle(&e)[0];
    assert_eq!(f.id, CauseId::ConnectRefused);
    assert_eq!(f.source, crate::SourceKind::Idle);
}

/// Server messages at these times (s after the 101) on the samples of `arm`.
fn feed(e: &mut IdleEvidence, arm: Arm, times: &[f64]) {
    for s in e.samples.iter_mut().filter(|s| s.arm == arm) {
        s.connection.events.extend(times.iter().map(|t| FrameEvent {
            at_us: OPEN_US + us(*t),
            from: Side::Remote,
            kind: FrameKind::Text {
                len: 6,
                preview: "tick 1".into(),
                echo_rtt_us: None,
            },
        }));
    }
}

#[test]
fn only_server_to_client_traffic_counting_is_told_apart() {
    // CloudFront's rule, scaled: silent and outbound die at 2 s, everything
    // that makes the server send survives.
    let mut e = Exp::new()
        .ran(2.6)
        .arm(Arm::Silent, None, &[(fin(), 2.0, 2.0), (fin(), 2.0, 2.0)])
        .arm(Arm::Ping, None, &[(ours(), 2.6, 0.1)])
        .arm(Arm::Inbound, None, &[(ours(), 2.6, 0.1)])
        .arm(
            Arm::Outbound,
            None,
            &[(fin(), 2.0, 0.2), (fin(), 2.01, 0.2)],
        )
        .done();
    feed(&mut e, Arm::Inbound, &[1.0, 2.0]);
    let f = &diagnose_idle(&e)[0];
    assert_eq!(f.id, CauseId::IdleTimeout, "{f:#?}");
    assert_eq!(f.measured.keepalive_by.as_deref(), Some("server-to-client"));
    assert!(f
        .fix
        .iter()
        .any(|x| x.text.contains("Only traffic from the server")));
    assert!(
        f.evidence.iter().any(|l| l.contains("CloudFront")),
        "{:#?}",
        f.evidence
    );
    assert!(f
        .evidence
        .iter()
        .any(|l| l.contains("server pushed messages")));
}

#[test]
fn an_inbound_arm_the_server_did_not_feed_is_left_out_and_said() {
    // Not a serve: nothing arrives on the inbound arm, which dies with the
    // silent ones; it must not make the timer look like a lifetime cap.
    let e = Exp::new()
        .ran(2.6)
        .arm(Arm::Silent, None, &[(fin(), 2.0, 2.0)])
        .arm(Arm::Ping, None, &[(ours(), 2.6, 0.1)])
        .arm(Arm::Inbound, None, &[(fin(), 2.0, 2.0)])
        .done();
    let f = &diagnose_idle(&e)[0];
    assert_eq!(f.id, CauseId::IdleTimeout);
    assert_eq!(f.measured.keepalive_by.as_deref(), Some("ping"));
    assert!(
        f.evidence
            .iter()
            .any(|l| l.contains("inbound arm: the server sent nothing")),
        "{:#?}",
        f.evidence
    );
}

#[test]
fn drops_at_random_ages_are_a_distribution_not_a_timeout() {
    let e = Exp::new()
        .ran(4.2)
        .arm(Arm::Silent, None, &[(fin(), 1.2, 1.2), (fin(), 3.9, 3.9)])
        .arm(Arm::Ping, None, &[(fin(), 2.4, 0.3), (fin(), 1.7, 0.5)])
        .arm(Arm::Data, None, &[(fin(), 3.1, 0.2), (ours(), 4.2, 0.1)])
        .done();
    let f = &diagnose_idle(&e)[0];
    assert_eq!(f.id, CauseId::AbnormalClose, "{f:#?}");
    assert!(f.title.contains("scattered"), "{}", f.title);
    assert_eq!(f.measured.idle_timeout_s, None);
    assert_eq!(f.measured.spread_s, Some(2.7));
    assert_eq!(f.measured.connections_affected, Some(5));
    assert!(f.evidence.iter().any(|l| l.contains("median")));
}

fn server_view(end: Option<ConnectionEnd>, age: f64) -> wsdoctor_evidence::idle::ServerView {
    wsdoctor_evidence::idle::ServerView {
        id: "r-silent-1".into(),
        instance: "serve".into(),
        end: end.map(|end| EndRecord {
            end,
            at_us: us(age) + 500,
            open_for_us: Some(us(age)),
            since_last_inbound_us: Some(us(age)),
            since_last_pong_us: None,
            since_last_outbound_us: Some(us(age)),
        }),
        frames_received: 0,
        frames_sent: 1,
        last_received_us: None,
        last_sent_us: Some(100),
    }
}

fn paired(
    mut e: IdleEvidence,
    view: impl Fn() -> wsdoctor_evidence::idle::ServerView,
) -> IdleEvidence {
    for s in e.samples.iter_mut().filter(|s| s.dropped()) {
        s.server = Some(view());
    }
    e.pairing = Some(wsdoctor_evidence::idle::Pairing {
        instance: "serve".into(),
        asked: e.samples.len() as u32,
        answered: e.samples.len() as u32,
        problems: Vec::new(),
    });
    e
}

#[test]
fn pairing_says_the_proxy_closed_both_sides() {
    let e = Exp::new()
        .ran(3.6)
        .arm(Arm::Silent, Some("nginx/1.22.1"), &[(fin(), 3.001, 3.001)])
        .arm(Arm::Ping, Some("nginx/1.22.1"), &[(ours(), 3.6, 0.1)])
        .done();
    let e = paired(e, || server_view(Some(fin()), 3.0));
    let f = &diagnose_idle(&e)[0];
    assert_eq!(f.intermediary.as_deref(), Some("nginx"));
    let text = f.evidence.join("\n");
    assert!(text.contains("the client saw TCP FIN without a close frame 3.001 s after its 101; a TCP FIN without a close frame came to the server 3.000 s after its 101"), "{text}");
    assert!(text.contains("closed both sides"), "{text}");
}

#[test]
fn pairing_says_when_the_server_closed_first() {
    let e = Exp::new()
        .ran(3.6)
        .arm(Arm::Silent, Some("nginx/1.22.1"), &[(fin(), 3.001, 3.001)])
        .arm(Arm::Ping, Some("nginx/1.22.1"), &[(ours(), 3.6, 0.1)])
        .done();
    let own = ConnectionEnd::LocalDeadline {
        what: "idle".into(),
    };
    let e = paired(e, || server_view(Some(own.clone()), 3.0));
    let f = &diagnose_idle(&e)[0];
    assert!(f
        .evidence
        .iter()
        .any(|l| l.contains("the server closed first")));
    assert_eq!(f.intermediary, None, "a relaying proxy is not blamed");
}

#[test]
fn random_drops_are_found_even_when_the_silent_ones_happen_to_agree() {
    let e = Exp::new()
        .ran(3.5)
        .arm(Arm::Silent, None, &[(fin(), 2.0, 2.0), (fin(), 2.1, 2.1)])
        .arm(Arm::Ping, None, &[(fin(), 0.7, 0.2), (ours(), 3.5, 0.1)])
        .done();
    let f = &diagnose_idle(&e)[0];
    assert_eq!(f.id, CauseId::AbnormalClose, "{f:#?}");
}

#[test]
fn an_unfed_inbound_arm_alone_still_measures_as_a_silent_one() {
    let e = Exp::new()
        .ran(2.6)
        .arm(Arm::Inbound, None, &[(fin(), 2.0, 2.0), (fin(), 2.0, 2.0)])
        .done();
    let f = &diagnose_idle(&e)[0];
    assert_eq!(f.id, CauseId::IdleTimeout, "{f:#?}");
    assert!(f
        .evidence
        .iter()
        .any(|l| l.contains("the server sent nothing")));
}

#[test]
fn both_directions_surviving_with_pings_is_either() {
    let mut e = Exp::new()
        .ran(3.5)
        .arm(Arm::Silent, None, &[(fin(), 3.0, 3.0)])
        .arm(Arm::Ping, None, &[(ours(), 3.5, 0.1)])
        .arm(Arm::Inbound, None, &[(ours(), 3.5, 0.1)])
        .arm(Arm::Outbound, None, &[(ours(), 3.5, 0.1)])
        .done();
    feed(&mut e, Arm::Inbound, &[1.0, 2.0, 3.0]);
    let f = &diagnose_idle(&e)[0];
    assert_eq!(f.measured.keepalive_by.as_deref(), Some("either"));
}

#[test]
fn a_busy_arm_gone_and_a_silent_one_half_gone_is_random_not_traffic_killing() {
    let e = Exp::new()
        .ran(6.0)
        .arm(Arm::Silent, None, &[(fin(), 1.2, 1.2), (ours(), 6.0, 6.0)])
        .arm(Arm::Ping, None, &[(fin(), 0.8, 0.2), (fin(), 0.9, 0.3)])
        .done();
    let f = &diagnose_idle(&e)[0];
    assert_eq!(f.id, CauseId::AbnormalClose);
    assert!(f.title.contains("scattered"), "{}", f.title);
}

#[test]
fn a_busy_arm_gone_at_scattered_times_is_random_too() {
    let e = Exp::new()
        .ran(6.0)
        .arm(Arm::Silent, None, &[(ours(), 6.0, 6.0)])
        .arm(Arm::Ping, None, &[(fin(), 0.8, 0.2), (fin(), 1.9, 0.3)])
        .done();
    assert_eq!(diagnose_idle(&e)[0].id, CauseId::AbnormalClose);
    assert!(diagnose_idle(&e)[0].title.contains("scattered"));
    // Together, they are traffic that kills (the older rule).
    let e = Exp::new()
        .ran(6.0)
        .arm(Arm::Silent, None, &[(ours(), 6.0, 6.0)])
        .arm(Arm::Ping, None, &[(fin(), 1.0, 0.2), (fin(), 1.01, 0.3)])
        .done();
    assert!(diagnose_idle(&e)[0].title.contains("send ping traffic"));
}

/// Server pings at these times (s after the 101) on the samples of `arm`.
fn pings(e: &mut IdleEvidence, arm: Arm, times: &[f64]) {
    for s in e.samples.iter_mut().filter(|s| s.arm == arm) {
        s.connection.events.extend(times.iter().map(|t| FrameEvent {
            at_us: OPEN_US + us(*t),
            from: Side::Remote,
            kind: FrameKind::Ping { len: 0 },
        }));
    }
}

/// nginx's timer `t` ended both silent connections; the ping and data arms
/// were kept open until `ran` (the heartbeat window).
fn nginx_timer(t: f64, ran: f64) -> IdleEvidence {
    let nginx = Some("nginx/1.22.1");
    let mut e = Exp::new()
        .ran(ran)
        .arm(Arm::Silent, nginx, &[(fin(), t, t), (fin(), t, t)])
        .arm(Arm::Ping, nginx, &[(ours(), ran, 0.1), (ours(), ran, 0.1)])
        .arm(Arm::Data, nginx, &[(ours(), ran, 0.1), (ours(), ran, 0.1)])
        .done();
    e.heartbeat_window_ms = Some((ran * 1000.0) as u64);
    e
}

#[test]
fn the_servers_heartbeat_next_to_a_measured_timer() {
    // (timer s, run s, server pings on the survivors, expected finding,
    //  severity, server_ping_interval_s, title contains)
    type Case = (
        f64,
        f64,
        &'static [f64],
        Option<CauseId>,
        Severity,
        Option<f64>,
        &'static str,
    );
    let cases: &[Case] = &[
        // The path: nginx 20 s, a server pinging every 30 s. The
        // survivors see the first ping at 30 s, inside the 35 s window.
        (
            20.0,
            35.0,
            &[30.0],
            Some(CauseId::HeartbeatTooSlow),
            Severity::Warning,
            Some(30.0),
            "The server pings every 30.0 s or more, not often enough for the 20.0 s idle timeout",
        ),
        // Scaled down: nginx 2 s, pings every 3 s, seen twice in a 7 s window.
        (
            2.0,
            7.0,
            &[3.0, 6.0],
            Some(CauseId::HeartbeatTooSlow),
            Severity::Warning,
            Some(3.0),
            "The server pings every 3.0 s, not often enough for the 2.0 s idle timeout",
        ),
        // No ping in a window past the library defaults: no heartbeat.
        (
            20.0,
            35.0,
            &[],
            Some(CauseId::NoHeartbeat),
            Severity::Warning,
            None,
            "No heartbeat: no ping from the server in 35.0 s",
        ),
        // No ping in a short window: said, but not claimed absent.
        (
            2.0,
            5.0,
            &[],
            Some(CauseId::NoHeartbeat),
            Severity::Info,
            None,
            "No ping from the server in 5.0 s: a heartbeat slower than that cannot be excluded",
        ),
        // One ping 1.5 s in, none in the 1.5 s after it: the interval may be
        // below the 2 s timer, so nothing is claimed about it.
        (2.0, 3.0, &[1.5], None, Severity::Info, None, ""),
    ];
    for (t, ran, at, id, severity, interval, title) in cases {
        let mut e = nginx_timer(*t, *ran);
        pings(&mut e, Arm::Ping, at);
        pings(&mut e, Arm::Data, at);
        let findings = diagnose_idle(&e);
        assert_eq!(findings[0].id, CauseId::IdleTimeout, "{findings:#?}");
        assert_eq!(findings[0].measured.idle_timeout_s, Some(*t));
        let hb: Vec<_> = findings
            .iter()
            .filter(|f| matches!(f.id, CauseId::HeartbeatTooSlow | CauseId::NoHeartbeat))
            .collect();
        match id {
            None => assert!(hb.is_empty(), "{hb:#?}"),
            Some(id) => {
                assert_eq!(hb.len(), 1, "{findings:#?}");
                let f = hb[0];
                assert_eq!(f.id, *id);
                assert_eq!(f.severity, *severity, "{f:#?}");
                assert_eq!(f.measured.server_ping_interval_s, *interval);
                assert!(f.title.contains(title), "{}", f.title);
                assert_eq!(f.measured.watched_s, Some(*ran));
                // Every suggestion: half the 20 s (or 2 s) timer.
                let every = format!("every {} s", (*t / 2.0).max(1.0) as u64);
                assert!(
                    f.fix.iter().any(|x| x.text.contains(&every)),
                    "{:#?}",
                    f.fix
                );
            }
        }
    }
}

#[test]
fn the_one_direction_fixes_use_the_same_ping_interval_as_every_command() {
    // 80 s timer: half is 40 s, but no suggestion goes past 30 s.
    let mut e = Exp::new()
        .ran(82.0)
        .arm(Arm::Silent, None, &[(fin(), 80.0, 80.0)])
        .arm(Arm::Inbound, None, &[(ours(), 82.0, 0.1)])
        .arm(Arm::Outbound, None, &[(fin(), 80.0, 0.2)])
        .done();
    feed(&mut e, Arm::Inbound, &[1.0, 2.0, 3.0]);
    let f = &diagnose_idle(&e)[0];
    assert_eq!(
        f.measured.keepalive_by.as_deref(),
        Some("server-to-client"),
        "{f:#?}"
    );
    let text: Vec<&str> = f.fix.iter().map(|x| x.text.as_str()).collect();
    assert!(
        text.iter()
            .any(|t| t.contains("from the server every 30.0 s")),
        "{text:#?}"
    );
    assert!(!text.iter().any(|t| t.contains("40.0 s")), "{text:#?}");
}

#[test]
fn a_protocol_violation_is_reported_as_one_never_as_a_lifetime() {
    let violation = || ConnectionEnd::ProtocolViolation {
        rule: "reserved bits set without an extension".into(),
    };
    // Every connection broken by the server right after the 101.
    let all = Exp::new()
        .ran(0.1)
        .arm(Arm::Silent, None, &[(violation(), 0.0, 0.0)])
        .arm(Arm::Ping, None, &[(violation(), 0.0, 0.0)])
        .arm(Arm::Data, None, &[(violation(), 0.0, 0.0)])
        .done();
    let findings = diagnose_idle(&all);
    assert_eq!(findings[0].id, CauseId::ProtocolError, "{findings:#?}");
    assert_eq!(findings[0].source, crate::SourceKind::Idle);
    assert!(findings[0].title.contains("reserved bits"), "{findings:#?}");
    assert_eq!(findings[0].measured.connections_affected, Some(3));
    assert!(findings
        .iter()
        .all(|f| f.id != CauseId::MaxLifetime && f.measured.max_lifetime_s.is_none()));
    // One broken connection next to a real timer: both, each for what it is.
    let mixed = Exp::new()
        .ran(4.0)
        .arm(Arm::Silent, None, &[(fin(), 3.0, 3.0), (fin(), 3.01, 3.01)])
        .arm(
            Arm::Ping,
            None,
            &[(violation(), 0.0, 0.0), (ours(), 4.0, 0.1)],
        )
        .done();
    let findings = diagnose_idle(&mixed);
    let ids: Vec<CauseId> = findings.iter().map(|f| f.id).collect();
    assert!(ids.contains(&CauseId::ProtocolError), "{ids:?}");
    assert!(ids.contains(&CauseId::IdleTimeout), "{ids:?}");
    assert!(!ids.contains(&CauseId::MaxLifetime), "{ids:?}");
}

#[test]
fn a_server_closing_every_connection_with_1000_at_one_age_says_so() {
    let bye = || ConnectionEnd::CloseHandshake {
        code: Some(1000),
        reason: "session over".into(),
        initiator: Side::Remote,
        answered: true,
    };
    let e = Exp::new()
        .ran(5.1)
        .arm(Arm::Silent, None, &[(bye(), 5.0, 5.0), (bye(), 5.01, 5.01)])
        .arm(Arm::Ping, None, &[(bye(), 5.0, 0.2)])
        .arm(Arm::Data, None, &[(bye(), 5.02, 0.3)])
        .done();
    let findings = diagnose_idle(&e);
    let f = findings
        .iter()
        .find(|f| f.id == CauseId::ServerClose)
        .unwrap_or_else(|| panic!("{findings:#?}"));
    assert_eq!(f.measured.close_code, Some(1000));
    assert_eq!(f.measured.close_reason.as_deref(), Some("session over"));
    assert_eq!(f.measured.connections_affected, Some(4));
    assert!(
        f.title.contains("all 4 connections itself at the same age"),
        "{}",
        f.title
    );
    assert!(
        f.fix.iter().any(|x| x.text.contains("token lifetime")),
        "{:#?}",
        f.fix
    );
    assert!(findings.iter().all(|f| f.id != CauseId::Healthy));
}

#[test]
fn a_lifetime_the_server_closes_itself_blames_no_proxy() {
    let bye = || ConnectionEnd::CloseHandshake {
        code: Some(1000),
        reason: "session over".into(),
        initiator: Side::Remote,
        answered: true,
    };
    let e = Exp::new()
        .ran(30.1)
        .arm(Arm::Silent, Some("Google Frontend"), &[(bye(), 30.0, 30.0)])
        .arm(Arm::Ping, Some("Google Frontend"), &[(bye(), 30.0, 0.2)])
        .done();
    let findings = diagnose_idle(&e);
    assert_eq!(findings[0].id, CauseId::ServerClose, "{findings:#?}");
    assert_eq!(findings[0].measured.max_lifetime_s, Some(30.0));
    assert!(
        findings.iter().all(|f| f.id != CauseId::MaxLifetime),
        "{findings:#?}"
    );
    assert!(findings.iter().all(|f| f.intermediary.is_none()));
    // The same server closing only silent connections: its own idle timer.
    let idle = Exp::new()
        .ran(31.6)
        .arm(
            Arm::Silent,
            None,
            &[(bye(), 30.0, 30.0), (bye(), 30.0, 30.0)],
        )
        .arm(Arm::Ping, None, &[(ours(), 31.6, 0.2)])
        .done();
    let findings = diagnose_idle(&idle);
    let t = findings
        .iter()
        .find(|f| f.id == CauseId::IdleTimeout)
        .unwrap();
    assert!(t.intermediary.is_none());
    assert!(
        t.evidence.iter().all(|l| !l.contains("likely hops")),
        "{t:#?}"
    );
    assert!(t
        .fix
        .iter()
        .any(|x| x.text.contains("raise its own idle timeout")));
    assert!(findings.iter().any(|f| f.id == CauseId::ServerClose));
}
