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
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
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
