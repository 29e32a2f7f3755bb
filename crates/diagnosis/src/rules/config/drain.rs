//! The reload-drain rule, once for every product that has one: a reload
//! starts new workers (nginx, ingress-nginx) or a new process (HAProxy),
//! and the old ones keep their upgraded connections only for the drain
//! setting, then end them all at once. A drain under 30 s cuts most
//! WebSockets at every reload; a longer one still ends them, later.
//!
//! Caddy, which closes at once unless `stream_close_delay` is set, is a
//! different rule (a missing setting, a 1001 close): see `hops`.

use wsdoctor_evidence::config::{Edit, Span};

use super::ConfigFinding;
use crate::finding::{fix, CauseId, Fix, Severity};

/// A drain shorter than this cuts most WebSockets at every reload.
const SHORT_DRAIN_MS: u64 = 30_000;

/// One product's drain setting and how that product says it.
pub(super) struct ReloadDrain<'a> {
    /// The drain, in ms.
    pub(super) ms: u64,
    /// Where it is set.
    pub(super) span: &'a Span,
    /// kb id of the product.
    pub(super) intermediary: &'a str,
    /// The title up to the duration: `Every nginx reload closes all
    /// WebSockets of the old workers`.
    pub(super) title: String,
    /// The caret label up to the duration: `old workers close their connections after`.
    pub(super) label: &'static str,
    /// How this product's reload keeps and ends connections.
    pub(super) evidence: &'static str,
    /// What the client should do about it, in this product's words.
    pub(super) client_fix: &'static str,
    /// The fix (and its `--fix` edit) that lengthens a short drain, when
    /// the product has a sensible one.
    pub(super) lengthen: Option<(Fix, Option<Edit>)>,
}

/// The `mass-disconnect` finding for a drain: a warning when it is short,
/// else information (every reload still ends every WebSocket).
pub(super) fn reload_drain(d: ReloadDrain<'_>) -> ConfigFinding {
    let t = wsdoctor_evidence::format_duration(std::time::Duration::from_millis(d.ms));
    let short = d.ms < SHORT_DRAIN_MS;
    let severity = if short {
        Severity::Warning
    } else {
        Severity::Info
    };
    let mut f = ConfigFinding::new(
        CauseId::MassDisconnect,
        severity,
        0.7,
        format!("{} {t} after the reload", d.title),
        Some(d.span),
        d.intermediary,
    )
    .label(format!("{} {t}", d.label))
    .evidence(d.evidence)
    .fix(fix("client", d.client_fix));
    f.finding.measured.max_lifetime_s = Some(d.ms as f64 / 1000.0);
    if let Some((lengthen, edit)) = d.lengthen.filter(|_| short) {
        f = f.fix(lengthen).edit(edit);
    }
    f
}
