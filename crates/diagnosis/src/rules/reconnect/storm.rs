//! The reconnect wave a server sees after an outage: every client loses its
//! connection at the same moment, the server refuses connections until the
//! outage ends, and each client retries on its own schedule. Counting the
//! attempts per second over the first minute shows the herd (or its
//! absence). A deterministic simulation: the randomness of the jittered
//! policies comes from a seeded generator, so a run is reproducible.

use std::time::Duration;

use serde::Serialize;
use wsdoctor_evidence::{check_at_most, check_between, Bound, ConfigError};

use super::policy::{PolicyFit, PolicyKind};

/// A failed attempt takes at least this long (a round trip), so even an
/// immediate-retry loop makes a bounded number of attempts.
pub const MIN_ATTEMPT_S: f64 = 0.05;
/// Attempts simulated per client at most (bounded work for `--clients`).
const MAX_ATTEMPTS_PER_CLIENT: u32 = 2_000;

/// How the delay before attempt `k` (0-based) grows, before jitter.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Steps {
    /// `base × factor^k`, up to `cap`.
    Exponential {
        /// First delay, s.
        base_s: f64,
        /// Growth per attempt.
        factor: f64,
        /// Largest delay, s.
        cap_s: Option<f64>,
    },
    /// `base + step × k`, up to `cap`.
    Linear {
        /// First delay, s.
        base_s: f64,
        /// Growth per attempt, s.
        step_s: f64,
        /// Largest delay, s.
        cap_s: Option<f64>,
    },
    /// A fixed table of delays, then `then_s` forever (`None`: give up).
    Table {
        /// The delays, s.
        delays_s: Vec<f64>,
        /// The delay after the table, s.
        then_s: Option<f64>,
    },
}

/// The randomness on top of the steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Jitter {
    /// None: every client on the same schedule.
    None,
    /// Full jitter: uniform between 0 and the step.
    Full,
    /// The step ± this fraction (socket.io's `randomizationFactor`).
    Proportional {
        /// The fraction.
        fraction: f64,
    },
    /// Each client draws its base once, uniform in `lo..hi`, then follows
    /// the steps deterministically (reconnecting-websocket).
    PerClientBase {
        /// Lowest base, s.
        lo_s: f64,
        /// Highest base, s.
        hi_s: f64,
    },
    /// Only the first delay is random, uniform up to `max`; later ones are
    /// the steps from the start (python-websockets).
    FirstRandom {
        /// Largest first delay, s.
        max_s: f64,
    },
    /// The step plus a uniform `lo..hi` (graphql-ws).
    Added {
        /// Least added, s.
        lo_s: f64,
        /// Most added, s.
        hi_s: f64,
    },
    /// `base + uniform(0, step)`, capped (centrifuge-js).
    BasePlusFull,
}

/// A reconnect policy to simulate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StormPolicy {
    /// Its name (a library, `measured`, `full-jitter`, `custom`).
    pub name: String,
    /// Where its numbers come from.
    pub source: String,
    /// The client retries once at once before backing off.
    pub immediate_first: bool,
    /// The steps.
    pub steps: Steps,
    /// The randomness.
    pub jitter: Jitter,
    /// Attempts before the client gives up (`None`: never).
    pub max_attempts: Option<u32>,
}

fn capped(v: f64, cap: Option<f64>) -> f64 {
    cap.map_or(v, |c| v.min(c))
}

impl StormPolicy {
    /// The policy the flags of `wsdoctor storm` describe when no preset is
    /// named: `--base` is required; `--factor` defaults to 2, `--cap` to
    /// 30 s. Checked as [`StormPolicy::explicit`] checks.
    pub fn from_flags(
        base: Option<Duration>,
        factor: Option<f64>,
        cap: Option<Duration>,
        jitter: Jitter,
    ) -> Result<StormPolicy, ConfigError> {
        let Some(base) = base else {
            return Err(ConfigError::NoneGiven {
                choices: "--policy PRESET, or --base DUR (with --factor, --cap, --jitter)",
            });
        };
        StormPolicy::explicit(
            base,
            factor.unwrap_or(2.0),
            cap.unwrap_or(Duration::from_secs(30)),
            jitter,
        )
    }

    /// An explicit policy (`--base`, `--factor`, `--cap`, `--jitter`): a
    /// factor of 1 to 10 (1 is a fixed delay), a base above 0 and at most
    /// the cap.
    pub fn explicit(
        base: Duration,
        factor: f64,
        cap: Duration,
        jitter: Jitter,
    ) -> Result<StormPolicy, ConfigError> {
        if !(1.0..=10.0).contains(&factor) {
            return Err(ConfigError::Between {
                setting: "--factor",
                low: Bound::Count(1),
                high: Bound::Count(10),
            });
        }
        if base.is_zero() || cap < base {
            return Err(ConfigError::Rule {
                setting: "--base",
                rule: "must be more than 0 and at most --cap",
            });
        }
        Ok(StormPolicy {
            name: "custom".to_owned(),
            source: format!(
                "--base {} --factor {factor} --cap {} --jitter {}",
                wsdoctor_evidence::format_duration(base),
                wsdoctor_evidence::format_duration(cap),
                if jitter == Jitter::Full {
                    "full"
                } else {
                    "none"
                }
            ),
            immediate_first: false,
            steps: if factor == 1.0 {
                Steps::Table {
                    delays_s: Vec::new(),
                    then_s: Some(base.as_secs_f64()),
                }
            } else {
                Steps::Exponential {
                    base_s: base.as_secs_f64(),
                    factor,
                    cap_s: Some(cap.as_secs_f64()),
                }
            },
            jitter,
            max_attempts: None,
        })
    }

    /// Full-jitter exponential backoff: the recommended policy.
    pub fn full_jitter(base_s: f64, cap_s: f64) -> StormPolicy {
        StormPolicy {
            name: "full-jitter".to_owned(),
            source: "AWS Architecture Blog, \"Exponential Backoff And Jitter\" (full jitter)"
                .to_owned(),
            immediate_first: false,
            steps: Steps::Exponential {
                base_s,
                factor: 2.0,
                cap_s: Some(cap_s),
            },
            jitter: Jitter::Full,
            max_attempts: None,
        }
    }

    /// The step before attempt `k`, with `base` replacing the steps' own
    /// first delay when given. `None`: the client gives up.
    fn step(&self, k: u32, base: Option<f64>) -> Option<f64> {
        let k_i = i32::try_from(k.min(1000)).unwrap_or(1000);
        match &self.steps {
            Steps::Exponential {
                base_s,
                factor,
                cap_s,
            } => Some(capped(base.unwrap_or(*base_s) * factor.powi(k_i), *cap_s)),
            Steps::Linear {
                base_s,
                step_s,
                cap_s,
            } => Some(capped(
                base.unwrap_or(*base_s) + step_s * f64::from(k_i),
                *cap_s,
            )),
            Steps::Table { delays_s, then_s } => delays_s.get(k as usize).copied().or(*then_s),
        }
    }

    fn cap(&self) -> Option<f64> {
        match &self.steps {
            Steps::Exponential { cap_s, .. } | Steps::Linear { cap_s, .. } => *cap_s,
            Steps::Table { .. } => None,
        }
    }

    /// The delay before attempt `k`; `client_base` is the client's own base
    /// for [`Jitter::PerClientBase`].
    pub fn delay(&self, k: u32, client_base: Option<f64>, rng: &mut fastrand::Rng) -> Option<f64> {
        if self.max_attempts.is_some_and(|m| k >= m) {
            return None;
        }
        let d = match self.jitter {
            Jitter::None => self.step(k, None)?,
            Jitter::Full => self.step(k, None)? * rng.f64(),
            Jitter::Proportional { fraction } => {
                let s = self.step(k, None)?;
                capped(s * (1.0 + fraction * (2.0 * rng.f64() - 1.0)), self.cap())
            }
            Jitter::PerClientBase { .. } => self.step(k, client_base)?,
            Jitter::FirstRandom { max_s } if k == 0 => max_s * rng.f64(),
            Jitter::FirstRandom { .. } => self.step(k - 1, None)?,
            Jitter::Added { lo_s, hi_s } => self.step(k, None)? + lo_s + (hi_s - lo_s) * rng.f64(),
            Jitter::BasePlusFull => {
                let base = self.step(0, None)?;
                capped(base + self.step(k, None)? * rng.f64(), self.cap())
            }
        };
        Some(d.max(0.0))
    }

    /// A measured policy as something to simulate.
    pub fn from_fit(fit: &PolicyFit, observed_max_s: f64) -> StormPolicy {
        let base_s = fit.base_s.max(MIN_ATTEMPT_S);
        let (steps, jitter) = match fit.kind {
            PolicyKind::Immediate | PolicyKind::Fixed => {
                let steps = Steps::Table {
                    delays_s: Vec::new(),
                    then_s: Some(base_s),
                };
                let jitter = if fit.spread > 0.15 {
                    Jitter::Proportional {
                        fraction: (fit.spread * 3f64.sqrt()).min(1.0),
                    }
                } else {
                    Jitter::None
                };
                (steps, jitter)
            }
            PolicyKind::Linear => (
                Steps::Linear {
                    base_s,
                    step_s: fit.step_s.unwrap_or(base_s),
                    cap_s: fit.cap_s,
                },
                Jitter::None,
            ),
            PolicyKind::Exponential => (
                Steps::Exponential {
                    base_s,
                    factor: fit.factor.unwrap_or(2.0),
                    cap_s: fit.cap_s,
                },
                Jitter::None,
            ),
            PolicyKind::ExponentialJitter => (
                Steps::Exponential {
                    base_s,
                    factor: fit.factor.unwrap_or(2.0).clamp(1.2, 4.0),
                    cap_s: Some(observed_max_s.max(base_s)),
                },
                Jitter::Full,
            ),
        };
        StormPolicy {
            name: "measured".to_owned(),
            source: format!("measured by wsdoctor reconnect ({})", fit.kind.as_str()),
            immediate_first: false,
            steps,
            jitter,
            max_attempts: None,
        }
    }
}

/// The scenario.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StormScenario {
    /// Clients dropped at once.
    pub clients: u32,
    /// How long the server refuses connections after the drop, s.
    pub outage_s: f64,
    /// Seconds simulated (the chart's width).
    pub horizon_s: u32,
    /// The generator's seed.
    pub seed: u64,
}

impl StormScenario {
    /// `clients` (1 to 1,000,000) dropped at once and refused for `outage`
    /// (at most 1 h), simulated over the first minute.
    pub fn new(clients: u32, outage: Duration, seed: u64) -> Result<Self, ConfigError> {
        check_between("--clients", clients, 1, 1_000_000)?;
        check_at_most("--outage", outage, Duration::from_secs(3600))?;
        Ok(StormScenario {
            clients,
            outage_s: outage.as_secs_f64(),
            horizon_s: 60,
            seed,
        })
    }
}

/// What the server sees.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StormSeries {
    /// The policy's name.
    pub policy: String,
    /// Connection attempts in each second of the horizon.
    pub per_second: Vec<u64>,
    /// Attempts in all within the horizon.
    pub attempts: u64,
    /// The busiest second: its attempts and which second.
    pub peak: (u64, u32),
    /// The busiest second once the outage is over (the wave the
    /// recovering server meets): its attempts and which second.
    pub peak_after: (u64, u32),
    /// Clients back within the horizon.
    pub reconnected: u64,
    /// When the last of them came back, s (`None`: not all within the horizon).
    pub all_back_s: Option<f64>,
    /// Clients that gave up.
    pub gave_up: u64,
}

/// Simulates `policy` in `scenario`.
pub fn simulate(policy: &StormPolicy, scenario: &StormScenario) -> StormSeries {
    let horizon = f64::from(scenario.horizon_s);
    let mut rng = fastrand::Rng::with_seed(scenario.seed);
    let mut per_second = vec![0u64; scenario.horizon_s as usize];
    let (mut reconnected, mut gave_up) = (0u64, 0u64);
    let mut last_back = 0.0f64;
    let count = |t: f64, per_second: &mut Vec<u64>| {
        if t < horizon {
            if let Some(bin) = per_second.get_mut(t as usize) {
                *bin += 1;
            }
        }
    };
    for _ in 0..scenario.clients {
        let client_base = match policy.jitter {
            Jitter::PerClientBase { lo_s, hi_s } => Some(lo_s + (hi_s - lo_s) * rng.f64()),
            _ => None,
        };
        let mut t = 0.0f64;
        let mut back = false;
        if policy.immediate_first {
            count(t, &mut per_second);
            back = t >= scenario.outage_s;
        }
        let mut k = 0u32;
        while !back && t < horizon && k < MAX_ATTEMPTS_PER_CLIENT {
            let Some(d) = policy.delay(k, client_base, &mut rng) else {
                gave_up += 1;
                break;
            };
            t += d.max(MIN_ATTEMPT_S);
            k += 1;
            count(t, &mut per_second);
            back = t >= scenario.outage_s;
        }
        if back && t < horizon {
            reconnected += 1;
            last_back = last_back.max(t);
        }
    }
    let attempts = per_second.iter().sum();
    let busiest = |from: usize| {
        per_second
            .iter()
            .enumerate()
            .skip(from)
            .map(|(i, n)| (*n, u32::try_from(i).unwrap_or(u32::MAX)))
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
            .unwrap_or((0, 0))
    };
    let peak = busiest(0);
    // The second in which the outage ends counts: a client can get in then.
    let peak_after = busiest(scenario.outage_s.max(0.0) as usize);
    StormSeries {
        policy: policy.name.clone(),
        peak_after,
        per_second,
        attempts,
        peak,
        reconnected,
        all_back_s: (reconnected == u64::from(scenario.clients)).then_some(last_back),
        gave_up,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_constructors_hold_the_bounds() {
        let secs = Duration::from_secs;
        let said = |r: Result<StormScenario, ConfigError>| r.err().map(|e| e.to_string());
        assert_eq!(said(StormScenario::new(1, secs(3600), 1)), None);
        let clients = Some("--clients must be between 1 and 1000000".to_owned());
        assert_eq!(said(StormScenario::new(0, secs(10), 1)), clients);
        assert_eq!(said(StormScenario::new(1_000_001, secs(10), 1)), clients);
        assert_eq!(
            said(StormScenario::new(10, secs(3601), 1)),
            Some("--outage must be at most 1h".to_owned())
        );
        let policy = |base, factor, cap| {
            StormPolicy::explicit(secs(base), factor, secs(cap), Jitter::None)
                .err()
                .map(|e| e.to_string())
        };
        assert_eq!(policy(1, 2.0, 30), None);
        assert_eq!(policy(1, 1.0, 1), None);
        let factor = Some("--factor must be between 1 and 10".to_owned());
        assert_eq!(policy(1, 0.5, 30), factor);
        assert_eq!(policy(1, f64::NAN, 30), factor);
        let base = Some("--base must be more than 0 and at most --cap".to_owned());
        assert_eq!(policy(0, 2.0, 30), base);
        assert_eq!(policy(31, 2.0, 30), base);
    }

    #[test]
    fn the_flags_need_a_base_and_default_the_rest() {
        let none = StormPolicy::from_flags(None, Some(2.0), None, Jitter::Full);
        assert_eq!(
            none.err().map(|e| e.to_string()).as_deref(),
            Some("give --policy PRESET, or --base DUR (with --factor, --cap, --jitter)")
        );
        let defaults =
            StormPolicy::from_flags(Some(Duration::from_secs(1)), None, None, Jitter::None);
        assert_eq!(
            defaults.map(|p| p.source).ok().as_deref(),
            Some("--base 1.0 s --factor 2 --cap 30.0 s --jitter none")
        );
        let beyond_the_default_cap =
            StormPolicy::from_flags(Some(Duration::from_secs(31)), None, None, Jitter::None);
        assert!(beyond_the_default_cap.is_err());
    }

    fn scenario(clients: u32, outage_s: f64) -> StormScenario {
        StormScenario {
            clients,
            outage_s,
            horizon_s: 60,
            seed: 7,
        }
    }

    #[test]
    fn deterministic_backoff_matches_the_direct_computation() {
        let policy = StormPolicy {
            name: "doubling".into(),
            source: String::new(),
            immediate_first: false,
            steps: Steps::Exponential {
                base_s: 1.0,
                factor: 2.0,
                cap_s: Some(8.0),
            },
            jitter: Jitter::None,
            max_attempts: None,
        };
        let s = simulate(&policy, &scenario(1000, 20.0));
        // Directly: attempts at 1, 3, 7, 15, 23 s; the one at 23 s succeeds.
        let mut want = vec![0u64; 60];
        let mut t = 0.0;
        for d in [1.0, 2.0, 4.0, 8.0, 8.0] {
            t += d;
            want[t as usize] += 1000;
        }
        assert_eq!(s.per_second, want);
        assert_eq!(s.peak, (1000, 1));
        assert_eq!(s.all_back_s, Some(23.0));
        assert_eq!(s.attempts, 5000);
    }

    #[test]
    fn full_jitter_spreads_the_wave() {
        let herd = StormPolicy {
            jitter: Jitter::None,
            ..StormPolicy::full_jitter(1.0, 30.0)
        };
        let spread = StormPolicy::full_jitter(1.0, 30.0);
        let a = simulate(&herd, &scenario(10_000, 10.0));
        let b = simulate(&spread, &scenario(10_000, 10.0));
        assert_eq!(a.peak_after, (10_000, 15));
        assert!(
            b.peak_after.0 < a.peak_after.0 / 3,
            "{:?} vs {:?}",
            b.peak_after,
            a.peak_after
        );
        // Every jittered client is back by the outage plus one capped step.
        assert!(b.all_back_s.is_some_and(|t| t <= 10.0 + 30.0));
        // The same seed gives the same wave.
        assert_eq!(simulate(&spread, &scenario(10_000, 10.0)), b);
    }

    #[test]
    fn a_table_policy_gives_up_after_its_table() {
        let signalr = StormPolicy {
            name: "signalr".into(),
            source: String::new(),
            immediate_first: false,
            steps: Steps::Table {
                delays_s: vec![0.0, 2.0, 10.0, 30.0],
                then_s: None,
            },
            jitter: Jitter::None,
            max_attempts: None,
        };
        let s = simulate(&signalr, &scenario(10, 60.0));
        assert_eq!(s.gave_up, 10);
        assert_eq!(s.reconnected, 0);
    }
}
