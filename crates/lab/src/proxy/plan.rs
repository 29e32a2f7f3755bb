//! The proxy's fault list folded into what the relay acts on.
//!
//! Folding once, at start, fixes one rule for combinations (the first fault
//! of a kind wins) and keeps the per-connection loop free of list searches.

use std::time::Duration;

use super::proxy_fault::{EndHow, IdleCounts, ProxyFault};

/// Everything the proxy does to each connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ProxyPlan {
    pub(crate) idle: Option<(Duration, EndHow, IdleCounts)>,
    pub(crate) lifetime: Option<(Duration, EndHow)>,
    /// Each connection's lifetime drawn from `min..=max`.
    pub(crate) random_drop: Option<(Duration, Duration, EndHow)>,
    pub(crate) reset_after: Option<Duration>,
    pub(crate) blackhole_after: Option<Duration>,
    pub(crate) strip_upgrade: bool,
    pub(crate) max_conns: Option<(usize, bool)>,
    pub(crate) latency: Duration,
    pub(crate) drop_pongs: bool,
    pub(crate) swallow_close: bool,
    pub(crate) inject_close: Option<(u16, Duration)>,
    pub(crate) stall: Option<Duration>,
    pub(crate) mass: Option<(Duration, EndHow)>,
}

impl ProxyPlan {
    pub(crate) fn from_faults(faults: &[ProxyFault]) -> ProxyPlan {
        let mut plan = ProxyPlan::default();
        let mut data_only = false;
        let mut latency = None;
        for fault in faults {
            match *fault {
                ProxyFault::IdleTimeout { after, how, counts } => {
                    plan.idle.get_or_insert((after, how, counts));
                }
                ProxyFault::IgnorePingsForIdle => data_only = true,
                ProxyFault::MaxLifetime { after, how } => {
                    plan.lifetime.get_or_insert((after, how));
                }
                ProxyFault::RandomDrop { min, max, how } => {
                    plan.random_drop.get_or_insert((min, max, how));
                }
                ProxyFault::ResetAfter(d) => {
                    plan.reset_after.get_or_insert(d);
                }
                ProxyFault::BlackholeAfter(d) => {
                    plan.blackhole_after.get_or_insert(d);
                }
                ProxyFault::StripUpgrade => plan.strip_upgrade = true,
                ProxyFault::MaxConns { limit, drop } => {
                    plan.max_conns.get_or_insert((limit, drop));
                }
                ProxyFault::Latency(d) => {
                    latency.get_or_insert(d);
                }
                ProxyFault::DropPongs => plan.drop_pongs = true,
                ProxyFault::SwallowClose => plan.swallow_close = true,
                ProxyFault::InjectClose { code, after } => {
                    plan.inject_close.get_or_insert((code, after));
                }
                ProxyFault::Stall(d) => {
                    plan.stall.get_or_insert(d);
                }
                ProxyFault::MassDisconnect { at, how } => {
                    plan.mass.get_or_insert((at, how));
                }
            }
        }
        // A modifier, whatever its place in the list.
        if data_only {
            if let Some((_, _, counts)) = &mut plan.idle {
                *counts = IdleCounts::DataOnly;
            }
        }
        plan.latency = latency.unwrap_or_default();
        plan
    }

    /// True when `how` of the idle timer is `http-504`: the same timer then
    /// bounds the wait for the upstream's answer to the upgrade.
    pub(crate) fn answer_timeout(&self) -> Option<Duration> {
        match self.idle {
            Some((after, EndHow::Http504, _)) => Some(after),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_wins_and_modifier_applies() {
        let faults = ProxyFault::parse_list(
            "ignore-pings-for-idle,idle-timeout=1s,idle-timeout=2s:rst,latency=3ms",
        );
        let plan = ProxyPlan::from_faults(&faults.unwrap_or_default());
        assert_eq!(
            plan.idle,
            Some((Duration::from_secs(1), EndHow::Fin, IdleCounts::DataOnly))
        );
        assert_eq!(plan.latency, Duration::from_millis(3));
        assert_eq!(ProxyPlan::from_faults(&[]), ProxyPlan::default());
    }
}
