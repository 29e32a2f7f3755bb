//! Rules for `wsdoctor lint`: configuration evidence in, findings out, each
//! finding tied to the config line it is about ([`ConfigFinding::span`]) and,
//! where a line edit fixes it, carrying that edit for `--fix`.
//!
//! * [`nginx`]: Upgrade/Connection forwarding (with the `map` idiom and its
//!   typos), `proxy_http_version`, reload drains and connection budget;
//! * [`haproxy`]: connection options, `maxconn`, `hard-stop-after`;
//! * [`hops`]: hops read from Kubernetes manifests, Envoy, Terraform,
//!   CloudFormation, AWS/gcloud output and Apache: upgrade forwarding where
//!   it needs configuring, Envoy's route timeout;
//! * [`pods`]: pod shutdown (`terminationGracePeriodSeconds`, `preStop`)
//!   against the drains around it;
//! * [`chain`]: every idle timer and lifetime cap found, across all files
//!   (plus kb defaults for `--via` hops), as one stack, judged against the
//!   application heartbeat.
//!
//! Pure: same evidence, same findings, most important first.

mod chain;
mod drain;
mod edits;
mod haproxy;
mod hops;
mod nginx;
mod pods;
#[cfg(test)]
mod tests;

use serde::Serialize;
use wsdoctor_evidence::config::{ConfigEvidence, Edit, Span};

use super::common::{self, fix_with};
use crate::finding::{CauseId, Finding, Fix, Severity, SourceKind};

/// One timer on the path: what every product module reads from its
/// files and [`chain`] judges as one stack.
#[derive(Debug, Clone)]
pub(crate) struct Hop {
    /// `nginx location /ws/`, `HAProxy backend ws`, `AWS ALB`.
    pub(crate) name: String,
    /// kb id of the product.
    pub(crate) intermediary: String,
    /// Closes connections silent for this long.
    pub(crate) idle_ms: Option<u64>,
    /// Closes connections this old, whatever the traffic.
    pub(crate) lifetime_ms: Option<u64>,
    /// The setting as written, or its default (`proxy_read_timeout 60s (default)`).
    pub(crate) setting: String,
    /// Where it is set (or where the default applies); `None` for `--via` hops.
    pub(crate) span: Option<Span>,
    /// True when no line sets it and the product default applies.
    pub(crate) is_default: bool,
    /// Edits that raise it.
    pub(crate) raise: Vec<Edit>,
    /// What raising it means, for the fix text.
    pub(crate) raise_text: String,
    /// Facts about this hop worth a note (`TLS listeners are fixed at 350 s`).
    pub(crate) notes: Vec<String>,
}

/// A finding about a config, with the place it points at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigFinding {
    /// The finding in the contract's shape (`subject` is `file:line`).
    pub finding: Finding,
    /// The token the finding is about, when it is about one place.
    pub span: Option<Span>,
    /// A few words shown under the caret (`no Upgrade header applies here`).
    pub label: Option<String>,
    /// Line edits that fix it (`--fix`); empty when no edit can.
    pub edits: Vec<Edit>,
    /// What `--fix` could not decide on its own (which of several places
    /// to change) and how the user tells it; `lint --fix` prints it on
    /// stderr.
    pub fix_note: Option<String>,
}

impl ConfigFinding {
    /// A config finding about `span` (or about the whole path when `None`).
    pub(crate) fn new(
        id: CauseId,
        severity: Severity,
        confidence: f64,
        title: impl Into<String>,
        span: Option<&Span>,
        intermediary: &str,
    ) -> ConfigFinding {
        let mut finding = common::finding(id, severity, confidence, title, SourceKind::Config);
        finding.subject = span.map(Span::file_line);
        finding.intermediary = Some(intermediary.to_owned());
        ConfigFinding {
            finding,
            span: span.cloned(),
            label: None,
            edits: Vec::new(),
            fix_note: None,
        }
    }

    pub(crate) fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub(crate) fn evidence(mut self, line: impl Into<String>) -> Self {
        self.finding.evidence.push(line.into());
        self
    }

    pub(crate) fn fix(mut self, fix: Fix) -> Self {
        self.finding.fix.push(fix);
        self
    }

    pub(crate) fn edit(mut self, edit: Option<Edit>) -> Self {
        self.edits.extend(edit);
        self
    }
}

/// Diagnoses configuration evidence. The list ends with a `healthy` info
/// finding when nothing reached warning level and every file could be read;
/// it is empty when there was nothing to judge.
pub fn diagnose_config(ev: &ConfigEvidence) -> Vec<ConfigFinding> {
    let mut out = Vec::new();
    out.extend(nginx::diagnose(ev));
    out.extend(haproxy::diagnose(ev));
    out.extend(hops::diagnose(ev));
    out.extend(pods::diagnose(ev));
    out.extend(chain::diagnose(ev));
    let fully_read = !ev.problems.iter().any(|p| p.kind.is_error());
    let worrying = out.iter().any(|f| f.finding.severity >= Severity::Warning);
    // A file skipped as a template (Helm) was not judged at all: with
    // nothing else read, "healthy" would claim what was never checked.
    let judged =
        !ev.nginx.routes.is_empty() || !ev.haproxy.sections.is_empty() || !ev.hops.is_empty();
    let templated = ev
        .problems
        .iter()
        .any(|p| p.kind == wsdoctor_evidence::config::ProblemKind::Templated);
    if !worrying && fully_read && !ev.files.is_empty() && (judged || !templated) {
        out.push(healthy(ev));
    }
    // Stable: equal findings stay in file order.
    out.sort_by(|a, b| {
        b.finding
            .severity
            .cmp(&a.finding.severity)
            .then(b.finding.confidence.total_cmp(&a.finding.confidence))
    });
    out
}

fn healthy(ev: &ConfigEvidence) -> ConfigFinding {
    let routes = ev.nginx.routes.len();
    let sections = ev.haproxy.sections.len();
    let mut f = ConfigFinding::new(
        CauseId::Healthy,
        Severity::Info,
        0.6,
        "Nothing in these files will drop WebSockets",
        None,
        ev.files.first().map_or("nginx", |f| f.kind.kb_id()),
    )
    .evidence(format!("{} file(s) read", ev.files.len()));
    f.finding.intermediary = None;
    if routes > 0 {
        f = f.evidence(format!(
            "{routes} nginx proxy block(s): Upgrade/Connection forwarding, proxy_http_version, proxy_read_timeout"
        ));
    }
    if sections > 0 {
        f = f.evidence(format!(
            "{sections} HAProxy proxy section(s): timeout tunnel/client/server"
        ));
    }
    for h in &ev.hops {
        let timers: Vec<String> = h
            .timers
            .iter()
            .map(|t| match &t.setting {
                Some(s) => format!("{} {}", t.key, s.raw),
                None => format!("{} (default)", t.key),
            })
            .collect();
        f = f.evidence(format!(
            "{} ({}): {}",
            h.name,
            h.span.file_line(),
            timers.join(", ")
        ));
    }
    f.fix(common::fix(
        "server",
        "Nothing to change in these files. Hops outside them (load balancers, CDNs) have their own timers: name them with --via, give the heartbeat with --app-ping, or measure the path with `wsdoctor idle`.",
    ))
}

/// Edit distance, for "did you mean" on header names and variables.
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut row = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            row.push((prev[j] + cost).min(prev[j + 1] + 1).min(row[j] + 1));
        }
        prev = row;
    }
    prev[b.len()]
}

/// True when `word` is a likely misspelling of `target` (case ignored):
/// close, but not the same.
pub(crate) fn is_typo(word: &str, target: &str) -> bool {
    let (w, t) = (word.to_ascii_lowercase(), target.to_ascii_lowercase());
    w != t && w.len() >= 4 && distance(&w, &t) <= 2
}

/// A fix from the kb's snippet for `id`, or plain text when it has none.
pub(crate) fn kb_fix(id: &str, text: impl Into<String>) -> Fix {
    let text = text.into();
    match crate::kb::kb()
        .intermediary(id)
        .and_then(|i| i.fix_snippet.as_deref())
    {
        Some(snippet) => fix_with(id, text, snippet),
        None => common::fix(id, text),
    }
}
