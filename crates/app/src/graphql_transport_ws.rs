//! GraphQL over WebSocket, subprotocol `graphql-transport-ws`, as the
//! `graphql-ws` library's client behaves by default: `connection_init` at
//! once, `pong` to every `ping`. Its server's heartbeat is WebSocket ping
//! frames (`useServer`'s `keepAlive`, 12 s), answered by the WebSocket
//! session below; its `connectionInitWaitTimeout` (3 s) closes with 4408.
//! Spec: <https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md>
//! (read 2026-12-06); defaults from graphql-ws 6.4.2's `src/server.ts`
//! and `src/use/ws.ts`.

use std::time::Instant;

use wsdoctor_evidence::{AppEventKind, AppTimers, Side};

use crate::protocol::{Ctx, Outgoing, Protocol, StartContext};
use crate::{AppProtocol, CloseCodeFact, Spec};

const PROTOCOL_MD: &str = "https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md";
const COMMON_TS: &str = "https://github.com/enisdenjo/graphql-ws/blob/master/src/common.ts";
const CLIENT_TS: &str = "https://github.com/enisdenjo/graphql-ws/blob/master/src/client.ts";
const READ: &str = "2026-12-06";

/// graphql-transport-ws's spec.
pub(crate) static SPEC: Spec = Spec {
    protocol: AppProtocol::GraphqlTransportWs,
    title: "GraphQL over WebSocket (graphql-transport-ws)",
    path_markers: &[],
    subprotocols: &["graphql-transport-ws"],
    // The server never speaks first.
    sniff: |_| false,
    prepare_url: |_| {},
    start: |_: &StartContext| Box::new(GraphqlTransportWs),
    close_codes: &CLOSE_CODES,
};

static CLOSE_CODES: [CloseCodeFact; 9] = [
    CloseCodeFact {
        code: 4400,
        name: "BadRequest",
        meaning: "the server received a message it could not parse or did not expect (an invalid message, or a second connection_init in some servers)",
        cause: "protocol-error",
        fix: "send only the protocol's messages (connection_init, subscribe, complete, ping, pong) as JSON text",
        source: PROTOCOL_MD,
        read: READ,
    },
    CloseCodeFact {
        code: 4401,
        name: "Unauthorized",
        meaning: "the client subscribed before the server acknowledged connection_init",
        cause: "protocol-error",
        fix: "wait for connection_ack before sending subscribe",
        source: PROTOCOL_MD,
        read: READ,
    },
    CloseCodeFact {
        code: 4403,
        name: "Forbidden",
        meaning: "the server's onConnect refused the connection_init (authentication or authorisation in its payload)",
        cause: "upgrade-rejected",
        fix: "send the credentials the server's onConnect expects in connection_init's payload",
        source: PROTOCOL_MD,
        read: READ,
    },
    CloseCodeFact {
        code: 4406,
        name: "SubprotocolNotAcceptable",
        meaning: "the client did not offer the graphql-transport-ws subprotocol (or offered only one the server does not speak)",
        cause: "upgrade-rejected",
        fix: "offer Sec-WebSocket-Protocol: graphql-transport-ws (wsdoctor: --app graphql-transport-ws); a subscriptions-transport-ws client needs a server that speaks graphql-ws",
        source: PROTOCOL_MD,
        read: READ,
    },
    CloseCodeFact {
        code: 4408,
        name: "ConnectionInitialisationTimeout",
        meaning: "the client did not send connection_init within the server's connectionInitWaitTimeout (3 s by default)",
        cause: "app-init-timeout",
        fix: "send connection_init at once after the WebSocket opens (every graphql-ws client does); if the client is slow to build its payload, raise the server's connectionInitWaitTimeout",
        source: PROTOCOL_MD,
        read: READ,
    },
    CloseCodeFact {
        code: 4409,
        name: "SubscriberAlreadyExists",
        meaning: "the client started a subscription with an id that is already running",
        cause: "protocol-error",
        fix: "use a unique id per subscribe message",
        source: PROTOCOL_MD,
        read: READ,
    },
    CloseCodeFact {
        code: 4429,
        name: "TooManyInitialisationRequests",
        meaning: "the client sent connection_init more than once",
        cause: "protocol-error",
        fix: "send connection_init once per connection",
        source: PROTOCOL_MD,
        read: READ,
    },
    CloseCodeFact {
        code: 4499,
        name: "Terminated",
        meaning: "the graphql-ws client terminated the connection itself (client.terminate(), typically because the socket froze); not sent by servers",
        cause: "server-close",
        fix: "look at why the client called terminate(); the client's retry policy reconnects after it",
        source: CLIENT_TS,
        read: READ,
    },
    CloseCodeFact {
        code: 4500,
        name: "InternalServerError",
        meaning: "the server's handler threw while processing a message (its onConnect, context or schema execution)",
        cause: "server-error",
        fix: "read the server's logs for the exception at the time of the close",
        source: COMMON_TS,
        read: READ,
    },
];

#[derive(Debug)]
struct GraphqlTransportWs;

impl Protocol for GraphqlTransportWs {
    fn start(&mut self, now: Instant, cx: &mut Ctx) {
        cx.set_timers(AppTimers {
            pinger: Side::Remote,
            interval_ms: 12_000,
            timeout_ms: 12_000,
            interval_setting: "keepAlive (graphql-ws useServer: WebSocket pings)".to_owned(),
            timeout_setting: "keepAlive (the pong wait equals it)".to_owned(),
            announced: false,
            source: "graphql-ws useServer's default (the protocol announces no timers)".to_owned(),
            websocket_pings: true,
        });
        let init = r#"{"type":"connection_init"}"#;
        cx.send_init(now, Outgoing::Text(init.to_owned()), init.to_owned());
    }

    fn on_text(&mut self, now: Instant, text: &str, cx: &mut Ctx) {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(text) else {
            return;
        };
        match message.get("type").and_then(|t| t.as_str()) {
            Some("connection_ack") => cx.event(
                now,
                AppEventKind::InitAcked {
                    what: "connection_ack".to_owned(),
                },
            ),
            Some("ping") => {
                let answered = cx.send(Outgoing::Text(r#"{"type":"pong"}"#.to_owned()));
                cx.server_heartbeat(now, answered);
            }
            Some("error") => cx.event(
                now,
                AppEventKind::Error {
                    message: message
                        .get("payload")
                        .map(|p| p.to_string().chars().take(200).collect())
                        .unwrap_or_default(),
                },
            ),
            _ => {}
        }
    }

    fn keepalive(&self) -> Option<Outgoing> {
        // The protocol's own ping: the server answers pong and nothing else.
        Some(Outgoing::Text(r#"{"type":"ping"}"#.to_owned()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{plan, AppChoice, AppSession};

    #[test]
    fn inits_and_answers_protocol_pings() {
        let t0 = Instant::now();
        let mut url = url::Url::parse("ws://h/graphql").unwrap();
        let mut offered = Vec::new();
        let plan = plan(AppChoice::Auto, &mut url, &mut offered).unwrap();
        let start = StartContext {
            query: String::new(),
            subprotocol: Some("graphql-transport-ws".to_owned()),
            login: None,
        };
        let mut s = AppSession::new(&plan, start, t0);
        s.start(t0);
        assert_eq!(
            s.poll_transmit(),
            Some(Outgoing::Text(r#"{"type":"connection_init"}"#.to_owned()))
        );
        s.handle_text(t0, r#"{"type":"connection_ack"}"#);
        s.handle_text(t0, r#"{"type":"ping"}"#);
        assert_eq!(
            s.poll_transmit(),
            Some(Outgoing::Text(r#"{"type":"pong"}"#.to_owned()))
        );
        s.handle_text(t0, "not json");
        let r = s.into_record();
        assert!(r.init_acked());
        assert!(r
            .decided_by
            .contains("the server chose the subprotocol graphql-transport-ws"));
        assert_eq!(r.server_heartbeats, 1);
    }
}
