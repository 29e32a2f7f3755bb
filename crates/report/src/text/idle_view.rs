//! `wsdoctor idle`: one row per connection of the experiment (arm, how it
//! ended, its age and its idle time at the end), then the findings.

use std::time::Duration;

use wsdoctor_diagnosis::Finding;
use wsdoctor_evidence::idle::{IdleEvidence, ServerView};
use wsdoctor_evidence::{escape_peer, format_duration, ConnectionEnd, Side};

use super::findings::render_findings;
use super::layout::{grid, section, Cell};
use super::style::{Style, Tone};

fn secs(us: Option<u64>) -> String {
    us.map_or_else(|| "—".to_owned(), |us| format!("{:.3} s", us as f64 / 1e6))
}

/// The server's side of a paired connection, in a few words.
fn server_cell(view: &ServerView) -> String {
    let Some(end) = &view.end else {
        return "still open".to_owned();
    };
    let what = match &end.end {
        ConnectionEnd::CloseHandshake {
            code,
            initiator: Side::Local,
            ..
        } => format!(
            "closed it ({})",
            code.map_or("no code".to_owned(), |c| c.to_string())
        ),
        ConnectionEnd::CloseHandshake { code, .. } => format!(
            "got close {}",
            code.map_or("(no code)".to_owned(), |c| c.to_string())
        ),
        ConnectionEnd::FinWithoutClose { .. } => "got FIN".to_owned(),
        ConnectionEnd::Reset => "got RST".to_owned(),
        ConnectionEnd::LocalDeadline { .. } => "ended it itself".to_owned(),
        ConnectionEnd::HalfOpen { .. } => "gave up on pongs".to_owned(),
        other => escape_peer(&other.describe()),
    };
    format!("{what} at {}", secs(end.open_for_us))
}

/// Renders an idle experiment and its findings.
pub fn render_idle(evidence: &IdleEvidence, findings: &[Finding], style: Style) -> String {
    let mut out = String::new();
    let paired = evidence.pairing.is_some();
    let mut header = vec![
        Cell::left("arm"),
        Cell::left("#"),
        Cell::left("ended"),
        Cell::right("open for"),
        Cell::right("idle at end"),
    ];
    if paired {
        header.push(Cell::left("server saw"));
    }
    let mut rows = vec![header];
    for s in &evidence.samples {
        let ended = match s.connection.end.as_ref() {
            Some(_) if !s.dropped() && s.connection.opened() => {
                "survived (we closed it)".to_owned()
            }
            Some(end) => end.end.describe(),
            None => "still open".to_owned(),
        };
        let tone = if s.dropped() { Tone::Error } else { Tone::Good };
        let mut row = vec![
            Cell::left(s.arm.as_str()),
            Cell::left(s.sample.to_string()),
            Cell::left(ended).tone(tone),
            Cell::right(secs(s.age_us())),
            Cell::right(if s.dropped() {
                secs(s.idle_us())
            } else {
                "—".to_owned()
            }),
        ];
        if paired {
            row.push(Cell::left(
                s.server
                    .as_ref()
                    .map_or_else(|| "—".to_owned(), server_cell),
            ));
        }
        rows.push(row);
    }
    let mut body = vec![format!(
        "{} · keepalive every {} · ran {}{}",
        evidence.target,
        format_duration(Duration::from_millis(evidence.interval_ms)),
        format_duration(Duration::from_millis(evidence.ran_ms)),
        match (evidence.stopped_early, evidence.timer_certain_ms) {
            // The timer was certain early; the survivors were then watched
            // for the server's heartbeat.
            (_, Some(certain)) if evidence.ran_ms > certain + 1000 => format!(
                " (the timer was certain at {}; its survivors were then kept open for the heartbeat window, to see the server's pings)",
                format_duration(Duration::from_millis(certain))
            ),
            (true, _) => " (stopped once the outcome was certain)".to_owned(),
            (false, _) => String::new(),
        }
    )];
    if let Some(p) = &evidence.pairing {
        // Times in "server saw" are the server's own, since its 101.
        let mut line = format!(
            "paired with wsdoctor serve {}: {} of {} connections answered",
            escape_peer(&p.instance),
            p.answered,
            p.asked
        );
        if let Some(problem) = p.problems.first() {
            line.push_str(&format!(" ({problem})"));
        }
        body.push(line);
    }
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
