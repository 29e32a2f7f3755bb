//! The server half of GraphQL over WebSocket, as far as a client needs to
//! hold its connection: `connection_ack` to `connection_init`, `pong` to
//! `ping` (graphql-transport-ws), and nothing for subscriptions (they stay
//! open, never completed, which is what keeps a lazy client connected).
//! Specs: graphql-ws's `PROTOCOL.md` and subscriptions-transport-ws's
//! `PROTOCOL.md` (read 2026-12-06).

use std::time::Instant;

use wsdoctor_evidence::AppEventKind;

use crate::protocol::{Ctx, Outgoing, Protocol};

/// Which of the two subprotocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    /// `graphql-transport-ws` (the graphql-ws library).
    TransportWs,
    /// `graphql-ws` (subscriptions-transport-ws).
    Legacy,
}

pub(super) fn start(dialect: Dialect) -> Box<dyn Protocol> {
    Box::new(GraphqlServer { dialect })
}

#[derive(Debug)]
struct GraphqlServer {
    dialect: Dialect,
}

impl Protocol for GraphqlServer {
    fn start(&mut self, _now: Instant, cx: &mut Ctx) {
        cx.set_version(match self.dialect {
            Dialect::TransportWs => "graphql-transport-ws",
            Dialect::Legacy => "graphql-ws",
        });
    }

    fn on_text(&mut self, now: Instant, text: &str, cx: &mut Ctx) {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(text) else {
            return;
        };
        match message.get("type").and_then(serde_json::Value::as_str) {
            Some("connection_init") => {
                cx.send(Outgoing::Text(r#"{"type":"connection_ack"}"#.to_owned()));
                cx.event(
                    now,
                    AppEventKind::InitAcked {
                        what: "the client's connection_init acknowledged".to_owned(),
                    },
                );
            }
            Some("ping") if self.dialect == Dialect::TransportWs => {
                let answered = cx.send(Outgoing::Text(r#"{"type":"pong"}"#.to_owned()));
                cx.server_heartbeat(now, answered);
            }
            _ => {}
        }
    }

    fn keepalive(&self) -> Option<Outgoing> {
        None
    }
}
