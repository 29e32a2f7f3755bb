//! `wsdoctor logs` on hostile files made by the tests (issue 19 item 10): a
//! valid one-line HAR over the 64 MiB line limit is read whole (HAR is read
//! as one JSON stream), and times no log was written at (before 1970,
//! after 9999, not finite) are malformed lines, counted and sampled, never
//! dates in the report.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::{json, Value};

/// `wsdoctor logs PATH` (plus `extra`): exit code, stdout, stderr.
fn logs(path: &std::path::Path, extra: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("wsdoctor")
        .unwrap()
        .arg("logs")
        .arg(path)
        .args(extra)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The report's record of the one file read.
fn file_record(path: &std::path::Path) -> Value {
    let (_, stdout, stderr) = logs(path, &["--json"]);
    let report: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    support::schema_validate(&report);
    report["observations"]["logs"]["files"][0].clone()
}

fn websocket_entry(started: &str, time: f64, message_time: f64) -> Value {
    json!({
        "startedDateTime": started,
        "time": time,
        "request": {"method": "GET", "url": "wss://app.example/ws"},
        "response": {"status": 101},
        "_resourceType": "websocket",
        "_webSocketMessages": [{"type": "receive", "time": message_time, "opcode": 1, "data": "hi"}]
    })
}

#[test]
fn a_one_line_har_over_the_line_limit_is_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.har");
    // A response body of 65 MiB on the one line, then the socket.
    let padding = json!({
        "startedDateTime": "2026-01-15T14:02:10.000Z",
        "time": 5,
        "request": {"method": "GET", "url": "https://app.example/bundle.js"},
        "response": {"status": 200, "content": {"text": "x".repeat(65 << 20)}}
    });
    let har = json!({"log": {"version": "1.2", "entries": [
        padding,
        websocket_entry("2026-01-15T14:02:11.000Z", 5.0, 1_768_485_735.5),
    ]}});
    let text = serde_json::to_string(&har).unwrap();
    assert!(!text.contains('\n') && text.len() > 64 << 20);
    std::fs::write(&path, &text).unwrap();
    let file = file_record(&path);
    assert_eq!(file["format"], "har", "{file:#}");
    assert_eq!(file["bytes"], text.len() as u64);
    assert_eq!(file["lines"], 2, "{file:#}");
    assert_eq!(file["websocket_entries"], 1, "{file:#}");
    assert_eq!(file["malformed"], 0, "{file:#}");
}

#[test]
fn out_of_range_har_times_are_malformed_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("times.har");
    let ok = 1_768_485_735.5;
    let har = json!({"log": {"version": "1.2", "entries": [
        websocket_entry("2026-01-15T14:02:11.000Z", 5.0, ok),
        websocket_entry("1969-12-31T23:59:59.000Z", 5.0, ok),
        websocket_entry("2026-01-15T14:02:12.000Z", 5.0, -1e308),
        websocket_entry("2026-01-15T14:02:13.000Z", 5.0, 1e308),
        websocket_entry("2026-01-15T14:02:14.000Z", 1e308, ok),
        websocket_entry("9999-12-31T23:59:59.000Z", 5_000.0, 0.0),
    ]}});
    std::fs::write(&path, serde_json::to_string_pretty(&har).unwrap()).unwrap();
    let file = file_record(&path);
    assert_eq!(file["websocket_entries"], 1, "{file:#}");
    assert_eq!(file["malformed"], 5, "{file:#}");
    let samples = file["malformed_samples"].as_array().unwrap();
    assert_eq!(samples.len(), 5, "{file:#}");
    assert_eq!(samples[0]["line"], 2, "entry numbers: {file:#}");
    let (_, text, _) = logs(&path, &[]);
    assert!(text.contains("2026-01-15 14:00"), "{text}");
    for absurd in ["10000-", "-2922", "1969-", "+29"] {
        assert!(!text.contains(absurd), "{absurd} in {text}");
    }
}

#[test]
fn an_access_log_line_dated_past_9999_is_malformed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let line = |time: &str| {
        format!("203.0.113.9 - - [{time}] \"GET /ws HTTP/1.1\" 101 520 \"-\" \"Mozilla/5.0\"\n")
    };
    // 23:59:59 at UTC-14 is already the year 10000 in UTC.
    let text = [
        line("15/Jan/2026:14:03:11 +0000"),
        line("31/Dec/9999:23:59:59 -1400"),
        line("15/Jan/2026:14:04:11 +0000"),
    ]
    .concat();
    std::fs::write(&path, text).unwrap();
    let file = file_record(&path);
    assert_eq!(file["format"], "nginx", "{file:#}");
    assert_eq!(file["lines"], 3, "{file:#}");
    assert_eq!(file["malformed"], 1, "{file:#}");
    let sample = &file["malformed_samples"][0];
    assert_eq!(sample["line"], 2, "{file:#}");
    assert!(
        sample["reason"].as_str().unwrap().contains("after 9999"),
        "{file:#}"
    );
    let (_, text, _) = logs(&path, &[]);
    assert!(!text.contains("10000-"), "{text}");
}
