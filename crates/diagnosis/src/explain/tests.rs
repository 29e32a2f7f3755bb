#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

#[test]
fn close_codes() {
    // (input, title starts with, related cause, text somewhere in the explanation)
    let table = [
        ("1006", "1006 Abnormal Closure", "abnormal-close", "FIN"),
        ("1000", "1000 Normal Closure", "", "Normal"),
        ("1001", "1001 Going Away", "going-away", "Jetty"),
        (
            " 1011 ",
            "1011 Internal Error",
            "local-keepalive-timeout",
            "keepalive ping timeout",
        ),
        ("1015", "1015 TLS Handshake", "tls-failure", "never sent"),
        ("3003", "3003 Forbidden", "policy-close", "403"),
        (
            "4001",
            "4001: private-use code (4000–4999)",
            "policy-close",
            "server's code",
        ),
        (
            "3500",
            "3500: library/framework code",
            "policy-close",
            "IANA",
        ),
        ("2000", "2000: unassigned code (1000–2999)", "", "buggy"),
    ];
    for (input, title, related, text) in table {
        let e = explain(input).unwrap();
        assert!(e.title.starts_with(title), "{input}: {}", e.title);
        if !related.is_empty() {
            assert!(
                e.related.iter().any(|r| r == related),
                "{input}: {:?}",
                e.related
            );
        }
        let all = serde_json::to_string(&e).unwrap();
        assert!(all.contains(text), "{input}: no {text:?} in {all}");
        assert!(
            !e.meaning.is_empty() && !e.sources.is_empty() && !e.next_check.is_empty(),
            "{input}"
        );
    }
}

#[test]
fn abnormal_closure_carries_the_subcauses() {
    let e = explain("1006").unwrap();
    let ids: Vec<_> = e.subcauses.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids[..3],
        ["tcp_fin_no_close_frame", "tcp_rst", "silent_half_open"]
    );
    assert!(e.how_to_tell_apart.len() > e.subcauses.len());
    assert!(e.sources.iter().any(|s| s.contains("rfc6455")));
    assert_eq!(
        e.on_wire.as_deref(),
        Some("never sent on the wire: the client library or browser reports it locally")
    );
    assert_eq!(e.topic, Topic::CloseCode(1006));
}

#[test]
fn cause_ids() {
    let e = explain("idle-timeout").unwrap();
    assert_eq!(e.topic, Topic::Cause(CauseId::IdleTimeout));
    assert!(
        e.root_causes[0].contains("nginx/AWS ALB 60 s"),
        "{:?}",
        e.root_causes
    );
    assert!(e.next_check.iter().any(|l| l.contains("wsdoctor idle")));
    assert!(explain("Abnormal-Close")
        .unwrap()
        .related
        .contains(&"1006".to_owned()));
}

#[test]
fn every_cause_id_is_explained() {
    // The const table must cover the whole vocabulary, once each.
    let ids: Vec<_> = causes::CAUSES.iter().map(|c| c.id).collect();
    for id in &ids {
        assert_eq!(ids.iter().filter(|x| *x == id).count(), 1, "{id:?} twice");
        assert!(explain(id.as_str()).is_ok(), "{id:?}");
    }
    assert_eq!(
        ids.len(),
        31,
        "a cause id was added to finding.rs but not here"
    );
}

#[test]
fn helpful_errors() {
    let table = [
        ("99999", "'99999' is not a WebSocket close code (they are 1000–4999)"),
        ("999", "'999' is not a WebSocket close code (they are 1000–4999)"),
        ("5000", "'5000' is not a WebSocket close code (they are 1000–4999)"),
        ("", "nothing to explain: give a close code (1006, 4001), a cause id (idle-timeout) or a product (aws-alb)"),
        ("idle-timout", "'idle-timout' is not a close code (1000–4999), a cause id or a product wsdoctor knows; did you mean idle-timeout?"),
        ("banana", "'banana' is not a close code (1000–4999), a cause id or a product wsdoctor knows; try 1006, 4001, idle-timeout or aws-alb"),
        ("-1", "'-1' is not a close code (1000–4999), a cause id or a product wsdoctor knows; try 1006, 4001, idle-timeout or aws-alb"),
        ("\u{1b}[31m", "'\\u{1b}[31m' is not a close code (1000–4999), a cause id or a product wsdoctor knows; try 1006, 4001, idle-timeout or aws-alb"),
    ];
    for (input, message) in table {
        assert_eq!(
            explain(input).unwrap_err().to_string(),
            message,
            "{input:?}"
        );
    }
}

#[test]
fn every_kb_intermediary_and_every_cause_id_has_an_explanation() {
    for i in crate::kb::kb().intermediaries() {
        let e = explain(&i.id).unwrap_or_else(|err| panic!("{}: {err}", i.id));
        assert!(!e.root_causes.is_empty(), "{}", i.id);
        assert!(!e.sources.is_empty(), "{}: facts need sources", i.id);
        let kind = format!("({})", i.kind);
        assert_eq!(e.meaning.matches(&kind).count(), 1, "{}", e.meaning);
    }
    for row in super::causes::CAUSES {
        let e = explain(row.id.as_str()).unwrap_or_else(|err| panic!("{}: {err}", row.id.as_str()));
        assert!(!e.meaning.is_empty());
    }
    let alb = explain("aws-alb").unwrap();
    assert!(
        alb.root_causes[0].contains("60 s") && alb.root_causes[0].contains("1–4000"),
        "{:?}",
        alb.root_causes
    );
    assert!(alb
        .fix_snippet
        .unwrap()
        .contains("idle_timeout.timeout_seconds"));
    assert!(
        matches!(explain("aws-abl"), Err(ExplainError::Unknown { hint, .. }) if hint.contains("aws-alb"))
    );
}

/// `explain <product>` states what the kb says and names where each fact
/// comes from: every `*_source` of the entry is among the sources shown.
#[test]
fn every_product_explanation_names_all_its_sources() {
    let doc: toml::Table = toml::from_str(crate::kb::INTERMEDIARIES_TOML).unwrap();
    for (id, entry) in doc["intermediary"].as_table().unwrap() {
        let e = explain(id).unwrap_or_else(|err| panic!("{id}: {err}"));
        for (key, value) in entry.as_table().unwrap() {
            if let (true, Some(source)) = (key.ends_with("_source"), value.as_str()) {
                assert!(
                    e.sources.iter().any(|s| s == source),
                    "{id}: {key} not among the sources shown: {:?}",
                    e.sources
                );
            }
        }
    }
}

/// The platforms of issue 21: what `explain` says of each, and a source it
/// names (the page read on 2026-12-06, or the absence it records).
#[test]
fn platform_explanations() {
    #[rustfmt::skip] // (asked as, kb id, text in the facts, text in a source)
    let table: &[(&str, &str, &str, &str)] = &[
        ("cloudflare", "cloudflare", "100 s (also given: 120 s)", "connection-limits/index.md"),
        ("cloudflare", "cloudflare", "8 hours", "cloudflare-one/policies/gateway/proxy"),
        ("cloudflare", "cloudflare", "restart servers", "network/websockets"),
        ("front-door", "azure-front-door", "4 hours", "docs.azure.cn/zh-cn/frontdoor"),
        ("azure-app-gateway", "azure-app-gateway", "20 s (also given: 30 s)", "ingress-controller-annotations"),
        ("agic", "azure-agic", "Maximum connection lifetime: 30 s", "ingress-controller-annotations"),
        ("app-service", "azure-app-service", "", "gowebsockettry"),
        ("container-apps", "azure-container-apps", "240 s", "container-apps/network-proxy"),
        ("cloud-run", "gcp-cloud-run", "Maximum connection lifetime: 300 s", "run/docs/triggering/websockets"),
        ("gke", "gcp-external-alb", "GCPBackendPolicy", "configure-gateway-resources"),
        ("contour", "contour", "Maximum connection lifetime: 15 s", "projectcontour.io"),
        ("ambassador", "emissary", "3000 ms", "getambassador.io"),
        ("istio", "istio", "drains the old listener", "istio/issues/19664"),
        ("gloo", "gloo", "No WebSocket idle or lifetime default", "docs.solo.io"),
        ("kong", "kong", "Idle timeout: 60 s", "Kong/kong"),
        ("traefik", "traefik", "respondingTimeouts", "traefik/traefik"),
        ("linkerd", "linkerd", "doesn't have any default timeouts", "linkerd2/issues/12964"),
        ("fly.io", "fly-proxy", "Idle timeout: 60 s", "fly.io/docs/reference/services"),
        ("render", "render", "Cloudflare", "docs.render.com"),
        ("vercel", "vercel", "maxDuration", "vercel.com/docs/functions/websockets"),
        ("netlify", "netlify", "counted separately", "docs.netlify.com/build/server/limits"),
        ("railway", "railway", "60 s (also given: 900 s)", "docs.railway.com"),
        ("heroku", "heroku-router", "Idle timeout: 55 s", "devcenter.heroku.com"),
    ];
    for (asked, id, fact, source) in table {
        let e = explain(asked).unwrap_or_else(|err| panic!("{asked}: {err}"));
        assert_eq!(e.topic, Topic::Intermediary(id), "{asked}");
        let facts = format!("{} {}", e.meaning, e.root_causes.join(" "));
        assert!(facts.contains(fact), "{asked}: no {fact:?} in {facts}");
        assert!(
            e.sources.iter().any(|s| s.contains(source)),
            "{asked}: no source with {source:?} in {:?}",
            e.sources
        );
    }
    // The App Service entry says what a user sees when WebSockets are off.
    assert!(explain("app-service").unwrap().meaning.contains("503"));
}

#[test]
fn every_alias_names_a_kb_product() {
    for (alias, target) in super::PRODUCT_ALIASES {
        assert!(
            crate::kb::kb().intermediary(target).is_some(),
            "{alias} -> {target}"
        );
        assert!(
            crate::kb::kb().intermediary(alias).is_none(),
            "{alias} is itself a kb id"
        );
    }
}
