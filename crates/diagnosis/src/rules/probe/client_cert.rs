//! The server wants a client certificate (mutual TLS) and got none, or
//! refused the one it got: a TLS failure of its own, whose fix is the
//! client's `--cert`/`--key`, not the server's certificate.

use wsdoctor_evidence::{ConnectionEnd, TlsFailureKind};

use super::Ctx;
use crate::finding::{CauseId, Finding, Severity};
use crate::rules::common::fix;

/// nginx's error page when `ssl_verify_client on` sees no certificate.
const NGINX_NO_CERT: &str = "no required ssl certificate was sent";
/// nginx's error page when the client's certificate did not verify.
const NGINX_BAD_CERT: &str = "the ssl certificate error";
/// The TLS 1.3 alert (RFC 8446 §6.2) as the TLS failure's words name it.
const ALERT_CERTIFICATE_REQUIRED: &str = "certificate_required";

/// The finding when `end` shows a server that requires a client certificate.
pub(super) fn diagnose(ctx: &Ctx<'_>, end: &ConnectionEnd) -> Option<Finding> {
    let sent = ctx.conn.tls.as_ref().is_some_and(|t| t.client_certificate);
    let refused_given = match end {
        ConnectionEnd::HandshakeRejected { status: 400 } => {
            let body = ctx
                .hs
                .and_then(|h| h.body.as_ref())
                .map(|b| b.text.to_ascii_lowercase())
                .unwrap_or_default();
            if body.contains(NGINX_NO_CERT) {
                false
            } else if body.contains(NGINX_BAD_CERT) {
                true
            } else {
                return None;
            }
        }
        ConnectionEnd::TlsFailed {
            failure: TlsFailureKind::AlertReceived,
            error,
        } if error.contains(ALERT_CERTIFICATE_REQUIRED) => false,
        _ => return None,
    };
    let title = if refused_given {
        "The server requires a client certificate (mutual TLS) and refused the one given"
    } else {
        "The server requires a client certificate (mutual TLS) and none was sent"
    };
    let mut f = ctx.finding(CauseId::TlsFailure, Severity::Error, 0.95, title.to_owned());
    f.evidence.push(end.describe());
    if let Some(body) = ctx.hs.and_then(|h| h.body.as_ref()) {
        let first = body
            .text
            .lines()
            .find(|l| l.contains("<title>"))
            .unwrap_or("");
        if !first.is_empty() {
            f.evidence.push(format!(
                "the server's page: {}",
                wsdoctor_evidence::escape_peer(first.trim())
            ));
        }
    }
    if refused_given || sent {
        f.fix.push(fix(
            "client",
            "Give a certificate the server trusts: one signed by a CA in the server's client CA list \
             (nginx: ssl_client_certificate), valid now, with its chain in the --cert file.",
        ));
    } else {
        f.fix.push(fix(
            "client",
            "Send the client certificate and its key: --cert client.pem --key client.key \
             (PEM; PKCS#8, PKCS#1 or SEC1 keys).",
        ));
    }
    f.fix.push(fix(
        "server",
        "If this client should not need a certificate, make it optional for this path \
         (nginx: ssl_verify_client optional, then check $ssl_client_verify where it matters; \
         HAProxy: verify optional on the bind line).",
    ));
    Some(f)
}
