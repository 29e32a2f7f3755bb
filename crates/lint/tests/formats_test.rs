//! The formats besides nginx and HAProxy, end to end: Kubernetes
//! manifests, Envoy, Terraform, CloudFormation, AWS CLI and gcloud output,
//! Apache httpd. Each has a broken fixture (every planted mistake found at
//! its line), a fixed one (healthy with a 25 s heartbeat), and `--fix`
//! applied with `patch -p1`, after which the mistakes are gone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{apply_fix, lint, lint_abs, summary};
use wsdoctor_diagnosis::Severity;
use wsdoctor_evidence::config::ProblemKind;

fn assert_has(s: &[String], expected: &[&str]) {
    for e in expected {
        assert!(s.contains(&(*e).to_owned()), "{e} missing from {s:#?}");
    }
}

fn worst(findings: &[wsdoctor_diagnosis::rules::config::ConfigFinding]) -> Severity {
    findings
        .iter()
        .map(|f| f.finding.severity)
        .max()
        .unwrap_or(Severity::Info)
}

/// After `--fix`, the patched copy of `rel` has no warning or error left
/// (with a 25 s heartbeat) and still parses.
fn fix_clears(paths: &[&str], rel_in_tmp: &str) {
    let Some((tmp, diff)) = apply_fix(paths, |_| {}) else {
        return;
    };
    let (ev, findings) = lint_abs(&tmp.path().join(rel_in_tmp), |c| {
        c.app_ping_ms = Some(25_000);
    });
    assert!(
        !ev.problems.iter().any(|p| p.kind.is_error()),
        "{:#?}\n{diff}",
        ev.problems
    );
    assert_eq!(
        worst(&findings),
        Severity::Info,
        "{:#?}\n{diff}",
        summary(&findings)
    );
}

#[test]
fn kubernetes_broken_finds_every_timer_with_its_line() {
    let (ev, findings) = lint(&["kubernetes/broken"], |_| {});
    let s = summary(&findings);
    assert_has(
        &s,
        &[
            // proxy-read-timeout "60" on the chat Ingress: the value itself.
            "idle-timeout/Warning@ingress-nginx.yaml:9",
            // No annotation on notifications: ingress-nginx's 60 s default.
            "idle-timeout/Warning@ingress-nginx.yaml:38",
            // ALB without load-balancer-attributes: 60 s default.
            "idle-timeout/Warning@aws.yaml:4",
            // NLB Service without a listener attribute: 350 s default.
            "idle-timeout/Warning@aws.yaml:26",
            // BackendConfig timeoutSec 30: a lifetime cap.
            "max-lifetime/Warning@gke-list.yaml:11",
            // NGINX Inc's controller without nginx.org/websocket-services.
            "upgrade-not-forwarded/Error@nginx-inc.yaml:6",
            "idle-timeout/Warning@nginx-inc.yaml:9",
        ],
    );
    let chat = findings
        .iter()
        .find(|f| f.span.as_ref().is_some_and(|s| s.line == 9))
        .unwrap();
    let span = chat.span.as_ref().unwrap();
    assert_eq!((span.column, span.len), (53, 4));
    // `${READ_TIMEOUT}` is reported, not judged.
    assert!(ev
        .problems
        .iter()
        .any(|p| p.kind == ProblemKind::Templated && p.span.file.ends_with("envsubst.yaml")));
    assert!(!s.iter().any(|f| f.contains("envsubst")), "{s:#?}");
}

#[test]
fn ingress_without_a_timeout_takes_the_controller_config_map() {
    let (ev, findings) = lint(&["kubernetes/controller"], |_| {});
    // The ConfigMap's read timeout is a default of the Ingress; only its
    // reload drain stays with it.
    assert_eq!(ev.hops.len(), 2, "{:#?}", ev.hops);
    let s = summary(&findings);
    assert_has(
        &s,
        &[
            "idle-timeout/Warning@ingress-nginx.yaml:8",
            // worker-shutdown-timeout 10s: reloads cut WebSockets quickly.
            "mass-disconnect/Warning@ingress-nginx.yaml:10",
        ],
    );
    let f = findings
        .iter()
        .find(|f| f.finding.id.as_str() == "idle-timeout")
        .unwrap();
    assert!(f.finding.title.contains("120.0 s"), "{}", f.finding.title);
    // The fix goes on the Ingress, not into the shared ConfigMap.
    let edit = &f.edits[0];
    assert_eq!(edit.line, 16, "{edit:?}");
}

#[test]
fn kubernetes_fixed_is_healthy_and_helm_is_skipped() {
    let (_, findings) = lint(&["kubernetes/fixed"], |c| c.app_ping_ms = Some(25_000));
    assert_eq!(
        worst(&findings),
        Severity::Info,
        "{:#?}",
        summary(&findings)
    );
    let (ev, findings) = lint(&["kubernetes/helm"], |_| {});
    assert_eq!(ev.problems.len(), 1, "{:#?}", ev.problems);
    assert_eq!(ev.problems[0].kind, ProblemKind::Templated);
    assert_eq!(
        (ev.problems[0].span.line, ev.problems[0].span.column),
        (4, 9)
    );
    assert!(ev.hops.is_empty());
    assert!(
        !summary(&findings).iter().any(|f| f.starts_with("healthy")),
        "a skipped template is not a healthy config"
    );
}

#[test]
fn kubernetes_fix_applies_and_clears_the_timers() {
    fix_clears(
        &["kubernetes/broken/ingress-nginx.yaml"],
        "tests/fixtures/kubernetes/broken/ingress-nginx.yaml",
    );
    fix_clears(
        &["kubernetes/broken/aws.yaml"],
        "tests/fixtures/kubernetes/broken/aws.yaml",
    );
    fix_clears(
        &["kubernetes/broken/gke-list.yaml"],
        "tests/fixtures/kubernetes/broken/gke-list.yaml",
    );
    fix_clears(
        &["kubernetes/broken/nginx-inc.yaml"],
        "tests/fixtures/kubernetes/broken/nginx-inc.yaml",
    );
}

#[test]
fn envoy_front_proxy_without_upgrade_configs() {
    let (_, findings) = lint(&["envoy/broken"], |_| {});
    let s = summary(&findings);
    assert_has(
        &s,
        &[
            // No upgrade_configs: pointed at the WebSocket route's match.
            "upgrade-not-forwarded/Error@front-envoy.yaml:32",
            // stream_idle_timeout 60s on the HCM applies to /ws.
            "idle-timeout/Warning@front-envoy.yaml:21",
            // No route timeout: 15 s default.
            "max-lifetime/Warning@front-envoy.yaml:32",
        ],
    );
    // The / route (no WebSocket) is not judged.
    assert!(!s.iter().any(|f| f.ends_with(":37")), "{s:#?}");
    let (_, findings) = lint(&["envoy/fixed"], |c| c.app_ping_ms = Some(25_000));
    assert_eq!(
        worst(&findings),
        Severity::Info,
        "{:#?}",
        summary(&findings)
    );
}

#[test]
fn envoy_fix_applies_and_clears_everything() {
    fix_clears(
        &["envoy/broken/front-envoy.yaml"],
        "tests/fixtures/envoy/broken/front-envoy.yaml",
    );
}

#[test]
fn envoy_json_and_rds_are_read_without_yaml_edits() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("envoy.json");
    std::fs::write(
        &path,
        r#"{"static_resources": {"listeners": [{"name": "l", "filter_chains": [{"filters": [{
  "name": "envoy.filters.network.http_connection_manager",
  "typed_config": {"stat_prefix": "x", "rds": {"route_config_name": "r"},
    "stream_idle_timeout": "30s", "http_filters": []}}]}]}]}}"#,
    )
    .unwrap();
    let (ev, findings) = lint_abs(&path, |_| {});
    assert_eq!(ev.hops.len(), 1);
    let idle = findings
        .iter()
        .find(|f| {
            f.finding.id.as_str() == "idle-timeout" && f.finding.severity == Severity::Warning
        })
        .unwrap();
    assert_eq!(idle.span.as_ref().unwrap().line, 4);
    // JSON gets an in-place value change, never inserted YAML lines.
    assert!(findings
        .iter()
        .flat_map(|f| &f.edits)
        .all(|e| e.action == wsdoctor_evidence::config::EditAction::Replace));
}

#[test]
fn terraform_alb_module_resolves_variables() {
    let (ev, findings) = lint(&["terraform/broken"], |_| {});
    let s = summary(&findings);
    assert_has(
        &s,
        &[
            // aws_lb.chat: idle_timeout = var.idle_timeout, default 60.
            "idle-timeout/Warning@variables.tf:9",
            // The TCP listener of the NLB: 350 s default.
            "idle-timeout/Warning@main.tf:34",
            // The backend service: timeout_sec 30 s default, a lifetime cap.
            "max-lifetime/Warning@gcp.tf:1",
        ],
    );
    // The HTTPS listener of the ALB and the NLB itself are not hops.
    assert_eq!(ev.hops.len(), 3, "{:#?}", ev.hops);
    let (_, findings) = lint(&["terraform/fixed"], |c| c.app_ping_ms = Some(25_000));
    assert_eq!(
        worst(&findings),
        Severity::Info,
        "{:#?}",
        summary(&findings)
    );
}

#[test]
fn terraform_fixtures_parse_before_and_after_fix() {
    let terraform = common::binary("terraform");
    if let Some(t) = &terraform {
        for d in ["broken", "fixed"] {
            for f in ["main.tf", "variables.tf", "gcp.tf"] {
                let path = common::fixtures().join(format!("terraform/{d}/{f}"));
                common::terraform_parses(t, &path).unwrap_or_else(|e| panic!("{d}/{f}: {e}"));
            }
        }
    }
    let Some((tmp, diff)) = apply_fix(&["terraform/broken"], |_| {}) else {
        return;
    };
    let dir = tmp.path().join("tests/fixtures/terraform/broken");
    if let Some(t) = &terraform {
        for f in ["main.tf", "variables.tf", "gcp.tf"] {
            common::terraform_parses(t, &dir.join(f))
                .unwrap_or_else(|e| panic!("{f} after --fix: {e}\n{diff}"));
        }
    }
    let (_, findings) = lint_abs(&dir, |c| c.app_ping_ms = Some(25_000));
    assert_eq!(
        worst(&findings),
        Severity::Info,
        "{:#?}\n{diff}",
        summary(&findings)
    );
}

/// Issue 21: the manifest forms (AGIC's request-timeout annotation,
/// Contour HTTPProxy timeoutPolicy, Istio DestinationRule idleTimeout), and
/// annotations the serving controller ignores, named with their line.
#[test]
fn kubernetes_platform_settings() {
    let (_, findings) = lint(&["kubernetes/platforms/broken"], |_| {});
    let s = summary(&findings);
    assert_has(
        &s,
        &[
            // AGIC without request-timeout: 30 s default, at the Ingress name.
            "max-lifetime/Warning@agic.yaml:5",
            // Contour route /ws without timeoutPolicy.response: Envoy's 15 s.
            "max-lifetime/Warning@contour.yaml:12",
            // Contour route /live: response: 30s.
            "max-lifetime/Warning@contour.yaml:20",
            // Istio tcp.idleTimeout: 30s.
            "idle-timeout/Warning@istio.yaml:10",
            // GKE Ingress: the backend service's 30 s.
            "max-lifetime/Warning@gce.yaml:6",
            // GKE Gateway: a GCPBackendPolicy without spec.default.timeoutSec.
            "max-lifetime/Warning@gke-gateway.yaml:6",
        ],
    );
    let at = |file: &str, line: u32| {
        findings
            .iter()
            .find(|f| {
                f.span
                    .as_ref()
                    .is_some_and(|sp| sp.file.ends_with(file) && sp.line == line)
            })
            .unwrap_or_else(|| panic!("nothing at {file}:{line}: {s:#?}"))
    };
    let span = |file: &str, line: u32| {
        let sp = at(file, line).span.clone().unwrap();
        (sp.column, sp.len)
    };
    assert_eq!(span("contour.yaml", 20), (19, 3), "`30s`");
    assert_eq!(span("istio.yaml", 10), (22, 3), "`30s`");
    assert_eq!(span("contour.yaml", 12), (7, 16), "`enableWebsockets`");
    assert!(at("contour.yaml", 12).finding.title.contains("15.0 s"));
    // nginx annotations on Ingresses that nginx does not serve.
    for (file, line, controller) in [
        ("gce.yaml", 6, "GKE Ingress"),
        ("agic.yaml", 5, "Application Gateway Ingress Controller"),
    ] {
        let evidence = at(file, line).finding.evidence.join("\n");
        assert!(
            evidence.contains("`nginx.ingress.kubernetes.io/proxy-read-timeout` (line 8) is written for ingress-nginx")
                && evidence.contains(controller),
            "{file}: {evidence}"
        );
    }

    let (_, findings) = lint(&["kubernetes/platforms/fixed"], |c| {
        c.app_ping_ms = Some(25_000);
    });
    assert_eq!(
        worst(&findings),
        Severity::Info,
        "{:#?}",
        summary(&findings)
    );
    let Some((tmp, diff)) = apply_fix(&["kubernetes/platforms/broken"], |_| {}) else {
        return;
    };
    assert!(
        diff.contains("+      timeoutPolicy:\n+        response: 3600s")
            && diff.contains("+    timeoutSec: 3600"),
        "{diff}"
    );
    let dir = tmp
        .path()
        .join("tests/fixtures/kubernetes/platforms/broken");
    let (_, findings) = lint_abs(&dir, |c| c.app_ping_ms = Some(25_000));
    // What --fix cannot do: the GKE Ingress needs a BackendConfig.
    let left: Vec<String> = summary(&findings)
        .into_iter()
        .filter(|f| f.contains("Warning") || f.contains("Error"))
        .collect();
    assert_eq!(left, ["max-lifetime/Warning@gce.yaml:6"], "{diff}");
}

/// Issue 21, Kubernetes drains: a preStop sleep that uses up the grace
/// period, and an ingress-nginx controller killed before its workers'
/// `worker-shutdown-timeout` ends; each at the value, fixed by raising
/// `terminationGracePeriodSeconds` (inserted where it is not written).
#[test]
fn kubernetes_drains() {
    let (_, findings) = lint(&["kubernetes/drains/broken"], |_| {});
    let s = summary(&findings);
    assert_has(
        &s,
        &[
            // "sleep 30" against the default 30 s: the `30` inside the string.
            "mass-disconnect/Warning@chat.yaml:23",
            // preStop.sleep.seconds 20 against 25.
            "mass-disconnect/Warning@chat.yaml:46",
            // The controller: 60 s grace, 240s worker-shutdown-timeout.
            "mass-disconnect/Warning@controller.yaml:23",
        ],
    );
    let at = |file: &str, line: u32| {
        let f = findings
            .iter()
            .find(|f| {
                f.finding.severity == Severity::Warning
                    && f.span
                        .as_ref()
                        .is_some_and(|sp| sp.file.ends_with(file) && sp.line == line)
            })
            .unwrap_or_else(|| panic!("nothing at {file}:{line}: {s:#?}"));
        let sp = f.span.clone().unwrap();
        (sp.column, sp.len, f.finding.title.clone())
    };
    let (column, len, title) = at("chat.yaml", 23);
    assert_eq!((column, len), (51, 2), "the 30 of \"sleep 30\": {title}");
    assert_eq!(at("chat.yaml", 46).0, 26);
    let (column, len, title) = at("controller.yaml", 23);
    assert_eq!((column, len), (38, 2));
    assert!(
        title.contains("240.0 s") && title.contains("60.0 s"),
        "{title}"
    );

    let (_, findings) = lint(&["kubernetes/drains/fixed"], |_| {});
    assert_eq!(
        worst(&findings),
        Severity::Info,
        "{:#?}",
        summary(&findings)
    );
    let Some((tmp, diff)) = apply_fix(&["kubernetes/drains/broken"], |_| {}) else {
        return;
    };
    assert!(
        diff.contains("+      terminationGracePeriodSeconds: 60"),
        "{diff}"
    );
    assert!(
        diff.contains("+      terminationGracePeriodSeconds: 270"),
        "{diff}"
    );
    let dir = tmp.path().join("tests/fixtures/kubernetes/drains/broken");
    let (_, findings) = lint_abs(&dir, |_| {});
    assert_eq!(
        worst(&findings),
        Severity::Info,
        "{:#?}\n{diff}",
        summary(&findings)
    );
}

/// Issue 21: the Terraform forms of the platform settings that cut or
/// refuse WebSockets, with the exact place of each value, and a `--fix`
/// that real `terraform fmt` accepts and that leaves nothing to report.
#[test]
fn terraform_platform_settings() {
    let (ev, findings) = lint(&["terraform/platforms/broken"], |_| {});
    let s = summary(&findings);
    assert_has(
        &s,
        &[
            // App Service without websockets_enabled: the site_config block.
            "upgrade-not-forwarded/Error@azure.tf:30",
            // websockets_enabled = false: the value.
            "upgrade-not-forwarded/Error@azure.tf:42",
            // App Gateway backend_http_settings "ws": request_timeout 30.
            "max-lifetime/Warning@azure.tf:12",
            // Cloud Run timeout = "300s", and one without a timeout (300 s default).
            "max-lifetime/Warning@cloudrun.tf:6",
            "max-lifetime/Warning@cloudrun.tf:13",
        ],
    );
    // The "api" backend settings name no WebSocket while "ws" does: not judged.
    assert!(
        !s.contains(&"max-lifetime/Warning@azure.tf:48".to_owned()),
        "{s:#?}"
    );
    let span_of = |line: u32| {
        let f = findings
            .iter()
            .find(|f| {
                f.span
                    .as_ref()
                    .is_some_and(|sp| sp.line == line && sp.file.ends_with(".tf"))
            })
            .unwrap_or_else(|| panic!("no finding at line {line}: {s:#?}"));
        let sp = f.span.as_ref().unwrap();
        (sp.line, sp.column, sp.len)
    };
    // `30` in `request_timeout       = 30`; `false`; `site_config`.
    assert_eq!(span_of(12), (12, 29, 2));
    assert_eq!(span_of(42), (42, 26, 5));
    assert_eq!(span_of(30), (30, 3, 11));
    // `"300s"`, quotes included, so the edit keeps them.
    let run = findings
        .iter()
        .find(|f| {
            f.span
                .as_ref()
                .is_some_and(|sp| sp.file.ends_with("cloudrun.tf") && sp.line == 6)
        })
        .unwrap();
    let sp = run.span.as_ref().unwrap();
    assert_eq!((sp.column, sp.len), (15, 6));
    assert!(
        run.finding.title.contains("300.0 s"),
        "{}",
        run.finding.title
    );
    let gw = ev
        .hops
        .iter()
        .filter(|h| h.product == "azure-app-gateway")
        .count();
    assert_eq!(gw, 2, "one hop per backend_http_settings");

    let (_, findings) = lint(&["terraform/platforms/fixed"], |c| {
        c.app_ping_ms = Some(25_000);
    });
    assert_eq!(
        worst(&findings),
        Severity::Info,
        "{:#?}",
        summary(&findings)
    );

    let terraform = common::binary("terraform");
    let Some((tmp, diff)) = apply_fix(&["terraform/platforms/broken"], |_| {}) else {
        return;
    };
    assert!(diff.contains("+    websockets_enabled = true"), "{diff}");
    assert!(diff.contains("timeout = \"3600s\""), "{diff}");
    let dir = tmp.path().join("tests/fixtures/terraform/platforms/broken");
    match &terraform {
        Some(t) => {
            for f in ["azure.tf", "cloudrun.tf"] {
                common::terraform_parses(t, &dir.join(f))
                    .unwrap_or_else(|e| panic!("{f} after --fix: {e}\n{diff}"));
            }
        }
        None => assert!(!common::in_ci(), "terraform is not installed but CI is set"),
    }
    let (_, findings) = lint_abs(&dir, |c| c.app_ping_ms = Some(25_000));
    assert_eq!(
        worst(&findings),
        Severity::Info,
        "{:#?}\n{diff}",
        summary(&findings)
    );
}

#[test]
fn cloudformation_and_cli_output() {
    let (ev, findings) = lint(&["cloud/broken"], |_| {});
    let s = summary(&findings);
    assert_has(
        &s,
        &[
            // ChatLoadBalancer: the attribute's Value "60".
            "idle-timeout/Warning@stack.yaml:20",
            // AdminLoadBalancer: !Ref IdleTimeout → the parameter's Default 60.
            "idle-timeout/Warning@stack.yaml:8",
            // The TCP listener without ListenerAttributes: 350 s.
            "idle-timeout/Warning@stack.yaml:29",
            // Classic ELB ConnectionSettings.IdleTimeout 60.
            "idle-timeout/Warning@stack.yaml:47",
            // JSON template: 30 s.
            "idle-timeout/Warning@alb-stack.json:9",
            // aws elbv2 describe-load-balancer-attributes.
            "idle-timeout/Warning@alb-attributes.json:9",
            // gcloud backend service: timeoutSec 30 is a lifetime cap.
            "max-lifetime/Warning@backend-service.json:12",
        ],
    );
    assert!(
        !ev.problems
            .iter()
            .any(|p| p.kind.is_error() || p.kind == ProblemKind::InvalidValue),
        "{:#?}",
        ev.problems
    );
    // CLI output gets the command, not a patch.
    for f in findings.iter().filter(|f| {
        f.span.as_ref().is_some_and(|s| {
            s.file.ends_with("alb-attributes.json") || s.file.ends_with("backend-service.json")
        })
    }) {
        assert!(f.edits.is_empty(), "{:?}", f.edits);
    }
    let alb = findings
        .iter()
        .find(|f| {
            f.span
                .as_ref()
                .is_some_and(|s| s.file.ends_with("alb-attributes.json"))
                && f.finding.severity == Severity::Warning
        })
        .unwrap();
    assert!(alb
        .finding
        .fix
        .iter()
        .any(|x| x.text.contains("modify-load-balancer-attributes")));
    let (_, findings) = lint(&["cloud/fixed"], |c| c.app_ping_ms = Some(25_000));
    assert_eq!(
        worst(&findings),
        Severity::Info,
        "{:#?}",
        summary(&findings)
    );
}

#[test]
fn cloudformation_fix_applies_and_clears_the_timers() {
    fix_clears(
        &["cloud/broken/stack.yaml"],
        "tests/fixtures/cloud/broken/stack.yaml",
    );
    fix_clears(
        &["cloud/broken/alb-stack.json"],
        "tests/fixtures/cloud/broken/alb-stack.json",
    );
}

#[test]
fn one_timer_stack_across_formats() {
    // nginx's proxy_read_timeout next to the ALB from Terraform and the
    // Envoy route: one stack, judged against one heartbeat.
    let (_, findings) = lint(&["nginx/fixed", "terraform/broken", "envoy/fixed"], |c| {
        c.app_ping_ms = Some(55_000);
    });
    let s = summary(&findings);
    assert_has(&s, &["heartbeat-too-slow/Warning@variables.tf:9"]);
    let stack = findings
        .iter()
        .find(|f| {
            f.finding
                .title
                .starts_with("The 55.0 s heartbeat does not clear")
        })
        .unwrap();
    let lines = stack.finding.evidence.join("\n");
    for hop in [
        "aws_lb.chat",
        "nginx location",
        "Envoy listener edge",
        "aws_lb_listener.mqtt_ws",
    ] {
        assert!(
            lines.contains(hop),
            "{hop} missing from the stack:\n{lines}"
        );
    }
}

#[test]
fn apache_upgrade_and_tunnel_timeout() {
    let (_, findings) = lint(&["apache/broken"], |_| {});
    let s = summary(&findings);
    assert_has(
        &s,
        &[
            // ProxyPass /ws/ to http:// without upgrade=websocket.
            "upgrade-not-forwarded/Error@chat.conf:10",
            // max(ProxyTimeout 30, Timeout 60) = 60: Timeout governs.
            "idle-timeout/Warning@chat.conf:2",
            // The wstunnel RewriteRule: Timeout's 60 s default.
            "idle-timeout/Warning@legacy.conf:9",
        ],
    );
    // The / ProxyPass is not a WebSocket route.
    assert!(!s.iter().any(|f| f.ends_with("chat.conf:13")), "{s:#?}");
    let legacy = findings
        .iter()
        .find(|f| {
            f.span
                .as_ref()
                .is_some_and(|s| s.file.ends_with("legacy.conf"))
        })
        .unwrap();
    assert!(
        legacy
            .finding
            .evidence
            .iter()
            .any(|e| e.contains("ProxyWebsocketIdleTimeout 300 applies only")),
        "{:#?}",
        legacy.finding.evidence
    );
    let (_, findings) = lint(&["apache/fixed"], |c| c.app_ping_ms = Some(25_000));
    assert_eq!(
        worst(&findings),
        Severity::Info,
        "{:#?}",
        summary(&findings)
    );
}

#[test]
fn apache_fix_writes_upgrade_and_timeout_on_one_line() {
    fix_clears(
        &["apache/broken/chat.conf"],
        "tests/fixtures/apache/broken/chat.conf",
    );
    let Some((tmp, _)) = apply_fix(&["apache/broken/chat.conf"], |_| {}) else {
        return;
    };
    let fixed =
        std::fs::read_to_string(tmp.path().join("tests/fixtures/apache/broken/chat.conf")).unwrap();
    assert!(
        fixed.contains(
            "    ProxyPass /ws/ http://127.0.0.1:8765/ws/ upgrade=websocket timeout=3600\n"
        ),
        "{fixed}"
    );
}

#[test]
fn caddy_reloads_and_stream_timeout() {
    let (_, findings) = lint(&["caddy/broken"], |_| {});
    let s = summary(&findings);
    assert_has(
        &s,
        &[
            // No stream_close_delay: every reload sends 1001 to every WebSocket.
            "mass-disconnect/Warning@Caddyfile:12",
            "mass-disconnect/Warning@Caddyfile:17",
            // stream_timeout 10m: a lifetime cap.
            "max-lifetime/Warning@Caddyfile:13",
        ],
    );
    // The plain web upstream is not a WebSocket route.
    assert!(!s.iter().any(|f| f.ends_with("Caddyfile:20")), "{s:#?}");
    let (_, findings) = lint(&["caddy/fixed"], |c| c.app_ping_ms = Some(25_000));
    assert_eq!(
        worst(&findings),
        Severity::Info,
        "{:#?}",
        summary(&findings)
    );
}

#[test]
fn caddy_fix_applies_and_clears_everything() {
    fix_clears(
        &["caddy/broken/Caddyfile"],
        "tests/fixtures/caddy/broken/Caddyfile",
    );
}

#[test]
fn heartbeat_from_application_code_is_judged_against_the_timers() {
    // Socket.IO pingInterval 60000 ms against an ALB's 60 s default.
    let (ev, findings) = lint(&["app/server.js", "kubernetes/broken/aws.yaml"], |_| {});
    assert_eq!(
        ev.hops.iter().filter(|h| h.product == "socketio").count(),
        1
    );
    let s = summary(&findings);
    assert_has(&s, &["heartbeat-too-slow/Error@aws.yaml:4"]);
    let f = findings
        .iter()
        .find(|f| f.finding.id.as_str() == "heartbeat-too-slow")
        .unwrap();
    assert!(
        f.finding
            .evidence
            .iter()
            .any(|e| e.contains("60000 at") && e.contains("server.js:7")),
        "{:#?}",
        f.finding.evidence
    );
    // python-websockets every 20 s clears the same path; --app-ping wins.
    let (_, findings) = lint(&["app/ws_server.py", "kubernetes/broken/aws.yaml"], |_| {});
    assert!(
        !summary(&findings)
            .iter()
            .any(|f| f.starts_with("heartbeat-too-slow") || f.starts_with("idle-timeout/Warning")),
        "{:#?}",
        summary(&findings)
    );
    let (_, findings) = lint(&["app/ws_server.py", "kubernetes/broken/aws.yaml"], |c| {
        c.app_ping_ms = Some(90_000);
    });
    assert!(summary(&findings)
        .iter()
        .any(|f| f.starts_with("heartbeat-too-slow/Error")));
}
