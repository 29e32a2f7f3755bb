//! HAR files (Chrome, Edge, Firefox developer tools → "Save all as HAR").
//!
//! WebSocket entries are those with `_resourceType: "websocket"`, a `ws://`
//! or `wss://` URL, or a 101 answer. A HAR records when a socket opened and
//! its messages (`_webSocketMessages`, times in epoch seconds), not when it
//! closed: lifetimes are unknown, and the last message stands in for the
//! end when measuring how soon the page reconnected.

use serde::Deserialize;

use crate::bytes::request_path;
use crate::record::{Record, Upgrade};
use crate::time::parse_iso8601;

#[derive(Debug, Deserialize)]
struct Har {
    log: HarLog,
}

#[derive(Debug, Deserialize)]
struct HarLog {
    #[serde(default)]
    entries: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(rename = "startedDateTime")]
    started: String,
    #[serde(default)]
    time: Option<f64>,
    request: Request,
    response: Response,
    #[serde(rename = "_resourceType", default)]
    resource_type: Option<String>,
    #[serde(rename = "_webSocketMessages", default)]
    messages: Vec<Message>,
}

#[derive(Debug, Deserialize)]
struct Request {
    url: String,
}

#[derive(Debug, Deserialize)]
struct Response {
    status: i64,
}

#[derive(Debug, Deserialize)]
struct Message {
    time: f64,
}

/// One WebSocket entry of a HAR file, owned (records borrow from it).
#[derive(Debug)]
pub(crate) struct HarSocket {
    url: String,
    status: u16,
    start_ms: i64,
    last_ms: i64,
}

impl HarSocket {
    /// The entry as an access-log record: the client is the URL without
    /// its query (one browser, one socket endpoint).
    pub(crate) fn record(&self) -> Record<'_> {
        let url = self.url.as_bytes();
        let client = &url[..memchr::memchr(b'?', url).unwrap_or(url.len())];
        let mut r = Record::new(self.last_ms, self.status, request_path(url), client);
        r.start_ms = Some(self.start_ms);
        r.upgrade = Upgrade::Yes;
        r
    }
}

/// What a HAR file holds: its WebSocket entries, and how many entries in all.
#[derive(Debug)]
pub(crate) struct HarContent {
    pub(crate) sockets: Vec<HarSocket>,
    pub(crate) entries: u64,
    /// Entries whose start time was unreadable.
    pub(crate) bad_entries: u64,
}

/// Reads a whole HAR document.
pub(crate) fn parse(bytes: &[u8]) -> Result<HarContent, serde_json::Error> {
    let har: Har = serde_json::from_slice(bytes)?;
    let entries = har.log.entries.len() as u64;
    let mut bad_entries = 0;
    let mut sockets = Vec::new();
    for e in har.log.entries {
        let url_ws = e.request.url.starts_with("ws://") || e.request.url.starts_with("wss://");
        let is_ws =
            url_ws || e.resource_type.as_deref() == Some("websocket") || e.response.status == 101;
        if !is_ws {
            continue;
        }
        let Some(start_ms) = parse_iso8601(e.started.as_bytes()) else {
            bad_entries += 1;
            continue;
        };
        let last_message = e
            .messages
            .iter()
            .map(|m| (m.time * 1000.0) as i64)
            .max()
            .filter(|t| *t >= start_ms);
        let by_time = e.time.filter(|t| *t >= 0.0).map(|t| start_ms + t as i64);
        sockets.push(HarSocket {
            url: e.request.url,
            // Chrome writes status 0 for a socket that never got an answer.
            status: u16::try_from(e.response.status).unwrap_or(0),
            start_ms,
            last_ms: last_message.or(by_time).unwrap_or(start_ms),
        });
    }
    sockets.sort_by_key(|s| s.start_ms);
    Ok(HarContent {
        sockets,
        entries,
        bad_entries,
    })
}

/// True when a document starts like a HAR (`{` then `"log"` soon after).
pub(crate) fn looks_like_har(head: &[u8]) -> bool {
    let start = head.iter().position(|c| !c.is_ascii_whitespace());
    start.is_some_and(|i| head[i] == b'{')
        && memchr::memmem::find(&head[..head.len().min(4096)], b"\"log\"").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_entries_only() {
        let har = br#"{"log":{"version":"1.2","entries":[
          {"startedDateTime":"2026-01-15T14:02:11.000Z","time":12,"request":{"method":"GET","url":"https://app.example/"},"response":{"status":200}},
          {"startedDateTime":"2026-01-15T14:02:12.000Z","time":-1,"request":{"method":"GET","url":"wss://app.example/ws?t=1"},"response":{"status":101},"_resourceType":"websocket",
           "_webSocketMessages":[{"type":"send","time":1768485733.5,"opcode":1,"data":"hi"}]}
        ]}}"#;
        let content = parse(har).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(content.entries, 2);
        assert_eq!(content.sockets.len(), 1);
        let r = content.sockets[0].record();
        assert_eq!(r.status, 101);
        assert_eq!(r.client, b"wss://app.example/ws");
        assert_eq!(r.end_ms - r.start_ms.unwrap_or(0), 1500);
        assert!(looks_like_har(har));
        assert!(parse(b"{\"log\": 3}").is_err());
    }
}
