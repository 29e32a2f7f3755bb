//! The server's heartbeat as the idle experiment saw it, and the
//! `heartbeat-too-slow` / `no-heartbeat` findings next to a measured idle
//! timeout. The connections that survived the timer were kept open for the
//! heartbeat window, so a heartbeat slower than the timer is seen there.

use wsdoctor_evidence::idle::{IdleEvidence, IdleSample};
use wsdoctor_evidence::Side;

use super::finding;
use crate::advice::app::server_ping_fix;
use crate::finding::{CauseId, Finding, Severity};
use crate::rules::common::{human, median, secs, to_s};

/// Server libraries ping every 20–30 s by default; a watch shorter than the
/// upper end cannot tell "no heartbeat" from a slow one.
pub(super) const COMMON_HEARTBEAT_MAX_US: u64 = 30_000_000;

/// How the server's ping interval is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Interval {
    /// The median gap between consecutive pings on one connection.
    Measured(u64),
    /// Only one ping per connection came: the interval is at least this
    /// (the first ping's age — a per-connection timer pings first after a
    /// whole interval, a global one sooner — and at least the time after
    /// it in which no second ping came).
    AtLeast(u64),
}

impl Interval {
    pub(super) fn us(self) -> u64 {
        match self {
            Interval::Measured(us) | Interval::AtLeast(us) => us,
        }
    }
}

/// What the experiment saw of the server's pings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Heartbeat {
    /// `None` when no ping came on any connection.
    pub(super) interval: Option<Interval>,
    /// Pings from the server, all connections together.
    pub(super) pings: usize,
    /// Connections that opened.
    pub(super) connections: usize,
    /// The longest any open connection was watched for pings, µs.
    pub(super) watched_us: u64,
}

fn open_at_us(s: &IdleSample) -> u64 {
    s.connection.phases.response_head_us.unwrap_or(0)
}

/// Reads the server's pings off every connection that opened.
pub(super) fn observe(e: &IdleEvidence) -> Heartbeat {
    let opened: Vec<&IdleSample> = e.samples.iter().filter(|s| s.connection.opened()).collect();
    let watched_us = opened.iter().filter_map(|s| s.age_us()).max().unwrap_or(0);
    let mut gaps = Vec::new();
    let mut lower_bounds = Vec::new();
    let mut pings = 0;
    for s in &opened {
        let times = s.connection.ping_times(Side::Remote);
        pings += times.len();
        gaps.extend(times.windows(2).map(|w| w[1].saturating_sub(w[0])));
        if let [only] = times[..] {
            let first_age = only.saturating_sub(open_at_us(s));
            let after = s.age_us().unwrap_or(0).saturating_sub(first_age);
            lower_bounds.push(first_age.max(after));
        }
    }
    let interval = match median(gaps) {
        Some(gap) => Some(Interval::Measured(gap)),
        // The tightest bound any connection gives.
        None => lower_bounds.into_iter().max().map(Interval::AtLeast),
    };
    Heartbeat {
        interval,
        pings,
        connections: opened.len(),
        watched_us,
    }
}

/// `heartbeat-too-slow` when the server's pings come no faster than the
/// idle timeout `t_idle`, `no-heartbeat` when none came in the window
/// (stated, with how sure that is); nothing when the heartbeat may be fast
/// enough.
pub(super) fn findings(e: &IdleEvidence, hb: &Heartbeat, t_idle: u64) -> Option<Finding> {
    match hb.interval {
        Some(interval) if interval.us() >= t_idle.saturating_sub(t_idle / 20) => {
            Some(too_slow(hb, interval, t_idle))
        }
        Some(_) => None,
        None => Some(none_seen(e, hb, t_idle)),
    }
}

fn too_slow(hb: &Heartbeat, interval: Interval, t_idle: u64) -> Finding {
    let p = interval.us();
    let (every, how) = match interval {
        Interval::Measured(_) => (
            human(p),
            format!(
                "the server pinged every {} ({} pings on the connections that survived the timer)",
                secs(p),
                hb.pings
            ),
        ),
        Interval::AtLeast(_) => (
            format!("{} or more", human(p)),
            format!(
                "one ping per connection within the {} window: the server's interval is at least {} (the first ping's age, or the time after it without a second one)",
                secs(hb.watched_us),
                secs(p)
            ),
        ),
    };
    let mut f = finding(
        CauseId::HeartbeatTooSlow,
        Severity::Warning,
        0.8,
        format!(
            "The server pings every {every}, not often enough for the {} idle timeout",
            human(t_idle)
        ),
    );
    f.measured.server_ping_interval_s = Some(to_s(p));
    f.measured.idle_timeout_s = Some(to_s(t_idle));
    f.measured.watched_s = Some(to_s(hb.watched_us));
    f.evidence.push(how);
    f.evidence.push(format!(
        "idle connections were dropped after {}, before the server's next ping: a heartbeat exists, but it is too slow for this path",
        secs(t_idle)
    ));
    f.fix.push(server_ping_fix(Some(t_idle), None));
    f
}

fn none_seen(e: &IdleEvidence, hb: &Heartbeat, t_idle: u64) -> Finding {
    let window = hb.watched_us;
    let long = window >= COMMON_HEARTBEAT_MAX_US;
    let (severity, confidence, title) = if long {
        (
            Severity::Warning,
            0.8,
            format!(
                "No heartbeat: no ping from the server in {}, so the {} timer ends every quiet connection",
                human(window),
                human(t_idle)
            ),
        )
    } else {
        (
            Severity::Info,
            0.4,
            format!(
                "No ping from the server in {}: a heartbeat slower than that cannot be excluded",
                human(window)
            ),
        )
    };
    let mut f = finding(CauseId::NoHeartbeat, severity, confidence, title);
    f.measured.idle_timeout_s = Some(to_s(t_idle));
    f.measured.watched_s = Some(to_s(window));
    f.evidence.push(format!(
        "no ping from the server on any of the {} connections; the ones that survived the timer were watched for {}",
        hb.connections,
        secs(window)
    ));
    if !long {
        let window_flag = e
            .heartbeat_window_ms
            .map(|ms| format!(" (this run's --heartbeat-window: {})", secs(ms * 1000)))
            .unwrap_or_default();
        f.evidence.push(format!(
            "server libraries ping every 20–30 s by default; a watch shorter than {} does not rule them out{window_flag}",
            human(COMMON_HEARTBEAT_MAX_US)
        ));
    }
    f.fix.push(server_ping_fix(Some(t_idle), None));
    f
}
