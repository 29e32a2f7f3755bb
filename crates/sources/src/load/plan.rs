//! The schedule of a ramp: a pure function of the configuration, so it is
//! tested without a clock.
//!
//! A shard (`--shard I/N`) runs the connections whose index in the whole
//! ramp is I modulo N, each at the moment the whole ramp would launch it.
//! Interleaving, rather than contiguous slices, is what makes N shards
//! together the same ramp as one run: every shard runs every step with the
//! same start and hold end, the union of their launches in a step is exactly
//! that step's connections at the whole ramp's rate (each shard launches at
//! rate/N, interleaved in time), and at any moment the shards' open
//! connections add up to the one run's concurrency. Contiguous slices would
//! instead give each shard its own steps, so most shards would idle while one
//! ramps, and a shard's knee would not be the whole ramp's.

use std::time::Duration;

use wsdoctor_evidence::load::ShardSpec;

/// One slice of a ramp: connections with index ≡ `index` (mod `count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u32,
    count: u32,
}

/// Why a shard was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// Not `I/N`.
    #[error("'{0}' is not a shard: write I/N, e.g. 0/4 (I counts from 0)")]
    Malformed(String),
    /// I ≥ N or N = 0.
    #[error("shard {index}/{count} does not exist: I counts from 0 to N-1 (N at least 1)")]
    OutOfRange {
        /// I.
        index: u32,
        /// N.
        count: u32,
    },
}

impl Shard {
    /// The whole ramp (shard 0/1).
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` (0-based) of `count`.
    pub fn new(index: u32, count: u32) -> Result<Shard, ShardError> {
        if count == 0 || index >= count {
            return Err(ShardError::OutOfRange { index, count });
        }
        Ok(Shard { index, count })
    }

    /// Parses `I/N`.
    pub fn parse(text: &str) -> Result<Shard, ShardError> {
        let malformed = || ShardError::Malformed(text.to_owned());
        let (i, n) = text.trim().split_once('/').ok_or_else(malformed)?;
        let index = i.trim().parse().map_err(|_| malformed())?;
        let count = n.trim().parse().map_err(|_| malformed())?;
        Shard::new(index, count)
    }

    /// 0-based index.
    pub fn index(self) -> u32 {
        self.index
    }

    /// How many shards.
    pub fn count(self) -> u32 {
        self.count
    }

    /// As recorded in the evidence.
    pub fn spec(self) -> ShardSpec {
        ShardSpec {
            index: self.index,
            count: self.count,
        }
    }

    /// Whether connection `i` of the whole ramp is this shard's.
    pub fn owns(self, i: u64) -> bool {
        i % u64::from(self.count) == u64::from(self.index)
    }

    /// This shard's first connection at or after `from`.
    pub fn first_from(self, from: u64) -> u64 {
        let n = u64::from(self.count);
        let offset = (u64::from(self.index) + n - from % n) % n;
        from + offset
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// One step of the schedule, in time since the ramp started.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepPlan {
    /// 1-based.
    pub index: u32,
    /// Index of the step's first connection.
    pub first: u64,
    /// Connections launched in the step.
    pub count: u64,
    /// When the first is launched.
    pub start: Duration,
    /// When the hold after the step ends.
    pub hold_end: Duration,
}

impl StepPlan {
    /// When connection `i` (of the whole ramp) is launched.
    pub fn launch_at(&self, i: u64, rate: f64) -> Duration {
        self.start + Duration::from_secs_f64(i.saturating_sub(self.first) as f64 / rate)
    }

    /// The connections of this step that `shard` launches, in order.
    pub fn owned(&self, shard: Shard) -> impl Iterator<Item = u64> {
        let end = self.first + self.count;
        (shard.first_from(self.first)..end).step_by(usize::try_from(shard.count).unwrap_or(1))
    }
}

/// The schedule of a ramp.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// The steps in order.
    pub steps: Vec<StepPlan>,
}

impl LoadPlan {
    /// Steps of `step` connections up to `concurrency`, launched at `rate`
    /// per second, each followed by `step_hold` (the last by `hold`).
    pub fn new(
        concurrency: u64,
        step: u64,
        rate: f64,
        step_hold: Duration,
        hold: Duration,
    ) -> LoadPlan {
        let step = step.max(1);
        let mut steps = Vec::new();
        let mut first = 0;
        let mut at = Duration::ZERO;
        while first < concurrency {
            let count = step.min(concurrency - first);
            let launch = Duration::from_secs_f64(count as f64 / rate);
            let last = first + count >= concurrency;
            let hold_end = at + launch + if last { hold } else { step_hold };
            steps.push(StepPlan {
                index: u32::try_from(steps.len() + 1).unwrap_or(u32::MAX),
                first,
                count,
                start: at,
                hold_end,
            });
            first += count;
            at = hold_end;
        }
        LoadPlan { steps }
    }

    /// The step (0-based position) that connection `i` belongs to.
    pub fn step_of(&self, i: u64) -> Option<usize> {
        self.steps
            .iter()
            .position(|s| (s.first..s.first + s.count).contains(&i))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn plan_table() {
        let plan = LoadPlan::new(
            250,
            100,
            100.0,
            Duration::from_secs(2),
            Duration::from_secs(10),
        );
        let summary: Vec<(u64, u64, f64, f64)> = plan
            .steps
            .iter()
            .map(|s| {
                (
                    s.first,
                    s.count,
                    s.start.as_secs_f64(),
                    s.hold_end.as_secs_f64(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (0, 100, 0.0, 3.0),
                (100, 100, 3.0, 6.0),
                (200, 50, 6.0, 16.5)
            ]
        );
        assert_eq!(
            plan.steps[1].launch_at(150, 100.0),
            Duration::from_millis(3500)
        );
        assert!(LoadPlan::new(0, 10, 1.0, Duration::ZERO, Duration::ZERO)
            .steps
            .is_empty());
        assert_eq!(plan.step_of(199), Some(1));
        assert_eq!(plan.step_of(250), None);
    }

    #[test]
    fn shards_together_are_the_whole_ramp() {
        let plan = LoadPlan::new(
            1003,
            250,
            100.0,
            Duration::from_secs(2),
            Duration::from_secs(10),
        );
        for n in 1..=7u32 {
            for step in &plan.steps {
                let mut all: Vec<u64> = (0..n)
                    .flat_map(|i| step.owned(Shard::new(i, n).unwrap()).collect::<Vec<_>>())
                    .collect();
                all.sort_unstable();
                let whole: Vec<u64> = (step.first..step.first + step.count).collect();
                assert_eq!(all, whole, "{n} shards, step {}", step.index);
                // Each shard's share of a step differs by at most one, so
                // each launches at the whole ramp's rate divided by N.
                let counts: Vec<usize> = (0..n)
                    .map(|i| step.owned(Shard::new(i, n).unwrap()).count())
                    .collect();
                let (lo, hi) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
                assert!(hi - lo <= 1, "{counts:?}");
            }
        }
        let third = Shard::new(2, 3).unwrap();
        assert_eq!(plan.steps[1].owned(third).next(), Some(251));
        assert!(third.owns(251) && !third.owns(250));
    }

    #[test]
    fn shard_parsing() {
        assert_eq!(Shard::parse("1/4").unwrap(), Shard::new(1, 4).unwrap());
        assert_eq!(Shard::parse(" 0 / 1 ").unwrap(), Shard::WHOLE);
        assert!(matches!(
            Shard::parse("4/4"),
            Err(ShardError::OutOfRange { .. })
        ));
        assert!(Shard::parse("0/0").is_err());
        assert!(matches!(Shard::parse("1-4"), Err(ShardError::Malformed(_))));
        assert!(Shard::parse("-1/4").is_err());
        assert_eq!(Shard::new(3, 5).unwrap().to_string(), "3/5");
    }
}
