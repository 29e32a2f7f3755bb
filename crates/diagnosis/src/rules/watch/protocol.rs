//! `protocol-error`: connections the server ended by breaking RFC 6455.

use wsdoctor_evidence::watch::WatchDrop;

use super::{broke_protocol, how, Window};
use crate::finding::{CauseId, Finding, Severity, SourceKind};
use crate::rules::common::{finding, fix, human};

/// Connections the server ended by breaking RFC 6455, as one finding.
pub(super) fn diagnose(w: &Window<'_>) -> Option<Finding> {
    let (e, when) = (w.e, &w.when);
    let broken: Vec<&WatchDrop> = e
        .drops
        .iter()
        .filter(|d| d.opened && broke_protocol(d))
        .collect();
    let first = broken.first()?;
    let mut f = finding(
        CauseId::ProtocolError,
        Severity::Error,
        0.85,
        format!(
            "{when}: the server broke the WebSocket protocol on {} connection(s)",
            broken.len()
        ),
        SourceKind::Flow,
    );
    f.measured.connections_affected = Some(broken.len() as u64);
    f.evidence.extend(broken.iter().take(3).map(|d| {
        format!(
            "{} #{} at {}: {} after {} open",
            d.arm.as_str(),
            d.slot,
            d.wall,
            how(d),
            human(d.age_us.unwrap_or(0))
        )
    }));
    if let Some(server) = &first.server {
        f.evidence.push(format!("Server: {server}"));
    }
    f.fix.push(fix(
        "server",
        "Fix the server, or the proxy that rewrites frames, so it follows RFC 6455; \
         the rule above is what it broke (`wsdoctor probe` shows the frames).",
    ));
    Some(f)
}
