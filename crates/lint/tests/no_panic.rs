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

/// Pieces of the YAML/JSON, HCL and httpd grammars, plus the keys the
/// readers look for, so generated documents reach the extractors.
fn document_text() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "\n",
        "  ",
        "- ",
        ": ",
        "{",
        "}",
        "[",
        "]",
        ",",
        "\"",
        "'",
        "#",
        "&a ",
        "*a",
        "!Ref ",
        "|",
        ">",
        "---\n",
        "{{ .Values.x }}",
        "${T}",
        "\\",
        "\t",
        "é",
        "=",
        "<",
        ">",
        "</",
        "\r\n",
        "apiVersion: v1\n",
        "kind: Ingress\n",
        "kind: List\nitems:\n",
        "metadata:\n",
        "annotations:\n",
        "nginx.ingress.kubernetes.io/proxy-read-timeout",
        "alb.ingress.kubernetes.io/load-balancer-attributes",
        "idle_timeout.timeout_seconds=",
        "spec:\n",
        "timeoutSec",
        "route_config",
        "routes",
        "route",
        "match",
        "prefix",
        "upgrade_configs",
        "stream_idle_timeout",
        "http_filters",
        "stat_prefix",
        "Resources",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "LoadBalancerAttributes",
        "Key",
        "Value",
        "Attributes",
        "resource \"aws_lb\" \"x\" {",
        "idle_timeout = ",
        "var.t",
        "variable \"t\" {",
        "default = ",
        "<VirtualHost *:80>",
        "</VirtualHost>",
        "ProxyPass /ws/ http://b/",
        "Timeout ",
        "ProxyTimeout ",
        "RewriteRule ^/ws ws://b [P]",
        "60",
        "3600s",
        "-1",
        "1e999",
        "x",
        "reverse_proxy ",
        "@ws ",
        "stream_timeout ",
        "stream_close_delay ",
        "handle_path /ws/* ",
        "`",
        "{$T}",
        "pingInterval",
        "ping_interval",
        "None",
    ]);
    prop::collection::vec(pieces, 0..160).prop_map(|v| v.concat())
}

/// Every reader, by file name.
const KINDS: &[(&str, wsdoctor_evidence::config::ConfigKind)] = &[
    (
        "ingress.yaml",
        wsdoctor_evidence::config::ConfigKind::Kubernetes,
    ),
    ("envoy.yaml", wsdoctor_evidence::config::ConfigKind::Envoy),
    (
        "stack.json",
        wsdoctor_evidence::config::ConfigKind::Cloudformation,
    ),
    ("attrs.json", wsdoctor_evidence::config::ConfigKind::AwsCli),
    ("be.json", wsdoctor_evidence::config::ConfigKind::Gcloud),
    ("main.tf", wsdoctor_evidence::config::ConfigKind::Terraform),
    ("httpd.conf", wsdoctor_evidence::config::ConfigKind::Apache),
    ("Caddyfile", wsdoctor_evidence::config::ConfigKind::Caddy),
    (
        "server.js",
        wsdoctor_evidence::config::ConfigKind::Application,
    ),
    ("app.py", wsdoctor_evidence::config::ConfigKind::Application),
];

fn lint_text(name: &str, text: &str) {
    let kind = KINDS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, k)| *k)
        .unwrap_or(if name.ends_with(".cfg") {
            wsdoctor_evidence::config::ConfigKind::Haproxy
        } else {
            wsdoctor_evidence::config::ConfigKind::Nginx
        });
    lint_as(name, text, kind);
}

fn lint_as(name: &str, text: &str, kind: wsdoctor_evidence::config::ConfigKind) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    let config = wsdoctor_lint::LintConfig {
        paths: vec![path],
        kind: Some(kind),
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
        for (name, _) in KINDS {
            lint_text(name, &text);
        }
    }
}

proptest! {
    // Nine readers per case: fewer cases keep the run short.
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn document_readers_never_panic(text in document_text()) {
        for (name, _) in KINDS {
            lint_text(name, &text);
        }
    }
}

/// Builds a billion-laughs document: each level repeats the previous ten times.
fn yaml_bomb(levels: usize) -> String {
    let mut bomb = String::from("a: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..levels {
        let p = i - 1;
        bomb.push_str(&format!(
            "l{i}: &l{i} [*l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}]\n"
        ));
    }
    bomb
}

#[test]
fn yaml_bombs_and_deep_nesting_are_refused_quickly() {
    let started = std::time::Instant::now();
    let nested_maps: String = (0..5_000)
        .map(|i| format!("{}a:\n", " ".repeat(i % 200)))
        .collect();
    for text in [
        yaml_bomb(12),
        format!("apiVersion: v1\nkind: List\nitems: {}", "[".repeat(50_000)),
        "{".repeat(50_000),
        "- ".repeat(50_000),
        nested_maps,
        format!("static_resources: {}", "{a: ".repeat(20_000)),
        "---\n".repeat(20_000),
    ] {
        for (name, _) in KINDS
            .iter()
            .filter(|(n, _)| !n.ends_with(".tf") && !n.ends_with(".conf"))
        {
            lint_text(name, &text);
        }
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn deep_hcl_and_long_httpd_lines_finish() {
    for text in [
        format!(
            "resource \"aws_lb\" \"x\" {{ idle_timeout = {}1{} }}",
            "[".repeat(10_000),
            "]".repeat(10_000)
        ),
        "resource \"aws_lb\" \"x\" {\n".repeat(10_000),
        format!("locals {{ x = {} }}", "1 + ".repeat(50_000)),
    ] {
        lint_text("main.tf", &text);
    }
    for text in [
        "ProxyPass /ws/ \\\n".repeat(20_000),
        "<VirtualHost *:80>\n".repeat(20_000),
        format!("Timeout {}", "9".repeat(100_000)),
        "\"".repeat(100_001),
    ] {
        lint_text("httpd.conf", &text);
        lint_text("Caddyfile", &text);
    }
    for text in [
        "a {\n".repeat(20_000),
        "}\n".repeat(20_000),
        format!("a {{\n{}", "handle_path /ws {\n".repeat(5_000)),
        "reverse_proxy b \\\n".repeat(20_000),
    ] {
        lint_text("Caddyfile", &text);
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
