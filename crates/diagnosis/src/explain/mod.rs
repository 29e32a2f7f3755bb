//! `wsdoctor explain 1006`: what a close code (or a cause id) means, what
//! usually produces it, how to tell the causes apart, and what to check
//! next; all from the knowledge base, with sources. The report layer renders
//! the plain [`Explanation`].

mod app_codes;
mod app_reasons;
mod causes;
#[cfg(test)]
mod tests;

use serde::Serialize;
use wsdoctor_evidence::escape_peer;

use crate::advice::typical_idle_timeouts;
use crate::finding::CauseId;
use crate::kb::{kb, CloseCode, CloseRange, CodeEntry, Subcause};

/// What was explained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum Topic {
    /// A close code.
    CloseCode(u16),
    /// A cause id from the finding vocabulary.
    Cause(CauseId),
    /// An intermediary of the knowledge base (`aws-alb`, `nginx`).
    Intermediary(&'static str),
    /// A reason an application protocol gives in its own message (MQTT
    /// `0x8D`, Action Cable `unauthorized`).
    AppReason {
        /// The protocol's id (`mqtt`).
        protocol: &'static str,
        /// The reason as said on the wire.
        key: &'static str,
    },
}

/// Everything `explain` knows about one close code or cause.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// What was asked about.
    pub topic: Topic,
    /// `1006 Abnormal Closure`, `idle-timeout`.
    pub title: String,
    /// What it means.
    pub meaning: String,
    /// Whether the code can appear in a close frame, in words; `None` for causes.
    pub on_wire: Option<String>,
    /// Who usually sends it.
    pub typical_sender: Option<String>,
    /// What produces it in practice.
    pub root_causes: Vec<String>,
    /// How to tell those causes apart.
    pub how_to_tell_apart: Vec<String>,
    /// For 1006: the knowledge base's sub-causes (FIN, RST, half-open, …).
    pub subcauses: Vec<Subcause>,
    /// What to run or look at next.
    pub next_check: Vec<String>,
    /// Related cause ids (for a code) or close codes (for a cause).
    pub related: Vec<String>,
    /// The config change that fixes it, for an intermediary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix_snippet: Option<String>,
    /// Where the facts come from.
    pub sources: Vec<String>,
}

/// Why `explain` could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExplainError {
    /// Nothing was given.
    #[error("nothing to explain: give a close code (1006, 4001), a cause id (idle-timeout) or a product (aws-alb)")]
    Empty,
    /// A number outside the close-code space.
    #[error("'{0}' is not a WebSocket close code (they are 1000–4999)")]
    NotACloseCode(String),
    /// Neither a number nor a known cause id.
    #[error(
        "'{input}' is not a close code (1000–4999), a cause id or a product wsdoctor knows; {hint}"
    )]
    Unknown {
        /// What was given (escaped).
        input: String,
        /// `did you mean idle-timeout?` or examples.
        hint: String,
    },
    /// The knowledge base has no entry (only when the embedded kb failed to load).
    #[error("the knowledge base has no entry for {0}")]
    NoEntry(u16),
}

/// Every cause id `explain` knows, in the contract's order.
pub fn all_cause_ids() -> Vec<CauseId> {
    causes::CAUSES.iter().map(|c| c.id).collect()
}

/// Explains a close code (`"1006"`, `"4001"`) or a cause id (`"idle-timeout"`).
pub fn explain(input: &str) -> Result<Explanation, ExplainError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(ExplainError::Empty);
    }
    if input.bytes().all(|b| b.is_ascii_digit()) {
        let code = input
            .parse::<u16>()
            .ok()
            .filter(|c| (1000..=4999).contains(c))
            .ok_or_else(|| ExplainError::NotACloseCode(escape_peer(input)))?;
        return explain_code(code);
    }
    let id = input.to_ascii_lowercase();
    if let Some(i) = product(&id) {
        return Ok(explain_intermediary(i));
    }
    if let Some(row) = causes::find(&id) {
        return Ok(explain_cause(row));
    }
    app_reasons::explain(input).ok_or_else(|| ExplainError::Unknown {
        input: escape_peer(input),
        hint: hint(&id),
    })
}

fn hint(id: &str) -> String {
    let closest = causes::CAUSES
        .iter()
        .map(|c| (edit_distance(id, c.id.as_str()), c.id.as_str()))
        .min();
    match closest {
        Some((d, best)) if d <= 3 => format!("did you mean {best}?"),
        _ => {
            let products = kb().intermediaries().iter().map(|i| i.id.as_str());
            match products.map(|p| (edit_distance(id, p), p)).min() {
                Some((d, best)) if d <= 2 => format!("did you mean {best}?"),
                _ => "try 1006, 4001, idle-timeout or aws-alb".to_owned(),
            }
        }
    }
}

/// Levenshtein distance: enough to catch `idle-timout`.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

fn on_wire_words(value: &str) -> String {
    match value {
        "true" => "may be sent in a close frame".to_owned(),
        "false" => {
            "never sent on the wire: the client library or browser reports it locally".to_owned()
        }
        "reserved" => "reserved: must not be sent".to_owned(),
        other => other.to_owned(),
    }
}

fn push_source(sources: &mut Vec<String>, source: Option<&str>) {
    if let Some(s) = source.filter(|s| !s.trim().is_empty()) {
        if !sources.iter().any(|have| have == s) {
            sources.push(s.to_owned());
        }
    }
}

fn explain_code(code: u16) -> Result<Explanation, ExplainError> {
    if let Some(e) = app_codes::explain(code) {
        return Ok(e);
    }
    match kb().close_code(code) {
        Some(CodeEntry::Defined(c)) => Ok(defined(c)),
        Some(CodeEntry::Range(r)) => Ok(in_range(code, r)),
        None => Err(ExplainError::NoEntry(code)),
    }
}

fn defined(c: &CloseCode) -> Explanation {
    let kb = kb();
    let mut sources = Vec::new();
    push_source(&mut sources, Some(&c.source));
    push_source(&mut sources, c.root_causes_source.as_deref());
    push_source(&mut sources, c.distinguish_source.as_deref());
    let mut how = c.distinguish.clone();
    if c.on_wire == "false" {
        if let Some(rule) = &kb.rules().close_code_rule {
            how.push(rule.clone());
            push_source(&mut sources, kb.rules().close_code_rule_source.as_deref());
        }
    }
    let subcauses = if c.code == 1006 {
        kb.subcauses().to_vec()
    } else {
        Vec::new()
    };
    for s in &subcauses {
        how.push(format!(
            "{}: {} Timing: {}",
            s.summary,
            s.client_signal,
            s.timing_signature.as_deref().unwrap_or("—")
        ));
        push_source(&mut sources, Some(&s.source));
    }
    Explanation {
        topic: Topic::CloseCode(c.code),
        title: format!("{} {}", c.code, c.name),
        meaning: c.meaning.clone(),
        on_wire: Some(on_wire_words(&c.on_wire)),
        typical_sender: Some(c.typical_sender.clone()),
        root_causes: c.root_causes.clone(),
        how_to_tell_apart: how,
        subcauses,
        next_check: next_check_for_code(c.code),
        related: related_causes(c.code),
        fix_snippet: None,
        sources,
    }
}

fn in_range(code: u16, r: &CloseRange) -> Explanation {
    let (title, cause, check) = match r.start {
        4000.. => (
            format!("{code}: private-use code ({}–{})", r.start, r.end),
            "Application-defined: its meaning is whatever the server's code says.".to_owned(),
            format!("Search the server's code and docs for {code}; the close reason usually says more."),
        ),
        3000.. => (
            format!("{code}: library/framework code ({}–{})", r.start, r.end),
            "Registered with IANA by a library or framework (not one wsdoctor's knowledge base lists).".to_owned(),
            format!("Look {code} up in the IANA close-code registry or the server framework's docs."),
        ),
        _ => (
            format!("{code}: unassigned code ({}–{})", r.start, r.end),
            "No meaning is assigned: the peer is buggy or experimental.".to_owned(),
            "Check which library the peer runs and report the code to its maintainers.".to_owned(),
        ),
    };
    Explanation {
        topic: Topic::CloseCode(code),
        title,
        meaning: r.meaning.clone(),
        on_wire: Some(on_wire_words(&r.on_wire)),
        typical_sender: r.typical_sender.clone(),
        root_causes: vec![cause],
        how_to_tell_apart: Vec::new(),
        subcauses: Vec::new(),
        next_check: vec![check],
        related: related_causes(code),
        fix_snippet: None,
        sources: vec![r.source.clone()],
    }
}

fn related_causes(code: u16) -> Vec<String> {
    let ids: &[CauseId] = match code {
        1001 | 1012 | 1014 => &[CauseId::GoingAway, CauseId::MassDisconnect],
        1013 => &[CauseId::GoingAway, CauseId::LoadLimit],
        1002 | 1003 | 1004 | 1007 | 1010 => &[CauseId::ProtocolError],
        1009 => &[CauseId::ProtocolError, CauseId::SlowConsumer],
        1006 => &[
            CauseId::AbnormalClose,
            CauseId::IdleTimeout,
            CauseId::MaxLifetime,
            CauseId::NoHeartbeat,
            CauseId::MassDisconnect,
        ],
        1008 => &[CauseId::PolicyClose, CauseId::SlowConsumer],
        1000 | 1005 => &[CauseId::ServerClose],
        1011 => &[CauseId::ServerError, CauseId::LocalKeepaliveTimeout],
        1015 => &[CauseId::TlsFailure],
        3000..=4999 => &[CauseId::PolicyClose],
        _ => &[],
    };
    ids.iter().map(|id| id.as_str().to_owned()).collect()
}

fn next_check_for_code(code: u16) -> Vec<String> {
    let lines: &[&str] = match code {
        1000 => &["Check who sent it first and the reason: a 1000 from the server is its own application logic (or an old Jetty idle timeout, 'Idle for …')."],
        1001 | 1012..=1014 => &[
            "Did many clients get it at the same moment (deploy, reload) or one after a fixed idle time (an app server's idle timeout)? Compare close times across connections.",
            "`wsdoctor idle <url>` shows whether silence alone triggers it.",
        ],
        1002 | 1003 | 1007 | 1009 | 1010 => &["`wsdoctor probe <url>` records every frame before the close: compare message types and sizes with the server's limits."],
        1005 => &["A close frame did arrive, only without a code: the peer closed on purpose with an empty close frame."],
        1006 => &[
            "`wsdoctor probe <url> --watch 65s`: a native client sees FIN vs RST vs silence, and the HTTP status browsers hide.",
            "If drops follow a fixed silence, `wsdoctor idle <url>` measures the idle timeout and which traffic resets it.",
        ],
        1008 => &["Read the reason and the server's auth or policy code; compare the connection's age with the token's lifetime."],
        1011 => &["A reason naming keepalive or ping means a heartbeat failure (latency, a blocked event loop); otherwise look for an exception in the server log at the close time."],
        1015 => &["`wsdoctor probe <url>` reports the TLS error: certificate, host name or protocol."],
        3000..=4999 => &["Read the reason; the code's meaning belongs to the server's framework or application."],
        _ => &["The peer should not send this code; check which library it runs."],
    };
    lines.iter().map(|l| (*l).to_owned()).collect()
}

fn explain_cause(row: &causes::CauseRow) -> Explanation {
    let mut root_causes = Vec::new();
    let mut sources = vec!["wsdoctor finding vocabulary (shared/contract.md)".to_owned()];
    if matches!(
        row.id,
        CauseId::IdleTimeout
            | CauseId::NoHeartbeat
            | CauseId::HeartbeatTooSlow
            | CauseId::AbnormalClose
    ) {
        root_causes.push(format!(
            "Default idle timeouts: {}.",
            typical_idle_timeouts()
        ));
        sources.push("kb/intermediaries.toml (idle_timeout_default_s and its idle_timeout_source per product)".to_owned());
    }
    Explanation {
        topic: Topic::Cause(row.id),
        title: row.id.as_str().to_owned(),
        meaning: row.meaning.to_owned(),
        on_wire: None,
        typical_sender: None,
        root_causes,
        how_to_tell_apart: vec![format!("Typical evidence: {}.", row.typical_evidence)],
        subcauses: Vec::new(),
        next_check: row.next_check.iter().map(|l| (*l).to_owned()).collect(),
        related: row.close_codes.iter().map(|c| (*c).to_owned()).collect(),
        fix_snippet: Some(cause_fix_text(row.id)),
        sources,
    }
}

/// The cause's general fix as one block: its sentence, then its code.
fn cause_fix_text(id: CauseId) -> String {
    let fix = crate::advice::cause_fix(id);
    match fix.snippet {
        Some(snippet) => format!("{}\n\n{snippet}", fix.text),
        None => fix.text,
    }
}

/// Everything the kb says about one product: its timers, how it closes, how
/// to recognise it, and the config that fixes it.
/// Other names people type for a kb product (`explain agic`). Kept here,
/// not in the kb: they are how users say it, not facts about the product.
const PRODUCT_ALIASES: &[(&str, &str)] = &[
    ("agic", "azure-agic"),
    ("application-gateway", "azure-app-gateway"),
    ("app-gateway", "azure-app-gateway"),
    ("front-door", "azure-front-door"),
    ("afd", "azure-front-door"),
    ("app-service", "azure-app-service"),
    ("container-apps", "azure-container-apps"),
    ("cloud-run", "gcp-cloud-run"),
    ("cloudrun", "gcp-cloud-run"),
    ("gke", "gcp-external-alb"),
    ("gke-ingress", "gcp-external-alb"),
    ("ambassador", "emissary"),
    ("emissary-ingress", "emissary"),
    ("gloo-edge", "gloo"),
    ("linkerd2", "linkerd"),
    ("fly", "fly-proxy"),
    ("fly.io", "fly-proxy"),
    ("heroku", "heroku-router"),
];

/// The kb product a user's word names: its id, or one of its aliases.
fn product(id: &str) -> Option<&'static crate::kb::Intermediary> {
    let kb = kb();
    kb.intermediary(id).or_else(|| {
        PRODUCT_ALIASES
            .iter()
            .find(|(alias, _)| *alias == id)
            .and_then(|(_, target)| kb.intermediary(target))
    })
}

/// `120 s (also given: 100 s)`: a default and the values the docs or field
/// reports give instead.
fn with_also(value: u32, also: &[u32]) -> String {
    if also.is_empty() {
        return format!("{value} s");
    }
    let more: Vec<String> = also.iter().map(|v| format!("{v} s")).collect();
    format!("{value} s (also given: {})", more.join(", "))
}

/// The facts of a kb entry in the order `explain` shows them, and the
/// sources they came from (each once).
#[derive(Default)]
struct Facts {
    facts: Vec<String>,
    sources: Vec<String>,
}

impl Facts {
    fn source(&mut self, s: Option<&str>) {
        if let Some(s) = s.filter(|s| !s.trim().is_empty()) {
            if !self.sources.iter().any(|have| have == s) {
                self.sources.push(s.to_owned());
            }
        }
    }
}

fn explain_intermediary(i: &'static crate::kb::Intermediary) -> Explanation {
    let mut out = Facts::default();
    idle_facts(i, &mut out);
    lifetime_facts(i, &mut out);
    close_facts(i, &mut out);
    let mut recognise: Vec<String> = i.fingerprint.clone();
    if let Some(note) = &i.fingerprint_note {
        recognise.push(note.clone());
    }
    out.source(i.fingerprint_source.as_deref());
    out.source(i.websocket_source.as_deref());
    out.source(i.fix_source.as_deref());
    // Some names already carry their kind ("Squid (forward proxy)").
    let kind = format!("({})", i.kind);
    let named = if i.name.ends_with(&kind) {
        i.name.clone()
    } else {
        format!("{} {kind}", i.name)
    };
    let meaning = match (&i.websocket_support, &i.websocket_config) {
        (Some(support), Some(config)) => {
            format!("{named}. WebSocket support: {support}. {config}")
        }
        (Some(support), None) => format!("{named}. WebSocket support: {support}."),
        _ => format!("{named}."),
    };
    Explanation {
        topic: Topic::Intermediary(i.id.as_str()),
        title: i.name.clone(),
        meaning,
        on_wire: None,
        typical_sender: None,
        root_causes: out.facts,
        how_to_tell_apart: recognise,
        subcauses: Vec::new(),
        next_check: vec![
            "`wsdoctor idle <url>` measures the path's idle timeout and compares it with this product's default.".to_owned(),
        ],
        related: Vec::new(),
        fix_snippet: i.fix_snippet.as_ref().map(|s| s.trim_matches('\n').to_owned()),
        sources: out.sources,
    }
}

/// The idle timeout: its default (or the values given), range, setting,
/// notes and what resets it.
fn idle_facts(i: &crate::kb::Intermediary, out: &mut Facts) {
    match (i.idle_timeout_default_s, i.idle_timeout_also_s.as_slice()) {
        (Some(t), also) => {
            let range = match (i.idle_timeout_min_s, i.idle_timeout_max_s) {
                (Some(lo), Some(hi)) => format!(", configurable {lo}–{hi} s"),
                _ => String::new(),
            };
            let setting = i
                .idle_timeout_setting
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            out.facts.push(format!(
                "Idle timeout: {} by default{range}{setting}.",
                with_also(t, also)
            ));
        }
        (None, [first, rest @ ..]) => out.facts.push(format!(
            "Idle timeout: {} as given by the sources (no single default).",
            with_also(*first, rest)
        )),
        (None, []) => match &i.idle_timeout_note {
            Some(note) => out.facts.push(format!("Idle timeout: {note}")),
            None => out
                .facts
                .push("Idle timeout: not documented in the sources consulted.".to_owned()),
        },
    }
    if i.idle_timeout_default_s.is_some() || !i.idle_timeout_also_s.is_empty() {
        if let Some(note) = &i.idle_timeout_note {
            out.facts.push(note.clone());
        }
    }
    if let Some(note) = &i.idle_timeout_disagreement_note {
        out.facts
            .push(format!("Where the sources disagree: {note}"));
    }
    out.source(i.idle_timeout_source.as_deref());
    if let Some(counts) = &i.idle_timeout_counts {
        out.facts.push(format!("What resets it: {counts}"));
    }
}

/// The maximum connection lifetime, when the product has one.
fn lifetime_facts(i: &crate::kb::Intermediary, out: &mut Facts) {
    let lifetime = match (i.max_lifetime_s, i.max_lifetime_also_s.as_slice()) {
        (Some(t), also) => Some(with_also(t, also)),
        (None, [first, rest @ ..]) => Some(with_also(*first, rest)),
        (None, []) => None,
    };
    match (lifetime, &i.max_lifetime_note) {
        (Some(t), note) => {
            let setting = i
                .max_lifetime_setting
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            out.facts
                .push(format!("Maximum connection lifetime: {t}{setting}."));
            if let Some(note) = note {
                out.facts.push(note.clone());
            }
        }
        (None, Some(note)) => out.facts.push(format!("Maximum lifetime: {note}")),
        (None, None) => {}
    }
    if let Some(note) = &i.max_lifetime_disagreement_note {
        out.facts
            .push(format!("Where the sources disagree: {note}"));
    }
    out.source(i.max_lifetime_source.as_deref());
}

/// How it closes, whether pings count, its other ways of dropping, and the
/// rarer facts the kb keeps as notes.
fn close_facts(i: &crate::kb::Intermediary, out: &mut Facts) {
    if let Some(method) = &i.idle_close_method {
        let detail = i
            .idle_close_detail
            .as_deref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        out.facts.push(format!(
            "How it closes an idle connection: {method}{detail}"
        ));
    }
    if let Some(sees) = &i.idle_close_client_sees {
        out.facts.push(format!("What the client sees: {sees}"));
    }
    out.source(i.idle_close_source.as_deref());
    if let Some(pp) = &i.ping_pong_counts {
        let note = i
            .ping_pong_note
            .as_deref()
            .map(|n| format!(" {n}"))
            .unwrap_or_default();
        out.facts
            .push(format!("Do WebSocket pings keep it open: {pp}.{note}"));
    }
    out.source(i.ping_pong_source.as_deref());
    out.facts.extend(i.other_drop_causes.iter().cloned());
    out.source(i.other_drop_causes_source.as_deref());
    if let Some(h) = &i.handshake_timeout_behavior {
        out.facts.push(format!(
            "When the backend is slow to answer the upgrade: {h}"
        ));
    }
    out.source(i.handshake_timeout_source.as_deref());
    // The rarer facts (`reload_close_detail`, `request_timeout_note`, …):
    // their notes and details, in the kb's words, with their sources.
    for (key, value) in &i.other {
        let Some(text) = value.as_str() else { continue };
        if key.ends_with("_note") || key.ends_with("_detail") || key.ends_with("_client_sees") {
            out.facts.push(text.to_owned());
        } else if key.ends_with("_source") {
            out.source(Some(text));
        }
    }
}
