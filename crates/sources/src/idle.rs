//! `wsdoctor idle`: open several connections over one path at once — silent
//! ones, ones that ping, ones that send data — and see which the path ends,
//! when, and how. Stops as soon as the outcome is certain.
//!
//! The coordinator is a small sans-IO decision ([`IdlePlan::decide`]) over
//! "which arms have ended, and when", so the stopping rule is tested without
//! sockets; tokio only runs the connections.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use wsdoctor_evidence::idle::{Arm, IdleEvidence, IdleSample};
use wsdoctor_evidence::{HeartbeatSettings, PongPolicy, Role};

use crate::conn::driver::{drive, WatchPlan};
use crate::conn::session::{Session, SessionConfig};
use crate::conn::{self, ConnectOptions};
use crate::{Progress, ProgressSink};

/// A validated idle experiment.
///
/// # Defaults
/// Arms silent, ping and data; 2 samples each; keepalive every 1 s; give up
/// after 10 min; keepalive message `wsdoctor keepalive`.
#[derive(Debug, Clone)]
pub struct IdleConfig {
    /// Where and how to connect.
    pub connect: ConnectOptions,
    /// Which arms to run.
    pub arms: Vec<Arm>,
    /// Connections per arm.
    pub samples: u32,
    /// How often the ping and data arms send.
    pub interval: Duration,
    /// What the data arm sends.
    pub keepalive_message: String,
    /// The longest to wait for a drop.
    pub max: Duration,
}

impl IdleConfig {
    /// An experiment on `connect` with the documented defaults.
    pub fn new(connect: ConnectOptions) -> Self {
        IdleConfig {
            connect,
            arms: vec![Arm::Silent, Arm::Ping, Arm::Data],
            samples: 2,
            interval: Duration::from_secs(1),
            keepalive_message: "wsdoctor keepalive".to_owned(),
            max: Duration::from_secs(600),
        }
    }
}

/// The stopping rule, as a pure function of what has ended so far.
#[derive(Debug, Clone)]
pub struct IdlePlan {
    /// The longest to wait.
    pub max: Duration,
}

/// What the coordinator should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Keep waiting, at most until this age of the experiment.
    WaitUntil(Duration),
    /// The outcome is certain: end every connection still open.
    Stop,
}

impl IdlePlan {
    /// How long the survivors must outlive the last drop of the arms that
    /// did drop before we call them survivors: 5 % of the drop time, at
    /// least 0.5 s (timer jitter) and at most 1.5 s (the run must stay ≈ T).
    pub fn margin(drop_at: Duration) -> Duration {
        drop_at
            .mul_f64(0.05)
            .clamp(Duration::from_millis(500), Duration::from_millis(1500))
    }

    /// `ended`: for each connection, its age at the end if it ended.
    /// `elapsed`: the experiment's age now.
    ///
    /// Once every connection of some arm has dropped, the others have
    /// survived the same silence as soon as they outlive the last of those
    /// drops by [`IdlePlan::margin`]; if every connection dropped there is
    /// nothing left to wait for.
    pub fn decide(&self, ended: &[(Arm, Option<Duration>)], elapsed: Duration) -> Decision {
        if elapsed >= self.max || ended.iter().all(|(_, e)| e.is_some()) {
            return Decision::Stop;
        }
        let mut arms: Vec<Arm> = ended.iter().map(|(a, _)| *a).collect();
        arms.dedup();
        let fully_dropped_at = arms
            .iter()
            .filter_map(|arm| {
                let mut of_arm = ended.iter().filter(|(a, _)| a == arm).map(|(_, e)| *e);
                of_arm.try_fold(Duration::ZERO, |latest, e| e.map(|e| latest.max(e)))
            })
            .max();
        match fully_dropped_at {
            Some(at) => {
                let until = at + Self::margin(at);
                if elapsed >= until {
                    Decision::Stop
                } else {
                    Decision::WaitUntil(until.min(self.max))
                }
            }
            None => Decision::WaitUntil(self.max),
        }
    }
}

fn session_config(config: &IdleConfig, arm: Arm) -> SessionConfig {
    let interval_ms = u64::try_from(config.interval.as_millis()).unwrap_or(u64::MAX);
    let mut session = SessionConfig {
        role: Role::Client,
        heartbeat: HeartbeatSettings {
            ping_interval_ms: None,
            // A pong slower than the keepalive interval would be a finding of
            // its own; here only the path's timers matter, so be patient.
            pong_timeout_ms: interval_ms.saturating_mul(10).max(10_000),
            pong_policy: PongPolicy::Answer,
        },
        ..SessionConfig::default()
    };
    match arm {
        Arm::Silent => {}
        Arm::Ping => session.heartbeat.ping_interval_ms = Some(interval_ms),
        Arm::Data => {
            // One message per interval for the whole run; the count is
            // bounded by max/interval (validated by the caller).
            let count = config.max.as_millis() / config.interval.as_millis().max(1) + 1;
            let count = usize::try_from(count).unwrap_or(usize::MAX).min(100_000);
            session.messages = vec![config.keepalive_message.clone(); count];
            session.send_every = config.interval;
        }
    }
    session
}

/// Runs one connection of the experiment until the path ends it or the
/// coordinator moves its deadline.
async fn run_sample(
    config: &IdleConfig,
    arm: Arm,
    sample: u32,
    close_at: watch::Receiver<Instant>,
) -> IdleSample {
    let origin = Instant::now();
    let session_config = session_config(config, arm);
    let mut record = conn::new_record(
        &config.connect.target,
        Role::Client,
        session_config.heartbeat,
    );
    let Some(open) = conn::open(&config.connect, origin, &mut record).await else {
        return IdleSample {
            arm,
            sample,
            connection: record,
        };
    };
    let mut session = Session::new(session_config, origin, open.opened_at);
    let mut plan = WatchPlan {
        close_at,
        code: 1000,
        reason: "wsdoctor idle experiment finished".to_owned(),
        read_buffer: crate::conn::driver::DEFAULT_READ_BUFFER,
    };
    drive(open.stream, open.leftover, &mut session, &mut plan, |_| {}).await;
    let (events, omitted, end, _sent) = session.into_evidence();
    record.events = events;
    record.events_omitted = omitted;
    record.end = end;
    IdleSample {
        arm,
        sample,
        connection: record,
    }
}

/// Runs the experiment. Never fails: every failure of a connection is evidence.
pub async fn run(config: &IdleConfig, progress: Option<ProgressSink>) -> IdleEvidence {
    let started = Instant::now();
    let target = config.connect.target.redacted();
    let (deadline_tx, deadline_rx) = watch::channel(started + config.max);
    let mut tasks = tokio::task::JoinSet::new();
    let mut slots = Vec::new();
    for &arm in &config.arms {
        for sample in 1..=config.samples {
            let index = slots.len();
            slots.push((arm, None::<Duration>));
            let config = config.clone();
            let rx = deadline_rx.clone();
            tasks.spawn(async move { (index, run_sample(&config, arm, sample, rx).await) });
        }
    }
    let plan = IdlePlan { max: config.max };
    let mut results: Vec<Option<IdleSample>> = vec![None; slots.len()];
    let mut stopped_early = false;
    let mut stopping = false;
    loop {
        let elapsed = started.elapsed();
        let decision = plan.decide(&slots, elapsed);
        if decision == Decision::Stop && !stopping {
            stopping = true;
            stopped_early = elapsed < config.max;
            // Every survivor starts its closing handshake now.
            let _ = deadline_tx.send(Instant::now());
        }
        if let Some(sink) = &progress {
            let open = slots.iter().filter(|(_, e)| e.is_none()).count();
            sink(Progress::Idle {
                target: target.clone(),
                open,
                total: slots.len(),
                elapsed,
            });
        }
        let wait_until = match decision {
            Decision::WaitUntil(age) => started + age,
            // Closing: give the handshakes a bounded time to finish.
            Decision::Stop => Instant::now() + Duration::from_secs(1),
        };
        let tick = (Instant::now() + Duration::from_millis(250)).min(wait_until);
        tokio::select! {
            joined = tasks.join_next() => {
                let Some(joined) = joined else { break };
                if let Ok((index, sample)) = joined {
                    // Survivors closed by us are not drops; their slot stays "alive".
                    if sample.dropped() || sample.connection.end.as_ref().is_some_and(|e| e.end.before_open()) {
                        slots[index].1 = Some(started.elapsed());
                    }
                    results[index] = Some(sample);
                }
            }
            () = tokio::time::sleep_until(tokio::time::Instant::from_std(tick)) => {}
        }
    }
    IdleEvidence {
        target,
        interval_ms: u64::try_from(config.interval.as_millis()).unwrap_or(u64::MAX),
        max_ms: u64::try_from(config.max.as_millis()).unwrap_or(u64::MAX),
        ran_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        stopped_early,
        samples: results.into_iter().flatten().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    #[test]
    fn stopping_rule_table() {
        let plan = IdlePlan { max: s(600.0) };
        use Arm::*;
        // Nothing ended: wait for the max.
        assert_eq!(
            plan.decide(&[(Silent, None), (Ping, None)], s(5.0)),
            Decision::WaitUntil(s(600.0))
        );
        // One silent of two dropped: not certain yet.
        assert_eq!(
            plan.decide(
                &[(Silent, Some(s(60.0))), (Silent, None), (Ping, None)],
                s(60.1)
            ),
            Decision::WaitUntil(s(600.0))
        );
        // Both silent dropped at ~60 s: pingers must outlive 60.05 s by 1.5 s.
        let ended = [
            (Silent, Some(s(60.0))),
            (Silent, Some(s(60.05))),
            (Ping, None),
        ];
        assert_eq!(
            plan.decide(&ended, s(60.1)),
            Decision::WaitUntil(s(60.05) + IdlePlan::margin(s(60.05)))
        );
        assert_eq!(plan.decide(&ended, s(61.6)), Decision::Stop);
        // Everything dropped (a lifetime cap): stop at once.
        assert_eq!(
            plan.decide(&[(Silent, Some(s(3.0))), (Ping, Some(s(3.0)))], s(3.0)),
            Decision::Stop
        );
        // The max passed.
        assert_eq!(plan.decide(&[(Silent, None)], s(600.0)), Decision::Stop);
    }

    #[test]
    fn margin_is_bounded() {
        assert_eq!(IdlePlan::margin(s(2.0)), s(0.5));
        assert_eq!(IdlePlan::margin(s(20.0)), s(1.0));
        assert_eq!(IdlePlan::margin(s(350.0)), s(1.5));
    }
}
