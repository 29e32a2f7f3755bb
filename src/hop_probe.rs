//! The active hop fingerprint around `probe`, `idle` and `watch` (after the
//! watch): on by default when
//! the upgrade's answer names no hop, off with `--no-fingerprint`. The
//! requests are `wsdoctor-sources`' (`fingerprint`), the matching is
//! `wsdoctor-diagnosis`' (`fingerprint::active`, which also says whether
//! the hop is unknown enough to ask); this maps the flags and calls them.

use std::time::Duration;

use clap::Args;
use wsdoctor_diagnosis::fingerprint::active;
use wsdoctor_diagnosis::Finding;
use wsdoctor_evidence::watch::WatchHopProbe;
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

/// Runs the fingerprint when it is wanted and the hop is unknown.
pub(crate) async fn run_if_unknown(
    args: &FingerprintArgs,
    options: &ConnectOptions,
    handshake: Option<&HandshakeRecord>,
) -> Option<HopProbeRecord> {
    if args.no_fingerprint || args.fingerprint_timeout.is_zero() || !active::hop_unknown(handshake)
    {
        return None;
    }
    Some(wsdoctor_sources::fingerprint::run(options, args.fingerprint_timeout).await)
}

/// After a watch: the fingerprint of each target whose first answer named
/// no hop (`answers` and `names` in the order of `targets`).
pub(crate) async fn after_watch(
    args: &FingerprintArgs,
    targets: &[ConnectOptions],
    answers: &[Option<HandshakeRecord>],
    names: &[String],
) -> Vec<WatchHopProbe> {
    let mut probes = Vec::new();
    for ((options, answer), target) in targets.iter().zip(answers).zip(names) {
        if let Some(probe) = run_if_unknown(args, options, answer.as_ref()).await {
            probes.push(WatchHopProbe {
                target: target.clone(),
                probe,
            });
        }
    }
    probes
}

/// Says on the first finding what the fingerprint sent and what answered.
pub(crate) fn note(findings: &mut [Finding], record: Option<&HopProbeRecord>) {
    active::note_on_top(findings, record);
}
