//! Socket.IO over Engine.IO v4 (`EIO=4`) and v3 (`EIO=3`), as
//! socket.io-client behaves with `transports: ['websocket']`.
//!
//! Engine.IO packets are one digit then data: `0` open (JSON with
//! `pingInterval`/`pingTimeout`), `1` close, `2` ping, `3` pong, `4`
//! message, `6` noop. A Socket.IO packet rides in a `4`: `40` connects a
//! namespace, `41` disconnects it, `44` refuses the connect.
//! In v4 the server pings and the client answers; in v3 the client pings
//! every `pingInterval` and the server answers.
//! Spec: <https://socket.io/docs/v4/engine-io-protocol/> and
//! <https://socket.io/docs/v4/socket-io-protocol/> (read 2026-12-06).

use std::time::{Duration, Instant};

use wsdoctor_evidence::{AppEventKind, AppTimers, Side};

use crate::protocol::{ms_between, Ctx, Outgoing, Protocol, StartContext};
use crate::{AppProtocol, Spec};

/// Socket.IO's spec.
pub(crate) static SPEC: Spec = Spec {
    protocol: AppProtocol::SocketIo,
    title: "Socket.IO (Engine.IO)",
    path_markers: &["/socket.io/"],
    subprotocols: &[],
    sniff: is_open_packet,
    prepare_url,
    start,
    // Socket.IO closes with WebSocket codes of its own choosing (none in
    // 4000–4999); its reasons travel as packets, recorded as events.
    close_codes: &[],
};

/// Timers longer than a week are taken as a week.
const MAX_TIMER_MS: u64 = 7 * 24 * 3600 * 1000;

fn is_open_packet(first: &str) -> bool {
    first
        .strip_prefix('0')
        .and_then(|json| serde_json::from_str::<serde_json::Value>(json).ok())
        .is_some_and(|v| v.get("sid").is_some() && v.get("pingInterval").is_some())
}

/// Adds `EIO=4&transport=websocket` unless the URL already says which.
fn prepare_url(url: &mut url::Url) {
    let has = |key: &str| url.query_pairs().any(|(k, _)| k == key);
    let (eio, transport) = (has("EIO"), has("transport"));
    let mut pairs = url.query_pairs_mut();
    if !eio {
        pairs.append_pair("EIO", "4");
    }
    if !transport {
        pairs.append_pair("transport", "websocket");
    }
}

fn start(cx: &StartContext) -> Box<dyn Protocol> {
    let v3 = url::form_urlencoded::parse(cx.query.as_bytes()).any(|(k, v)| k == "EIO" && v == "3");
    Box::new(SocketIo {
        v3,
        interval: None,
        timeout: None,
        server_ping_due: None,
        next_client_ping: None,
        client_ping_sent: None,
    })
}

#[derive(Debug)]
struct SocketIo {
    /// Engine.IO v3: the client pings.
    v3: bool,
    interval: Option<Duration>,
    timeout: Option<Duration>,
    /// v4: by when the server's next ping should arrive (socket.io-client
    /// gives up at pingInterval + pingTimeout).
    server_ping_due: Option<Instant>,
    /// v3: when we send our next ping.
    next_client_ping: Option<Instant>,
    /// v3: our ping waiting for its pong.
    client_ping_sent: Option<Instant>,
}

impl SocketIo {
    fn on_open(&mut self, now: Instant, json: &str, cx: &mut Ctx) {
        let open: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        let ms = |key: &str| open.get(key).and_then(serde_json::Value::as_u64);
        cx.set_version(if self.v3 { "EIO=3" } else { "EIO=4" });
        cx.event(
            now,
            AppEventKind::InitAcked {
                what: "Engine.IO open packet".to_owned(),
            },
        );
        let (announced, interval_ms, timeout_ms) = match (ms("pingInterval"), ms("pingTimeout")) {
            (Some(i), Some(t)) => (true, i, t),
            // Engine.IO's defaults (v4: 25 s / 20 s).
            _ => (false, 25_000, 20_000),
        };
        // Bounded, so a hostile open packet cannot overflow the clock.
        self.interval = Some(Duration::from_millis(interval_ms.clamp(1, MAX_TIMER_MS)));
        self.timeout = Some(Duration::from_millis(timeout_ms.min(MAX_TIMER_MS)));
        cx.set_timers(AppTimers {
            pinger: if self.v3 { Side::Local } else { Side::Remote },
            interval_ms,
            timeout_ms,
            interval_setting: "pingInterval".to_owned(),
            timeout_setting: "pingTimeout".to_owned(),
            announced,
            source: if announced {
                "announced in the Engine.IO open packet".to_owned()
            } else {
                "Engine.IO's defaults (the open packet announced none)".to_owned()
            },
            websocket_pings: false,
        });
        if self.v3 {
            // The v3 server connects the default namespace itself (`40`).
            self.next_client_ping = cx.speaks().then(|| now + self.interval.unwrap_or_default());
        } else {
            self.server_ping_due = Some(now + self.ping_grace());
            cx.send_init(now, Outgoing::Text("40".to_owned()), "40".to_owned());
        }
    }

    fn ping_grace(&self) -> Duration {
        self.interval.unwrap_or_default() + self.timeout.unwrap_or_default()
    }

    fn on_socketio_packet(&mut self, now: Instant, packet: &str, cx: &mut Ctx) {
        // The type is one ASCII digit; anything else (a multi-byte first
        // character too) is not a packet we know.
        let Some((kind, rest)) = packet.split_at_checked(1) else {
            return;
        };
        // A namespace other than `/` comes as `/chat,` before the data.
        let data = match rest.strip_prefix('/') {
            Some(ns) => ns.split_once(',').map_or("", |(_, d)| d),
            None => rest,
        };
        match kind {
            "0" => cx.event(
                now,
                AppEventKind::InitAcked {
                    what: "Socket.IO namespace connected (40)".to_owned(),
                },
            ),
            "1" => cx.event(
                now,
                AppEventKind::Disconnect {
                    by: Side::Remote,
                    reason: "io server disconnect: the server's application disconnected the socket (Socket.IO DISCONNECT packet 41)".to_owned(),
                },
            ),
            "4" => {
                let message = serde_json::from_str::<serde_json::Value>(data)
                    .ok()
                    .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
                    .unwrap_or_else(|| data.chars().take(200).collect());
                cx.event(
                    now,
                    AppEventKind::Error {
                        message: format!("the server refused the namespace connect (44): {message}"),
                    },
                );
            }
            _ => {}
        }
    }
}

impl Protocol for SocketIo {
    fn start(&mut self, _now: Instant, _cx: &mut Ctx) {
        // The server speaks first (the open packet).
    }

    fn on_text(&mut self, now: Instant, text: &str, cx: &mut Ctx) {
        let Some((kind, rest)) = text.split_at_checked(1) else {
            return;
        };
        match kind {
            "0" => self.on_open(now, rest, cx),
            "1" => cx.event(
                now,
                AppEventKind::Disconnect {
                    by: Side::Remote,
                    reason: "the server closed the Engine.IO session (close packet 1)".to_owned(),
                },
            ),
            "2" => {
                let answered = cx.send(Outgoing::Text(format!("3{rest}")));
                cx.server_heartbeat(now, answered);
                self.server_ping_due = (!self.v3).then(|| now + self.ping_grace());
            }
            "3" => {
                if let Some(sent) = self.client_ping_sent.take() {
                    let rtt_us = u64::try_from(now.saturating_duration_since(sent).as_micros())
                        .unwrap_or(u64::MAX);
                    cx.event(now, AppEventKind::HeartbeatAck { rtt_us });
                }
            }
            "4" => self.on_socketio_packet(now, rest, cx),
            _ => {}
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let pong_due = self
            .client_ping_sent
            .map(|s| s + self.timeout.unwrap_or_default());
        [self.server_ping_due, self.next_client_ping, pong_due]
            .into_iter()
            .flatten()
            .min()
    }

    fn handle_timeout(&mut self, now: Instant, cx: &mut Ctx) {
        if let Some(due) = self.server_ping_due.filter(|d| now >= *d) {
            self.server_ping_due = None;
            let since = due.checked_sub(self.ping_grace()).unwrap_or(due);
            let waited_ms = ms_between(since, now);
            cx.event(
                now,
                AppEventKind::Overdue {
                    what:
                        "the server's Engine.IO ping (socket.io-client would close: ping timeout)"
                            .to_owned(),
                    waited_ms,
                },
            );
        }
        if let Some(sent) = self.client_ping_sent {
            if now >= sent + self.timeout.unwrap_or_default() {
                self.client_ping_sent = None;
                cx.event(
                    now,
                    AppEventKind::Overdue {
                        what: "the server's Engine.IO pong (socket.io-client would close: ping timeout)".to_owned(),
                        waited_ms: ms_between(sent, now),
                    },
                );
            }
        }
        if let Some(at) = self.next_client_ping.filter(|at| now >= *at) {
            let _ = at;
            if cx.send(Outgoing::Text("2".to_owned())) {
                cx.event(now, AppEventKind::ClientHeartbeat);
                self.client_ping_sent.get_or_insert(now);
            }
            self.next_client_ping = Some(now + self.interval.unwrap_or(Duration::from_secs(25)));
        }
    }

    fn keepalive(&self) -> Option<Outgoing> {
        // v3: a ping is what the client sends anyway. v4: a client ping is
        // an error there ("invalid heartbeat direction") and an unsolicited
        // pong moves the server's ping timer, so Engine.IO's noop (6),
        // which the server reads and ignores.
        Some(Outgoing::Text(if self.v3 { "2" } else { "6" }.to_owned()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{plan, AppChoice, AppSession};

    fn session(query: &str, choice: AppChoice, t0: Instant) -> AppSession {
        let mut url = url::Url::parse(&format!("ws://h/socket.io/?{query}")).unwrap();
        let plan = plan(choice, &mut url, &mut Vec::new()).unwrap();
        let start = StartContext {
            query: url.query().unwrap_or_default().to_owned(),
            subprotocol: None,
            login: None,
        };
        let mut s = AppSession::new(&plan, start, t0);
        s.start(t0);
        s
    }

    fn drain(s: &mut AppSession) -> Vec<String> {
        std::iter::from_fn(|| s.poll_transmit())
            .map(|o| match o {
                Outgoing::Text(t) => t,
                Outgoing::Binary(_) => "<binary>".to_owned(),
            })
            .collect()
    }

    const OPEN: &str = r#"0{"sid":"abc","upgrades":[],"pingInterval":3000,"pingTimeout":2000,"maxPayload":1000000}"#;

    #[test]
    fn v4_connects_the_namespace_and_answers_pings() {
        let t0 = Instant::now();
        let mut s = session("", AppChoice::Auto, t0);
        s.handle_text(t0, OPEN);
        assert_eq!(drain(&mut s), ["40"]);
        s.handle_text(t0, r#"40{"sid":"x"}"#);
        let t1 = t0 + Duration::from_secs(3);
        s.handle_text(t1, "2");
        assert_eq!(drain(&mut s), ["3"]);
        // No ping for pingInterval + pingTimeout: socket.io-client would give up.
        let due = s.poll_timeout().unwrap();
        assert_eq!(due, t1 + Duration::from_secs(5));
        s.handle_timeout(due);
        let r = s.into_record();
        assert_eq!(r.protocol.as_deref(), Some("socketio"));
        assert_eq!(r.version.as_deref(), Some("EIO=4"));
        let timers = r.timers.clone().unwrap();
        assert_eq!((timers.interval_ms, timers.timeout_ms), (3000, 2000));
        assert!(timers.announced);
        assert_eq!(timers.pinger, Side::Remote);
        assert_eq!(r.server_heartbeats, 1);
        assert_eq!(r.heartbeats_unanswered, 0);
        assert!(r.init_acked());
        assert!(matches!(
            r.events.last().unwrap().kind,
            AppEventKind::Overdue { .. }
        ));
    }

    #[test]
    fn v3_pings_itself_every_interval() {
        let t0 = Instant::now();
        let mut s = session("EIO=3&transport=websocket", AppChoice::Auto, t0);
        s.handle_text(t0, OPEN);
        s.handle_text(t0, "40");
        assert!(drain(&mut s).is_empty());
        let at = s.poll_timeout().unwrap();
        assert_eq!(at, t0 + Duration::from_secs(3));
        s.handle_timeout(at);
        assert_eq!(drain(&mut s), ["2"]);
        s.handle_text(at + Duration::from_millis(5), "3");
        let r = s.into_record();
        assert_eq!(r.version.as_deref(), Some("EIO=3"));
        assert_eq!(r.timers.unwrap().pinger, Side::Local);
        assert!(r
            .events
            .iter()
            .any(|e| e.kind == AppEventKind::HeartbeatAck { rtt_us: 5000 }));
    }

    #[test]
    fn raw_watches_without_answering() {
        let t0 = Instant::now();
        let mut s = session("", AppChoice::Raw, t0);
        s.handle_text(t0, OPEN);
        s.handle_text(t0 + Duration::from_secs(3), "2");
        assert!(drain(&mut s).is_empty());
        let r = s.into_record();
        assert!(!r.spoken);
        assert_eq!(r.heartbeats_unanswered, 1);
    }

    #[test]
    fn server_disconnect_and_connect_error_are_events() {
        let t0 = Instant::now();
        let mut s = session("", AppChoice::Auto, t0);
        s.handle_text(t0, OPEN);
        s.handle_text(t0, r#"44{"message":"Not authorized"}"#);
        s.handle_text(t0, "41");
        let r = s.into_record();
        assert!(r.events.iter().any(|e| matches!(&e.kind, AppEventKind::Error { message } if message.contains("Not authorized"))));
        assert!(r.events.iter().any(|e| matches!(&e.kind, AppEventKind::Disconnect { reason, .. } if reason.starts_with("io server disconnect"))));
    }

    #[test]
    fn auto_recognises_the_open_packet_on_any_path() {
        let t0 = Instant::now();
        let mut url = url::Url::parse("ws://h/realtime").unwrap();
        let plan = plan(AppChoice::Auto, &mut url, &mut Vec::new()).unwrap();
        let mut s = AppSession::new(&plan, StartContext::default(), t0);
        s.start(t0);
        s.handle_text(t0, OPEN);
        assert_eq!(drain(&mut s), ["40"]);
        let r = s.into_record();
        assert_eq!(r.protocol.as_deref(), Some("socketio"));
        assert!(r.decided_by.contains("first message"), "{}", r.decided_by);
    }

    #[test]
    fn hostile_open_packets_do_not_panic() {
        let t0 = Instant::now();
        for open in [
            "0",
            "0{",
            "0[]",
            r#"0{"pingInterval":-1,"pingTimeout":"x"}"#,
            "0{\"pingInterval\":18446744073709551615,\"pingTimeout\":18446744073709551615}",
        ] {
            let mut s = session("", AppChoice::Auto, t0);
            s.handle_text(t0, open);
            s.handle_text(t0, "4");
            s.handle_text(t0, "4/");
            s.handle_text(t0, "é");
            s.handle_text(t0, "4é");
            s.handle_text(t0, "");
            if let Some(at) = s.poll_timeout() {
                s.handle_timeout(at);
            }
        }
    }
}
