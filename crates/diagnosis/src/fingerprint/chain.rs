//! What the chain says in passing on the upgrade's answer: `Via` (each
//! proxy appends itself, the last one nearest to us), `X-Cache`, `CF-Ray`,
//! `X-Amz-Cf-Id`, `X-Served-By`, `X-Envoy-*` and `Alt-Svc`. The kb's
//! fingerprint lists name some of these too; the evidence text is the same
//! (`Name: value`), so one header is never counted twice for a product.

use wsdoctor_evidence::HandshakeRecord;

use super::signal::shown;

/// One product a chain header points at.
pub(crate) struct ChainHit {
    pub(crate) id: &'static str,
    pub(crate) evidence: String,
    pub(crate) confidence: f64,
}

/// `Via` pseudonyms and comments (RFC 9110 §7.6.3) that name a product.
/// `1.1 google` is the kb's own rule (Cloud Run and the load balancer share it).
const VIA_NAMES: &[(&str, &str, f64)] = &[
    ("cloudfront", "aws-cloudfront", 0.85),
    ("vegur", "heroku-router", 0.85),
    ("squid", "squid", 0.85),
    ("varnish", "fastly", 0.45),
    ("caddy", "caddy", 0.8),
    ("envoy", "envoy", 0.75),
    ("haproxy", "haproxy", 0.8),
    ("apache", "apache-httpd", 0.6),
    ("nginx", "nginx", 0.6),
    ("akamai", "akamai", 0.8),
    ("azure", "azure-front-door", 0.5),
    ("fly.io", "fly-proxy", 0.85),
    ("kong", "kong", 0.8),
];

/// Headers whose presence alone names a product.
const PRESENT: &[(&str, &str, f64)] = &[
    ("cf-ray", "cloudflare", 0.9),
    ("x-amz-cf-id", "aws-cloudfront", 0.9),
    ("x-amz-cf-pop", "aws-cloudfront", 0.9),
    ("x-azure-ref", "azure-front-door", 0.85),
    ("fly-request-id", "fly-proxy", 0.85),
];

/// What the chain headers of `hs` point at.
pub(crate) fn hits(hs: &HandshakeRecord) -> Vec<ChainHit> {
    let mut out = Vec::new();
    for h in &hs.headers {
        let name = h.name.to_ascii_lowercase();
        let value = h.value.to_ascii_lowercase();
        let mut hit = |id: &'static str, confidence: f64| {
            out.push(ChainHit {
                id,
                evidence: shown(&h.name, &h.value),
                confidence,
            });
        };
        match name.as_str() {
            "via" => {
                for (token, id, c) in VIA_NAMES {
                    if value.contains(token) {
                        hit(id, *c);
                    }
                }
            }
            "x-cache" => {
                if value.contains("cloudfront") {
                    hit("aws-cloudfront", 0.85);
                } else if value.contains(" from ") {
                    // Squid's `MISS from <host>` shape.
                    hit("squid", 0.5);
                }
            }
            "x-served-by" if value.starts_with("cache-") => hit("fastly", 0.85),
            "alt-svc" if value.contains("h3-29") && value.contains("ma=2592000") => {
                // Google front ends still advertise the draft h3-29 with a
                // 30-day max-age; weak, many copy it.
                hit("gcp-external-alb", 0.3);
            }
            _ if name.starts_with("x-envoy-") => hit("envoy", 0.8),
            _ => {
                if let Some((_, id, c)) = PRESENT.iter().find(|(n, _, _)| *n == name) {
                    hit(id, *c);
                }
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::fingerprint::identify;
    use crate::testkit::handshake;

    fn top(headers: &[(&str, &str)]) -> (String, f64, String) {
        let c = identify(&handshake(101, headers, None));
        let first = c.first().unwrap();
        (first.id.clone(), first.confidence, first.evidence.clone())
    }

    #[test]
    fn chain_headers_name_the_products_in_the_path() {
        let table: &[(&[(&str, &str)], &str)] = &[
            (&[("Via", "1.1 vm (squid/5.7)")], "squid"),
            (&[("Via", "1.1 vegur")], "heroku-router"),
            (
                &[
                    ("Via", "1.1 abc.cloudfront.net (CloudFront)"),
                    ("X-Amz-Cf-Id", "x"),
                ],
                "aws-cloudfront",
            ),
            (&[("CF-Ray", "8f00000000000000-FRA")], "cloudflare"),
            (
                &[
                    ("X-Served-By", "cache-fra-etou8220040-FRA"),
                    ("X-Cache", "MISS"),
                ],
                "fastly",
            ),
            (&[("x-envoy-upstream-service-time", "3")], "envoy"),
            (&[("x-envoy-decorator-operation", "svc:8080/*")], "envoy"),
            (&[("X-Cache", "Miss from cloudfront")], "aws-cloudfront"),
            (&[("X-Azure-Ref", "0abc")], "azure-front-door"),
        ];
        for (headers, want) in table {
            let (id, confidence, evidence) = top(headers);
            assert_eq!(id, *want, "{headers:?}: {evidence}");
            assert!(confidence >= 0.5, "{headers:?}: {confidence}");
        }
    }

    #[test]
    fn alt_svc_alone_is_only_a_hint_and_plain_headers_name_nothing() {
        let (id, confidence, _) = top(&[(
            "alt-svc",
            "h3=\":443\"; ma=2592000,h3-29=\":443\"; ma=2592000",
        )]);
        assert_eq!(id, "gcp-external-alb");
        assert!(confidence < crate::fingerprint::BLAME_THRESHOLD);
        let none = identify(&handshake(
            101,
            &[("Upgrade", "websocket"), ("Via", "1.1 proxy")],
            None,
        ));
        assert!(none.is_empty(), "{none:?}");
    }

    #[test]
    fn one_header_is_one_signal_even_when_the_kb_names_it_too() {
        // The kb lists CF-RAY for Cloudflare: the chain rule adds nothing twice.
        let (_, with_one, evidence) = top(&[("CF-Ray", "8f00-FRA")]);
        assert_eq!(evidence.matches("CF-Ray").count(), 1, "{evidence}");
        assert!(with_one < 0.99);
    }
}
