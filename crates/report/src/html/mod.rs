//! The self-contained HTML report (`--html FILE`): findings with evidence and
//! fixes first, then the command's charts as inline SVG. No scripts, no
//! network fetches; prints well. Every peer-controlled string is escaped.

mod charts;
mod client_charts;
mod logs_charts;
mod svg;
mod watch_charts;

use std::fmt::Write;

use wsdoctor_diagnosis::{Finding, Severity, Verdict};

use crate::json::Report;

pub use charts::{drop_histogram, idle_charts, load_charts, probe_charts, timeline, Chart};
pub use client_charts::{reconnect_charts, storm_charts};
pub use logs_charts::logs_charts;
pub use watch_charts::watch_charts;

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #212121; max-width: 900px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #e0e0e0; }
.meta { color: #616161; } .verdict { font-weight: 600; padding: 0.1em 0.5em; border-radius: 4px; }
.v-healthy { background: #e8f5e9; color: #1b5e20; } .v-problems { background: #ffebee; color: #b71c1c; } .v-inconclusive { background: #fff3e0; color: #e65100; }
.finding { border-left: 4px solid #9e9e9e; padding: 0.3em 0.9em; margin: 1em 0; background: #fafafa; }
.finding.error { border-color: #c62828; } .finding.warning { border-color: #ef6c00; } .finding.info { border-color: #9e9e9e; }
.finding h3 { margin: 0.2em 0; font-size: 1.05em; } .tag { color: #757575; font-weight: normal; font-size: 0.85em; }
.finding ul { margin: 0.3em 0; padding-left: 1.2em; } .fix { margin: 0.5em 0; } .fix b { color: #1565c0; } .check { color: #616161; font-size: 0.9em; }
pre { background: #263238; color: #eceff1; padding: 0.7em; border-radius: 4px; overflow-x: auto; font-size: 0.85em; }
svg { width: 100%; height: auto; font: 11px system-ui, sans-serif; fill: #424242; } svg .unit { fill: #757575; } svg .marker { fill: #616161; font-size: 10px; }
.caption { color: #616161; font-size: 0.9em; }
summary { cursor: pointer; color: #1565c0; font-size: 0.9em; margin: 0.3em 0; }
@media print { details > pre { display: block; } }
@media print { body { margin: 0; max-width: none; } .finding { break-inside: avoid; } svg { break-inside: avoid; } }
"#;

/// Snippets longer than this many lines are folded under `<details>`.
const SNIPPET_FOLD_LINES: usize = 12;

fn verdict_class(v: Verdict) -> (&'static str, &'static str) {
    match v {
        Verdict::Healthy => ("v-healthy", "healthy"),
        Verdict::Problems => ("v-problems", "problems"),
        Verdict::Inconclusive => ("v-inconclusive", "inconclusive"),
    }
}

fn finding_html(out: &mut String, f: &Finding) {
    let class = match f.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
    };
    let _ = write!(
        out,
        r#"<div class="finding {class}"><h3>{} <span class="tag">[{}, {class}, confidence {:.2}]</span></h3>"#,
        escape_html(&f.title),
        f.id.as_str(),
        f.confidence
    );
    let mut about = Vec::new();
    if let Some(s) = &f.subject {
        about.push(format!("about {}", escape_html(s)));
    }
    if let Some(i) = &f.intermediary {
        about.push(format!("intermediary <b>{}</b>", escape_html(i)));
    }
    if !about.is_empty() {
        let _ = write!(out, r#"<div class="meta">{}</div>"#, about.join(" · "));
    }
    out.push_str("<ul>");
    for e in &f.evidence {
        let _ = write!(out, "<li>{}</li>", escape_html(e));
    }
    out.push_str("</ul>");
    for fix in &f.fix {
        let _ = write!(
            out,
            r#"<div class="fix"><b>fix ({}):</b> {}</div>"#,
            escape_html(&fix.for_),
            escape_html(&fix.text)
        );
        if let Some(snippet) = &fix.snippet {
            // Long snippets (a ping loop in five languages) would push the
            // charts off the first screens of a ticket; they fold, no script.
            let lines = snippet.lines().count();
            if lines > SNIPPET_FOLD_LINES {
                let _ = write!(
                    out,
                    "<details><summary>the snippet ({lines} lines)</summary><pre>{}</pre></details>",
                    escape_html(snippet)
                );
            } else {
                let _ = write!(out, "<pre>{}</pre>", escape_html(snippet));
            }
        }
    }
    for (label, text) in [
        ("confirm", &f.confirm),
        ("would change it", &f.would_change),
    ] {
        if let Some(text) = text {
            let _ = write!(
                out,
                r#"<div class="check"><b>{label}:</b> {}</div>"#,
                escape_html(text)
            );
        }
    }
    out.push_str("</div>");
}

/// The whole page for a report, its charts and, when given, the text report
/// as the terminal shows it (colours dropped): everything the text view
/// says — the handshake, TLS, a forward proxy, the extensions, the tables —
/// without a second rendering of it here.
pub fn render_html(report: &Report, charts: &[Chart], text: Option<&str>) -> String {
    let (class, word) = verdict_class(report.verdict);
    let mut out = String::new();
    let title = format!("wsdoctor {} — {}", report.command, report.target);
    let _ = write!(
        out,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{}</title><style>{STYLE}</style></head><body>"#,
        escape_html(&title)
    );
    let _ = write!(
        out,
        r#"<h1>{}</h1><p class="meta">started {} · ran {:.1} s · wsdoctor {} · verdict <span class="verdict {class}">{word}</span></p>"#,
        escape_html(&title),
        escape_html(&report.started_at),
        report.duration_s,
        escape_html(&report.tool_version)
    );
    out.push_str("<h2>Findings</h2>");
    if report.findings.is_empty() {
        out.push_str("<p>No findings.</p>");
    }
    for f in &report.findings {
        finding_html(&mut out, f);
    }
    for chart in charts {
        let _ = write!(
            out,
            r#"<h2>{}</h2>{}<p class="caption">{}</p>"#,
            escape_html(&chart.title),
            chart.svg,
            escape_html(&chart.caption)
        );
    }
    if let Some(text) = text {
        let _ = write!(
            out,
            r#"<h2>Text report</h2><details><summary>the same report as the terminal shows it</summary><pre class="text">{}</pre></details>"#,
            escape_html(&without_colours(text))
        );
    }
    out.push_str("</body></html>\n");
    out
}

/// `text` without the SGR colour sequences (`ESC [ … m`) our text views add
/// on a terminal. Peer-controlled strings never carry a raw ESC into the
/// text (they are escaped first), so only ours are there to drop.
fn without_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("\x1b[") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        match after.find(|c: char| !(c.is_ascii_digit() || c == ';')) {
            Some(end) if after[end..].starts_with('m') => rest = &after[end + 1..],
            // Not a colour sequence: the ESC goes, the rest stays.
            _ => rest = &rest[at + 1..],
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests;
