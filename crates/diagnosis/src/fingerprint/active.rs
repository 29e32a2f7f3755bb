//! The active fingerprint's answers matched against `kb/signatures.toml`:
//! which product answered the harmless requests the fingerprint sent
//! (`wsdoctor-sources`' `fingerprint` module), as ranking candidates next
//! to the ones the upgrade's own answer names.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;
use wsdoctor_evidence::{escape_peer, HandshakeRecord, HopProbeExchange, HopProbeRecord};

use super::{identify, round2, sort, Candidate};

/// `kb/signatures.toml`, compiled in like the rest of the kb.
pub const SIGNATURES_TOML: &str = include_str!("../../kb/signatures.toml");

/// One answer shape of one product (or of a few that share it).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// Stable name, shown in evidence.
    pub id: String,
    /// kb intermediary ids; one means the shape is that product's alone.
    pub products: Vec<String>,
    /// Which request it answers (`None` or `any`: every one).
    #[serde(default)]
    pub probe: Option<String>,
    /// Status code.
    #[serde(default)]
    pub status: Option<u16>,
    /// Reason phrase, exactly.
    #[serde(default)]
    pub reason: Option<String>,
    /// Header names present with exactly this spelling.
    #[serde(default)]
    pub header_named: Vec<String>,
    /// Header names present, any case.
    #[serde(default)]
    pub header_present: Vec<String>,
    /// Some header name starts with this, any case.
    #[serde(default)]
    pub header_prefix: Option<String>,
    /// `[name, text]`: the header's value contains text, any case.
    #[serde(default)]
    pub header_contains: Vec<(String, String)>,
    /// Header names absent, any case.
    #[serde(default)]
    pub no_header: Vec<String>,
    /// Texts the body contains, any case.
    #[serde(default)]
    pub body: Vec<String>,
    /// 0..1 for each product it names.
    pub confidence: f64,
    /// Where the shape is documented or seen.
    pub source: String,
    /// When the source was read (`YYYY-MM-DD`).
    pub read: String,
    /// Where it was checked against the real product, if it was.
    #[serde(default)]
    pub verified: Option<String>,
}

#[derive(Deserialize)]
struct SignatureFile {
    #[allow(dead_code)]
    meta: toml::Table,
    signature: Vec<Signature>,
}

/// Parses a signatures file.
pub fn parse(text: &str) -> Result<Vec<Signature>, toml::de::Error> {
    toml::from_str::<SignatureFile>(text).map(|f| f.signature)
}

/// The embedded signatures (empty if the file did not parse, which a test
/// rules out).
pub fn signatures() -> &'static [Signature] {
    static ALL: OnceLock<Vec<Signature>> = OnceLock::new();
    ALL.get_or_init(|| parse(SIGNATURES_TOML).unwrap_or_default())
}

fn has_header(x: &HopProbeExchange, name: &str) -> bool {
    x.headers.iter().any(|h| h.name.eq_ignore_ascii_case(name))
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack
        .to_ascii_lowercase()
        .contains(&needle.to_ascii_lowercase())
}

impl Signature {
    /// True when the answer has every feature the signature gives.
    pub fn matches(&self, x: &HopProbeExchange) -> bool {
        let Some(status) = x.status else {
            return false;
        };
        let probe_ok = self
            .probe
            .as_deref()
            .is_none_or(|p| p == "any" || p == x.probe);
        let prefix_ok = self.header_prefix.as_deref().is_none_or(|prefix| {
            x.headers.iter().any(|h| {
                h.name.len() >= prefix.len()
                    && h.name.is_char_boundary(prefix.len())
                    && h.name[..prefix.len()].eq_ignore_ascii_case(prefix)
            })
        });
        probe_ok
            && prefix_ok
            && self.status.is_none_or(|s| s == status)
            && self.reason.as_deref().is_none_or(|r| r == x.reason)
            && self
                .header_named
                .iter()
                .all(|n| x.headers.iter().any(|h| h.name == *n))
            && self.header_present.iter().all(|n| has_header(x, n))
            && self.no_header.iter().all(|n| !has_header(x, n))
            && self.header_contains.iter().all(|(name, text)| {
                x.headers.iter().any(|h| {
                    h.name.eq_ignore_ascii_case(name) && contains_ignore_case(&h.value, text)
                })
            })
            && self.body.iter().all(|b| contains_ignore_case(&x.body, b))
    }
}

/// `bad-header-name → 400 Bad request`, peer text escaped.
pub fn answer_line(x: &HopProbeExchange) -> String {
    match (x.status, &x.error) {
        (Some(status), _) => format!("{} → {status} {}", x.probe, escape_peer(&x.reason)),
        (None, Some(error)) => format!("{} → no answer ({})", x.probe, escape_peer(error)),
        (None, None) => format!("{} → no answer", x.probe),
    }
}

/// The products the fingerprint's answers point at, ranked. Each signature
/// counts once however many answers it matched; several signatures of one
/// product add up like independent chances of being wrong.
pub fn identify_answers(record: &HopProbeRecord) -> Vec<Candidate> {
    identify_answers_with(record, signatures())
}

/// A product seen only in answers that another product's hop let through
/// is behind that hop: its signatures count this much.
const BEHIND_FRONT: f64 = 0.5;

fn identify_answers_with(record: &HopProbeRecord, table: &[Signature]) -> Vec<Candidate> {
    // A header name with a space must be refused (RFC 9112 §5.1), and every
    // proxy verified here refuses it itself: whoever answered it is the
    // first hop that parses HTTP. A product that only answered the other
    // requests got them through that hop, so it sits behind it.
    let front: Vec<&str> = record
        .exchanges
        .iter()
        .filter(|x| x.probe == "bad-header-name")
        .flat_map(|x| table.iter().filter(move |s| s.matches(x)))
        .flat_map(|s| s.products.iter().map(String::as_str))
        .collect();
    // product → signature id → (confidence, evidence)
    let mut hits: BTreeMap<&str, BTreeMap<&str, (f64, String)>> = BTreeMap::new();
    for sig in table {
        let Some(x) = record.exchanges.iter().find(|x| sig.matches(x)) else {
            continue;
        };
        let shared = if sig.products.len() > 1 {
            format!(", a shape {} share", sig.products.join(" and "))
        } else {
            String::new()
        };
        let evidence = format!(
            "fingerprint: {} (signature {}{shared})",
            answer_line(x),
            sig.id
        );
        for product in &sig.products {
            let behind = !front.is_empty() && !front.contains(&product.as_str());
            let (confidence, evidence) = if behind {
                (
                    sig.confidence * BEHIND_FRONT,
                    format!(
                        "{evidence}, behind {}: it answered only what that hop let through",
                        front.first().copied().unwrap_or_default()
                    ),
                )
            } else {
                (sig.confidence, evidence.clone())
            };
            hits.entry(product.as_str())
                .or_default()
                .entry(sig.id.as_str())
                .or_insert((confidence, evidence));
        }
    }
    let mut out: Vec<Candidate> = hits
        .into_iter()
        .map(|(id, sigs)| Candidate::combined(id, sigs.into_values()))
        .collect();
    sort(&mut out);
    out
}

/// The product that refused the malformed header itself, when only that
/// product answers that way: the first hop that parses HTTP, the one our
/// TCP connection reaches. `None` when nobody answered it with a known
/// shape, when the shape is shared (Caddy and Traefik both speak Go's
/// net/http), or when two products' shapes matched.
pub fn front_hop(record: &HopProbeRecord) -> Option<String> {
    front_hop_with(record, signatures())
}

fn front_hop_with(record: &HopProbeRecord, table: &[Signature]) -> Option<String> {
    let mut unique = record
        .exchanges
        .iter()
        .filter(|x| x.probe == "bad-header-name")
        .flat_map(|x| table.iter().filter(move |s| s.matches(x)))
        .filter(|s| s.products.len() == 1)
        .flat_map(|s| s.products.first());
    let first = unique.next()?;
    unique.all(|p| p == first).then(|| first.clone())
}

/// What stands in front of the products the answers name, for
/// [`super::hops::Observed::front`]: the product the fingerprint found
/// there ([`front_hop`]); else, when every header name of the 101 came
/// lower-cased (a normalising hop rewrote them), an unidentified hop
/// ([`super::hops::UNKNOWN_FRONT`]), so the product a header names is not
/// named alone; else nothing.
pub fn front_of(
    handshake: Option<&HandshakeRecord>,
    probe: Option<&HopProbeRecord>,
) -> Option<String> {
    probe.and_then(front_hop).or_else(|| {
        handshake
            .filter(|hs| renamed_by_a_hop_in_front(hs))
            .map(|_| super::hops::UNKNOWN_FRONT.to_owned())
    })
}

/// What the upgrade's answer names ([`identify`]) and what the active
/// fingerprint's answers name, together: one candidate per product, its
/// signals combined.
///
/// When the fingerprint names the front hop alone ([`front_hop`]), every
/// other product the 101's headers name sits behind it: their `Server`
/// (or chain) header came back through the front hop, which passes the
/// backend's own (HAProxy, Apache), so it says "somewhere on the path",
/// not "the hop we reach". Those signals count [`BEHIND_FRONT`] of their
/// weight, and their evidence says why. Only on a 101: an error page (a
/// 502) names whoever wrote it, which is the hop that answered.
pub fn identify_with_probe(
    handshake: Option<&HandshakeRecord>,
    probe: Option<&HopProbeRecord>,
) -> Vec<Candidate> {
    let mut all = handshake.map(identify).unwrap_or_default();
    let switched = handshake.is_some_and(|hs| hs.status == 101);
    if let Some(front) = probe.and_then(front_hop).filter(|_| switched) {
        for c in all.iter_mut().filter(|c| c.id != front) {
            c.confidence = round2(c.confidence * BEHIND_FRONT);
            c.behind_front = true;
            c.evidence = format!(
                "{}, came back through {front} (the hop our connection reaches): it may be from any hop behind it",
                c.evidence
            );
        }
    }
    for c in probe.map(identify_answers).unwrap_or_default() {
        match all.iter_mut().find(|a| a.id == c.id) {
            Some(a) => {
                let evidence = std::mem::take(&mut a.evidence);
                *a = Candidate {
                    behind_front: a.behind_front,
                    named_by_server_header: a.named_by_server_header,
                    ..Candidate::combined(
                        &a.id,
                        [(a.confidence, evidence), (c.confidence, c.evidence)],
                    )
                };
            }
            None => all.push(c),
        }
    }
    sort(&mut all);
    all
}

/// One line for people: what the fingerprint sent, where, and what answered.
pub fn summary(record: &HopProbeRecord) -> String {
    let answers: Vec<String> = record.exchanges.iter().map(answer_line).collect();
    let matched: Vec<String> = identify_answers(record)
        .into_iter()
        .map(|c| format!("{} ({:.2})", c.id, c.confidence))
        .collect();
    let verdict = if matched.is_empty() {
        "no known proxy's signature among the answers".to_owned()
    } else {
        format!("signatures of {}", matched.join(", "))
    };
    format!(
        "active fingerprint (turn off with --no-fingerprint): {} harmless request{} to {}{}, one connection each: {}; {verdict}",
        record.exchanges.len(),
        if record.exchanges.len() == 1 { "" } else { "s" },
        escape_peer(&record.to),
        if record.tls { " over TLS" } else { "" },
        answers.join("; ")
    )
}

/// True when the upgrade's answer came and names no proxy strongly enough
/// to blame (an app server's `Server` header does not name the hop in front
/// of it), so the fingerprint is worth sending. No answer at all (refused,
/// TLS failure): nothing to ask.
pub fn hop_unknown(handshake: Option<&HandshakeRecord>) -> bool {
    let Some(hs) = handshake else {
        return false;
    };
    let named = identify(hs).iter().any(|c| {
        c.confidence >= super::BLAME_THRESHOLD
            && crate::kb::kb()
                .intermediary(&c.id)
                .is_some_and(|i| i.is_proxy())
    });
    !named || renamed_by_a_hop_in_front(hs)
}

/// Every header name lower case: something normalised them on the way
/// (HAProxy ≥ 2.0 and Envoy do), so the product a header names may not be
/// the first hop (nginx and Apache write `Server`, `Connection`).
fn renamed_by_a_hop_in_front(hs: &HandshakeRecord) -> bool {
    // HTTP/2 lower-cases every name by itself (RFC 9113 §8.2.1).
    hs.http_version.starts_with("HTTP/1")
        && hs.headers.len() >= 2
        && hs
            .headers
            .iter()
            .all(|h| !h.name.bytes().any(|b| b.is_ascii_uppercase()))
}

/// Says on the top finding what the fingerprint sent and what answered.
pub fn note_on_top(findings: &mut [crate::finding::Finding], record: Option<&HopProbeRecord>) {
    if let (Some(first), Some(record)) = (findings.first_mut(), record) {
        first.evidence.push(summary(record));
    }
}
