//! How findings write numbers and peer text: durations for titles and
//! evidence lines, seconds for `measured`, and peer-controlled strings cut
//! and escaped.

use std::time::Duration;

use wsdoctor_evidence::{escape_peer, format_duration, format_secs};

/// µs as seconds for evidence lines: `2.013 s`.
pub(crate) fn secs(us: u64) -> String {
    format_secs(us)
}

/// µs for titles, the way wsdoctor prints durations to people: `60.0 s`, `15 m 0 s`.
pub(crate) fn human(us: u64) -> String {
    format_duration(Duration::from_micros(us))
}

/// µs as milliseconds: `3.2 ms`; below 0.1 ms in µs (`42 µs`), so a fast
/// loopback RTT never reads as zero.
pub(crate) fn millis(us: u64) -> String {
    if us < 100 {
        format!("{us} µs")
    } else {
        format!("{:.1} ms", us as f64 / 1000.0)
    }
}

/// µs as f64 seconds, rounded to ms, for `measured`.
pub(crate) fn to_s(us: u64) -> f64 {
    (us as f64 / 1000.0).round() / 1000.0
}

/// Peer text cut to `max` characters and escaped, for one evidence line.
pub(crate) fn peer(text: &str, max: usize) -> String {
    let cut: String = text.chars().take(max).collect();
    let more = if cut.len() < text.len() { "…" } else { "" };
    format!("{}{more}", escape_peer(&cut))
}
