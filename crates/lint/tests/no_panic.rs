//! Property tests: no input makes a parser panic or hang. Inputs are built
//! from the characters that steer the grammars (braces, quotes, `#`, `$`,
//! backslashes, newlines) so the generator reaches the tricky states.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;

fn config_text() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "{",
        "}",
        "{{",
        "}}",
        ";",
        "\"",
        "'",
        "#",
        "$",
        "${",
        "\\",
        "\n",
        " ",
        "\t",
        "server",
        "location",
        "proxy_pass",
        "include",
        "*.conf",
        "_by_lua_block",
        "frontend",
        "backend",
        "timeout",
        "tunnel",
        "1h",
        "x",
        "é",
        "\r\n",
        "--",
        "[[",
        "]]",
    ]);
    prop::collection::vec(pieces, 0..200).prop_map(|v| v.concat())
}

fn lint_text(name: &str, text: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    let config = wsdoctor_lint::LintConfig {
        paths: vec![path],
        kind: Some(if name.ends_with(".cfg") {
            wsdoctor_evidence::config::ConfigKind::Haproxy
        } else {
            wsdoctor_evidence::config::ConfigKind::Nginx
        }),
        ..Default::default()
    };
    let ev = wsdoctor_lint::load(&config).unwrap();
    let findings = wsdoctor_diagnosis::rules::config::diagnose_config(&ev);
    let edits: Vec<_> = findings.iter().flat_map(|f| f.edits.clone()).collect();
    let _ = wsdoctor_lint::unified_diff(&ev, &edits);
    let _ = wsdoctor_report::text::lint_view::render_lint(
        &ev,
        &findings,
        wsdoctor_report::Style::PLAIN,
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn nginx_never_panics(text in config_text()) {
        lint_text("nginx.conf", &text);
    }

    #[test]
    fn haproxy_never_panics(text in config_text()) {
        lint_text("haproxy.cfg", &text);
    }

    #[test]
    fn arbitrary_unicode_never_panics(text in "\\PC{0,400}") {
        lint_text("nginx.conf", &text);
        lint_text("haproxy.cfg", &text);
    }
}

#[test]
fn pathological_inputs_finish() {
    for text in [
        "{".repeat(100_000),
        "}".repeat(100_000),
        "{{".repeat(50_000),
        "\"".repeat(100_001),
        "a ".repeat(100_000),
        "include nginx.conf;".to_owned(),
        format!(
            "http {{ {} }}",
            "server { location / { proxy_pass http://ws; } }".repeat(2_000)
        ),
    ] {
        lint_text("nginx.conf", &text);
        lint_text("haproxy.cfg", &text);
    }
}
