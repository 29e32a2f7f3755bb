//! The application-protocol clients (`crates/app`: Socket.IO, GraphQL over
//! WebSocket, SignalR, Phoenix, Action Cable, STOMP, MQTT): whatever a
//! server sends, text or binary, in any order and at any time, and
//! whatever subprotocol and query it was opened with, a client neither
//! panics nor answers one message with more than a handful of its own.

use std::time::{Duration, Instant};

use arbitrary::Unstructured;
use wsdoctor_app::{AppChoice, AppPlan, AppProtocol, AppSession, StartContext};

/// Messages one event may make a client send: answers to the packets one
/// server message carries (an MQTT message may hold several), bounded by
/// that message's size, plus the protocol's own opening and heartbeat.
fn allowed_answers(event_len: usize) -> usize {
    8 + event_len
}

/// One protocol (or none: detection from the first message), spoken or
/// only watched (`--app raw`), fed the server messages and clock ticks the
/// input chooses.
pub(crate) fn app_messages(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let count = AppProtocol::ALL.len();
    let index = u.int_in_range(0..=count).unwrap_or(count);
    let protocol = AppProtocol::ALL.get(index).copied();
    let raw = u.arbitrary::<bool>().unwrap_or(false);
    let choice = match (raw, protocol) {
        (true, _) => AppChoice::Raw,
        (false, Some(p)) => AppChoice::Use(p),
        (false, None) => AppChoice::Auto,
    };
    let plan = AppPlan {
        choice,
        protocol,
        decided_by: "fuzz".to_owned(),
    };
    let subprotocol = u
        .arbitrary::<bool>()
        .unwrap_or(false)
        .then(|| u.arbitrary::<String>().unwrap_or_default());
    // Arbitrary logins too: STOMP puts them in CONNECT's header lines.
    let login = u
        .arbitrary::<bool>()
        .unwrap_or(false)
        .then(|| wsdoctor_app::Login {
            user: u.arbitrary::<String>().unwrap_or_default(),
            password: u.arbitrary::<Option<String>>().unwrap_or_default(),
        });
    let start = StartContext {
        query: u.arbitrary::<String>().unwrap_or_default(),
        subprotocol,
        login,
    };
    let origin = Instant::now();
    let mut now = origin;
    let mut session = AppSession::new(&plan, start, origin);
    session.start(now);
    drain(&mut session, 0);
    while !u.is_empty() {
        now += Duration::from_millis(u.int_in_range(0..=70_000u64).unwrap_or(0));
        let event_len = match u.int_in_range(0..=2u8).unwrap_or(0) {
            0 => {
                let text = u.arbitrary::<String>().unwrap_or_default();
                session.handle_text(now, &text);
                text.len()
            }
            1 => {
                let bytes = u.arbitrary::<&[u8]>().unwrap_or_default();
                session.handle_binary(now, bytes);
                bytes.len()
            }
            _ => {
                if session.poll_timeout().is_some_and(|at| at <= now) {
                    session.handle_timeout(now);
                }
                0
            }
        };
        drain(&mut session, event_len);
    }
    let _ = session.keepalive();
    let _ = session.into_record();
}

fn drain(session: &mut AppSession, event_len: usize) {
    let mut sent = 0;
    while session.poll_transmit().is_some() {
        sent += 1;
        assert!(
            sent <= allowed_answers(event_len),
            "one event of {event_len} bytes made the client send more than {} messages",
            allowed_answers(event_len)
        );
    }
}
