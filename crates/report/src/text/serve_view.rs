//! Text for `wsdoctor serve`: one line per finished connection, from the
//! server's own record of it.

use std::time::Duration;

use wsdoctor_evidence::{escape_peer, format_duration, ConnectionRecord, FrameKind, Side};

/// One line about a finished connection, e.g.
/// `web-42 (127.0.0.1:50123): open 3.2 s, 2 messages in, 3 pongs (RTT 180 µs): closing handshake …`.
///
/// `client` is the identity the server settled on (peer-controlled, so it is
/// escaped here).
pub fn connection_line(client: &str, record: &ConnectionRecord) -> String {
    let peer = record.peer_addr.as_deref().unwrap_or("?");
    let open = record
        .open_for_us()
        .map(|us| format_duration(Duration::from_micros(us)))
        .unwrap_or_else(|| "?".to_owned());
    let messages = record
        .events_from(Side::Remote)
        .filter(|e| matches!(e.kind, FrameKind::Text { .. } | FrameKind::Binary { .. }))
        .count();
    let rtts = record.pong_rtts_us();
    let pongs = if rtts.is_empty() {
        String::new()
    } else {
        let mut sorted = rtts.clone();
        sorted.sort_unstable();
        let median = sorted[sorted.len() / 2];
        format!(
            ", {} pong(s) (median RTT {})",
            rtts.len(),
            format_duration(Duration::from_micros(median))
        )
    };
    let end = record
        .end
        .as_ref()
        .map_or_else(|| "still open".to_owned(), |e| e.end.describe());
    format!(
        "{} ({peer}): open {open}, {messages} message(s) in{pongs}; {end}",
        escape_peer(client)
    )
}

/// What a browser probe page reported, with its findings: a header line
/// (who, which path, how far along), one line per WebSocket, the findings.
/// Everything from the page is peer-controlled and escaped.
pub fn browser_lines(
    report: &wsdoctor_evidence::browser::BrowserEvidence,
    findings: &[wsdoctor_diagnosis::Finding],
    style: crate::Style,
) -> String {
    let ms = |v: u64| format_duration(Duration::from_millis(v));
    let mut out = format!(
        "browser {} ({}) {}: page {} over {}, {} WebSocket(s) to {}\n",
        escape_peer(&report.session),
        escape_peer(&crate::text::layout::truncate(&report.user_agent, 60)),
        if report.finished {
            format!("finished after {}", ms(report.ran_ms))
        } else {
            format!("running for {}", ms(report.ran_ms))
        },
        escape_peer(&report.page_url),
        escape_peer(
            report
                .page_protocol
                .as_deref()
                .unwrap_or("an unknown protocol")
        ),
        report.connections.len(),
        escape_peer(&report.websocket_url),
    );
    for c in &report.connections {
        let life = match (c.opened_ms, c.closed_ms) {
            (None, Some(_)) => "never opened".to_owned(),
            (None, None) => "connecting".to_owned(),
            (Some(_), None) => "open".to_owned(),
            (Some(_), Some(_)) => format!("lived {}", ms(c.lived_ms().unwrap_or(0))),
        };
        let close = match (c.code, c.was_clean) {
            (Some(code), clean) => format!(
                ", close {code}{}{}",
                if clean == Some(false) {
                    " (not clean)"
                } else {
                    ""
                },
                if c.closed_by_page { " by the page" } else { "" }
            ),
            _ => String::new(),
        };
        let server = match c.server.as_ref().and_then(|v| v.end.as_ref()) {
            Some(end) => format!("; the server saw: {}", end.end.describe()),
            None if c.server.is_some() => "; the server: still open".to_owned(),
            None => String::new(),
        };
        let hidden = if c.hidden_for_ms > 0 {
            format!("; tab hidden for {}", ms(c.hidden_for_ms))
        } else {
            String::new()
        };
        out.push_str(&format!(
            "  {} #{}: {life}{close}{hidden}{server}\n",
            c.arm.as_str(),
            c.attempt,
        ));
    }
    out.push_str(&crate::render_findings(findings, style));
    out
}
