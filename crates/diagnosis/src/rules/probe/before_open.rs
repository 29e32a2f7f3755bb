//! The connection never opened: name resolution, TCP, TLS, or the upgrade
//! exchange failed.

use wsdoctor_evidence::{escape_peer, ConnectionEnd, HandshakeProblem, TlsFailureKind, Transport};

use super::{curl_fix, rejected, Ctx};
use crate::finding::{CauseId, Finding, Severity};
use crate::rules::common::{fix, millis};

/// Findings for an end that came before the WebSocket opened.
pub(super) fn diagnose(ctx: &Ctx<'_>, end: &ConnectionEnd) -> Option<Finding> {
    if let Some(f) = super::proxy::diagnose(ctx, end) {
        return Some(f);
    }
    if let Some(f) = super::client_cert::diagnose(ctx, end) {
        return Some(f);
    }
    let f = match end {
        ConnectionEnd::DnsFailed { host, .. } => dns(ctx, end, host),
        ConnectionEnd::ConnectRefused { addr } => refused(ctx, end, addr),
        ConnectionEnd::ConnectTimedOut { addr, .. } => unreachable(ctx, end, addr, 0.85),
        ConnectionEnd::ConnectFailed { addr, error } => {
            // ECONNREFUSED can arrive as a generic connect error on some platforms.
            if error.to_ascii_lowercase().contains("refused") {
                refused(ctx, end, addr)
            } else {
                // Unreachable network / no route: nothing answered, which is
                // what connect-timeout means; the OS error says which.
                unreachable(ctx, end, addr, 0.6)
            }
        }
        ConnectionEnd::LocalLimit { resource, error } => {
            crate::rules::common::local_limit(*resource, error, crate::finding::SourceKind::Probe)
        }
        ConnectionEnd::TlsFailed { failure, .. } => tls(ctx, end, *failure),
        ConnectionEnd::HandshakeTimedOut { after_ms } => timed_out(ctx, end, *after_ms),
        ConnectionEnd::HandshakeAborted {
            bytes_received,
            transport,
        } => aborted(ctx, end, *bytes_received, *transport),
        ConnectionEnd::HandshakeRejected { status } => rejected::diagnose(ctx, *status),
        ConnectionEnd::HandshakeInvalid { problems } => invalid(ctx, problems),
        _ => return None,
    };
    Some(f)
}

fn host_of(target: &str) -> &str {
    let rest = target.split_once("://").map_or(target, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    authority.rsplit_once('@').map_or(authority, |(_, h)| h)
}

fn dns(ctx: &Ctx<'_>, end: &ConnectionEnd, host: &str) -> Finding {
    let host = escape_peer(host);
    let mut f = ctx.finding(
        CauseId::DnsFailure,
        Severity::Error,
        0.95,
        format!("{host} does not resolve"),
    );
    f.evidence.push(end.describe());
    f.fix.push(fix(
        "client",
        format!(
            "Check the host name for typos and try `dig {host}` from the same machine; an \
             internal name (Kubernetes service, private DNS zone) does not resolve from outside \
             its network."
        ),
    ));
    f.fix.push(fix(
        "dns",
        "If the name is new or just changed, check that the record exists at the authoritative \
         servers and that the resolver is not caching an old negative answer.",
    ));
    f
}

fn resolved_line(ctx: &Ctx<'_>) -> Option<String> {
    (!ctx.conn.resolved.is_empty()).then(|| {
        format!(
            "{} resolved to {}",
            escape_peer(host_of(&ctx.conn.target)),
            ctx.conn.resolved.join(", ")
        )
    })
}

fn refused(ctx: &Ctx<'_>, end: &ConnectionEnd, addr: &str) -> Finding {
    let mut f = ctx.finding(
        CauseId::ConnectRefused,
        Severity::Error,
        0.9,
        format!("Connection to {addr} refused: nothing listens there"),
    );
    f.evidence.push(end.describe());
    f.evidence.extend(resolved_line(ctx));
    f.fix.push(fix(
        "server",
        format!(
            "Start the server, or make it listen on {addr} (not only on 127.0.0.1 when clients \
             come from elsewhere)."
        ),
    ));
    f.fix.push(fix(
        "client",
        "Check the port in the URL: wss:// defaults to 443 and ws:// to 80.",
    ));
    f
}

fn unreachable(ctx: &Ctx<'_>, end: &ConnectionEnd, addr: &str, confidence: f64) -> Finding {
    let mut f = ctx.finding(
        CauseId::ConnectTimeout,
        Severity::Error,
        confidence,
        format!("No TCP answer from {addr}"),
    );
    f.evidence.push(end.describe());
    f.evidence.extend(resolved_line(ctx));
    f.fix.push(fix(
        "network",
        format!(
            "Allow inbound TCP to {addr} in every firewall and security group on the way, and \
             check that the host is up and the address is the right one."
        ),
    ));
    f
}

fn tls(ctx: &Ctx<'_>, end: &ConnectionEnd, failure: TlsFailureKind) -> Finding {
    let host = escape_peer(host_of(&ctx.conn.target));
    let (title, fixes): (String, Vec<(&str, String)>) = match failure {
        TlsFailureKind::UntrustedCertificate => (
            "The server's certificate is not trusted".into(),
            vec![
                ("client", "If the certificate is self-signed or from a private CA on purpose, give that CA's certificate, or the server's own certificate file, with `--ca-cert FILE`; the evidence above says how the one served differs from any given.".into()),
                ("server", "For clients that trust only public CAs (browsers): serve the full chain (leaf and intermediates) from a publicly trusted CA.".into()),
            ],
        ),
        TlsFailureKind::HostnameMismatch => (
            format!("The server's certificate is not valid for {host}"),
            vec![(
                "server",
                format!("Issue a certificate whose subject alternative names include {host}, or connect with the name the certificate was issued for."),
            )],
        ),
        TlsFailureKind::Expired => (
            "The server's certificate has expired or is not yet valid".into(),
            vec![
                ("server", "Renew the certificate and reload the server or proxy that serves it.".into()),
                ("client", "Check this machine's clock.".into()),
            ],
        ),
        TlsFailureKind::Protocol => (
            "No TLS version or cipher suite in common with the server".into(),
            vec![("server", "Enable TLS 1.2 and 1.3 with current cipher suites.".into())],
        ),
        TlsFailureKind::AlertReceived => (
            "The server aborted the TLS handshake with an alert".into(),
            vec![(
                "server",
                "Check what the server requires: a client certificate (mTLS), a particular SNI name, or ALPN protocol.".into(),
            )],
        ),
        TlsFailureKind::NotTls => (
            "The port does not speak TLS".into(),
            vec![(
                "client",
                "The port speaks plain HTTP: use ws:// instead of wss://, or put TLS in front of it.".into(),
            )],
        ),
        TlsFailureKind::Other => (
            "The TLS handshake failed".into(),
            vec![("server", "Check the server's TLS configuration and its error log at this time.".into())],
        ),
    };
    let mut f = ctx.finding(CauseId::TlsFailure, Severity::Error, 0.9, title);
    f.evidence.push(end.describe());
    f.fix = fixes
        .into_iter()
        .map(|(who, text)| fix(who, text))
        .collect();
    f
}

fn connected_line(ctx: &Ctx<'_>) -> Option<String> {
    let p = &ctx.conn.phases;
    let tls = if p.tls_done_us.is_some() {
        " and TLS"
    } else {
        ""
    };
    p.request_written_us.map(|t| {
        format!(
            "TCP{tls} connected; upgrade request written at {}",
            millis(t)
        )
    })
}

fn timed_out(ctx: &Ctx<'_>, end: &ConnectionEnd, after_ms: u64) -> Finding {
    let mut f = ctx.finding(
        CauseId::BackendUnavailable,
        Severity::Error,
        0.5,
        format!("No answer to the upgrade request within {after_ms} ms"),
    );
    f.evidence.extend(connected_line(ctx));
    f.evidence.push(end.describe());
    f.fix.push(fix(
        "server",
        "The TCP connection was accepted but nothing answered the HTTP request: a proxy waiting \
         for a backend that does not respond, or a server that does not speak HTTP on this port. \
         Check that the backend is up and answers upgrade requests on this path.",
    ));
    if ctx.conn.tls.is_none() {
        f.fix.push(fix(
            "client",
            "If this port expects TLS, the server is waiting for a TLS hello: use wss://.",
        ));
    }
    f
}

fn aborted(
    ctx: &Ctx<'_>,
    end: &ConnectionEnd,
    bytes_received: usize,
    transport: Transport,
) -> Finding {
    let written = ctx.conn.phases.request_written_us.is_some();
    let mut f = if bytes_received == 0 && written {
        // Something read our upgrade request and hung up without a word:
        // typical of a proxy or L7 balancer that refuses upgrades by closing,
        // or a server whose upgrade handler dies before answering.
        let mut f = ctx.finding(
            CauseId::UpgradeNotForwarded,
            Severity::Error,
            0.45,
            "The connection was closed on our upgrade request without any HTTP answer",
        );
        f.fix.push(fix(
            "proxy",
            "A hop between us and the WebSocket server closes connections that ask for an \
             upgrade, or the server's upgrade handler crashes: check each proxy's WebSocket \
             support and the server log at this time.",
        ));
        f
    } else {
        let mut f = ctx.finding(
            CauseId::BackendUnavailable,
            Severity::Error,
            0.4,
            "The server hung up before finishing its answer to the upgrade",
        );
        f.fix.push(fix(
            "server",
            "The server or a proxy died while answering, or closed before reading the request: \
             check its log and whether it is restarting.",
        ));
        f
    };
    f.evidence.extend(connected_line(ctx));
    f.evidence.push(end.describe());
    if matches!(transport, Transport::Reset) {
        f.evidence
            .push("the peer reset the connection (RST), it did not close it cleanly".to_owned());
    }
    f.fix.push(curl_fix(ctx));
    f
}

fn invalid(ctx: &Ctx<'_>, problems: &[HandshakeProblem]) -> Finding {
    let mut f = ctx.finding(
        CauseId::HandshakeInvalid,
        Severity::Error,
        0.9,
        "The 101 answer is not a valid WebSocket handshake",
    );
    if let Some(t) = ctx.answer_us() {
        f.evidence
            .push(format!("upgrade answered HTTP 101 after {}", millis(t)));
    }
    for p in problems {
        f.evidence.push(describe_problem(p));
    }
    f.measured.http_status = Some(101);
    f.intermediary = ctx.blamed.map(|i| i.id.clone());
    let accept = problems
        .iter()
        .any(|p| matches!(p, HandshakeProblem::BadAccept { .. }));
    if accept {
        f.fix.push(fix(
            "server",
            "Sec-WebSocket-Accept must be base64(SHA-1(key + 258EAFA5-E914-47DA-95CA-C5AB0DC85B11)) \
             of this request's key: a cache or proxy that replays or rewrites the 101 (or a \
             hand-written handshake) gets it wrong. Disable caching for the WebSocket path.",
        ));
    }
    if problems.iter().any(|p| {
        matches!(
            p,
            HandshakeProblem::UnrequestedSubprotocol { .. }
                | HandshakeProblem::UnrequestedExtension { .. }
                | HandshakeProblem::InvalidExtension { .. }
        )
    }) {
        f.fix.push(fix(
            "server",
            "Select only a subprotocol or extension the client offered (RFC 6455 §4.1); the \
             client must fail the connection otherwise.",
        ));
    }
    if !accept || f.fix.is_empty() {
        f.fix.push(fix(
            "server",
            "Answer with `Upgrade: websocket` and `Connection: Upgrade` in the 101 (RFC 6455 \
             §4.2.2); a proxy that rewrites hop-by-hop headers can drop them.",
        ));
    }
    f
}

fn describe_problem(p: &HandshakeProblem) -> String {
    let got = |g: &Option<String>| {
        g.as_deref().map_or_else(
            || "missing".to_owned(),
            |v| format!("\"{}\"", escape_peer(v)),
        )
    };
    match p {
        HandshakeProblem::BadAccept { expected, got: g } => format!(
            "Sec-WebSocket-Accept is {}, our key requires \"{expected}\"",
            got(g)
        ),
        HandshakeProblem::MissingUpgrade { got: g } => {
            format!("Upgrade header is {}, must be \"websocket\"", got(g))
        }
        HandshakeProblem::MissingConnectionUpgrade { got: g } => {
            format!("Connection header is {}, must contain \"Upgrade\"", got(g))
        }
        HandshakeProblem::UnrequestedSubprotocol { got: g } => {
            format!(
                "server selected subprotocol \"{}\", which we did not offer",
                escape_peer(g)
            )
        }
        HandshakeProblem::UnrequestedExtension { got: g } => format!(
            "server selected extension \"{}\", which we did not offer",
            escape_peer(g)
        ),
        HandshakeProblem::InvalidExtension { got: g, reason } => format!(
            "server answered our permessage-deflate offer with \"{}\": {}",
            escape_peer(g),
            escape_peer(reason)
        ),
        other => escape_peer(&format!("{other:?}")),
    }
}
