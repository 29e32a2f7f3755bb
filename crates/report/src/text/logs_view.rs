//! Text rendering for `wsdoctor logs`: what was read, the connections the
//! logs show (lifetime percentiles and histogram, statuses, end reasons,
//! per-hour counts), then the findings.

use wsdoctor_diagnosis::Finding;
use wsdoctor_evidence::escape_peer;
use wsdoctor_evidence::format_count as thousands;
use wsdoctor_evidence::logs::{format_utc, LogEvidence, LogFile};

use super::findings::render_findings;
use super::layout::{grid, section, Cell};
use super::style::{Style, Tone};

/// Lifetime histogram edges, ms. They fall between the common timer values
/// (55, 60, 100, 300, 600, 3600 s), so a timer's pile sits in one bar.
const EDGES_MS: [u64; 10] = [
    1_000, 5_000, 15_000, 45_000, 75_000, 150_000, 450_000, 900_000, 2_700_000, 5_400_000,
];
const EDGE_LABELS: [&str; 11] = [
    "< 1 s",
    "1–5 s",
    "5–15 s",
    "15–45 s",
    "45–75 s",
    "75–150 s",
    "2.5–7.5 m",
    "7.5–15 m",
    "15–45 m",
    "45–90 m",
    "≥ 90 m",
];
/// Widest histogram bar, in characters.
const BAR: usize = 30;
/// Rows of the status and end-reason tables.
const TOP: usize = 5;
/// More hours than this are shown per day.
const MAX_HOURS: usize = 36;

/// Renders the logs summary followed by the findings.
pub fn render_logs(ev: &LogEvidence, findings: &[Finding], style: Style) -> String {
    let mut out = String::new();
    section(&mut out, "Logs", &files(ev, style), style);
    section(&mut out, "Connections", &connections(ev), style);
    if ev.with_lifetime() > 0 {
        let title = format!("Lifetimes ({} known)", thousands(ev.with_lifetime()));
        section(&mut out, &title, &lifetimes(ev, style), style);
    }
    if !ev.statuses.is_empty() {
        section(
            &mut out,
            "Answers to upgrade requests",
            &statuses(ev, style),
            style,
        );
    }
    if !ev.end_reasons.is_empty() {
        section(
            &mut out,
            "How connections ended",
            &reasons(ev, style),
            style,
        );
    }
    if !ev.hours.is_empty() {
        let (title, rows) = per_hour(ev, style);
        section(&mut out, title, &rows, style);
    }
    let body: Vec<String> = render_findings(findings, style)
        .lines()
        .map(str::to_owned)
        .collect();
    section(&mut out, "Findings", &body, style);
    out
}

fn secs(ms: u64) -> String {
    let s = ms as f64 / 1000.0;
    if s < 600.0 {
        format!("{s:.2} s")
    } else {
        format!("{:.1} m", s / 60.0)
    }
}

fn file_line(f: &LogFile) -> Vec<Cell> {
    let mut how = f.format.describe().to_owned();
    let mut notes = Vec::new();
    if !f.detected {
        notes.push("forced");
    }
    if f.gzip {
        notes.push("gzip");
    }
    if !notes.is_empty() {
        how.push_str(&format!(" ({})", notes.join(", ")));
    }
    let mut counts = format!(
        "{} lines, {} WebSocket entries",
        thousands(f.lines),
        thousands(f.websocket_entries)
    );
    if f.filtered_out > 0 {
        counts.push_str(&format!(", {} filtered out", thousands(f.filtered_out)));
    }
    let malformed = Cell::left(format!("{} malformed", thousands(f.malformed)));
    vec![
        Cell::left(escape_peer(&f.path)),
        Cell::left(how),
        Cell::left(counts),
        if f.malformed > 0 {
            malformed.tone(Tone::Warning)
        } else {
            malformed.tone(Tone::Dim)
        },
    ]
}

fn files(ev: &LogEvidence, style: Style) -> Vec<String> {
    let rows: Vec<Vec<Cell>> = ev.files.iter().map(file_line).collect();
    let mut out = grid(&rows, 0, style);
    for f in &ev.files {
        for s in &f.malformed_samples {
            out.push(style.paint(
                Tone::Dim,
                &format!(
                    "{}:{}: {} — {}",
                    escape_peer(&f.path),
                    s.line,
                    s.reason,
                    s.text
                ),
            ));
        }
    }
    if !ev.filters.is_empty() {
        out.push(format!("filters: {}", ev.filters.join(", ")));
    }
    out
}

fn connections(ev: &LogEvidence) -> Vec<String> {
    let attempts = ev.connections + ev.failed_upgrades_total;
    let mut rows = vec![vec![
        Cell::left("WebSocket connections"),
        Cell::right(thousands(ev.connections)),
    ]];
    let share = if attempts > 0 {
        format!(
            " ({:.1} % of upgrade requests)",
            ev.failed_upgrades_total as f64 * 100.0 / attempts as f64
        )
    } else {
        String::new()
    };
    rows.push(vec![
        Cell::left("failed upgrades"),
        Cell::right(thousands(ev.failed_upgrades_total)),
        Cell::left(share),
    ]);
    rows.push(vec![
        Cell::left("clients"),
        Cell::right(thousands(ev.clients)),
    ]);
    if let (Some(a), Some(b)) = (ev.first_ms, ev.last_ms) {
        rows.push(vec![
            Cell::left("time range"),
            Cell::right(format_utc(a)),
            Cell::left(format!("to {}", format_utc(b))),
        ]);
    }
    if !ev.events.is_empty() {
        rows.push(vec![
            Cell::left("error-log events"),
            Cell::right(thousands(ev.events.len() as u64 + ev.events_dropped)),
        ]);
    }
    grid(&rows, 0, Style::PLAIN)
}

fn lifetimes(ev: &LogEvidence, style: Style) -> Vec<String> {
    let q = |p: f64| ev.lifetime_quantile(p).map_or_else(|| "—".to_owned(), secs);
    let mut out = vec![format!(
        "p50 {}   p90 {}   p99 {}   max {}",
        q(0.5),
        q(0.9),
        q(0.99),
        q(1.0)
    )];
    let counts = ev.lifetime_histogram(&EDGES_MS);
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    let rows: Vec<Vec<Cell>> = counts
        .iter()
        .zip(EDGE_LABELS)
        .filter(|(n, _)| **n > 0)
        .map(|(n, label)| {
            let len = ((*n as f64 / max as f64) * BAR as f64).ceil() as usize;
            vec![
                Cell::left(label),
                Cell::right(thousands(*n)),
                Cell::left("█".repeat(len.max(1))).tone(Tone::Dim),
            ]
        })
        .collect();
    out.extend(grid(&rows, 0, style));
    out
}

fn statuses(ev: &LogEvidence, style: Style) -> Vec<String> {
    let rows: Vec<Vec<Cell>> = ev
        .statuses
        .iter()
        .take(TOP)
        .map(|(status, n)| {
            let label = if *status == 0 {
                "none".to_owned()
            } else {
                status.to_string()
            };
            let cell = Cell::left(label);
            vec![
                if *status == 101 {
                    cell
                } else {
                    cell.tone(Tone::Warning)
                },
                Cell::right(thousands(*n)),
            ]
        })
        .collect();
    let mut out = grid(&rows, 0, style);
    if ev.statuses.len() > TOP {
        out.push(format!("… {} more statuses", ev.statuses.len() - TOP));
    }
    out
}

fn reasons(ev: &LogEvidence, style: Style) -> Vec<String> {
    let rows: Vec<Vec<Cell>> = ev
        .end_reasons
        .iter()
        .take(TOP)
        .map(|r| {
            let mut meaning = r.meaning().unwrap_or("").to_owned();
            if let Some(mode) = r.lifetime_mode_ms {
                if !meaning.is_empty() {
                    meaning.push_str("; ");
                }
                meaning.push_str(&format!("mostly after {}", secs(mode)));
            }
            vec![
                Cell::left(escape_peer(&r.reason.to_string())),
                Cell::right(thousands(r.count)),
                Cell::left(meaning).tone(Tone::Dim),
            ]
        })
        .collect();
    grid(&rows, 0, style)
}

fn per_hour(ev: &LogEvidence, style: Style) -> (&'static str, Vec<String>) {
    const DAY_MS: i64 = 86_400_000;
    let daily = ev.hours.len() > MAX_HOURS;
    let mut slots: Vec<(i64, u64, u64)> = Vec::new();
    for h in &ev.hours {
        let at = if daily {
            h.hour.div_euclid(DAY_MS) * DAY_MS
        } else {
            h.hour
        };
        match slots.last_mut() {
            Some(last) if last.0 == at => {
                last.1 += h.connections;
                last.2 += h.failed;
            }
            _ => slots.push((at, h.connections, h.failed)),
        }
    }
    let mut rows = vec![vec![
        Cell::left("").tone(Tone::Dim),
        Cell::right("closed").tone(Tone::Dim),
        Cell::right("failed").tone(Tone::Dim),
    ]];
    for (at, c, f) in slots {
        let stamp = format_utc(at);
        let label = if daily {
            stamp[..10].to_owned()
        } else {
            format!("{} {}", &stamp[..10], &stamp[11..16])
        };
        let failed = Cell::right(thousands(f));
        rows.push(vec![
            Cell::left(label),
            Cell::right(thousands(c)),
            if f > 0 {
                failed.tone(Tone::Warning)
            } else {
                failed
            },
        ]);
    }
    let title = if daily {
        "Per day (UTC)"
    } else {
        "Per hour (UTC)"
    };
    (title, grid(&rows, 0, style))
}
