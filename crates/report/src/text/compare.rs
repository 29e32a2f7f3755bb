//! Several targets side by side ("works locally, fails in prod"): the same
//! rows for each, so the first difference stands out.

use wsdoctor_diagnosis::Finding;
use wsdoctor_evidence::{escape_peer, ConnectionEnd, ConnectionRecord, ProbeEvidence};

use super::facts::{dur, phase, server_pings};
use super::findings::{headline, severity_label};
use super::layout::{grid, section, truncate, width, Cell, NONE};
use super::style::{Style, Tone};

/// The table should fit about 100 columns; each target gets an equal share,
/// but never so little that cells become unreadable.
const TABLE_WIDTH: usize = 100;
const LABEL_WIDTH: usize = 16;
const MIN_CELL: usize = 20;

/// Renders a comparison table (rows: resolve, connect, TLS, status, Server
/// header, subprotocol, server pings, how it ended, top finding; one column
/// per target, long cells cut with `…`), then each target's findings as
/// headlines in the order given. `items` are `(redacted url, evidence,
/// findings)`.
pub fn render_comparison(items: &[(String, &ProbeEvidence, &[Finding])], style: Style) -> String {
    let cell_max = (TABLE_WIDTH.saturating_sub(LABEL_WIDTH) / items.len().max(1)).max(MIN_CELL);
    let fit = |text: String| truncate(&text, cell_max);

    let mut header = vec![Cell::left("")];
    header.extend(
        items
            .iter()
            .map(|(url, _, _)| Cell::left(fit(escape_peer(url))).tone(Tone::Title)),
    );

    type RowFn = fn(&ConnectionRecord) -> String;
    let row_fns: [(&str, RowFn); 8] = [
        ("resolve", resolve),
        ("connect", connect),
        ("TLS", tls),
        ("status", status),
        ("Server header", server_header),
        ("subprotocol", subprotocol),
        ("server pings", pings),
        ("how it ended", how_it_ended),
    ];
    let mut rows = vec![header];
    for (label, cell) in row_fns {
        let mut row = vec![Cell::left(label).tone(Tone::Dim)];
        row.extend(
            items
                .iter()
                .map(|(_, evidence, _)| Cell::left(fit(cell(&evidence.connection)))),
        );
        rows.push(row);
    }
    let mut top = vec![Cell::left("top finding").tone(Tone::Dim)];
    top.extend(items.iter().map(|(_, _, findings)| match findings.first() {
        Some(first) => {
            let (mark, _, tone) = severity_label(first.severity);
            Cell::left(fit(format!("{mark} {}", first.id.as_str()))).tone(tone)
        }
        None => Cell::left("no findings"),
    }));
    rows.push(top);

    let mut table = grid(&rows, 0, style);
    // A rule under the header row, as wide as the table; measured on the
    // plain layout because escapes have no width.
    let rule_width = grid(&rows, 0, Style::PLAIN)
        .iter()
        .map(|line| width(line))
        .max()
        .unwrap_or(0);
    table.insert(1, style.paint(Tone::Dim, &"─".repeat(rule_width)));

    let mut out = String::new();
    section(&mut out, "Comparison", &table, style);
    let mut brief = Vec::new();
    for (url, _, findings) in items {
        brief.push(style.paint(Tone::Title, &escape_peer(url)));
        if findings.is_empty() {
            brief.push("  no findings".to_owned());
        }
        brief.extend(findings.iter().map(|f| format!("  {}", headline(f, style))));
    }
    section(&mut out, "Findings", &brief, style);
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

fn resolve(record: &ConnectionRecord) -> String {
    if matches!(
        record.end.as_ref().map(|e| &e.end),
        Some(ConnectionEnd::DnsFailed { .. })
    ) {
        return "failed".to_owned();
    }
    let address = record.resolved.first().map(String::as_str);
    match (address, phase(&record.phases, "DNS")) {
        (Some(addr), Some(dns)) => format!("{addr} in {}", dur(dns.took_us)),
        (Some(addr), None) => addr.to_owned(),
        (None, _) => NONE.to_owned(),
    }
}

fn connect(record: &ConnectionRecord) -> String {
    match record.end.as_ref().map(|e| &e.end) {
        Some(ConnectionEnd::ConnectRefused { .. }) => return "refused".to_owned(),
        Some(ConnectionEnd::ConnectTimedOut { .. }) => return "timed out".to_owned(),
        Some(ConnectionEnd::ConnectFailed { .. }) => return "failed".to_owned(),
        _ => {}
    }
    phase(&record.phases, "TCP connect").map_or_else(|| NONE.to_owned(), |p| dur(p.took_us))
}

fn tls(record: &ConnectionRecord) -> String {
    if matches!(
        record.end.as_ref().map(|e| &e.end),
        Some(ConnectionEnd::TlsFailed { .. })
    ) {
        return "failed".to_owned();
    }
    match (phase(&record.phases, "TLS"), &record.tls) {
        (Some(p), Some(info)) => format!("{}, {}", dur(p.took_us), escape_peer(&info.version)),
        (Some(p), None) => dur(p.took_us),
        (None, _) => NONE.to_owned(),
    }
}

fn status(record: &ConnectionRecord) -> String {
    record.handshake.as_ref().map_or_else(
        || NONE.to_owned(),
        |h| {
            // The version only matters when it is not the HTTP/1.1 we sent.
            let version = if h.http_version == "HTTP/1.1" {
                String::new()
            } else {
                format!("{} ", escape_peer(&h.http_version))
            };
            format!("{version}{} {}", h.status, escape_peer(&h.reason))
                .trim_end()
                .to_owned()
        },
    )
}

fn server_header(record: &ConnectionRecord) -> String {
    record
        .handshake
        .as_ref()
        .and_then(|h| h.header("Server"))
        .map_or_else(|| NONE.to_owned(), escape_peer)
}

fn subprotocol(record: &ConnectionRecord) -> String {
    record
        .handshake
        .as_ref()
        .and_then(|h| h.subprotocol.as_deref())
        .map_or_else(|| NONE.to_owned(), escape_peer)
}

fn pings(record: &ConnectionRecord) -> String {
    if record.opened() {
        server_pings(record)
    } else {
        NONE.to_owned()
    }
}

fn how_it_ended(record: &ConnectionRecord) -> String {
    record
        .end
        .as_ref()
        .map_or_else(|| "still open".to_owned(), |e| e.end.describe())
}
