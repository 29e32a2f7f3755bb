#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::rules::{code_rules, kb_rules, parse_entry};
use super::signal::Signal;
use super::*;
use crate::testkit::handshake;

struct Case {
    name: &'static str,
    status: u16,
    headers: &'static [(&'static str, &'static str)],
    body: Option<&'static str>,
    /// Expected top candidate (`None`: nothing at or above the blame threshold).
    top: Option<&'static str>,
    /// Text the top candidate's evidence must contain.
    evidence: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "nginx by Server header",
        status: 400,
        headers: &[("Server", "nginx/1.24.0"), ("Content-Type", "text/html")],
        body: None,
        top: Some("nginx"),
        evidence: "Server: nginx/1.24.0",
    },
    Case {
        name: "nginx by error page alone",
        status: 502,
        headers: &[("Content-Type", "text/html")],
        body: Some("<html><head><title>502 Bad Gateway</title></head>\n<body>\n<center><h1>502 Bad Gateway</h1></center>\n<hr><center>nginx/1.25.3</center>\n</body></html>"),
        top: Some("nginx"),
        evidence: "<center>nginx",
    },
    Case {
        name: "AWS ALB by Server",
        status: 503,
        headers: &[("Server", "awselb/2.0"), ("Content-Length", "162")],
        body: Some("<html><body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>"),
        top: Some("aws-alb"),
        evidence: "Server: awselb/2.0",
    },
    Case {
        name: "AWS ALB by stickiness cookie",
        status: 101,
        headers: &[("Upgrade", "websocket"), ("Set-Cookie", "AWSALB=REDACTED")],
        body: None,
        top: Some("aws-alb"),
        evidence: "Set-Cookie: AWSALB",
    },
    Case {
        name: "Cloudflare by cf-ray and Server",
        status: 502,
        headers: &[("Server", "cloudflare"), ("CF-RAY", "8a1b2c3d4e5f-AMS")],
        body: None,
        top: Some("cloudflare"),
        evidence: "CF-RAY: 8a1b2c3d4e5f-AMS",
    },
    Case {
        name: "Envoy by server and upstream time",
        status: 503,
        headers: &[("server", "envoy"), ("x-envoy-upstream-service-time", "3")],
        body: Some("no healthy upstream"),
        top: Some("envoy"),
        evidence: "no healthy upstream",
    },
    Case {
        name: "Istio gateway",
        status: 404,
        headers: &[("server", "istio-envoy"), ("x-envoy-upstream-service-time", "1")],
        body: None,
        top: Some("istio"),
        evidence: "server: istio-envoy",
    },
    Case {
        name: "HAProxy error body",
        status: 503,
        headers: &[("content-type", "text/html"), ("cache-control", "no-cache")],
        body: Some("<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>"),
        top: Some("haproxy"),
        evidence: "No server is available",
    },
    Case {
        name: "CloudFront by Via",
        status: 403,
        headers: &[("Via", "1.1 3f2a.cloudfront.net (CloudFront)"), ("X-Cache", "Error from cloudfront")],
        body: None,
        top: Some("aws-cloudfront"),
        evidence: "cloudfront",
    },
    Case {
        name: "Heroku by Via vegur",
        status: 503,
        headers: &[("Via", "1.1 vegur"), ("Server", "Cowboy")],
        body: None,
        top: Some("heroku-router"),
        evidence: "Via: 1.1 vegur",
    },
    Case {
        name: "Fastly by x-served-by",
        status: 200,
        headers: &[("X-Served-By", "cache-ams21047-AMS"), ("X-Cache", "MISS")],
        body: None,
        top: Some("fastly"),
        evidence: "X-Served-By",
    },
    Case {
        name: "Azure App Gateway",
        status: 502,
        headers: &[("Server", "Microsoft-Azure-Application-Gateway/v2")],
        body: None,
        top: Some("azure-app-gateway"),
        evidence: "Microsoft-Azure-Application-Gateway",
    },
    Case {
        name: "Kong by Via and latency header",
        status: 502,
        headers: &[("Via", "1.1 kong/3.9.0"), ("X-Kong-Upstream-Latency", "4")],
        body: None,
        top: Some("kong"),
        evidence: "kong/3.9.0",
    },
    Case {
        name: "python-websockets server",
        status: 101,
        headers: &[("Upgrade", "websocket"), ("Server", "Python/3.12 websockets/13.1")],
        body: None,
        top: Some("python-websockets"),
        evidence: "websockets/13.1",
    },
    Case {
        name: "Akamai by header prefix",
        status: 403,
        headers: &[("X-Akamai-Transformed", "9 - 0 pmb=mRUM,1")],
        body: None,
        top: Some("akamai"),
        evidence: "X-Akamai-Transformed",
    },
    Case {
        name: "Apache-Coyote is Tomcat, not Apache httpd",
        status: 400,
        headers: &[("Server", "Apache-Coyote/1.1")],
        body: None,
        top: Some("tomcat"),
        evidence: "Apache-Coyote",
    },
    Case {
        name: "an anonymous backend is nobody",
        status: 101,
        headers: &[("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", "x")],
        body: None,
        top: None,
        evidence: "",
    },
    Case {
        name: "lower-case headers are only a hint",
        status: 101,
        headers: &[("upgrade", "websocket"), ("connection", "upgrade")],
        body: None,
        top: None,
        evidence: "",
    },
];

#[test]
fn identifies_products() {
    for case in CASES {
        let hs = handshake(case.status, case.headers, case.body);
        let found = identify(&hs);
        let top = blame(&found);
        assert_eq!(
            top.map(|c| c.id.as_str()),
            case.top,
            "{}: {found:?}",
            case.name
        );
        if let Some(top) = top {
            assert!(
                top.evidence.contains(case.evidence),
                "{}: evidence {:?} lacks {:?}",
                case.name,
                top.evidence,
                case.evidence
            );
            assert!(top.confidence > 0.0 && top.confidence < 1.0);
        }
    }
}

#[test]
fn candidates_are_ranked_and_signals_add_up() {
    let one = identify(&handshake(502, &[("Server", "nginx")], None));
    let two = identify(&handshake(
        502,
        &[("Server", "nginx")],
        Some("<hr><center>nginx</center>"),
    ));
    assert!(two[0].confidence > one[0].confidence, "{one:?} vs {two:?}");
    for pair in two.windows(2) {
        assert!(pair[0].confidence >= pair[1].confidence);
    }
    // Server: nginx also fits ingress-nginx, ranked below plain nginx.
    assert!(two.iter().any(|c| c.id == "ingress-nginx"));
}

#[test]
fn one_signal_is_counted_once() {
    // The kb's `<center>nginx</center>` and the code's `<center>nginx` are
    // the same signal: the page alone must score like one rule.
    let found = identify(&handshake(502, &[], Some("<hr><center>nginx</center>")));
    assert_eq!(found[0].id, "nginx");
    assert!((found[0].confidence - 0.85).abs() < 1e-9, "{found:?}");
}

#[test]
fn peer_text_in_evidence_is_escaped() {
    let found = identify(&handshake(400, &[("Server", "nginx/1.2\u{1b}[31m")], None));
    assert!(found[0].evidence.contains("\\u{1b}"), "{found:?}");
}

#[test]
fn host_and_path_rules() {
    let mut hs = handshake(503, &[], None);
    hs.request = vec![
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1".into(),
        "Host: demo.herokuapp.com".into(),
    ];
    let ids: Vec<_> = identify(&hs).into_iter().map(|c| c.id).collect();
    assert!(ids.contains(&"heroku-router".to_owned()), "{ids:?}");
    assert!(ids.contains(&"socketio".to_owned()), "{ids:?}");
}

#[test]
fn parses_kb_entry_shapes() {
    let table: &[(&str, &[Signal])] = &[
        ("Server: nginx[/version] on nginx-generated error pages (HTML '<center>nginx</center>')", &[
            Signal::Body("<center>nginx</center>".into()),
            Signal::ServerProduct("nginx".into()),
        ]),
        ("Set-Cookie: AWSALB / AWSALBCORS (load-balancer-generated stickiness cookies)", &[
            Signal::Cookie("AWSALB".into()),
            Signal::Cookie("AWSALBCORS".into()),
        ]),
        ("Via: 1.1 <hash>.cloudfront.net (CloudFront)", &[Signal::HeaderContains("via".into(), ".cloudfront.net".into())]),
        ("Via: 2 fly.io (or 1.1 fly.io)", &[Signal::HeaderContains("via".into(), "fly.io".into())]),
        ("CF-RAY: <id>-<IATA>", &[Signal::HeaderPresent("CF-RAY".into())]),
        ("X-Kong-Request-Id (3.x)", &[Signal::HeaderPresent("X-Kong-Request-Id".into())]),
        ("X-Akamai-* response headers (when debug/pragma headers are enabled)", &[Signal::HeaderNamePrefix("x-akamai-".into())]),
        ("504 body: 'The server didn't respond in time.'", &[Signal::Body("The server didn't respond in time.".into())]),
        ("CF-Ray / Server: cloudflare (Cloudflare in front)", &[]),
        ("HTTP 52x status codes (520-527) generated by Cloudflare", &[]),
        ("X-Cache", &[]),
        ("No Server header on built-in error responses", &[]),
    ];
    for (entry, want) in table {
        assert_eq!(&parse_entry(entry), want, "{entry}");
    }
}

#[test]
fn every_fingerprinted_kb_entry_yields_a_rule() {
    let kb = crate::kb::kb();
    let mut rules = code_rules();
    rules.extend(kb_rules(kb));
    for i in kb
        .intermediaries()
        .iter()
        .filter(|i| !i.fingerprint.is_empty())
    {
        assert!(
            rules.iter().any(|r| r.id == i.id),
            "{}: no rule from {:?}",
            i.id,
            i.fingerprint
        );
    }
    for r in &rules {
        assert!(
            kb.intermediary(&r.id).is_some(),
            "rule for unknown kb id {}",
            r.id
        );
    }
}
