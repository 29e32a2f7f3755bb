//! Pictures of how clients come back: each client's delay after every drop
//! (flat lines are no backoff, lines rising together are backoff without
//! jitter), and the storm simulation's attempts per second.

use wsdoctor_diagnosis::rules::reconnect::fixes;
use wsdoctor_diagnosis::rules::reconnect::storm::{StormScenario, StormSeries};
use wsdoctor_evidence::reconnect::ReconnectEvidence;

use super::charts::Chart;
use super::svg::{color, Canvas};

/// The full-jitter envelope's fill, light enough to sit behind the lines.
const ENVELOPE: &str = "#e3f2fd";

/// Clients drawn; more make a tangle nobody reads.
const MAX_CLIENTS: usize = 12;

const PALETTE: [&str; 6] = [
    color::ACCENT,
    color::WARN,
    color::GOOD,
    color::BAD,
    "#6a1b9a",
    color::NEUTRAL,
];

/// The `reconnect` report's chart.
pub fn reconnect_charts(evidence: &ReconnectEvidence) -> Vec<Chart> {
    let clients: Vec<_> = evidence
        .clients
        .iter()
        .filter(|c| !c.gaps.is_empty())
        .take(MAX_CLIENTS)
        .collect();
    if clients.is_empty() {
        return Vec::new();
    }
    let attempts = clients.iter().map(|c| c.gaps.len()).max().unwrap_or(1);
    let y_hi = clients
        .iter()
        .flat_map(|c| c.gaps.iter())
        .map(|g| g.delay_ms as f64 / 1000.0)
        .fold(0.0_f64, f64::max)
        .max(0.1)
        * 1.1;
    let x_hi = attempts as f64 + 0.5;
    let mut c = Canvas::new(260.0, (0.5, x_hi), (0.0, y_hi));
    c.x_axis(0.5, x_hi, "drop number");
    c.y_axis(0.0, y_hi, "seconds until the client came back");
    // The envelope full jitter draws from: uniform in 0..min(cap, base × 2^n).
    // (A client's attempt count restarts after a connection that stayed up,
    // so this is the widest it could be.)
    for n in 1..=attempts {
        let exp = i32::try_from(n - 1).unwrap_or(i32::MAX).min(30);
        let top = (fixes::BASE_S * 2f64.powi(exp)).min(fixes::CAP_S).min(y_hi);
        c.rect(
            (n as f64 - 0.45, n as f64 + 0.45),
            (0.0, top),
            ENVELOPE,
            &format!("full jitter would wait 0–{top:.0} s before attempt {n}"),
        );
    }
    for (i, client) in clients.iter().enumerate() {
        let stroke = PALETTE[i % PALETTE.len()];
        let points: Vec<(f64, f64)> = client
            .gaps
            .iter()
            .enumerate()
            .map(|(n, g)| ((n + 1) as f64, g.delay_ms as f64 / 1000.0))
            .collect();
        c.line(&points, stroke);
        let name = wsdoctor_evidence::escape_peer(&client.client);
        for (n, g) in client.gaps.iter().enumerate() {
            c.dot(
                ((n + 1) as f64, g.delay_ms as f64 / 1000.0),
                stroke,
                &format!(
                    "{name}: back {:.3} s after drop {} ({})",
                    g.delay_ms as f64 / 1000.0,
                    n + 1,
                    g.after.label()
                ),
            );
        }
    }
    let shown = clients.len();
    let more = evidence.clients.len() + evidence.clients_omitted as usize - shown;
    let mut caption = format!("One line per client: how long it stayed away after each drop. The pale bars are where full-jitter backoff (base {:.0} s, ×2, cap {:.0} s) would put each attempt. Flat near zero is no backoff (a storm waiting to happen); lines that rise together are exponential backoff without jitter (every client returns at the same moment); points scattered over the pale bars are full jitter.", fixes::BASE_S, fixes::CAP_S);
    if more > 0 {
        caption.push_str(&format!(" {more} more clients are not drawn."));
    }
    vec![Chart {
        title: "Reconnect delays".to_owned(),
        caption,
        svg: c.finish("Reconnect delays"),
    }]
}

/// The `storm` report's chart: attempts per second for each simulated policy.
pub fn storm_charts(scenario: &StormScenario, runs: &[&StormSeries]) -> Vec<Chart> {
    let seconds = runs.iter().map(|r| r.per_second.len()).max().unwrap_or(0);
    if seconds == 0 {
        return Vec::new();
    }
    let x_hi = seconds as f64;
    let y_hi = runs
        .iter()
        .flat_map(|r| r.per_second.iter())
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f64
        * 1.05;
    let mut c = Canvas::new(260.0, (0.0, x_hi), (0.0, y_hi));
    c.x_axis(0.0, x_hi, "seconds after the drop");
    c.y_axis(0.0, y_hi, "connection attempts per second");
    if scenario.outage_s > 0.0 && scenario.outage_s <= x_hi {
        c.marker(scenario.outage_s, "server back");
    }
    let legend: Vec<(&str, &str)> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| (PALETTE[i % PALETTE.len()], r.policy.as_str()))
        .collect();
    c.legend(&legend);
    for (i, run) in runs.iter().enumerate() {
        let points: Vec<(f64, f64)> = run
            .per_second
            .iter()
            .enumerate()
            .map(|(s, n)| (s as f64 + 0.5, *n as f64))
            .collect();
        c.line(&points, PALETTE[i % PALETTE.len()]);
    }
    vec![Chart {
        title: "The reconnect wave".to_owned(),
        caption: format!(
            "{} clients dropped at once, the server refusing for {:.0} s: connection attempts per second under each policy. The peak after the dashed line is what the server must absorb when it comes back.",
            scenario.clients, scenario.outage_s
        ),
        svg: c.finish("Reconnect wave"),
    }]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use wsdoctor_evidence::reconnect::{Interruption, ReconnectClient, ReconnectGap};

    fn client(name: &str, delays: &[u64]) -> ReconnectClient {
        ReconnectClient {
            client: name.into(),
            gaps: delays
                .iter()
                .enumerate()
                .map(|(i, d)| ReconnectGap {
                    after: Interruption::Reset,
                    delay_ms: *d,
                    at_ms: i as u64 * 1000,
                })
                .collect(),
            ..ReconnectClient::default()
        }
    }

    #[test]
    fn one_line_per_client_and_names_escaped() {
        let evidence = ReconnectEvidence {
            clients: vec![
                client("web-1", &[0, 0, 0]),
                client("<script>", &[1000, 2000, 4000]),
                client("idle", &[]),
            ],
            ..ReconnectEvidence::default()
        };
        let charts = reconnect_charts(&evidence);
        assert_eq!(charts.len(), 1);
        let svg = &charts[0].svg;
        assert_eq!(
            svg.matches("<polyline").count(),
            2,
            "clients without gaps skipped"
        );
        assert_eq!(svg.matches("<circle").count(), 6);
        assert!(!svg.contains("<script>"));
    }

    #[test]
    fn no_reconnects_no_chart() {
        assert!(reconnect_charts(&ReconnectEvidence::default()).is_empty());
    }
}
