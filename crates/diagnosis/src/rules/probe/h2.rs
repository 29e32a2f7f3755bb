//! WebSockets over HTTP/2 (RFC 8441): `h2-websocket-broken`.
//!
//! Browsers open a WebSocket by extended CONNECT whenever the HTTP/2
//! connection's SETTINGS advertise `SETTINGS_ENABLE_CONNECT_PROTOCOL`, and
//! never try HTTP/1.1 on that origin then. So a proxy that advertises it
//! without a backend path that supports it breaks every browser (1006)
//! while curl, wscat and websocat — HTTP/1.1 clients — keep working.
//!
//! These rules read the HTTP/2 attempt: the probe itself with `--http2`, or
//! the `h2` record next to the HTTP/1.1 one with `--compare-http`.

use wsdoctor_evidence::{escape_peer, ConnectionEnd, ConnectionRecord, ProbeEvidence, Side};

use super::Ctx;
use crate::finding::{CauseId, Finding, Fix, Severity};
use crate::fingerprint::{blame, identify};
use crate::kb::kb;
use crate::rules::common::{fix, fix_with, human, millis, peer};

/// How far an HTTP/2 attempt got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// DNS, TCP or TLS failed: nothing HTTP/2-specific to say.
    Network,
    /// TLS ALPN picked `http/1.1`: the HTTP/1.1 upgrade ran instead.
    AlpnHttp1,
    /// Cleartext, and the peer did not answer the HTTP/2 preface with SETTINGS.
    NoH2c,
    /// TLS ALPN picked `h2`, but no SETTINGS came.
    H2Silent,
    /// HTTP/2, without `SETTINGS_ENABLE_CONNECT_PROTOCOL`.
    NotAdvertised,
    /// Advertised, and the extended CONNECT failed.
    ConnectFailed,
    /// The WebSocket opened over HTTP/2.
    Opened,
}

fn stage(c: &ConnectionRecord) -> Stage {
    if c.opened() && c.is_http2() {
        return Stage::Opened;
    }
    let alpn = c.tls.as_ref().and_then(|t| t.alpn.as_deref());
    if c.tls.is_some() && alpn != Some("h2") {
        // TLS finished with another protocol, or did not finish at all.
        return if c.phases.tls_done_us.is_some() {
            Stage::AlpnHttp1
        } else {
            Stage::Network
        };
    }
    match c.extended_connect {
        Some(true) => Stage::ConnectFailed,
        Some(false) => Stage::NotAdvertised,
        None if c.phases.connect_done_us.is_none() => Stage::Network,
        None if c.end.as_ref().is_some_and(|e| is_network(&e.end)) => Stage::Network,
        None if c.tls.is_some() => Stage::H2Silent,
        None => Stage::NoH2c,
    }
}

fn is_network(end: &ConnectionEnd) -> bool {
    matches!(
        end,
        ConnectionEnd::DnsFailed { .. }
            | ConnectionEnd::ConnectRefused { .. }
            | ConnectionEnd::ConnectTimedOut { .. }
            | ConnectionEnd::ConnectFailed { .. }
            | ConnectionEnd::LocalLimit { .. }
            | ConnectionEnd::TlsFailed { .. }
    )
}

/// One line about an attempt: what was asked, what came back, how it ended.
fn outcome_line(label: &str, c: &ConnectionRecord) -> String {
    let answer = match &c.handshake {
        Some(h) => {
            let server = h
                .header("server")
                .map(|s| format!(", Server: {}", peer(s, 60)))
                .unwrap_or_default();
            let after = match (c.phases.request_written_us, c.phases.response_head_us) {
                (Some(w), Some(r)) => format!(" after {}", millis(r.saturating_sub(w))),
                _ => String::new(),
            };
            format!(
                "answered {} {}{after}{server}",
                escape_peer(&h.http_version),
                h.status
            )
        }
        None => "no answer".to_owned(),
    };
    let ended = c
        .end
        .as_ref()
        // A refusal's status is already in the line.
        .filter(|e| !matches!(e.end, ConnectionEnd::HandshakeRejected { .. }))
        .map(|e| {
            let at = e
                .open_for_us
                .map(|us| format!(" after {} open", human(us)))
                .unwrap_or_default();
            format!("; ended{at}: {}", e.end.describe())
        })
        .unwrap_or_default();
    format!("{label}: {answer}{ended}")
}

fn settings_line(c: &ConnectionRecord) -> Option<String> {
    let alpn = c
        .tls
        .as_ref()
        .and_then(|t| t.alpn.as_deref())
        .map(|a| format!("ALPN {}, ", escape_peer(a)))
        .unwrap_or_else(|| {
            if c.tls.is_none() {
                "cleartext HTTP/2 (h2c), ".to_owned()
            } else {
                String::new()
            }
        });
    c.extended_connect.map(|on| {
        format!(
            "{alpn}the server's SETTINGS {} SETTINGS_ENABLE_CONNECT_PROTOCOL",
            if on { "advertise" } else { "do not advertise" }
        )
    })
}

/// The fixes, the blamed product's first.
fn fixes(blamed: Option<&str>) -> Vec<Fix> {
    let mut all = vec![
        fix_with(
            "envoy",
            "Envoy accepts WebSockets over HTTP/2 only with CONNECT allowed on the HTTP/2 \
             listener and the websocket upgrade enabled; it then speaks an HTTP/1.1 upgrade to \
             the upstream unless the upstream is HTTP/2 too. If the backend path cannot do it, \
             leave `allow_connect` off so browsers use HTTP/1.1.",
            "http_connection_manager:\n  http2_protocol_options:\n    allow_connect: true\n  upgrade_configs:\n  - upgrade_type: websocket",
        ),
        fix_with(
            "haproxy",
            "HAProxy (2.4 and later) advertises RFC 8441 on its HTTP/2 listeners. When the \
             WebSocket path behind it fails over HTTP/2, stop advertising it: browsers then \
             open the WebSocket with the HTTP/1.1 upgrade.",
            "global\n    h2-workaround-bogus-websocket-clients",
        ),
        fix(
            "nginx",
            "nginx does not implement RFC 8441: it never advertises \
             SETTINGS_ENABLE_CONNECT_PROTOCOL, so browsers reach it with the HTTP/1.1 upgrade \
             even on an `http2` listener. If the setting is advertised on this path, a hop in \
             front of nginx (a CDN or load balancer) terminates HTTP/2 and must turn the \
             extended CONNECT into an HTTP/1.1 upgrade; fix or disable it there.",
        ),
        fix_with(
            "caddy",
            "Caddy: serve this site over HTTP/1.1 only until the WebSocket path works over \
             HTTP/2 (browsers then use the HTTP/1.1 upgrade).",
            "{\n\tservers {\n\t\tprotocols h1\n\t}\n}",
        ),
        fix(
            "server",
            "If the WebSocket server itself speaks HTTP/2, its WebSocket route must accept \
             CONNECT with `:protocol websocket` and answer 200 (RFC 8441 §5); many frameworks \
             route only GET. In axum use `any(handler)` instead of `get(handler)`; in hyper \
             call `http2().enable_connect_protocol()` only where the handler takes CONNECT.",
        ),
        fix(
            "proxy",
            "Workaround at any hop: offer only `http/1.1` in the listener's ALPN (disable \
             HTTP/2 there), or stop advertising SETTINGS_ENABLE_CONNECT_PROTOCOL; browsers then \
             use the HTTP/1.1 upgrade, which is the path command-line clients already use.",
        ),
    ];
    if let Some(id) = blamed {
        if let Some(i) = all.iter().position(|f| f.for_ == id) {
            let first = all.remove(i);
            all.insert(0, first);
        }
    }
    all
}

/// The product the HTTP/2 answer (or the HTTP/1.1 one) points at.
fn blamed_in(records: &[&ConnectionRecord]) -> Option<&'static str> {
    records.iter().find_map(|c| {
        let candidates = identify(c.handshake.as_ref()?);
        let id = blame(&candidates)?.id.clone();
        kb().intermediary(&id).map(|i| i.id.as_str())
    })
}

fn finding(
    ctx: &Ctx<'_>,
    confidence: f64,
    title: String,
    records: &[&ConnectionRecord],
) -> Finding {
    let mut f = ctx.finding(
        CauseId::H2WebsocketBroken,
        Severity::Error,
        confidence,
        title,
    );
    let blamed = blamed_in(records);
    f.intermediary = blamed.map(str::to_owned);
    f.fix = fixes(blamed);
    f
}

fn status_of(c: &ConnectionRecord) -> Option<u16> {
    c.handshake.as_ref().map(|h| h.status)
}

/// Findings for a probe whose own connection was the HTTP/2 attempt
/// (`--http2`) and failed in the HTTP/2 stage; `None` leaves it to the
/// other rules (it opened, or failed before HTTP/2, or fell back to
/// HTTP/1.1 by ALPN).
pub(super) fn failed_primary(ctx: &Ctx<'_>) -> Option<Finding> {
    let c = ctx.conn;
    if !c.http2_offered {
        return None;
    }
    let stage = stage(c);
    let mut f = match stage {
        Stage::Network | Stage::AlpnHttp1 | Stage::Opened => return None,
        Stage::NotAdvertised | Stage::NoH2c => {
            let (title, line) = if stage == Stage::NotAdvertised {
                (
                    "WebSockets over HTTP/2 are not offered here: browsers use the HTTP/1.1 upgrade",
                    "the server speaks HTTP/2 but its SETTINGS do not advertise \
                     SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441), so no browser tries extended \
                     CONNECT",
                )
            } else {
                (
                    "The server does not speak cleartext HTTP/2 (h2c); browsers never use h2c, so they use the HTTP/1.1 upgrade",
                    "the answer to the HTTP/2 connection preface was not an HTTP/2 SETTINGS frame",
                )
            };
            let mut f = ctx.finding(CauseId::Healthy, Severity::Info, 0.4, title);
            f.evidence.push(line.to_owned());
            f.evidence.push(outcome_line("HTTP/2 attempt", c));
            f.fix.push(fix(
                "client",
                format!(
                    "Nothing to fix on the HTTP/2 path. Probe the path browsers do take with \
                     `wsdoctor probe {}` (the HTTP/1.1 upgrade) or compare both with \
                     `--compare-http`.",
                    ctx.target()
                ),
            ));
            return Some(f);
        }
        Stage::H2Silent => finding(
            ctx,
            0.7,
            "TLS agreed on HTTP/2 (ALPN h2) but the server never sent its HTTP/2 SETTINGS: browsers cannot open WebSockets here".to_owned(),
            &[c],
        ),
        Stage::ConnectFailed => {
            let what = status_of(c).map_or_else(
                || "failed".to_owned(),
                |s| format!("was answered {s}"),
            );
            finding(
                ctx,
                0.85,
                format!(
                    "HTTP/2 WebSockets are advertised but broken: the extended CONNECT {what}, so browsers fail (1006) where HTTP/1.1 clients may work"
                ),
                &[c],
            )
        }
    };
    f.measured.http_status = status_of(c);
    f.evidence.extend(settings_line(c));
    f.evidence.push(outcome_line("HTTP/2 extended CONNECT", c));
    if let Some(body) = c.handshake.as_ref().and_then(|h| h.body.as_ref()) {
        if !body.text.trim().is_empty() {
            f.evidence
                .push(format!("body: {}", peer(body.text.trim(), 120)));
        }
    }
    Some(f)
}

/// Ended the way the probe meant: our close at the end of the watch, answered.
fn lasted(c: &ConnectionRecord) -> bool {
    c.end.as_ref().is_some_and(|e| {
        matches!(
            e.end,
            ConnectionEnd::CloseHandshake {
                initiator: Side::Local,
                answered: true,
                ..
            }
        )
    })
}

/// `--compare-http`: the HTTP/2 record next to the HTTP/1.1 one. Adds the
/// finding when the HTTP/2 path is broken, or a note for the healthy summary.
pub(super) fn compare(
    ctx: &Ctx<'_>,
    h2: &ProbeEvidence,
    findings: &mut Vec<Finding>,
    notes: &mut Vec<String>,
) {
    let h1 = ctx.conn;
    let c = &h2.connection;
    let h1_ok = h1.opened();
    let h1_line = outcome_line("HTTP/1.1 upgrade", h1);
    let h2_line = outcome_line("HTTP/2 extended CONNECT", c);
    let mut f = match stage(c) {
        Stage::Network => return,
        Stage::AlpnHttp1 => {
            notes.push(
                "HTTP/2: the server chose http/1.1 in ALPN, so browsers use the HTTP/1.1 upgrade too"
                    .to_owned(),
            );
            return;
        }
        Stage::NoH2c => {
            notes.push(
                "HTTP/2: no cleartext HTTP/2 (h2c) here; browsers never use h2c".to_owned(),
            );
            return;
        }
        Stage::NotAdvertised => {
            notes.push(
                "HTTP/2: spoken, but SETTINGS_ENABLE_CONNECT_PROTOCOL is not advertised, so browsers use the HTTP/1.1 upgrade"
                    .to_owned(),
            );
            return;
        }
        Stage::Opened if !h1_ok || lasted(c) || !lasted(h1) => {
            notes.push(format!(
                "HTTP/2 extended CONNECT: opened with {} and {}",
                status_of(c).unwrap_or(200),
                c.end
                    .as_ref()
                    .map_or_else(|| "stayed open".to_owned(), |e| e.end.describe())
            ));
            return;
        }
        Stage::Opened => {
            let open = c.open_for_us().map(human).unwrap_or_default();
            finding(
                ctx,
                0.7,
                format!(
                    "The HTTP/2 WebSocket dropped after {open} while the HTTP/1.1 one lasted the watch"
                ),
                &[c, h1],
            )
        }
        Stage::H2Silent if h1_ok => finding(
            ctx,
            0.7,
            "TLS agreed on HTTP/2 but no HTTP/2 SETTINGS came, while the HTTP/1.1 upgrade works: browsers cannot open WebSockets here".to_owned(),
            &[c, h1],
        ),
        Stage::ConnectFailed => {
            let what = status_of(c).map_or_else(
                || "failed".to_owned(),
                |s| format!("was answered {s}"),
            );
            let title = if h1_ok {
                format!(
                    "WebSockets over HTTP/2 fail while HTTP/1.1 works: the extended CONNECT {what}, so browsers get 1006 where curl and wscat connect"
                )
            } else {
                format!(
                    "HTTP/2 WebSockets are advertised but broken: the extended CONNECT {what}"
                )
            };
            finding(ctx, if h1_ok { 0.9 } else { 0.75 }, title, &[c, h1])
        }
        Stage::H2Silent => return,
    };
    f.measured.http_status = status_of(c);
    f.evidence.extend(settings_line(c));
    f.evidence.push(h2_line);
    f.evidence.push(h1_line);
    if let Some(body) = c.handshake.as_ref().and_then(|h| h.body.as_ref()) {
        if !body.text.trim().is_empty() {
            f.evidence
                .push(format!("HTTP/2 body: {}", peer(body.text.trim(), 120)));
        }
    }
    findings.push(f);
}
