//! The schedule of a ramp: a pure function of the configuration, so it is
//! tested without a clock.

use std::time::Duration;

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
        self.start + Duration::from_secs_f64((i - self.first) as f64 / rate)
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
}

#[cfg(test)]
mod tests {
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
    }
}
