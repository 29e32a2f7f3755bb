//! Which of a server's messages carry the application's data, as opposed
//! to the protocol's own control traffic (heartbeats, acks, welcomes): what
//! `flow` counts when a protocol is spoken, since a Socket.IO server's
//! pings every pingInterval would otherwise hide a handler that stopped
//! sending events. Each rule is the protocol's own message type for
//! delivered data, from the specs each protocol module cites.

use crate::AppProtocol;

/// True when `message` (text when `text`) from the server carries
/// application data in `protocol`.
pub(crate) fn is_application_data(protocol: AppProtocol, message: &[u8], text: bool) -> bool {
    if matches!(protocol, AppProtocol::Mqtt | AppProtocol::Mqtt5) {
        // PUBLISH is packet type 3 (MQTT 3.1.1 §2.2.1, 5.0 §2.1.2).
        return !text && message.first().is_some_and(|b| b >> 4 == 3);
    }
    if !text {
        // Socket.IO's binary attachments, or anything else binary: data.
        return true;
    }
    let text = String::from_utf8_lossy(message);
    match protocol {
        // Engine.IO message (4) with a Socket.IO EVENT (2), ACK (3),
        // BINARY_EVENT (5) or BINARY_ACK (6); `42/chat,[…]` too.
        AppProtocol::SocketIo => {
            let mut chars = text.chars();
            chars.next() == Some('4') && matches!(chars.next(), Some('2' | '3' | '5' | '6'))
        }
        AppProtocol::GraphqlTransportWs => {
            json_type(&text).is_some_and(|t| matches!(t.as_str(), "next" | "error" | "complete"))
        }
        AppProtocol::GraphqlWs => {
            json_type(&text).is_some_and(|t| matches!(t.as_str(), "data" | "error" | "complete"))
        }
        // Records end with 0x1E; Invocation 1, StreamItem 2, Completion 3,
        // StreamInvocation 4 are data; Ping 6 and Close 7 are not.
        AppProtocol::SignalR => text.split('\u{1e}').any(|record| {
            serde_json::from_str::<serde_json::Value>(record)
                .ok()
                .and_then(|v| v.get("type").and_then(serde_json::Value::as_u64))
                .is_some_and(|t| (1..=4).contains(&t))
        }),
        // V2 arrays [join_ref, ref, topic, event, payload]: a push on a
        // channel topic; the heartbeat's topic is `phoenix`, and phx_*
        // events are the channel's own control.
        AppProtocol::Phoenix => serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| {
                let topic = v.get(2)?.as_str()?.to_owned();
                let event = v.get(3)?.as_str()?.to_owned();
                Some(topic != "phoenix" && !event.starts_with("phx_"))
            })
            .unwrap_or(false),
        // Broadcasts have a `message` and no `type` (welcome, ping,
        // confirm_subscription and disconnect all have one).
        AppProtocol::ActionCable => serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .is_some_and(|v| v.get("message").is_some() && v.get("type").is_none()),
        // A MESSAGE frame; a heart-beat is a bare end of line.
        AppProtocol::Stomp => text.trim_start_matches(['\r', '\n']).starts_with("MESSAGE"),
        AppProtocol::Mqtt | AppProtocol::Mqtt5 => false,
    }
}

fn json_type(text: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()?
        .get("type")?
        .as_str()
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use AppProtocol::*;

    #[test]
    fn data_and_control_per_protocol() {
        let table: &[(AppProtocol, &str, bool)] = &[
            (SocketIo, r#"42["tick",1]"#, true),
            (SocketIo, r#"42/chat,["tick",1]"#, true),
            (SocketIo, "2", false),
            (SocketIo, r#"40{"sid":"x"}"#, false),
            (SocketIo, r#"0{"sid":"x","pingInterval":1}"#, false),
            (
                GraphqlTransportWs,
                r#"{"id":"1","type":"next","payload":{}}"#,
                true,
            ),
            (GraphqlTransportWs, r#"{"type":"ping"}"#, false),
            (GraphqlTransportWs, r#"{"type":"connection_ack"}"#, false),
            (GraphqlWs, r#"{"id":"1","type":"data","payload":{}}"#, true),
            (GraphqlWs, r#"{"type":"ka"}"#, false),
            (
                SignalR,
                "{\"type\":1,\"target\":\"tick\",\"arguments\":[]}\u{1e}",
                true,
            ),
            (SignalR, "{\"type\":6}\u{1e}", false),
            (SignalR, "{}\u{1e}", false),
            (Phoenix, r#"[null,null,"room:1","tick",{}]"#, true),
            (
                Phoenix,
                r#"[null,"5","phoenix","phx_reply",{"status":"ok"}]"#,
                false,
            ),
            (
                ActionCable,
                r#"{"identifier":"{}","message":{"n":1}}"#,
                true,
            ),
            (ActionCable, r#"{"type":"ping","message":1}"#, false),
            (ActionCable, r#"{"type":"welcome"}"#, false),
            (Stomp, "MESSAGE\ndestination:/t\n\nhi\0", true),
            (Stomp, "\n", false),
            (Stomp, "CONNECTED\nversion:1.2\n\n\0", false),
        ];
        for (protocol, message, data) in table {
            assert_eq!(
                is_application_data(*protocol, message.as_bytes(), true),
                *data,
                "{protocol}: {message}"
            );
        }
        assert!(is_application_data(Mqtt, &[0x30, 0x02, 0, 0], false));
        assert!(!is_application_data(Mqtt, &[0xD0, 0x00], false));
    }
}
