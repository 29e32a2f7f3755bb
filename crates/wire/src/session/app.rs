//! The session's side of the application-protocol hook. An application
//! protocol (Socket.IO, GraphQL over WebSocket, MQTT, …: `wsdoctor-app`)
//! is a further sans-IO layer on top of the session, never inside it: the
//! session hands it every complete data message and its timer ticks
//! through [`AppLayer`], and sends what it queues as ordinary frames,
//! recorded like any other. Kept out of `session.rs`, which only calls in
//! from three places (a message, the next timeout, a timer tick).

use std::time::Instant;

use websocket_sans_io::Opcode;
use wsdoctor_evidence::{AppRecord, FrameKind, Side};

use super::{CloseState, Session};

/// A message an application protocol wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppMessage {
    /// A text message.
    Text(String),
    /// A binary message (MQTT's packets are binary).
    Binary(Vec<u8>),
}

/// An application protocol as the session drives it: sans-IO like the
/// session itself (time is an argument; what it wants sent is polled).
pub trait AppLayer: Send + Sync + std::fmt::Debug {
    /// The connection is open at `now` (the 101): queue the opening.
    fn start(&mut self, now: Instant);
    /// A complete text message from the peer (its kept bytes).
    fn handle_text(&mut self, now: Instant, text: &str);
    /// A complete binary message from the peer (its kept bytes).
    fn handle_binary(&mut self, now: Instant, data: &[u8]);
    /// When the protocol's next timer is due.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Fires the protocol's timers due at `now`.
    fn handle_timeout(&mut self, now: Instant);
    /// The next message the protocol wants sent.
    fn poll_transmit(&mut self) -> Option<AppMessage>;
    /// The protocol's harmless keepalive message, if it has one.
    fn keepalive(&self) -> Option<AppMessage>;
    /// What the protocol saw so far, as evidence.
    fn record(&self) -> &AppRecord;
    /// How many of the peer's messages carried application data (not the
    /// protocol's heartbeats or acks) and when the last came; `None` until
    /// the protocol is decided.
    fn application_data(&self) -> Option<(u64, Option<Instant>)>;
    /// What the protocol saw, as evidence.
    fn into_record(self: Box<Self>) -> AppRecord;
}

impl Session {
    /// Speaks (or, with `--app raw`, only watches) an application protocol
    /// on this connection, from `now` (the 101): its first messages are
    /// queued at once. Call before the first [`Session::handle_data`].
    pub fn use_app(&mut self, mut app: Box<dyn AppLayer>, now: Instant) {
        app.start(now);
        self.app = Some(Box::new(app));
        self.flush_app(now);
    }

    /// The application protocol's evidence, once (the session keeps
    /// nothing of it afterwards).
    pub fn take_app_record(&mut self) -> Option<AppRecord> {
        self.app.take().map(|app| (*app).into_record())
    }

    /// The application protocol's evidence so far, without taking it.
    pub fn app_record(&self) -> Option<&AppRecord> {
        self.app.as_ref().map(|app| app.record())
    }

    /// With a protocol decided: how many of the peer's messages carried
    /// application data (not the protocol's heartbeats or acks) and when
    /// the last came. `None` without one.
    pub fn app_data_in(&self) -> Option<(u64, Option<Instant>)> {
        self.app.as_ref().and_then(|app| app.application_data())
    }

    /// The protocol's harmless keepalive message, when one is spoken.
    pub fn app_keepalive(&self) -> Option<AppMessage> {
        self.app.as_ref().and_then(|app| app.keepalive())
    }

    /// A complete data message from the peer (its kept bytes).
    pub(super) fn app_on_message(&mut self, now: Instant, kept: &[u8], text: bool) {
        let Some(app) = &mut self.app else { return };
        if text {
            app.handle_text(now, &String::from_utf8_lossy(kept));
        } else {
            app.handle_binary(now, kept);
        }
        self.flush_app(now);
    }

    /// When the protocol's next timer is due.
    pub(super) fn app_timeout(&self) -> Option<Instant> {
        self.app.as_ref().and_then(|app| app.poll_timeout())
    }

    /// Fires the protocol's timers due at `now`.
    pub(super) fn app_handle_timeout(&mut self, now: Instant) {
        if let Some(app) = &mut self.app {
            app.handle_timeout(now);
        }
        self.flush_app(now);
    }

    fn flush_app(&mut self, now: Instant) {
        let Some(app) = &mut self.app else { return };
        let mut out = Vec::new();
        while let Some(message) = app.poll_transmit() {
            out.push(message);
        }
        for message in out {
            self.send_app(now, message);
        }
    }

    /// Sends one of the protocol's messages, text or binary.
    pub(super) fn send_app(&mut self, now: Instant, message: AppMessage) {
        match message {
            AppMessage::Text(text) => self.send_message(now, &text),
            AppMessage::Binary(data) => {
                if self.end.is_some() || self.b().close != CloseState::Open {
                    return;
                }
                let len = data.len();
                self.queue_frame(Opcode::Binary, data);
                self.record(now, Side::Local, FrameKind::Binary { len });
            }
        }
    }
}
