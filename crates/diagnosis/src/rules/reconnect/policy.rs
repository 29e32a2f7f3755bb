//! Naming a client's reconnect policy from its delays alone: immediate,
//! fixed, linear, exponential, or exponential with jitter; with the base,
//! the growth factor, the cap and how much randomness there is. Pure.
//!
//! The delays are what a server sees: the time from an interruption to the
//! client's next handshake request, so each carries a little network and
//! scheduling noise on top of the client's own timer.

use serde::Serialize;

/// Below this median a client is not waiting at all (a TCP and HTTP round
/// trip over the internet takes about this long).
const IMMEDIATE_S: f64 = 0.15;
/// Relative scatter under which delays count as one fixed value.
const FIXED_CV: f64 = 0.15;
/// Consecutive ratios within this factor of each other are one growth factor.
const RATIO_TOLERANCE: f64 = 1.25;
/// Differences within this fraction of their mean are one linear step.
const STEP_TOLERANCE: f64 = 0.2;
/// Values within this fraction of the largest one sit at the cap.
const CAP_TOLERANCE: f64 = 0.1;

/// The contract's `reconnect_policy` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyKind {
    /// No wait at all.
    Immediate,
    /// The same delay every time (possibly with some random spread).
    Fixed,
    /// The delay grows by a constant step.
    Linear,
    /// The delay grows by a constant factor, the same for every client.
    Exponential,
    /// The delay grows by a factor with randomness on every attempt.
    ExponentialJitter,
}

impl PolicyKind {
    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::Immediate => "immediate",
            PolicyKind::Fixed => "fixed",
            PolicyKind::Linear => "linear",
            PolicyKind::Exponential => "exponential",
            PolicyKind::ExponentialJitter => "exponential-jitter",
        }
    }
}

/// A classified policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyFit {
    /// Which policy.
    pub kind: PolicyKind,
    /// Leading delays left out of the fit (an immediate first retry, or a
    /// random first delay as python-websockets does).
    pub skipped: usize,
    /// The first delay of the fitted schedule (the median for fixed), s.
    pub base_s: f64,
    /// Growth factor per attempt (exponential kinds).
    pub factor: Option<f64>,
    /// Growth step per attempt (linear), s.
    pub step_s: Option<f64>,
    /// Where the growth stopped, when the delays reached a plateau, s.
    pub cap_s: Option<f64>,
    /// Scatter around the fitted schedule: relative standard deviation
    /// (0 = fully deterministic).
    pub spread: f64,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// Relative standard deviation.
fn cv(v: &[f64]) -> f64 {
    let m = mean(v);
    if m <= 0.0 {
        return 0.0;
    }
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len().max(1) as f64;
    var.sqrt() / m
}

/// Least squares of `ln(delay)` on the attempt number: slope and the
/// standard deviation of the residuals.
fn log_fit(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let ys: Vec<f64> = v.iter().map(|d| d.max(0.001).ln()).collect();
    let mx = (n - 1.0) / 2.0;
    let my = mean(&ys);
    let sxx: f64 = (0..v.len()).map(|i| (i as f64 - mx).powi(2)).sum();
    let sxy: f64 = ys
        .iter()
        .enumerate()
        .map(|(i, y)| (i as f64 - mx) * (y - my))
        .sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let resid = ys
        .iter()
        .enumerate()
        .map(|(i, y)| (y - (my + slope * (i as f64 - mx))).powi(2))
        .sum::<f64>()
        / n;
    (slope, resid.sqrt())
}

/// A deterministic schedule: fixed, or growth (by factor or by step) up to
/// an optional plateau.
fn clean_fit(v: &[f64], skipped: usize) -> Option<PolicyFit> {
    if v.len() < 2 {
        return None;
    }
    let fit = |kind, base_s, spread| PolicyFit {
        kind,
        skipped,
        base_s,
        factor: None,
        step_s: None,
        cap_s: None,
        spread,
    };
    if cv(v) <= FIXED_CV {
        return Some(fit(PolicyKind::Fixed, median(v), cv(v)));
    }
    let max = v.iter().copied().fold(0.0, f64::max);
    let at_cap = v
        .iter()
        .rev()
        .take_while(|d| **d >= max * (1.0 - CAP_TOLERANCE))
        .count();
    // The growth part ends with the first value at the cap.
    let growth = &v[..v.len() + 1 - at_cap.max(1)];
    let cap_s = (at_cap >= 2).then(|| median(&v[v.len() - at_cap..]));
    if growth.len() < 3 {
        return None;
    }
    // The last step into the cap may be cut short by it.
    let judged = if cap_s.is_some() {
        &growth[..growth.len() - 1]
    } else {
        growth
    };
    if judged.len() < 3 {
        return None;
    }
    let ratios: Vec<f64> = judged.windows(2).map(|w| w[1] / w[0].max(1e-3)).collect();
    let steps: Vec<f64> = judged.windows(2).map(|w| w[1] - w[0]).collect();
    let rmin = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let rmax = ratios.iter().copied().fold(0.0, f64::max);
    let smean = mean(&steps);
    let linear = smean > 0.0
        && steps
            .iter()
            .all(|s| (s - smean).abs() <= STEP_TOLERANCE * smean);
    let exponential = rmin > 1.1 && rmax / rmin <= RATIO_TOLERANCE;
    if exponential && !(linear && ratios.len() >= 2 && rmax / rmin > 1.1) {
        let factor = ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64;
        let (_, resid) = log_fit(judged);
        let mut f = fit(PolicyKind::Exponential, judged[0], resid);
        f.factor = Some(factor.exp());
        f.cap_s = cap_s;
        return Some(f);
    }
    if linear {
        let mut f = fit(
            PolicyKind::Linear,
            judged[0],
            cv(&steps) * smean / mean(judged),
        );
        f.step_s = Some(smean);
        f.cap_s = cap_s;
        return Some(f);
    }
    None
}

/// Classifies a client's delays (s, in order). `None` with fewer than two
/// delays, or when no policy fits.
pub fn classify(delays_s: &[f64]) -> Option<PolicyFit> {
    if delays_s.len() < 2 {
        return None;
    }
    let max = delays_s.iter().copied().fold(0.0, f64::max);
    let immediate = PolicyFit {
        kind: PolicyKind::Immediate,
        skipped: 0,
        base_s: median(delays_s),
        factor: None,
        step_s: None,
        cap_s: None,
        spread: cv(delays_s),
    };
    if max <= IMMEDIATE_S {
        return Some(immediate);
    }
    // A deterministic schedule, perhaps after one or two odd first delays.
    for skip in 0..=2 {
        let rest = &delays_s[skip.min(delays_s.len())..];
        if rest.len() < 3 && skip > 0 {
            break;
        }
        if let Some(fit) = clean_fit(rest, skip) {
            if fit.kind == PolicyKind::Fixed && fit.base_s <= IMMEDIATE_S {
                return Some(immediate);
            }
            return Some(fit);
        }
    }
    // Randomness: growth that shows through the noise is backoff with
    // jitter; noise without growth is a fixed delay with a random spread.
    let (slope, resid) = log_fit(delays_s);
    let half = delays_s.len() / 2;
    let grows = slope >= 1.25f64.ln()
        || (half >= 2 && median(&delays_s[half..]) >= 1.8 * median(&delays_s[..half]));
    if !grows && median(delays_s) <= IMMEDIATE_S {
        return Some(immediate);
    }
    let kind = if grows {
        PolicyKind::ExponentialJitter
    } else {
        PolicyKind::Fixed
    };
    Some(PolicyFit {
        kind,
        skipped: 0,
        base_s: if grows { delays_s[0] } else { median(delays_s) },
        factor: grows.then(|| slope.exp()),
        step_s: None,
        cap_s: None,
        spread: if grows { resid } else { cv(delays_s) },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator for the jitter cases (xorshift).
    fn uniform(seed: u64, n: usize) -> Vec<f64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 11) as f64 / (1u64 << 53) as f64
            })
            .collect()
    }

    fn full_jitter(base: f64, cap: f64, n: usize, seed: u64) -> Vec<f64> {
        uniform(seed, n)
            .iter()
            .enumerate()
            .map(|(i, u)| u * (base * 2f64.powi(i as i32)).min(cap))
            .collect()
    }

    #[test]
    fn table_of_delay_sequences() {
        use PolicyKind::*;
        let cases: Vec<(&str, Vec<f64>, PolicyKind)> = vec![
            ("loop", vec![0.002, 0.001, 0.003, 0.002, 0.002], Immediate),
            ("fixed 1 s", vec![1.0, 1.01, 0.99, 1.0, 1.02], Fixed),
            (
                "fixed 50 ms + noise",
                vec![0.21, 0.2, 0.203, 0.215, 0.2],
                Fixed,
            ),
            ("react-use-websocket 5 s", vec![5.0, 5.0, 5.0], Fixed),
            ("doubling", vec![0.05, 0.1, 0.2, 0.4, 0.8], Exponential),
            (
                "doubling + latency",
                vec![0.052, 0.101, 0.203, 0.402],
                Exponential,
            ),
            (
                "x1.3 capped",
                vec![1.0, 1.3, 1.69, 2.2, 2.86, 3.0, 3.0],
                Exponential,
            ),
            (
                "doubling capped",
                vec![1.0, 2.0, 4.0, 5.0, 5.0, 5.0],
                Exponential,
            ),
            (
                "python-websockets: random first",
                vec![0.037, 0.1, 0.1618, 0.2618, 0.4236],
                Exponential,
            ),
            (
                "immediate then doubling",
                vec![0.003, 0.2, 0.4, 0.8, 1.6],
                Exponential,
            ),
            (
                "two immediate retries, then doubling",
                vec![0.003, 0.004, 0.2, 0.4, 0.8, 1.6],
                Exponential,
            ),
            (
                "a random first delay and an immediate retry, then fixed 2 s",
                vec![0.37, 0.002, 2.0, 2.01, 1.99, 2.0],
                Fixed,
            ),
            ("linear", vec![1.0, 2.0, 3.0, 4.0, 5.0], Linear),
            ("linear capped", vec![0.5, 1.0, 1.5, 2.0, 2.0, 2.0], Linear),
            (
                "full jitter",
                full_jitter(0.05, 2.0, 8, 0x9E37_79B9_7F4A_7C15),
                ExponentialJitter,
            ),
            (
                "socket.io ±50%",
                vec![1.3, 1.1, 3.9, 6.2, 13.0, 40.0],
                ExponentialJitter,
            ),
            (
                "random, no growth",
                vec![3.0, 1.0, 3.5, 0.4, 2.2, 1.7],
                Fixed,
            ),
        ];
        for (name, delays, want) in cases {
            let got = classify(&delays).map(|f| f.kind);
            assert_eq!(
                got,
                Some(want),
                "{name}: {delays:?} → {:?}",
                classify(&delays)
            );
        }
    }

    #[test]
    fn numbers_of_a_fit() {
        let f = classify(&[1.0, 2.0, 4.0, 8.0, 10.0, 10.0]).unwrap_or_else(|| panic!());
        assert_eq!(f.kind, PolicyKind::Exponential);
        assert!((f.factor.unwrap_or(0.0) - 2.0).abs() < 0.01);
        assert_eq!(f.cap_s, Some(10.0));
        assert_eq!(f.base_s, 1.0);
        let py = classify(&[0.037, 0.1, 0.1618, 0.2618, 0.4236]).unwrap_or_else(|| panic!());
        assert_eq!(py.skipped, 1);
        assert!((py.factor.unwrap_or(0.0) - 1.618).abs() < 0.01);
        let two = classify(&[0.003, 0.004, 0.2, 0.4, 0.8, 1.6]).unwrap_or_else(|| panic!());
        assert_eq!((two.skipped, two.base_s), (2, 0.2));
    }

    #[test]
    fn too_few_delays_say_nothing() {
        assert_eq!(classify(&[]), None);
        assert_eq!(classify(&[1.0]), None);
    }
}
