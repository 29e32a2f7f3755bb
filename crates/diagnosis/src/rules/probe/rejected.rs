//! A non-101 answer to the upgrade: who answered, and why.
//!
//! The status alone is ambiguous (a 400 can be nginx refusing, or the app
//! refusing a request nginx stripped), so the rules also read the `Server`
//! header, the fingerprint and the error page.

use wsdoctor_evidence::{escape_peer, HandshakeRecord};

use super::{curl_fix, server_refusal, Ctx};
use crate::finding::{CauseId, Finding, Fix, Severity};
use crate::fingerprint::blame;
use crate::kb::{kb, Intermediary};
use crate::rules::common::{fix, fix_with, millis, peer};

/// Words in an error body that show the server looked for an upgrade and did not find one.
const UPGRADE_WORDS: &[&str] = &["upgrade", "websocket", "connection header", "sec-websocket"];

/// nginx's page when plain HTTP reaches its TLS port.
const PLAIN_HTTP_TO_TLS: &str = "the plain http request was sent to https port";

pub(super) fn diagnose(ctx: &Ctx<'_>, status: u16) -> Finding {
    let hs = ctx.hs;
    let body = hs
        .and_then(|h| h.body.as_ref())
        .map(|b| b.text.to_ascii_lowercase())
        .unwrap_or_default();
    let http10 = hs.is_some_and(|h| h.http_version == "HTTP/1.0");
    let name = ctx.blamed.map(|i| i.short_name().to_owned());
    let by = name
        .as_deref()
        .map(|n| format!("{n} answered"))
        .unwrap_or_else(|| "The server answered".to_owned());

    let mut f = match status {
        502..=504 => {
            let mut f = ctx.finding(
                CauseId::BackendUnavailable,
                Severity::Error,
                if ctx.blamed.is_some() { 0.9 } else { 0.8 },
                format!("{by} {status}: the backend behind it is down or unreachable"),
            );
            f.fix = backend_fixes(ctx, status);
            f
        }
        200 => not_forwarded(
            ctx,
            0.8,
            "Something answered as plain HTTP: the Upgrade header did not reach a WebSocket server",
        ),
        _ if http10 => not_forwarded(
            ctx,
            0.75,
            "An HTTP/1.0 server answered: the upgrade never reached a WebSocket server (a plain HTTP server, or a hop that downgraded the request)",
        ),
        426 => not_forwarded(
            ctx,
            0.75,
            "The backend answered 426 Upgrade Required: it received the request without the Upgrade header",
        ),
        400 if body.contains(PLAIN_HTTP_TO_TLS) => {
            let mut f = ctx.finding(
                CauseId::UpgradeRejected,
                Severity::Error,
                0.9,
                "Plain HTTP was sent to a TLS port",
            );
            f.fix.push(fix("client", "Use wss:// for this port."));
            f
        }
        // A 400 the WebSocket server wrote itself (it refused our subprotocol or
        // Engine.IO query): the upgrade got through, whatever its page says.
        400 => match hs.and_then(server_refusal::recognise) {
            Some(r) => server_refusal::finding(ctx, &r),
            None if UPGRADE_WORDS.iter().any(|w| body.contains(w)) => not_forwarded(
                ctx,
                0.75,
                "The backend rejected the request as not a WebSocket upgrade: a proxy dropped the Upgrade header",
            ),
            None if ctx.blamed_proxy().is_some() => not_forwarded(
                ctx,
                0.6,
                &format!(
                    "{by} 400 to the upgrade: the Upgrade header most likely did not get through"
                ),
            ),
            None => refused(ctx, status, &by),
        },
        500..=599 => {
            // 52x are Cloudflare's "origin failed" codes; other 5xx may be the
            // application's own error.
            let cloudflare = (520..=527).contains(&status)
                && ctx.blamed.is_some_and(|i| i.id == "cloudflare");
            let mut f = ctx.finding(
                CauseId::BackendUnavailable,
                Severity::Error,
                if cloudflare { 0.75 } else { 0.4 },
                format!("{by} {status} to the upgrade"),
            );
            f.fix = backend_fixes(ctx, status);
            f
        }
        _ => refused(ctx, status, &by),
    };
    f.measured.http_status = Some(status);
    f.intermediary = ctx.blamed.map(|i| i.id.clone());
    f.evidence = evidence(ctx, status);
    f
}

/// The server itself refused the upgrade (400, 401/403, 404, a redirect,
/// another status): what it wants instead. `by` says who answered.
fn refused(ctx: &Ctx<'_>, status: u16, by: &str) -> Finding {
    let hs = ctx.hs;
    match status {
        400 => {
            let mut f = ctx.finding(
                CauseId::UpgradeRejected,
                Severity::Error,
                0.5,
                "The server answered 400 Bad Request to the upgrade",
            );
            f.fix.push(fix(
                "server",
                "The server refused the handshake itself: compare the request with what it \
                 expects (path, query parameters, Sec-WebSocket-Protocol, Origin) and check its \
                 log for the reason.",
            ));
            f.fix.push(curl_fix(ctx));
            f
        }
        401 | 403 => {
            let mut f = ctx.finding(
                CauseId::UpgradeRejected,
                Severity::Error,
                0.8,
                format!("{by} {status}: the upgrade was refused (authentication or origin)"),
            );
            f.fix = auth_fixes(ctx);
            f
        }
        404 => {
            let mut f = ctx.finding(
                CauseId::UpgradeRejected,
                Severity::Error,
                0.75,
                format!("{by} 404: nothing serves WebSockets on this path"),
            );
            f.fix.push(fix(
                "server",
                format!(
                    "Use the path the WebSocket handler is mounted on; if a proxy routes by \
                     path, make its route match {}.",
                    hs.and_then(HandshakeRecord::request_target)
                        .unwrap_or("the path")
                ),
            ));
            f
        }
        300..=399 => {
            let mut f = ctx.finding(
                CauseId::UpgradeRejected,
                Severity::Error,
                0.8,
                format!("{by} with a redirect ({status}) instead of the upgrade"),
            );
            f.fix.push(fix(
                "client",
                "Connect to the Location URL directly: WebSocket clients do not follow \
                 redirects. A redirect from http to https means the endpoint wants wss://.",
            ));
            f
        }
        _ => {
            let mut f = ctx.finding(
                CauseId::UpgradeRejected,
                Severity::Error,
                0.5,
                format!("{by} {status} instead of 101 Switching Protocols"),
            );
            f.fix.push(fix(
                "server",
                format!("Check the server's log for why it answered {status} to the upgrade."),
            ));
            f
        }
    }
}

fn not_forwarded(ctx: &Ctx<'_>, confidence: f64, title: &str) -> Finding {
    let mut f = ctx.finding(
        CauseId::UpgradeNotForwarded,
        Severity::Error,
        confidence,
        title,
    );
    f.fix = upgrade_fixes(ctx);
    f
}

/// Does this kb snippet configure the upgrade (rather than only timeouts)?
fn configures_upgrade(snippet: &str) -> bool {
    let s = snippet.to_ascii_lowercase();
    s.contains("upgrade") || s.contains("web-sockets") || s.contains("\"websockets\"")
}

fn upgrade_fixes(ctx: &Ctx<'_>) -> Vec<Fix> {
    let mut fixes = Vec::new();
    let mut have_snippet = false;
    if let Some(i) = ctx.blamed_proxy() {
        let snippet = i.fix_snippet.as_deref().filter(|s| configures_upgrade(s));
        let text = match &i.websocket_config {
            Some(config) => format!("{}: {config}", i.short_name()),
            None => format!(
                "Make {} forward the Upgrade and Connection headers to the backend.",
                i.short_name()
            ),
        };
        have_snippet = snippet.is_some();
        fixes.push(match snippet {
            Some(s) => fix_with(&i.id, text, s),
            None => fix(&i.id, text),
        });
    }
    if !have_snippet {
        let text = "Forward the Upgrade and Connection headers at every proxy between client \
                    and server: they are hop-by-hop, so each proxy drops them unless told to \
                    pass them on, and speak HTTP/1.1 to the backend (example for nginx).";
        let example = kb()
            .intermediary("nginx")
            .and_then(|i| i.fix_snippet.as_deref());
        fixes.push(match example {
            Some(s) => fix_with("proxy", text, s),
            None => fix("proxy", text),
        });
    }
    fixes.push(curl_fix(ctx));
    fixes
}

fn backend_fixes(ctx: &Ctx<'_>, status: u16) -> Vec<Fix> {
    let mut fixes = Vec::new();
    if let Some(i) = ctx.blamed_proxy() {
        let mut text = format!(
            "{name} answered {status} itself: check {name}'s error log at this time for the \
             upstream error (connection refused, timeout, no healthy target).",
            name = i.short_name()
        );
        if status == 504 {
            if let Some(b) = &i.handshake_timeout_behavior {
                text.push(' ');
                text.push_str(b);
            }
        }
        fixes.push(fix(&i.id, text));
    }
    if !matches!(status, 502..=504 | 520..=527) {
        // Not a gateway code: the application itself may have failed.
        fixes.push(fix(
            "server",
            format!("Check the server's log for the error behind the {status} at this time."),
        ));
    }
    fixes.push(fix(
        "server",
        "Check that the WebSocket backend is running and reachable from the proxy: its process, \
         the target port, health checks, and the firewall between them.",
    ));
    fixes
}

fn auth_fixes(ctx: &Ctx<'_>) -> Vec<Fix> {
    let mut fixes = vec![
        fix(
            "client",
            "If the server checks the Origin header, send the page's origin: `--origin \
             https://app.example.com`.",
        ),
        fix(
            "client",
            "Send the credentials the endpoint expects: a token in the query string, a cookie, \
             or `-H 'Authorization: Bearer <token>'`.",
        ),
    ];
    // A 401/403 the proxy generated itself is its WAF or access rules.
    if let Some(i) = ctx.blamed_proxy().filter(|i| identified_by_server(ctx, i)) {
        fixes.push(fix(
            &i.id,
            format!(
                "The refusal came from {} itself: check its WAF or access rules for this path.",
                i.short_name()
            ),
        ));
    }
    fixes
}

/// True when the answer's own `Server` header names this product (it
/// generated the answer).
fn identified_by_server(ctx: &Ctx<'_>, i: &Intermediary) -> bool {
    ctx.candidates
        .iter()
        .any(|c| c.id == i.id && c.named_by_server_header)
}

/// Measured facts about the answer: status and timing, identifying headers,
/// the telling line of the body, the redirect target.
fn evidence(ctx: &Ctx<'_>, status: u16) -> Vec<String> {
    let mut lines = Vec::new();
    let reason = ctx
        .hs
        .map(|h| format!(" {}", peer(&h.reason, 60)))
        .unwrap_or_default();
    let after = ctx
        .answer_us()
        .map(|t| format!(" after {}", millis(t)))
        .unwrap_or_default();
    lines.push(format!("upgrade answered HTTP {status}{reason}{after}"));
    let Some(hs) = ctx.hs else {
        return lines;
    };
    if hs.http_version != "HTTP/1.1" {
        lines.push(format!(
            "response version is {}",
            peer(&hs.http_version, 20)
        ));
    }
    for name in ["server", "via"] {
        for h in hs
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
        {
            lines.push(format!("{}: {}", escape_peer(&h.name), peer(&h.value, 100)));
        }
    }
    if let Some(c) = blame(&ctx.candidates) {
        for piece in c.evidence.split("; ") {
            if !lines.iter().any(|l| l == piece) {
                lines.push(piece.to_owned());
            }
        }
    }
    if let Some(line) = hs.body.as_ref().and_then(|b| telling_body_line(&b.text)) {
        lines.push(format!("body: {line}"));
    }
    if (300..400).contains(&status) {
        if let Some(loc) = hs.header("location") {
            lines.push(format!("Location: {}", peer(loc, 200)));
        }
    }
    lines
}

/// The line of an error page that says most: one naming the upgrade, else
/// the `<title>`, else the first non-empty line.
fn telling_body_line(text: &str) -> Option<String> {
    let lines = || text.lines().map(str::trim).filter(|l| !l.is_empty());
    let about_upgrade = lines().find(|l| {
        let l = l.to_ascii_lowercase();
        UPGRADE_WORDS.iter().any(|w| l.contains(w))
    });
    let title = || {
        let lower = text.to_ascii_lowercase();
        let start = lower.find("<title>")?;
        let end = lower[start..].find("</title>")? + start + "</title>".len();
        text.get(start..end)
    };
    about_upgrade
        .or_else(title)
        .or_else(|| lines().next())
        .map(|l| peer(l, 120))
}
