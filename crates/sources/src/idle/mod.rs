//! `wsdoctor idle`: open several connections over one path at once — silent
//! ones, ones that ping, ones that send data — and see which the path ends,
//! when, and how. Stops as soon as the outcome is certain, except that the
//! connections that survived a timer stay open until the heartbeat window
//! has passed: they are the ones on which the server's own pings can be
//! seen, and common server heartbeats (20–30 s library defaults) are often
//! slower than the timer that was just measured.
//!
//! The coordinator is a small sans-IO decision ([`IdlePlan::decide`]) over
//! "which arms have ended, and when", so the stopping rule is tested without
//! sockets; tokio only runs the connections.
//!
//! When the target turns out to be a `wsdoctor serve` (its 101 carries
//! `X-Wsdoctor-Instance`), the server's view of the same connections is
//! fetched afterwards and paired with ours ([`pairing`]).

pub mod pairing;

use std::time::{Duration, Instant};

use tokio::sync::watch;
use wsdoctor_evidence::idle::{Arm, IdleEvidence, IdleSample};
use wsdoctor_evidence::{
    check_at_least, check_between, ConfigError, HeartbeatSettings, PongPolicy, Role,
};

use crate::conn::driver::{drive, WatchPlan};
use crate::conn::session::{Session, SessionConfig};
use crate::conn::{self, ConnectOptions, Target};
use crate::{Progress, ProgressSink};

/// A validated idle experiment.
///
/// # Defaults
/// Arms silent, ping and data (the one-direction arms `inbound` and
/// `outbound` only when asked: they need a `wsdoctor serve`); 2 samples
/// each; keepalive every 1 s; give up after 10 min; watch the survivors of
/// a timer for the server's heartbeat until 35 s; keepalive message
/// `wsdoctor keepalive`; pairing with a `wsdoctor serve` on.
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
    /// How long (age of the experiment, at most `max`) the connections that
    /// survived a timer stay open to see the server's pings.
    pub heartbeat_window: Duration,
    /// Tag connections and, when the target is a `wsdoctor serve`, fetch
    /// its view of them afterwards.
    pub pair: bool,
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
            heartbeat_window: DEFAULT_HEARTBEAT_WINDOW,
            pair: true,
        }
    }

    /// The config as given when every setting is within what the experiment
    /// supports (1–50 samples, an interval of 50 ms or more, a max of 1 s to
    /// 24 h), normalised: each arm once in a fixed order, the heartbeat
    /// window and the handshake timeout no longer than the max (the
    /// handshake must not eat the budget of a short experiment).
    pub fn validated(mut self) -> Result<Self, ConfigError> {
        check_between("--samples", self.samples, 1, 50)?;
        check_at_least("--interval", self.interval, Duration::from_millis(50))?;
        check_between(
            "--max",
            self.max,
            Duration::from_secs(1),
            Duration::from_secs(24 * 3600),
        )?;
        self.arms.sort_unstable();
        self.arms.dedup();
        self.heartbeat_window = self.heartbeat_window.min(self.max);
        self.connect.handshake_timeout = self.connect.handshake_timeout.min(self.max);
        Ok(self)
    }
}

/// How long the survivors of a timer are watched for the server's pings by
/// default: past the 20–30 s that common server libraries ping at
/// (python-websockets 20 s, Socket.IO 25 s, many `ws` examples 30 s).
pub const DEFAULT_HEARTBEAT_WINDOW: Duration = Duration::from_secs(35);

/// The stopping rule, as a pure function of what has ended so far.
#[derive(Debug, Clone)]
pub struct IdlePlan {
    /// The longest to wait.
    pub max: Duration,
    /// Keep the survivors of a certain timer open until this age of the
    /// experiment (bounded by `max`), to see the server's heartbeat.
    pub heartbeat_window: Duration,
}

/// What the coordinator should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Keep waiting, at most until this age of the experiment.
    WaitUntil(Duration),
    /// The timer's outcome is certain (its last drop came at `timer_at`);
    /// the survivors stay open until `until` to see the server's pings.
    WatchHeartbeat {
        /// Age of the experiment at the last drop of the arms that dropped.
        timer_at: Duration,
        /// Age of the experiment at which to stop.
        until: Duration,
    },
    /// Nothing more to learn: end every connection still open.
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

    /// How far apart the drops of one timer may be: 2 % of its time, at
    /// least 250 ms (connects that took different times, timer ticks).
    pub fn same_time(at: Duration) -> Duration {
        (at / 50).max(Duration::from_millis(250))
    }

    /// `ended`: for each connection, its age at the end if it ended.
    /// `elapsed`: the experiment's age now.
    ///
    /// Once every connection of some arm has dropped, the others have
    /// survived the same silence as soon as they outlive the last of those
    /// drops by [`IdlePlan::margin`]: the timer is certain. The survivors
    /// then stay open until the heartbeat window ([`Decision::WatchHeartbeat`]).
    /// If every connection dropped there is nothing left to wait for. While
    /// some arm has lost only part of its connections the picture is mixed
    /// (drops at random times look like that) and only more drops, or the
    /// max, settle it.
    pub fn decide(&self, ended: &[(Arm, Option<Duration>)], elapsed: Duration) -> Decision {
        if elapsed >= self.max || ended.iter().all(|(_, e)| e.is_some()) {
            return Decision::Stop;
        }
        let Some(timer_at) = Self::timer_dropped_at(ended) else {
            return Decision::WaitUntil(self.max);
        };
        let certain_at = timer_at + Self::margin(timer_at);
        if elapsed < certain_at {
            return Decision::WaitUntil(certain_at.min(self.max));
        }
        let until = self.heartbeat_window.min(self.max);
        if elapsed >= until {
            Decision::Stop
        } else {
            Decision::WatchHeartbeat { timer_at, until }
        }
    }

    /// The last drop of the arms whose connections all dropped, when they
    /// dropped together (a timer) and no other arm dropped in part; `None`
    /// while nothing like a timer has happened.
    fn timer_dropped_at(ended: &[(Arm, Option<Duration>)]) -> Option<Duration> {
        let mut arms: Vec<Arm> = ended.iter().map(|(a, _)| *a).collect();
        arms.sort_unstable();
        arms.dedup();
        let partly_dropped = arms.iter().any(|arm| {
            let of_arm = || ended.iter().filter(|(a, _)| a == arm);
            of_arm().any(|(_, e)| e.is_some()) && of_arm().any(|(_, e)| e.is_none())
        });
        // (first, last) drop of each arm whose connections all dropped.
        let fully_dropped: Vec<(Duration, Duration)> = arms
            .iter()
            .filter_map(|arm| {
                let mut of_arm = ended.iter().filter(|(a, _)| a == arm).map(|(_, e)| *e);
                of_arm.try_fold((Duration::MAX, Duration::ZERO), |(first, last), e| {
                    e.map(|e| (first.min(e), last.max(e)))
                })
            })
            .collect();
        // A timer ends an arm's connections together; drops spread wider
        // than timer jitter are random, and random drops settle nothing.
        let scattered = fully_dropped
            .iter()
            .any(|(first, last)| *last - *first > Self::same_time(*last));
        if partly_dropped || scattered {
            return None;
        }
        fully_dropped.iter().map(|(_, last)| *last).max()
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
        // The arms still open at the end are closed by us, and their result
        // is already known ("survived"): half a second for the peer's answer
        // keeps a peer that never answers (or no longer reads) from holding
        // the command a full second past --max.
        close_wait: Duration::from_millis(500),
        ..SessionConfig::default()
    };
    match arm {
        // Inbound sends nothing: the server is asked to (see `arm_target`).
        Arm::Silent | Arm::Inbound => {}
        Arm::Ping => session.heartbeat.ping_interval_ms = Some(interval_ms),
        Arm::Data | Arm::Outbound => {
            // One message per interval for the whole run; the count is
            // bounded by max/interval (validated by the caller).
            let count = config.max.as_millis() / config.interval.as_millis().max(1) + 1;
            let count = usize::try_from(count).unwrap_or(usize::MAX).min(100_000);
            // The application protocol's own keepalive when one is spoken:
            // its server drops anything else.
            let message = crate::conn::app::keepalive_text(&config.connect)
                .unwrap_or_else(|| config.keepalive_message.clone());
            session.messages = vec![message; count];
            session.send_every = config.interval;
            // Detected only once the server speaks, or binary (MQTT): the
            // session swaps in the protocol's keepalive when it speaks one.
            session.app_keepalive = true;
        }
    }
    session
}

/// The target of one arm: the one-direction arms ask a `wsdoctor serve`
/// for their traffic in the query (`tick=`, `echo=off`) and for no pings
/// (`ping=off`), so that nothing flows the other way; other servers ignore
/// unknown parameters. The other arms use the target as given.
pub fn arm_target(target: &Target, arm: Arm, interval: Duration) -> Target {
    let params: &[(&str, String)] = match arm {
        Arm::Inbound => &[
            ("tick", format!("{}ms", interval.as_millis())),
            ("ping", "off".to_owned()),
        ],
        Arm::Outbound => &[("echo", "off".to_owned()), ("ping", "off".to_owned())],
        Arm::Silent | Arm::Ping | Arm::Data => return target.clone(),
    };
    let mut url = target.url.clone();
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in params {
            query.append_pair(name, value);
        }
    }
    // The URL only gained query parameters, so it parses as the original did.
    Target::parse(url.as_str()).unwrap_or_else(|_| target.clone())
}

/// Runs one connection of the experiment until the path ends it or the
/// coordinator moves its deadline.
async fn run_sample(
    config: &IdleConfig,
    arm: Arm,
    sample: u32,
    conn_id: Option<String>,
    close_at: watch::Receiver<Instant>,
) -> IdleSample {
    let origin = Instant::now();
    let session_config = session_config(config, arm);
    let mut connect = config.connect.clone();
    connect.target = arm_target(&connect.target, arm, config.interval);
    if let Some(id) = &conn_id {
        connect
            .headers
            .push((pairing::CONN_ID_HEADER.to_owned(), id.clone()));
    }
    let mut record = conn::new_record(&connect.target, Role::Client, session_config.heartbeat);
    let Some(open) = conn::open(&connect, origin, &mut record).await else {
        return IdleSample {
            arm,
            sample,
            connection: record,
            conn_id,
            server: None,
        };
    };
    let mut session = Session::new(session_config, origin, open.opened_at);
    if let Some(params) = open.deflate {
        session.use_deflate(params);
    }
    conn::app::attach(&mut session, &connect, &record, open.opened_at);
    let mut plan = WatchPlan {
        close_at,
        code: 1000,
        reason: "wsdoctor idle experiment finished".to_owned(),
        read_buffer: crate::conn::driver::DEFAULT_READ_BUFFER,
    };
    drive(open.stream, open.leftover, &mut session, &mut plan, |_| {}).await;
    if let Some(deflate) = session.deflate_record() {
        record.deflate = Some(deflate);
    }
    record.app = session.take_app_record();
    let (events, omitted, end, _sent) = session.into_evidence();
    record.events = events;
    record.events_omitted = omitted;
    record.end = end;
    IdleSample {
        arm,
        sample,
        connection: record,
        conn_id,
        server: None,
    }
}

/// Runs the experiment. Never fails: every failure of a connection is evidence.
pub async fn run(config: &IdleConfig, progress: Option<ProgressSink>) -> IdleEvidence {
    let started = Instant::now();
    let target = config.connect.target.redacted();
    let (deadline_tx, deadline_rx) = watch::channel(started + config.max);
    let mut tasks = tokio::task::JoinSet::new();
    let mut slots = Vec::new();
    let run_id = pairing::run_id();
    for &arm in &config.arms {
        for sample in 1..=config.samples {
            let index = slots.len();
            slots.push((arm, None::<Duration>));
            let config = config.clone();
            let rx = deadline_rx.clone();
            let conn_id = config
                .pair
                .then(|| format!("{run_id}-{}-{sample}", arm.as_str()));
            tasks
                .spawn(async move { (index, run_sample(&config, arm, sample, conn_id, rx).await) });
        }
    }
    let plan = IdlePlan {
        max: config.max,
        heartbeat_window: config.heartbeat_window,
    };
    let mut results: Vec<Option<IdleSample>> = vec![None; slots.len()];
    let mut stopped_early = false;
    let mut stopping = false;
    let mut timer_certain: Option<Duration> = None;
    loop {
        let elapsed = started.elapsed();
        let decision = plan.decide(&slots, elapsed);
        if decision == Decision::Stop && !stopping {
            stopping = true;
            stopped_early = elapsed < config.max;
            // Every survivor starts its closing handshake now.
            let _ = deadline_tx.send(Instant::now());
        }
        if let Decision::WatchHeartbeat { timer_at, until } = decision {
            if timer_certain.is_none() {
                timer_certain = Some(elapsed);
                // Said at once: the timer is the main answer, and the
                // heartbeat watch may take a while longer.
                if let Some(sink) = &progress {
                    sink(Progress::IdleTimerCertain {
                        target: target.clone(),
                        dropped_at: timer_at,
                        heartbeat_until: until,
                    });
                }
            }
        }
        // While the heartbeat is watched, the line about it stays.
        if let Some(sink) = progress.as_ref().filter(|_| timer_certain.is_none()) {
            let open = slots.iter().filter(|(_, e)| e.is_none()).count();
            sink(Progress::Idle {
                target: target.clone(),
                open,
                total: slots.len(),
                elapsed,
            });
        }
        let wait_until = match decision {
            Decision::WaitUntil(age) | Decision::WatchHeartbeat { until: age, .. } => started + age,
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
    let ran_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut samples: Vec<IdleSample> = results.into_iter().flatten().collect();
    // Only a server that said it is a `wsdoctor serve` is asked anything.
    let instance = pairing::serve_instance(&samples).filter(|_| config.pair);
    let pairing = match instance {
        Some(instance) => Some(pairing::pair(&config.connect, instance, &mut samples).await),
        None => None,
    };
    IdleEvidence {
        target,
        interval_ms: u64::try_from(config.interval.as_millis()).unwrap_or(u64::MAX),
        max_ms: u64::try_from(config.max.as_millis()).unwrap_or(u64::MAX),
        ran_ms,
        stopped_early,
        heartbeat_window_ms: Some(
            u64::try_from(config.heartbeat_window.min(config.max).as_millis()).unwrap_or(u64::MAX),
        ),
        timer_certain_ms: timer_certain.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
        samples,
        pairing,
        hop_probe: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(edit: impl FnOnce(&mut IdleConfig)) -> Option<String> {
        let target = Target::parse("ws://127.0.0.1:9/").ok()?;
        let mut config = IdleConfig::new(ConnectOptions::new(target));
        edit(&mut config);
        config.validated().err().map(|e| e.to_string())
    }

    #[test]
    fn the_constructor_holds_the_bounds() {
        assert_eq!(refusal(|_| {}), None);
        assert_eq!(refusal(|c| c.samples = 50), None);
        assert_eq!(
            refusal(|c| c.samples = 0).as_deref(),
            Some("--samples must be between 1 and 50")
        );
        assert_eq!(
            refusal(|c| c.samples = 51).as_deref(),
            Some("--samples must be between 1 and 50")
        );
        assert_eq!(
            refusal(|c| c.interval = Duration::from_millis(49)).as_deref(),
            Some("--interval must be at least 50ms")
        );
        assert_eq!(
            refusal(|c| c.max = Duration::from_millis(999)).as_deref(),
            Some("--max must be between 1s and 24h")
        );
        assert_eq!(
            refusal(|c| c.max = Duration::from_secs(24 * 3600 + 1)).as_deref(),
            Some("--max must be between 1s and 24h")
        );
    }

    #[test]
    fn the_constructor_normalises() {
        let target = Target::parse("ws://127.0.0.1:9/").unwrap_or_else(|_| unreachable!());
        let mut config = IdleConfig::new(ConnectOptions::new(target));
        config.arms = vec![Arm::Data, Arm::Silent, Arm::Data];
        config.max = Duration::from_secs(5);
        let config = config.validated().map_err(|e| e.to_string());
        let Ok(config) = config else {
            panic!("refused: {config:?}")
        };
        assert_eq!(config.arms, vec![Arm::Silent, Arm::Data]);
        assert_eq!(config.heartbeat_window, Duration::from_secs(5));
        assert!(config.connect.handshake_timeout <= Duration::from_secs(5));
    }

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    #[test]
    fn stopping_rule_table() {
        // No heartbeat window: stop as soon as the timer is certain.
        let plan = IdlePlan {
            max: s(600.0),
            heartbeat_window: Duration::ZERO,
        };
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
        // The pingers dropped, and one silent of two too: mixed, as random
        // drops are; not certain before the rest drops or the max.
        let mixed = [
            (Silent, Some(s(1.2))),
            (Silent, None),
            (Ping, Some(s(0.8))),
            (Ping, Some(s(0.9))),
        ];
        assert_eq!(plan.decide(&mixed, s(5.0)), Decision::WaitUntil(s(600.0)));
        // Every pinger gone, but 0.6 s apart: no timer does that.
        let scattered = [(Silent, None), (Ping, Some(s(0.8))), (Ping, Some(s(1.4)))];
        assert_eq!(
            plan.decide(&scattered, s(5.0)),
            Decision::WaitUntil(s(600.0))
        );
        // Everything dropped (a lifetime cap): stop at once.
        assert_eq!(
            plan.decide(&[(Silent, Some(s(3.0))), (Ping, Some(s(3.0)))], s(3.0)),
            Decision::Stop
        );
        // The max passed.
        assert_eq!(plan.decide(&[(Silent, None)], s(600.0)), Decision::Stop);
    }

    #[test]
    fn the_survivors_of_a_timer_are_watched_for_the_servers_heartbeat() {
        use Arm::*;
        let plan = IdlePlan {
            max: s(600.0),
            heartbeat_window: s(35.0),
        };
        // nginx's 20 s timer ended the silent arm; the pingers survive.
        let ended = [
            (Silent, Some(s(20.0))),
            (Silent, Some(s(20.01))),
            (Ping, None),
            (Data, None),
        ];
        let certain = s(20.01) + IdlePlan::margin(s(20.01));
        assert_eq!(plan.decide(&ended, s(20.5)), Decision::WaitUntil(certain));
        let watch = Decision::WatchHeartbeat {
            timer_at: s(20.01),
            until: s(35.0),
        };
        assert_eq!(plan.decide(&ended, certain), watch);
        assert_eq!(plan.decide(&ended, s(34.9)), watch);
        assert_eq!(plan.decide(&ended, s(35.0)), Decision::Stop);
        // The window never outlasts --max.
        let short = IdlePlan {
            max: s(25.0),
            heartbeat_window: s(35.0),
        };
        assert_eq!(
            short.decide(&ended, s(22.0)),
            Decision::WatchHeartbeat {
                timer_at: s(20.01),
                until: s(25.0)
            }
        );
        assert_eq!(short.decide(&ended, s(25.0)), Decision::Stop);
        // A window already passed when the timer becomes certain: stop.
        let late = [(Silent, Some(s(40.0))), (Ping, None)];
        assert_eq!(plan.decide(&late, s(41.5)), Decision::Stop);
        // Nothing dropped: no timer, wait for a drop or the max.
        assert_eq!(
            plan.decide(&[(Silent, None), (Ping, None)], s(36.0)),
            Decision::WaitUntil(s(600.0))
        );
        // Every connection gone (a lifetime cap): nothing left to watch.
        assert_eq!(
            plan.decide(&[(Silent, Some(s(3.0))), (Ping, Some(s(3.0)))], s(3.0)),
            Decision::Stop
        );
    }

    #[test]
    fn one_direction_arms_ask_serve_for_their_traffic() {
        let target =
            Target::parse("wss://example.test/app?token=x").unwrap_or_else(|e| panic!("{e}"));
        let inbound = arm_target(&target, Arm::Inbound, s(0.5));
        assert_eq!(inbound.resource, "/app?token=x&tick=500ms&ping=off");
        let outbound = arm_target(&target, Arm::Outbound, s(1.0));
        assert_eq!(outbound.resource, "/app?token=x&echo=off&ping=off");
        assert_eq!(arm_target(&target, Arm::Data, s(1.0)), target);
        assert!(outbound.secure);
    }

    #[test]
    fn margin_is_bounded() {
        assert_eq!(IdlePlan::margin(s(2.0)), s(0.5));
        assert_eq!(IdlePlan::margin(s(20.0)), s(1.0));
        assert_eq!(IdlePlan::margin(s(350.0)), s(1.5));
    }
}
