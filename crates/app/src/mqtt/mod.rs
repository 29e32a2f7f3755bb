//! MQTT over WebSocket as MQTT.js behaves by default: protocol 3.1.1
//! (`protocolVersion: 4`), a 60 s keep-alive, CONNECT at once, PINGREQ after
//! a keep-alive of silence, and the connection given up when the PINGRESP has
//! not come by the next one. The broker closes a client it heard nothing
//! from for 1.5 × keep-alive (MQTT 3.1.1 §3.1.2.10).
//!
//! MQTT 5.0 (`--app mqtt5`, MQTT.js `protocolVersion: 5`) is the same
//! client with level 5 in CONNECT, reason codes in CONNACK and DISCONNECT,
//! and the broker's Server Keep Alive in CONNACK replacing the client's
//! keep-alive (5.0 §3.2.2.3.14): the doctor then pings at the broker's
//! value and says so. A login (user name and password) goes in CONNECT when
//! the context has one.
//!
//! Sources (read 2026-12-06): the MQTT 3.1.1 and 5.0 OASIS standards (see
//! [`codec`]), MQTT.js `lib/client.js` and `lib/default-options` (keepalive
//! 60, protocolVersion 4, connectTimeout 30 s).

pub mod codec;

use std::time::{Duration, Instant};

use wsdoctor_evidence::{AppEventKind, AppTimers, Side};

use crate::protocol::{ms_between, Ctx, Login, Outgoing, Protocol, StartContext};
use crate::{AppProtocol, Spec};

use codec::{ConnAck, Connect, Decoder, Packet, Version};

/// MQTT's spec.
pub(crate) static SPEC: Spec = Spec {
    protocol: AppProtocol::Mqtt,
    title: "MQTT",
    // EMQX, HiveMQ, Mosquitto's examples and AWS IoT serve it at /mqtt.
    path_markers: &["/mqtt"],
    subprotocols: &[codec::SUBPROTOCOL],
    // The client speaks first; the server says nothing before CONNECT.
    sniff: |_| false,
    prepare_url: |_| {},
    start: start_v311,
    // MQTT over WebSocket defines no WebSocket close codes; its reasons are
    // CONNACK and DISCONNECT codes, recorded as events (see `describe`).
    close_codes: &[],
};

/// MQTT 5's spec: only chosen by name (`--app mqtt5`). Auto detection
/// speaks 3.1.1 (MQTT.js's default, and every 5.0 broker accepts it).
pub(crate) static SPEC_V5: Spec = Spec {
    protocol: AppProtocol::Mqtt5,
    title: "MQTT 5",
    path_markers: &[],
    subprotocols: &[codec::SUBPROTOCOL],
    sniff: |_| false,
    prepare_url: |_| {},
    start: start_v5,
    close_codes: &[],
};

/// MQTT.js waits this long for CONNACK (`connectTimeout`).
const CONNACK_TIMEOUT: Duration = Duration::from_secs(30);

fn start_v311(context: &StartContext) -> Box<dyn Protocol> {
    start(Version::V311, context)
}

fn start_v5(context: &StartContext) -> Box<dyn Protocol> {
    start(Version::V5, context)
}

fn start(version: Version, context: &StartContext) -> Box<dyn Protocol> {
    Box::new(Mqtt {
        version,
        login: context.login.clone(),
        decoder: Decoder::new(version),
        keep_alive: Some(Duration::from_secs(u64::from(
            codec::DEFAULT_KEEP_ALIVE_SECS,
        ))),
        connect_sent: None,
        acked: false,
        last_sent: None,
        ping_sent: None,
        ping_overdue_told: false,
        broken: false,
    })
}

#[derive(Debug)]
struct Mqtt {
    version: Version,
    /// Sent in CONNECT; `Login`'s Debug hides the password.
    login: Option<Login>,
    decoder: Decoder,
    /// The keep-alive in force (None = off).
    keep_alive: Option<Duration>,
    connect_sent: Option<Instant>,
    acked: bool,
    /// When we last sent a control packet (the keep-alive counts from it).
    last_sent: Option<Instant>,
    /// Our PINGREQ waiting for its PINGRESP.
    ping_sent: Option<Instant>,
    ping_overdue_told: bool,
    /// The byte stream lost its framing: stop reading it.
    broken: bool,
}

impl Mqtt {
    fn on_packet(&mut self, now: Instant, packet: Packet, cx: &mut Ctx) {
        match packet {
            Packet::ConnAck(ack) => self.on_connack(now, &ack, cx),
            Packet::PingResp => {
                if let Some(sent) = self.ping_sent.take() {
                    let rtt_us = u64::try_from(now.saturating_duration_since(sent).as_micros())
                        .unwrap_or(u64::MAX);
                    cx.event(now, AppEventKind::HeartbeatAck { rtt_us });
                }
                self.ping_overdue_told = false;
            }
            Packet::Disconnect(disconnect) => {
                let mut reason = describe_code(self.version, disconnect.reason_code);
                if let Some(said) = disconnect.reason_string {
                    reason = format!("{reason}; reason string: {said}");
                }
                cx.event(
                    now,
                    AppEventKind::Disconnect {
                        by: Side::Remote,
                        reason: format!("DISCONNECT {reason}"),
                    },
                );
            }
            Packet::Other { .. } => {}
        }
    }

    fn on_connack(&mut self, now: Instant, ack: &ConnAck, cx: &mut Ctx) {
        if ack.code != 0 {
            let mut reason = format!("CONNACK {}", describe_connack(self.version, ack.code));
            if is_login_refusal(self.version, ack.code) {
                reason.push_str(match &self.login {
                    Some(_) => "; the broker refused the login wsdoctor sent",
                    None => "; wsdoctor sent no login (give one as ws://USER@host/… with the password in WSDOCTOR_APP_PASSWORD)",
                });
            }
            if let Some(said) = &ack.reason_string {
                reason = format!("{reason}; reason string: {said}");
            }
            cx.event(
                now,
                AppEventKind::Error {
                    message: reason.clone(),
                },
            );
            // The server closes the connection after a refusing CONNACK (§3.2.2.3).
            cx.event(
                now,
                AppEventKind::Disconnect {
                    by: Side::Remote,
                    reason,
                },
            );
            return;
        }
        self.acked = true;
        let what = match ack.server_keep_alive {
            Some(0) => "CONNACK 0 (accepted; the broker's Server Keep Alive 0 turns keep-alive off: wsdoctor sends no PINGREQ)".to_owned(),
            Some(secs) => format!(
                "CONNACK 0 (accepted; the broker's Server Keep Alive {secs} s replaces the {} s wsdoctor asked for, and wsdoctor pings at it)",
                self.keep_alive.map_or(0, |k| k.as_secs())
            ),
            None => "CONNACK 0 (accepted)".to_owned(),
        };
        cx.event(now, AppEventKind::InitAcked { what });
        if let Some(secs) = ack.server_keep_alive {
            // 5.0 §3.2.2.3.14: the client MUST use the server's value.
            self.keep_alive = codec::effective_keep_alive(0, Some(secs));
            set_timers(cx, self.keep_alive, true);
        }
    }
}

/// The CONNACK codes that refuse the login: 3.1.1's 4 and 5 (Table 3.1),
/// 5.0's 0x86 and 0x87 (§3.2.2.2).
fn is_login_refusal(version: Version, code: u8) -> bool {
    match version {
        Version::V311 => matches!(code, 4 | 5),
        Version::V5 => matches!(code, 0x86 | 0x87),
    }
}

/// A CONNACK code in the words of the version spoken; an MQTT 5 CONNECT
/// answered with a 3.1.1 return code (below 0x80: aedes answers 1) is read
/// as 3.1.1's, since that is what the broker speaks.
fn describe_connack(version: Version, code: u8) -> String {
    match (version, codec::describe(version, code)) {
        (Version::V5, None) if code < 0x80 => match codec::describe(Version::V311, code) {
            Some((name, meaning)) => format!(
                "0x{code:02X} {name}: {meaning} (an MQTT 3.1.1 return code: the broker answered MQTT 5 in 3.1.1's form; --app mqtt speaks 3.1.1)"
            ),
            None => describe_code(version, code),
        },
        _ => describe_code(version, code),
    }
}

fn describe_code(version: Version, code: u8) -> String {
    match codec::describe(version, code) {
        Some((name, meaning)) => format!("0x{code:02X} {name}: {meaning}"),
        None => format!("0x{code:02X} (not a code the standard defines)"),
    }
}

fn set_timers(cx: &mut Ctx, keep_alive: Option<Duration>, announced: bool) {
    let Some(keep_alive) = keep_alive else {
        // Keep-alive off (a Server Keep Alive of 0): no timer to report.
        cx.record.timers = None;
        return;
    };
    cx.set_timers(AppTimers {
        // The heartbeat is the protocol's own message, not a ping frame.
        websocket_pings: false,
        pinger: Side::Local,
        interval_ms: u64::try_from(keep_alive.as_millis()).unwrap_or(u64::MAX),
        timeout_ms: u64::try_from(codec::server_grace(keep_alive).as_millis()).unwrap_or(u64::MAX),
        interval_setting: "keepalive".to_owned(),
        timeout_setting: "1.5 × keepalive (the broker's wait)".to_owned(),
        announced,
        source: if announced {
            "the broker's Server Keep Alive in CONNACK (MQTT 5.0 §3.2.2.3.14)".to_owned()
        } else {
            "the keep-alive wsdoctor sent in CONNECT (MQTT.js's default, 60 s)".to_owned()
        },
    });
}

impl Protocol for Mqtt {
    fn start(&mut self, now: Instant, cx: &mut Ctx) {
        set_timers(cx, self.keep_alive, false);
        let name = match self.version {
            Version::V311 => "MQTT 3.1.1",
            Version::V5 => "MQTT 5.0",
        };
        cx.set_version(name);
        let keep_alive = self
            .keep_alive
            .map_or(0, |k| u16::try_from(k.as_secs()).unwrap_or(u16::MAX));
        let connect = Connect {
            version: self.version,
            client_id: client_id(),
            keep_alive,
            clean_start: true,
            username: self.login.as_ref().map(|l| l.user.clone()),
            password: self.login.as_ref().and_then(|l| l.password.clone()),
        };
        // Neither the user name nor the password goes into the record.
        let login = match &self.login {
            Some(Login {
                password: Some(_), ..
            }) => ", with a user name and password",
            Some(_) => ", with a user name",
            None => "",
        };
        let described =
            format!("CONNECT ({name}, keep-alive {keep_alive} s, clean session{login})");
        if cx.send_init(
            now,
            Outgoing::Binary(codec::encode_connect(&connect)),
            described,
        ) {
            self.connect_sent = Some(now);
            self.last_sent = Some(now);
        }
    }

    fn on_text(&mut self, _now: Instant, _text: &str, _cx: &mut Ctx) {
        // MQTT travels in binary messages only (MQTT 5.0 §6.0).
    }

    fn on_binary(&mut self, now: Instant, data: &[u8], cx: &mut Ctx) {
        if self.broken {
            return;
        }
        match self.decoder.push(data) {
            Ok(packets) => {
                for packet in packets {
                    self.on_packet(now, packet, cx);
                }
            }
            Err(error) => {
                self.broken = true;
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
        if !self.acked {
            return self.connect_sent.map(|sent| sent + CONNACK_TIMEOUT);
        }
        let keep_alive = self.keep_alive?;
        match self.ping_sent {
            // MQTT.js gives up when the PINGRESP has not come by the next keep-alive.
            Some(sent) if !self.ping_overdue_told => Some(sent + keep_alive),
            Some(_) => None,
            None => self.last_sent.map(|last| last + keep_alive),
        }
    }

    fn handle_timeout(&mut self, now: Instant, cx: &mut Ctx) {
        if !self.acked {
            if let Some(sent) = self.connect_sent.take() {
                cx.event(
                    now,
                    AppEventKind::Overdue {
                        what: "CONNACK (MQTT.js connectTimeout, 30 s)".to_owned(),
                        waited_ms: ms_between(sent, now),
                    },
                );
            }
            return;
        }
        let Some(keep_alive) = self.keep_alive else {
            return;
        };
        if let Some(sent) = self.ping_sent {
            if now >= sent + keep_alive && !self.ping_overdue_told {
                self.ping_overdue_told = true;
                cx.event(
                    now,
                    AppEventKind::Overdue {
                        what: "PINGRESP (MQTT.js closes at the next keep-alive without it)"
                            .to_owned(),
                        waited_ms: ms_between(sent, now),
                    },
                );
            }
            return;
        }
        if self.last_sent.is_some_and(|last| now >= last + keep_alive)
            && cx.send(Outgoing::Binary(codec::PINGREQ.to_vec()))
        {
            self.ping_sent = Some(now);
            self.last_sent = Some(now);
            cx.event(now, AppEventKind::ClientHeartbeat);
        }
    }

    fn keepalive(&self) -> Option<Outgoing> {
        // PINGREQ: the broker answers PINGRESP and does nothing else.
        Some(Outgoing::Binary(codec::PINGREQ.to_vec()))
    }
}

/// A client id per connection, so two connections (two runs, or `load`'s
/// many) never take each other's session over (0x8E): the process id, a
/// counter, and the clock's nanoseconds. Distinct, not secret; 23 bytes at
/// most at realistic values (3.1.1 §3.1.3.1 lets servers refuse longer).
fn client_id() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let count = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("wsd{:x}-{count:x}-{nanos:x}", std::process::id())
}

#[cfg(test)]
mod tests;
