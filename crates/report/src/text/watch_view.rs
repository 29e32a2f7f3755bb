//! Text for the end of `wsdoctor watch`: when the drops happened, as one
//! line of Unicode blocks per way of ending (a fixed timer is a steady
//! comb, a reload a single tall column), above the findings.

use wsdoctor_evidence::format_count;
use wsdoctor_evidence::watch::{DropKind, WatchDrop, WatchEvidence};

use super::style::{Style, Tone};

const BLOCKS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
/// Columns of the strip; the bucket width follows from the run's length.
const COLUMNS: usize = 60;

/// The strip's rows, in order.
const KINDS: [DropKind; 3] = [
    DropKind::NoCloseFrame,
    DropKind::CloseFrame,
    DropKind::ReconnectFailed,
];

fn row(d: &WatchDrop) -> usize {
    KINDS.iter().position(|k| *k == d.kind()).unwrap_or(0)
}

fn human_span(ms: u64) -> String {
    match ms {
        m if m >= 3_600_000 && m % 3_600_000 == 0 => format!("{} h", m / 3_600_000),
        m if m >= 60_000 => format!("{:.0} min", m as f64 / 60_000.0),
        m if m >= 1_000 => format!("{:.0} s", m as f64 / 1_000.0),
        m => format!("{m} ms"),
    }
}

/// The drops strip, or nothing when there was no drop.
pub fn render_watch_drops(e: &WatchEvidence, style: Style) -> String {
    if e.drops.is_empty() {
        return String::new();
    }
    let bucket_ms = e.ran_ms.div_ceil(COLUMNS as u64).max(1);
    let mut counts = [[0_u64; COLUMNS]; 3];
    for d in &e.drops {
        let col = usize::try_from(d.at_ms / bucket_ms)
            .unwrap_or(COLUMNS - 1)
            .min(COLUMNS - 1);
        counts[row(d)][col] += 1;
    }
    let max = counts.iter().flatten().copied().max().unwrap_or(1).max(1);
    let mut out = format!(
        "Drops over the watch (one column per {}, tallest {}; {} drops in all)\n",
        human_span(bucket_ms),
        format_count(max),
        format_count(e.drops.len() as u64)
    );
    for (i, row) in counts.iter().enumerate() {
        let total: u64 = row.iter().sum();
        if total == 0 {
            continue;
        }
        let strip: String = row
            .iter()
            .map(|n| {
                if *n == 0 {
                    return '·';
                }
                // At least the lowest block, so a single drop shows.
                let level = ((*n as f64 / max as f64) * 8.0).ceil() as usize;
                BLOCKS[level.clamp(1, 8)]
            })
            .collect();
        let tone = if KINDS[i] == DropKind::CloseFrame {
            Tone::Warning
        } else {
            Tone::Error
        };
        out.push_str(&format!(
            "  {:<17}{}  {}\n",
            KINDS[i].as_str(),
            style.paint(tone, &strip),
            format_count(total)
        ));
    }
    out.push('\n');
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use wsdoctor_evidence::idle::Arm;
    use wsdoctor_evidence::ConnectionEnd;

    fn drop(at_ms: u64, end: ConnectionEnd, opened: bool) -> WatchDrop {
        WatchDrop {
            at_ms,
            wall: String::new(),
            target: String::new(),
            arm: Arm::Silent,
            slot: 1,
            end,
            opened,
            age_us: None,
            idle_us: None,
            server: None,
            instance: None,
        }
    }

    #[test]
    fn one_strip_per_way_of_ending() {
        let e = WatchEvidence {
            ran_ms: 60_000,
            drops: vec![
                drop(500, ConnectionEnd::Reset, true),
                drop(30_500, ConnectionEnd::Reset, true),
                drop(30_700, ConnectionEnd::Reset, true),
                drop(
                    59_999,
                    ConnectionEnd::ConnectRefused { addr: "x".into() },
                    false,
                ),
            ],
            ..WatchEvidence::default()
        };
        let text = render_watch_drops(&e, Style::PLAIN);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(lines[3], "", "a blank line before what follows");
        assert!(
            lines[0].contains("one column per 1 s") && lines[0].contains("tallest 2"),
            "{text}"
        );
        assert!(
            lines[1].starts_with("  no close frame") && lines[1].contains('█'),
            "{text}"
        );
        assert!(lines[1].ends_with("  3"), "{text}");
        assert!(lines[2].starts_with("  reconnect failed"), "{text}");
        assert!(
            !text.contains("close frame    "),
            "empty classes are left out: {text}"
        );
    }

    #[test]
    fn nothing_dropped_prints_nothing() {
        assert_eq!(
            render_watch_drops(&WatchEvidence::default(), Style::PLAIN),
            ""
        );
    }
}
