//! The HTML report opened in a real headless Chromium: it renders, its
//! charts are there, the console stays clean, and it asks for nothing from
//! the network.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use wsdoctor_lab::{LabConfig, LabServer};

/// Runs headless Chromium on a file; returns (dumped DOM, stderr).
fn chromium(file: &std::path::Path, profile: &std::path::Path, extra: &[&str]) -> (String, String) {
    let bin = support::binary("chromium").expect("checked by the caller");
    let out = Command::new(bin)
        .args(support::CHROMIUM_FLAGS)
        .args([
            "--enable-logging=stderr",
            "--v=0",
            // Any request for an http(s) resource would fail loudly here.
            "--host-resolver-rules=MAP * ~NOTFOUND",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", file.display()))
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_report_renders_in_chromium_with_a_clean_console() {
    if support::require("chromium").is_none() {
        return;
    }
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let status = Command::cargo_bin("wsdoctor")
        .unwrap()
        .args([
            "idle",
            &lab.url("/ws?fault=fin:1s"),
            "--samples",
            "1",
            "--max",
            "5s",
            "--html",
        ])
        .arg(&page)
        .output()
        .unwrap()
        .status;
    assert_eq!(status.code(), Some(1));
    let (dom, log) = chromium(&page, &dir.path().join("profile"), &["--dump-dom"]);
    assert!(
        dom.contains("<svg") && dom.contains("Findings") && dom.contains("max-lifetime"),
        "{dom}"
    );
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    let shot = dir.path().join("report.png");
    chromium(
        &page,
        &dir.path().join("profile2"),
        &[
            "--window-size=1000,1400",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    assert!(
        std::fs::metadata(&shot)
            .map(|m| m.len() > 10_000)
            .unwrap_or(false),
        "a screenshot was drawn"
    );
}

/// Runs the binary with `args` and `--html PAGE`; returns the page.
fn html_of(args: &[&str], page: &std::path::Path) -> String {
    let out = Command::cargo_bin("wsdoctor")
        .unwrap()
        .args(args)
        .arg("--html")
        .arg(page)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c < 2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(page).unwrap()
}

#[test]
fn logs_and_storm_reports_draw_their_charts_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/crates/logs/tests/fixtures");
    let logs_page = dir.path().join("logs.html");
    let html = html_of(
        &[
            "logs",
            &format!("{fixtures}/alb.log.gz"),
            &format!("{fixtures}/nginx-error.log"),
        ],
        &logs_page,
    );
    for title in ["How long connections lived", "When connections closed"] {
        assert!(html.contains(title), "{title} missing");
    }
    let storm_page = dir.path().join("storm.html");
    let html = html_of(
        &["storm", "--policy", "phoenix", "--clients", "1000"],
        &storm_page,
    );
    assert!(html.contains("The reconnect wave") && html.contains("server back"));
    if support::require("chromium").is_none() {
        return;
    }
    for (i, page) in [&logs_page, &storm_page].into_iter().enumerate() {
        let (dom, log) = chromium(page, &dir.path().join(format!("p{i}")), &["--dump-dom"]);
        assert!(dom.contains("<svg"), "{dom}");
        let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
        assert!(console.is_empty(), "console messages: {console:#?}");
    }
}
