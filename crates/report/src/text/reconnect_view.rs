//! Text for `wsdoctor reconnect` (one row per client: its delays and the
//! policy they show), `wsdoctor storm` (the reconnect wave as a chart of
//! Unicode blocks, one column per second) and `wsdoctor flow`.

use std::time::Duration;

use wsdoctor_diagnosis::rules::reconnect::storm::{StormPolicy, StormScenario, StormSeries};
use wsdoctor_diagnosis::rules::reconnect::{describe_fit, heartbeat_line, ClientPolicy};
use wsdoctor_diagnosis::Finding;
use wsdoctor_evidence::format_duration;
use wsdoctor_evidence::reconnect::{FlowEvidence, ReconnectEvidence};

use super::findings::render_findings;
use super::layout::{grid, section, Cell};
use super::style::{Style, Tone};

const BLOCKS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
/// Rows of the storm chart.
const CHART_ROWS: usize = 6;

fn dur_ms(ms: u64) -> String {
    format_duration(Duration::from_millis(ms))
}

fn findings_section(out: &mut String, findings: &[Finding], style: Style) {
    let lines: Vec<String> = render_findings(findings, style)
        .lines()
        .map(str::to_owned)
        .collect();
    section(out, "Findings", &lines, style);
}

/// Renders a reconnect run: the setup, one row per client, then findings.
pub fn render_reconnect(
    e: &ReconnectEvidence,
    policies: &[ClientPolicy],
    findings: &[Finding],
    style: Style,
) -> String {
    let mut out = String::new();
    let ways: Vec<String> = e.ways.iter().map(|w| w.label()).collect();
    let mut body = vec![format!(
        "listened on {} · drop after {} by {} · {} drop(s) per client{} · ran {} ({})",
        e.listen,
        dur_ms(e.drop_after_ms),
        ways.join(", then "),
        e.drops,
        if e.refuse > 0 {
            format!(" · then {} refusal(s) with 503", e.refuse)
        } else {
            String::new()
        },
        dur_ms(e.ran_ms),
        match e.ended_by.as_str() {
            "complete" => "every client was dropped and came back",
            "max" => "stopped at --max",
            _ => "interrupted",
        }
    )];
    body.push(String::new());
    if e.clients.is_empty() {
        body.push("no client connected: point your client at the address above".to_owned());
    } else {
        let mut rows = vec![vec![
            Cell::left("client"),
            Cell::right("conns"),
            Cell::right("503s"),
            Cell::left("delays (s)"),
            Cell::left("policy"),
        ]];
        for (c, p) in e.clients.iter().zip(policies).take(50) {
            let delays: Vec<String> = p
                .delays_s
                .iter()
                .take(8)
                .map(|d| format!("{d:.3}"))
                .collect();
            let (policy, tone) = match &p.fit {
                Some(f) if f.kind.as_str() == "exponential-jitter" => (describe_fit(f), Tone::Good),
                Some(f) => (describe_fit(f), Tone::Warning),
                None => ("not enough reconnects".to_owned(), Tone::Dim),
            };
            rows.push(vec![
                Cell::left(c.client.clone()),
                Cell::right(c.connections.to_string()),
                Cell::right(c.refused.to_string()),
                Cell::left(delays.join(" ")),
                Cell::left(policy).tone(tone),
            ]);
        }
        body.extend(grid(&rows, 0, style));
        if e.clients.len() > 50 {
            body.push(format!(
                "… {} more client(s) in the JSON report",
                e.clients.len() - 50
            ));
        }
        body.push(String::new());
        for c in e.clients.iter().take(5) {
            body.push(format!("{}: {}", c.client, heartbeat_line(c)));
        }
    }
    if e.clients_omitted > 0 {
        body.push(format!(
            "{} client(s) past the cap were not measured",
            e.clients_omitted
        ));
    }
    section(&mut out, "Reconnect experiment", &body, style);
    findings_section(&mut out, findings, style);
    out
}

/// One chart of a wave, scaled to `max` attempts per second.
fn chart(series: &StormSeries, max: u64) -> Vec<String> {
    let max = max.max(1) as f64;
    let mut lines = Vec::new();
    for row in (0..CHART_ROWS).rev() {
        let line: String = series
            .per_second
            .iter()
            .map(|n| {
                // Eighths of this row filled by the column's height.
                let height = *n as f64 / max * CHART_ROWS as f64;
                let fill = ((height - row as f64) * 8.0).clamp(0.0, 8.0);
                let mut i = fill.ceil() as usize;
                if *n > 0 && row == 0 && i == 0 {
                    i = 1; // a non-empty second always shows
                }
                BLOCKS[i.min(8)]
            })
            .collect();
        lines.push(format!("│{}", line.trim_end()));
    }
    let width = series.per_second.len();
    let mut axis = String::from("└");
    for s in 0..width {
        axis.push(if s % 10 == 0 { '┬' } else { '─' });
    }
    lines.push(axis);
    let mut labels = String::from(" ");
    let mut s = 0;
    while s < width {
        let label = format!("{s}s");
        labels.push_str(&format!("{label:<10}"));
        s += 10;
    }
    lines.push(labels.trim_end().to_owned());
    lines
}

fn series_summary(s: &StormSeries) -> String {
    format!(
        "peak {}/s at {} s (after the outage: {}/s at {} s) · {} attempts · {}",
        s.peak.0,
        s.peak.1,
        s.peak_after.0,
        s.peak_after.1,
        s.attempts,
        match s.all_back_s {
            Some(t) => format!("all back by {t:.1} s"),
            None if s.gave_up > 0 => format!("{} gave up", s.gave_up),
            None => format!("{} back within the minute", s.reconnected),
        }
    )
}

/// Renders storm estimates: each policy's wave, side by side on one scale.
pub fn render_storm(
    scenario: &StormScenario,
    runs: &[(StormPolicy, StormSeries)],
    style: Style,
) -> String {
    let mut out = String::new();
    let max = runs.iter().map(|(_, s)| s.peak.0).max().unwrap_or(1);
    let mut body = vec![
        format!(
            "{} clients lose their connection at 0 s; the server refuses connections for {:.0} s; attempts per second over the first {} s (one column per second, one scale: {max}/s full height)",
            scenario.clients, scenario.outage_s, scenario.horizon_s
        ),
        String::new(),
    ];
    for (policy, series) in runs {
        body.push(style.paint(Tone::Title, &policy.name));
        body.push(style.paint(Tone::Dim, &format!("  from {}", policy.source)));
        body.extend(chart(series, max).into_iter().map(|l| format!("  {l}")));
        body.push(format!("  {}", series_summary(series)));
        body.push(String::new());
    }
    section(&mut out, "Reconnect storm estimate", &body, style);
    out
}

/// Renders a flow watch and its findings.
pub fn render_flow(e: &FlowEvidence, findings: &[Finding], style: Style) -> String {
    let mut out = String::new();
    let mut body = vec![format!(
        "{} · expecting a message every {} · our pings every {} · ran {} of at most {}",
        e.target,
        dur_ms(e.expect_every_ms),
        dur_ms(e.ping_interval_ms),
        dur_ms(e.ran_ms),
        dur_ms(e.max_ms)
    )];
    body.push(format!("messages  {}, pongs {}", e.messages, e.pongs));
    if !e.gaps_ms.is_empty() {
        let shown: Vec<String> = e.gaps_ms.iter().take(12).map(|g| dur_ms(*g)).collect();
        let more = if e.gaps_ms.len() > 12 { " …" } else { "" };
        body.push(format!("gaps      {}{more}", shown.join(" ")));
    }
    if let Some((gap, at)) = e.largest_gap_ms {
        body.push(format!(
            "largest   {} (ending at {})",
            dur_ms(gap),
            dur_ms(at)
        ));
    }
    if let Some(end) = &e.connection.end {
        body.push(format!("ended     {}", end.end.describe()));
    }
    section(&mut out, "Message flow", &body, style);
    findings_section(&mut out, findings, style);
    out
}
