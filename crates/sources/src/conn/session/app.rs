//! An application protocol of `wsdoctor-app` as the session's
//! [`AppLayer`]: the wire crate defines the hook and knows no protocol;
//! this adapter is the only place the two meet.

use std::time::Instant;

use wsdoctor_app::{AppSession, Outgoing};
use wsdoctor_evidence::AppRecord;
use wsdoctor_wire::session::{AppLayer, AppMessage};

/// `app` ready for [`wsdoctor_wire::session::Session::use_app`].
pub fn app_layer(app: AppSession) -> Box<dyn AppLayer> {
    Box::new(AppAdapter(app))
}

/// The newtype the orphan rule asks for: neither the trait nor the
/// protocol session is this crate's.
#[derive(Debug)]
struct AppAdapter(AppSession);

fn to_wire(message: Outgoing) -> AppMessage {
    match message {
        Outgoing::Text(text) => AppMessage::Text(text),
        Outgoing::Binary(data) => AppMessage::Binary(data),
    }
}

impl AppLayer for AppAdapter {
    fn start(&mut self, now: Instant) {
        self.0.start(now);
    }
    fn handle_text(&mut self, now: Instant, text: &str) {
        self.0.handle_text(now, text);
    }
    fn handle_binary(&mut self, now: Instant, data: &[u8]) {
        self.0.handle_binary(now, data);
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.0.poll_timeout()
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.0.handle_timeout(now);
    }
    fn poll_transmit(&mut self) -> Option<AppMessage> {
        self.0.poll_transmit().map(to_wire)
    }
    fn keepalive(&self) -> Option<AppMessage> {
        self.0.keepalive().map(to_wire)
    }
    fn record(&self) -> &AppRecord {
        self.0.record()
    }
    fn application_data(&self) -> Option<(u64, Option<Instant>)> {
        self.0.application_data()
    }
    fn into_record(self: Box<Self>) -> AppRecord {
        self.0.into_record()
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

    use crate::conn::session::{app_layer, Session, SessionConfig};

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
            login: None,
        };
        let mut session = Session::new(SessionConfig::default(), t0, t0);
        session.use_app(app_layer(AppSession::new(&plan, start, t0)), t0);
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
            login: None,
        };
        let config = SessionConfig {
            messages: vec!["wsdoctor keepalive".to_owned(); 3],
            send_every: Duration::from_secs(1),
            app_keepalive: true,
            ..SessionConfig::default()
        };
        let mut s = Session::new(config, t0, t0);
        s.use_app(app_layer(AppSession::new(&plan, start, t0)), t0);
        let opening = frames(&mut s);
        assert!(opening.iter().all(|(op, _)| *op == 0x2), "{opening:?}");
        s.handle_timeout(t0 + Duration::from_secs(1));
        let tick = frames(&mut s);
        assert!(tick.contains(&(0x2, vec![0xC0, 0x00])), "{tick:?}");
        assert!(!tick.iter().any(|(op, _)| *op == 0x1), "{tick:?}");
    }
}
