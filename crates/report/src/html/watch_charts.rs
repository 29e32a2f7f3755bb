//! Pictures of a canary run: every drop as a dot (when it happened, how old
//! the connection was), so a fixed idle timer is a horizontal row, a mass
//! disconnect a vertical column, and random drops a cloud.

use wsdoctor_evidence::watch::{DropKind, WatchDrop, WatchEvidence};

use super::charts::{drop_histogram, Chart};
use super::svg::{color, Canvas};

/// The charts for a `watch` report; `known` are the kb's default idle
/// timeouts (seconds, product).
pub fn watch_charts(evidence: &WatchEvidence, known: &[(f64, String)]) -> Vec<Chart> {
    let mut charts = Vec::new();
    if !evidence.drops.is_empty() || !evidence.stalls.is_empty() {
        charts.push(drops_over_time(evidence));
    }
    let idle: Vec<f64> = evidence
        .drops
        .iter()
        .filter(|d| d.opened)
        .filter_map(|d| d.idle_us)
        .map(|us| us as f64 / 1e6)
        .collect();
    if !idle.is_empty() {
        charts.push(drop_histogram(&idle, known));
    }
    charts
}

/// Colour and legend word for how a watched connection ended.
fn drop_style(drop: &WatchDrop) -> (&'static str, &'static str) {
    let kind = drop.kind();
    let fill = match kind {
        DropKind::ReconnectFailed => color::NEUTRAL,
        DropKind::CloseFrame => color::WARN,
        DropKind::NoCloseFrame => color::BAD,
    };
    (fill, kind.as_str())
}

fn drops_over_time(evidence: &WatchEvidence) -> Chart {
    // The evidence keeps the drops of the rolling window only: the axis
    // covers that window, not the whole run.
    let ran_s = (evidence.ran_ms as f64 / 1000.0).max(1.0);
    let window_ms = match evidence.window_ms {
        0 => evidence.ran_ms,
        w => w.min(evidence.ran_ms),
    };
    let from_s = (evidence.ran_ms - window_ms) as f64 / 1000.0;
    let (unit_s, unit) = if ran_s - from_s > 600.0 {
        (60.0, "minutes")
    } else {
        (1.0, "seconds")
    };
    let (x_lo, x_hi) = (from_s / unit_s, ran_s / unit_s);
    let age_s = |d: &WatchDrop| d.age_us.map_or(0.0, |us| us as f64 / 1e6);
    let y_hi = evidence
        .drops
        .iter()
        .map(age_s)
        .fold(0.0_f64, f64::max)
        .max(1.0)
        * 1.1;
    let mut c = Canvas::new(260.0, (x_lo, x_hi), (0.0, y_hi));
    c.x_axis(x_lo, x_hi, &format!("{unit} since the watch started"));
    c.y_axis(0.0, y_hi, "age at drop, s");
    c.legend(&[
        (color::BAD, "no close frame"),
        (color::WARN, "close frame"),
        (color::NEUTRAL, "reconnect failed"),
        (color::ACCENT, "stalled"),
    ]);
    for drop in &evidence.drops {
        let (fill, how) = drop_style(drop);
        let x = drop.at_ms as f64 / 1000.0 / unit_s;
        c.dot(
            (x, age_s(drop)),
            fill,
            &format!(
                "{} {} #{}: {how} after {:.3} s — {}",
                drop.wall,
                drop.arm.as_str(),
                drop.slot,
                age_s(drop),
                drop.end.describe()
            ),
        );
    }
    for stall in &evidence.stalls {
        let x = stall.at_ms as f64 / 1000.0 / unit_s;
        let top = c.y.at(y_hi);
        c.tick(x, top, 8.0, color::ACCENT);
    }
    let opened = evidence.drops.iter().filter(|d| d.opened).count();
    Chart {
        title: "Drops over time".to_owned(),
        caption: format!(
            "Each dot is one of {opened} drops in the last {} (and {} failed reconnects at the bottom), placed by when it happened and how long the connection had been open. A horizontal row is a fixed timer; a vertical column is a mass disconnect; blue ticks at the top are stalled message flows ({}).",
            wsdoctor_evidence::format_duration(std::time::Duration::from_millis(window_ms)),
            evidence.drops.len() - opened,
            evidence.stalls.len()
        ),
        svg: c.finish("Drops over time"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use wsdoctor_evidence::idle::Arm;
    use wsdoctor_evidence::{ConnectionEnd, Side};

    fn drop(at_ms: u64, age_s: f64, end: ConnectionEnd) -> WatchDrop {
        WatchDrop {
            at_ms,
            wall: "2026-11-26T10:00:00Z".into(),
            target: "ws://127.0.0.1:1/ws".into(),
            arm: Arm::Silent,
            slot: 1,
            end,
            opened: true,
            age_us: Some((age_s * 1e6) as u64),
            idle_us: Some((age_s * 1e6) as u64),
            server: None,
            instance: None,
        }
    }

    #[test]
    fn drops_are_dots_coloured_by_how_they_ended() {
        let evidence = WatchEvidence {
            ran_ms: 120_000,
            drops: vec![
                drop(60_000, 60.0, ConnectionEnd::Reset),
                drop(
                    90_000,
                    30.0,
                    ConnectionEnd::CloseHandshake {
                        code: Some(1001),
                        reason: "<b>going</b>".into(),
                        initiator: Side::Remote,
                        answered: true,
                    },
                ),
            ],
            ..WatchEvidence::default()
        };
        let charts = watch_charts(&evidence, &[(60.0, "aws-alb".into())]);
        assert_eq!(charts.len(), 2, "dots and the idle histogram");
        assert!(
            charts[0].caption.contains("in the last 120.0 s"),
            "{}",
            charts[0].caption
        );
        // With a one-minute window the axis starts at the window.
        let windowed = WatchEvidence {
            window_ms: 60_000,
            ..evidence
        };
        let svg = &watch_charts(&windowed, &[])[0].svg;
        assert!(
            svg.contains(">70</text>"),
            "the axis covers 60–120 s: {svg}"
        );
        let svg = &charts[0].svg;
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains(color::BAD) && svg.contains(color::WARN));
        assert!(!svg.contains("<b>"), "peer reasons are escaped");
        assert!(charts[1].svg.contains("aws-alb"));
    }

    #[test]
    fn a_quiet_watch_has_no_charts() {
        assert!(watch_charts(&WatchEvidence::default(), &[]).is_empty());
    }
}
