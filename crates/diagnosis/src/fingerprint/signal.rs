//! The kinds of signal a fingerprint rule can look for, and how each is
//! matched against one handshake.

use wsdoctor_evidence::{escape_peer, HandshakeRecord, Header};

/// Peer values are cut to this many characters in evidence.
const MAX_SHOWN: usize = 100;

/// The handshake, pre-digested once for all rules.
pub(crate) struct View<'a> {
    hs: &'a HandshakeRecord,
    body_lower: String,
    host: Option<String>,
    path: Option<&'a str>,
}

impl<'a> View<'a> {
    pub(crate) fn new(hs: &'a HandshakeRecord) -> View<'a> {
        let body_lower = hs
            .body
            .as_ref()
            .map(|b| b.text.to_ascii_lowercase())
            .unwrap_or_default();
        View {
            hs,
            body_lower,
            host: hs.request_header("host").map(str::to_ascii_lowercase),
            path: hs.request_target(),
        }
    }
}

/// What a rule looks for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Signal {
    /// A product token of the `Server` header (`nginx` in `nginx/1.24.0`,
    /// `websockets` in `Python/3.12 websockets/12.0`), case-insensitive.
    ServerProduct(String),
    /// A header is present, whatever its value.
    HeaderPresent(String),
    /// Some header's name starts with this (`x-akamai-`).
    HeaderNamePrefix(String),
    /// A header's value contains this, case-insensitive.
    HeaderContains(String, String),
    /// A `Set-Cookie` with this cookie name (values are redacted anyway).
    Cookie(String),
    /// The error-page body contains this, case-insensitive.
    Body(String),
    /// The `Host` we asked for contains this (`.herokuapp.com`, `.execute-api.`).
    HostContains(String),
    /// The request path contains this (`/socket.io/`).
    PathContains(String),
    /// Every header name is lower case and there is no `Server` header:
    /// HAProxy ≥ 2.0 and Envoy normalise names like that (so do hyper-based
    /// servers, hence only a hint).
    LowercaseHeadersNoServer,
}

/// A signal found in a handshake.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Matched {
    /// What matched, for people (peer text escaped).
    pub(crate) evidence: String,
    /// It is the answer's own `Server` header: the product says it wrote
    /// the answer.
    pub(crate) server_header: bool,
}

impl Matched {
    fn header(h: &Header) -> Matched {
        Matched {
            evidence: shown(&h.name, &h.value),
            server_header: h.name.eq_ignore_ascii_case("server"),
        }
    }

    fn other(evidence: String) -> Matched {
        Matched {
            evidence,
            server_header: false,
        }
    }
}

impl Signal {
    /// What matched when the signal is in the handshake.
    pub(crate) fn matches(&self, v: &View<'_>) -> Option<Matched> {
        let hs = v.hs;
        match self {
            Signal::ServerProduct(product) => named(hs, "server")
                .find(|h| server_products(&h.value).any(|p| p.eq_ignore_ascii_case(product)))
                .map(Matched::header),
            Signal::HeaderPresent(name) => named(hs, name).next().map(Matched::header),
            Signal::HeaderNamePrefix(prefix) => hs
                .headers
                .iter()
                .find(|h| starts_with_ignore_case(&h.name, prefix))
                .map(Matched::header),
            Signal::HeaderContains(name, needle) => {
                let needle = needle.to_ascii_lowercase();
                named(hs, name)
                    .find(|h| h.value.to_ascii_lowercase().contains(&needle))
                    .map(Matched::header)
            }
            Signal::Cookie(cookie) => hs
                .headers_named("set-cookie")
                .find_map(|value| {
                    let name = value.split(['=', ';']).next().unwrap_or_default().trim();
                    name.eq_ignore_ascii_case(cookie)
                        .then(|| format!("Set-Cookie: {}", escape_peer(name)))
                })
                .map(Matched::other),
            Signal::Body(needle) => v
                .body_lower
                .contains(&needle.to_ascii_lowercase())
                .then(|| Matched::other(format!("body contains \"{}\"", escape_peer(needle)))),
            Signal::HostContains(part) => {
                let host = v.host.as_deref()?;
                let bare = host.split(':').next().unwrap_or(host);
                bare.contains(part.as_str())
                    .then(|| Matched::other(format!("host {}", escape_peer(bare))))
            }
            Signal::PathContains(needle) => v
                .path
                .filter(|p| p.contains(needle.as_str()))
                .map(|_| Matched::other(format!("request path contains {needle}"))),
            Signal::LowercaseHeadersNoServer => {
                let names = || hs.headers.iter().map(|h| h.name.as_str());
                let all_lower = names().count() >= 2
                    && names().all(|n| !n.bytes().any(|b| b.is_ascii_uppercase()));
                (all_lower && hs.header("server").is_none()).then(|| {
                    Matched::other(
                        "all response header names lower case, no Server header".to_owned(),
                    )
                })
            }
        }
    }
}

/// The headers called `name`, case-insensitively, with their own spelling.
fn named<'a>(hs: &'a HandshakeRecord, name: &'a str) -> impl Iterator<Item = &'a Header> + 'a {
    hs.headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
}

/// `Python/3.12 websockets/12.0 (comment)` → `Python`, `websockets`.
fn server_products(value: &str) -> impl Iterator<Item = &str> {
    value
        .split_whitespace()
        .filter(|token| !token.starts_with('('))
        .map(|token| token.split(['/', '(']).next().unwrap_or(token))
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len()
        && text.is_char_boundary(prefix.len())
        && text[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// `Name: value` for evidence, escaped and cut to a readable length.
pub(crate) fn shown(name: &str, value: &str) -> String {
    let cut: String = value.chars().take(MAX_SHOWN).collect();
    let more = if cut.len() < value.len() { "…" } else { "" };
    format!("{}: {}{more}", escape_peer(name), escape_peer(&cut))
}
