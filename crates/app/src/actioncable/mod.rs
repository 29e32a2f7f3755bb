//! Rails Action Cable as its JS client behaves by default: subprotocols
//! `actioncable-v1-json`, `actioncable-unsupported`; the server greets with
//! `welcome` and pings every 3 s (`BEAT_INTERVAL`, not configurable); the
//! client answers nothing and calls the connection stale after 6 s without a
//! ping (ConnectionMonitor `staleThreshold`), then reconnects. `disconnect`
//! carries the server's `reason` and whether the client may `reconnect`.
//!
//! Sources: see [`codec`].

pub mod codec;

use std::time::Instant;

use wsdoctor_evidence::{AppEventKind, AppTimers, Side};

use crate::protocol::{ms_between, Ctx, Outgoing, Protocol, StartContext};
use crate::{AppProtocol, Spec};

use codec::ServerMessage;

/// Action Cable's spec.
pub(crate) static SPEC: Spec = Spec {
    protocol: AppProtocol::ActionCable,
    title: "Rails Action Cable",
    path_markers: &[codec::DEFAULT_PATH],
    subprotocols: &codec::SUBPROTOCOLS,
    sniff: |first| matches!(ServerMessage::decode(first), Ok(ServerMessage::Welcome)),
    prepare_url: |_| {},
    start,
    // Action Cable closes with plain WebSocket codes; its reasons are
    // `disconnect` messages, recorded as events.
    close_codes: &[],
};

fn start(_: &StartContext) -> Box<dyn Protocol> {
    Box::new(ActionCable {
        last_ping: None,
        stale_told: false,
    })
}

#[derive(Debug)]
struct ActionCable {
    /// When the server's last `ping` (or `welcome`) came.
    last_ping: Option<Instant>,
    stale_told: bool,
}

impl Protocol for ActionCable {
    fn start(&mut self, now: Instant, cx: &mut Ctx) {
        cx.set_version("actioncable-v1-json");
        cx.set_timers(AppTimers {
            // The heartbeat is the protocol's own message, not a ping frame.
            websocket_pings: false,
            pinger: Side::Remote,
            interval_ms: ms(codec::SERVER_PING_INTERVAL),
            timeout_ms: ms(codec::CLIENT_STALE_THRESHOLD),
            interval_setting: "BEAT_INTERVAL".to_owned(),
            timeout_setting: "ConnectionMonitor.staleThreshold".to_owned(),
            announced: false,
            source: "Rails Action Cable's constants: the server's BEAT_INTERVAL (3 s, not configurable), the JS client's staleThreshold (6 s); the protocol announces none".to_owned(),
        });
        // Staleness counts from the open, as ConnectionMonitor's does.
        self.last_ping = Some(now);
    }

    fn on_text(&mut self, now: Instant, text: &str, cx: &mut Ctx) {
        let message = match ServerMessage::decode(text) {
            Ok(message) => message,
            Err(error) => {
                return cx.event(
                    now,
                    AppEventKind::Error {
                        message: error.to_string(),
                    },
                )
            }
        };
        match message {
            ServerMessage::Welcome => {
                self.last_ping = Some(now);
                cx.event(
                    now,
                    AppEventKind::InitAcked {
                        what: "welcome".to_owned(),
                    },
                );
            }
            ServerMessage::Ping { .. } => {
                self.last_ping = Some(now);
                self.stale_told = false;
                // Nothing to answer: the client only watches for pings.
                cx.server_heartbeat(now, true);
            }
            ServerMessage::Disconnect { reason, reconnect } => {
                let reason = reason.as_deref().unwrap_or("(no reason)");
                let meaning = codec::DISCONNECT_REASONS
                    .iter()
                    .find(|(known, _)| *known == reason)
                    .map_or("not a reason Rails sends", |(_, meaning)| *meaning);
                let reconnect = match reconnect {
                    Some(false) => "reconnect: false (the client gives up)",
                    Some(true) => "reconnect: true",
                    None => "no reconnect flag (the client reconnects)",
                };
                cx.event(
                    now,
                    AppEventKind::Disconnect {
                        by: Side::Remote,
                        reason: format!("disconnect \"{reason}\": {meaning}; {reconnect}"),
                    },
                );
            }
            ServerMessage::RejectSubscription { identifier } => cx.event(
                now,
                AppEventKind::Error {
                    message: format!("reject_subscription for {identifier}"),
                },
            ),
            ServerMessage::ConfirmSubscription { .. }
            | ServerMessage::Broadcast { .. }
            | ServerMessage::Unknown { .. } => {}
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.last_ping
            .filter(|_| !self.stale_told)
            .map(|last| last + codec::CLIENT_STALE_THRESHOLD)
    }

    fn handle_timeout(&mut self, now: Instant, cx: &mut Ctx) {
        let Some(last) = self.last_ping else { return };
        if now >= last + codec::CLIENT_STALE_THRESHOLD && !self.stale_told {
            self.stale_told = true;
            cx.event(
                now,
                AppEventKind::Overdue {
                    what: "the server's ping (the JS client reconnects after staleThreshold, 6 s)"
                        .to_owned(),
                    waited_ms: ms_between(last, now),
                },
            );
        }
    }

    fn keepalive(&self) -> Option<Outgoing> {
        // The client never sends anything on its own, and every command it
        // could send (subscribe, message) acts on the server.
        None
    }
}

fn ms(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
