//! Snapshots of the text views and the escaping guarantees.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use wsdoctor_diagnosis::Verdict;

use super::{
    render_comparison, render_explanation, render_findings, render_probe, verdict_line, Style,
};
use crate::testkit::{healthy_echo_at, nginx_400_with, rst_after_idle};

#[test]
fn probe_healthy_echo_with_server_pings() {
    let (evidence, findings) = healthy_echo_at("wss://echo.example.com/ws", true);
    insta::assert_snapshot!(render_probe(&evidence, &findings, Style::PLAIN));
}

#[test]
fn probe_nginx_400_with_html_body() {
    let (evidence, findings) = nginx_400_with(&[]);
    insta::assert_snapshot!(render_probe(&evidence, &findings, Style::PLAIN));
}

#[test]
fn probe_reset_without_close_frame() {
    let (evidence, findings) = rst_after_idle();
    insta::assert_snapshot!(render_probe(&evidence, &findings, Style::PLAIN));
}

#[test]
fn comparison_local_against_prod() {
    let (local, local_findings) = healthy_echo_at("ws://localhost:8080/ws", false);
    let (prod, prod_findings) = nginx_400_with(&[]);
    let items = [
        (
            local.connection.target.clone(),
            &local,
            local_findings.as_slice(),
        ),
        (
            prod.connection.target.clone(),
            &prod,
            prod_findings.as_slice(),
        ),
    ];
    insta::assert_snapshot!(render_comparison(&items, Style::PLAIN));
}

#[test]
fn verdict_lines() {
    let (_, problems) = rst_after_idle();
    let (_, healthy) = healthy_echo_at("ws://h/", false);
    let lines = [
        verdict_line(Verdict::of(&problems), &problems, Style::PLAIN),
        verdict_line(Verdict::of(&healthy), &healthy, Style::PLAIN),
        verdict_line(Verdict::of(&[]), &[], Style::PLAIN),
    ];
    assert_eq!(
        lines,
        [
            "verdict: problems (1 error, 1 warning)",
            "verdict: healthy",
            "verdict: inconclusive"
        ]
    );
    assert_eq!(render_findings(&[], Style::PLAIN), "no findings\n");
}

/// Everything a renderer can produce, in both styles.
fn all_renderings(style: Style) -> Vec<String> {
    let (healthy, healthy_findings) = healthy_echo_at("wss://echo.example.com/ws", true);
    let (nginx, nginx_findings) = nginx_400_with(&[]);
    let (rst, rst_findings) = rst_after_idle();
    vec![
        render_probe(&healthy, &healthy_findings, style),
        render_probe(&nginx, &nginx_findings, style),
        render_probe(&rst, &rst_findings, style),
        render_comparison(
            &[
                ("a".to_owned(), &healthy, healthy_findings.as_slice()),
                ("b".to_owned(), &nginx, nginx_findings.as_slice()),
            ],
            style,
        ),
        verdict_line(Verdict::of(&rst_findings), &rst_findings, style),
    ]
}

#[test]
fn plain_style_has_no_escape_sequences() {
    for text in all_renderings(Style::PLAIN) {
        assert!(!text.contains('\x1b'), "{text}");
    }
}

#[test]
fn color_style_paints_and_keeps_the_same_text() {
    let plain = all_renderings(Style::PLAIN);
    let colored = all_renderings(Style::COLOR);
    for (plain, colored) in plain.iter().zip(&colored) {
        assert!(colored.contains("\x1b["), "{colored}");
        assert_eq!(&strip_ansi(colored), plain);
    }
}

/// Removes `ESC [ … m` sequences, the only kind anstyle emits.
fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            chars.by_ref().find(|&c| c == 'm');
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn peer_controlled_strings_are_escaped() {
    let (mut evidence, findings) = nginx_400_with(&[("X-Served-By", "cache-\x1b[31mfra")]);
    if let Some(h) = evidence.connection.handshake.as_mut() {
        h.reason = "Bad\x1b[2J Request".to_owned();
        if let Some(body) = h.body.as_mut() {
            body.text = "<h1>\x1b]0;pwned\x07</h1>".to_owned();
        }
    }
    for style in [Style::PLAIN, Style::COLOR] {
        let text = render_probe(&evidence, &findings, style);
        assert!(text.contains("cache-\\u{1b}[31mfra"), "{text}");
        assert!(text.contains("Bad\\u{1b}[2J Request"), "{text}");
        assert!(text.contains("\\u{1b}]0;pwned\\u{7}"), "{text}");
        // The only raw escapes left are our own styling (none in plain).
        assert!(!strip_ansi(&text).contains('\x1b'), "{text}");
    }
}

#[test]
fn confirm_and_would_change_are_one_line_each_after_the_fixes() {
    let (_, mut findings) = nginx_400_with(&[]);
    findings.truncate(1);
    findings[0].confirm = Some("probe each hop\u{1b}[31m".to_owned());
    findings[0].would_change = Some("a 101 from the backend".to_owned());
    let text = render_findings(&findings, Style::PLAIN);
    let lines: Vec<&str> = text.lines().collect();
    let confirm = lines
        .iter()
        .position(|l| {
            l.trim_start()
                .starts_with("confirm: probe each hop\\u{1b}[31m")
        })
        .unwrap_or(usize::MAX);
    assert_eq!(
        lines.get(confirm + 1).map(|l| l.trim_start()),
        Some("would change it: a 101 from the backend"),
        "{text}"
    );
    assert!(
        !lines[confirm + 1..].iter().any(|l| l.contains("fix (for")),
        "{text}"
    );
}

#[test]
fn explain_keeps_blank_snippet_lines_blank() {
    // The GCP entry's fix snippet has a blank line between gcloud and GKE.
    let e = wsdoctor_diagnosis::explain::explain("gcp-external-alb").unwrap();
    let text = render_explanation(&e, Style::PLAIN);
    assert!(
        !text.lines().any(|l| l.ends_with(' ')),
        "trailing whitespace:\n{text}"
    );
    let fix = text.split("\nFix\n").nth(1).unwrap();
    let fix = fix.split("\n\nNext check").next().unwrap_or(fix);
    insta::assert_snapshot!(fix);
}

fn through_proxy(evidence: &mut wsdoctor_evidence::ProbeEvidence, status: u16, reason: &str) {
    use wsdoctor_evidence::{ForwardProxyRecord, HandshakeRecord, Header, ProxyKind};
    let connect = HandshakeRecord {
        request: vec![
            "CONNECT echo.example.com:443 HTTP/1.1".to_owned(),
            "Host: echo.example.com:443".to_owned(),
            "Proxy-Authorization: Basic REDACTED".to_owned(),
        ],
        http_version: "HTTP/1.1".to_owned(),
        status,
        reason: reason.to_owned(),
        headers: vec![Header {
            name: "Proxy-Authenticate".to_owned(),
            value: "Basic realm=\"corp\"".to_owned(),
        }],
        body: None,
        subprotocol: None,
        problems: Vec::new(),
    };
    let record = &mut evidence.connection;
    record.forward_proxy = Some(ForwardProxyRecord {
        url: "http://alice:REDACTED@proxy.corp:3128".to_owned(),
        kind: ProxyKind::HttpConnect,
        from: "HTTPS_PROXY".to_owned(),
        connect: Some(connect),
        socks: None,
    });
    record.phases.proxy_tunnel_done_us = Some(40_000);
}

#[test]
fn probe_through_a_proxy_over_http2() {
    let (mut evidence, findings) = healthy_echo_at("wss://echo.example.com/ws", true);
    through_proxy(&mut evidence, 200, "Connection established");
    let record = &mut evidence.connection;
    record.http2_offered = true;
    let out = render_probe(&evidence, &findings, Style::PLAIN);
    assert!(out.contains(
        "proxy     http://alice:REDACTED@proxy.corp:3128 (from HTTPS_PROXY, http-connect) → tunnel 200 Connection established"
    ), "{out}");
    assert!(out.contains("proxy tunnel"), "{out}");
    assert!(out.contains("(the proxy's)"), "{out}");
    assert!(
        out.contains(
            "HTTP/2  offered (ALPN h2); server chose http/1.1; opened by the HTTP/1.1 upgrade"
        ),
        "{out}"
    );
    insta::assert_snapshot!(out);
}

#[test]
fn probe_refused_by_the_proxy_shows_its_answer() {
    let (mut evidence, findings) = healthy_echo_at("wss://echo.example.com/ws", true);
    through_proxy(&mut evidence, 407, "Proxy Authentication Required");
    evidence.connection.handshake = None;
    let out = render_probe(&evidence, &findings, Style::PLAIN);
    assert!(
        out.contains("→ tunnel 407 Proxy Authentication Required"),
        "{out}"
    );
    assert!(
        out.contains("Proxy-Authenticate:  Basic realm=\"corp\""),
        "{out}"
    );
    assert!(
        out.contains("> CONNECT echo.example.com:443 HTTP/1.1"),
        "{out}"
    );
}
