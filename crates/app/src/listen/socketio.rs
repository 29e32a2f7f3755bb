//! The server half of Engine.IO v4/v3 and Socket.IO, as the `socket.io`
//! server behaves by default with the WebSocket transport only: the open
//! packet (`0{"sid":…,"pingInterval":25000,"pingTimeout":20000}`), a
//! namespace connect acknowledged with `40{"sid":…}` (v3: `40` unasked),
//! and, in v4, a ping (`2`) every pingInterval; in v3 the client pings and
//! is answered `3`. No dropping on a missed pong: when the connection ends
//! is `reconnect`'s schedule, not ours.
//! Spec: <https://socket.io/docs/v4/engine-io-protocol/> and
//! <https://socket.io/docs/v4/socket-io-protocol/> (read 2026-12-06).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wsdoctor_evidence::{AppEventKind, AppTimers, Side};

use crate::protocol::{Ctx, Outgoing, Protocol};

/// socket.io's server defaults (`pingInterval`, `pingTimeout`), v4.
const PING_INTERVAL_MS: u64 = 25_000;
const PING_TIMEOUT_MS: u64 = 20_000;

/// Session ids: unique per process, which is all a WebSocket-only client
/// needs of them (it never polls with the sid).
static NEXT_SID: AtomicU64 = AtomicU64::new(1);

fn new_sid() -> String {
    format!("wsdoctor{:012x}", NEXT_SID.fetch_add(1, Ordering::Relaxed))
}

pub(super) fn start(query: &str) -> Box<dyn Protocol> {
    let v3 = url::form_urlencoded::parse(query.as_bytes()).any(|(k, v)| k == "EIO" && v == "3");
    Box::new(SocketIoServer {
        v3,
        next_ping: None,
        ping_sent: None,
    })
}

#[derive(Debug)]
struct SocketIoServer {
    /// Engine.IO v3: the client pings, the server answers.
    v3: bool,
    /// v4: when our next ping goes out.
    next_ping: Option<Instant>,
    /// v4: our ping waiting for its pong.
    ping_sent: Option<Instant>,
}

impl SocketIoServer {
    fn interval() -> Duration {
        Duration::from_millis(PING_INTERVAL_MS)
    }

    /// `40`, `40{auth}`, `40/chat,` or `40/chat,{auth}` from the client:
    /// acknowledged in the same namespace.
    fn on_connect(&self, now: Instant, rest: &str, cx: &mut Ctx) {
        let namespace = rest
            .strip_prefix('/')
            .map(|ns| ns.split_once(',').map_or(ns, |(name, _)| name))
            // A namespace name is echoed back: keep it to what one can be.
            .filter(|ns| {
                ns.len() <= 100
                    && ns
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
            });
        let prefix = namespace.map_or(String::new(), |ns| format!("/{ns},"));
        let ack = if self.v3 {
            format!("40{}", prefix.trim_end_matches(','))
        } else {
            format!("40{prefix}{{\"sid\":\"{}\"}}", new_sid())
        };
        cx.send(Outgoing::Text(ack));
        cx.event(
            now,
            AppEventKind::InitAcked {
                what: format!(
                    "the client's namespace connect (40{}) acknowledged",
                    prefix.trim_end_matches(',')
                ),
            },
        );
    }
}

impl Protocol for SocketIoServer {
    fn start(&mut self, now: Instant, cx: &mut Ctx) {
        let timeout_ms = if self.v3 { 5_000 } else { PING_TIMEOUT_MS };
        let open = format!(
            "0{{\"sid\":\"{}\",\"upgrades\":[],\"pingInterval\":{PING_INTERVAL_MS},\"pingTimeout\":{timeout_ms},\"maxPayload\":1000000}}",
            new_sid()
        );
        cx.set_version(if self.v3 { "EIO=3" } else { "EIO=4" });
        cx.set_timers(AppTimers {
            pinger: if self.v3 { Side::Remote } else { Side::Local },
            interval_ms: PING_INTERVAL_MS,
            timeout_ms,
            interval_setting: "pingInterval".to_owned(),
            timeout_setting: "pingTimeout".to_owned(),
            announced: true,
            source: "socket.io's server defaults, announced in our open packet".to_owned(),
            websocket_pings: false,
        });
        cx.send_init(
            now,
            Outgoing::Text(open),
            "Engine.IO open packet".to_owned(),
        );
        if self.v3 {
            // The v3 server connects the default namespace unasked.
            cx.send(Outgoing::Text("40".to_owned()));
        } else {
            self.next_ping = Some(now + Self::interval());
        }
    }

    fn on_text(&mut self, now: Instant, text: &str, cx: &mut Ctx) {
        let Some((kind, rest)) = text.split_at_checked(1) else {
            return;
        };
        match kind {
            // v3: the client's ping.
            "2" => {
                let answered = cx.send(Outgoing::Text(format!("3{rest}")));
                cx.server_heartbeat(now, answered);
            }
            // v4: the client's pong to our ping.
            "3" => {
                if let Some(sent) = self.ping_sent.take() {
                    let rtt_us = u64::try_from(now.saturating_duration_since(sent).as_micros())
                        .unwrap_or(u64::MAX);
                    cx.event(now, AppEventKind::HeartbeatAck { rtt_us });
                }
            }
            "1" => cx.event(
                now,
                AppEventKind::Disconnect {
                    by: Side::Remote,
                    reason: "the client closed the Engine.IO session (close packet 1)".to_owned(),
                },
            ),
            "4" => match rest.split_at_checked(1) {
                Some(("0", connect)) => self.on_connect(now, connect, cx),
                Some(("1", _)) => cx.event(
                    now,
                    AppEventKind::Disconnect {
                        by: Side::Remote,
                        reason: "io client disconnect: the client left the namespace (41)"
                            .to_owned(),
                    },
                ),
                // Events (42) and acks (43) are the application's; not answered.
                _ => {}
            },
            _ => {}
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next_ping
    }

    fn handle_timeout(&mut self, now: Instant, cx: &mut Ctx) {
        if self.next_ping.is_some_and(|at| now >= at) {
            if cx.send(Outgoing::Text("2".to_owned())) {
                cx.event(now, AppEventKind::ClientHeartbeat);
                self.ping_sent.get_or_insert(now);
            }
            self.next_ping = Some(now + Self::interval());
        }
    }

    fn keepalive(&self) -> Option<Outgoing> {
        None
    }
}
