//! `wsdoctor idle`: one row per connection of the experiment (arm, how it
//! ended, its age and its idle time at the end), then the findings.

use std::time::Duration;

use wsdoctor_diagnosis::Finding;
use wsdoctor_evidence::format_duration;
use wsdoctor_evidence::idle::IdleEvidence;

use super::findings::render_findings;
use super::layout::{grid, section, Cell};
use super::style::{Style, Tone};

fn secs(us: Option<u64>) -> String {
    us.map_or_else(|| "—".to_owned(), |us| format!("{:.3} s", us as f64 / 1e6))
}

/// Renders an idle experiment and its findings.
pub fn render_idle(evidence: &IdleEvidence, findings: &[Finding], style: Style) -> String {
    let mut out = String::new();
    let mut rows = vec![vec![
        Cell::left("arm"),
        Cell::left("#"),
        Cell::left("ended"),
        Cell::right("open for"),
        Cell::right("idle at end"),
    ]];
    for s in &evidence.samples {
        let ended = match s.connection.end.as_ref() {
            Some(_) if !s.dropped() && s.connection.opened() => {
                "survived (we closed it)".to_owned()
            }
            Some(end) => end.end.describe(),
            None => "still open".to_owned(),
        };
        let tone = if s.dropped() { Tone::Error } else { Tone::Good };
        rows.push(vec![
            Cell::left(s.arm.as_str()),
            Cell::left(s.sample.to_string()),
            Cell::left(ended).tone(tone),
            Cell::right(secs(s.age_us())),
            Cell::right(if s.dropped() {
                secs(s.idle_us())
            } else {
                "—".to_owned()
            }),
        ]);
    }
    let mut body = vec![format!(
        "{} · keepalive every {} · ran {}{}",
        evidence.target,
        format_duration(Duration::from_millis(evidence.interval_ms)),
        format_duration(Duration::from_millis(evidence.ran_ms)),
        if evidence.stopped_early {
            " (stopped once the outcome was certain)"
        } else {
            ""
        }
    )];
    body.push(String::new());
    body.extend(grid(&rows, 0, style));
    section(&mut out, "Idle experiment", &body, style);
    let findings: Vec<String> = render_findings(findings, style)
        .lines()
        .map(str::to_owned)
        .collect();
    section(&mut out, "Findings", &findings, style);
    out
}
