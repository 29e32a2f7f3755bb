//! The server half of ASP.NET Core SignalR's JSON hub protocol, as far as
//! @microsoft/signalr needs to hold its connection: `{}` (with the 0x1E
//! record separator) to the client's handshake `{"protocol":"json",
//! "version":1}`, a ping (`{"type":6}`) every `KeepAliveInterval` (15 s,
//! ASP.NET Core's default), the client's pings taken as they come, and its
//! close message (type 7) recorded. Invocations are the hub's and are not
//! answered. The negotiate POST before the upgrade is plain HTTP, answered by
//! the listener (wsdoctor-sources `reconnect/server.rs`) with [`negotiate_answer`].
//! Spec: dotnet/aspnetcore `src/SignalR/docs/specs/HubProtocol.md` and
//! `TransportProtocols.md` (read 2026-12-06).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use wsdoctor_evidence::{AppEventKind, AppTimers, Side};

use crate::protocol::{Ctx, Outgoing, Protocol};
use crate::signalr::codec::{ping, RECORD_SEPARATOR, SERVER_CLIENT_TIMEOUT, SERVER_KEEP_ALIVE};

/// Connection tokens our negotiate answers hand out start with this, so the
/// WebSocket request that carries one back (`?id=`) is known as SignalR's.
pub const TOKEN_PREFIX: &str = "wsdoctor-signalr-";

static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

/// The body of a `200` to `POST …/negotiate?negotiateVersion=1`
/// (TransportProtocols.md, negotiate version 1): the WebSockets transport
/// only, with a fresh connection token.
pub fn negotiate_answer() -> String {
    let n = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
    format!(
        "{{\"connectionId\":\"wsdoctor{n:012x}\",\"connectionToken\":\"{TOKEN_PREFIX}{n:012x}\",\"negotiateVersion\":1,\"availableTransports\":[{{\"transport\":\"WebSockets\",\"transferFormats\":[\"Text\",\"Binary\"]}}]}}"
    )
}

pub(super) fn start() -> Box<dyn Protocol> {
    Box::new(SignalrServer {
        handshake_done: false,
        next_ping: None,
    })
}

#[derive(Debug)]
struct SignalrServer {
    /// The first record is the client's handshake request.
    handshake_done: bool,
    /// When our next ping goes out (after the handshake).
    next_ping: Option<Instant>,
}

impl SignalrServer {
    fn send_record(cx: &mut Ctx, json: &str) -> bool {
        cx.send(Outgoing::Text(format!("{json}{RECORD_SEPARATOR}")))
    }

    /// The client's handshake request: `{}` to JSON, an error to anything else.
    fn on_handshake(&mut self, now: Instant, record: &serde_json::Value, cx: &mut Ctx) {
        self.handshake_done = true;
        let protocol = record.get("protocol").and_then(serde_json::Value::as_str);
        if protocol == Some("json") {
            Self::send_record(cx, "{}");
            cx.event(
                now,
                AppEventKind::InitAcked {
                    what: "the client's handshake {\"protocol\":\"json\"} answered {}".to_owned(),
                },
            );
            self.next_ping = Some(now + SERVER_KEEP_ALIVE);
        } else {
            // A protocol we do not speak (messagepack): refused as ASP.NET
            // Core words it, so the client says why.
            let name = protocol.unwrap_or("").chars().take(40).collect::<String>();
            let error = serde_json::json!({
                "error": format!("The protocol '{name}' is not supported.")
            });
            Self::send_record(cx, &error.to_string());
        }
    }
}

impl Protocol for SignalrServer {
    fn start(&mut self, _now: Instant, cx: &mut Ctx) {
        cx.set_version("json/1");
        cx.set_timers(AppTimers {
            pinger: Side::Local,
            interval_ms: u64::try_from(SERVER_KEEP_ALIVE.as_millis()).unwrap_or(u64::MAX),
            timeout_ms: u64::try_from(SERVER_CLIENT_TIMEOUT.as_millis()).unwrap_or(u64::MAX),
            interval_setting: "KeepAliveInterval".to_owned(),
            timeout_setting: "ClientTimeoutInterval".to_owned(),
            announced: false,
            source: "ASP.NET Core SignalR's server defaults".to_owned(),
            websocket_pings: false,
        });
        // The client speaks first (its handshake request).
    }

    fn on_text(&mut self, now: Instant, text: &str, cx: &mut Ctx) {
        for record in text.split(RECORD_SEPARATOR).filter(|r| !r.is_empty()) {
            let Ok(value) = serde_json::from_str::<serde_json::Value>(record) else {
                continue;
            };
            if !self.handshake_done {
                self.on_handshake(now, &value, cx);
                continue;
            }
            match value.get("type").and_then(serde_json::Value::as_i64) {
                // The client's keepalive: nothing to answer.
                Some(6) => cx.server_heartbeat(now, true),
                Some(7) => cx.event(
                    now,
                    AppEventKind::Disconnect {
                        by: Side::Remote,
                        reason: "the client sent its close message (type 7)".to_owned(),
                    },
                ),
                _ => {}
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next_ping
    }

    fn handle_timeout(&mut self, now: Instant, cx: &mut Ctx) {
        if self.next_ping.is_some_and(|at| now >= at) {
            if cx.send(Outgoing::Text(ping())) {
                cx.event(now, AppEventKind::ClientHeartbeat);
            }
            self.next_ping = Some(now + SERVER_KEEP_ALIVE);
        }
    }

    fn keepalive(&self) -> Option<Outgoing> {
        None
    }
}
