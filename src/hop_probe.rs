//! The active hop fingerprint around `probe` and `idle`: on by default when
//! the upgrade's answer names no hop, off with `--no-fingerprint`. The
//! requests are `wsdoctor-sources`' (`fingerprint`), the matching is
//! `wsdoctor-diagnosis`' (`fingerprint::active`); this only decides
//! whether to send them and says in the report that they were sent.

use std::time::Duration;

use clap::Args;
use wsdoctor_diagnosis::fingerprint::{active, identify, BLAME_THRESHOLD};
use wsdoctor_diagnosis::{kb, Finding};
use wsdoctor_evidence::{HandshakeRecord, HopProbeRecord};
use wsdoctor_sources::conn::ConnectOptions;

use crate::cli::parse_duration;

/// The fingerprint's flags, shared by the commands that rank hops.
#[derive(Debug, Clone, Args)]
pub(crate) struct FingerprintArgs {
    /// Send nothing but the WebSocket itself: no active hop fingerprint
    /// (by default, when no response header names the hop, four harmless
    /// requests — a header name with a space, an unknown method, an
    /// over-long request line, `OPTIONS *` — go to the same host and port
    /// to see which proxy answers).
    #[arg(long)]
    pub(crate) no_fingerprint: bool,
    /// Budget of each fingerprint request (connect, TLS, answer).
    #[arg(long, value_parser = parse_duration, default_value = "3s", value_name = "DUR")]
    pub(crate) fingerprint_timeout: Duration,
}

/// True when the upgrade's answer came and names no proxy strongly enough
/// to blame (an app server's `Server` header does not name the hop in front
/// of it). No answer at all (refused, TLS failure): nothing to ask.
pub(crate) fn hop_unknown(handshake: Option<&HandshakeRecord>) -> bool {
    let Some(hs) = handshake else {
        return false;
    };
    let named = identify(hs).iter().any(|c| {
        c.confidence >= BLAME_THRESHOLD && kb().intermediary(&c.id).is_some_and(|i| i.is_proxy())
    });
    !named || renamed_by_a_hop_in_front(hs)
}

/// Every header name lower case: something normalised them on the way
/// (HAProxy ≥ 2.0 and Envoy do), so the product a header names may not be
/// the first hop (nginx and Apache write `Server`, `Connection`).
fn renamed_by_a_hop_in_front(hs: &HandshakeRecord) -> bool {
    hs.headers.len() >= 2
        && hs
            .headers
            .iter()
            .all(|h| !h.name.bytes().any(|b| b.is_ascii_uppercase()))
}

/// Runs the fingerprint when it is wanted and the hop is unknown.
pub(crate) async fn run_if_unknown(
    args: &FingerprintArgs,
    options: &ConnectOptions,
    handshake: Option<&HandshakeRecord>,
) -> Option<HopProbeRecord> {
    if args.no_fingerprint || args.fingerprint_timeout.is_zero() || !hop_unknown(handshake) {
        return None;
    }
    Some(wsdoctor_sources::fingerprint::run(options, args.fingerprint_timeout).await)
}

/// Says on the first finding what the fingerprint sent and what answered.
pub(crate) fn note(findings: &mut [Finding], record: Option<&HopProbeRecord>) {
    if let (Some(first), Some(record)) = (findings.first_mut(), record) {
        first.evidence.push(active::summary(record));
    }
}
