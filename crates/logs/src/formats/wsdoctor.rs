//! wsdoctor's own JSON Lines events, read back as a log:
//!
//! - `wsdoctor serve --events`: one object per finished connection,
//!   `{"instance", "client", "connection": ConnectionRecord}`; browser-probe
//!   reports (`{"browser": …}`) in the same file are skipped.
//! - `wsdoctor watch --events`: `{"event": "drop" | "reconnect-failed" |
//!   "stall", …}`; drops carry their wall time, age and end.
//! - `wsdoctor load --events`: lines whose times are relative to the ramp
//!   (no wall clock), so they cannot be placed on a timeline; skipped.
//!
//! Each line is one serde_json parse into borrowed fields, so nothing is
//! allocated for a line whose strings have no escapes (a string with
//! escapes is refused as malformed rather than copied).

use memchr::memmem;
use serde::de::IgnoredAny;
use serde::Deserialize;
use wsdoctor_evidence::EventEnd;

use crate::bytes::{request_path, strip_port};
use crate::record::{Parsed, Record, Upgrade};
use crate::time::parse_iso8601;

/// Longest line read; a connection record with its frame events stays far
/// below this.
const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow, default)]
    client: Option<&'a str>,
    #[serde(borrow, default)]
    connection: Option<Connection<'a>>,
    #[serde(borrow, default)]
    event: Option<&'a str>,
    #[serde(borrow, default)]
    drop: Option<Drop<'a>>,
    #[serde(default)]
    browser: Option<IgnoredAny>,
    #[serde(default)]
    conn: Option<IgnoredAny>,
    #[serde(default)]
    t_ms: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct Connection<'a> {
    #[serde(borrow)]
    target: &'a str,
    #[serde(borrow)]
    started_at: &'a str,
    #[serde(borrow, default)]
    peer_addr: Option<&'a str>,
    #[serde(default)]
    handshake: Option<Handshake>,
    #[serde(borrow, default)]
    end: Option<End<'a>>,
}

#[derive(Deserialize)]
struct Handshake {
    status: u16,
}

#[derive(Deserialize)]
struct End<'a> {
    #[serde(borrow)]
    end: EndKind<'a>,
    at_us: u64,
    #[serde(default)]
    open_for_us: Option<u64>,
}

#[derive(Deserialize)]
struct EndKind<'a> {
    #[serde(borrow)]
    kind: &'a str,
    #[serde(default)]
    code: Option<u16>,
    #[serde(default)]
    status: Option<u16>,
}

#[derive(Deserialize)]
struct Drop<'a> {
    #[serde(borrow)]
    wall: &'a str,
    #[serde(borrow)]
    target: &'a str,
    #[serde(borrow)]
    end: EndKind<'a>,
    opened: bool,
    #[serde(default)]
    age_us: Option<u64>,
}

/// True when `line` is one of wsdoctor's event lines (format detection).
pub(crate) fn looks_like_wsdoctor(line: &[u8]) -> bool {
    line.first() == Some(&b'{') && matches!(parse(line), Ok(Parsed::Record(_) | Parsed::Skip))
}

/// Reads one line.
pub(crate) fn parse(line: &[u8]) -> Result<Parsed<'_>, &'static str> {
    if line.len() > MAX_LINE_BYTES {
        return Err("line longer than 4 MiB");
    }
    let parsed: Line<'_> = serde_json::from_slice(line).map_err(|_| "not a wsdoctor JSON event")?;
    if let Some(c) = parsed.connection {
        return connection(parsed.client, c);
    }
    if let Some(d) = parsed.drop {
        return drop(line, &d);
    }
    let known = parsed.browser.is_some()
        || parsed.event == Some("stall")
        || (parsed.conn.is_some() && parsed.t_ms.is_some());
    if known {
        Ok(Parsed::Skip)
    } else {
        Err("a JSON object wsdoctor did not write")
    }
}

/// A `serve` connection: opened at `started_at`, ended `end.at_us` later.
fn connection<'a>(client: Option<&'a str>, c: Connection<'a>) -> Result<Parsed<'a>, &'static str> {
    let start_ms = parse_iso8601(c.started_at.as_bytes()).ok_or("started_at is not a time")?;
    let status = c
        .handshake
        .map(|h| h.status)
        .or_else(|| c.end.as_ref().and_then(|e| e.end.status))
        .unwrap_or(0);
    let end_ms = start_ms + c.end.as_ref().map_or(0, |e| ms(e.at_us));
    let client = client
        .or(c.peer_addr)
        .map_or(&b"-"[..], |a| strip_port(a.as_bytes()));
    let mut r = Record::new(end_ms, status, request_path(c.target.as_bytes()), client);
    r.start_ms = Some(start_ms);
    r.upgrade = Upgrade::Yes;
    if let Some(e) = &c.end {
        if r.opened() {
            r.lifetime_ms = Some(e.open_for_us.unwrap_or(e.at_us) / 1000);
        }
        r.reason = Some(reason(&e.end));
    }
    Ok(Parsed::Record(r))
}

/// A `watch` drop: it ended at `wall`, `age_us` after it opened. The
/// client is the watch slot, so a slot's reconnects line up.
fn drop<'a>(line: &'a [u8], d: &Drop<'a>) -> Result<Parsed<'a>, &'static str> {
    let end_ms = parse_iso8601(d.wall.as_bytes()).ok_or("wall is not a time")?;
    let mut r = Record::new(
        end_ms,
        if d.opened {
            101
        } else {
            d.end.status.unwrap_or(0)
        },
        request_path(d.target.as_bytes()),
        slot(line).unwrap_or(b"-"),
    );
    r.upgrade = Upgrade::Yes;
    if d.opened {
        r.lifetime_ms = d.age_us.map(|a| a / 1000);
        r.start_ms = d.age_us.map(|a| end_ms - ms(a));
        r.reason = Some(reason(&d.end));
    }
    Ok(Parsed::Record(r))
}

/// The digits of `"slot":N`, borrowed from the line (serde_json writes no
/// spaces).
fn slot(line: &[u8]) -> Option<&[u8]> {
    let at = memmem::find(line, b"\"slot\":")? + 7;
    let rest = &line[at..];
    let len = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    (len > 0).then(|| &rest[..len])
}

fn ms(us: u64) -> i64 {
    i64::try_from(us / 1000).unwrap_or(i64::MAX / 2)
}

/// The end reason: the spelling of the typed end ([`EventEnd`]: the close
/// code's class for a close handshake, else the end's kind); a kind of a
/// newer version is kept as written.
fn reason<'a>(end: &EndKind<'a>) -> &'a [u8] {
    EventEnd::of_event(end.kind, end.code).map_or(end.kind.as_bytes(), |e| e.as_str().as_bytes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const SERVE: &[u8] = br#"{"instance":"serve-1","client":"me","connection":{"target":"ws://127.0.0.1:9122/ws?client=me","started_at":"2026-11-26T05:59:01Z","role":"server","resolved":[],"peer_addr":"127.0.0.1:41066","phases":{"response_head_us":88},"tls":null,"handshake":{"request":["GET /ws HTTP/1.1"],"http_version":"HTTP/1.1","status":101,"reason":"Switching Protocols","headers":[],"body":null,"subprotocol":null,"problems":[]},"events":[],"events_omitted":0,"end":{"end":{"kind":"close-handshake","code":1000,"reason":"bye \"x\"","initiator":"remote","answered":true},"at_us":2001595,"open_for_us":2001506}}}"#;

    #[test]
    fn serve_connection() {
        let Ok(Parsed::Record(r)) = parse(SERVE) else {
            panic!("not parsed")
        };
        assert_eq!(r.status, 101);
        assert_eq!(r.start_ms, parse_iso8601(b"2026-11-26T05:59:01Z"));
        assert_eq!(r.end_ms - r.start_ms.unwrap(), 2001);
        assert_eq!(r.lifetime_ms, Some(2001));
        assert_eq!(r.path, b"/ws");
        assert_eq!(r.client, b"me");
        assert_eq!(r.reason, Some(&b"close 1000"[..]));
        assert!(looks_like_wsdoctor(SERVE));
    }

    #[test]
    fn watch_drop_browser_and_junk() {
        let drop = br#"{"drop":{"age_us":4999198,"arm":"silent","at_ms":5004,"end":{"kind":"fin-without-close","mid_frame":false},"idle_us":4999198,"opened":true,"server":"nginx","slot":3,"target":"ws://localhost:8089/chat","wall":"2026-11-26T05:58:35Z"},"event":"drop"}"#;
        let Ok(Parsed::Record(r)) = parse(drop) else {
            panic!("not parsed")
        };
        assert_eq!((r.client, r.lifetime_ms), (&b"3"[..], Some(4999)));
        assert_eq!(r.reason, Some(&b"fin-without-close"[..]));
        assert!(matches!(
            parse(br#"{"browser":{},"findings":[]}"#),
            Ok(Parsed::Skip)
        ));
        assert!(matches!(
            parse(br#"{"conn":1,"step":0,"t_ms":3.5,"event":"opened","handshake_us":9}"#),
            Ok(Parsed::Skip)
        ));
        assert!(parse(br#"{"hello":1}"#).is_err());
        assert!(parse(b"{\"connection\": {").is_err());
        assert!(parse(b"not json").is_err());
    }
}
