//! HAR files (Chrome, Edge, Firefox developer tools → "Save all as HAR").
//!
//! WebSocket entries are those with `_resourceType: "websocket"`, a `ws://`
//! or `wss://` URL, or a 101 answer. A HAR records when a socket opened and
//! its messages (`_webSocketMessages`, times in epoch seconds), not when it
//! closed: lifetimes are unknown, and the last message stands in for the
//! end when measuring how soon the page reconnected.

use std::fmt;
use std::io::Read;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::bytes::request_path;
use crate::record::{Record, Upgrade};
use crate::time::{in_range_ms, parse_iso8601};

/// The document, read as a stream: `log.entries` is visited one entry at a
/// time and only the WebSocket entries' few fields are kept, so memory
/// grows with the WebSocket entries, not with the file (a 600 MB HAR was
/// read whole and took 1.49 GB).
#[derive(Debug, Deserialize)]
struct Har {
    log: HarLog,
}

#[derive(Debug, Deserialize)]
struct HarLog {
    #[serde(default)]
    entries: HarContent,
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
    messages: MessageTimes,
}

#[derive(Debug, Deserialize)]
struct Request {
    url: String,
}

#[derive(Debug, Deserialize)]
struct Response {
    status: i64,
}

/// The extremes of `_webSocketMessages[].time`, without keeping the
/// messages (a long-lived socket records thousands).
#[derive(Debug, Default)]
struct MessageTimes {
    /// The latest time, epoch seconds.
    last: Option<f64>,
    /// A time that is not a usable date (non-finite, before 1970, after 9999).
    out_of_range: bool,
}

#[derive(Debug, Deserialize)]
struct Message {
    time: f64,
}

impl<'de> Deserialize<'de> for MessageTimes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Times;
        impl<'de> Visitor<'de> for Times {
            type Value = MessageTimes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of WebSocket messages")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MessageTimes, A::Error> {
                let mut times = MessageTimes::default();
                while let Some(m) = seq.next_element::<Message>()? {
                    if secs_to_ms(m.time).is_none() {
                        times.out_of_range = true;
                    } else if times.last.is_none_or(|l| m.time > l) {
                        times.last = Some(m.time);
                    }
                }
                Ok(times)
            }
        }
        d.deserialize_seq(Times)
    }
}

/// Epoch seconds as ms, when they are a date between 1970 and 9999.
fn secs_to_ms(secs: f64) -> Option<i64> {
    let ms = secs * 1000.0;
    // The range check comes first, so the cast cannot saturate.
    (ms.is_finite() && ms >= 0.0 && ms <= crate::time::MAX_MS as f64)
        .then_some(ms as i64)
        .filter(|ms| in_range_ms(*ms))
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

/// Malformed entries kept as samples (the rest are counted).
const MAX_BAD_SAMPLES: usize = 100;

/// What a HAR file holds: its WebSocket entries, and how many entries in all.
#[derive(Debug, Default)]
pub(crate) struct HarContent {
    pub(crate) sockets: Vec<HarSocket>,
    pub(crate) entries: u64,
    /// WebSocket entries whose times are unreadable or out of range:
    /// (1-based entry number, why), the first [`MAX_BAD_SAMPLES`].
    pub(crate) bad_samples: Vec<(u64, &'static str)>,
    /// All of them.
    pub(crate) bad_entries: u64,
}

impl HarContent {
    fn add(&mut self, e: Entry) {
        self.entries += 1;
        let url_ws = e.request.url.starts_with("ws://") || e.request.url.starts_with("wss://");
        let is_ws =
            url_ws || e.resource_type.as_deref() == Some("websocket") || e.response.status == 101;
        if !is_ws {
            return;
        }
        let start_ms = match parse_iso8601(e.started.as_bytes()) {
            Some(ms) if in_range_ms(ms) => ms,
            Some(_) => return self.bad("startedDateTime is before 1970 or after 9999"),
            None => return self.bad("startedDateTime is not a time"),
        };
        if e.messages.out_of_range {
            return self.bad("a message time is not a date between 1970 and 9999");
        }
        let by_time = match e.time {
            Some(t) if !t.is_finite() || t > crate::time::MAX_MS as f64 => {
                return self.bad("time is not a duration");
            }
            Some(t) if t >= 0.0 => Some(start_ms.saturating_add(t as i64)),
            _ => None,
        };
        if by_time.is_some_and(|t| !in_range_ms(t)) {
            return self.bad("startedDateTime + time is after 9999");
        }
        let last_message = e
            .messages
            .last
            .and_then(secs_to_ms)
            .filter(|t| *t >= start_ms);
        self.sockets.push(HarSocket {
            url: e.request.url,
            // Chrome writes status 0 for a socket that never got an answer.
            status: u16::try_from(e.response.status).unwrap_or(0),
            start_ms,
            last_ms: last_message.or(by_time).unwrap_or(start_ms),
        });
    }

    fn bad(&mut self, why: &'static str) {
        self.bad_entries += 1;
        if self.bad_samples.len() < MAX_BAD_SAMPLES {
            self.bad_samples.push((self.entries, why));
        }
    }
}

impl<'de> Deserialize<'de> for HarContent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = HarContent;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of HAR entries")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<HarContent, A::Error> {
                let mut content = HarContent::default();
                while let Some(e) = seq.next_element::<Entry>()? {
                    content.add(e);
                }
                Ok(content)
            }
            // `"entries": null` reads as none, like a missing key.
            fn visit_unit<E>(self) -> Result<HarContent, E> {
                Ok(HarContent::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HarContent, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Err(serde::de::Error::custom(
                    "`entries` is an object, not a list",
                ))
            }
        }
        d.deserialize_any(Entries)
    }
}

/// Reads a HAR document from a stream, one entry at a time.
pub(crate) fn parse(reader: impl Read) -> Result<HarContent, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(
        256 * 1024,
        reader,
    ));
    let har = Har::deserialize(&mut de)?;
    // Trailing whitespace only, as `from_slice` required.
    de.end()?;
    let mut content = har.log.entries;
    content.sockets.sort_by_key(|s| s.start_ms);
    Ok(content)
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
        let content = parse(&har[..]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(content.entries, 2);
        assert_eq!(content.sockets.len(), 1);
        let r = content.sockets[0].record();
        assert_eq!(r.status, 101);
        assert_eq!(r.client, b"wss://app.example/ws");
        assert_eq!(r.end_ms - r.start_ms.unwrap_or(0), 1500);
        assert!(looks_like_har(har));
        assert!(parse(&b"{\"log\": 3}"[..]).is_err());
    }
}
