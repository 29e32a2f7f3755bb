//! The `wsdoctor` binary end to end: real servers on 127.0.0.1:0 (the
//! in-process lab, python-websockets as a third-party peer, Python's plain
//! HTTP server), exit codes, the JSON contract and its schema, and the
//! human report (insta snapshots with times and ports filtered out).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;
use support::schema_validate;
use wsdoctor_lab::{LabConfig, LabServer};

use support::python_peer;

fn wsdoctor(args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("wsdoctor")
        .unwrap()
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_probe(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["probe", "--json"];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = wsdoctor(&all);
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {stdout}\n{stderr}"));
    schema_validate(&report);
    (code, report)
}

fn ids(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

/// insta filters for values that change between runs.
fn stable() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[port]");
    s.add_filter(r"\d+\.\d+ ?(µs|ms|s)\b", "[time]");
    s.add_filter(r"\b\d+ (µs|ms)\b", "[time]");
    s.add_filter(r"~[time]", "[time]");
    s.add_filter(r#""[A-Za-z0-9+/]{27}=""#, "\"[accept-key]\"");
    s
}

#[test]
fn a_third_party_server_is_healthy() {
    let Some((_peer, port)) = python_peer(&["tests/peers/python_websockets_echo.py", "0.3"], |l| {
        l.trim().parse().ok()
    }) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install python3 and the websockets package"
        );
        eprintln!("skipped: python3 with the websockets package is not installed");
        return;
    };
    let url = format!("ws://127.0.0.1:{port}/");
    let (code, report) = json_probe(&[&url, "--watch", "1s", "--send", "hello", "--send", "again"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["verdict"], "healthy");
    assert_eq!(report["command"], "probe");
    assert_eq!(ids(&report), vec!["healthy"]);
    let probe = &report["observations"]["probes"][0];
    let events = probe["connection"]["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["from"] == "remote" && e["type"] == "ping"),
        "python-websockets pings every 0.3 s"
    );
    assert!(probe["sent"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["echo_rtt_us"].is_u64()));
}

#[test]
fn a_plain_http_server_is_an_upgrade_problem_naming_status_and_server() {
    let Some((_peer, port)) =
        python_peer(&["-m", "http.server", "0", "--bind", "127.0.0.1"], |l| {
            l.split(" port ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
    else {
        panic!("python3 -m http.server did not start");
    };
    let url = format!("ws://127.0.0.1:{port}/");
    let (code, report) = json_probe(&[&url, "--watch", "1s"]);
    assert_eq!(code, 1);
    assert_eq!(report["verdict"], "problems");
    let top = &report["findings"][0];
    assert_eq!(top["id"], "upgrade-not-forwarded", "{report:#}");
    assert_eq!(top["measured"]["http_status"], 200);
    let evidence = top["evidence"].to_string();
    assert!(
        evidence.contains("SimpleHTTP"),
        "the Server header is named: {evidence}"
    );

    let (code, text, _) = wsdoctor(&["probe", &url, "--watch", "1s"]);
    assert_eq!(code, 1);
    assert!(
        text.contains("200 OK") && text.contains("SimpleHTTP"),
        "{text}"
    );
}

#[test]
fn a_closed_port_is_connect_refused() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, report) = json_probe(&[&format!("ws://127.0.0.1:{port}/ws")]);
    assert_eq!(code, 1);
    assert_eq!(ids(&report)[0], "connect-refused");
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_never_reach_any_output() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let url = lab.url("/ws?fault=greet&token=s3cret-token&room=1");
    let args = [
        "--watch",
        "300ms",
        "-H",
        "Authorization: Bearer s3cret-bearer",
        "-H",
        "Cookie: session=s3cret-cookie",
    ];
    let mut json_args = vec![url.as_str()];
    json_args.extend(args);
    let (_, report) = json_probe(&json_args);
    let json = report.to_string();
    let (_, text, _) = wsdoctor(&[&["probe", url.as_str()][..], &args[..]].concat());
    for output in [&json, &text] {
        assert!(!output.contains("s3cret"), "a secret leaked: {output}");
    }
    assert!(json.contains("token=REDACTED") && json.contains("room=1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn several_targets_are_compared_side_by_side() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let local = lab.url("/ws");
    let prod = lab.url("/ws?fault=status:400&server=nginx/1.24.0");
    let (code, report) = json_probe(&[&local, &prod, "--watch", "300ms"]);
    assert_eq!(code, 1);
    assert_eq!(report["targets"].as_array().unwrap().len(), 2);
    let top = &report["findings"][0];
    assert_eq!(top["id"], "upgrade-not-forwarded");
    assert!(
        top["subject"].as_str().unwrap().contains("status:400"),
        "each finding names its target"
    );

    let (_, text, _) = wsdoctor(&["probe", &local, &prod, "--watch", "300ms"]);
    assert!(
        text.contains("101 Switching Protocols") && text.contains("400 Bad Request"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn human_report_snapshot() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let url = lab.url("/ws?fault=close:1011:200ms&reason=handler%20crashed");
    let (code, text, _) = wsdoctor(&["probe", &url, "--watch", "2s"]);
    assert_eq!(code, 1);
    // The timings table changes every run; everything else is stable.
    let stable_text: String = text
        .lines()
        .filter(|l| {
            !l.starts_with("  DNS")
                && !l.starts_with("  TCP")
                && !l.starts_with("  request")
                && !l.starts_with("  response")
        })
        .collect::<Vec<_>>()
        .join("\n");
    stable().bind(|| insta::assert_snapshot!(stable_text));
}

#[tokio::test(flavor = "multi_thread")]
async fn json_report_snapshot() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let url = lab.url("/ws?fault=rst:200ms");
    let (code, report) = json_probe(&[&url, "--watch", "2s"]);
    assert_eq!(code, 1);
    let mut settings = stable();
    settings.add_redaction(".started_at", "[started_at]");
    settings.add_redaction(".duration_s", "[duration]");
    settings.add_redaction(".tool_version", "[version]");
    settings.add_redaction(".observations", "[observations]");
    settings.add_redaction(".findings[].measured.open_for_s", "[seconds]");
    settings.add_redaction(".findings[].measured.watched_s", "[seconds]");
    settings.bind(|| insta::assert_json_snapshot!(report));
}

#[test]
fn usage_errors_are_one_line_and_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["probe", "http://example.com/ws"],
            "try ws://example.com/ws",
        ),
        (
            &["probe", "https://example.com/ws"],
            "try wss://example.com/ws",
        ),
        (&["probe", "ws://exa mple.com/"], "not a valid URL"),
        (&["probe", "ws://127.0.0.1:9/", "--watch", "10"], "no unit"),
        (
            &["probe", "ws://127.0.0.1:9/", "-H", "NoColon"],
            "Name: value",
        ),
        (
            &[
                "probe",
                "ws://127.0.0.1:9/",
                "--ca-cert",
                "/nonexistent/ca.pem",
            ],
            "cannot read CA certificate file",
        ),
        (
            &["probe", "ws://127.0.0.1:9/", "--frobnicate"],
            "unexpected argument",
        ),
        (&["explain", "99999"], "not a WebSocket close code"),
    ];
    for (args, needle) in cases {
        let (code, stdout, stderr) = wsdoctor(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        // clap's own usage errors add a usage hint; ours are exactly one line.
        if stderr.starts_with("wsdoctor:") {
            assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        }
    }
}

#[test]
fn explain_reads_the_knowledge_base() {
    let (code, text, _) = wsdoctor(&["explain", "1006"]);
    assert_eq!(code, 0);
    assert!(
        text.contains("Abnormal") && text.contains("rfc6455"),
        "{text}"
    );
    let (code, text, _) = wsdoctor(&["explain", "idle-timeout"]);
    assert_eq!(code, 0, "{text}");
    let (code, json, _) = wsdoctor(&["explain", "1011", "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&json).unwrap();
    assert!(v["title"].as_str().unwrap().contains("1011"));
}

#[test]
fn demo_diagnoses_every_lab_failure() {
    let (code, text, _) = wsdoctor(&["demo", "--watch", "2s"]);
    assert_eq!(code, 0, "{text}");
    // Every scenario of the demo's table matched: "N of N lab failures diagnosed".
    let line = text
        .lines()
        .find(|l| l.contains("lab failures diagnosed"))
        .unwrap_or_default();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert!(
        words.len() > 3 && words[1] == "of" && words[0] == words[2] && words[0] != "0",
        "{text}"
    );
    let (code, json, err) = wsdoctor(&["demo", "--watch", "2s", "--json"]);
    assert_eq!(code, 0, "{err}");
    schema_validate(&serde_json::from_str(&json).unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_is_verified_unless_the_user_says_insecure() {
    let (tls, cert_pem) = wsdoctor_lab::LabTls::self_signed(&["localhost", "127.0.0.1"]).unwrap();
    let lab = LabServer::start(LabConfig {
        tls: Some(tls),
        ..LabConfig::default()
    })
    .await
    .unwrap();
    let url = lab.url("/ws");
    let (code, report) = json_probe(&[&url, "--watch", "300ms"]);
    assert_eq!(code, 1);
    assert_eq!(ids(&report)[0], "tls-failure");

    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert_pem).unwrap();
    let (code, report) = json_probe(&[&url, "--watch", "300ms", "--ca-cert", ca.to_str().unwrap()]);
    assert_eq!(
        (code, report["verdict"].as_str()),
        (0, Some("healthy")),
        "{report:#}"
    );

    let (code, report) = json_probe(&[&url, "--watch", "300ms", "--insecure"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        report["observations"]["probes"][0]["connection"]["tls"]["verified"],
        false
    );
}

#[test]
fn explain_knows_the_products() {
    let (code, text, _) = wsdoctor(&["explain", "aws-alb"]);
    assert_eq!(code, 0);
    assert!(
        text.contains("60 s by default") && text.contains("idle_timeout.timeout_seconds"),
        "{text}"
    );
}

/// `wsdoctor logs` reads `serve --events` output (forced and detected) and
/// finds the lab's 2 s idle timeout; the report matches the schema.
#[test]
fn logs_reads_wsdoctor_serve_events() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/logs/tests/fixtures/wsdoctor-serve.jsonl"
    );
    for extra in [&[][..], &["--format", "wsdoctor"][..]] {
        let mut args = vec!["logs", fixture, "--json"];
        args.extend_from_slice(extra);
        let (code, stdout, stderr) = wsdoctor(&args);
        let report: Value =
            serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
        schema_validate(&report);
        assert_eq!(code, 1, "{stdout}");
        assert_eq!(ids(&report), vec!["idle-timeout"]);
        assert_eq!(report["findings"][0]["measured"]["idle_timeout_s"], 2.0);
        assert_eq!(
            report["observations"]["logs"]["files"][0]["format"],
            "wsdoctor"
        );
    }
}
