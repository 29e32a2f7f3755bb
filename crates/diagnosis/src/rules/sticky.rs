//! Sticky sessions: whether one client's consecutive connections land on
//! the same server instance. Any source that sees instance ids in order per
//! client (watch's reconnects today) asks here. Pure.
//!
//! A WebSocket is pinned to its instance for its life; affinity matters for
//! what comes after a drop: a reconnect that resumes state kept in one
//! instance's memory (a room, a subscription, a Socket.IO session whose
//! long-polling handshake must reach the same process as its upgrade).

use super::common::{finding, fix, fix_with, peer};
use crate::finding::{CauseId, Finding, Severity, SourceKind};

/// One client's connections, oldest first: the instance each landed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceTrail {
    /// Who (a watch slot, a client id).
    pub client: String,
    /// Instance ids in the order the connections opened.
    pub instances: Vec<String>,
}

impl InstanceTrail {
    /// Reconnects that landed somewhere else than the connection before.
    fn moves(&self) -> usize {
        self.instances.windows(2).filter(|w| w[0] != w[1]).count()
    }
}

/// `sticky-session-missing` when reconnects of one client move between
/// instances; `None` when they stay, or when only one instance was seen.
pub fn sticky_finding(trails: &[InstanceTrail], source: SourceKind) -> Option<Finding> {
    let reconnects: usize = trails
        .iter()
        .map(|t| t.instances.len().saturating_sub(1))
        .sum();
    let moved: Vec<&InstanceTrail> = trails.iter().filter(|t| t.moves() > 0).collect();
    let moves: usize = moved.iter().map(|t| t.moves()).sum();
    let first = moved.first()?;
    let mut distinct: Vec<&str> = trails
        .iter()
        .flat_map(|t| t.instances.iter().map(String::as_str))
        .collect();
    distinct.sort_unstable();
    distinct.dedup();
    let mut f = finding(
        CauseId::StickySessionMissing,
        Severity::Warning,
        // Moving is only a problem where state lives in one instance; the
        // wire cannot see that, so this stays a warning of middling weight.
        0.6,
        format!(
            "{moves} of {reconnects} reconnects landed on a different server instance than the connection before"
        ),
        source,
    );
    f.measured.connections_affected = Some(moves as u64);
    let shown: Vec<String> = first
        .instances
        .iter()
        .take(6)
        .map(|i| peer(i, 40))
        .collect();
    f.evidence.push(format!(
        "{}: {}{}",
        peer(&first.client, 40),
        shown.join(" → "),
        if first.instances.len() > 6 {
            " → …"
        } else {
            ""
        }
    ));
    f.evidence.push(format!(
        "{} instances seen; {} of {} clients moved",
        distinct.len(),
        moved.len(),
        trails.len()
    ));
    f.evidence.push(
        "a problem only if the server keeps per-client state in one instance (rooms, subscriptions, a Socket.IO session whose polling handshake must reach the process it upgrades on)".to_owned(),
    );
    f.fix.push(fix(
        "server",
        "Best: keep the state a reconnect needs in a shared store (Redis, the database) so any instance can resume it, and let clients resubscribe on reconnect.",
    ));
    f.fix.push(fix_with(
        "aws-alb",
        "Or turn on target-group stickiness (an ALB cookie; browsers send it on the WebSocket upgrade):",
        "aws elbv2 modify-target-group-attributes --target-group-arn <tg-arn> \\\n  --attributes Key=stickiness.enabled,Value=true Key=stickiness.type,Value=lb_cookie \\\n               Key=stickiness.lb_cookie.duration_seconds,Value=86400",
    ));
    f.fix.push(fix_with(
        "nginx",
        "Or hash clients onto one upstream server (by a client id in the URL, else the address):",
        "upstream app {\n    hash $arg_client consistent;   # or: ip_hash;\n    server 10.0.0.1:8080;\n    server 10.0.0.2:8080;\n}",
    ));
    f.fix.push(fix_with(
        "haproxy",
        "Or pin clients with a cookie (or `balance source` for non-browser clients):",
        "backend app\n    balance roundrobin\n    cookie SRV insert indirect nocache\n    server a 10.0.0.1:8080 check cookie a\n    server b 10.0.0.2:8080 check cookie b",
    ));
    f.fix.push(fix_with(
        "ingress-nginx",
        "Or cookie affinity on the Ingress:",
        "metadata:\n  annotations:\n    nginx.ingress.kubernetes.io/affinity: \"cookie\"\n    nginx.ingress.kubernetes.io/session-cookie-name: \"ws-affinity\"",
    ));
    Some(f)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn trail(client: &str, instances: &[&str]) -> InstanceTrail {
        InstanceTrail {
            client: client.into(),
            instances: instances.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn moves_between_instances_are_counted_per_reconnect() {
        let cases: &[(&[InstanceTrail], Option<usize>)] = &[
            (&[trail("a", &["x", "x", "x"])], None),
            (&[trail("a", &["x"]), trail("b", &["y"])], None),
            (
                &[trail("a", &["x", "y", "y"]), trail("b", &["y", "y"])],
                Some(1),
            ),
            (&[trail("a", &["x", "y", "x", "y"])], Some(3)),
        ];
        for (trails, want) in cases {
            let got = sticky_finding(trails, SourceKind::Flow)
                .map(|f| f.measured.connections_affected.unwrap() as usize);
            assert_eq!(got, *want, "{trails:?}");
        }
    }

    #[test]
    fn the_finding_shows_the_trail_and_escapes_names() {
        let f =
            sticky_finding(&[trail("slot 1", &["a\u{1b}[31m", "b"])], SourceKind::Flow).unwrap();
        assert_eq!(f.id, CauseId::StickySessionMissing);
        assert!(f.evidence[0].contains(" → "), "{:?}", f.evidence);
        assert!(!f.evidence[0].contains('\u{1b}'));
        assert!(f.fix.iter().any(|x| x.for_ == "aws-alb"));
    }
}
