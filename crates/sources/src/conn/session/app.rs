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

    /// The application protocol's evidence so far, without taking it.
    pub fn app_record(&self) -> Option<&AppRecord> {
        self.app.as_ref().map(|app| app.record())
    }

    /// The protocol's harmless keepalive message, when one is spoken.
    pub fn app_keepalive(&self) -> Option<Outgoing> {
        self.app.as_ref().and_then(|app| app.keepalive())
    }

    /// With a protocol decided: how many of the peer's messages carried
    /// application data (not the protocol's heartbeats or acks) and when
    /// the last came. `None` without one.
    pub fn app_data_in(&self) -> Option<(u64, Option<Instant>)> {
        self.app.as_ref().and_then(|app| app.application_data())
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
    pub(super) fn send_app(&mut self, now: Instant, message: Outgoing) {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    //! The hook on a simulated clock: a Socket.IO server's frames in, the
    //! protocol's answers out as masked frames, its client timer ticking
    //! through the session's `poll_timeout`.

    use std::time::{Duration, Instant};

    use wsdoctor_app::{plan, AppChoice, AppSession, StartContext};

    use crate::conn::session::{Session, SessionConfig};

    /// A small unmasked text frame from the server.
    fn text(payload: &str) -> Vec<u8> {
        let mut out = vec![0x81, u8::try_from(payload.len()).unwrap()];
        out.extend_from_slice(payload.as_bytes());
        out
    }

    /// The texts of the frames we queued (clients mask).
    fn sent(session: &mut Session) -> Vec<String> {
        std::iter::from_fn(|| session.poll_transmit())
            .map(|wire| {
                let len = usize::from(wire[1] & 0x7f);
                let mask = &wire[2..6];
                let bytes: Vec<u8> = wire[6..6 + len]
                    .iter()
                    .enumerate()
                    .map(|(i, b)| b ^ mask[i % 4])
                    .collect();
                String::from_utf8_lossy(&bytes).into_owned()
            })
            .collect()
    }

    fn socketio_session(query: &str, t0: Instant) -> Session {
        let mut url = url::Url::parse(&format!("ws://h/socket.io/?{query}")).unwrap();
        let plan = plan(AppChoice::Auto, &mut url, &mut Vec::new()).unwrap();
        let start = StartContext {
            query: url.query().unwrap_or_default().to_owned(),
            subprotocol: None,
        };
        let mut session = Session::new(SessionConfig::default(), t0, t0);
        session.use_app(AppSession::new(&plan, start, t0), t0);
        session
    }

    const OPEN: &str = r#"0{"sid":"s","upgrades":[],"pingInterval":1000,"pingTimeout":500}"#;

    #[test]
    fn engine_io_v4_is_answered_through_the_session() {
        let t0 = Instant::now();
        let mut s = socketio_session("EIO=4&transport=websocket", t0);
        s.handle_data(t0, &mut text(OPEN));
        assert_eq!(sent(&mut s), ["40"]);
        s.handle_data(t0 + Duration::from_secs(1), &mut text("2"));
        assert_eq!(sent(&mut s), ["3"]);
        let record = s.take_app_record().unwrap();
        assert_eq!(record.server_heartbeats, 1);
        assert_eq!(record.protocol.as_deref(), Some("socketio"));
    }

    #[test]
    fn engine_io_v3_client_pings_come_from_the_session_timer() {
        let t0 = Instant::now();
        let mut s = socketio_session("EIO=3&transport=websocket", t0);
        s.handle_data(t0, &mut text(OPEN));
        assert!(sent(&mut s).is_empty());
        let due = s.poll_timeout().unwrap();
        assert_eq!(due, t0 + Duration::from_secs(1));
        s.handle_timeout(due);
        assert_eq!(sent(&mut s), ["2"]);
        // Closing stops the protocol's timers with the session's own.
        s.close(due, 1000, "bye");
        let _ = sent(&mut s);
        s.handle_timeout(due + Duration::from_secs(1));
        assert!(sent(&mut s).is_empty());
    }

    /// Opcode and unmasked payload of each frame we queued.
    fn frames(session: &mut Session) -> Vec<(u8, Vec<u8>)> {
        std::iter::from_fn(|| session.poll_transmit())
            .map(|wire| {
                let len = usize::from(wire[1] & 0x7f);
                let mask = &wire[2..6];
                let payload = wire[6..6 + len]
                    .iter()
                    .enumerate()
                    .map(|(i, b)| b ^ mask[i % 4])
                    .collect();
                (wire[0] & 0x0f, payload)
            })
            .collect()
    }

    #[test]
    fn a_data_arm_sends_the_protocols_own_keepalive_even_when_binary() {
        // idle's data arm against an MQTT broker: the text keepalive would
        // get the connection dropped; the protocol's PINGREQ is binary.
        let t0 = Instant::now();
        let mut url = url::Url::parse("ws://h/mqtt").unwrap();
        let mut offered = vec!["mqtt".to_owned()];
        let plan = plan(AppChoice::Auto, &mut url, &mut offered).unwrap();
        let start = StartContext {
            query: String::new(),
            subprotocol: Some("mqtt".to_owned()),
        };
        let config = SessionConfig {
            messages: vec!["wsdoctor keepalive".to_owned(); 3],
            send_every: Duration::from_secs(1),
            app_keepalive: true,
            ..SessionConfig::default()
        };
        let mut s = Session::new(config, t0, t0);
        s.use_app(AppSession::new(&plan, start, t0), t0);
        let opening = frames(&mut s);
        assert!(opening.iter().all(|(op, _)| *op == 0x2), "{opening:?}");
        s.handle_timeout(t0 + Duration::from_secs(1));
        let tick = frames(&mut s);
        assert!(tick.contains(&(0x2, vec![0xC0, 0x00])), "{tick:?}");
        assert!(!tick.iter().any(|(op, _)| *op == 0x1), "{tick:?}");
    }
}
