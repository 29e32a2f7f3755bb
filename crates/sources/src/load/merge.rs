//! Merging shard results (`load --shard I/N`, `load --procs N`) into the
//! result of the whole ramp: counts are added, histograms are added bucket
//! by bucket and the percentiles computed from the sum, so a merge is exact.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use wsdoctor_evidence::load::{
    CloseSummary, FailureKind, FailureSample, GeneratorLimits, KernelSample, Latency, LoadEvidence,
    LoadPlanSpec, LoadStep, ShardSpec, ShardSummary,
};

use super::hist;

/// One shard's result and where it came from (a file name, `process 2`).
#[derive(Debug, Clone)]
pub struct ShardResult {
    /// Named in errors.
    pub label: String,
    /// What the shard measured.
    pub evidence: LoadEvidence,
}

/// Why results cannot be merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// Nothing to merge.
    #[error("no shard results to merge")]
    Empty,
    /// Two results load different targets.
    #[error(
        "{label} loads {found}, but {first} loads {expected}: they are not shards of one ramp"
    )]
    DifferentTarget {
        /// The odd one.
        label: String,
        /// The first result.
        first: String,
        /// Its target.
        found: String,
        /// The first one's.
        expected: String,
    },
    /// Two results ran different schedules.
    #[error("{label} ran another plan than {first} ({what}): they are not shards of one ramp")]
    DifferentPlan {
        /// The odd one.
        label: String,
        /// The first result.
        first: String,
        /// What differs.
        what: String,
    },
    /// Two results were cut into a different number of shards.
    #[error("{label} is shard {index}/{count}, but {first} is one of {expected} shards")]
    DifferentCount {
        /// The odd one.
        label: String,
        /// The first result.
        first: String,
        /// Its index.
        index: u32,
        /// Its count.
        count: u32,
        /// The first one's count.
        expected: u32,
    },
    /// The same shard twice.
    #[error("{label} and {other} are both shard {index}/{count}")]
    Duplicate {
        /// The second.
        label: String,
        /// The first.
        other: String,
        /// Shard index.
        index: u32,
        /// Shard count.
        count: u32,
    },
    /// Two whole ramps (no `--shard`).
    #[error("{label} and {other} each ran a whole ramp (no --shard): they are two ramps, not shards of one")]
    WholeRamps {
        /// The second.
        label: String,
        /// The first.
        other: String,
    },
    /// Some shards are missing.
    #[error("the set of {count} shards is incomplete: {missing} missing (pass them too, or --partial to merge what is there)")]
    Missing {
        /// Which, as `shard 1/4, shard 3/4`.
        missing: String,
        /// How many shards the ramp was cut into.
        count: u32,
    },
    /// A histogram is missing or unreadable.
    #[error("{label}, step {step}: {reason}")]
    Histogram {
        /// The result.
        label: String,
        /// The step.
        step: u32,
        /// What is wrong.
        reason: String,
    },
}

/// What a merge produced besides the evidence: the shards it lacked (only
/// with `allow_missing`).
#[derive(Debug, Clone)]
pub struct Merged {
    /// The whole ramp's evidence.
    pub evidence: LoadEvidence,
    /// Shard indices that were not there.
    pub missing: Vec<u32>,
}

fn shard_of(e: &LoadEvidence) -> ShardSpec {
    e.shard.unwrap_or(ShardSpec { index: 0, count: 1 })
}

/// Checks that `results` are shards of one ramp (same target, same plan,
/// distinct shards, all of them unless `allow_missing`) and merges them.
pub fn merge(results: &[ShardResult], allow_missing: bool) -> Result<Merged, MergeError> {
    let first = results.first().ok_or(MergeError::Empty)?;
    let count = shard_of(&first.evidence).count;
    let mut by_index: BTreeMap<u32, &ShardResult> = BTreeMap::new();
    for r in results {
        check_same_ramp(first, r)?;
        let shard = shard_of(&r.evidence);
        if shard.count != count {
            return Err(MergeError::DifferentCount {
                label: r.label.clone(),
                first: first.label.clone(),
                index: shard.index,
                count: shard.count,
                expected: count,
            });
        }
        if let Some(other) = by_index.insert(shard.index, r) {
            if count == 1 {
                return Err(MergeError::WholeRamps {
                    label: r.label.clone(),
                    other: other.label.clone(),
                });
            }
            return Err(MergeError::Duplicate {
                label: r.label.clone(),
                other: other.label.clone(),
                index: shard.index,
                count,
            });
        }
    }
    let missing: Vec<u32> = (0..count).filter(|i| !by_index.contains_key(i)).collect();
    if !missing.is_empty() && !allow_missing {
        return Err(MergeError::Missing {
            missing: missing
                .iter()
                .map(|i| format!("shard {i}/{count}"))
                .collect::<Vec<_>>()
                .join(", "),
            count,
        });
    }
    let shards: Vec<&ShardResult> = by_index.into_values().collect();
    let evidence = merge_checked(&shards)?;
    Ok(Merged { evidence, missing })
}

fn check_same_ramp(first: &ShardResult, r: &ShardResult) -> Result<(), MergeError> {
    let (a, b) = (&first.evidence, &r.evidence);
    if a.target != b.target {
        return Err(MergeError::DifferentTarget {
            label: r.label.clone(),
            first: first.label.clone(),
            found: b.target.clone(),
            expected: a.target.clone(),
        });
    }
    let what = if a.concurrency != b.concurrency {
        Some(format!("-c {} against {}", b.concurrency, a.concurrency))
    } else if a.rate.to_bits() != b.rate.to_bits() {
        Some(format!("--rate {} against {}", b.rate, a.rate))
    } else {
        plan_difference(&b.plan, &a.plan)
    };
    match what {
        Some(what) => Err(MergeError::DifferentPlan {
            label: r.label.clone(),
            first: first.label.clone(),
            what,
        }),
        None => Ok(()),
    }
}

/// The first schedule setting in which `b` differs from `a`, as the flag
/// and both values (durations in ms).
fn plan_difference(b: &LoadPlanSpec, a: &LoadPlanSpec) -> Option<String> {
    let opt = |v: Option<u64>| v.map_or_else(|| "off".to_owned(), |v| format!("{v}ms"));
    let fields = [
        ("--step", b.step.to_string(), a.step.to_string()),
        (
            "--step-hold",
            format!("{}ms", b.step_hold_ms),
            format!("{}ms", a.step_hold_ms),
        ),
        (
            "--hold",
            format!("{}ms", b.hold_ms),
            format!("{}ms", a.hold_ms),
        ),
        (
            "--message-every",
            opt(b.message_every_ms),
            opt(a.message_every_ms),
        ),
        (
            "--size",
            b.message_size.to_string(),
            a.message_size.to_string(),
        ),
        (
            "--ping-interval",
            opt(b.ping_interval_ms),
            opt(a.ping_interval_ms),
        ),
    ];
    fields
        .into_iter()
        .find(|(_, x, y)| x != y)
        .map(|(flag, x, y)| format!("{flag} {x} against {y}"))
}

/// One step being merged.
struct StepAcc {
    stats: LoadStep,
    handshake: Histogram<u64>,
    echo: Histogram<u64>,
}

fn add_histogram(
    into: &mut Histogram<u64>,
    latency: &Latency,
    label: &str,
    step: u32,
) -> Result<(), MergeError> {
    let err = |reason: String| MergeError::Histogram {
        label: label.to_owned(),
        step,
        reason,
    };
    let Some(text) = &latency.histogram else {
        if latency.count == 0 {
            return Ok(());
        }
        return Err(err(
            "no histogram (a report of an older wsdoctor, or not from `load --shard`): its percentiles cannot be merged exactly".to_owned(),
        ));
    };
    let h = hist::decode(text).map_err(err)?;
    if h.len() != latency.count {
        return Err(err(format!(
            "the histogram holds {} values but the count says {}",
            h.len(),
            latency.count
        )));
    }
    into.add(&h)
        .map_err(|e| err(format!("the histograms do not add: {e:?}")))
}

fn merge_checked(shards: &[&ShardResult]) -> Result<LoadEvidence, MergeError> {
    let Some(first) = shards.first() else {
        return Err(MergeError::Empty);
    };
    let new_histogram = || {
        hist::histogram().ok_or_else(|| MergeError::Histogram {
            label: first.label.clone(),
            step: 0,
            reason: "cannot allocate a histogram".to_owned(),
        })
    };
    let mut steps: BTreeMap<u32, StepAcc> = BTreeMap::new();
    for shard in shards {
        for s in &shard.evidence.steps {
            let acc = match steps.entry(s.index) {
                std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => v.insert(StepAcc {
                    stats: LoadStep {
                        index: s.index,
                        ..LoadStep::default()
                    },
                    handshake: new_histogram()?,
                    echo: new_histogram()?,
                }),
            };
            let m = &mut acc.stats;
            m.target = m.target.max(s.target);
            m.attempted += s.attempted;
            m.opened += s.opened;
            m.open_at_end += s.open_at_end;
            for (kind, n) in &s.failures {
                *m.failures.entry(*kind).or_insert(0) += n;
            }
            for (kind, n) in &s.drops {
                *m.drops.entry(*kind).or_insert(0) += n;
            }
            add_histogram(&mut acc.handshake, &s.handshake, &shard.label, s.index)?;
            add_histogram(&mut acc.echo, &s.echo_rtt, &shard.label, s.index)?;
        }
    }
    // The processes' memory adds up; a shard that could not read its own
    // leaves the sum unknown.
    let rss_start = sum_all(shards.iter().map(|s| s.evidence.rss_start_bytes));
    // The kernel's figures are machine-wide, not per process: the first
    // sample (fewest sockets) is the start, the one with the most sockets
    // at a step's end is that step's (shards on other machines: one
    // machine's figures).
    let kernel_start = shards
        .iter()
        .filter_map(|s| s.evidence.kernel_start)
        .min_by_key(|k| k.tcp_sockets);
    for acc in steps.values_mut() {
        let index = acc.stats.index;
        let rss = sum_all(shards.iter().map(|s| {
            s.evidence
                .steps
                .iter()
                .find(|st| st.index == index)
                .and_then(|st| st.rss_bytes)
        }));
        acc.stats.set_memory(rss, rss_start);
        let kernel = busiest_kernel(shards.iter().filter_map(|s| {
            s.evidence
                .steps
                .iter()
                .find(|st| st.index == index)
                .and_then(|st| st.kernel)
        }));
        acc.stats.set_kernel(kernel, kernel_start.as_ref());
        acc.stats.failure_samples = merge_samples(shards, acc.stats.index);
        acc.stats.handshake = hist::latency(Some(&acc.handshake));
        acc.stats.echo_rtt = hist::latency(Some(&acc.echo));
    }
    let steps: Vec<LoadStep> = steps.into_values().map(|a| a.stats).collect();
    // Interleaved shards run in lockstep, so their peaks coincide (to the
    // skew of their starts): the sum of the peaks is the whole ramp's, an
    // upper bound when they did not; the largest sum at a step end is a
    // lower bound that it never falls under.
    let peak_at_step_ends = steps.iter().map(|s| s.open_at_end).max().unwrap_or(0);
    let sum_of_peaks: u64 = shards.iter().map(|s| s.evidence.peak_open).sum();
    let summaries: Vec<ShardSummary> = shards
        .iter()
        .map(|s| ShardSummary {
            index: shard_of(&s.evidence).index,
            ran_ms: s.evidence.ran_ms,
            peak_open: s.evidence.peak_open,
            attempted: s.evidence.steps.iter().map(|st| st.attempted).sum(),
            generator: s.evidence.generator.clone(),
        })
        .collect();
    let e = &first.evidence;
    Ok(LoadEvidence {
        target: e.target.clone(),
        concurrency: e.concurrency,
        rate: e.rate,
        steps,
        generator: merge_generators(shards.iter().map(|s| &s.evidence.generator)),
        ran_ms: shards.iter().map(|s| s.evidence.ran_ms).max().unwrap_or(0),
        peak_open: sum_of_peaks.max(peak_at_step_ends),
        plan: e.plan.clone(),
        shard: None,
        shards: summaries,
        rss_start_bytes: rss_start,
        deflate_offered: shards.iter().any(|s| s.evidence.deflate_offered),
        app: shards.iter().find_map(|s| s.evidence.app.clone()),
        kernel_start,
        // Each child's ramp is only part of the machine's: the parent
        // samples the queues for the whole.
        listen_queues: None,
        close: merge_closes(shards.iter().filter_map(|s| s.evidence.close)),
    })
}

/// The kernel sample with the most TCP sockets.
fn busiest_kernel(samples: impl Iterator<Item = KernelSample>) -> Option<KernelSample> {
    samples.max_by_key(|k| k.tcp_sockets)
}

/// The processes closed at the same time: the close took as long as the
/// slowest, and their connections add up.
fn merge_closes(closes: impl Iterator<Item = CloseSummary>) -> Option<CloseSummary> {
    closes.reduce(|a, b| CloseSummary {
        open_at_close: a.open_at_close + b.open_at_close,
        took_ms: a.took_ms.max(b.took_ms),
        unfinished: a.unfinished + b.unfinished,
        interrupted: a.interrupted || b.interrupted,
    })
}

/// The sum, when every value is known.
fn sum_all(values: impl Iterator<Item = Option<u64>>) -> Option<u64> {
    values.sum()
}

/// The first failure of each kind in a step, across shards. How many
/// connections were open at that moment is estimated as the sum over shards
/// of each shard's own count at its first failure of that kind (or, for a
/// shard without one, what it held at the step's end): with interleaved
/// shards they all reach the limit together, each at about its share of it.
fn merge_samples(shards: &[&ShardResult], step: u32) -> Vec<FailureSample> {
    // kind → (position in its shard's list, the sample)
    let mut firsts: BTreeMap<FailureKind, (usize, &FailureSample)> = BTreeMap::new();
    for shard in shards {
        let Some(s) = shard.evidence.steps.iter().find(|s| s.index == step) else {
            continue;
        };
        for (position, sample) in s.failure_samples.iter().enumerate() {
            firsts
                .entry(sample.kind)
                .and_modify(|(p, _)| *p = (*p).min(position))
                .or_insert((position, sample));
        }
    }
    let mut merged: Vec<(usize, FailureSample)> = firsts
        .into_iter()
        .map(|(kind, (position, sample))| {
            let at_concurrency = shards
                .iter()
                .filter_map(|shard| shard.evidence.steps.iter().find(|s| s.index == step))
                .map(|s| {
                    s.failure_samples
                        .iter()
                        .find(|f| f.kind == kind)
                        .map_or(s.open_at_end, |f| f.at_concurrency)
                })
                .sum();
            (
                position,
                FailureSample {
                    at_concurrency,
                    ..sample.clone()
                },
            )
        })
        .collect();
    merged.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.kind.cmp(&b.1.kind)));
    merged.into_iter().map(|(_, s)| s).collect()
}

/// The tightest limits of any shard (each is per process), every source
/// address, the worst timer lag, every note once.
fn merge_generators<'a>(gens: impl Iterator<Item = &'a GeneratorLimits>) -> GeneratorLimits {
    let mut out: Option<GeneratorLimits> = None;
    for g in gens {
        let Some(m) = &mut out else {
            out = Some(g.clone());
            continue;
        };
        m.nofile_soft = m.nofile_soft.min(g.nofile_soft);
        m.nofile_hard = m.nofile_hard.min(g.nofile_hard);
        m.nofile_now = m.nofile_now.min(g.nofile_now);
        m.timer_lag_max_us = m.timer_lag_max_us.max(g.timer_lag_max_us);
        // Every shard keeps the one global schedule: the latest one is
        // how far behind the ramp as a whole finished.
        m.schedule_behind_us = m.schedule_behind_us.max(g.schedule_behind_us);
        for ip in &g.source_ips {
            if !m.source_ips.contains(ip) {
                m.source_ips.push(ip.clone());
            }
        }
        for note in &g.notes {
            if !m.notes.contains(note) {
                m.notes.push(note.clone());
            }
        }
    }
    out.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A shard's step with the given handshake values (µs).
    fn step(
        index: u32,
        values: &[u64],
        failures: &[(&str, u64, u64)],
        open_at_end: u64,
    ) -> LoadStep {
        let mut h = hist::histogram().unwrap();
        for v in values {
            h.record(*v).unwrap();
        }
        LoadStep {
            index,
            target: u64::from(index) * 100,
            attempted: values.len() as u64 + failures.iter().map(|f| f.1).sum::<u64>(),
            opened: values.len() as u64,
            failures: failures
                .iter()
                .map(|(k, n, _)| (k.parse().unwrap(), *n))
                .collect(),
            failure_samples: failures
                .iter()
                .map(|(k, _, at)| FailureSample {
                    kind: k.parse().unwrap(),
                    detail: format!("{k} here"),
                    server: None,
                    at_concurrency: *at,
                })
                .collect(),
            drops: BTreeMap::new(),
            open_at_end,
            handshake: hist::latency(Some(&h)),
            echo_rtt: Latency::default(),
            ..LoadStep::default()
        }
    }

    fn shard(index: u32, count: u32, steps: Vec<LoadStep>) -> ShardResult {
        ShardResult {
            label: format!("s{index}.json"),
            evidence: LoadEvidence {
                target: "ws://127.0.0.1:9/ws".into(),
                concurrency: 200,
                rate: 100.0,
                peak_open: steps.iter().map(|s| s.open_at_end).max().unwrap_or(0),
                steps,
                plan: LoadPlanSpec {
                    step: 100,
                    ..LoadPlanSpec::default()
                },
                shard: Some(ShardSpec { index, count }),
                ..LoadEvidence::default()
            },
        }
    }

    #[test]
    fn percentiles_come_from_the_merged_histograms() {
        // Shard 0 is fast (90 values of 1 ms), shard 1 slow (10 of 100 ms).
        // Averaging their p99s would say ~50 ms; the merged p90 is 1 ms and
        // the p99 100 ms, as one run of all 100 values would say.
        let fast = vec![1_000; 90];
        let slow = vec![100_000; 10];
        let merged = merge(
            &[
                shard(0, 2, vec![step(1, &fast, &[], 90)]),
                shard(1, 2, vec![step(1, &slow, &[], 10)]),
            ],
            false,
        )
        .unwrap();
        let s = &merged.evidence.steps[0];
        let mut whole = hist::histogram().unwrap();
        for v in fast.iter().chain(&slow) {
            whole.record(*v).unwrap();
        }
        assert_eq!(s.handshake, hist::latency(Some(&whole)));
        assert_eq!(s.handshake.count, 100);
        assert_eq!(s.handshake.p90_us, whole.value_at_quantile(0.9));
        assert!(s.handshake.p90_us < 1_100 && s.handshake.p99_us > 99_000);
        assert_eq!((s.attempted, s.opened, s.open_at_end), (100, 100, 100));
        assert_eq!(merged.evidence.peak_open, 100);
        assert_eq!(merged.evidence.shards.len(), 2);
        assert!(merged.evidence.shard.is_none());
    }

    #[test]
    fn memory_of_the_processes_adds_up() {
        let with_rss = |index: u32, start: u64, end: u64| {
            let mut step = step(1, &[900; 50], &[], 50);
            step.rss_bytes = Some(end);
            let mut result = shard(index, 2, vec![step]);
            result.evidence.rss_start_bytes = Some(start);
            result
        };
        let merged = merge(
            &[
                with_rss(0, 10_000_000, 11_000_000),
                with_rss(1, 10_000_000, 12_000_000),
            ],
            false,
        )
        .unwrap();
        let s = &merged.evidence.steps[0];
        assert_eq!(s.rss_bytes, Some(23_000_000));
        // 3 MB grown over 100 connections open.
        assert_eq!(s.bytes_per_connection, Some(30_000));
        // A shard that could not read its memory leaves the sum unknown.
        let mut blind = with_rss(1, 10_000_000, 12_000_000);
        blind.evidence.rss_start_bytes = None;
        let merged = merge(&[with_rss(0, 10_000_000, 11_000_000), blind], false).unwrap();
        assert_eq!(merged.evidence.steps[0].bytes_per_connection, None);
    }

    #[test]
    fn failures_add_up_and_the_knee_is_the_sum() {
        let merged = merge(
            &[
                shard(
                    1,
                    2,
                    vec![
                        step(1, &[900; 50], &[], 50),
                        step(2, &[900; 12], &[("http-503", 38, 61)], 62),
                    ],
                ),
                shard(
                    0,
                    2,
                    vec![
                        step(1, &[900; 50], &[], 50),
                        step(2, &[900; 13], &[("http-503", 37, 62)], 63),
                    ],
                ),
            ],
            false,
        )
        .unwrap();
        let s2 = &merged.evidence.steps[1];
        assert_eq!(s2.failures[&FailureKind::Http(503)], 75);
        assert_eq!(s2.failure_samples.len(), 1);
        assert_eq!(s2.failure_samples[0].at_concurrency, 123);
        assert_eq!(s2.open_at_end, 125);
        assert_eq!(merged.evidence.shards[0].index, 0);
    }

    #[test]
    fn sets_that_do_not_belong_together_are_refused() {
        let a = shard(0, 2, vec![step(1, &[900], &[], 1)]);
        let b = shard(1, 2, vec![step(1, &[900], &[], 1)]);
        let err = merge(std::slice::from_ref(&a), false).unwrap_err();
        assert!(err.to_string().contains("shard 1/2"), "{err}");
        assert_eq!(
            merge(std::slice::from_ref(&a), true).unwrap().missing,
            vec![1]
        );
        assert!(matches!(
            merge(&[a.clone(), a.clone()], false),
            Err(MergeError::Duplicate { .. })
        ));
        let mut other_target = b.clone();
        other_target.evidence.target = "ws://127.0.0.1:10/ws".into();
        assert!(matches!(
            merge(&[a.clone(), other_target], false),
            Err(MergeError::DifferentTarget { .. })
        ));
        let mut other_plan = b.clone();
        other_plan.evidence.plan.hold_ms = 5;
        let err = merge(&[a.clone(), other_plan], false).unwrap_err();
        assert!(matches!(err, MergeError::DifferentPlan { .. }));
        assert!(err.to_string().contains("--hold 5ms against 0ms"), "{err}");
        let three = shard(1, 3, vec![]);
        assert!(matches!(
            merge(&[a.clone(), three], false),
            Err(MergeError::DifferentCount { .. })
        ));
        let mut no_histogram = b.clone();
        no_histogram.evidence.steps[0].handshake.histogram = None;
        assert!(matches!(
            merge(&[a.clone(), no_histogram], false),
            Err(MergeError::Histogram { .. })
        ));
        let mut lying = b;
        lying.evidence.steps[0].handshake.count = 7;
        assert!(merge(&[a, lying], false)
            .unwrap_err()
            .to_string()
            .contains("holds 1 values"));
        assert_eq!(merge(&[], false).unwrap_err(), MergeError::Empty);
        let mut whole = shard(0, 1, vec![]);
        whole.evidence.shard = None;
        assert!(matches!(
            merge(&[whole.clone(), whole], false),
            Err(MergeError::WholeRamps { .. })
        ));
    }
}
