//! ASP.NET Core SignalR: the JSON hub protocol and the negotiate step.
//!
//! Hand-written on serde_json: no crate speaks the hub protocol without an
//! async client of its own, and the doctor only needs the handshake, ping,
//! close and the message types' names.
//!
//! Sources (read 2026-12-06):
//! - Hub protocol: dotnet/aspnetcore src/SignalR/docs/specs/HubProtocol.md
//!   (record separator 0x1E, handshake, message types 1–9, Close's `error`
//!   and `allowReconnect`).
//! - Negotiate: dotnet/aspnetcore src/SignalR/docs/specs/TransportProtocols.md
//!   (`POST [endpoint-base]/negotiate?negotiateVersion=1`, `connectionToken`,
//!   `?id=`; redirect with `url`/`accessToken`; `error`).
//! - Defaults: @microsoft/signalr HubConnection.ts (`keepAliveIntervalInMilliseconds`
//!   15000, `serverTimeoutInMilliseconds` 30000); server HubOptions
//!   (`KeepAliveInterval` 15 s, `ClientTimeoutInterval` 30 s, `HandshakeTimeout` 15 s).

use std::time::Duration;

use serde_json::Value;

/// Every JSON hub message ends with this byte.
pub const RECORD_SEPARATOR: char = '\u{1e}';
/// The client pings the server this often when it sent nothing else.
pub const CLIENT_KEEP_ALIVE: Duration = Duration::from_secs(15);
/// The client gives up on a server it heard nothing from for this long.
pub const CLIENT_SERVER_TIMEOUT: Duration = Duration::from_secs(30);
/// The server pings this often (`HubOptions.KeepAliveInterval`).
pub const SERVER_KEEP_ALIVE: Duration = Duration::from_secs(15);
/// The server drops a client it heard nothing from for this long (`ClientTimeoutInterval`).
pub const SERVER_CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// The server drops a client that sent no handshake in this time (`HandshakeTimeout`).
pub const SERVER_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

/// The client's first message: JSON protocol, version 1.
pub fn handshake_request() -> String {
    format!("{{\"protocol\":\"json\",\"version\":1}}{RECORD_SEPARATOR}")
}

/// A ping (type 6).
pub fn ping() -> String {
    format!("{{\"type\":6}}{RECORD_SEPARATOR}")
}

/// A close (type 7) from the client, as @microsoft/signalr's `stop()` sends none:
/// kept for `reconnect --listen`, which plays the server.
pub fn close(error: Option<&str>, allow_reconnect: bool) -> String {
    let mut message = serde_json::json!({ "type": 7 });
    if let Some(error) = error {
        message["error"] = Value::from(error);
    }
    if allow_reconnect {
        message["allowReconnect"] = Value::from(true);
    }
    format!("{message}{RECORD_SEPARATOR}")
}

/// What went wrong reading a server message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalrError {
    #[error("SignalR message does not end with the 0x1E record separator")]
    Unterminated,
    #[error("SignalR record is not a JSON object: {0}")]
    NotJson(String),
}

/// One message from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubMessage {
    /// The handshake answer `{}` (possibly with a `minorVersion`).
    HandshakeOk,
    /// The handshake answer `{"error":"…"}`.
    HandshakeError(String),
    Invocation {
        target: String,
    },
    StreamItem,
    Completion,
    StreamInvocation,
    CancelInvocation,
    Ping,
    Close {
        error: Option<String>,
        allow_reconnect: bool,
    },
    Ack,
    Sequence,
    Unknown {
        message_type: i64,
    },
}

/// Reads the server's text messages; the first record is the handshake answer.
#[derive(Debug, Default)]
pub struct Decoder {
    handshake_done: bool,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes one WebSocket text message, which may hold several records
    /// (each ending in 0x1E; HubProtocol.md §Overview).
    pub fn decode(&mut self, text: &str) -> Result<Vec<HubMessage>, SignalrError> {
        let Some(body) = text.strip_suffix(RECORD_SEPARATOR) else {
            return Err(SignalrError::Unterminated);
        };
        body.split(RECORD_SEPARATOR)
            .map(|record| {
                let value: Value = serde_json::from_str(record)
                    .map_err(|error| SignalrError::NotJson(error.to_string()))?;
                let Value::Object(object) = value else {
                    return Err(SignalrError::NotJson("not an object".into()));
                };
                if !self.handshake_done {
                    self.handshake_done = true;
                    if let Some(error) = object.get("error") {
                        return Ok(HubMessage::HandshakeError(text_of(error)));
                    }
                    if !object.contains_key("type") {
                        return Ok(HubMessage::HandshakeOk);
                    }
                }
                Ok(classify(&object))
            })
            .collect()
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn classify(object: &serde_json::Map<String, Value>) -> HubMessage {
    let message_type = object.get("type").and_then(Value::as_i64).unwrap_or(0);
    match message_type {
        1 => HubMessage::Invocation {
            target: object.get("target").map(text_of).unwrap_or_default(),
        },
        2 => HubMessage::StreamItem,
        3 => HubMessage::Completion,
        4 => HubMessage::StreamInvocation,
        5 => HubMessage::CancelInvocation,
        6 => HubMessage::Ping,
        7 => HubMessage::Close {
            error: object
                .get("error")
                .filter(|value| !value.is_null())
                .map(text_of),
            allow_reconnect: object
                .get("allowReconnect")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        },
        8 => HubMessage::Ack,
        9 => HubMessage::Sequence,
        other => HubMessage::Unknown {
            message_type: other,
        },
    }
}

/// What the negotiate POST answered (TransportProtocols.md §`POST [endpoint-base]/negotiate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Negotiated {
    /// Connect the WebSocket with `?id=<token>`.
    Connect { id: String, websocket_offered: bool },
    /// Azure SignalR and friends: go to another URL with a bearer token.
    Redirect { url: String, has_access_token: bool },
    /// The server refused: `{"error":"…"}`.
    Error(String),
}

/// `POST …/negotiate?negotiateVersion=1` for a hub URL (http(s) or ws(s)).
pub fn negotiate_url(hub: &url::Url) -> url::Url {
    let mut negotiate = hub.clone();
    let scheme = match hub.scheme() {
        "ws" => "http",
        "wss" => "https",
        other => other,
    };
    // Only ws↔http and wss↔https are swapped, which `set_scheme` always allows.
    let _ = negotiate.set_scheme(scheme);
    let path = format!("{}/negotiate", hub.path().trim_end_matches('/'));
    negotiate.set_path(&path);
    let kept: Vec<(String, String)> = hub
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    negotiate
        .query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("negotiateVersion", "1");
    negotiate
}

/// Reads the negotiate body. Version 1 answers carry `connectionToken`
/// (used as `id`); version 0 servers only `connectionId`.
pub fn parse_negotiate(body: &str) -> Result<Negotiated, SignalrError> {
    let value: Value =
        serde_json::from_str(body).map_err(|error| SignalrError::NotJson(error.to_string()))?;
    if let Some(error) = value.get("error") {
        return Ok(Negotiated::Error(text_of(error)));
    }
    if let Some(url) = value.get("url").and_then(Value::as_str) {
        return Ok(Negotiated::Redirect {
            url: url.to_owned(),
            has_access_token: value.get("accessToken").is_some(),
        });
    }
    let id = value
        .get("connectionToken")
        .or_else(|| value.get("connectionId"))
        .and_then(Value::as_str)
        .ok_or_else(|| SignalrError::NotJson("negotiate answer has no connectionToken".into()))?;
    let websocket_offered = value
        .get("availableTransports")
        .and_then(Value::as_array)
        .is_some_and(|transports| {
            transports.iter().any(|transport| {
                transport.get("transport").and_then(Value::as_str) == Some("WebSockets")
            })
        });
    Ok(Negotiated::Connect {
        id: id.to_owned(),
        websocket_offered,
    })
}

/// The WebSocket URL after negotiate: the hub URL with `id=<token>`.
pub fn websocket_url(hub: &url::Url, id: &str) -> url::Url {
    let mut ws = hub.clone();
    let scheme = match hub.scheme() {
        "http" => "ws",
        "https" => "wss",
        other => other,
    };
    let _ = ws.set_scheme(scheme);
    ws.query_pairs_mut().append_pair("id", id);
    ws
}

/// Where the close message's meaning comes from.
pub const SOURCE: &str = "ASP.NET Core SignalR HubProtocol.md §Close and TransportProtocols.md, dotnet/aspnetcore src/SignalR/docs/specs (read 2026-12-06)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_and_ping_bytes() {
        assert_eq!(
            handshake_request(),
            "{\"protocol\":\"json\",\"version\":1}\u{1e}"
        );
        assert_eq!(ping(), "{\"type\":6}\u{1e}");
        let closing = close(Some("boom"), true);
        let mut decoder = Decoder {
            handshake_done: true,
        };
        assert_eq!(
            decoder.decode(&closing),
            Ok(vec![HubMessage::Close {
                error: Some("boom".into()),
                allow_reconnect: true
            }])
        );
    }

    #[test]
    fn transcript_from_the_hub_protocol_spec() {
        // HubProtocol.md: handshake answer, then an invocation and a ping in
        // one frame, then a close with an error.
        let mut decoder = Decoder::new();
        assert_eq!(
            decoder.decode("{}\u{1e}"),
            Ok(vec![HubMessage::HandshakeOk])
        );
        assert_eq!(
            decoder.decode(
                "{\"type\":1,\"target\":\"Send\",\"arguments\":[42]}\u{1e}{\"type\":6}\u{1e}"
            ),
            Ok(vec![
                HubMessage::Invocation {
                    target: "Send".into()
                },
                HubMessage::Ping
            ])
        );
        assert_eq!(
            decoder.decode("{\"type\":7,\"error\":\"Connection closed with an error.\",\"allowReconnect\":true}\u{1e}"),
            Ok(vec![HubMessage::Close {
                error: Some("Connection closed with an error.".into()),
                allow_reconnect: true
            }])
        );
        assert_eq!(
            decoder.decode("{\"type\":7}\u{1e}"),
            Ok(vec![HubMessage::Close {
                error: None,
                allow_reconnect: false
            }])
        );
    }

    #[test]
    fn handshake_error_and_handshake_with_a_message_in_the_same_frame() {
        let mut decoder = Decoder::new();
        assert_eq!(
            decoder
                .decode("{\"error\":\"Requested protocol 'messagepack' is not available.\"}\u{1e}"),
            Ok(vec![HubMessage::HandshakeError(
                "Requested protocol 'messagepack' is not available.".into()
            )])
        );
        let mut decoder = Decoder::new();
        assert_eq!(
            decoder.decode("{\"minorVersion\":1}\u{1e}{\"type\":6}\u{1e}"),
            Ok(vec![HubMessage::HandshakeOk, HubMessage::Ping])
        );
    }

    #[test]
    fn bad_records_are_errors() {
        let mut decoder = Decoder::new();
        assert_eq!(decoder.decode("{}"), Err(SignalrError::Unterminated));
        assert!(decoder.decode("nope\u{1e}").is_err());
        assert!(decoder.decode("[1]\u{1e}").is_err());
    }

    #[test]
    fn negotiate_round_trip_from_the_transport_spec() {
        let hub = url::Url::parse("wss://example.test/chathub?access_token=x")
            .unwrap_or_else(|_| unreachable!());
        assert_eq!(
            negotiate_url(&hub).as_str(),
            "https://example.test/chathub/negotiate?access_token=x&negotiateVersion=1"
        );
        // TransportProtocols.md, version 1 answer
        let body = r#"{"connectionToken":"05265228-1e2c-46c5-82a1-6a5bcc3f0143","connectionId":"807809a5-31bf-470d-9e23-afaee35d8a0d","negotiateVersion":1,"availableTransports":[{"transport":"WebSockets","transferFormats":["Text","Binary"]},{"transport":"LongPolling","transferFormats":["Text","Binary"]}]}"#;
        let Ok(Negotiated::Connect {
            id,
            websocket_offered,
        }) = parse_negotiate(body)
        else {
            panic!("not a connect answer");
        };
        assert!(websocket_offered);
        assert_eq!(id, "05265228-1e2c-46c5-82a1-6a5bcc3f0143");
        assert_eq!(
            websocket_url(&hub, &id).as_str(),
            "wss://example.test/chathub?access_token=x&id=05265228-1e2c-46c5-82a1-6a5bcc3f0143"
        );
        assert_eq!(
            parse_negotiate(r#"{"url":"https://azure.test/client/?hub=chat","accessToken":"t"}"#),
            Ok(Negotiated::Redirect {
                url: "https://azure.test/client/?hub=chat".into(),
                has_access_token: true
            })
        );
        assert_eq!(
            parse_negotiate(r#"{"error":"Not allowed"}"#),
            Ok(Negotiated::Error("Not allowed".into()))
        );
        assert!(parse_negotiate("{}").is_err());
    }
}
