//! `handler-stalled`: messages stopped while pongs kept coming.

use super::Window;
use crate::finding::{CauseId, Finding, Severity, SourceKind};
use crate::rules::common::{finding, fix, human};

pub(super) fn diagnose(w: &Window<'_>) -> Option<Finding> {
    let (e, when) = (w.e, &w.when);
    let s = e.stalls.first()?;
    let mut f = finding(
        CauseId::HandlerStalled,
        Severity::Error,
        0.8,
        format!(
            "{when}: messages stopped on {} connection(s) while pongs kept coming",
            e.stalls.len()
        ),
        SourceKind::Flow,
    );
    f.measured.stall_after_s = Some(s.silent_ms as f64 / 1000.0);
    f.evidence.push(format!(
        "{} #{}: no message for {} (expected every {}), last pong RTT {}",
        s.target,
        s.slot,
        human(s.silent_ms.saturating_mul(1000)),
        human(e.expect_every_ms.unwrap_or(0).saturating_mul(1000)),
        s.last_pong_rtt_us.map_or_else(|| "—".to_owned(), human)
    ));
    f.fix.push(fix(
        "server",
        "The connection is alive but the application stopped sending: look for an exception swallowed in the message handler or a blocked subscription at that time.",
    ));
    Some(f)
}
