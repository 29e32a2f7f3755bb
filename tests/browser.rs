//! The browser probe end to end: headless Chromium loads the page from
//! `wsdoctor serve` through the lab proxy with a fault injected, the page
//! posts what the browser saw, and the findings name the fault.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use wsdoctor_diagnosis::rules::browser::diagnose_browser;
use wsdoctor_diagnosis::{CauseId, Finding, SourceKind};
use wsdoctor_evidence::browser::{BrowserArm, BrowserEvidence};
use wsdoctor_lab::{DiagServer, LabProxy, ProxyConfig, ProxyFault, ServeConfig};

/// Chromium, killed when the test ends however it ends, and its profile
/// directory (fields drop in order: the browser goes first).
#[allow(dead_code)]
struct Browser(support::KillOnDrop, tempfile::TempDir);

fn open_in_chromium(url: &str) -> Browser {
    let bin = support::binary("chromium").expect("checked by the caller");
    let profile = tempfile::tempdir().unwrap();
    let child = Command::new(bin)
        .args(support::CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Browser(support::KillOnDrop(child), profile)
}

/// Serves the page behind a lab proxy with `faults`, opens it with
/// `page_query`, and returns the page's final report (the server's views
/// filed in) and its findings.
async fn browse(faults: &str, page_query: &str) -> (BrowserEvidence, Vec<Finding>) {
    let mut serve = DiagServer::start(ServeConfig {
        events: true,
        ..ServeConfig::default()
    })
    .await
    .unwrap();
    let mut reports = serve.take_browser_reports().unwrap();
    let proxy = LabProxy::start(ProxyConfig {
        faults: ProxyFault::parse_list(faults).unwrap(),
        ..ProxyConfig::new(serve.addr())
    })
    .await
    .unwrap();
    let url = format!("http://{}/?{page_query}", proxy.addr());
    let _browser = open_in_chromium(&url);
    let last = tokio::time::timeout(Duration::from_secs(40), async {
        let mut last = None;
        while let Some(report) = reports.recv().await {
            let done = report.finished;
            last = Some(report);
            if done {
                break;
            }
        }
        last
    })
    .await
    .unwrap_or_else(|_| panic!("no finished report from the page at {url} within 40 s"))
    .expect("the page reported");
    let findings = diagnose_browser(&last);
    (last, findings)
}

fn ids(findings: &[Finding]) -> Vec<CauseId> {
    findings.iter().map(|f| f.id).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_timeout_in_the_path_is_found_from_the_browser() {
    if support::require("chromium").is_none() {
        return;
    }
    let (report, findings) = browse(
        "idle-timeout=2s",
        "heartbeat=500ms&drops=2&max=9s&reconnect=300ms",
    )
    .await;
    let f = &findings[0];
    assert_eq!(f.id, CauseId::IdleTimeout, "{findings:#?}\n{report:#?}");
    assert_eq!(f.source, SourceKind::Browser);
    let t = f.measured.idle_timeout_s.unwrap();
    // The page times a connection from its `open` event, which a loaded
    // renderer dispatches late; the proxy's timer starts no earlier than
    // `new WebSocket()` (its request passing), so a life is short of the
    // timer by at most the time from that call to `open`. That is the
    // measurement's own precision, read from the report, not a guess.
    let late_open_s = report
        .connections
        .iter()
        .filter(|c| c.arm == BrowserArm::Idle && c.dropped())
        .filter_map(|c| c.opened_ms.map(|o| o.saturating_sub(c.started_ms)))
        .max()
        .unwrap_or(0) as f64
        / 1000.0;
    // 2 ms: both ends are rounded to the millisecond.
    let floor = 2.0 - late_open_s - 0.002;
    assert!(
        (floor..2.6).contains(&t),
        "measured {t} s for a 2 s timer (floor {floor} s: open came up to {late_open_s} s after the call)"
    );
    eprintln!("browser idle timer 2 s: measured {t} s, floor {floor:.3} s");
    assert!(
        report.page_protocol.as_deref() == Some("http/1.1"),
        "{:?}",
        report.page_protocol
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_swallowed_close_frame_is_told_from_one_that_arrived() {
    if support::require("chromium").is_none() {
        return;
    }
    // The server closes every connection with 1001 after 1 s.
    let page = "fault=close:1001:1s&heartbeat=500ms&drops=2&max=20s&reconnect=300ms";
    let (report, findings) = browse("swallow-close", page).await;
    assert!(
        ids(&findings).contains(&CauseId::AbnormalClose),
        "{findings:#?}\n{report:#?}"
    );
    let f = findings
        .iter()
        .find(|f| f.id == CauseId::AbnormalClose)
        .unwrap();
    assert!(f.title.contains("1001"), "{}", f.title);
    // Without the fault the browser sees the code itself.
    let (report, findings) = browse("", page).await;
    let seen = ids(&findings);
    assert!(
        seen.contains(&CauseId::GoingAway) && !seen.contains(&CauseId::AbnormalClose),
        "{findings:#?}\n{report:#?}"
    );
}
