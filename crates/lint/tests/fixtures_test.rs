//! Every fixture through the whole pipeline (read → rules → `--fix`), and
//! every nginx/HAProxy fixture, before and after `--fix`, through the real
//! `nginx -t` / `haproxy -c`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{fixtures, lint, patch, summary};

#[test]
fn broken_nginx_finds_every_planted_mistake_with_its_line() {
    let (_, findings) = lint(&["nginx/broken"], |_| {});
    let s = summary(&findings);
    for expected in [
        // Upgrade set in server, lost in /ws/ because of its own Host line.
        "upgrade-not-forwarded/Error@chat.conf:11",
        // Connection "" in /socket.io/.
        "upgrade-not-forwarded/Error@chat.conf:18",
        // `Upgarde` typo in /live.
        "upgrade-not-forwarded/Error@chat.conf:24",
        // No proxy_http_version in /ws/.
        "upgrade-not-forwarded/Error@chat.conf:12",
        "idle-timeout/Warning@chat.conf:26",
        "mass-disconnect/Warning@nginx.conf:3",
        "load-limit/Info@nginx.conf:6",
    ] {
        assert!(
            s.contains(&expected.to_owned()),
            "{expected} missing from {s:#?}"
        );
    }
    assert!(!s.iter().any(|f| f.starts_with("healthy")));
    let typo = findings
        .iter()
        .find(|f| f.label.as_deref() == Some("did you mean `Upgrade`?"))
        .unwrap();
    let span = typo.span.as_ref().unwrap();
    assert_eq!((span.line, span.column, span.len), (24, 26, 7));
    assert_eq!(typo.finding.subject.as_deref().unwrap(), span.file_line());
}

#[test]
fn fixed_nginx_is_healthy() {
    let (_, findings) = lint(&["nginx/fixed"], |c| c.app_ping_ms = Some(25_000));
    let worst = findings.iter().map(|f| f.finding.severity).max().unwrap();
    assert_eq!(
        worst,
        wsdoctor_diagnosis::Severity::Info,
        "{:#?}",
        summary(&findings)
    );
    assert!(summary(&findings).iter().any(|f| f.starts_with("healthy")));
}

#[test]
fn ingress_shaped_config_reads_the_map_idiom_and_its_timers() {
    let (ev, findings) = lint(&["nginx/ingress/nginx.conf"], |c| {
        c.app_ping_ms = Some(25_000);
    });
    assert_eq!(ev.nginx.maps.len(), 4);
    let route = ev
        .nginx
        .routes
        .iter()
        .find(|r| r.location.as_deref() == Some("/socket"))
        .unwrap();
    assert_eq!(route.read_timeout.as_ref().unwrap().value, Some(60_000));
    let s = summary(&findings);
    // The heartbeat clears 60 s; the map's `'' ''` is the keepalive idiom.
    assert!(
        !s.iter()
            .any(|f| f.contains("Error") || f.contains("Warning")),
        "{s:#?}"
    );
    // A 55 s heartbeat does not clear 60 s with margin.
    let (_, findings) = lint(&["nginx/ingress/nginx.conf"], |c| {
        c.app_ping_ms = Some(55_000);
    });
    assert!(
        summary(&findings).contains(&"heartbeat-too-slow/Warning@nginx.conf:97".to_owned()),
        "{:#?}",
        summary(&findings)
    );
}

#[test]
fn templates_parse_and_are_reported_not_judged() {
    let (ev, findings) = lint(&["nginx/templated"], |_| {});
    let templated = ev
        .problems
        .iter()
        .filter(|p| p.kind == wsdoctor_evidence::config::ProblemKind::Templated)
        .count();
    assert!(templated >= 8, "{:#?}", ev.problems);
    assert!(
        !ev.problems.iter().any(|p| p.kind.is_error()),
        "{:#?}",
        ev.problems
    );
    // The templated read timeout is unknown, so it is not called 60 s.
    let s = summary(&findings);
    assert!(
        !s.iter().any(|f| f.starts_with("idle-timeout/Warning")),
        "{s:#?}"
    );
    assert_eq!(ev.nginx.routes.len(), 2);
}

#[test]
fn haproxy_without_tunnel_timeout_is_judged_on_client_and_server() {
    let (_, findings) = lint(&["haproxy/broken.cfg"], |c| c.via = vec!["aws-alb".into()]);
    let s = summary(&findings);
    assert!(
        s.contains(&"idle-timeout/Warning@broken.cfg:9".to_owned()),
        "{s:#?}"
    );
    assert!(
        s.contains(&"mass-disconnect/Warning@broken.cfg:3".to_owned()),
        "{s:#?}"
    );
    assert!(
        s.iter().any(|f| f == "idle-timeout/Warning"),
        "the ALB from --via: {s:#?}"
    );
    let (_, findings) = lint(&["haproxy/fixed.cfg"], |c| c.app_ping_ms = Some(30_000));
    let s = summary(&findings);
    assert!(s.iter().any(|f| f.starts_with("healthy")), "{s:#?}");
}

/// Copies a fixture tree into a temp dir, keeping its relative path so the
/// diff's `a/…` paths apply there with `patch -p1`.
fn apply_fix(rel: &str) -> (tempfile::TempDir, String) {
    let (ev, findings) = lint(&[rel], |_| {});
    let edits: Vec<_> = findings.iter().flat_map(|f| f.edits.clone()).collect();
    let diff = wsdoctor_lint::unified_diff(&ev, &edits);
    assert!(!diff.is_empty());
    let tmp = tempfile::tempdir().unwrap();
    for file in &ev.files {
        let dest = tmp.path().join(&file.path);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(&file.path),
            &dest,
        )
        .unwrap();
    }
    (tmp, diff)
}

#[test]
fn nginx_fixtures_pass_nginx_t_before_and_after_fix() {
    let Some(nginx) = common::require("nginx") else {
        return;
    };
    for d in ["broken", "fixed", "ingress"] {
        let conf = fixtures().join(format!("nginx/{d}/nginx.conf"));
        common::nginx_t(&nginx, &conf).unwrap_or_else(|e| panic!("{d}: {e}"));
    }
    if common::binary("patch").is_none() && !common::in_ci() {
        return;
    }
    let (tmp, diff) = apply_fix("nginx/broken");
    patch(tmp.path(), &diff);
    let conf = tmp.path().join("tests/fixtures/nginx/broken/nginx.conf");
    common::nginx_t(&nginx, &conf).unwrap_or_else(|e| panic!("after --fix: {e}\n{diff}"));
    // And the fixed config has no error left.
    let ev = wsdoctor_lint::load(&wsdoctor_lint::LintConfig {
        paths: vec![conf],
        ..Default::default()
    })
    .unwrap();
    let left = wsdoctor_diagnosis::rules::config::diagnose_config(&ev);
    assert!(
        !left
            .iter()
            .any(|f| f.finding.severity == wsdoctor_diagnosis::Severity::Error),
        "{:#?}",
        summary(&left)
    );
}

#[test]
fn haproxy_fixtures_pass_haproxy_c_before_and_after_fix() {
    let Some(haproxy) = common::require("haproxy") else {
        return;
    };
    for f in ["broken", "fixed"] {
        common::haproxy_c(&haproxy, &fixtures().join(format!("haproxy/{f}.cfg")))
            .unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    if common::binary("patch").is_none() && !common::in_ci() {
        return;
    }
    let (tmp, diff) = apply_fix("haproxy/broken.cfg");
    patch(tmp.path(), &diff);
    common::haproxy_c(
        &haproxy,
        &tmp.path().join("tests/fixtures/haproxy/broken.cfg"),
    )
    .unwrap_or_else(|e| panic!("after --fix: {e}\n{diff}"));
}

#[test]
fn unreadable_and_unknown_paths_are_errors() {
    let missing = wsdoctor_lint::load(&wsdoctor_lint::LintConfig {
        paths: vec![fixtures().join("nope.conf")],
        ..Default::default()
    });
    assert!(matches!(
        missing,
        Err(wsdoctor_lint::LintError::Unreadable { .. })
    ));
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("x.conf"), "key=value\n").unwrap();
    let unknown = wsdoctor_lint::load(&wsdoctor_lint::LintConfig {
        paths: vec![tmp.path().join("x.conf")],
        ..Default::default()
    });
    assert!(matches!(
        unknown,
        Err(wsdoctor_lint::LintError::UnknownKind { .. })
    ));
}
