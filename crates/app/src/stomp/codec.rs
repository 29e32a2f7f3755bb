//! STOMP 1.0–1.2 frames over WebSocket and the heart-beat negotiation.
//!
//! Hand-written: the STOMP crates on crates.io are async clients tied to a
//! TCP stream (`async-stomp`, `tokio-stomp`) or unmaintained parsers; a frame
//! is a command line, header lines, a blank line, a body and a NUL, so the
//! codec is short, and the heart-beat rules are what the doctor cares about.
//!
//! Source (read 2026-12-06): STOMP 1.2,
//! <https://stomp.github.io/stomp-specification-1.2.html> — §Augmented BNF,
//! §Value Encoding (header escapes), §Heart-beating, §CONNECTED, §ERROR.
//! Client defaults from @stomp/stompjs 7 (`heartbeatIncoming` and
//! `heartbeatOutgoing` 10000 ms, `heartbeatToleranceMultiplier` 2),
//! src/stomp-handler.ts and src/client.ts (read 2026-12-06).

use std::time::Duration;

/// Subprotocols in the order @stomp/stompjs offers them (`Versions.protocolVersions`).
pub const SUBPROTOCOLS: [&str; 3] = ["v12.stomp", "v11.stomp", "v10.stomp"];

/// @stomp/stompjs asks for a heart-beat every 10 s each way.
pub const DEFAULT_HEART_BEAT: HeartBeat = HeartBeat {
    can_send_ms: 10_000,
    wants_ms: 10_000,
};

/// @stomp/stompjs closes when nothing arrived for twice the negotiated period.
pub const CLIENT_TOLERANCE_MULTIPLIER: u32 = 2;

/// A frame (or a run of bytes) larger than this is refused.
pub const MAX_BUFFERED_FRAME: usize = 1 << 20;

/// The protocol version, from the subprotocol or the CONNECTED `version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    V10,
    V11,
    V12,
}

impl Version {
    pub fn from_subprotocol(subprotocol: &str) -> Option<Self> {
        match subprotocol {
            "v12.stomp" => Some(Version::V12),
            "v11.stomp" => Some(Version::V11),
            "v10.stomp" => Some(Version::V10),
            _ => None,
        }
    }

    pub fn from_header(value: &str) -> Option<Self> {
        match value.trim() {
            "1.2" => Some(Version::V12),
            "1.1" => Some(Version::V11),
            "1.0" => Some(Version::V10),
            _ => None,
        }
    }

    /// The `accept-version` a client of this version offers.
    pub fn accept_versions(self) -> &'static str {
        match self {
            Version::V12 => "1.2,1.1,1.0",
            Version::V11 => "1.1,1.0",
            Version::V10 => "1.0",
        }
    }
}

/// What went wrong reading the server's bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StompError {
    #[error("STOMP frame larger than the {MAX_BUFFERED_FRAME} bytes the doctor buffers")]
    TooLarge,
    #[error("STOMP frame is malformed: {0}")]
    Malformed(&'static str),
}

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub command: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Frame {
    pub fn new(command: &str, headers: &[(&str, &str)]) -> Self {
        Self {
            command: command.to_owned(),
            headers: headers
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
            body: Vec::new(),
        }
    }

    /// The first value of a header: a repeated header's first entry wins (§Repeated Header Entries).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(known, _)| known == name)
            .map(|(_, value)| value.as_str())
    }

    /// Encodes the frame. CONNECT and CONNECTED headers are never escaped
    /// (§Value Encoding); others are escaped from 1.1 on.
    pub fn encode(&self, version: Version) -> Vec<u8> {
        let escape =
            version >= Version::V11 && self.command != "CONNECT" && self.command != "CONNECTED";
        let mut out = Vec::with_capacity(64 + self.body.len());
        out.extend_from_slice(self.command.as_bytes());
        out.push(b'\n');
        for (name, value) in &self.headers {
            push_header_part(&mut out, name, escape, version);
            out.push(b':');
            push_header_part(&mut out, value, escape, version);
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(&self.body);
        out.push(0);
        out
    }
}

fn push_header_part(out: &mut Vec<u8>, text: &str, escape: bool, version: Version) {
    if !escape {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    for byte in text.bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b':' => out.extend_from_slice(b"\\c"),
            b'\r' if version >= Version::V12 => out.extend_from_slice(b"\\r"),
            other => out.push(other),
        }
    }
}

fn unescape(raw: &str, version: Version) -> Result<String, StompError> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('c') => out.push(':'),
            Some('r') if version >= Version::V12 => out.push('\r'),
            // §Value Encoding: undefined escapes MUST be a fatal protocol error.
            _ => {
                return Err(StompError::Malformed(
                    "undefined escape sequence in a header",
                ))
            }
        }
    }
    Ok(out)
}

/// A frame or a heart-beat (a bare end of line between frames).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    HeartBeat,
    Frame(Frame),
}

/// Splits the server's bytes into frames and heart-beats; a frame may be cut
/// over several WebSocket messages (@stomp/stompjs's parser allows it).
#[derive(Debug)]
pub struct Decoder {
    version: Version,
    buffer: Vec<u8>,
}

impl Decoder {
    pub fn new(version: Version) -> Self {
        Self {
            version,
            buffer: Vec::new(),
        }
    }

    /// The version the server confirmed in CONNECTED changes header escaping.
    pub fn set_version(&mut self, version: Version) {
        self.version = version;
    }

    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Incoming>, StompError> {
        self.buffer.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut at = 0;
        loop {
            // End-of-lines between frames are heart-beats (§Heart-beating).
            while let Some(&byte) = self.buffer.get(at) {
                if byte == b'\n' {
                    out.push(Incoming::HeartBeat);
                    at += 1;
                } else if byte == b'\r' && self.buffer.get(at + 1) == Some(&b'\n') {
                    out.push(Incoming::HeartBeat);
                    at += 2;
                } else {
                    break;
                }
            }
            let rest = &self.buffer[at..];
            if rest.is_empty() || rest == b"\r" {
                break;
            }
            let Some((frame, used)) = parse_frame(rest, self.version)? else {
                if rest.len() > MAX_BUFFERED_FRAME {
                    return Err(StompError::TooLarge);
                }
                break;
            };
            out.push(Incoming::Frame(frame));
            at += used;
        }
        self.buffer.drain(..at);
        Ok(out)
    }
}

/// Parses one frame from the start of `bytes`; `Ok(None)` when incomplete.
fn parse_frame(bytes: &[u8], version: Version) -> Result<Option<(Frame, usize)>, StompError> {
    let Some(head_end) = find(bytes, b"\n\n")
        .map(|at| (at, 2))
        .into_iter()
        .chain(find(bytes, b"\r\n\r\n").map(|at| (at, 4)))
        .min_by_key(|(at, _)| *at)
    else {
        return Ok(None);
    };
    let (head_len, separator) = head_end;
    let head = std::str::from_utf8(&bytes[..head_len])
        .map_err(|_| StompError::Malformed("frame head is not UTF-8"))?;
    let mut lines = head
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line));
    let command = lines.next().unwrap_or_default().to_owned();
    if command.is_empty() {
        return Err(StompError::Malformed("empty command"));
    }
    let escaped = version >= Version::V11 && command != "CONNECTED" && command != "CONNECT";
    let mut headers = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(StompError::Malformed("header line without a colon"));
        };
        if escaped {
            headers.push((unescape(name, version)?, unescape(value, version)?));
        } else {
            headers.push((name.to_owned(), value.to_owned()));
        }
    }
    let body_start = head_len + separator;
    let content_length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .map(|(_, value)| value.trim().parse::<usize>())
        .transpose()
        .map_err(|_| StompError::Malformed("content-length is not a number"))?;
    let (body_end, frame_end) = match content_length {
        Some(length) => {
            if length > MAX_BUFFERED_FRAME {
                return Err(StompError::TooLarge);
            }
            let end = body_start + length;
            match bytes.get(end) {
                None => return Ok(None),
                Some(0) => (end, end + 1),
                Some(_) => {
                    return Err(StompError::Malformed("body longer than its content-length"))
                }
            }
        }
        None => match bytes[body_start..].iter().position(|&byte| byte == 0) {
            Some(offset) => (body_start + offset, body_start + offset + 1),
            None => return Ok(None),
        },
    };
    let frame = Frame {
        command,
        headers,
        body: bytes[body_start..body_end].to_vec(),
    };
    Ok(Some((frame, frame_end)))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// A `heart-beat` header: `cx,cy` from the client, `sx,sy` from the server.
/// The first number is how often its sender can send, the second how often it
/// wants to receive (milliseconds, 0 = cannot / does not want).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartBeat {
    pub can_send_ms: u64,
    pub wants_ms: u64,
}

impl HeartBeat {
    pub fn parse(value: &str) -> Option<Self> {
        let (send, want) = value.split_once(',')?;
        Some(Self {
            can_send_ms: send.trim().parse().ok()?,
            wants_ms: want.trim().parse().ok()?,
        })
    }

    pub fn header_value(self) -> String {
        format!("{},{}", self.can_send_ms, self.wants_ms)
    }
}

/// The outcome of §Heart-beating for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// How often the client must send something (a frame or an EOL).
    pub client_sends_every: Option<Duration>,
    /// How often the server will send something; the client may declare the
    /// connection dead after some margin past it.
    pub server_sends_every: Option<Duration>,
}

/// §Heart-beating: the client sends every MAX(cx, sy) when neither is 0; the
/// server sends every MAX(sx, cy) when neither is 0. A CONNECTED without a
/// heart-beat header means 0,0.
pub fn negotiate(client: HeartBeat, server: Option<HeartBeat>) -> Negotiated {
    let server = server.unwrap_or(HeartBeat {
        can_send_ms: 0,
        wants_ms: 0,
    });
    let period = |a: u64, b: u64| (a != 0 && b != 0).then(|| Duration::from_millis(a.max(b)));
    Negotiated {
        client_sends_every: period(client.can_send_ms, server.wants_ms),
        server_sends_every: period(server.can_send_ms, client.wants_ms),
    }
}

/// The client's CONNECT frame (1.2 clients may say STOMP; stompjs sends
/// CONNECT, and no `host` unless the application gives one).
pub fn connect_frame(host: Option<&str>, version: Version, heart_beat: HeartBeat) -> Frame {
    let beat = heart_beat.header_value();
    let mut headers = vec![("accept-version", version.accept_versions())];
    if let Some(host) = host {
        headers.push(("host", host));
    }
    headers.push(("heart-beat", &beat));
    Frame::new("CONNECT", &headers)
}

/// Adds the `login` and `passcode` headers of §CONNECT to a CONNECT frame.
/// CONNECT headers are not escaped (§Value Encoding, for STOMP 1.0's
/// sake), so a line break cannot be carried: it is dropped rather than
/// let it end the header early and smuggle another one in.
pub fn add_login(frame: &mut Frame, login: &str, passcode: Option<&str>) {
    let clean = |value: &str| value.replace(['\r', '\n', '\0'], "");
    frame.headers.push(("login".to_owned(), clean(login)));
    if let Some(passcode) = passcode {
        frame.headers.push(("passcode".to_owned(), clean(passcode)));
    }
}

/// An end of line: the client's heart-beat.
pub const HEART_BEAT: &[u8] = b"\n";

/// Where ERROR frames' meaning comes from.
pub const SOURCE: &str =
    "STOMP 1.2 §ERROR and §Heart-beating, https://stomp.github.io/stomp-specification-1.2.html (read 2026-12-06)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_headers_follow_heart_beat_and_cannot_inject_a_header() {
        let mut frame = connect_frame(None, Version::V12, DEFAULT_HEART_BEAT);
        add_login(&mut frame, "al\nice", Some("pw\r\nx-evil:1"));
        assert_eq!(frame.header("login"), Some("alice"));
        assert_eq!(frame.header("passcode"), Some("pwx-evil:1"));
        assert_eq!(frame.header("x-evil"), None);
        let text = String::from_utf8_lossy(&frame.encode(Version::V12)).into_owned();
        assert!(
            text.contains("\nlogin:alice\npasscode:pwx-evil:1\n"),
            "{text:?}"
        );
    }

    #[test]
    fn connect_frame_example_from_the_spec() {
        // §Connecting: CONNECT / accept-version / host, then heart-beat.
        let frame = connect_frame(
            Some("stomp.github.org"),
            Version::V12,
            HeartBeat {
                can_send_ms: 0,
                wants_ms: 0,
            },
        );
        assert_eq!(
            frame.encode(Version::V12),
            b"CONNECT\naccept-version:1.2,1.1,1.0\nhost:stomp.github.org\nheart-beat:0,0\n\n\0"
                .to_vec()
        );
    }

    #[test]
    fn connected_and_error_frames_decode() {
        let mut decoder = Decoder::new(Version::V12);
        let got = decoder
            .push(b"CONNECTED\nversion:1.2\nheart-beat:5000,10000\nserver:x/1\n\n\0\n\nERROR\nmessage:malformed frame received\ncontent-type:text/plain\ncontent-length:5\n\nhello\0")
            .unwrap_or_default();
        assert_eq!(got.len(), 4);
        let Incoming::Frame(connected) = &got[0] else {
            panic!("{got:?}")
        };
        assert_eq!(connected.command, "CONNECTED");
        assert_eq!(
            connected.header("heart-beat").and_then(HeartBeat::parse),
            Some(HeartBeat {
                can_send_ms: 5000,
                wants_ms: 10000
            })
        );
        assert_eq!(got[1], Incoming::HeartBeat);
        assert_eq!(got[2], Incoming::HeartBeat);
        let Incoming::Frame(error) = &got[3] else {
            panic!("{got:?}")
        };
        assert_eq!(error.header("message"), Some("malformed frame received"));
        assert_eq!(error.body, b"hello");
    }

    #[test]
    fn frames_cut_across_messages_and_crlf_heartbeats() {
        let mut decoder = Decoder::new(Version::V12);
        assert_eq!(
            decoder.push(b"\r\nMESSAGE\nsubscription:0\nmessage-id:007\ndestination:/queue/a\n"),
            Ok(vec![Incoming::HeartBeat])
        );
        assert_eq!(decoder.push(b"content-length:3\n\nab"), Ok(vec![]));
        let got = decoder.push(b"\0\0\r").unwrap_or_default();
        assert!(
            matches!(&got[..], [Incoming::Frame(frame)] if frame.body == b"ab\0"),
            "{got:?}"
        );
        assert_eq!(decoder.push(b"\n"), Ok(vec![Incoming::HeartBeat]));
    }

    #[test]
    fn content_length_allows_nul_in_the_body() {
        let mut decoder = Decoder::new(Version::V12);
        let got = decoder
            .push(b"MESSAGE\ncontent-length:3\n\na\0b\0")
            .unwrap_or_default();
        assert!(
            matches!(&got[..], [Incoming::Frame(frame)] if frame.body == b"a\0b"),
            "{got:?}"
        );
    }

    #[test]
    fn header_escapes_round_trip_and_undefined_escape_is_an_error() {
        // §Value Encoding: "a:b\nc\\d" travels as a\cb\nc\\d
        let mut frame = Frame::new("SEND", &[("x", "a:b\nc\\d\r")]);
        frame.body = b"hi".to_vec();
        let encoded = frame.encode(Version::V12);
        assert_eq!(encoded, b"SEND\nx:a\\cb\\nc\\\\d\\r\n\nhi\0".to_vec());
        let mut decoder = Decoder::new(Version::V12);
        assert_eq!(decoder.push(&encoded), Ok(vec![Incoming::Frame(frame)]));
        let mut decoder = Decoder::new(Version::V12);
        assert!(decoder.push(b"MESSAGE\nx:\\t\n\n\0").is_err());
        // CONNECTED headers are never unescaped
        let mut decoder = Decoder::new(Version::V12);
        let got = decoder
            .push(b"CONNECTED\nserver:a\\tb\n\n\0")
            .unwrap_or_default();
        assert!(
            matches!(&got[..], [Incoming::Frame(frame)] if frame.header("server") == Some("a\\tb"))
        );
    }

    #[test]
    fn heart_beat_negotiation_per_the_spec() {
        let client = HeartBeat {
            can_send_ms: 10_000,
            wants_ms: 10_000,
        };
        // server can send every 5 s and wants every 20 s
        let n = negotiate(client, HeartBeat::parse("5000,20000"));
        assert_eq!(n.client_sends_every, Some(Duration::from_secs(20)));
        assert_eq!(n.server_sends_every, Some(Duration::from_secs(10)));
        // a zero on either side turns that direction off
        let n = negotiate(client, HeartBeat::parse("0,0"));
        assert_eq!((n.client_sends_every, n.server_sends_every), (None, None));
        let n = negotiate(
            HeartBeat {
                can_send_ms: 0,
                wants_ms: 4000,
            },
            HeartBeat::parse("3000,3000"),
        );
        assert_eq!(
            (n.client_sends_every, n.server_sends_every),
            (None, Some(Duration::from_secs(4)))
        );
        // no header at all: 0,0
        assert_eq!(negotiate(client, None).client_sends_every, None);
        assert_eq!(HeartBeat::parse("x,1"), None);
    }

    #[test]
    fn hostile_input_is_bounded() {
        let mut decoder = Decoder::new(Version::V12);
        let big = vec![b'A'; MAX_BUFFERED_FRAME + 1];
        assert_eq!(decoder.push(&big), Err(StompError::TooLarge));
        let mut decoder = Decoder::new(Version::V12);
        assert!(decoder
            .push(b"MESSAGE\ncontent-length:99999999999\n\n")
            .is_err());
        let mut decoder = Decoder::new(Version::V12);
        assert!(decoder.push(b"MESSAGE\nno colon\n\n\0").is_err());
        let mut decoder = Decoder::new(Version::V12);
        assert!(decoder.push(b"MESSAGE\ncontent-length:1\n\nab\0").is_err());
    }
}
