#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use wsdoctor_evidence::load::{Latency, LoadEvidence, LoadStep};

use super::*;
use crate::testkit;

#[test]
fn escapes_what_a_peer_could_inject() {
    assert_eq!(
        escape_html(r#"<script>alert("x")</script>&'"#),
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"
    );
    assert_eq!(escape_html("a\u{1b}[31m"), "a\\u{1b}[31m");
}

fn sample_report() -> Report {
    let (_, findings) = testkit::nginx_400_with(&[]);
    Report::new(
        "probe",
        vec!["wss://app.example.com/ws?token=REDACTED".into()],
        std::time::UNIX_EPOCH,
        std::time::Duration::from_millis(1234),
        findings,
        serde_json::json!({}),
    )
}

#[test]
fn the_page_is_self_contained_and_escaped() {
    let (evidence, _) = testkit::nginx_400_with(&[]);
    let mut report = sample_report();
    report.findings[0]
        .evidence
        .push("<img src=x onerror=alert(1)>".into());
    let html = render_html(&report, &probe_charts(&[&evidence]), None);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("<script"), "no scripts");
    assert!(!html.contains("<img"), "peer text is escaped");
    // Nothing the browser would fetch: no elements that load, no stylesheets or url().
    for fetch in ["<img", "<iframe", "<link", "<a ", "@import", "url("] {
        assert!(!html.contains(fetch), "{fetch} in the page");
    }
    assert!(html.contains("Findings") && html.contains("upgrade-not-forwarded"));
}

fn ramp() -> LoadEvidence {
    let step = |index: u32, opened: u64, failed: u64, p99: u64| LoadStep {
        index,
        target: u64::from(index) * 100,
        attempted: opened + failed,
        opened,
        failures: if failed > 0 {
            BTreeMap::from([(wsdoctor_evidence::load::FailureKind::Http(503), failed)])
        } else {
            BTreeMap::new()
        },
        failure_samples: Vec::new(),
        drops: BTreeMap::new(),
        open_at_end: u64::from(index) * 100 - failed,
        handshake: Latency {
            count: opened,
            p50_us: p99 / 3,
            p90_us: p99 / 2,
            p99_us: p99,
            max_us: p99 * 2,
            histogram: None,
        },
        echo_rtt: Latency::default(),
        ..LoadStep::default()
    };
    LoadEvidence {
        target: "ws://127.0.0.1:9001/".into(),
        concurrency: 300,
        rate: 200.0,
        steps: vec![
            step(1, 100, 0, 2_000),
            step(2, 100, 0, 3_500),
            step(3, 24, 76, 9_000),
        ],
        peak_open: 224,
        ..LoadEvidence::default()
    }
}

#[test]
fn load_chart_snapshot() {
    insta::assert_snapshot!(load_charts(&ramp())[0].svg);
}

#[test]
fn drop_histogram_snapshot() {
    let known = vec![
        (55.0, "Heroku".to_owned()),
        (60.0, "nginx / AWS ALB".to_owned()),
        (100.0, "Cloudflare".to_owned()),
    ];
    insta::assert_snapshot!(drop_histogram(&[60.01, 60.02, 60.04], &known).svg);
}

#[test]
fn timeline_snapshot() {
    let (evidence, _) = testkit::healthy_echo_at("wss://echo.example.com/ws", true);
    insta::assert_snapshot!(probe_charts(&[&evidence])[0].svg);
}

#[test]
fn confirm_and_would_change_are_rendered_escaped() {
    let mut report = sample_report();
    report.findings[0].confirm = Some("run <b>this</b>".into());
    report.findings[0].would_change = Some("a 101 & more".into());
    let html = render_html(&report, &[], None);
    assert!(
        html.contains(r#"<div class="check"><b>confirm:</b> run &lt;b&gt;this&lt;/b&gt;</div>"#)
    );
    assert!(html.contains(r#"<div class="check"><b>would change it:</b> a 101 &amp; more</div>"#));
}

#[test]
fn the_text_report_comes_along_without_colours_and_escaped() {
    let report = sample_report();
    let text = "Handshake\n  \x1b[1;31mHTTP/1.1 400 Bad Request\x1b[0m\n  proxy  http://p:3128 \u{2192} tunnel 200 <ok>\n";
    let html = render_html(&report, &[], Some(text));
    assert!(html.contains("<h2>Text report</h2>"));
    assert!(
        html.contains(
            "  HTTP/1.1 400 Bad Request\n  proxy  http://p:3128 \u{2192} tunnel 200 &lt;ok&gt;"
        ),
        "{html}"
    );
    assert!(!html.contains('\x1b'));
    assert!(!render_html(&report, &[], None).contains("Text report"));
}

#[test]
fn only_colour_sequences_are_dropped() {
    for (text, plain) in [
        ("\x1b[32mok\x1b[0m", "ok"),
        ("a\x1b[1;4;38;5;208mb\x1b[m", "ab"),
        ("no colours", "no colours"),
        // Not SGR: the ESC goes, the rest stays.
        ("\x1b[2Jx", "[2Jx"),
        ("cut \x1b[", "cut ["),
    ] {
        assert_eq!(super::without_colours(text), plain, "{text:?}");
    }
}
