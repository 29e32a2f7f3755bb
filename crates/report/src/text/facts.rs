//! Small read-only summaries of the evidence shared by the probe view and
//! the comparison table. These are arithmetic on what was recorded (counts,
//! medians, phase lengths), never judgements.

use std::time::Duration;

use wsdoctor_evidence::{
    escape_peer, format_duration, ConnectionRecord, HandshakeRecord, PhaseTimings, Side,
};

/// `format_duration` for the µs offsets the evidence uses.
pub(crate) fn dur(us: u64) -> String {
    format_duration(Duration::from_micros(us))
}

/// A size for people: `749 B`, `7.2 KiB`, `7.0 MiB`, `40 MiB`.
pub(crate) fn bytes(n: u64) -> String {
    const MIB: f64 = (1u64 << 20) as f64;
    match n {
        n if n >= 10 << 20 => format!("{:.0} MiB", n as f64 / MIB),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / MIB),
        n if n >= 1024 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

/// The median of `values` (the mean of the middle two for an even count).
pub(crate) fn median(values: &[u64]) -> Option<u64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let mid = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[mid]),
        _ => Some((sorted[mid - 1] + sorted[mid]) / 2),
    }
}

/// `min 24 ms · median 25 ms · max 31 ms`, or the single value when only
/// one was measured.
pub(crate) fn spread(values: &[u64]) -> Option<String> {
    let min = values.iter().min()?;
    let max = values.iter().max()?;
    let median = median(values)?;
    Some(if values.len() == 1 {
        dur(*min)
    } else {
        format!(
            "min {} · median {} · max {}",
            dur(*min),
            dur(median),
            dur(*max)
        )
    })
}

/// One connection phase: when it finished and how long it took itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Phase {
    pub(crate) name: &'static str,
    pub(crate) done_us: u64,
    pub(crate) took_us: u64,
}

/// The phases that happened, in order. A phase's own length runs from the
/// end of the previous phase that happened (or the start), so an IP literal
/// without DNS still gets a correct TCP connect time.
pub(crate) fn phases(timings: &PhaseTimings) -> Vec<Phase> {
    let named = [
        ("DNS", timings.dns_done_us),
        ("TCP connect", timings.connect_done_us),
        ("proxy tunnel", timings.proxy_tunnel_done_us),
        ("TLS", timings.tls_done_us),
        ("request written", timings.request_written_us),
        ("response head", timings.response_head_us),
    ];
    let mut previous = 0;
    let mut out = Vec::new();
    for (name, done) in named {
        if let Some(done_us) = done {
            out.push(Phase {
                name,
                done_us,
                took_us: done_us.saturating_sub(previous),
            });
            previous = done_us;
        }
    }
    out
}

/// The phase called `name`, if it happened.
pub(crate) fn phase(timings: &PhaseTimings, name: &str) -> Option<Phase> {
    phases(timings).into_iter().find(|p| p.name == name)
}

/// `HTTP/1.1 400 Bad Request`, reason escaped.
pub(crate) fn status_line(handshake: &HandshakeRecord) -> String {
    format!(
        "{} {} {}",
        escape_peer(&handshake.http_version),
        handshake.status,
        escape_peer(&handshake.reason)
    )
    .trim_end()
    .to_owned()
}

/// Intervals between consecutive pings from the server.
pub(crate) fn server_ping_intervals(record: &ConnectionRecord) -> Vec<u64> {
    record
        .ping_times(Side::Remote)
        .windows(2)
        .map(|pair| pair[1].saturating_sub(pair[0]))
        .collect()
}

/// `3, every 10.0 s (median)`, `1`, or `none`.
pub(crate) fn server_pings(record: &ConnectionRecord) -> String {
    let count = record.ping_times(Side::Remote).len();
    match median(&server_ping_intervals(record)) {
        _ if count == 0 => "none".to_owned(),
        Some(interval) => format!("{count}, every {} (median)", dur(interval)),
        None => count.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        for (n, text) in [
            (0, "0 B"),
            (749, "749 B"),
            (1024, "1.0 KiB"),
            (7_373, "7.2 KiB"),
            (7 << 20, "7.0 MiB"),
            (40 << 20, "40 MiB"),
        ] {
            assert_eq!(bytes(n), text);
        }
    }

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[5, 1, 3]), Some(3));
        assert_eq!(median(&[4, 1, 3, 2]), Some(2));
    }

    #[test]
    fn phases_skip_what_did_not_happen() {
        let timings = PhaseTimings {
            dns_done_us: None,
            connect_done_us: Some(2_000),
            tls_done_us: None,
            request_written_us: Some(2_500),
            response_head_us: Some(10_000),
            proxy_tunnel_done_us: None,
        };
        let got: Vec<_> = phases(&timings)
            .iter()
            .map(|p| (p.name, p.done_us, p.took_us))
            .collect();
        assert_eq!(
            got,
            [
                ("TCP connect", 2_000, 2_000),
                ("request written", 2_500, 500),
                ("response head", 10_000, 7_500)
            ]
        );
    }
}
