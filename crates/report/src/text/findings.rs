//! Findings and the verdict, as text. Order and wording come from the
//! diagnosis; this only lays them out.

use wsdoctor_diagnosis::{Finding, Severity, Verdict};
use wsdoctor_evidence::escape_peer;

use super::layout::{indent, width};
use super::style::{Style, Tone};

/// Width of the `✗ error  ` gutter; evidence and fixes align under the title.
const GUTTER: usize = 11;

/// The mark, word and tone of a severity.
pub(crate) fn severity_label(severity: Severity) -> (&'static str, &'static str, Tone) {
    match severity {
        Severity::Error => ("✗", "error", Tone::Error),
        Severity::Warning => ("!", "warning", Tone::Warning),
        Severity::Info => ("i", "info", Tone::Dim),
    }
}

/// `0.9`, `0.93`, `1.0`: two decimals at most, as the rules state them.
fn confidence(value: f64) -> String {
    let text = format!("{value:.2}");
    let trimmed = text.trim_end_matches('0');
    if trimmed.ends_with('.') {
        format!("{trimmed}0")
    } else {
        trimmed.to_owned()
    }
}

/// `✗ error    <title>  [id, confidence 0.9]`: one line per finding.
pub(crate) fn headline(finding: &Finding, style: Style) -> String {
    let (mark, word, tone) = severity_label(finding.severity);
    let label = format!("{mark} {word}");
    let pad = " ".repeat(GUTTER.saturating_sub(width(&label)));
    let label = style.paint(tone, &label);
    let tag = format!(
        "[{}, confidence {}]",
        finding.id.as_str(),
        confidence(finding.confidence)
    );
    format!(
        "{label}{pad}{}  {}",
        style.paint(Tone::Title, &escape_peer(&finding.title)),
        style.paint(Tone::Dim, &tag)
    )
}

/// Renders findings in the order given: a headline each, then the subject
/// and intermediary when set, evidence lines (`· …`) and fixes
/// (`fix (for nginx): …` with the snippet indented as a code block). Every
/// string is escaped again here: escaping is idempotent and a finding's text
/// may quote the peer. Returns `no findings` for an empty list.
pub fn render_findings(findings: &[Finding], style: Style) -> String {
    if findings.is_empty() {
        return "no findings\n".to_owned();
    }
    let blocks: Vec<String> = findings.iter().map(|f| finding_block(f, style)).collect();
    let mut out = blocks.join("\n");
    out.push('\n');
    out
}

fn finding_block(finding: &Finding, style: Style) -> String {
    let mut lines = vec![headline(finding, style)];
    let mut about = Vec::new();
    if let Some(subject) = &finding.subject {
        about.push(format!("about {}", escape_peer(subject)));
    }
    if let Some(intermediary) = &finding.intermediary {
        about.push(format!("intermediary {}", escape_peer(intermediary)));
    }
    if !about.is_empty() {
        lines.push(style.paint(Tone::Dim, &about.join(" · ")));
    }
    for line in &finding.evidence {
        lines.push(format!("· {}", escape_peer(line)));
    }
    for fix in &finding.fix {
        let who = style.paint(
            Tone::Title,
            &format!("fix (for {}):", escape_peer(&fix.for_)),
        );
        lines.push(format!("{who} {}", escape_peer(&fix.text)));
        if let Some(snippet) = &fix.snippet {
            lines.push(indent(&code_block(snippet), 4));
        }
    }
    // How to confirm, and what would change the conclusion: one line each.
    for (label, text) in [
        ("confirm:", &finding.confirm),
        ("would change it:", &finding.would_change),
    ] {
        if let Some(text) = text {
            lines.push(format!(
                "{} {}",
                style.paint(Tone::Dim, label),
                escape_peer(text)
            ));
        }
    }
    let (head, rest) = lines.split_at(1);
    let mut out = head.concat();
    for line in rest {
        out.push('\n');
        out.push_str(&indent(line, GUTTER));
    }
    out
}

/// A snippet keeps its lines and indentation; each line is escaped on its
/// own (so the newlines survive) and tabs become spaces to keep alignment.
fn code_block(snippet: &str) -> String {
    snippet
        .trim_end()
        .lines()
        .map(|line| escape_peer(&line.replace('\t', "    ")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `verdict: healthy`, `verdict: problems (2 errors, 1 warning)` or
/// `verdict: inconclusive`. The verdict is the one given (the report's);
/// `findings` only supply the counts.
pub fn verdict_line(verdict: Verdict, findings: &[Finding], style: Style) -> String {
    let count = |severity| findings.iter().filter(|f| f.severity == severity).count();
    let (word, tone) = match verdict {
        Verdict::Healthy => ("healthy", Tone::Good),
        Verdict::Problems if count(Severity::Error) > 0 => ("problems", Tone::Error),
        Verdict::Problems => ("problems", Tone::Warning),
        Verdict::Inconclusive => ("inconclusive", Tone::Warning),
    };
    let counts: Vec<String> = [
        (count(Severity::Error), "error"),
        (count(Severity::Warning), "warning"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}{}", if n == 1 { "" } else { "s" }))
    .collect();
    let detail = if matches!(verdict, Verdict::Problems) && !counts.is_empty() {
        format!(" ({})", counts.join(", "))
    } else {
        String::new()
    };
    format!(
        "{} {}{detail}",
        style.paint(Tone::Title, "verdict:"),
        style.paint(tone, word)
    )
}

#[cfg(test)]
mod tests {
    use super::confidence;

    #[test]
    fn confidence_keeps_what_the_rule_said() {
        assert_eq!(confidence(0.9), "0.9");
        assert_eq!(confidence(0.93), "0.93");
        assert_eq!(confidence(1.0), "1.0");
        assert_eq!(confidence(0.0), "0.0");
    }
}
