//! Table-driven rule tests on hand-built evidence (the lint crate's
//! integration tests cover real files end to end).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use wsdoctor_evidence::config::{
    ConfigEvidence, HeaderSetting, NginxMap, NginxRoute, Setting, Span,
};

use super::*;

fn span(line: u32) -> Span {
    Span {
        file: "app.conf".into(),
        line,
        column: 9,
        len: 4,
    }
}

fn header(name: &str, value: &str, line: u32) -> HeaderSetting {
    HeaderSetting {
        name: name.into(),
        value: value.into(),
        span: span(line),
        name_span: span(line),
        value_span: span(line),
        inherited: false,
    }
}

fn setting<T>(value: T, raw: &str, line: u32) -> Setting<T> {
    Setting {
        value: Some(value),
        raw: raw.into(),
        span: span(line),
        inherited: false,
    }
}

fn route(headers: Vec<HeaderSetting>) -> NginxRoute {
    NginxRoute {
        server_name: None,
        location: Some("/ws/".into()),
        block: span(1),
        proxy_pass: setting("http://b".to_owned(), "http://b", 2),
        http_version: Some(setting("1.1".to_owned(), "1.1", 3)),
        headers,
        shadowed_headers: vec![],
        read_timeout: Some(setting(3_600_000, "3600s", 4)),
        send_timeout: None,
        buffering: None,
        server: None,
    }
}

fn ids(ev: &ConfigEvidence) -> Vec<String> {
    diagnose_config(ev)
        .iter()
        .map(|f| format!("{}:{:?}", f.finding.id.as_str(), f.finding.severity))
        .collect()
}

fn with_route(r: NginxRoute) -> ConfigEvidence {
    let mut ev = ConfigEvidence::default();
    ev.nginx.routes.push(r);
    ev.files.push(wsdoctor_evidence::config::SourceFile {
        path: "app.conf".into(),
        kind: wsdoctor_evidence::config::ConfigKind::Nginx,
        included_from: None,
        text: String::new(),
    });
    ev
}

#[test]
fn connection_values_table() {
    let map = |default: &str| NginxMap {
        source: "$http_upgrade".into(),
        target: "$connection_upgrade".into(),
        span: span(9),
        entries: vec![
            ("default".into(), default.into()),
            ("".into(), "close".into()),
        ],
    };
    let table: Vec<(&str, Option<NginxMap>, bool)> = vec![
        ("upgrade", None, true),
        ("Upgrade", None, true),
        ("$http_connection", None, true),
        ("$connection_upgrade", Some(map("upgrade")), true),
        ("$connection_upgrade", Some(map("close")), false),
        ("$connection_upgrde", Some(map("upgrade")), false),
        ("", None, false),
        ("keep-alive", None, false),
    ];
    for (value, m, ok) in table {
        let mut ev = with_route(route(vec![
            header("Upgrade", "$http_upgrade", 5),
            header("Connection", value, 6),
        ]));
        ev.nginx.maps.extend(m);
        let errors = ids(&ev).iter().filter(|i| i.ends_with("Error")).count();
        assert_eq!(errors == 0, ok, "Connection {value:?}: {:?}", ids(&ev));
    }
}

#[test]
fn upgrade_typos_and_gaps_table() {
    let table = [
        (vec![header("Upgrade", "$http_upgrade", 5)], 1), // Connection missing
        (
            vec![
                header("Upgarde", "$http_upgrade", 5),
                header("Connection", "upgrade", 6),
            ],
            1,
        ),
        (
            vec![
                header("Upgrade", "$http_upgarde", 5),
                header("Connection", "upgrade", 6),
            ],
            1,
        ),
        (
            vec![
                header("Upgrade", "$http_upgrade", 5),
                header("Conection", "upgrade", 6),
            ],
            1,
        ),
        (
            vec![
                header("Upgrade", "$http_upgrade", 5),
                header("Connection", "upgrade", 6),
            ],
            0,
        ),
    ];
    for (headers, errors) in table {
        let ev = with_route(route(headers.clone()));
        let got = ids(&ev).iter().filter(|i| i.ends_with("Error")).count();
        assert_eq!(got, errors, "{headers:?}: {:?}", ids(&ev));
    }
}

#[test]
fn heartbeat_margin_table() {
    // (read timeout s, ping s, expected finding on the hop)
    let table = [
        (60, 25, None),
        (60, 48, None),
        (60, 50, Some("heartbeat-too-slow:Warning")),
        (60, 60, Some("heartbeat-too-slow:Error")),
        (60, 90, Some("heartbeat-too-slow:Error")),
    ];
    for (timeout, ping, expected) in table {
        let mut r = route(vec![
            header("Upgrade", "$http_upgrade", 5),
            header("Connection", "upgrade", 6),
        ]);
        r.read_timeout = Some(setting(timeout * 1000, "x", 4));
        let mut ev = with_route(r);
        ev.app_ping_ms = Some(ping * 1000);
        let got = ids(&ev);
        let hit = got
            .iter()
            .find(|i| i.starts_with("heartbeat-too-slow"))
            .map(String::as_str);
        assert_eq!(hit, expected, "{timeout}s vs {ping}s: {got:?}");
    }
}

#[test]
fn via_hops_join_the_stack_and_lifetimes_warn() {
    let mut ev = with_route(route(vec![
        header("Upgrade", "$http_upgrade", 5),
        header("Connection", "upgrade", 6),
    ]));
    ev.via = vec!["gcp-external-alb".into(), "cloudflare".into()];
    ev.app_ping_ms = Some(30_000);
    let got = ids(&ev);
    assert!(got.contains(&"max-lifetime:Warning".to_owned()), "{got:?}");
    assert!(
        !got.iter().any(|g| g.starts_with("heartbeat-too-slow")),
        "{got:?}"
    );
}

#[test]
fn typo_distance() {
    assert!(is_typo("Upgarde", "upgrade"));
    assert!(is_typo("Conection", "connection"));
    assert!(!is_typo("Upgrade", "upgrade"));
    assert!(!is_typo("Host", "upgrade"));
    assert_eq!(distance("kitten", "sitting"), 3);
}

/// A hop from a non-nginx/HAProxy file, with one timer.
fn hop_config(
    product: &str,
    source: wsdoctor_evidence::config::ConfigKind,
    role: wsdoctor_evidence::config::TimerRole,
    value_s: Option<u64>,
    websocket: bool,
) -> ConfigEvidence {
    use wsdoctor_evidence::config::{HopConfig, HopTimer, SourceFile, ValueStyle};
    let mut ev = ConfigEvidence::default();
    ev.files.push(SourceFile {
        path: "app.conf".into(),
        kind: source,
        included_from: None,
        text: "line one\n        key: 60\n".into(),
    });
    ev.hops.push(HopConfig {
        product: product.into(),
        name: format!("{product} hop"),
        span: span(1),
        source,
        websocket: websocket.then(|| "named so".to_owned()),
        timers: vec![HopTimer {
            key: "key".into(),
            role,
            setting: value_s.map(|v| setting(v * 1000, &v.to_string(), 2)),
            style: ValueStyle::Seconds,
            insert: None,
        }],
        upgrade: None,
        notes: vec![],
    });
    ev
}

#[test]
fn hop_timers_table() {
    use wsdoctor_evidence::config::{ConfigKind as K, TimerRole as R};
    // (product, source, role, written s, expected finding, has an edit)
    let table = [
        (
            "aws-alb",
            K::Terraform,
            R::Idle,
            Some(60),
            Some("idle-timeout:Warning"),
            true,
        ),
        (
            "aws-alb",
            K::Terraform,
            R::Idle,
            None,
            Some("idle-timeout:Warning"),
            false,
        ),
        ("aws-alb", K::Terraform, R::Idle, Some(3600), None, false),
        (
            "aws-alb",
            K::AwsCli,
            R::Idle,
            Some(60),
            Some("idle-timeout:Warning"),
            false,
        ),
        (
            "aws-nlb",
            K::Kubernetes,
            R::Idle,
            None,
            Some("idle-timeout:Warning"),
            false,
        ),
        (
            "ingress-nginx",
            K::Kubernetes,
            R::Idle,
            Some(0),
            None,
            false,
        ),
        (
            "gcp-external-alb",
            K::Terraform,
            R::Lifetime,
            None,
            Some("max-lifetime:Warning"),
            false,
        ),
        (
            "gcp-external-alb",
            K::Terraform,
            R::Lifetime,
            Some(30),
            Some("max-lifetime:Warning"),
            true,
        ),
        (
            "gcp-external-alb",
            K::Gcloud,
            R::Lifetime,
            Some(30),
            Some("max-lifetime:Warning"),
            false,
        ),
        (
            "gcp-external-alb",
            K::Terraform,
            R::Lifetime,
            Some(86_400),
            Some("max-lifetime:Info"),
            false,
        ),
    ];
    for (product, source, role, value, expected, edit) in table {
        let ev = hop_config(product, source, role, value, false);
        let findings = diagnose_config(&ev);
        // The hop's own finding: a warning about its timer, or any
        // lifetime finding (an hour-long cap is reported at info level).
        let hit = findings.iter().find(|f| {
            (f.finding.id.as_str() == "idle-timeout" && f.finding.severity != Severity::Info)
                || f.finding.id.as_str() == "max-lifetime"
        });
        let got = hit.map(|f| format!("{}:{:?}", f.finding.id.as_str(), f.finding.severity));
        assert_eq!(
            got.as_deref(),
            expected,
            "{product} {source:?} {value:?}: {:?}",
            ids(&ev)
        );
        assert_eq!(
            hit.is_some_and(|f| !f.edits.is_empty()),
            edit,
            "{product} {source:?} {value:?}"
        );
    }
}

#[test]
fn upgrade_and_envoy_route_timeout_table() {
    use wsdoctor_evidence::config::{ConfigKind as K, TimerRole as R, UpgradeSetting};
    // (websocket intent, upgrade enabled, route timeout s, expected)
    let table = [
        (true, false, Some(0), vec!["upgrade-not-forwarded:Error"]),
        (false, false, Some(0), vec!["upgrade-not-forwarded:Warning"]),
        (true, true, Some(0), vec![]),
        (true, true, None, vec!["max-lifetime:Warning"]),
        (false, true, Some(30), vec!["max-lifetime:Info"]),
    ];
    for (ws, enabled, timeout, expected) in table {
        let mut ev = hop_config("envoy", K::Envoy, R::Request, timeout, ws);
        ev.hops[0].upgrade = Some(UpgradeSetting {
            enabled,
            what: "upgrade_configs".into(),
            span: span(1),
            fix: None,
        });
        let got: Vec<String> = ids(&ev)
            .into_iter()
            .filter(|i| i.starts_with("upgrade") || i.starts_with("max-lifetime"))
            .collect();
        assert_eq!(
            got, expected,
            "ws={ws} enabled={enabled} timeout={timeout:?}"
        );
    }
}

/// `location PATH { proxy_pass UPSTREAM; }` with no WebSocket lines.
fn plain_route(path: &str, upstream: &str, line: u32) -> NginxRoute {
    NginxRoute {
        location: Some(path.into()),
        block: span(line),
        proxy_pass: setting(upstream.to_owned(), upstream, line + 1),
        http_version: None,
        read_timeout: None,
        server: Some(span(3)),
        ..route(vec![])
    }
}

#[test]
fn fix_for_the_classic_broken_config_table() {
    // (what, routes, edits expected, a note naming the choices expected)
    let cases: Vec<(&str, Vec<NginxRoute>, bool, bool)> = vec![
        (
            "one proxied location: it is the WebSocket one",
            vec![plain_route("/", "http://app", 5)],
            true,
            false,
        ),
        (
            "two plain locations: ambiguous, said on stderr",
            vec![
                plain_route("/", "http://app", 5),
                plain_route("/api/", "http://api", 9),
            ],
            false,
            true,
        ),
        (
            "a location whose path names WebSockets, among others",
            vec![
                plain_route("/", "http://app", 5),
                plain_route("/graphql", "http://api", 9),
            ],
            true,
            false,
        ),
        (
            "an upstream that names them",
            vec![
                plain_route("/", "http://app", 5),
                plain_route("/live-updates/", "http://cable", 9),
            ],
            true,
            false,
        ),
    ];
    for (what, routes, want_edits, want_note) in cases {
        let mut ev = with_route(routes[0].clone());
        ev.nginx.routes = routes;
        let findings = diagnose_config(&ev);
        let lines: Vec<String> = findings
            .iter()
            .flat_map(|f| &f.edits)
            .flat_map(|e| e.lines.clone())
            .collect();
        let text = lines.join("\n");
        if want_edits {
            for needed in [
                "map $http_upgrade $connection_upgrade {",
                "proxy_http_version 1.1;",
                "proxy_set_header Upgrade $http_upgrade;",
                "proxy_set_header Connection $connection_upgrade;",
            ] {
                assert!(text.contains(needed), "{what}: no `{needed}` in\n{text}");
            }
        } else {
            assert!(lines.is_empty(), "{what}: {text}");
        }
        let note = findings.iter().find_map(|f| f.fix_note.clone());
        assert_eq!(note.is_some(), want_note, "{what}: {note:?}");
        if let Some(note) = note {
            assert!(
                note.contains("location / → http://app (app.conf:6)")
                    && note.contains("location /api/ → http://api (app.conf:10)"),
                "{note}"
            );
        }
    }
}
