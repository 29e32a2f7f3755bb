//! The prior: how often each cause is the answer, from the runbook's
//! "Likely causes (ranked by frequency)" (`shared/seed/`) and, for the
//! products, the order user reports recur in (`shared/research/anchors.md`
//! §3). Evidence decides; the prior only breaks near-ties and names the
//! likely hops when no header says which one is on the path.

use std::cmp::Ordering;

use crate::finding::{CauseId, Finding};
use crate::kb::{kb, Intermediary};

/// Weight of each cause the runbook ranks, most frequent first. The band is
/// narrow on purpose (0.90–1.00): a finding's confidence is the strength of
/// its evidence, and the prior reorders two findings only when their
/// evidence is within about 10 % of each other.
#[rustfmt::skip] // one row per cause, like the runbook's list
pub const CAUSE_PRIOR: &[(CauseId, f64)] = &[
    // 1. "Load balancer or proxy dropping idle connections — default timeout 60s"
    (CauseId::IdleTimeout, 1.00),
    // 2. "Missing Upgrade: websocket header passthrough on proxy or ALB"
    (CauseId::UpgradeNotForwarded, 0.98),
    // 3. "No heartbeat/ping — connection appears idle and gets killed"
    (CauseId::NoHeartbeat, 0.96),
    (CauseId::HeartbeatTooSlow, 0.96),
    // 4. "Client reconnects immediately on drop — causes reconnect storm under load"
    (CauseId::ReconnectNoBackoff, 0.94),
    (CauseId::ReconnectNoJitter, 0.94),
    // 5. "Server closing connection on exception without proper close frame"
    (CauseId::ServerError, 0.92),
    (CauseId::AbnormalClose, 0.92),
];

/// Weight of a cause the runbook does not rank.
pub const UNRANKED_PRIOR: f64 = 0.90;

/// Products in the order their timers show up in user reports (anchors.md
/// §3: nginx/ingress-nginx first, then a cloud load balancer in front, then
/// Cloudflare, …), for naming the likely hop when no header does.
pub const HOP_PRIOR: &[&str] = &[
    "nginx",
    "ingress-nginx",
    "aws-alb",
    "aws-clb",
    "cloudflare",
    "heroku-router",
    "haproxy",
    "envoy",
    "gcp-external-alb",
    "azure-app-gateway",
    "aws-nlb",
    "azure-load-balancer",
    "aws-apigw-websocket",
    "aws-cloudfront",
];

/// How many hops to name when the evidence does not pick one.
pub const LIKELY_HOPS: usize = 3;

/// The prior weight of a cause.
pub fn cause_prior(id: CauseId) -> f64 {
    CAUSE_PRIOR
        .iter()
        .find(|(c, _)| *c == id)
        .map_or(UNRANKED_PRIOR, |(_, w)| *w)
}

/// What findings are ordered by within one severity: evidence × prior.
pub fn score(f: &Finding) -> f64 {
    f.confidence * cause_prior(f.id)
}

/// Most important first: severity, then evidence × prior, then the prior
/// alone (so equal evidence lists the more frequent cause first).
pub fn compare(a: &Finding, b: &Finding) -> Ordering {
    b.severity
        .cmp(&a.severity)
        .then(score(b).total_cmp(&score(a)))
        .then(cause_prior(b.id).total_cmp(&cause_prior(a.id)))
}

fn hop_rank(id: &str) -> usize {
    HOP_PRIOR
        .iter()
        .position(|h| *h == id)
        .unwrap_or(HOP_PRIOR.len())
}

/// The two or three products most likely to own an idle timer when no
/// response header names the hop: those whose default matches `matches`
/// (the kb's products within timing noise of the measured T), most
/// frequent first; when none matches, T was configured, so the most
/// frequent products whose idle timeout is configurable.
pub fn likely_hops(matches: &[&'static Intermediary]) -> Vec<&'static Intermediary> {
    let mut list: Vec<&'static Intermediary> = if matches.is_empty() {
        HOP_PRIOR
            .iter()
            .filter_map(|id| kb().intermediary(id))
            .filter(|i| i.idle_timeout_setting.is_some() && i.fix_snippet.is_some())
            .collect()
    } else {
        matches.iter().copied().filter(|i| i.is_proxy()).collect()
    };
    list.sort_by_key(|i| hop_rank(&i.id));
    list.truncate(LIKELY_HOPS);
    list
}
