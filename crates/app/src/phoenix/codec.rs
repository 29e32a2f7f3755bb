//! Phoenix Channels, V2 JSON serializer.
//!
//! Hand-written on serde_json: a message is a five-element JSON array, and
//! no crate speaks it without an async client of its own.
//!
//! Sources (read 2026-12-06):
//! - phoenixframework/phoenix lib/phoenix/socket/serializers/v2_json_serializer.ex
//!   (`[join_ref, ref, topic, event, payload]`), lib/phoenix/socket.ex (the
//!   `phoenix` topic's `heartbeat` answered with `phx_reply` `{"status":"ok"}`),
//!   lib/phoenix/endpoint.ex `socket/3` (websocket `:timeout`, 60_000 ms default).
//! - assets/js/phoenix/constants.js and socket.js (`heartbeatIntervalMs` 30000,
//!   `vsn` "2.0.0", `phx_join`/`phx_reply`/`phx_error`/`phx_close`/`phx_leave`;
//!   a heartbeat still unanswered when the next is due closes the socket with
//!   "heartbeat timeout" and reconnects).

use std::time::Duration;

use serde_json::Value;

/// The JS client's heartbeat period.
pub const CLIENT_HEARTBEAT: Duration = Duration::from_secs(30);
/// The server closes a socket it heard nothing from for this long.
pub const SERVER_TIMEOUT: Duration = Duration::from_secs(60);
/// The serializer version the client asks for in the query.
pub const VSN: &str = "2.0.0";
/// The path the transport is mounted under (`/socket` + `/websocket`).
pub const WEBSOCKET_SUFFIX: &str = "/websocket";

pub const TOPIC_PHOENIX: &str = "phoenix";
pub const EVENT_HEARTBEAT: &str = "heartbeat";
pub const EVENT_JOIN: &str = "phx_join";
pub const EVENT_REPLY: &str = "phx_reply";
pub const EVENT_ERROR: &str = "phx_error";
pub const EVENT_CLOSE: &str = "phx_close";

/// What went wrong reading a server message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoenixError {
    #[error("Phoenix message is not a V2 JSON array [join_ref, ref, topic, event, payload]: {0}")]
    NotV2(String),
}

/// One message in either direction.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub join_ref: Option<String>,
    pub msg_ref: Option<String>,
    pub topic: String,
    pub event: String,
    pub payload: Value,
}

impl Message {
    /// The client's heartbeat with the given ref.
    pub fn heartbeat(msg_ref: &str) -> Self {
        Self {
            join_ref: None,
            msg_ref: Some(msg_ref.to_owned()),
            topic: TOPIC_PHOENIX.to_owned(),
            event: EVENT_HEARTBEAT.to_owned(),
            payload: Value::Object(serde_json::Map::new()),
        }
    }

    pub fn encode(&self) -> String {
        Value::Array(vec![
            self.join_ref.clone().map_or(Value::Null, Value::String),
            self.msg_ref.clone().map_or(Value::Null, Value::String),
            Value::String(self.topic.clone()),
            Value::String(self.event.clone()),
            self.payload.clone(),
        ])
        .to_string()
    }

    pub fn decode(text: &str) -> Result<Self, PhoenixError> {
        let value: Value =
            serde_json::from_str(text).map_err(|error| PhoenixError::NotV2(error.to_string()))?;
        let Value::Array(mut parts) = value else {
            return Err(PhoenixError::NotV2("not an array".into()));
        };
        if parts.len() != 5 {
            return Err(PhoenixError::NotV2(format!("{} elements", parts.len())));
        }
        let payload = parts.pop().unwrap_or(Value::Null);
        let text_or_null = |value: &Value, what: &str| match value {
            Value::Null => Ok(None),
            Value::String(text) => Ok(Some(text.clone())),
            // Refs are strings in the JS client; some clients send numbers.
            Value::Number(number) => Ok(Some(number.to_string())),
            _ => Err(PhoenixError::NotV2(format!(
                "{what} is neither a string nor null"
            ))),
        };
        let string = |value: &Value, what: &str| {
            value
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| PhoenixError::NotV2(format!("{what} is not a string")))
        };
        Ok(Self {
            join_ref: text_or_null(&parts[0], "join_ref")?,
            msg_ref: text_or_null(&parts[1], "ref")?,
            topic: string(&parts[2], "topic")?,
            event: string(&parts[3], "event")?,
            payload,
        })
    }

    /// `phx_reply`'s `status` ("ok", "error", "timeout").
    pub fn reply_status(&self) -> Option<&str> {
        if self.event != EVENT_REPLY {
            return None;
        }
        self.payload.get("status").and_then(Value::as_str)
    }

    /// Whether this answers the heartbeat with `msg_ref`.
    pub fn answers_heartbeat(&self, msg_ref: &str) -> bool {
        self.topic == TOPIC_PHOENIX
            && self.event == EVENT_REPLY
            && self.msg_ref.as_deref() == Some(msg_ref)
    }
}

/// The WebSocket URL for a socket mount (`/socket` → `/socket/websocket?vsn=2.0.0`).
/// A URL already ending in `/websocket` keeps its path.
pub fn websocket_url(mount: &url::Url) -> url::Url {
    let mut ws = mount.clone();
    if !mount
        .path()
        .trim_end_matches('/')
        .ends_with(WEBSOCKET_SUFFIX)
    {
        let path = format!("{}{WEBSOCKET_SUFFIX}", mount.path().trim_end_matches('/'));
        ws.set_path(&path);
    }
    if !mount.query_pairs().any(|(name, _)| name == "vsn") {
        ws.query_pairs_mut().append_pair("vsn", VSN);
    }
    ws
}

/// Where events' meaning comes from.
pub const SOURCE: &str = "Phoenix Channels: phoenixframework/phoenix lib/phoenix/socket.ex, lib/phoenix/channel.ex and assets/js/phoenix/socket.js (read 2026-12-06)";

/// The protocol's own events and what they mean.
pub const EVENTS: &[(&str, &str)] = &[
    (EVENT_REPLY, "the server's answer to a push (join, heartbeat, message), with status ok, error or timeout"),
    (EVENT_ERROR, "the channel process on the server crashed; the client rejoins it"),
    (EVENT_CLOSE, "the server closed the channel (the channel process stopped normally or left)"),
    ("heartbeat timeout", "the JS client closes the socket when a heartbeat is still unanswered at the next one (every heartbeatIntervalMs, 30 s by default)"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_encodes_like_the_js_client() {
        // socket.js sendHeartbeat: push({topic: "phoenix", event: "heartbeat", payload: {}, ref})
        assert_eq!(
            Message::heartbeat("7").encode(),
            r#"[null,"7","phoenix","heartbeat",{}]"#
        );
    }

    #[test]
    fn transcript_from_the_serializer_tests() {
        // As in phoenix test/phoenix/socket/v2_json_serializer_test.exs and
        // the JS client's serializer tests: a join, its reply, a broadcast.
        let join = Message::decode(r#"["1","1","room:lobby","phx_join",{}]"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (join.join_ref.as_deref(), join.event.as_str()),
            (Some("1"), EVENT_JOIN)
        );
        let reply =
            Message::decode(r#"["1","1","room:lobby","phx_reply",{"status":"ok","response":{}}]"#)
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(reply.reply_status(), Some("ok"));
        let beat =
            Message::decode(r#"[null,"7","phoenix","phx_reply",{"status":"ok","response":{}}]"#)
                .unwrap_or_else(|e| panic!("{e}"));
        assert!(beat.answers_heartbeat("7"));
        assert!(!beat.answers_heartbeat("8"));
        let broadcast = Message::decode(r#"[null,null,"room:lobby","new_msg",{"body":"hi"}]"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (broadcast.msg_ref.as_deref(), broadcast.reply_status()),
            (None, None)
        );
        let error = Message::decode(r#"["1","1","room:lobby","phx_error",{}]"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(error.event, EVENT_ERROR);
    }

    #[test]
    fn strings_from_phoenix_v2_json_serializer_test() {
        // phoenixframework/phoenix test/phoenix/socket/v2_json_serializer_test.exs
        // (read 2026-12-06): @v2_msg_json and the encoded Reply, whose status
        // may be null.
        let msg =
            Message::decode("[null,null,\"t\",\"e\",{\"m\":1}]").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(msg.encode(), "[null,null,\"t\",\"e\",{\"m\":1}]");
        let reply = Message::decode(
            "[null,null,\"t\",\"phx_reply\",{\"response\":{\"m\":1},\"status\":null}]",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (reply.event.as_str(), reply.reply_status()),
            (EVENT_REPLY, None)
        );
    }

    #[test]
    fn not_v2_is_an_error() {
        assert!(Message::decode(r#"{"topic":"phoenix"}"#).is_err()); // V1 object serializer
        assert!(Message::decode(r#"[null,null,"t","e"]"#).is_err());
        assert!(Message::decode(r#"[null,null,1,"e",{}]"#).is_err());
        assert!(Message::decode("not json").is_err());
        assert!(Message::decode(r#"[[],null,"t","e",{}]"#).is_err());
    }

    #[test]
    fn websocket_url_for_a_mount() {
        let parse = |text: &str| url::Url::parse(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            websocket_url(&parse("ws://h/socket")).as_str(),
            "ws://h/socket/websocket?vsn=2.0.0"
        );
        assert_eq!(
            websocket_url(&parse("ws://h/socket/websocket?token=a")).as_str(),
            "ws://h/socket/websocket?token=a&vsn=2.0.0"
        );
        assert_eq!(
            websocket_url(&parse("ws://h/socket/websocket?vsn=1.0.0")).as_str(),
            "ws://h/socket/websocket?vsn=1.0.0"
        );
    }
}
