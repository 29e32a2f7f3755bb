//! ASP.NET Core SignalR, JSON hub protocol over the WebSocket transport, as
//! @microsoft/signalr behaves with `transport: WebSockets`: the handshake `{"protocol":"json","version":1}`
//! at once, a ping (type 6) after 15 s without sending, the server given up
//! after 30 s without hearing from it (`serverTimeoutInMilliseconds`). The
//! server pings every `KeepAliveInterval` (15 s) and drops a client silent
//! for `ClientTimeoutInterval` (30 s). A close message (type 7) carries the
//! server's `error` and `allowReconnect`.
//!
//! The negotiate step (`POST …/negotiate?negotiateVersion=1` before the
//! upgrade, then `?id=<connectionToken>`) is plain HTTP before the
//! WebSocket: [`codec`] builds its URL and reads its answer, and the
//! connection layer (wsdoctor-sources `conn/negotiate.rs`) makes the POST.
//! A hub without the endpoint is connected as with `skipNegotiation`.
//!
//! Sources: see [`codec`].

pub mod codec;

use std::time::Instant;

use wsdoctor_evidence::{AppEventKind, AppTimers, Side};

use crate::protocol::{ms_between, Ctx, Outgoing, Protocol, StartContext};
use crate::{AppProtocol, Spec};

use codec::{Decoder, HubMessage};

/// SignalR's spec.
pub(crate) static SPEC: Spec = Spec {
    protocol: AppProtocol::SignalR,
    title: "ASP.NET Core SignalR (JSON hub protocol)",
    // Hub paths are the application's own (`/chathub`); these are the
    // conventional ones, and a negotiate URL given by mistake.
    path_markers: &["/hubs/", "/negotiate", "/signalr"],
    subprotocols: &[],
    sniff: is_handshake_answer,
    prepare_url,
    start,
    // SignalR closes the WebSocket with 1000 (or 1011 on errors); its reason
    // travels in the close message, recorded as an event.
    close_codes: &[],
};

/// The handshake answer `{}` + 0x1E (or `{"error":…}`): only ever the first
/// message, and nothing else on the web starts a connection with it.
fn is_handshake_answer(first: &str) -> bool {
    first.ends_with(codec::RECORD_SEPARATOR)
        && first
            .split(codec::RECORD_SEPARATOR)
            .next()
            .and_then(|record| serde_json::from_str::<serde_json::Value>(record).ok())
            .is_some_and(|value| value.is_object() && value.get("type").is_none())
}

/// A negotiate URL given by mistake is turned back into the hub's URL.
fn prepare_url(url: &mut url::Url) {
    if let Some(hub) = url.path().strip_suffix("/negotiate").map(str::to_owned) {
        url.set_path(&hub);
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(name, _)| name != "negotiateVersion")
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
}

fn start(_: &StartContext) -> Box<dyn Protocol> {
    Box::new(SignalR {
        decoder: Decoder::new(),
        handshake_sent: None,
        handshake_done: false,
        last_sent: None,
        last_received: None,
        silence_told: false,
    })
}

#[derive(Debug)]
struct SignalR {
    decoder: Decoder,
    handshake_sent: Option<Instant>,
    handshake_done: bool,
    last_sent: Option<Instant>,
    last_received: Option<Instant>,
    silence_told: bool,
}

impl SignalR {
    fn on_message(&mut self, now: Instant, message: HubMessage, cx: &mut Ctx) {
        match message {
            HubMessage::HandshakeOk => {
                self.handshake_done = true;
                cx.event(
                    now,
                    AppEventKind::InitAcked {
                        what: "handshake answer {}".to_owned(),
                    },
                );
            }
            HubMessage::HandshakeError(error) => {
                self.handshake_done = true;
                let reason = format!("handshake refused: {error}");
                cx.event(
                    now,
                    AppEventKind::Error {
                        message: reason.clone(),
                    },
                );
                cx.event(
                    now,
                    AppEventKind::Disconnect {
                        by: Side::Remote,
                        reason,
                    },
                );
            }
            // The server's keep-alive: nothing to answer (the client pings on its own clock).
            HubMessage::Ping => cx.server_heartbeat(now, true),
            HubMessage::Close {
                error,
                allow_reconnect,
            } => {
                let reason = match error {
                    Some(error) => format!("close message (type 7) with error: {error}; allowReconnect: {allow_reconnect}"),
                    None => format!("close message (type 7) without error; allowReconnect: {allow_reconnect}"),
                };
                cx.event(
                    now,
                    AppEventKind::Disconnect {
                        by: Side::Remote,
                        reason,
                    },
                );
            }
            _ => {}
        }
    }
}

impl Protocol for SignalR {
    fn start(&mut self, now: Instant, cx: &mut Ctx) {
        cx.set_version("JSON hub protocol 1, WebSockets transport");
        cx.set_timers(AppTimers {
            // The heartbeat is the protocol's own message, not a ping frame.
            websocket_pings: false,
            pinger: Side::Local,
            interval_ms: ms(codec::CLIENT_KEEP_ALIVE),
            timeout_ms: ms(codec::SERVER_CLIENT_TIMEOUT),
            interval_setting: "keepAliveIntervalInMilliseconds".to_owned(),
            timeout_setting: "ClientTimeoutInterval".to_owned(),
            announced: false,
            source: "the defaults of @microsoft/signalr (keepAliveIntervalInMilliseconds 15 s, serverTimeoutInMilliseconds 30 s) and ASP.NET Core HubOptions (KeepAliveInterval 15 s, ClientTimeoutInterval 30 s); the protocol announces none".to_owned(),
        });
        let handshake = codec::handshake_request();
        let described = r#"{"protocol":"json","version":1}"#.to_owned();
        if cx.send_init(now, Outgoing::Text(handshake), described) {
            self.handshake_sent = Some(now);
            self.last_sent = Some(now);
        }
    }

    fn on_text(&mut self, now: Instant, text: &str, cx: &mut Ctx) {
        self.last_received = Some(now);
        self.silence_told = false;
        match self.decoder.decode(text) {
            Ok(messages) => {
                for message in messages {
                    self.on_message(now, message, cx);
                }
            }
            Err(error) => cx.event(
                now,
                AppEventKind::Error {
                    message: error.to_string(),
                },
            ),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if !self.handshake_done {
            return self
                .handshake_sent
                .map(|sent| sent + codec::SERVER_HANDSHAKE_TIMEOUT);
        }
        let ping = self.last_sent.map(|last| last + codec::CLIENT_KEEP_ALIVE);
        let silence = self
            .last_received
            .filter(|_| !self.silence_told)
            .map(|last| last + codec::CLIENT_SERVER_TIMEOUT);
        match (ping, silence) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn handle_timeout(&mut self, now: Instant, cx: &mut Ctx) {
        if !self.handshake_done {
            if let Some(sent) = self.handshake_sent.take() {
                cx.event(
                    now,
                    AppEventKind::Overdue {
                        what: "the handshake answer (the server's HandshakeTimeout is 15 s)"
                            .to_owned(),
                        waited_ms: ms_between(sent, now),
                    },
                );
            }
            return;
        }
        if self
            .last_sent
            .is_some_and(|last| now >= last + codec::CLIENT_KEEP_ALIVE)
            && cx.send(Outgoing::Text(codec::ping()))
        {
            self.last_sent = Some(now);
            cx.event(now, AppEventKind::ClientHeartbeat);
        }
        if let Some(last) = self.last_received {
            if now >= last + codec::CLIENT_SERVER_TIMEOUT && !self.silence_told {
                self.silence_told = true;
                cx.event(
                    now,
                    AppEventKind::Overdue {
                        what: "any message from the server (serverTimeoutInMilliseconds, 30 s)"
                            .to_owned(),
                        waited_ms: ms_between(last, now),
                    },
                );
            }
        }
    }

    fn keepalive(&self) -> Option<Outgoing> {
        Some(Outgoing::Text(codec::ping()))
    }
}

fn ms(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
