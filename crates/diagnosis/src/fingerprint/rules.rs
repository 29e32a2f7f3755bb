//! Fingerprint rules: most are read from the kb's `fingerprint` lists (free
//! text written for people, parsed where its shape is unambiguous); the
//! code table adds what the kb states only in prose or not at all.

use super::signal::Signal;
use crate::kb::{Intermediary, Kb};

/// One rule: if `signal` is in the handshake, product `id` is a candidate.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rule {
    pub(crate) id: String,
    pub(crate) signal: Signal,
    pub(crate) confidence: f64,
}

impl Rule {
    /// True when `other` looks for the same thing for the same product (a
    /// code rule `<center>nginx` covers the kb's `<center>nginx</center>`),
    /// so one signal is not counted twice.
    pub(crate) fn covers(&self, other: &Rule) -> bool {
        let same = match (&self.signal, &other.signal) {
            (Signal::Body(a), Signal::Body(b)) => {
                b.to_ascii_lowercase().starts_with(&a.to_ascii_lowercase())
            }
            (Signal::ServerProduct(a), Signal::ServerProduct(b)) => a.eq_ignore_ascii_case(b),
            (a, b) => a == b,
        };
        same && self.id == other.id
    }
}

fn rule(id: &str, signal: Signal, confidence: f64) -> Rule {
    Rule {
        id: id.to_owned(),
        signal,
        confidence,
    }
}

fn server(p: &str) -> Signal {
    Signal::ServerProduct(p.to_owned())
}
fn present(h: &str) -> Signal {
    Signal::HeaderPresent(h.to_owned())
}
fn contains(h: &str, needle: &str) -> Signal {
    Signal::HeaderContains(h.to_owned(), needle.to_owned())
}
fn cookie(c: &str) -> Signal {
    Signal::Cookie(c.to_owned())
}
fn body(needle: &str) -> Signal {
    Signal::Body(needle.to_owned())
}
fn host(part: &str) -> Signal {
    Signal::HostContains(part.to_owned())
}

/// Rules the kb does not state in a parseable form.
pub(crate) fn code_rules() -> Vec<Rule> {
    vec![
        // `Server: nginx` fits nginx and ingress-nginx equally in the kb;
        // plain nginx is the general answer (ingress-nginx is nginx).
        rule("nginx", server("nginx"), 0.9),
        // nginx error pages carry the version: `<center>nginx/1.24.0</center>`,
        // which the kb's exact `<center>nginx</center>` would miss.
        rule("nginx", body("<center>nginx"), 0.85),
        // OpenResty is nginx: the nginx facts (proxy_read_timeout, headers) apply.
        rule("nginx", server("openresty"), 0.7),
        rule("nginx", body("<center>openresty"), 0.7),
        // Stickiness cookie of the Classic ELB (AWSALB is the ALB's).
        rule("aws-clb", cookie("AWSELB"), 0.7),
        // Cloudflare bot-management cookie, set on proxied zones.
        rule("cloudflare", cookie("__cf_bm"), 0.8),
        rule("aws-cloudfront", contains("x-cache", "cloudfront"), 0.85),
        // Envoy's own error bodies for dead or slow upstreams.
        rule("envoy", body("no healthy upstream"), 0.8),
        rule(
            "envoy",
            body("upstream connect error or disconnect/reset before headers"),
            0.8,
        ),
        rule("envoy", body("upstream request timeout"), 0.7),
        rule("squid", contains("via", "squid"), 0.85),
        rule("squid", server("squid"), 0.85),
        rule("fastly", present("x-timer"), 0.4),
        // App servers and libraries that name themselves in `Server`.
        rule("python-websockets", server("websockets"), 0.85),
        rule("uvicorn", server("uvicorn"), 0.85),
        rule("gunicorn", server("gunicorn"), 0.8),
        rule("jetty", server("jetty"), 0.85),
        rule("tomcat", server("apache-coyote"), 0.7),
        rule(
            "socketio",
            Signal::PathContains("/socket.io/".to_owned()),
            0.9,
        ),
        // Platform default host names.
        rule("heroku-router", host(".herokuapp.com"), 0.8),
        rule("fly-proxy", host(".fly.dev"), 0.8),
        rule("render", host(".onrender.com"), 0.8),
        rule("vercel", host(".vercel.app"), 0.8),
        rule("netlify", host(".netlify.app"), 0.8),
        rule("gcp-cloud-run", host(".run.app"), 0.85),
        rule("aws-cloudfront", host(".cloudfront.net"), 0.9),
        rule("aws-apigw-websocket", host(".execute-api."), 0.85),
        rule("azure-front-door", host(".azurefd.net"), 0.85),
        rule("azure-app-service", host(".azurewebsites.net"), 0.8),
        rule("haproxy", Signal::LowercaseHeadersNoServer, 0.3),
        rule("envoy", Signal::LowercaseHeadersNoServer, 0.25),
    ]
}

/// Header names too common to identify anyone on their own.
const GENERIC_HEADERS: &[&str] = &[
    "server",
    "via",
    "x-cache",
    "x-timer",
    "proxy-status",
    "set-cookie",
];

/// Rules read from every intermediary's kb `fingerprint` list.
pub(crate) fn kb_rules(kb: &Kb) -> Vec<Rule> {
    kb.intermediaries()
        .iter()
        .flat_map(|i| {
            let confidence = base_confidence(i);
            i.fingerprint
                .iter()
                .flat_map(|entry| parse_entry(entry))
                .map(move |signal| rule(&i.id, signal, confidence))
        })
        .collect()
}

/// The kb grades each fingerprint `documented`, `observed` or `inferred`
/// (sometimes "documented (X) / observed (Y)": the weaker grade wins).
fn base_confidence(i: &Intermediary) -> f64 {
    let grade = i.fingerprint_confidence.as_deref().unwrap_or("");
    if grade.contains("inferred") {
        0.55
    } else if grade.contains("observed") {
        0.75
    } else if grade.contains("documented") {
        0.85
    } else {
        0.7
    }
}

/// Reads one free-text fingerprint entry. Shapes understood:
/// `Server: product[/version] …`, `Set-Cookie: A / B (…)`, `Via: 1.1 token …`,
/// `Header-Name`, `Header-Name (note)`, `Header-Name: <placeholder> …`,
/// `X-Prefix-* …`, and a quoted `'…'` in an entry about a body or HTML page.
/// Anything else (prose) yields nothing.
pub(crate) fn parse_entry(entry: &str) -> Vec<Signal> {
    let mut out = Vec::new();
    let lower = entry.to_ascii_lowercase();
    if lower.contains("body") || lower.contains("html") {
        if let (Some(a), Some(b)) = (entry.find('\''), entry.rfind('\'')) {
            if b > a + 1 {
                out.push(Signal::Body(entry[a + 1..b].to_owned()));
            }
        }
    }
    let name_len = entry
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or(entry.len());
    let (name, rest) = entry.split_at(name_len);
    let lname = name.to_ascii_lowercase();
    if !name.contains('-') && !matches!(lname.as_str(), "server" | "via") {
        return out;
    }
    if let Some(value) = rest.strip_prefix(':') {
        let value = value.trim();
        match lname.as_str() {
            "server" => {
                let product = value
                    .split([' ', '/', '[', '<', '('])
                    .next()
                    .unwrap_or_default();
                if !product.is_empty() {
                    out.push(Signal::ServerProduct(product.to_owned()));
                }
            }
            "set-cookie" => {
                let names = value.split('(').next().unwrap_or_default();
                out.extend(
                    names
                        .split(['/', ' '])
                        .filter(|t| {
                            !t.is_empty()
                                && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        })
                        .map(|t| Signal::Cookie(t.to_owned())),
                );
            }
            "via" => {
                if let Some(token) = via_token(value) {
                    out.push(Signal::HeaderContains("via".to_owned(), token));
                }
            }
            _ if !GENERIC_HEADERS.contains(&lname.as_str()) => {
                out.push(Signal::HeaderPresent(name.to_owned()));
            }
            _ => {}
        }
    } else if name.ends_with('-') && rest.starts_with('*') {
        out.push(Signal::HeaderNamePrefix(lname));
    } else if (rest.is_empty() || rest.starts_with(" (") || rest.starts_with(" on "))
        && !GENERIC_HEADERS.contains(&lname.as_str())
    {
        out.push(Signal::HeaderPresent(name.to_owned()));
    }
    out
}

/// `1.1 <hash>.cloudfront.net (CloudFront)` → `.cloudfront.net`;
/// `2 fly.io (or 1.1 fly.io)` → `fly.io`; `kong/<version>` → `kong/`.
fn via_token(value: &str) -> Option<String> {
    let no_note = value.split('(').next().unwrap_or_default();
    let mut plain = String::new();
    let mut in_placeholder = false;
    for c in no_note.chars() {
        match c {
            '<' => in_placeholder = true,
            '>' => in_placeholder = false,
            _ if !in_placeholder => plain.push(c),
            _ => {}
        }
    }
    plain
        .split_whitespace()
        .find(|t| !t.chars().all(|c| c.is_ascii_digit() || c == '.'))
        .map(str::to_owned)
}
