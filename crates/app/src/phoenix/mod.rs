//! Phoenix Channels as phoenix.js behaves by default: the V2 JSON
//! serializer (`/socket/websocket?vsn=2.0.0`), a `heartbeat` on the
//! `phoenix` topic every 30 s (`heartbeatIntervalMs`), the socket closed and
//! reconnected when a heartbeat is still unanswered at the next one. The
//! server closes a socket it heard nothing from for its websocket
//! `:timeout` (60 s). No channel is joined: the socket's heartbeat needs none.
//!
//! Sources: see [`codec`].

pub mod codec;

use std::time::Instant;

use wsdoctor_evidence::{AppEventKind, AppTimers, Side};

use crate::protocol::{ms_between, Ctx, Outgoing, Protocol, StartContext};
use crate::{AppProtocol, Spec};

use codec::Message;

/// Phoenix's spec.
pub(crate) static SPEC: Spec = Spec {
    protocol: AppProtocol::Phoenix,
    title: "Phoenix Channels",
    // `/live/websocket` is LiveView's socket, the same protocol.
    path_markers: &["/socket/websocket", "/live/websocket"],
    subprotocols: &[],
    // The server never speaks first.
    sniff: |_| false,
    prepare_url: |url| *url = codec::websocket_url(url),
    start,
    // Phoenix closes with plain WebSocket codes; channel errors and closes
    // are events (`phx_error`, `phx_close`).
    close_codes: &[],
};

fn start(_: &StartContext) -> Box<dyn Protocol> {
    Box::new(Phoenix {
        next_ref: 0,
        pending: None,
        next_beat: None,
    })
}

#[derive(Debug)]
struct Phoenix {
    next_ref: u64,
    /// The heartbeat awaiting its `phx_reply`: its ref and when it went.
    pending: Option<(String, Instant)>,
    next_beat: Option<Instant>,
}

impl Protocol for Phoenix {
    fn start(&mut self, now: Instant, cx: &mut Ctx) {
        cx.set_version("V2 JSON serializer (vsn 2.0.0)");
        cx.set_timers(AppTimers {
            // The heartbeat is the protocol's own message, not a ping frame.
            websocket_pings: false,
            pinger: Side::Local,
            interval_ms: ms(codec::CLIENT_HEARTBEAT),
            timeout_ms: ms(codec::SERVER_TIMEOUT),
            interval_setting: "heartbeatIntervalMs".to_owned(),
            timeout_setting: "websocket: [timeout: …]".to_owned(),
            announced: false,
            source: "phoenix.js and Phoenix.Endpoint defaults (the protocol announces no timers)"
                .to_owned(),
        });
        // phoenix.js sends its first heartbeat one interval after opening.
        if cx.speaks() {
            self.next_beat = Some(now + codec::CLIENT_HEARTBEAT);
        }
    }

    fn on_text(&mut self, now: Instant, text: &str, cx: &mut Ctx) {
        let message = match Message::decode(text) {
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
        if let Some((beat_ref, sent)) = &self.pending {
            if message.answers_heartbeat(beat_ref) {
                let rtt_us = u64::try_from(now.saturating_duration_since(*sent).as_micros())
                    .unwrap_or(u64::MAX);
                cx.event(now, AppEventKind::HeartbeatAck { rtt_us });
                self.pending = None;
                return;
            }
        }
        match message.event.as_str() {
            codec::EVENT_ERROR => cx.event(
                now,
                AppEventKind::Error {
                    message: format!(
                        "phx_error on {}: the channel process crashed",
                        message.topic
                    ),
                },
            ),
            codec::EVENT_CLOSE => cx.event(
                now,
                AppEventKind::Disconnect {
                    by: Side::Remote,
                    reason: format!(
                        "phx_close on {}: the server closed the channel",
                        message.topic
                    ),
                },
            ),
            _ => {}
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next_beat
    }

    fn handle_timeout(&mut self, now: Instant, cx: &mut Ctx) {
        let Some(due) = self.next_beat else { return };
        if now < due {
            return;
        }
        if let Some((_, sent)) = self.pending.take() {
            // phoenix.js would close here ("heartbeat timeout") and reconnect.
            cx.event(
                now,
                AppEventKind::Overdue {
                    what:
                        "phx_reply to the heartbeat (phoenix.js closes with \"heartbeat timeout\")"
                            .to_owned(),
                    waited_ms: ms_between(sent, now),
                },
            );
        }
        self.next_ref += 1;
        let beat_ref = self.next_ref.to_string();
        if cx.send(Outgoing::Text(Message::heartbeat(&beat_ref).encode())) {
            self.pending = Some((beat_ref, now));
            cx.event(now, AppEventKind::ClientHeartbeat);
        }
        self.next_beat = Some(now + codec::CLIENT_HEARTBEAT);
    }

    fn keepalive(&self) -> Option<Outgoing> {
        // A heartbeat with a ref of its own: the server replies and does
        // nothing else; the reply matches no pending heartbeat.
        Some(Outgoing::Text(
            Message::heartbeat("wsdoctor-keepalive").encode(),
        ))
    }
}

fn ms(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
