//! `wsdoctor explain`: a close code or finding id, from the knowledge base.

use std::fmt::Write;

use wsdoctor_diagnosis::Explanation;

use super::layout::indent;
use super::style::{Style, Tone};

/// Renders an explanation: meaning, who sends it, usual causes, how to tell
/// them apart, the next check, and the sources.
pub fn render_explanation(e: &Explanation, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", style.paint(Tone::Title, &e.title));
    let _ = writeln!(out, "  {}", e.meaning);
    if let Some(on_wire) = &e.on_wire {
        let _ = writeln!(out, "  on the wire: {on_wire}");
    }
    if let Some(sender) = &e.typical_sender {
        let _ = writeln!(out, "  sent by:     {sender}");
    }
    let causes_title = match e.topic {
        wsdoctor_diagnosis::explain::Topic::Intermediary(_) => "What it does to WebSockets",
        _ => "Usual causes",
    };
    section(&mut out, style, causes_title, &e.root_causes);
    if !e.subcauses.is_empty() {
        let _ = writeln!(
            out,
            "\n{}",
            style.paint(Tone::Title, "What it really was, and how to tell")
        );
        for s in &e.subcauses {
            let _ = writeln!(out, "  · {}", s.summary);
            let _ = writeln!(
                out,
                "    {}",
                style.paint(Tone::Dim, &format!("client sees: {}", s.client_signal))
            );
            if let Some(timing) = &s.timing_signature {
                let _ = writeln!(
                    out,
                    "    {}",
                    style.paint(Tone::Dim, &format!("timing: {timing}"))
                );
            }
        }
    }
    section(
        &mut out,
        style,
        "How to tell them apart",
        &e.how_to_tell_apart,
    );
    if let Some(snippet) = &e.fix_snippet {
        let _ = writeln!(out, "\n{}", style.paint(Tone::Title, "Fix"));
        // A blank line in a snippet stays blank: no trailing spaces to copy.
        let _ = writeln!(out, "{}", indent(snippet.trim_matches('\n'), 4));
    }
    section(&mut out, style, "Next check", &e.next_check);
    if !e.related.is_empty() {
        let _ = writeln!(out, "\nrelated: {}", e.related.join(", "));
    }
    if !e.sources.is_empty() {
        let _ = writeln!(out, "\n{}", style.paint(Tone::Dim, "sources:"));
        for s in &e.sources {
            let _ = writeln!(out, "  {}", style.paint(Tone::Dim, s));
        }
    }
    out
}

fn section(out: &mut String, style: Style, title: &str, lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{}", style.paint(Tone::Title, title));
    for line in lines {
        let _ = writeln!(out, "  · {line}");
    }
}
