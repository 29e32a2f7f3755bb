//! Rails Action Cable, `actioncable-v1-json`.
//!
//! Hand-written on serde_json: every server message is a small JSON object
//! with a `type`; there is no Rust crate for it.
//!
//! Sources (read 2026-12-06):
//! - rails/rails actioncable/lib/action_cable.rb (`INTERNAL`: message types,
//!   disconnect reasons, default mount path `/cable`, protocols),
//!   actioncable/lib/action_cable/server/connections.rb (`BEAT_INTERVAL` 3 s),
//!   actioncable/lib/action_cable/connection/base.rb (`close(reason:, reconnect:)`).
//! - actioncable/app/javascript/action_cable/connection_monitor.js
//!   (`staleThreshold` 6 s: the client reconnects after two missed pings) and
//!   connection.js (no `reconnect` when `reconnect: false`).

use std::time::Duration;

use serde_json::Value;

/// Subprotocols the JS client offers, in order.
pub const SUBPROTOCOLS: [&str; 2] = ["actioncable-v1-json", "actioncable-unsupported"];
/// The default mount path.
pub const DEFAULT_PATH: &str = "/cable";
/// The server sends `ping` this often.
pub const SERVER_PING_INTERVAL: Duration = Duration::from_secs(3);
/// The JS client's ConnectionMonitor calls the connection stale after this.
pub const CLIENT_STALE_THRESHOLD: Duration = Duration::from_secs(6);

/// What went wrong reading a server message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionCableError {
    #[error("Action Cable message is not a JSON object: {0}")]
    NotJson(String),
}

/// One message from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMessage {
    Welcome,
    /// `message` is the server's Unix time in seconds.
    Ping {
        server_time: Option<i64>,
    },
    /// `reconnect` absent means the JS client reconnects (it only stops on `false`).
    Disconnect {
        reason: Option<String>,
        reconnect: Option<bool>,
    },
    ConfirmSubscription {
        identifier: String,
    },
    RejectSubscription {
        identifier: String,
    },
    /// A broadcast: no `type`, an `identifier` and a `message`.
    Broadcast {
        identifier: String,
    },
    Unknown {
        message_type: String,
    },
}

impl ServerMessage {
    pub fn decode(text: &str) -> Result<Self, ActionCableError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|error| ActionCableError::NotJson(error.to_string()))?;
        let Value::Object(object) = value else {
            return Err(ActionCableError::NotJson("not an object".into()));
        };
        let identifier = || {
            object
                .get("identifier")
                .map(|value| {
                    value
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_owned)
                })
                .unwrap_or_default()
        };
        let Some(message_type) = object.get("type").and_then(Value::as_str) else {
            return Ok(ServerMessage::Broadcast {
                identifier: identifier(),
            });
        };
        Ok(match message_type {
            "welcome" => ServerMessage::Welcome,
            "ping" => ServerMessage::Ping {
                server_time: object.get("message").and_then(Value::as_i64),
            },
            "disconnect" => ServerMessage::Disconnect {
                reason: object
                    .get("reason")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                reconnect: object.get("reconnect").and_then(Value::as_bool),
            },
            "confirm_subscription" => ServerMessage::ConfirmSubscription {
                identifier: identifier(),
            },
            "reject_subscription" => ServerMessage::RejectSubscription {
                identifier: identifier(),
            },
            other => ServerMessage::Unknown {
                message_type: other.to_owned(),
            },
        })
    }
}

/// The client's `subscribe` command for a channel identifier (a JSON text,
/// e.g. `{"channel":"ChatChannel"}`), as the JS client sends it.
pub fn subscribe(identifier: &str) -> String {
    serde_json::json!({ "command": "subscribe", "identifier": identifier }).to_string()
}

/// Where the disconnect reasons' meaning comes from.
pub const SOURCE: &str = "Action Cable: rails/rails actioncable/lib/action_cable.rb INTERNAL[:disconnect_reasons], connection/base.rb and app/javascript/action_cable/connection_monitor.js (read 2026-12-06)";

/// `disconnect` reasons the Rails server sends.
pub const DISCONNECT_REASONS: &[(&str, &str)] = &[
    ("unauthorized", "the application's Connection#connect rejected the client (reject_unauthorized_connection); reconnect is false"),
    ("invalid_request", "the request was not a valid WebSocket upgrade or its origin is not allowed (allowed_request_origins)"),
    ("server_restart", "the server is restarting (ActionCable.server.restart); the client reconnects"),
    ("remote", "the application disconnected this connection by its identifier (ActionCable.server.remote_connections.where(…).disconnect)"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_transcript_as_rails_sends_it() {
        // connection/base.rb send_welcome_message, server/connections.rb beat,
        // subscriptions and close(reason:, reconnect:).
        assert_eq!(
            ServerMessage::decode(r#"{"type":"welcome"}"#),
            Ok(ServerMessage::Welcome)
        );
        assert_eq!(
            ServerMessage::decode(r#"{"type":"ping","message":1733400000}"#),
            Ok(ServerMessage::Ping {
                server_time: Some(1_733_400_000)
            })
        );
        assert_eq!(
            ServerMessage::decode(
                r#"{"identifier":"{\"channel\":\"ChatChannel\"}","type":"confirm_subscription"}"#
            ),
            Ok(ServerMessage::ConfirmSubscription {
                identifier: r#"{"channel":"ChatChannel"}"#.into()
            })
        );
        assert_eq!(
            ServerMessage::decode(
                r#"{"identifier":"{\"channel\":\"X\"}","type":"reject_subscription"}"#
            ),
            Ok(ServerMessage::RejectSubscription {
                identifier: r#"{"channel":"X"}"#.into()
            })
        );
        assert_eq!(
            ServerMessage::decode(
                r#"{"type":"disconnect","reason":"unauthorized","reconnect":false}"#
            ),
            Ok(ServerMessage::Disconnect {
                reason: Some("unauthorized".into()),
                reconnect: Some(false)
            })
        );
        assert_eq!(
            ServerMessage::decode(
                r#"{"identifier":"{\"channel\":\"ChatChannel\"}","message":{"body":"hi"}}"#
            ),
            Ok(ServerMessage::Broadcast {
                identifier: r#"{"channel":"ChatChannel"}"#.into()
            })
        );
    }

    #[test]
    fn subscribe_command_and_bad_input() {
        assert_eq!(
            subscribe(r#"{"channel":"ChatChannel"}"#),
            r#"{"command":"subscribe","identifier":"{\"channel\":\"ChatChannel\"}"}"#
        );
        assert!(ServerMessage::decode("[1]").is_err());
        assert!(ServerMessage::decode("").is_err());
        assert_eq!(
            ServerMessage::decode(r#"{"type":"confirm"}"#),
            Ok(ServerMessage::Unknown {
                message_type: "confirm".into()
            })
        );
    }
}
