//! Builders for evidence values in tests: a probe that connected to
//! `wss://example.test/ws`, answered in 3.2 ms, and then whatever the test says.

use wsdoctor_evidence::{
    BodySample, ConnectionEnd, ConnectionRecord, EndRecord, FrameEvent, FrameKind, HandshakeRecord,
    Header, HeartbeatSettings, PhaseTimings, PongPolicy, ProbeEvidence, Role, SentMessage, Side,
    TlsInfo,
};

/// When the 101 (or other answer) arrived, µs since the attempt started.
pub(crate) const OPEN_AT_US: u64 = 23_300;

fn us(secs: f64) -> u64 {
    (secs * 1_000_000.0).round() as u64
}

/// A response head with these headers and, optionally, a body.
pub(crate) fn handshake(
    status: u16,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> HandshakeRecord {
    HandshakeRecord {
        request: vec![
            "GET /ws HTTP/1.1".to_owned(),
            "Host: example.test".to_owned(),
            "Upgrade: websocket".to_owned(),
            "Connection: Upgrade".to_owned(),
        ],
        http_version: "HTTP/1.1".to_owned(),
        status,
        reason: reason_phrase(status).to_owned(),
        headers: headers
            .iter()
            .map(|(n, v)| Header {
                name: (*n).to_owned(),
                value: (*v).to_owned(),
            })
            .collect(),
        body: body.map(|text| BodySample {
            text: text.to_owned(),
            bytes_read: text.len(),
            truncated: false,
        }),
        subprotocol: None,
        problems: Vec::new(),
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        301 => "Moved Permanently",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        426 => "Upgrade Required",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Time-out",
        _ => "Whatever",
    }
}

/// A valid 101 from a plain backend.
pub(crate) fn switching() -> HandshakeRecord {
    handshake(
        101,
        &[
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        ],
        None,
    )
}

/// Builds a [`ProbeEvidence`] step by step.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    ev: ProbeEvidence,
}

impl Probe {
    /// Connected over TLS, request written, nothing else yet; a 10 s watch.
    pub(crate) fn new() -> Probe {
        Probe {
            ev: ProbeEvidence {
                connection: ConnectionRecord {
                    target: "wss://example.test/ws".to_owned(),
                    started_at: "2026-11-26T03:16:16Z".to_owned(),
                    role: Role::Client,
                    resolved: vec!["192.0.2.10".to_owned()],
                    peer_addr: Some("192.0.2.10:443".to_owned()),
                    phases: PhaseTimings {
                        dns_done_us: Some(1_000),
                        connect_done_us: Some(5_000),
                        tls_done_us: Some(20_000),
                        request_written_us: Some(20_100),
                        response_head_us: Some(OPEN_AT_US),
                        proxy_tunnel_done_us: None,
                    },
                    tls: Some(TlsInfo {
                        version: "TLSv1_3".to_owned(),
                        cipher: "TLS13_AES_128_GCM_SHA256".to_owned(),
                        alpn: Some("http/1.1".to_owned()),
                        verified: true,
                        client_certificate: false,
                    }),
                    handshake: None,
                    heartbeat: HeartbeatSettings {
                        ping_interval_ms: None,
                        pong_timeout_ms: 10_000,
                        pong_policy: PongPolicy::Answer,
                    },
                    events: Vec::new(),
                    events_omitted: 0,
                    end: None,
                    http2_offered: false,
                    extended_connect: None,
                    forward_proxy: None,
                    deflate: None,
                    app: None,
                },
                watch_ms: 10_000,
                sent: Vec::new(),
                h2: None,
                hop_probe: None,
            },
        }
    }

    /// The connection never got as far as an HTTP answer.
    pub(crate) fn failed(mut self, end: ConnectionEnd) -> Probe {
        let p = &mut self.ev.connection.phases;
        match end {
            ConnectionEnd::DnsFailed { .. } => *p = PhaseTimings::default(),
            ConnectionEnd::ConnectRefused { .. }
            | ConnectionEnd::ConnectTimedOut { .. }
            | ConnectionEnd::ConnectFailed { .. } => {
                *p = PhaseTimings {
                    dns_done_us: Some(1_000),
                    ..PhaseTimings::default()
                };
            }
            ConnectionEnd::TlsFailed { .. } => {
                p.tls_done_us = None;
                p.request_written_us = None;
                p.response_head_us = None;
            }
            _ => p.response_head_us = None,
        }
        self.ev.connection.tls = self
            .ev
            .connection
            .tls
            .take()
            .filter(|_| p.tls_done_us.is_some());
        self.end_at(end, OPEN_AT_US, None)
    }

    /// The server answered with this (non-101) response.
    pub(crate) fn rejected(mut self, hs: HandshakeRecord) -> Probe {
        let status = hs.status;
        self.ev.connection.handshake = Some(hs);
        self.end_at(
            ConnectionEnd::HandshakeRejected { status },
            OPEN_AT_US,
            None,
        )
    }

    /// A 101 came back with these problems.
    pub(crate) fn invalid(mut self, mut hs: HandshakeRecord) -> Probe {
        let problems = hs.problems.clone();
        hs.status = 101;
        self.ev.connection.handshake = Some(hs);
        self.end_at(
            ConnectionEnd::HandshakeInvalid { problems },
            OPEN_AT_US,
            None,
        )
    }

    /// A valid 101.
    pub(crate) fn opened(self) -> Probe {
        self.opened_with(switching())
    }

    /// This 101.
    pub(crate) fn opened_with(mut self, hs: HandshakeRecord) -> Probe {
        self.ev.connection.handshake = Some(hs);
        self
    }

    /// We meant to watch this long.
    pub(crate) fn watch(mut self, secs: f64) -> Probe {
        self.ev.watch_ms = us(secs) / 1000;
        self
    }

    /// We ping every `secs`.
    pub(crate) fn our_pings(mut self, secs: f64) -> Probe {
        self.ev.connection.heartbeat.ping_interval_ms = Some(us(secs) / 1000);
        self
    }

    /// How we answer the server's pings.
    pub(crate) fn pong_policy(mut self, policy: PongPolicy) -> Probe {
        self.ev.connection.heartbeat.pong_policy = policy;
        self
    }

    /// A frame `secs` after the 101.
    pub(crate) fn frame(mut self, secs: f64, from: Side, kind: FrameKind) -> Probe {
        self.ev.connection.events.push(FrameEvent {
            at_us: OPEN_AT_US + us(secs),
            from,
            kind,
        });
        self
    }

    /// The server pings every `every` seconds, `count` times, and we answer each.
    pub(crate) fn server_pings(mut self, every: f64, count: u32) -> Probe {
        for n in 1..=count {
            let at = every * f64::from(n);
            self = self
                .frame(at, Side::Remote, FrameKind::Ping { len: 0 })
                .frame(
                    at + 0.000_2,
                    Side::Local,
                    FrameKind::Pong {
                        len: 0,
                        rtt_us: None,
                    },
                );
        }
        self
    }

    /// We sent a text message at `secs` and it came back after `rtt_ms`.
    pub(crate) fn echo(mut self, secs: f64, rtt_ms: f64) -> Probe {
        let rtt = us(rtt_ms / 1000.0);
        self.ev.sent.push(SentMessage {
            at_us: OPEN_AT_US + us(secs),
            len: 5,
            echo_rtt_us: Some(rtt),
        });
        self.frame(
            secs + rtt_ms / 1000.0,
            Side::Remote,
            FrameKind::Text {
                len: 5,
                preview: "hello".to_owned(),
                echo_rtt_us: Some(rtt),
            },
        )
    }

    /// The open connection ended this way `secs` after the 101.
    pub(crate) fn closed(self, secs: f64, end: ConnectionEnd) -> Probe {
        self.end_at(end, OPEN_AT_US + us(secs), Some(us(secs)))
    }

    fn end_at(mut self, end: ConnectionEnd, at_us: u64, open_for_us: Option<u64>) -> Probe {
        let c = &self.ev.connection;
        let last = |side: Side| {
            c.events_from(side)
                .map(|e| e.at_us)
                .filter(|t| *t <= at_us)
                .max()
                .unwrap_or(OPEN_AT_US)
        };
        let since = |side: Side| open_for_us.map(|_| at_us.saturating_sub(last(side)));
        let since_last_pong = open_for_us.and_then(|_| {
            c.events_from(Side::Remote)
                .filter(|e| matches!(e.kind, FrameKind::Pong { .. }))
                .map(|e| at_us.saturating_sub(e.at_us))
                .min()
        });
        let record = EndRecord {
            end,
            at_us,
            open_for_us,
            since_last_inbound_us: since(Side::Remote),
            since_last_pong_us: since_last_pong,
            since_last_outbound_us: since(Side::Local),
        };
        self.ev.connection.end = Some(record);
        self
    }

    /// Through this forward proxy.
    pub(crate) fn through_proxy(mut self, proxy: wsdoctor_evidence::ForwardProxyRecord) -> Probe {
        self.ev.connection.forward_proxy = Some(proxy);
        self
    }

    /// The evidence.
    pub(crate) fn build(self) -> ProbeEvidence {
        self.ev
    }
}
