use wsdoctor_evidence::browser::{
    BrowserArm, BrowserConnection, BrowserEvidence, BrowserSettings, VisibilityChange,
};
use wsdoctor_evidence::idle::ServerView;
use wsdoctor_evidence::{ConnectionEnd, EndRecord, Side};

use super::diagnose_browser;
use crate::finding::{CauseId, SourceKind};

fn conn(
    arm: BrowserArm,
    attempt: u32,
    opened: u64,
    closed: u64,
    code: u16,
    clean: bool,
) -> BrowserConnection {
    BrowserConnection {
        arm,
        attempt,
        conn_id: format!("b-{}-{attempt}", arm.as_str()),
        started_ms: opened.saturating_sub(5),
        opened_ms: Some(opened),
        closed_ms: Some(closed),
        code: Some(code),
        reason: String::new(),
        was_clean: Some(clean),
        closed_by_page: false,
        messages: 0,
        last_message_ms: None,
        hidden_for_ms: 0,
        server: None,
    }
}

fn still_open(arm: BrowserArm, attempt: u32) -> BrowserConnection {
    let mut c = conn(arm, attempt, 10, 0, 0, true);
    c.closed_ms = None;
    c.code = None;
    c.was_clean = None;
    c
}

fn page(connections: Vec<BrowserConnection>) -> BrowserEvidence {
    BrowserEvidence {
        session: "s".into(),
        page_url: "http://127.0.0.1/".into(),
        websocket_url: "ws://127.0.0.1/".into(),
        user_agent: "HeadlessChrome/156".into(),
        page_protocol: Some("http/1.1".into()),
        settings: BrowserSettings {
            heartbeat_ms: 500,
            reconnect_ms: 1000,
            drops: 2,
            max_ms: 20_000,
        },
        ran_ms: 8_000,
        finished: true,
        connections,
        visibility: Vec::new(),
        server_views_complete: true,
    }
}

fn server_closed(code: u16) -> ServerView {
    ServerView {
        id: "x".into(),
        instance: "serve".into(),
        end: Some(EndRecord {
            end: ConnectionEnd::CloseHandshake {
                code: Some(code),
                reason: String::new(),
                initiator: Side::Local,
                answered: false,
            },
            at_us: 1_000_000,
            open_for_us: Some(1_000_000),
            since_last_inbound_us: None,
            since_last_pong_us: None,
            since_last_outbound_us: None,
        }),
        frames_received: 0,
        frames_sent: 1,
        last_received_us: None,
        last_sent_us: None,
    }
}

use BrowserArm::{Heartbeat, Idle};

#[test]
fn silent_connections_cut_at_one_age_while_the_busy_one_lives_is_an_idle_timeout() {
    let e = page(vec![
        conn(Idle, 1, 10, 2_012, 1006, false),
        still_open(Heartbeat, 1),
        conn(Idle, 2, 3_020, 5_021, 1006, false),
    ]);
    let f = &diagnose_browser(&e)[0];
    assert_eq!(f.id, CauseId::IdleTimeout);
    assert_eq!(f.source, SourceKind::Browser);
    let t = f.measured.idle_timeout_s.unwrap();
    assert!((t - 2.0).abs() < 0.05, "{t}");
    assert_eq!(f.measured.keepalive_by.as_deref(), Some("data"));
    // The hops are ranked from the timer alone, and the finding says how
    // to ask the hop itself.
    let lines = f.evidence.join("\n");
    assert!(lines.contains("likely hops"), "{lines}");
    assert!(lines.contains("serve sends no fingerprint"), "{lines}");
}

#[test]
fn both_arms_cut_at_one_age_is_a_lifetime_cap() {
    let e = page(vec![
        conn(Idle, 1, 10, 3_010, 1006, false),
        conn(Heartbeat, 1, 12, 3_013, 1006, false),
        conn(Idle, 2, 4_020, 7_020, 1006, false),
    ]);
    assert_eq!(diagnose_browser(&e)[0].id, CauseId::MaxLifetime);
}

#[test]
fn a_heartbeat_slower_than_the_timer_does_not_make_it_a_lifetime_cap() {
    // Both arms cut at 15 s, but the heartbeat only every 20 s: both were idle.
    let mut e = page(vec![
        conn(Idle, 1, 10, 15_010, 1006, false),
        conn(Heartbeat, 1, 12, 15_013, 1006, false),
        conn(Idle, 2, 16_020, 31_020, 1006, false),
    ]);
    e.settings.heartbeat_ms = 20_000;
    let f = &diagnose_browser(&e)[0];
    assert_eq!(f.id, CauseId::IdleTimeout, "{f:#?}");
    assert!(f
        .evidence
        .iter()
        .any(|l| l.contains("not inside the timer")));
}

#[test]
fn a_close_frame_the_server_sent_but_the_browser_never_saw_is_blamed_on_a_hop() {
    let mut a = conn(Heartbeat, 1, 10, 1_600, 1006, false);
    a.server = Some(server_closed(1001));
    let e = page(vec![a, still_open(Idle, 1)]);
    let findings = diagnose_browser(&e);
    let f = findings
        .iter()
        .find(|f| f.id == CauseId::AbnormalClose)
        .unwrap();
    assert!(f.title.contains("1001"), "{}", f.title);
    assert_eq!(f.measured.transport.as_deref(), Some("eof"));
}

#[test]
fn close_frames_that_arrive_map_to_their_causes() {
    let e = page(vec![
        conn(Heartbeat, 1, 10, 1_010, 1001, true),
        conn(Idle, 1, 10, 1_010, 1011, true),
    ]);
    let ids: Vec<CauseId> = diagnose_browser(&e).iter().map(|f| f.id).collect();
    assert!(
        ids.contains(&CauseId::GoingAway) && ids.contains(&CauseId::ServerError),
        "{ids:?}"
    );
}

#[test]
fn heartbeat_drops_only_in_a_hidden_tab_point_at_throttled_timers() {
    let mut a = conn(Heartbeat, 1, 10, 400_000, 1006, false);
    a.hidden_for_ms = 330_000;
    let mut e = page(vec![a, still_open(Idle, 1)]);
    e.visibility = vec![VisibilityChange {
        at_ms: 70_000,
        hidden: true,
    }];
    let findings = diagnose_browser(&e);
    let f = findings
        .iter()
        .find(|f| f.id == CauseId::HeartbeatTooSlow)
        .unwrap();
    assert!(f.confidence >= 0.7);
    assert!(f.evidence.iter().any(|l| l.contains("background")));
}

#[test]
fn no_websocket_ever_opened_says_whether_the_upgrade_reached_the_server() {
    let mut failed = conn(Idle, 1, 0, 30, 1006, false);
    failed.opened_ms = None;
    let e = page(vec![failed.clone()]);
    assert_eq!(diagnose_browser(&e)[0].id, CauseId::UpgradeNotForwarded);
    let mut shared_port = page(vec![failed.clone()]);
    shared_port.server_views_complete = false;
    let f = &diagnose_browser(&shared_port)[0];
    assert!(f.title.contains("unknown"), "{}", f.title);
    failed.server = Some(server_closed(1002));
    let e = page(vec![failed]);
    assert_eq!(diagnose_browser(&e)[0].id, CauseId::UpgradeRejected);
}

#[test]
fn a_quiet_run_is_healthy_and_says_what_it_could_not_see() {
    let mut closed = still_open(Idle, 1);
    closed.closed_ms = Some(8_000);
    closed.closed_by_page = true;
    let e = page(vec![closed, still_open(Heartbeat, 1)]);
    let f = &diagnose_browser(&e)[0];
    assert_eq!(f.id, CauseId::Healthy);
    assert!(f.fix[0].text.contains("longer"));
}
