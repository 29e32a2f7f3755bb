//! The legacy GraphQL subprotocol `graphql-ws` of Apollo's
//! subscriptions-transport-ws: `connection_init` (with a payload) at once,
//! `connection_ack` or `connection_error` back, and `ka` keep-alives when
//! the server's `keepAlive` option is set (none by default). The client's
//! `timeout` (30 s) closes when `ka` stop once they started.
//! Spec: <https://github.com/apollographql/subscriptions-transport-ws/blob/master/PROTOCOL.md>
//! (read 2026-12-06), subscriptions-transport-ws 0.11.0.

use std::time::Instant;

use wsdoctor_evidence::{AppEventKind, AppTimers, Side};

use crate::protocol::{ms_between, Ctx, Outgoing, Protocol, StartContext};
use crate::{AppProtocol, Spec};

/// graphql-ws's spec.
pub(crate) static SPEC: Spec = Spec {
    protocol: AppProtocol::GraphqlWs,
    title: "GraphQL over WebSocket (legacy graphql-ws)",
    path_markers: &[],
    subprotocols: &["graphql-ws"],
    sniff: |_| false,
    prepare_url: |_| {},
    start: |_: &StartContext| Box::new(GraphqlWs { last_ka: None }),
    // It closes with 1011 after connection_error; no codes of its own.
    close_codes: &[],
};

/// The client's default `timeout` for `ka` (SubscriptionClient, `WS_TIMEOUT`).
const CLIENT_KA_TIMEOUT_MS: u64 = 30_000;

#[derive(Debug)]
struct GraphqlWs {
    last_ka: Option<Instant>,
}

impl Protocol for GraphqlWs {
    fn start(&mut self, now: Instant, cx: &mut Ctx) {
        let init = r#"{"type":"connection_init","payload":{}}"#;
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
            Some("ka") => {
                // Nothing to answer: a ka is the whole heartbeat.
                cx.server_heartbeat(now, true);
                if let Some(previous) = self.last_ka.replace(now) {
                    let measured = ms_between(previous, now);
                    if cx.timers().is_none() {
                        cx.set_timers(AppTimers {
                            pinger: Side::Remote,
                            interval_ms: measured,
                            timeout_ms: CLIENT_KA_TIMEOUT_MS,
                            interval_setting: "keepAlive (SubscriptionServer option)".to_owned(),
                            timeout_setting: "timeout (SubscriptionClient option)".to_owned(),
                            announced: false,
                            source: "the interval measured between the server's ka messages; the timeout is SubscriptionClient's default".to_owned(),
                            websocket_pings: false,
                        });
                    }
                }
            }
            Some("connection_error") => cx.event(
                now,
                AppEventKind::Error {
                    message: format!(
                        "connection_error: {}",
                        message
                            .get("payload")
                            .map(|p| p.to_string().chars().take(200).collect::<String>())
                            .unwrap_or_default()
                    ),
                },
            ),
            _ => {}
        }
    }

    fn keepalive(&self) -> Option<Outgoing> {
        // The protocol has no client message without effects: an unknown
        // type gets an error back.
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{plan, AppChoice, AppSession};

    #[test]
    fn inits_and_measures_ka() {
        let t0 = Instant::now();
        let mut url = url::Url::parse("ws://h/graphql").unwrap();
        let mut offered = Vec::new();
        let plan = plan("graphql-ws".parse().unwrap(), &mut url, &mut offered).unwrap();
        assert_eq!(offered, ["graphql-ws"]);
        let mut s = AppSession::new(&plan, StartContext::default(), t0);
        s.start(t0);
        assert!(s.poll_transmit().is_some());
        s.handle_text(t0, r#"{"type":"connection_ack"}"#);
        s.handle_text(t0, r#"{"type":"ka"}"#);
        s.handle_text(t0 + Duration::from_secs(2), r#"{"type":"ka"}"#);
        s.handle_text(
            t0,
            r#"{"type":"connection_error","payload":{"message":"no"}}"#,
        );
        assert!(s.keepalive().is_none());
        let r = s.into_record();
        assert_eq!(r.timers.unwrap().interval_ms, 2000);
        assert_eq!(r.server_heartbeats, 2);
        assert_eq!(plan.choice, AppChoice::Use(AppProtocol::GraphqlWs));
    }
}
