//! Text for `wsdoctor serve`: one line per finished connection, from the
//! server's own record of it.

use std::time::Duration;

use wsdoctor_evidence::{escape_peer, format_duration, ConnectionRecord, FrameKind, Side};

/// One line about a finished connection, e.g.
/// `web-42 (127.0.0.1:50123): open 3.2 s, 2 messages in, 3 pongs (RTT 180 µs): closing handshake …`.
///
/// `client` is the identity the server settled on (peer-controlled, so it is
/// escaped here).
pub fn connection_line(client: &str, record: &ConnectionRecord) -> String {
    let peer = record.peer_addr.as_deref().unwrap_or("?");
    let open = record
        .open_for_us()
        .map(|us| format_duration(Duration::from_micros(us)))
        .unwrap_or_else(|| "?".to_owned());
    let messages = record
        .events_from(Side::Remote)
        .filter(|e| matches!(e.kind, FrameKind::Text { .. } | FrameKind::Binary { .. }))
        .count();
    let rtts = record.pong_rtts_us();
    let pongs = if rtts.is_empty() {
        String::new()
    } else {
        let mut sorted = rtts.clone();
        sorted.sort_unstable();
        let median = sorted[sorted.len() / 2];
        format!(
            ", {} pong(s) (median RTT {})",
            rtts.len(),
            format_duration(Duration::from_micros(median))
        )
    };
    let end = record
        .end
        .as_ref()
        .map_or_else(|| "still open".to_owned(), |e| e.end.describe());
    format!(
        "{} ({peer}): open {open}, {messages} message(s) in{pongs}; {end}",
        escape_peer(client)
    )
}
