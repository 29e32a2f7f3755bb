//! The `wsdoctor probe` view of one target: what happened on the wire,
//! phase by phase, then the findings.

use wsdoctor_diagnosis::Finding;
use wsdoctor_evidence::{
    escape_peer, format_duration, ConnectionRecord, EndRecord, ForwardProxyRecord, FrameKind,
    HandshakeProblem, HandshakeRecord, PongPolicy, ProbeEvidence, Side, TlsInfo,
};

use super::facts::{dur, phases, server_pings, spread, status_line};
use super::findings::render_findings;
use super::layout::{grid, section, truncate, Cell, NONE};
use super::style::{Style, Tone};

/// Longest header value or body line we print; a hostile or verbose peer
/// must not bury the report.
const MAX_PEER_LINE: usize = 120;
/// Body lines shown for a non-101 answer: enough for an error page's title.
const BODY_LINES: usize = 3;

/// Renders one probe: **Target** (with the forward proxy as a hop),
/// **Proxy** (its answer, when it refused the tunnel), **Handshake**, **Timings**, **Watch**
/// (only when the WebSocket opened), **Ended** and **Findings** (in the
/// order given). The verdict line is left to the caller ([`super::verdict_line`]).
pub fn render_probe(evidence: &ProbeEvidence, findings: &[Finding], style: Style) -> String {
    let record = &evidence.connection;
    let mut out = String::new();
    section(&mut out, "Target", &target(record, style), style);
    // A refused tunnel: the proxy's answer is the handshake that matters.
    if let Some(connect) = record
        .forward_proxy
        .as_ref()
        .and_then(|p| p.connect.as_ref())
        .filter(|c| !(200..300).contains(&c.status))
    {
        section(&mut out, "Proxy", &handshake_lines(connect, style), style);
    }
    if let Some(handshake) = &record.handshake {
        let mut lines = handshake_lines(handshake, style);
        lines.extend(http2_line(record, handshake, style));
        section(&mut out, "Handshake", &lines, style);
    }
    section(&mut out, "Timings", &timings(record, style), style);
    if record.opened() {
        section(&mut out, "Watch", &watch(evidence, style), style);
    }
    section(&mut out, "Ended", &ended(record.end.as_ref()), style);
    let findings: Vec<String> = render_findings(findings, style)
        .lines()
        .map(str::to_owned)
        .collect();
    section(&mut out, "Findings", &findings, style);
    // One trailing newline, not a blank line, so callers can append freely.
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

fn key(text: &str) -> Cell {
    Cell::left(text).tone(Tone::Dim)
}

fn target(record: &ConnectionRecord, style: Style) -> Vec<String> {
    let resolved = if record.resolved.is_empty() {
        NONE.to_owned()
    } else {
        record.resolved.join(", ")
    };
    // With a forward proxy, DNS and TCP went to the proxy, not the target.
    let whose = if record.forward_proxy.is_some() {
        "  (the proxy's)"
    } else {
        ""
    };
    let peer = record.peer_addr.as_deref().unwrap_or(NONE);
    let mut rows = vec![
        // Already redacted by the evidence layer; escaped because it is printed.
        vec![key("url"), Cell::left(escape_peer(&record.target))],
    ];
    if let Some(proxy) = &record.forward_proxy {
        rows.push(vec![key("proxy"), proxy_hop(proxy, style)]);
    }
    rows.push(vec![
        key("resolved"),
        Cell::left(format!("{resolved}{whose}")),
    ]);
    rows.push(vec![key("peer"), Cell::left(format!("{peer}{whose}"))]);
    grid(&rows, 0, style)
}

/// `http://proxy:3128 (from HTTPS_PROXY) → tunnel 200 Connection established`.
fn proxy_hop(proxy: &ForwardProxyRecord, style: Style) -> Cell {
    let answer = proxy.answer();
    let refused = proxy
        .connect
        .as_ref()
        .is_some_and(|c| !(200..300).contains(&c.status))
        || proxy.socks.as_ref().is_some_and(|s| s.code != 0);
    let tunnel = match (&answer, &proxy.connect) {
        (Some(_), Some(c)) => format!("tunnel {} {}", c.status, c.reason),
        (Some(a), None) => format!("tunnel {a}"),
        (None, _) => "no answer to the tunnel request".to_owned(),
    };
    let tunnel = escape_peer(tunnel.trim_end());
    let tunnel = if refused || answer.is_none() {
        style.paint(Tone::Error, &tunnel)
    } else {
        tunnel
    };
    Cell::left(format!(
        "{} (from {}, {}) → {tunnel}",
        escape_peer(&proxy.url),
        escape_peer(&proxy.from),
        proxy.kind.as_str()
    ))
}

/// What happened with HTTP/2, when it was offered or spoken:
/// `HTTP/2  offered (ALPN h2); server SETTINGS_ENABLE_CONNECT_PROTOCOL=1; opened by extended CONNECT`.
fn http2_line(
    record: &ConnectionRecord,
    handshake: &HandshakeRecord,
    style: Style,
) -> Option<String> {
    if !record.http2_offered && record.extended_connect.is_none() {
        return None;
    }
    let mut parts = Vec::new();
    if record.http2_offered {
        parts.push(match record.tls.as_ref().map(|t| t.alpn.as_deref()) {
            Some(Some("h2")) => "offered (ALPN h2)".to_owned(),
            Some(Some(other)) => format!("offered (ALPN h2); server chose {}", escape_peer(other)),
            Some(None) => "offered (ALPN h2); server chose no protocol".to_owned(),
            None => "offered (prior knowledge, h2c)".to_owned(),
        });
    }
    match record.extended_connect {
        Some(true) => parts.push("server SETTINGS_ENABLE_CONNECT_PROTOCOL=1".to_owned()),
        Some(false) => {
            parts.push("server did not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL".to_owned());
        }
        None => {}
    }
    if handshake.is_http2() {
        parts.push(if handshake.switched() {
            "opened by extended CONNECT".to_owned()
        } else {
            format!("extended CONNECT answered {}", handshake.status)
        });
    } else if record.http2_offered {
        parts.push("opened by the HTTP/1.1 upgrade".to_owned());
    }
    Some(format!(
        "{}  {}",
        style.paint(Tone::Dim, "HTTP/2"),
        parts.join("; ")
    ))
}

/// The headers that say who answered and what was negotiated.
fn header_matters(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(
        name.as_str(),
        "server"
            | "via"
            | "x-cache"
            | "cf-ray"
            | "x-served-by"
            | "upgrade"
            | "connection"
            | "sec-websocket-protocol"
            | "sec-websocket-extensions"
            | "proxy-authenticate"
    ) || name.starts_with("x-amzn-")
        || name.starts_with("x-envoy-")
}

fn handshake_lines(handshake: &HandshakeRecord, style: Style) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(request_line) = handshake.request.first() {
        lines.push(format!(
            "{} {}",
            style.paint(Tone::Dim, ">"),
            escape_peer(request_line)
        ));
    }
    let mut status = status_line(handshake);
    if !handshake.switched() {
        status = style.paint(Tone::Error, &status);
    }
    lines.push(format!("{} {status}", style.paint(Tone::Dim, "<")));

    let shown: Vec<Vec<Cell>> = handshake
        .headers
        .iter()
        .filter(|h| header_matters(&h.name))
        .map(|h| {
            vec![
                Cell::left(format!("{}:", escape_peer(&h.name))).tone(Tone::Dim),
                Cell::left(truncate(&escape_peer(&h.value), MAX_PEER_LINE)),
            ]
        })
        .collect();
    lines.extend(grid(&shown, 2, style));
    let others = handshake.headers.len() - shown.len();
    if others > 0 {
        let plural = if others == 1 { "" } else { "s" };
        lines.push(style.paint(Tone::Dim, &format!("  (+{others} other header{plural})")));
    }
    for problem in &handshake.problems {
        lines.push(format!(
            "{} {}",
            style.paint(Tone::Error, "problem:"),
            describe_problem(problem)
        ));
    }
    if !handshake.switched() {
        if let Some(body) = &handshake.body {
            lines.extend(body_lines(body, style));
        }
    }
    lines
}

/// A handshake problem in words. Values came from the peer, so escaped.
fn describe_problem(problem: &HandshakeProblem) -> String {
    let got = |value: &Option<String>| {
        value
            .as_deref()
            .map_or_else(|| "nothing".to_owned(), |v| format!("'{}'", escape_peer(v)))
    };
    match problem {
        HandshakeProblem::BadAccept {
            expected,
            got: value,
        } => format!(
            "Sec-WebSocket-Accept is {}, expected '{expected}'",
            got(value)
        ),
        HandshakeProblem::MissingUpgrade { got: value } => {
            format!("no 'Upgrade: websocket' (got {})", got(value))
        }
        HandshakeProblem::MissingConnectionUpgrade { got: value } => {
            format!("no 'Connection: Upgrade' (got {})", got(value))
        }
        HandshakeProblem::UnrequestedSubprotocol { got } => {
            format!(
                "subprotocol '{}' selected but not offered",
                escape_peer(got)
            )
        }
        HandshakeProblem::UnrequestedExtension { got } => {
            format!("extension '{}' selected but not offered", escape_peer(got))
        }
        HandshakeProblem::InvalidExtension { got, reason } => format!(
            "extension answer '{}' refused: {}",
            escape_peer(got),
            escape_peer(reason)
        ),
        // The enum is non-exhaustive: a new kind still shows, in its JSON form.
        other => serde_json::to_string(other)
            .map_or_else(|_| "unknown problem".to_owned(), |s| escape_peer(&s)),
    }
}

fn body_lines(body: &wsdoctor_evidence::BodySample, style: Style) -> Vec<String> {
    let size = if body.truncated {
        format!("first {} bytes", body.bytes_read)
    } else {
        format!("{} bytes", body.bytes_read)
    };
    let mut lines = vec![format!("{} {size}", style.paint(Tone::Dim, "body:"))];
    let mut text_lines = body
        .text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty());
    for line in text_lines.by_ref().take(BODY_LINES) {
        lines.push(format!(
            "  {} {}",
            style.paint(Tone::Dim, "│"),
            truncate(&escape_peer(line), MAX_PEER_LINE)
        ));
    }
    let rest = text_lines.count();
    if rest > 0 {
        let plural = if rest == 1 { "" } else { "s" };
        lines.push(format!(
            "  {} {}",
            style.paint(Tone::Dim, "│"),
            style.paint(Tone::Dim, &format!("… {rest} more line{plural}"))
        ));
    }
    lines
}

fn timings(record: &ConnectionRecord, style: Style) -> Vec<String> {
    let phases = phases(&record.phases);
    if phases.is_empty() {
        return vec!["no phase completed".to_owned()];
    }
    let mut rows = vec![vec![
        Cell::left(""),
        Cell::right("since start").tone(Tone::Dim),
        Cell::right("took").tone(Tone::Dim),
    ]];
    for phase in phases {
        let mut row = vec![
            key(phase.name),
            Cell::right(dur(phase.done_us)),
            Cell::right(dur(phase.took_us)),
        ];
        if phase.name == "TLS" {
            if let Some(tls) = &record.tls {
                row.push(Cell::left(tls_summary(tls)));
            }
        }
        rows.push(row);
    }
    grid(&rows, 0, style)
}

fn tls_summary(tls: &TlsInfo) -> String {
    let mut parts = vec![tls.version.clone()];
    if let Some(alpn) = &tls.alpn {
        parts.push(format!("ALPN {alpn}"));
    }
    parts.push(tls.cipher.clone());
    if !tls.verified {
        parts.push("certificate not verified (--insecure)".to_owned());
    }
    escape_peer(&parts.join(" · "))
}

fn watch(evidence: &ProbeEvidence, style: Style) -> Vec<String> {
    let record = &evidence.connection;
    let watch = format_duration(std::time::Duration::from_millis(evidence.watch_ms));
    let open_for = match record.open_for_us() {
        Some(us) => format!("{} of a {watch} watch", dur(us)),
        None => format!("still open after the {watch} watch"),
    };
    let mut rows = vec![
        vec![key("open for"), Cell::left(open_for)],
        vec![key("server pings"), Cell::left(server_pings(record))],
        vec![key("our pings"), Cell::left(our_pings(record))],
    ];
    if let Some(pongs) = our_pongs(record.heartbeat.pong_policy) {
        rows.push(vec![key("our pongs"), Cell::left(pongs)]);
    }
    let received = record
        .events_from(Side::Remote)
        .filter(|e| matches!(e.kind, FrameKind::Text { .. } | FrameKind::Binary { .. }))
        .count();
    rows.push(vec![
        key("messages"),
        Cell::left(format!("{received} received, {} sent", evidence.sent.len())),
    ]);
    if !evidence.sent.is_empty() {
        let rtts: Vec<u64> = evidence.sent.iter().filter_map(|m| m.echo_rtt_us).collect();
        let matched = format!("{} of {} matched", rtts.len(), evidence.sent.len());
        let text = match spread(&rtts) {
            Some(rtt) => format!("{matched}, RTT {rtt}"),
            None => matched,
        };
        rows.push(vec![key("echoes"), Cell::left(text)]);
    }
    rows.extend(super::extensions::extensions_row(record));
    if let Some(first) = first_message(record) {
        rows.push(vec![key("first message"), Cell::left(first)]);
    }
    if record.events_omitted > 0 {
        rows.push(vec![
            key("not kept"),
            Cell::left(format!(
                "{} more frames counted but not recorded",
                record.events_omitted
            )),
        ]);
    }
    grid(&rows, 0, style)
}

fn our_pings(record: &ConnectionRecord) -> String {
    let sent = record.ping_times(Side::Local).len();
    if sent == 0 {
        return match record.heartbeat.ping_interval_ms {
            None => "off".to_owned(),
            Some(_) => "none sent".to_owned(),
        };
    }
    let rtts = record.pong_rtts_us();
    match spread(&rtts) {
        Some(rtt) => format!("{sent} sent, {} answered, pong RTT {rtt}", rtts.len()),
        None => format!("{sent} sent, none answered"),
    }
}

/// Shown only when we deliberately did not answer pings at once: it changes
/// how the peer behaves, so the reader must see it.
fn our_pongs(policy: PongPolicy) -> Option<String> {
    match policy {
        PongPolicy::Answer => None,
        PongPolicy::Never => Some("never sent (emulating a dead client)".to_owned()),
        PongPolicy::Delay { ms } => Some(format!("delayed by {ms} ms")),
    }
}

fn first_message(record: &ConnectionRecord) -> Option<String> {
    record
        .events_from(Side::Remote)
        .find_map(|e| match &e.kind {
            FrameKind::Text { len, preview, .. } => Some(format!(
                "{len} bytes at {}: {}",
                dur(e.at_us),
                truncate(&escape_peer(preview), 60)
            )),
            FrameKind::Binary { len } => Some(format!("{len} bytes at {}, binary", dur(e.at_us))),
            _ => None,
        })
}

fn ended(end: Option<&EndRecord>) -> Vec<String> {
    let Some(end) = end else {
        return vec!["still open when the probe stopped".to_owned()];
    };
    let mut when = vec![format!("at {}", dur(end.at_us))];
    if let Some(us) = end.since_last_inbound_us {
        when.push(format!("{} since the last frame from the server", dur(us)));
    }
    if let Some(us) = end.since_last_pong_us {
        when.push(format!("{} since the last pong", dur(us)));
    }
    vec![end.end.describe(), when.join(", ")]
}
