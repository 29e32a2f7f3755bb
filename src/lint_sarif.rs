//! `wsdoctor lint --format sarif`: the findings as SARIF 2.1.0, the format
//! GitHub code scanning, GitLab and most CI dashboards read.
//!
//! Rule ids are the cause ids, with the knowledge base's meaning and the
//! fix as help; results point at file/line/column regions (columns in
//! Unicode code points, as the spans count them); `--fix`'s edits become
//! SARIF `fixes`; findings silenced by `# wsdoctor: ignore …` stay in the
//! log with an `inSource` suppression. Built with serde_json: the document
//! is small, and the test validates it against the published schema
//! (`schema/sarif-schema-2.1.0.json`), which a typed SARIF crate would not
//! spare us.

use std::collections::BTreeMap;

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde_json::{json, Map, Value};
use wsdoctor_diagnosis::rules::config::ConfigFinding;
use wsdoctor_diagnosis::{CauseId, Severity};
use wsdoctor_evidence::config::{ConfigEvidence, Span};
use wsdoctor_lint::IgnoreDirective;

/// The base the relative artifact URIs resolve against: the directory lint
/// ran in (a CI checkout's root, where GitHub expects paths relative to).
const SRCROOT: &str = "SRCROOT";

/// Characters a path segment cannot carry as they are in a URI reference.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'[')
    .add(b']')
    .add(b'\\')
    .add(b'^')
    .add(b'|');

/// A finding with the directive that silenced it, when one did.
pub(crate) struct Entry<'a> {
    pub(crate) finding: &'a ConfigFinding,
    pub(crate) silenced_by: Option<&'a IgnoreDirective>,
}

/// The SARIF log of one lint run.
pub(crate) fn sarif_log(evidence: &ConfigEvidence, entries: &[Entry<'_>]) -> Value {
    // `healthy` is the absence of a problem, not a result to show.
    let entries: Vec<&Entry<'_>> = entries
        .iter()
        .filter(|e| e.finding.finding.id != CauseId::Healthy)
        .collect();
    let mut rule_index: BTreeMap<&str, usize> = BTreeMap::new();
    let mut rules = Vec::new();
    for e in &entries {
        let id = e.finding.finding.id.as_str();
        if !rule_index.contains_key(id) {
            rule_index.insert(id, rules.len());
            rules.push(rule(e.finding));
        }
    }
    let results: Vec<Value> = entries
        .iter()
        .map(|e| result(evidence, e, rule_index.get(e.finding.finding.id.as_str())))
        .collect();
    let mut run = json!({
        "tool": { "driver": {
            "name": "wsdoctor",
            "semanticVersion": env!("CARGO_PKG_VERSION"),
            "rules": rules,
        }},
        "columnKind": "unicodeCodePoints",
        "results": results,
        "invocations": [invocation(evidence)],
    });
    if let Some(base) = srcroot() {
        run["originalUriBaseIds"] = json!({ SRCROOT: { "uri": base } });
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [run],
    })
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// The fix texts of a finding, one per line, each naming who applies it.
fn fix_text(f: &ConfigFinding) -> String {
    f.finding
        .fix
        .iter()
        .map(|fix| match &fix.snippet {
            Some(snippet) => format!("({}) {}\n{snippet}", fix.for_, fix.text),
            None => format!("({}) {}", fix.for_, fix.text),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A rule: the cause id, what it means (the knowledge base, as `wsdoctor
/// explain` says it) and the fix of the first finding of that cause.
fn rule(f: &ConfigFinding) -> Value {
    let id = f.finding.id.as_str();
    let meaning = wsdoctor_diagnosis::explain(id)
        .map(|e| e.meaning)
        .unwrap_or_else(|_| f.finding.title.clone());
    let short = meaning
        .split_inclusive(". ")
        .next()
        .unwrap_or(&meaning)
        .trim()
        .to_owned();
    let help = format!(
        "{meaning}\n\nFix:\n{}\n\nMore: wsdoctor explain {id}",
        fix_text(f)
    );
    json!({
        "id": id,
        "shortDescription": { "text": short },
        "fullDescription": { "text": meaning },
        "help": { "text": help },
        "defaultConfiguration": { "level": level(f.finding.severity) },
    })
}

/// A URI reference for a display path: relative ones against `SRCROOT`.
fn artifact(path: &str) -> Value {
    let encoded: Vec<String> = path
        .split('/')
        .map(|seg| utf8_percent_encode(seg, SEGMENT).to_string())
        .collect();
    let joined = encoded.join("/");
    if path.starts_with('/') {
        json!({ "uri": format!("file://{joined}") })
    } else {
        json!({ "uri": joined, "uriBaseId": SRCROOT })
    }
}

fn srcroot() -> Option<String> {
    let cwd = std::env::current_dir().ok()?;
    let text = cwd.to_str()?;
    let encoded: Vec<String> = text
        .split('/')
        .map(|seg| utf8_percent_encode(seg, SEGMENT).to_string())
        .collect();
    let mut uri = format!("file://{}", encoded.join("/"));
    if !uri.ends_with('/') {
        uri.push('/');
    }
    Some(uri)
}

fn physical(span: &Span) -> Value {
    let column = span.column.max(1);
    json!({ "physicalLocation": {
        "artifactLocation": artifact(&span.file),
        "region": {
            "startLine": span.line.max(1),
            "startColumn": column,
            "endLine": span.line.max(1),
            "endColumn": column + span.len.max(1),
        },
    }})
}

fn result(evidence: &ConfigEvidence, e: &Entry<'_>, rule_index: Option<&usize>) -> Value {
    let f = e.finding;
    let mut out = Map::new();
    out.insert("ruleId".into(), json!(f.finding.id.as_str()));
    if let Some(index) = rule_index {
        out.insert("ruleIndex".into(), json!(index));
    }
    out.insert("level".into(), json!(level(f.finding.severity)));
    let mut message = f.finding.title.clone();
    if let Some(label) = &f.label {
        message.push_str(&format!(" ({label})"));
    }
    match (&f.span, evidence.files.first()) {
        (Some(span), _) => {
            out.insert("locations".into(), json!([physical(span)]));
        }
        // GitHub code scanning rejects the whole log when one result has
        // no physical location, and a finding about a hop outside the
        // files (`--via`, a kb default) has no place in them: it is
        // anchored at the first file read, and its message says so.
        (None, Some(first)) => {
            message.push_str(&format!(
                " [about no line of the files read; anchored at {}]",
                first.path
            ));
            let anchor = Span {
                file: first.path.clone(),
                line: 1,
                column: 1,
                len: 1,
            };
            out.insert("locations".into(), json!([physical(&anchor)]));
        }
        (None, None) => {}
    }
    out.insert("message".into(), json!({ "text": message }));
    let changes = wsdoctor_lint::replacements(evidence, &f.edits);
    if !changes.is_empty() {
        let artifact_changes: Vec<Value> = changes
            .iter()
            .map(|(file, replacements)| {
                let replacements: Vec<Value> = replacements
                    .iter()
                    .map(|r| {
                        json!({
                            "deletedRegion": { "charOffset": r.char_offset, "charLength": r.deleted_chars },
                            "insertedContent": { "text": r.inserted },
                        })
                    })
                    .collect();
                json!({ "artifactLocation": artifact(file), "replacements": replacements })
            })
            .collect();
        let description = f
            .finding
            .fix
            .first()
            .map_or_else(|| "wsdoctor lint --fix".to_owned(), |fix| fix.text.clone());
        out.insert(
            "fixes".into(),
            json!([{ "description": { "text": description }, "artifactChanges": artifact_changes }]),
        );
    }
    if let Some(d) = e.silenced_by {
        let mut suppression = json!({
            "kind": "inSource",
            "location": physical(&Span { file: d.file.clone(), line: d.line, column: 1, len: 1 }),
        });
        if let Some(reason) = &d.reason {
            suppression["justification"] = json!(reason);
        }
        out.insert("suppressions".into(), json!([suppression]));
    }
    Value::Object(out)
}

/// What lint could not read, as tool notifications.
fn invocation(evidence: &ConfigEvidence) -> Value {
    let notifications: Vec<Value> = evidence
        .problems
        .iter()
        .map(|p| {
            json!({
                "level": if p.kind.is_error() { "error" } else { "warning" },
                "message": { "text": p.message },
                "locations": [physical(&p.span)],
            })
        })
        .collect();
    json!({
        "executionSuccessful": true,
        "toolExecutionNotifications": notifications,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_uri_references() {
        assert_eq!(
            artifact("conf/my site#1.conf"),
            json!({ "uri": "conf/my%20site%231.conf", "uriBaseId": "SRCROOT" })
        );
        assert_eq!(
            artifact("/etc/nginx/nginx.conf"),
            json!({ "uri": "file:///etc/nginx/nginx.conf" })
        );
    }
}
