//! The pictures that fit each command: connection timelines, the drop-time
//! histogram with the knowledge base's timeouts marked, the load ramp.

use wsdoctor_evidence::idle::IdleEvidence;
use wsdoctor_evidence::load::LoadEvidence;
use wsdoctor_evidence::{ConnectionEnd, ConnectionRecord, FrameKind, ProbeEvidence, Side};

use super::svg::{color, Canvas};

/// One chart with its heading and a caption saying how to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart {
    /// Heading.
    pub title: String,
    /// One sentence on how to read it.
    pub caption: String,
    /// The inline `<svg>`.
    pub svg: String,
}

const ROW: f64 = 22.0;

/// Colour and words for how a connection ended.
fn end_style(record: &ConnectionRecord) -> (&'static str, String) {
    match record.end.as_ref().map(|e| &e.end) {
        None => (color::NEUTRAL, "still open".to_owned()),
        Some(ConnectionEnd::CloseHandshake {
            initiator: Side::Local,
            ..
        }) => (color::GOOD, "closed by us".to_owned()),
        Some(e @ ConnectionEnd::CloseHandshake { .. }) => (color::WARN, e.describe()),
        Some(e) if e.before_open() => (color::NEUTRAL, e.describe()),
        Some(e) => (color::BAD, e.describe()),
    }
}

/// Bars from open to close, one row per connection, coloured by how each
/// ended; ticks above for the server's pings and messages, below for ours.
/// `markers` are dashed vertical lines (seconds, label).
pub fn timeline(rows: &[(String, &ConnectionRecord)], markers: &[(f64, String)]) -> Chart {
    let opened_at = |r: &ConnectionRecord| r.phases.response_head_us.unwrap_or(0) as f64 / 1e6;
    let ended_at = |r: &ConnectionRecord| {
        r.end
            .as_ref()
            .map_or(opened_at(r), |e| e.at_us as f64 / 1e6)
    };
    let span = rows
        .iter()
        .map(|(_, r)| ended_at(r))
        .fold(0.0_f64, f64::max)
        .max(0.1);
    let x_hi = markers
        .iter()
        .map(|(x, _)| *x)
        .filter(|x| *x <= span * 1.25)
        .fold(span, f64::max)
        * 1.02;
    let height = 40.0 + ROW * rows.len().max(1) as f64 + 36.0;
    let mut c = Canvas::new(height, (0.0, x_hi), (0.0, 1.0));
    c.x_axis(0.0, x_hi, "seconds since the attempt started");
    for (x, label) in markers.iter().filter(|(x, _)| *x <= x_hi) {
        c.marker(*x, label);
    }
    for (i, (label, r)) in rows.iter().enumerate() {
        let y = 30.0 + ROW * i as f64;
        let (fill, how) = end_style(r);
        let (a, b) = (opened_at(r), ended_at(r));
        c.row_bar(
            (a, b),
            y + 6.0,
            8.0,
            fill,
            &format!("{label}: open {a:.3}–{b:.3} s, {how}"),
        );
        c.label(4.0, y + 14.0, label);
        for e in &r.events {
            let t = e.at_us as f64 / 1e6;
            let (dy, stroke) = match (&e.kind, e.from) {
                (FrameKind::Ping { .. }, Side::Remote) => (0.0, color::ACCENT),
                (FrameKind::Text { .. } | FrameKind::Binary { .. }, Side::Remote) => {
                    (0.0, color::NEUTRAL)
                }
                (FrameKind::Ping { .. }, Side::Local) => (14.0, color::ACCENT),
                (FrameKind::Text { .. } | FrameKind::Binary { .. }, Side::Local) => {
                    (14.0, color::NEUTRAL)
                }
                _ => continue,
            };
            c.tick(t, y + dy, 6.0, stroke);
        }
    }
    Chart {
        title: "Connections over time".to_owned(),
        caption: "Each bar is one connection from its 101 to its end: green closed by us, red dropped without a close frame, orange closed by the server with a code. Ticks above a bar are the server's pings (blue) and messages (grey); ticks below are ours.".to_owned(),
        svg: c.finish("Connections over time"),
    }
}

/// The probe's timeline.
pub fn probe_charts(evidence: &[&ProbeEvidence]) -> Vec<Chart> {
    let rows: Vec<(String, &ConnectionRecord)> = evidence
        .iter()
        .map(|e| (short(&e.connection.target), &e.connection))
        .collect();
    vec![timeline(&rows, &[])]
}

fn short(target: &str) -> String {
    let t = target.split_once("://").map_or(target, |(_, r)| r);
    if t.chars().count() > 24 {
        format!("{}…", t.chars().take(23).collect::<String>())
    } else {
        t.to_owned()
    }
}

/// The idle experiment: the timeline of every arm, with the known default
/// timeouts (seconds, product) marked.
pub fn idle_charts(evidence: &IdleEvidence, known_timeouts: &[(f64, String)]) -> Vec<Chart> {
    let rows: Vec<(String, &ConnectionRecord)> = evidence
        .samples
        .iter()
        .map(|s| (format!("{} #{}", s.arm.as_str(), s.sample), &s.connection))
        .collect();
    let mut chart = timeline(&rows, known_timeouts);
    chart
        .caption
        .push_str(" Dashed lines are the default idle timeouts of known products.");
    if let Some(p) = &evidence.pairing {
        // The caption is escaped by the page; the instance name is the peer's.
        chart.caption.push_str(&format!(
            " The server ({}) answered for {} of {} connections; which side closed each dropped one is under Findings.",
            wsdoctor_evidence::escape_peer(&p.instance),
            p.answered,
            p.asked
        ));
    }
    let mut charts = vec![chart];
    let drops: Vec<f64> = evidence
        .samples
        .iter()
        .filter(|s| s.dropped())
        .filter_map(|s| s.idle_us())
        .map(|us| us as f64 / 1e6)
        .collect();
    if !drops.is_empty() {
        charts.push(drop_histogram(&drops, known_timeouts));
    }
    charts
}

/// How long connections had been silent when they were dropped.
pub fn drop_histogram(drops: &[f64], known: &[(f64, String)]) -> Chart {
    let hi = drops.iter().copied().fold(0.0_f64, f64::max);
    let lo = drops.iter().copied().fold(f64::MAX, f64::min);
    let x_hi = known
        .iter()
        .map(|(x, _)| *x)
        .filter(|x| *x <= hi * 1.25)
        .fold(hi, f64::max)
        * 1.1;
    let width = (x_hi / 40.0).max(0.05);
    let mut bins: Vec<(f64, usize)> = Vec::new();
    for d in drops {
        let start = (d / width).floor() * width;
        match bins.iter_mut().find(|(s, _)| (*s - start).abs() < 1e-9) {
            Some((_, n)) => *n += 1,
            None => bins.push((start, 1)),
        }
    }
    bins.sort_by(|a, b| a.0.total_cmp(&b.0));
    let y_hi = bins.iter().map(|(_, n)| *n).max().unwrap_or(1) as f64;
    let mut c = Canvas::new(220.0, (0.0, x_hi), (0.0, y_hi));
    c.x_axis(0.0, x_hi, "seconds of silence before the drop");
    c.y_axis(0.0, y_hi, "connections");
    for (x, label) in known.iter().filter(|(x, _)| *x <= x_hi) {
        c.marker(*x, label);
    }
    for (start, n) in &bins {
        c.rect(
            (*start, start + width),
            (0.0, *n as f64),
            color::BAD,
            &format!("{n} dropped after {start:.2}–{:.2} s", start + width),
        );
    }
    Chart {
        title: "When silent connections were dropped".to_owned(),
        caption: format!(
            "{} drops between {lo:.3} s and {hi:.3} s of silence. A single narrow bar is a fixed timer; a spread is random drops.",
            drops.len()
        ),
        svg: c.finish("Drop-time histogram"),
    }
}

/// The load ramp: connections open after each step with the step's
/// failures and drops stacked on top, then the handshake (and echo)
/// latency percentiles per step on a millisecond axis.
pub fn load_charts(evidence: &LoadEvidence) -> Vec<Chart> {
    let steps = &evidence.steps;
    if steps.is_empty() {
        return Vec::new();
    }
    let n = steps.len() as f64;
    let failed = wsdoctor_evidence::load::LoadStep::failed;
    let dropped = wsdoctor_evidence::load::LoadStep::dropped;
    let y_hi = steps
        .iter()
        .map(|s| (s.open_at_end + failed(s) + dropped(s)).max(s.target))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let mut c = Canvas::new(260.0, (0.5, n + 0.5), (0.0, y_hi));
    c.y_axis(0.0, y_hi, "connections");
    c.legend(&[
        (color::GOOD, "open"),
        (color::BAD, "failed to open"),
        (color::WARN, "dropped"),
    ]);
    for s in steps {
        let x = f64::from(s.index);
        let open = s.open_at_end as f64;
        c.rect(
            (x - 0.3, x + 0.3),
            (0.0, open),
            color::GOOD,
            &format!(
                "step {} (aiming at {}): {} open at the end",
                s.index, s.target, s.open_at_end
            ),
        );
        let mut top = open;
        for (n, fill, what) in [
            (failed(s), color::BAD, "failed to open"),
            (dropped(s), color::WARN, "dropped during the hold"),
        ] {
            if n > 0 {
                c.rect(
                    (x - 0.3, x + 0.3),
                    (top, top + n as f64),
                    fill,
                    &format!("step {}: {n} {what}", s.index),
                );
                top += n as f64;
            }
        }
        // The step's aim, so a bar that falls short is visible as such.
        let aim = c.y.at(s.target as f64);
        let (a, b) = (c.x.at(x - 0.38), c.x.at(x + 0.38));
        c.hline(a, b, aim);
        let bottom = c.plot_bottom();
        let px = c.x.at(x);
        c.label(px - 22.0, bottom + 16.0, &format!("{} conns", s.target));
    }
    let mut caption = "One bar per step: connections open when the step's hold ended (green), with the attempts of the step that failed (red) and connections dropped during its hold (orange) on top; the dark tick is what the step aimed for.".to_owned();
    if !evidence.shards.is_empty() {
        caption.push_str(&format!(
            " Merged from {} shards; percentiles come from their histograms added up.",
            evidence.shards.len()
        ));
    } else if let Some(shard) = evidence.shard {
        caption.push_str(&format!(
            " Shard {}/{} of the ramp only.",
            shard.index, shard.count
        ));
    }
    for note in &evidence.generator.notes {
        caption.push_str(&format!(" Note: {note}."));
    }
    let mut charts = vec![Chart {
        title: "Load ramp".to_owned(),
        caption,
        svg: c.finish("Load ramp"),
    }];
    if let Some(chart) = latency_by_step(evidence) {
        charts.push(chart);
    }
    charts
}

fn latency_by_step(evidence: &LoadEvidence) -> Option<Chart> {
    let steps = &evidence.steps;
    let measured: Vec<_> = steps.iter().filter(|s| s.handshake.count > 0).collect();
    if measured.is_empty() {
        return None;
    }
    let echo = steps.iter().any(|s| s.echo_rtt.count > 0);
    let ms = |us: u64| us as f64 / 1000.0;
    let y_hi = steps
        .iter()
        .map(|s| s.handshake.max_us.max(s.echo_rtt.p99_us))
        .max()
        .unwrap_or(1)
        .max(1);
    let y_hi = ms(y_hi) * 1.1;
    let n = steps.len() as f64;
    let mut c = Canvas::new(240.0, (0.5, n + 0.5), (0.0, y_hi));
    c.y_axis(0.0, y_hi, "ms");
    let mut legend = vec![
        (color::GOOD, "handshake p50"),
        (color::ACCENT, "p99"),
        (color::NEUTRAL, "max"),
    ];
    if echo {
        legend.push((color::WARN, "echo RTT p99"));
    }
    c.legend(&legend);
    for (pick, stroke) in [
        (
            (|s: &wsdoctor_evidence::load::LoadStep| s.handshake.p50_us) as fn(&_) -> u64,
            color::GOOD,
        ),
        (|s| s.handshake.p99_us, color::ACCENT),
        (|s| s.handshake.max_us, color::NEUTRAL),
    ] {
        let points: Vec<(f64, f64)> = measured
            .iter()
            .map(|s| (f64::from(s.index), ms(pick(s))))
            .collect();
        c.line(&points, stroke);
        for (s, p) in measured.iter().zip(&points) {
            c.dot(
                *p,
                stroke,
                &format!("step {} ({} conns): {:.2} ms", s.index, s.target, p.1),
            );
        }
    }
    if echo {
        let points: Vec<(f64, f64)> = steps
            .iter()
            .filter(|s| s.echo_rtt.count > 0)
            .map(|s| (f64::from(s.index), ms(s.echo_rtt.p99_us)))
            .collect();
        c.line(&points, color::WARN);
    }
    let bottom = c.plot_bottom();
    for s in steps {
        let px = c.x.at(f64::from(s.index));
        c.label(px - 22.0, bottom + 16.0, &format!("{} conns", s.target));
    }
    Some(Chart {
        title: "Latency by step".to_owned(),
        caption: "Handshake latency (TCP connect to the 101) of each step's new connections: median, 99th percentile and slowest; a p99 that climbs with the step is the server or a proxy queueing.".to_owned(),
        svg: c.finish("Latency by step"),
    })
}
