//! Text for `wsdoctor lint`: findings the way a compiler prints
//! diagnostics, so people (and editors that parse `file:line:col`) can jump
//! straight to the line.
//!
//! ```text
//! error[upgrade-not-forwarded]: location /ws/ does not forward the Upgrade header
//!   --> nginx/conf.d/app.conf:14:5
//!    |
//! 14 |     location /ws/ {
//!    |     ^^^^^^^^ no `proxy_set_header Upgrade` applies in this block
//!    |
//!    = note: location /ws/ is taken to carry WebSockets: its path `/ws/` …
//!    = help: Forward the client's Upgrade header: …
//! ```
//!
//! Reading problems (syntax errors, templated values, includes) come first,
//! templated values folded to one line per file.

use std::collections::BTreeMap;

use wsdoctor_diagnosis::rules::config::ConfigFinding;
use wsdoctor_diagnosis::Severity;
use wsdoctor_evidence::config::{ConfigEvidence, ConfigProblem, ProblemKind, Span};
use wsdoctor_evidence::escape_peer;

use super::findings::severity_label;
use super::layout::indent;
use super::style::{Style, Tone};

/// Tabs in source lines are shown as this many spaces (carets line up).
const TAB: usize = 4;

/// Characters of a source line shown at most.
const WINDOW: usize = 160;

/// Renders reading problems, then every finding, then a one-line summary
/// of what was read. The caller appends the verdict line.
pub fn render_lint(ev: &ConfigEvidence, findings: &[ConfigFinding], style: Style) -> String {
    let mut blocks: Vec<String> = problems(ev, style);
    blocks.extend(findings.iter().map(|f| finding(ev, f, style)));
    let fixable = findings.iter().filter(|f| !f.edits.is_empty()).count();
    let mut summary = format!(
        "{} file(s) read: {}",
        ev.files.len(),
        ev.files
            .iter()
            .map(|f| escape_peer(&f.path))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if fixable > 0 {
        summary.push_str(&format!(
            "\n{fixable} finding(s) can be fixed in place: run again with --fix and pipe the diff to `patch -p1`"
        ));
    }
    blocks.push(style.paint(Tone::Dim, &summary));
    let mut out = blocks.join("\n\n");
    out.push('\n');
    out
}

fn head(word: &str, tone: Tone, id: Option<&str>, title: &str, style: Style) -> String {
    let tag = match id {
        Some(id) => format!("{word}[{id}]"),
        None => word.to_owned(),
    };
    format!(
        "{}{}",
        style.paint(tone, &tag),
        style.paint(Tone::Title, &format!(": {}", escape_peer(title)))
    )
}

fn finding(ev: &ConfigEvidence, f: &ConfigFinding, style: Style) -> String {
    let (_, word, tone) = severity_label(f.finding.severity);
    let mut lines = vec![head(
        word,
        tone,
        Some(f.finding.id.as_str()),
        &f.finding.title,
        style,
    )];
    let gutter = f
        .span
        .as_ref()
        .map_or(1, |s| s.line.to_string().len())
        .max(2);
    let bar = style.paint(Tone::Dim, &format!("{} |", " ".repeat(gutter)));
    if let Some(span) = &f.span {
        lines.extend(snippet(ev, span, f.label.as_deref(), gutter, tone, style));
    } else if let Some(i) = &f.finding.intermediary {
        lines.push(format!(
            "{}{} {}",
            " ".repeat(gutter),
            style.paint(Tone::Dim, "-->"),
            escape_peer(&format!("{i} (not in these files)"))
        ));
    }
    lines.push(bar);
    let eq = format!("{} =", " ".repeat(gutter));
    for e in &f.finding.evidence {
        lines.push(format!(
            "{} {} {}",
            style.paint(Tone::Dim, &eq),
            style.paint(Tone::Title, "note:"),
            escape_peer(e)
        ));
    }
    for fix in &f.finding.fix {
        lines.push(format!(
            "{} {} {}",
            style.paint(Tone::Dim, &eq),
            style.paint(Tone::Title, &format!("help ({}):", escape_peer(&fix.for_))),
            escape_peer(&fix.text)
        ));
        if let Some(code) = &fix.snippet {
            let body: Vec<String> = code
                .trim_end()
                .lines()
                .map(|l| escape_peer(&l.replace('\t', "    ")))
                .collect();
            lines.push(indent(&body.join("\n"), gutter + 7));
        }
    }
    if !f.edits.is_empty() {
        lines.push(format!(
            "{} {} --fix writes this change",
            style.paint(Tone::Dim, &eq),
            style.paint(Tone::Good, "fix:")
        ));
    }
    lines.join("\n")
}

/// ` --> file:line:col`, the source line and a caret line under the token.
fn snippet(
    ev: &ConfigEvidence,
    span: &Span,
    label: Option<&str>,
    gutter: usize,
    tone: Tone,
    style: Style,
) -> Vec<String> {
    let pad = " ".repeat(gutter);
    let mut out = vec![format!(
        "{pad}{} {}",
        style.paint(Tone::Dim, "-->"),
        escape_peer(&span.to_string())
    )];
    let Some(source) = ev.source_line(span) else {
        return out;
    };
    let bar = style.paint(Tone::Dim, &format!("{pad} |"));
    out.push(bar.clone());
    let number = style.paint(Tone::Dim, &format!("{:>gutter$} |", span.line));
    // A very long line (minified or generated) is shown as a window around
    // the column, so one finding stays a few lines of output.
    let column = usize::try_from(span.column).unwrap_or(1).saturating_sub(1);
    let skip = column.saturating_sub(WINDOW / 2);
    let window: String = source.chars().skip(skip).take(WINDOW).collect();
    let (lead, source) = if skip > 0 {
        ("…", window.as_str())
    } else {
        ("", window.as_str())
    };
    out.push(format!("{number} {lead}{}", shown(source)));
    let before: String = format!(
        "{lead}{}",
        source.chars().take(column - skip).collect::<String>()
    );
    let offset = shown(&before).chars().count();
    let carets = "^".repeat(usize::try_from(span.len).unwrap_or(1).clamp(1, WINDOW));
    let mut marker = format!("{}{carets}", " ".repeat(offset));
    if let Some(label) = label {
        marker.push(' ');
        marker.push_str(&escape_peer(label));
    }
    out.push(format!("{bar} {}", style.paint(tone, &marker)));
    out
}

/// A source line for the terminal: tabs expanded, control characters escaped.
fn shown(line: &str) -> String {
    escape_peer(&line.trim_end_matches('\r').replace('\t', &" ".repeat(TAB)))
}

fn problems(ev: &ConfigEvidence, style: Style) -> Vec<String> {
    let mut out = Vec::new();
    let mut templated: BTreeMap<&str, Vec<&ConfigProblem>> = BTreeMap::new();
    for p in &ev.problems {
        if p.kind == ProblemKind::Templated {
            templated.entry(p.span.file.as_str()).or_default().push(p);
            continue;
        }
        let (word, tone) = if p.kind.is_error() {
            ("error", Tone::Error)
        } else {
            ("warning", Tone::Warning)
        };
        let label = problem_word(p.kind);
        let mut lines = vec![head(word, tone, Some(label), &p.message, style)];
        lines.extend(snippet(
            ev,
            &p.span,
            None,
            p.span.line.to_string().len().max(2),
            tone,
            style,
        ));
        out.push(lines.join("\n"));
    }
    for (file, list) in templated {
        let first = list[0];
        let more = match list.len() {
            1 => String::new(),
            n => format!(" (and {} more in this file)", n - 1),
        };
        let title = format!(
            "{} is a template: {} value(s) are known only after rendering; they were not judged{more}",
            file,
            list.len()
        );
        let mut lines = vec![head(
            "info",
            severity_label(Severity::Info).2,
            Some("templated"),
            &title,
            style,
        )];
        lines.extend(snippet(
            ev,
            &first.span,
            Some("first placeholder"),
            first.span.line.to_string().len().max(2),
            Tone::Dim,
            style,
        ));
        out.push(lines.join("\n"));
    }
    out
}

fn problem_word(kind: ProblemKind) -> &'static str {
    match kind {
        ProblemKind::Syntax => "syntax",
        ProblemKind::Templated => "templated",
        ProblemKind::IncludeOutsideRoot => "include-outside-root",
        ProblemKind::IncludeUnreadable => "include-unreadable",
        ProblemKind::IncludeNoMatch => "include-no-match",
        ProblemKind::InvalidValue => "invalid-value",
        _ => "problem",
    }
}
