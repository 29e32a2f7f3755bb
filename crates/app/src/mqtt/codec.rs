//! MQTT 3.1.1 and 5.0 control packets, as far as a client that connects,
//! keeps the connection alive and reads why it ends needs them.
//!
//! Hand-written on purpose. The crates that parse MQTT either stop at 3.1.1
//! (`mqtt-protocol`, `mqttrs`), are no longer released on their own
//! (`mqttbytes` 0.6 from 2021; its successor lives inside `rumqttc`, which
//! brings a whole async client and TLS stack), or are MPL-2.0 with a v5 API
//! still moving (`mqtt-format`). What the doctor needs is small: CONNECT,
//! CONNACK (return code / reason code and the v5 properties that tell about
//! timers), PINGREQ/PINGRESP, DISCONNECT (v5 reason code and reason string),
//! and skipping every other packet by its fixed header.
//!
//! Sources (read 2026-12-06):
//! - MQTT 3.1.1: <https://docs.oasis-open.org/mqtt/mqtt/v3.1.1/os/mqtt-v3.1.1-os.html>
//!   §2.2 fixed header, §3.1 CONNECT, §3.2 CONNACK (Table 3.1 return codes),
//!   §3.1.2.10 Keep Alive (the server closes after 1.5 × keep-alive), §3.12/3.13.
//! - MQTT 5.0: <https://docs.oasis-open.org/mqtt/mqtt/v5.0/os/mqtt-v5.0-os.html>
//!   §1.5.5 variable byte integer, §2.2.2 properties, §2.4 reason codes,
//!   §3.2.2.3.14 Server Keep Alive, §3.14 DISCONNECT.
//! - Over WebSocket: MQTT 5.0 §6 (binary frames, subprotocol `mqtt`; a
//!   packet may span frames and a frame may carry several packets).

use std::time::Duration;

/// The WebSocket subprotocol both versions register (MQTT 5.0 §6; 3.1.1 §6).
pub const SUBPROTOCOL: &str = "mqtt";

/// MQTT.js, Paho and most client libraries default to a 60 s keep-alive.
pub const DEFAULT_KEEP_ALIVE_SECS: u16 = 60;

/// A packet larger than this is refused rather than buffered: the doctor
/// subscribes to nothing, so only a misbehaving peer sends big packets.
pub const MAX_BUFFERED_PACKET: usize = 1 << 20;

/// Which protocol level the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// MQTT 3.1.1 (protocol level 4).
    V311,
    /// MQTT 5.0 (protocol level 5).
    V5,
}

impl Version {
    fn level(self) -> u8 {
        match self {
            Version::V311 => 4,
            Version::V5 => 5,
        }
    }
}

/// What went wrong reading the server's bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MqttError {
    #[error("MQTT remaining length uses more than 4 bytes")]
    BadRemainingLength,
    #[error("MQTT packet of {0} bytes is larger than the {MAX_BUFFERED_PACKET} bytes the doctor buffers")]
    TooLarge(usize),
    #[error("MQTT {packet} packet is malformed: {why}")]
    Malformed {
        packet: &'static str,
        why: &'static str,
    },
}

/// The client's CONNECT packet. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Connect {
    pub version: Version,
    pub client_id: String,
    /// Seconds; 0 turns keep-alive off.
    pub keep_alive: u16,
    pub clean_start: bool,
    /// User Name (3.1.1 §3.1.3.4, 5.0 §3.1.3.5).
    pub username: Option<String>,
    /// Password (3.1.1 §3.1.3.5, 5.0 §3.1.3.6); 3.1.1 forbids it without a
    /// user name (§3.1.2.9), so it is sent only with one.
    pub password: Option<String>,
}

impl std::fmt::Debug for Connect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connect")
            .field("version", &self.version)
            .field("client_id", &self.client_id)
            .field("keep_alive", &self.keep_alive)
            .field("clean_start", &self.clean_start)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "REDACTED"))
            .finish()
    }
}

/// CONNACK as the server sent it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnAck {
    pub session_present: bool,
    /// 3.1.1 return code or 5.0 reason code; 0 means accepted.
    pub code: u8,
    /// v5 Server Keep Alive (0x13): the keep-alive the client must use instead
    /// of its own.
    pub server_keep_alive: Option<u16>,
    pub reason_string: Option<String>,
    pub assigned_client_id: Option<String>,
    pub server_reference: Option<String>,
}

/// DISCONNECT from the server (v5 only carries a reason).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Disconnect {
    /// 0 (normal disconnection) when the packet carries no reason code.
    pub reason_code: u8,
    pub reason_string: Option<String>,
    pub server_reference: Option<String>,
}

/// One packet from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    ConnAck(ConnAck),
    PingResp,
    Disconnect(Disconnect),
    /// Any other packet, skipped by its length (type number 1–15).
    Other {
        packet_type: u8,
    },
}

/// PINGREQ: type 12, no flags, no body (3.1.1 §3.12, 5.0 §3.12).
pub const PINGREQ: [u8; 2] = [0xC0, 0x00];
/// PINGRESP: type 13.
pub const PINGRESP: [u8; 2] = [0xD0, 0x00];

const CONNECT: u8 = 1;
const CONNACK: u8 = 2;
const PINGRESP_TYPE: u8 = 13;
const DISCONNECT: u8 = 14;

/// Property identifiers the doctor reads (5.0 §2.2.2.2).
const PROP_ASSIGNED_CLIENT_ID: u8 = 0x12;
const PROP_SERVER_KEEP_ALIVE: u8 = 0x13;
const PROP_SERVER_REFERENCE: u8 = 0x1C;
const PROP_REASON_STRING: u8 = 0x1F;

/// Encodes CONNECT with no will; with the user name and password when
/// there are (flags 0x80 and 0x40, payload after the client id).
pub fn encode_connect(connect: &Connect) -> Vec<u8> {
    let password = connect
        .password
        .as_ref()
        .filter(|_| connect.username.is_some());
    let mut flags = if connect.clean_start { 0x02 } else { 0x00 };
    if connect.username.is_some() {
        flags |= 0x80;
    }
    if password.is_some() {
        flags |= 0x40;
    }
    let mut body = Vec::with_capacity(32 + connect.client_id.len());
    put_string(&mut body, "MQTT");
    body.push(connect.version.level());
    body.push(flags);
    body.extend_from_slice(&connect.keep_alive.to_be_bytes());
    if connect.version == Version::V5 {
        body.push(0); // no properties
    }
    put_string(&mut body, &connect.client_id);
    if let Some(username) = &connect.username {
        put_string(&mut body, username);
    }
    if let Some(password) = password {
        // Binary Data: the same two-byte length prefix as a string.
        put_string(&mut body, password);
    }
    packet(CONNECT << 4, &body)
}

/// DISCONNECT from the client: bare in 3.1.1; with a reason code in 5.0
/// (0x00 normal disconnection is sent as the short form, §3.14.2.1).
pub fn encode_disconnect(version: Version, reason_code: u8) -> Vec<u8> {
    match (version, reason_code) {
        (Version::V311, _) | (Version::V5, 0) => vec![DISCONNECT << 4, 0],
        (Version::V5, code) => vec![DISCONNECT << 4, 2, code, 0],
    }
}

fn put_string(out: &mut Vec<u8>, text: &str) {
    // Client ids and the protocol name are ours and short, and a login longer
    // than 65535 bytes is no login a broker accepts; clamp so the length
    // prefix can never lie.
    let bytes = &text.as_bytes()[..text.len().min(usize::from(u16::MAX))];
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn packet(first_byte: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(first_byte);
    put_varint(&mut out, body.len());
    out.extend_from_slice(body);
    out
}

fn put_varint(out: &mut Vec<u8>, mut value: usize) {
    loop {
        let mut byte = (value % 128) as u8;
        value /= 128;
        if value > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if value == 0 {
            break;
        }
    }
}

/// Reads a variable byte integer; `Ok(None)` when more bytes are needed.
fn read_varint(bytes: &[u8]) -> Result<Option<(usize, usize)>, MqttError> {
    let mut value = 0usize;
    for (index, byte) in bytes.iter().enumerate().take(4) {
        value += usize::from(byte & 0x7F) << (7 * index);
        if byte & 0x80 == 0 {
            return Ok(Some((value, index + 1)));
        }
    }
    if bytes.len() >= 4 {
        Err(MqttError::BadRemainingLength)
    } else {
        Ok(None)
    }
}

/// Splits the server's byte stream into packets. WebSocket binary messages
/// may cut a packet anywhere or carry several (MQTT 5.0 §6).
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

    /// Appends one WebSocket message's bytes and returns the whole packets
    /// they complete. An error leaves the decoder unusable: the stream has
    /// lost its framing.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Packet>, MqttError> {
        self.buffer.extend_from_slice(bytes);
        let mut packets = Vec::new();
        let mut consumed = 0;
        loop {
            let rest = &self.buffer[consumed..];
            let Some(&first) = rest.first() else { break };
            let Some((length, header_len)) = read_varint(&rest[1..])? else {
                break;
            };
            if length > MAX_BUFFERED_PACKET {
                return Err(MqttError::TooLarge(length));
            }
            let total = 1 + header_len + length;
            if rest.len() < total {
                break;
            }
            let body = &rest[1 + header_len..total];
            packets.push(decode_packet(self.version, first, body)?);
            consumed += total;
        }
        self.buffer.drain(..consumed);
        Ok(packets)
    }
}

fn decode_packet(version: Version, first: u8, body: &[u8]) -> Result<Packet, MqttError> {
    match first >> 4 {
        CONNACK => decode_connack(version, body).map(Packet::ConnAck),
        PINGRESP_TYPE => Ok(Packet::PingResp),
        DISCONNECT => decode_disconnect(version, body).map(Packet::Disconnect),
        other => Ok(Packet::Other { packet_type: other }),
    }
}

fn decode_connack(version: Version, body: &[u8]) -> Result<ConnAck, MqttError> {
    let malformed = |why| MqttError::Malformed {
        packet: "CONNACK",
        why,
    };
    let [flags, code, rest @ ..] = body else {
        return Err(malformed("shorter than 2 bytes"));
    };
    let mut ack = ConnAck {
        session_present: flags & 0x01 != 0,
        code: *code,
        ..ConnAck::default()
    };
    if version == Version::V5 && !rest.is_empty() {
        let properties = read_properties(rest).map_err(malformed)?;
        for property in properties {
            match property {
                (PROP_SERVER_KEEP_ALIVE, PropertyValue::U16(secs)) => {
                    ack.server_keep_alive = Some(secs);
                }
                (PROP_REASON_STRING, PropertyValue::Text(text)) => ack.reason_string = Some(text),
                (PROP_ASSIGNED_CLIENT_ID, PropertyValue::Text(text)) => {
                    ack.assigned_client_id = Some(text);
                }
                (PROP_SERVER_REFERENCE, PropertyValue::Text(text)) => {
                    ack.server_reference = Some(text);
                }
                _ => {}
            }
        }
    }
    Ok(ack)
}

fn decode_disconnect(version: Version, body: &[u8]) -> Result<Disconnect, MqttError> {
    let mut disconnect = Disconnect::default();
    if version == Version::V311 {
        return Ok(disconnect);
    }
    let Some((&code, rest)) = body.split_first() else {
        return Ok(disconnect);
    };
    disconnect.reason_code = code;
    if !rest.is_empty() {
        let properties = read_properties(rest).map_err(|why| MqttError::Malformed {
            packet: "DISCONNECT",
            why,
        })?;
        for property in properties {
            match property {
                (PROP_REASON_STRING, PropertyValue::Text(text)) => {
                    disconnect.reason_string = Some(text);
                }
                (PROP_SERVER_REFERENCE, PropertyValue::Text(text)) => {
                    disconnect.server_reference = Some(text);
                }
                _ => {}
            }
        }
    }
    Ok(disconnect)
}

#[derive(Debug)]
enum PropertyValue {
    U16(u16),
    Text(String),
    Other,
}

/// Reads a v5 property list (length-prefixed). Unknown identifiers are a
/// malformed packet (§2.2.2.2): their length cannot be known.
fn read_properties(bytes: &[u8]) -> Result<Vec<(u8, PropertyValue)>, &'static str> {
    let (length, used) = read_varint(bytes)
        .map_err(|_| "property length too long")?
        .ok_or("property length cut short")?;
    let list = bytes
        .get(used..used + length)
        .ok_or("properties run past the packet")?;
    let mut properties = Vec::new();
    let mut at = 0;
    while at < list.len() {
        let id = list[at];
        at += 1;
        let rest = &list[at..];
        let (value, len) = match id {
            // one byte
            0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => (PropertyValue::Other, 1),
            // two-byte integer
            0x13 | 0x21 | 0x22 | 0x23 => {
                let [high, low, ..] = rest else {
                    return Err("two-byte property cut short");
                };
                (PropertyValue::U16(u16::from_be_bytes([*high, *low])), 2)
            }
            // four-byte integer
            0x02 | 0x11 | 0x18 | 0x27 => (PropertyValue::Other, 4),
            // variable byte integer (subscription identifier)
            0x0B => {
                let (_, len) = read_varint(rest)
                    .map_err(|_| "property integer too long")?
                    .ok_or("property integer cut short")?;
                (PropertyValue::Other, len)
            }
            // UTF-8 string
            0x03 | 0x08 | 0x12 | 0x15 | 0x1A | 0x1C | 0x1F => {
                let (text, len) = read_string(rest)?;
                (PropertyValue::Text(text), len)
            }
            // binary data
            0x09 | 0x16 => (PropertyValue::Other, 2 + read_u16_len(rest)?),
            // string pair (user property)
            0x26 => {
                let first = 2 + read_u16_len(rest)?;
                let second = 2 + read_u16_len(rest.get(first..).ok_or("user property cut short")?)?;
                (PropertyValue::Other, first + second)
            }
            _ => return Err("unknown property identifier"),
        };
        if rest.len() < len {
            return Err("property value cut short");
        }
        properties.push((id, value));
        at += len;
    }
    Ok(properties)
}

fn read_u16_len(bytes: &[u8]) -> Result<usize, &'static str> {
    match bytes {
        [high, low, ..] => Ok(usize::from(u16::from_be_bytes([*high, *low]))),
        _ => Err("length prefix cut short"),
    }
}

fn read_string(bytes: &[u8]) -> Result<(String, usize), &'static str> {
    let len = read_u16_len(bytes)?;
    let raw = bytes.get(2..2 + len).ok_or("string cut short")?;
    let text = std::str::from_utf8(raw).map_err(|_| "string is not UTF-8")?;
    Ok((text.to_owned(), 2 + len))
}

/// When the client must send PINGREQ: every keep-alive seconds of silence
/// (3.1.1 §3.1.2.10); the server's v5 Server Keep Alive replaces the client's.
pub fn effective_keep_alive(client_secs: u16, server_override: Option<u16>) -> Option<Duration> {
    match server_override.unwrap_or(client_secs) {
        0 => None,
        secs => Some(Duration::from_secs(u64::from(secs))),
    }
}

/// How long the server waits for a control packet before closing: one and a
/// half times the keep-alive (3.1.1 §3.1.2.10, 5.0 §3.1.2.10).
pub fn server_grace(keep_alive: Duration) -> Duration {
    keep_alive + keep_alive / 2
}

/// Where the codes below come from.
pub const SOURCE_V311: &str =
    "MQTT 3.1.1 §3.2.2.3 Table 3.1, https://docs.oasis-open.org/mqtt/mqtt/v3.1.1/os/mqtt-v3.1.1-os.html (read 2026-12-06)";
pub const SOURCE_V5: &str =
    "MQTT 5.0 §2.4 Table 2-6, https://docs.oasis-open.org/mqtt/mqtt/v5.0/os/mqtt-v5.0-os.html (read 2026-12-06)";

/// CONNACK return codes of MQTT 3.1.1.
pub const CONNACK_RETURN_CODES_V311: &[(u8, &str, &str)] = &[
    (
        0x00,
        "Connection Accepted",
        "the server accepted the connection",
    ),
    (
        0x01,
        "Unacceptable protocol version",
        "the server does not support the MQTT protocol level the client asked for",
    ),
    (
        0x02,
        "Identifier rejected",
        "the client identifier is valid UTF-8 but the server does not allow it",
    ),
    (
        0x03,
        "Server unavailable",
        "the network connection was made but the MQTT service is unavailable",
    ),
    (
        0x04,
        "Bad user name or password",
        "the user name or password is malformed",
    ),
    (
        0x05,
        "Not authorized",
        "the client is not authorized to connect",
    ),
];

/// Reason codes of MQTT 5.0 that CONNACK and DISCONNECT carry.
pub const REASON_CODES_V5: &[(u8, &str, &str)] = &[
    (0x00, "Success / Normal disconnection", "accepted (CONNACK) or closed normally, no will published (DISCONNECT)"),
    (0x04, "Disconnect with Will Message", "the client disconnects but wants its will published"),
    (0x80, "Unspecified error", "the server does not wish to reveal the reason, or none of the other codes apply"),
    (0x81, "Malformed Packet", "data in a packet could not be parsed correctly"),
    (0x82, "Protocol Error", "a packet arrived out of order or with contents the protocol forbids"),
    (0x83, "Implementation specific error", "the packet is valid but the server does not accept it"),
    (0x84, "Unsupported Protocol Version", "the server does not support the MQTT version the client asked for"),
    (0x85, "Client Identifier not valid", "the client identifier is valid UTF-8 but the server does not allow it"),
    (0x86, "Bad User Name or Password", "the server refuses the user name or password"),
    (0x87, "Not authorized", "the client is not authorized"),
    (0x88, "Server unavailable", "the MQTT server is not available"),
    (0x89, "Server busy", "the server is busy; try again later"),
    (0x8A, "Banned", "this client has been banned by administrative action"),
    (0x8B, "Server shutting down", "the server is shutting down"),
    (0x8C, "Bad authentication method", "the authentication method is not supported or does not match the one in use"),
    (0x8D, "Keep Alive timeout", "the server received no packet for 1.5 times the keep-alive: the client's PINGREQ did not arrive in time"),
    (0x8E, "Session taken over", "another connection using the same client id connected"),
    (0x8F, "Topic Filter invalid", "a topic filter is correctly formed but not accepted"),
    (0x90, "Topic Name invalid", "a topic name is correctly formed but not accepted"),
    (0x93, "Receive Maximum exceeded", "more QoS>0 publications in flight than the Receive Maximum allows"),
    (0x94, "Topic Alias invalid", "a topic alias is out of range"),
    (0x95, "Packet too large", "a packet exceeded the maximum packet size"),
    (0x96, "Message rate too high", "the received data rate is too high"),
    (0x97, "Quota exceeded", "an implementation or administrative limit was exceeded"),
    (0x98, "Administrative action", "the connection was closed by administrative action"),
    (0x99, "Payload format invalid", "the payload does not match its payload format indicator"),
    (0x9A, "Retain not supported", "the server does not support retained messages"),
    (0x9B, "QoS not supported", "a QoS greater than Maximum QoS was used"),
    (0x9C, "Use another server", "the client should temporarily use another server (see Server Reference)"),
    (0x9D, "Server moved", "the client should permanently use another server (see Server Reference)"),
    (0x9E, "Shared Subscriptions not supported", "the server does not support shared subscriptions"),
    (0x9F, "Connection rate exceeded", "the connection rate limit was exceeded"),
    (0xA0, "Maximum connect time", "the maximum connection time authorized for this connection was exceeded"),
    (0xA1, "Subscription Identifiers not supported", "the server does not support subscription identifiers"),
    (0xA2, "Wildcard Subscriptions not supported", "the server does not support wildcard subscriptions"),
];

/// The name and meaning of a CONNACK code or a v5 DISCONNECT reason code.
pub fn describe(version: Version, code: u8) -> Option<(&'static str, &'static str)> {
    let table = match version {
        Version::V311 => CONNACK_RETURN_CODES_V311,
        Version::V5 => REASON_CODES_V5,
    };
    table
        .iter()
        .find(|(known, _, _)| *known == code)
        .map(|(_, name, meaning)| (*name, *meaning))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_v311_matches_the_spec_layout() {
        // 3.1.1 §3.1.2 Figure 3.6/3.7: "MQTT", level 4, flags, keep-alive.
        let bytes = encode_connect(&Connect {
            version: Version::V311,
            client_id: "wsd".into(),
            keep_alive: 60,
            clean_start: true,
            username: None,
            password: None,
        });
        assert_eq!(
            bytes,
            [0x10, 15, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 3, b'w', b's', b'd']
        );
    }

    #[test]
    fn connect_v5_carries_an_empty_property_list() {
        let bytes = encode_connect(&Connect {
            version: Version::V5,
            client_id: String::new(),
            keep_alive: 10,
            clean_start: true,
            username: None,
            password: None,
        });
        assert_eq!(
            bytes,
            [0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x02, 0, 10, 0, 0, 0]
        );
    }

    #[test]
    fn connect_with_a_login_sets_both_flags_and_appends_both_fields() {
        // 3.1.1 §3.1.2.8/9 flags 0x80 | 0x40; payload: id, user, password.
        let connect = Connect {
            version: Version::V5,
            client_id: "c".into(),
            keep_alive: 5,
            clean_start: true,
            username: Some("al".into()),
            password: Some("pw".into()),
        };
        let bytes = encode_connect(&connect);
        assert_eq!(
            bytes,
            [
                0x10, 22, 0, 4, b'M', b'Q', b'T', b'T', 5, 0xC2, 0, 5, 0, 0, 1, b'c', 0, 2, b'a',
                b'l', 0, 2, b'p', b'w'
            ]
        );
        assert!(!format!("{connect:?}").contains("pw"));
        // A password without a user name is not sent (3.1.1 §3.1.2.9).
        let bytes = encode_connect(&Connect {
            username: None,
            ..connect
        });
        assert_eq!(bytes[9], 0x02);
        assert!(!bytes.ends_with(b"pw"));
    }

    #[test]
    fn varint_examples_from_the_spec() {
        // 5.0 §1.5.5 Table 1-1 boundaries.
        for (value, encoded) in [
            (0usize, vec![0x00]),
            (127, vec![0x7F]),
            (128, vec![0x80, 0x01]),
            (16_383, vec![0xFF, 0x7F]),
            (16_384, vec![0x80, 0x80, 0x01]),
            (2_097_151, vec![0xFF, 0xFF, 0x7F]),
            (2_097_152, vec![0x80, 0x80, 0x80, 0x01]),
            (268_435_455, vec![0xFF, 0xFF, 0xFF, 0x7F]),
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(out, encoded, "{value}");
            assert_eq!(read_varint(&encoded), Ok(Some((value, encoded.len()))));
        }
        assert_eq!(
            read_varint(&[0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
            Err(MqttError::BadRemainingLength)
        );
        assert_eq!(read_varint(&[0x80]), Ok(None));
    }

    #[test]
    fn connack_codes_both_versions() {
        let mut v3 = Decoder::new(Version::V311);
        assert_eq!(
            v3.push(&[0x20, 2, 0x01, 0x05]),
            Ok(vec![Packet::ConnAck(ConnAck {
                session_present: true,
                code: 5,
                ..ConnAck::default()
            })])
        );
        let mut v5 = Decoder::new(Version::V5);
        // session not present, success, properties: Server Keep Alive 20,
        // Reason String "ok", Topic Alias Maximum 10, User Property ("a","b").
        let body = [
            0x00, 0x00, 18, 0x13, 0, 20, 0x1F, 0, 2, b'o', b'k', 0x22, 0, 10, 0x26, 0, 1, b'a', 0,
            1, b'b',
        ];
        let mut bytes = vec![0x20, body.len() as u8];
        bytes.extend_from_slice(&body);
        assert_eq!(
            v5.push(&bytes),
            Ok(vec![Packet::ConnAck(ConnAck {
                server_keep_alive: Some(20),
                reason_string: Some("ok".into()),
                ..ConnAck::default()
            })])
        );
    }

    #[test]
    fn packets_split_and_joined_across_messages() {
        let mut decoder = Decoder::new(Version::V5);
        assert_eq!(decoder.push(&[0xD0]), Ok(vec![]));
        assert_eq!(
            decoder.push(&[0x00, 0xD0, 0x00, 0x30]),
            Ok(vec![Packet::PingResp, Packet::PingResp])
        );
        // a PUBLISH of 3 bytes, cut after its length
        assert_eq!(decoder.push(&[0x03, 0, 1]), Ok(vec![]));
        assert_eq!(
            decoder.push(&[b't', 0xE0, 0x00]),
            Ok(vec![
                Packet::Other { packet_type: 3 },
                Packet::Disconnect(Disconnect::default())
            ])
        );
    }

    #[test]
    fn v5_disconnect_reason_and_string() {
        let mut decoder = Decoder::new(Version::V5);
        let bytes = [0xE0, 9, 0x8D, 7, 0x1F, 0, 4, b'i', b'd', b'l', b'e'];
        assert_eq!(
            decoder.push(&bytes),
            Ok(vec![Packet::Disconnect(Disconnect {
                reason_code: 0x8D,
                reason_string: Some("idle".into()),
                server_reference: None
            })])
        );
        assert_eq!(
            describe(Version::V5, 0x8D).map(|(name, _)| name),
            Some("Keep Alive timeout")
        );
    }

    #[test]
    fn hostile_input_is_an_error_not_a_panic() {
        let mut decoder = Decoder::new(Version::V5);
        assert!(matches!(
            decoder.push(&[0x20, 0xFF, 0xFF, 0xFF, 0x7F]),
            Err(MqttError::TooLarge(_))
        ));
        let mut decoder = Decoder::new(Version::V5);
        // property length claims more than the packet holds
        assert!(decoder.push(&[0x20, 3, 0, 0, 9]).is_err());
        let mut decoder = Decoder::new(Version::V5);
        // unknown property id
        assert!(decoder.push(&[0x20, 5, 0, 0, 2, 0x7F, 0]).is_err());
        let mut decoder = Decoder::new(Version::V5);
        // CONNACK without its code
        assert!(decoder.push(&[0x20, 1, 0]).is_err());
        // string property that runs past its list
        let mut decoder = Decoder::new(Version::V5);
        assert!(decoder.push(&[0xE0, 5, 0x80, 3, 0x1F, 0, 9]).is_err());
    }

    #[test]
    fn keep_alive_rules() {
        assert_eq!(
            effective_keep_alive(60, None),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            effective_keep_alive(60, Some(20)),
            Some(Duration::from_secs(20))
        );
        assert_eq!(effective_keep_alive(60, Some(0)), None);
        assert_eq!(
            server_grace(Duration::from_secs(60)),
            Duration::from_secs(90)
        );
        assert_eq!(encode_disconnect(Version::V5, 0), [0xE0, 0]);
        assert_eq!(encode_disconnect(Version::V5, 0x04), [0xE0, 2, 0x04, 0]);
    }
}
