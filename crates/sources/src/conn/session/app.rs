//! The session's side of the application-protocol hook: the protocol
//! ([`wsdoctor_app::AppSession`]) sees every complete data message and
//! gets its timer ticks; what it wants sent goes out as ordinary frames,
//! recorded like any other. Kept out of `session.rs`, which only calls in
//! from three places (a message, the next timeout, a timer tick).

use std::time::Instant;

use websocket_sans_io::Opcode;
use wsdoctor_app::{AppSession, Outgoing};
use wsdoctor_evidence::{AppRecord, FrameKind, Side};

use super::{CloseState, Session};

impl Session {
    /// Speaks (or, with `--app raw`, only watches) an application protocol
    /// on this connection, from `now` (the 101): its first messages are
    /// queued at once. Call before the first [`Session::handle_data`].
    pub fn use_app(&mut self, mut app: AppSession, now: Instant) {
        app.start(now);
        self.app = Some(Box::new(app));
        self.flush_app(now);
    }

    /// The application protocol's evidence, once (the session keeps
    /// nothing of it afterwards).
    pub fn take_app_record(&mut self) -> Option<AppRecord> {
        self.app.take().map(|app| app.into_record())
    }

    /// The protocol's harmless keepalive message, when one is spoken.
    pub fn app_keepalive(&self) -> Option<Outgoing> {
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
            match message {
                Outgoing::Text(text) => self.send_message(now, &text),
                Outgoing::Binary(data) => {
                    if self.end.is_some() || self.close != CloseState::Open {
                        return;
                    }
                    let len = data.len();
                    self.queue_frame(Opcode::Binary, data);
                    self.record(now, Side::Local, FrameKind::Binary { len });
                }
            }
        }
    }
}
