//! STOMP over WebSocket as @stomp/stompjs 7 behaves by default: subprotocols
//! `v12.stomp`, `v11.stomp`, `v10.stomp`; CONNECT at once with
//! `heart-beat:10000,10000`; heart-beats (an end of line, sent as a text
//! message) at the period negotiated by STOMP 1.2 §Heart-beating; the
//! connection called dead when the server sent nothing for twice its period.
//! ERROR frames carry the server's reason in their `message` header.
//!
//! A login (the context's user name and password) goes in CONNECT as the
//! `login` and `passcode` headers (§CONNECT), as stompjs's `connectHeaders`
//! sends them; an ERROR frame before CONNECTED is the broker refusing the
//! CONNECT, in practice the login, and is recorded as such.
//!
//! Sources (read 2026-12-06): <https://stomp.github.io/stomp-specification-1.2.html>,
//! @stomp/stompjs `src/stomp-handler.ts` (heart-beat setup, `heartbeatToleranceMultiplier`).

pub mod codec;

use std::time::{Duration, Instant};

use wsdoctor_evidence::{AppEventKind, AppTimers, Side};

use crate::protocol::{ms_between, Ctx, Login, Outgoing, Protocol, StartContext};
use crate::{AppProtocol, Spec};

use codec::{Decoder, Frame, HeartBeat, Incoming, Negotiated, Version};

/// STOMP's spec.
pub(crate) static SPEC: Spec = Spec {
    protocol: AppProtocol::Stomp,
    title: "STOMP",
    // stomp-broker-js and many Spring/ActiveMQ set-ups mount it at /stomp.
    path_markers: &["/stomp"],
    subprotocols: &codec::SUBPROTOCOLS,
    // The client speaks first (CONNECT).
    sniff: |_| false,
    prepare_url: |_| {},
    start,
    // STOMP closes with plain WebSocket codes; its reasons are ERROR frames,
    // recorded as events.
    close_codes: &[],
};

/// stompjs's `connectionTimeout` is off by default; the doctor still says
/// when CONNECTED is this late.
const CONNECTED_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of an ERROR body is kept.
const MAX_ERROR_BODY: usize = 200;

fn start(context: &StartContext) -> Box<dyn Protocol> {
    let version = context
        .subprotocol
        .as_deref()
        .and_then(Version::from_subprotocol)
        .unwrap_or(Version::V12);
    Box::new(Stomp {
        version,
        login: context.login.clone(),
        decoder: Decoder::new(version),
        connect_sent: None,
        connected: false,
        negotiated: None,
        last_sent: None,
        last_received: None,
        server_silence_told: false,
    })
}

#[derive(Debug)]
struct Stomp {
    version: Version,
    /// Sent in CONNECT; `Login`'s Debug hides the password.
    login: Option<Login>,
    decoder: Decoder,
    connect_sent: Option<Instant>,
    connected: bool,
    negotiated: Option<Negotiated>,
    last_sent: Option<Instant>,
    last_received: Option<Instant>,
    server_silence_told: bool,
}

impl Stomp {
    fn on_frame(&mut self, now: Instant, frame: &Frame, cx: &mut Ctx) {
        match frame.command.as_str() {
            "CONNECTED" => self.on_connected(now, frame, cx),
            "ERROR" => {
                let message = frame.header("message").unwrap_or("(no message header)");
                let body = String::from_utf8_lossy(&frame.body);
                let body: String = body.chars().take(MAX_ERROR_BODY).collect();
                // Before CONNECTED the ERROR answers CONNECT: the broker
                // refused the connection itself, in practice the login.
                let what = match (self.connected, &self.login) {
                    (true, _) => "ERROR frame",
                    (false, Some(_)) => "ERROR frame in answer to CONNECT (the broker refused the CONNECT and the login wsdoctor sent)",
                    (false, None) => "ERROR frame in answer to CONNECT (the broker refused the CONNECT; wsdoctor sent no login: give one as ws://USER@host/… with the passcode in WSDOCTOR_APP_PASSWORD)",
                };
                let said = if body.trim().is_empty() {
                    format!("{what}: {message}")
                } else {
                    format!("{what}: {message} ({})", body.trim())
                };
                cx.event(now, AppEventKind::Error { message: said });
                // §ERROR says the server MUST then close the connection, but
                // RabbitMQ 3.10's web-STOMP keeps it open (seen here for 30 s
                // after a refused CONNECT), so the close itself is left to the
                // WebSocket layer to observe.
            }
            _ => {}
        }
    }

    fn on_connected(&mut self, now: Instant, frame: &Frame, cx: &mut Ctx) {
        self.connected = true;
        if let Some(version) = frame.header("version").and_then(Version::from_header) {
            self.version = version;
            self.decoder.set_version(version);
        }
        cx.set_version(match self.version {
            Version::V12 => "STOMP 1.2",
            Version::V11 => "STOMP 1.1",
            Version::V10 => "STOMP 1.0",
        });
        let server = frame.header("heart-beat").and_then(HeartBeat::parse);
        let negotiated = codec::negotiate(codec::DEFAULT_HEART_BEAT, server);
        self.negotiated = Some(negotiated);
        let said = server.map_or_else(
            || "no heart-beat header".to_owned(),
            |hb| format!("heart-beat:{}", hb.header_value()),
        );
        cx.event(
            now,
            AppEventKind::InitAcked {
                what: format!("CONNECTED ({said})"),
            },
        );
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let timers = match (negotiated.client_sends_every, negotiated.server_sends_every) {
            (Some(client), _) => Some(AppTimers {
                // The heartbeat is the protocol's own message, not a ping frame.
                websocket_pings: false,
                pinger: Side::Local,
                interval_ms: ms(client),
                // §Heart-beating lets the server allow "some tolerance"; RabbitMQ
                // and stomp-broker-js give about one more period or a second.
                timeout_ms: ms(client * 2),
                interval_setting: "heart-beat (MAX of the client's cx and the server's sy)".to_owned(),
                timeout_setting: "the broker's heart-beat tolerance".to_owned(),
                announced: true,
                source: format!("negotiated from the client's heart-beat:10000,10000 and the server's {said} (STOMP 1.2 §Heart-beating)"),
            }),
            (None, Some(server)) => Some(AppTimers {
                // The heartbeat is the protocol's own message, not a ping frame.
                websocket_pings: false,
                pinger: Side::Remote,
                interval_ms: ms(server),
                timeout_ms: ms(server * codec::CLIENT_TOLERANCE_MULTIPLIER),
                interval_setting: "heart-beat (MAX of the server's sx and the client's cy)".to_owned(),
                timeout_setting: "heartbeatToleranceMultiplier (stompjs, 2 periods)".to_owned(),
                announced: true,
                source: format!("negotiated from the client's heart-beat:10000,10000 and the server's {said} (STOMP 1.2 §Heart-beating)"),
            }),
            (None, None) => None,
        };
        if let Some(timers) = timers {
            cx.set_timers(timers);
        }
    }

    fn server_deadline(&self) -> Option<Instant> {
        let period = self.negotiated?.server_sends_every?;
        Some(self.last_received? + period * codec::CLIENT_TOLERANCE_MULTIPLIER)
    }

    fn next_beat(&self) -> Option<Instant> {
        let period = self.negotiated?.client_sends_every?;
        Some(self.last_sent? + period)
    }
}

impl Protocol for Stomp {
    fn start(&mut self, now: Instant, cx: &mut Ctx) {
        let mut frame = codec::connect_frame(None, self.version, codec::DEFAULT_HEART_BEAT);
        if let Some(login) = &self.login {
            codec::add_login(&mut frame, &login.user, login.password.as_deref());
        }
        let text = String::from_utf8_lossy(&frame.encode(self.version)).into_owned();
        // The record names the headers, never their values.
        let with_login = match &self.login {
            Some(Login {
                password: Some(_), ..
            }) => " login passcode",
            Some(_) => " login",
            None => "",
        };
        let described = format!(
            "CONNECT accept-version:{} heart-beat:10000,10000{with_login}",
            self.version.accept_versions()
        );
        if cx.send_init(now, Outgoing::Text(text), described) {
            self.connect_sent = Some(now);
            self.last_sent = Some(now);
        }
    }

    fn on_text(&mut self, now: Instant, text: &str, cx: &mut Ctx) {
        self.on_binary(now, text.as_bytes(), cx);
    }

    fn on_binary(&mut self, now: Instant, data: &[u8], cx: &mut Ctx) {
        self.last_received = Some(now);
        self.server_silence_told = false;
        match self.decoder.push(data) {
            Ok(items) => {
                for item in items {
                    match item {
                        // Nothing to answer: a heart-beat only says "alive".
                        Incoming::HeartBeat => cx.server_heartbeat(now, true),
                        Incoming::Frame(frame) => self.on_frame(now, &frame, cx),
                    }
                }
            }
            Err(error) => {
                self.decoder = Decoder::new(self.version);
                cx.event(
                    now,
                    AppEventKind::Error {
                        message: error.to_string(),
                    },
                );
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if !self.connected {
            return self.connect_sent.map(|sent| sent + CONNECTED_TIMEOUT);
        }
        let silence = self.server_deadline().filter(|_| !self.server_silence_told);
        match (self.next_beat(), silence) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn handle_timeout(&mut self, now: Instant, cx: &mut Ctx) {
        if !self.connected {
            if let Some(sent) = self.connect_sent.take() {
                cx.event(
                    now,
                    AppEventKind::Overdue {
                        what: "CONNECTED (the answer to CONNECT)".to_owned(),
                        waited_ms: ms_between(sent, now),
                    },
                );
            }
            return;
        }
        if self.next_beat().is_some_and(|due| now >= due)
            && cx.send(Outgoing::Text("\n".to_owned()))
        {
            self.last_sent = Some(now);
            cx.event(now, AppEventKind::ClientHeartbeat);
        }
        if let (Some(due), Some(last)) = (self.server_deadline(), self.last_received) {
            if now >= due && !self.server_silence_told {
                self.server_silence_told = true;
                cx.event(
                    now,
                    AppEventKind::Overdue {
                        what: "the server's heart-beat (stompjs closes after twice the period)"
                            .to_owned(),
                        waited_ms: ms_between(last, now),
                    },
                );
            }
        }
    }

    fn keepalive(&self) -> Option<Outgoing> {
        // An end of line is a heart-beat: every broker accepts it between frames.
        Some(Outgoing::Text("\n".to_owned()))
    }
}

#[cfg(test)]
mod tests;
