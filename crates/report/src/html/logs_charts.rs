//! Pictures of what the access and error logs say: how long connections
//! lived (a tall bar at a product's default timeout names the timer), when
//! they closed (a spike under a reload marker is a mass disconnect), and
//! the day's shape by hour.

use wsdoctor_evidence::logs::{Bucket, LogEventKind, LogEvidence, LIFETIME_BUCKET_MS};

use super::charts::Chart;
use super::svg::{color, Canvas};

/// Most bars a histogram is drawn with; the evidence's fine buckets are
/// merged down to this.
const MAX_BARS: usize = 80;

/// The charts for a `logs` report; `known` are the kb's default timeouts
/// (seconds, product), marked on the lifetime histogram.
pub fn logs_charts(evidence: &LogEvidence, known: &[(f64, String)]) -> Vec<Chart> {
    let mut charts = Vec::new();
    if let Some(chart) = lifetimes(evidence, known) {
        charts.push(chart);
    }
    if let Some(chart) = closes_over_time(evidence) {
        charts.push(chart);
    }
    if evidence.hours.len() > 1 {
        charts.push(by_hour(evidence));
    }
    charts
}

/// Merges `(start, count)` points into at most [`MAX_BARS`] bins of equal
/// width over `lo..hi`; returns the bin width and the bins.
fn rebin(points: impl Iterator<Item = (f64, u64)>, lo: f64, hi: f64) -> (f64, Vec<u64>) {
    let width = ((hi - lo) / MAX_BARS as f64).max(f64::MIN_POSITIVE);
    let mut bins = vec![0_u64; MAX_BARS];
    for (at, count) in points {
        let i = (((at - lo) / width).floor().max(0.0) as usize).min(MAX_BARS - 1);
        bins[i] += count;
    }
    (width, bins)
}

fn lifetimes(evidence: &LogEvidence, known: &[(f64, String)]) -> Option<Chart> {
    let total: u64 = evidence.lifetimes.iter().map(|b| b.count).sum();
    let last = evidence.lifetimes.last()?;
    let hi_s = (last.at as f64 + LIFETIME_BUCKET_MS as f64) / 1000.0;
    // Leave room for a known timeout just past the longest connection, so
    // "everything ends just before 60 s" shows next to the 60 s line.
    let x_hi = known
        .iter()
        .map(|(x, _)| *x)
        .filter(|x| *x <= hi_s * 1.25)
        .fold(hi_s, f64::max)
        * 1.05;
    let (width, bins) = rebin(
        evidence
            .lifetimes
            .iter()
            .map(|b| (b.at as f64 / 1000.0, b.count)),
        0.0,
        x_hi,
    );
    let y_hi = bins.iter().copied().max().unwrap_or(1).max(1) as f64;
    let mut c = Canvas::new(230.0, (0.0, x_hi), (0.0, y_hi));
    c.x_axis(0.0, x_hi, "connection lifetime, seconds");
    c.y_axis(0.0, y_hi, "connections");
    for (x, label) in known.iter().filter(|(x, _)| *x <= x_hi) {
        c.marker(*x, label);
    }
    for (i, n) in bins.iter().enumerate().filter(|(_, n)| **n > 0) {
        let start = i as f64 * width;
        c.rect(
            (start, start + width),
            (0.0, *n as f64),
            color::ACCENT,
            &format!("{n} lived {start:.1}–{:.1} s", start + width),
        );
    }
    Some(Chart {
        title: "How long connections lived".to_owned(),
        caption: format!(
            "{} connections whose log line gives a duration. A tall narrow bar is a timer ending them; dashed lines are the default timeouts of known products.",
            wsdoctor_evidence::format_count(total)
        ),
        svg: c.finish("Connection lifetimes"),
    })
}

fn closes_over_time(evidence: &LogEvidence) -> Option<Chart> {
    let (first, last) = (evidence.closes.first()?, evidence.closes.last()?);
    let origin = evidence.first_ms.unwrap_or(first.at).min(first.at);
    let end = evidence.last_ms.unwrap_or(last.at).max(last.at);
    // Log times are the file's: a hostile or broken one (year 1, year
    // 300,000) must not overflow, so differences are taken in f64.
    let since = |ms: i64| (ms as f64 - origin as f64) / 1000.0;
    let span_s = since(end).max(1.0);
    // Minutes read better than thousands of seconds.
    let (unit_s, unit) = if span_s > 600.0 {
        (60.0, "minutes")
    } else {
        (1.0, "seconds")
    };
    let x_hi = span_s / unit_s;
    let at = |b: &Bucket| since(b.at) / unit_s;
    let (width, closes) = rebin(evidence.closes.iter().map(|b| (at(b), b.count)), 0.0, x_hi);
    let (_, opens) = rebin(evidence.opens.iter().map(|b| (at(b), b.count)), 0.0, x_hi);
    let y_hi = closes
        .iter()
        .chain(opens.iter())
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let mut c = Canvas::new(240.0, (0.0, x_hi), (0.0, y_hi));
    let origin_utc = wsdoctor_evidence::logs::format_utc(origin);
    c.x_axis(0.0, x_hi, &format!("{unit} since {origin_utc}"));
    c.y_axis(0.0, y_hi, "per bar");
    let mut legend = vec![(color::BAD, "closed"), (color::ACCENT, "opened")];
    if evidence
        .events
        .iter()
        .any(|e| e.kind == LogEventKind::Reload)
    {
        legend.push((color::NEUTRAL, "reload"));
    }
    c.legend(&legend);
    let mut reloads = 0;
    for event in &evidence.events {
        if event.kind == LogEventKind::Reload {
            reloads += 1;
            // Ten labelled reloads already crowd the chart; the rest are lines.
            let label = if reloads <= 10 { "reload" } else { "" };
            c.marker(since(event.at_ms) / unit_s, label);
        }
    }
    for (i, n) in closes.iter().enumerate().filter(|(_, n)| **n > 0) {
        let start = i as f64 * width;
        c.rect(
            (start, start + width),
            (0.0, *n as f64),
            color::BAD,
            &format!("{n} closed in {start:.1}–{:.1} {unit}", start + width),
        );
    }
    let points: Vec<(f64, f64)> = opens
        .iter()
        .enumerate()
        .map(|(i, n)| ((i as f64 + 0.5) * width, *n as f64))
        .collect();
    c.line(&points, color::ACCENT);
    Some(Chart {
        title: "When connections closed".to_owned(),
        caption: format!(
            "Red bars count closes, the blue line opens, in {:.1}-{} bars (times in UTC). A spike of closes under a reload line is a mass disconnect; opens that jump right after it are the clients reconnecting.",
            width,
            unit.trim_end_matches('s')
        ),
        svg: c.finish("Closes over time"),
    })
}

fn by_hour(evidence: &LogEvidence) -> Chart {
    let hours = &evidence.hours;
    let n = hours.len() as f64;
    let y_hi = hours
        .iter()
        .map(|h| h.connections)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let mut c = Canvas::new(220.0, (-0.5, n - 0.5), (0.0, y_hi));
    c.y_axis(0.0, y_hi, "per hour");
    c.legend(&[
        (color::GOOD, "connections"),
        (color::BAD, "failed upgrades"),
    ]);
    let label_every = (hours.len() / 12).max(1);
    for (i, h) in hours.iter().enumerate() {
        let x = i as f64;
        let ok = h.connections.saturating_sub(h.failed);
        let hour = wsdoctor_evidence::logs::format_utc(h.hour);
        c.rect(
            (x - 0.35, x + 0.35),
            (0.0, ok as f64),
            color::GOOD,
            &format!("{hour}: {} connections", h.connections),
        );
        if h.failed > 0 {
            c.rect(
                (x - 0.35, x + 0.35),
                (ok as f64, h.connections as f64),
                color::BAD,
                &format!("{hour}: {} failed upgrades", h.failed),
            );
        }
        if i % label_every == 0 {
            let px = c.x.at(x);
            let bottom = c.plot_bottom();
            // "2026-01-15T14:00:00Z" → "15T14"; the caption names the first day.
            let short = hour.get(8..13).unwrap_or(&hour).to_owned();
            c.label(px - 14.0, bottom + 16.0, &short);
        }
    }
    let first = hours
        .first()
        .map(|h| wsdoctor_evidence::logs::format_utc(h.hour))
        .unwrap_or_default();
    Chart {
        title: "Connections by hour".to_owned(),
        caption: format!(
            "Connections per hour (UTC, labelled day-T-hour, from {first}), the failed upgrades stacked in red. A failure rate that rises with the traffic points at a limit."
        ),
        svg: c.finish("Connections by hour"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use wsdoctor_evidence::logs::{HourCount, LogEvent};

    fn evidence() -> LogEvidence {
        LogEvidence {
            lifetimes: vec![
                Bucket {
                    at: 1_000,
                    count: 3,
                },
                Bucket {
                    at: 59_990,
                    count: 40,
                },
            ],
            closes: vec![
                Bucket {
                    at: 1_700_000_000_000,
                    count: 2,
                },
                Bucket {
                    at: 1_700_000_300_000,
                    count: 50,
                },
            ],
            opens: vec![Bucket {
                at: 1_700_000_000_000,
                count: 52,
            }],
            first_ms: Some(1_700_000_000_000),
            last_ms: Some(1_700_000_310_000),
            hours: vec![
                HourCount {
                    hour: 1_699_999_200_000,
                    connections: 10,
                    failed: 1,
                },
                HourCount {
                    hour: 1_700_002_800_000,
                    connections: 42,
                    failed: 0,
                },
            ],
            events: vec![LogEvent {
                at_ms: 1_700_000_299_900,
                kind: LogEventKind::Reload,
                file: "error.log".into(),
                line: 3,
                text: "signal process started".into(),
            }],
            ..LogEvidence::default()
        }
    }

    #[test]
    fn a_log_run_gets_lifetimes_closes_and_hours() {
        let charts = logs_charts(&evidence(), &[(60.0, "aws-alb 60 s".into())]);
        let titles: Vec<&str> = charts.iter().map(|c| c.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "How long connections lived",
                "When connections closed",
                "Connections by hour"
            ]
        );
        assert!(charts[0].svg.contains("aws-alb 60 s"), "kb timeout marked");
        assert!(
            charts[0].caption.starts_with("43 connections"),
            "{}",
            charts[0].caption
        );
        assert!(charts[1].svg.contains(">reload<"), "reload marked");
        assert!(charts[1].svg.contains("50 closed in"), "the spike is a bar");
    }

    #[test]
    fn logs_without_durations_or_closes_draw_nothing_empty() {
        let charts = logs_charts(&LogEvidence::default(), &[]);
        assert!(charts.is_empty());
    }

    #[test]
    fn absurd_log_times_do_not_overflow() {
        let mut e = evidence();
        e.closes = vec![
            Bucket {
                at: i64::MIN,
                count: 1,
            },
            Bucket {
                at: i64::MAX,
                count: 1,
            },
        ];
        e.first_ms = Some(i64::MIN);
        e.last_ms = Some(i64::MAX);
        let charts = logs_charts(&e, &[]);
        assert!(charts.iter().any(|c| c.title == "When connections closed"));
    }

    #[test]
    fn rebinning_keeps_every_count() {
        let (_, bins) = rebin((0..10_000).map(|i| (f64::from(i), 1)), 0.0, 10_000.0);
        assert_eq!(bins.len(), MAX_BARS);
        assert_eq!(bins.iter().sum::<u64>(), 10_000);
        // Points past the range land in the last bin, not out of bounds.
        let (_, bins) = rebin([(1e12, 5), (-3.0, 1)].into_iter(), 0.0, 1.0);
        assert_eq!((bins[0], bins[MAX_BARS - 1]), (1, 5));
    }
}
