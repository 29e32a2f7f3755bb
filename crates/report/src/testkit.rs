//! Deterministic evidence and findings for the tests: a tiny builder and a
//! few named scenarios with fixed numbers, so snapshots never drift.

use wsdoctor_diagnosis::{CauseId, Finding, Fix, Measured, Severity, SourceKind};
use wsdoctor_evidence::{
    BodySample, ConnectionEnd, ConnectionRecord, EndRecord, FrameEvent, FrameKind, HandshakeRecord,
    Header, HeartbeatSettings, PhaseTimings, PongPolicy, ProbeEvidence, Role, SentMessage, Side,
    TlsInfo,
};

/// Milliseconds (possibly fractional) to the µs the evidence uses.
fn us(ms: f64) -> u64 {
    (ms * 1000.0).round() as u64
}

/// Builds a `ProbeEvidence` step by step.
pub(crate) struct Probe(ProbeEvidence);

impl Probe {
    /// A connection attempt to `target` with nothing recorded yet.
    pub(crate) fn to(target: &str) -> Probe {
        Probe(ProbeEvidence {
            connection: ConnectionRecord {
                target: target.to_owned(),
                started_at: "2026-11-26T03:16:16Z".to_owned(),
                role: Role::Client,
                resolved: Vec::new(),
                peer_addr: None,
                phases: PhaseTimings::default(),
                tls: None,
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
            watch_ms: 30_000,
            sent: Vec::new(),
            h2: None,
            hop_probe: None,
        })
    }

    pub(crate) fn resolved(mut self, addrs: &[&str], peer: &str) -> Probe {
        self.0.connection.resolved = addrs.iter().map(|a| (*a).to_owned()).collect();
        self.0.connection.peer_addr = Some(peer.to_owned());
        self
    }

    /// Phase end times in ms; `None` for phases that did not happen.
    pub(crate) fn phases(mut self, ms: [Option<f64>; 5]) -> Probe {
        let [dns, connect, tls, written, head] = ms.map(|m| m.map(us));
        self.0.connection.phases = PhaseTimings {
            dns_done_us: dns,
            connect_done_us: connect,
            tls_done_us: tls,
            request_written_us: written,
            response_head_us: head,
            proxy_tunnel_done_us: None,
        };
        self
    }

    pub(crate) fn tls13(mut self) -> Probe {
        self.0.connection.tls = Some(TlsInfo {
            version: "TLSv1_3".to_owned(),
            cipher: "TLS13_AES_128_GCM_SHA256".to_owned(),
            alpn: Some("http/1.1".to_owned()),
            verified: true,
            client_certificate: false,
        });
        self
    }

    pub(crate) fn response(
        mut self,
        request_line: &str,
        status: u16,
        reason: &str,
        headers: &[(&str, &str)],
    ) -> Probe {
        let headers: Vec<Header> = headers
            .iter()
            .map(|(name, value)| Header {
                name: (*name).to_owned(),
                value: (*value).to_owned(),
            })
            .collect();
        let subprotocol = headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("Sec-WebSocket-Protocol"))
            .map(|h| h.value.clone());
        self.0.connection.handshake = Some(HandshakeRecord {
            request: vec![
                request_line.to_owned(),
                "Upgrade: websocket".to_owned(),
                "Connection: Upgrade".to_owned(),
            ],
            http_version: "HTTP/1.1".to_owned(),
            status,
            reason: reason.to_owned(),
            headers,
            body: None,
            subprotocol,
            problems: Vec::new(),
        });
        self
    }

    pub(crate) fn body(mut self, text: &str) -> Probe {
        if let Some(h) = self.0.connection.handshake.as_mut() {
            h.body = Some(BodySample {
                text: text.to_owned(),
                bytes_read: text.len(),
                truncated: false,
            });
        }
        self
    }

    pub(crate) fn ping_every(mut self, ms: u64) -> Probe {
        self.0.connection.heartbeat.ping_interval_ms = Some(ms);
        self
    }

    pub(crate) fn frame(mut self, at_ms: f64, from: Side, kind: FrameKind) -> Probe {
        self.0.connection.events.push(FrameEvent {
            at_us: us(at_ms),
            from,
            kind,
        });
        self
    }

    pub(crate) fn sent(mut self, at_ms: f64, len: usize, echo_rtt_ms: Option<f64>) -> Probe {
        self.0.sent.push(SentMessage {
            at_us: us(at_ms),
            len,
            echo_rtt_us: echo_rtt_ms.map(us),
        });
        self
    }

    pub(crate) fn watch_ms(mut self, ms: u64) -> Probe {
        self.0.watch_ms = ms;
        self
    }

    /// How it ended: at `at_ms`, open for `open_ms`, with the idle and pong clocks.
    pub(crate) fn end(
        mut self,
        end: ConnectionEnd,
        at_ms: f64,
        open_ms: Option<f64>,
        since_inbound_ms: Option<f64>,
        since_pong_ms: Option<f64>,
    ) -> Probe {
        self.0.connection.end = Some(EndRecord {
            end,
            at_us: us(at_ms),
            open_for_us: open_ms.map(us),
            since_last_inbound_us: since_inbound_ms.map(us),
            since_last_pong_us: since_pong_ms.map(us),
            since_last_outbound_us: None,
        });
        self
    }

    pub(crate) fn build(self) -> ProbeEvidence {
        self.0
    }
}

/// A finding with no measured values, evidence or fixes yet.
pub(crate) fn finding(id: CauseId, severity: Severity, confidence: f64, title: &str) -> Finding {
    Finding {
        id,
        severity,
        confidence,
        title: title.to_owned(),
        source: SourceKind::Probe,
        subject: None,
        intermediary: None,
        measured: Measured::default(),
        evidence: Vec::new(),
        fix: Vec::new(),
        confirm: None,
        would_change: None,
    }
}

/// Adds evidence lines to a finding.
pub(crate) fn with_evidence(mut f: Finding, lines: &[&str]) -> Finding {
    f.evidence = lines.iter().map(|l| (*l).to_owned()).collect();
    f
}

/// Adds a fix to a finding.
pub(crate) fn with_fix(mut f: Finding, for_: &str, text: &str, snippet: Option<&str>) -> Finding {
    f.fix.push(Fix {
        for_: for_.to_owned(),
        text: text.to_owned(),
        snippet: snippet.map(str::to_owned),
    });
    f
}

fn pong(at_ms: f64, rtt_ms: f64) -> (f64, Side, FrameKind) {
    (
        at_ms,
        Side::Remote,
        FrameKind::Pong {
            len: 4,
            rtt_us: Some(us(rtt_ms)),
        },
    )
}

/// A healthy echo server at `target`, with server pings every 10 s, over
/// TLS when `tls` is set.
pub(crate) fn healthy_echo_at(target: &str, tls: bool) -> (ProbeEvidence, Vec<Finding>) {
    let probe = Probe::to(target);
    let probe = if tls {
        probe
            .resolved(&["198.51.100.20", "2001:db8::20"], "198.51.100.20:443")
            .phases([Some(12.4), Some(31.0), Some(58.2), Some(58.6), Some(84.1)])
            .tls13()
    } else {
        probe.resolved(&["127.0.0.1"], "127.0.0.1:8080").phases([
            Some(0.3),
            Some(0.5),
            None,
            Some(0.6),
            Some(1.9),
        ])
    };
    let mut probe = probe
        .response(
            "GET /ws HTTP/1.1",
            101,
            "Switching Protocols",
            &[
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
                ("Sec-WebSocket-Protocol", "chat"),
                ("Server", "uvicorn"),
                ("Date", "Thu, 26 Nov 2026 03:16:16 GMT"),
            ],
        )
        .ping_every(10_000)
        .frame(
            90.0,
            Side::Remote,
            FrameKind::Text {
                len: 19,
                preview: "{\"type\":\"welcome\"}".to_owned(),
                echo_rtt_us: None,
            },
        )
        .sent(100.0, 11, Some(26.0))
        .frame(
            126.0,
            Side::Remote,
            FrameKind::Text {
                len: 11,
                preview: "hello there".to_owned(),
                echo_rtt_us: Some(26_000),
            },
        );
    for at in [5_084.0, 15_084.0, 25_084.0] {
        probe = probe.frame(at, Side::Remote, FrameKind::Ping { len: 0 });
    }
    for (at, rtt) in [(10_084.0, 24.0), (20_084.0, 31.0), (30_084.0, 25.0)] {
        probe = probe.frame(at, Side::Local, FrameKind::Ping { len: 4 });
        let (at, from, kind) = pong(at + rtt, rtt);
        probe = probe.frame(at, from, kind);
    }
    let evidence = probe
        .end(
            ConnectionEnd::CloseHandshake {
                code: Some(1000),
                reason: String::new(),
                initiator: Side::Local,
                answered: true,
            },
            30_130.0,
            Some(30_046.0),
            Some(21.0),
            Some(21.0),
        )
        .build();
    let healthy = finding(
        CauseId::Healthy,
        Severity::Info,
        0.9,
        "The WebSocket opened, stayed up for the whole watch and closed cleanly",
    );
    let mut healthy = with_evidence(
        healthy,
        &[
            "101 in 84 ms; server pings every 10.0 s keep idle timers in the path reset",
            "1 of 1 echoes matched (RTT 26 ms); 3 of 3 pongs came back",
            "checks run: handshake, heartbeat, echo, close",
        ],
    );
    healthy.measured.server_ping_interval_s = Some(10.0);
    healthy.measured.watched_s = Some(30.0);
    let healthy = with_fix(
        healthy,
        "client",
        "Nothing to fix on this path. To measure idle timeouts, run `wsdoctor idle`.",
        None,
    );
    (evidence, vec![healthy])
}

/// The nginx error page for a 400, as nginx 1.25 sends it.
pub(crate) const NGINX_400_BODY: &str = "<html>\r\n<head><title>400 Bad Request</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n</body>\r\n</html>\r\n";

/// nginx answering the upgrade itself with 400 and its HTML error page.
/// `extra` headers are appended (for the escaping test).
pub(crate) fn nginx_400_with(extra: &[(&str, &str)]) -> (ProbeEvidence, Vec<Finding>) {
    let mut headers = vec![
        ("Server", "nginx/1.25.3"),
        ("Date", "Thu, 26 Nov 2026 03:16:16 GMT"),
        ("Content-Type", "text/html"),
        ("Content-Length", "157"),
        ("Connection", "close"),
    ];
    headers.extend_from_slice(extra);
    let evidence = Probe::to("wss://app.example.com/ws?token=REDACTED")
        .resolved(&["203.0.113.10"], "203.0.113.10:443")
        .phases([Some(8.1), Some(21.7), Some(47.9), Some(48.2), Some(61.5)])
        .tls13()
        .response(
            "GET /ws?token=REDACTED HTTP/1.1",
            400,
            "Bad Request",
            &headers,
        )
        .body(NGINX_400_BODY)
        .end(
            ConnectionEnd::HandshakeRejected { status: 400 },
            61.8,
            None,
            None,
            None,
        )
        .build();
    let mut not_forwarded = finding(
        CauseId::UpgradeNotForwarded,
        Severity::Error,
        0.8,
        "nginx answered the upgrade itself: the Upgrade header did not reach a WebSocket server",
    );
    not_forwarded.intermediary = Some("nginx".to_owned());
    not_forwarded.measured.http_status = Some(400);
    let not_forwarded = with_evidence(
        not_forwarded,
        &[
            "HTTP/1.1 400 Bad Request with Server: nginx/1.25.3 and nginx's own HTML error page",
            "no Upgrade or Sec-WebSocket-Accept header in the answer",
        ],
    );
    let not_forwarded = with_fix(
        not_forwarded,
        "nginx",
        "Forward the upgrade in the location that proxies this path; nginx drops hop-by-hop headers unless told to pass them.",
        Some("location /ws {\n    proxy_pass http://backend;\n    proxy_http_version 1.1;\n    proxy_set_header Upgrade $http_upgrade;\n    proxy_set_header Connection \"upgrade\";\n}"),
    );
    let mut rejected = finding(
        CauseId::UpgradeRejected,
        Severity::Warning,
        0.35,
        "Or the application behind nginx rejected the request",
    );
    rejected.measured.http_status = Some(400);
    let rejected = with_evidence(
        rejected,
        &["a 400 page can also be the backend's, passed through"],
    );
    let rejected = with_fix(
        rejected,
        "server",
        "Look for this request in the application's log; a 400 there names the missing header or bad path.",
        None,
    );
    (evidence, vec![not_forwarded, rejected])
}

/// A plain `ws://` connection to an IP that is reset after 60 s of silence.
pub(crate) fn rst_after_idle() -> (ProbeEvidence, Vec<Finding>) {
    let evidence = Probe::to("ws://10.0.4.7:8080/feed")
        .resolved(&["10.0.4.7"], "10.0.4.7:8080")
        .phases([None, Some(0.4), None, Some(0.5), Some(2.1)])
        .response(
            "GET /feed HTTP/1.1",
            101,
            "Switching Protocols",
            &[
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Accept", "HSmrc0sMlYUkAGmm5OPpG2HaGWk="),
            ],
        )
        .frame(
            5.0,
            Side::Remote,
            FrameKind::Text {
                len: 11,
                preview: "{\"hello\":1}".to_owned(),
                echo_rtt_us: None,
            },
        )
        .watch_ms(120_000)
        .end(
            ConnectionEnd::Reset,
            60_012.0,
            Some(60_009.9),
            Some(60_007.0),
            None,
        )
        .build();
    let mut abnormal = finding(
        CauseId::AbnormalClose,
        Severity::Error,
        0.85,
        "The connection was reset after 60.0 s without a close frame (browsers report 1006)",
    );
    abnormal.measured.transport = Some("reset".to_owned());
    abnormal.measured.open_for_s = Some(60.01);
    let abnormal = with_evidence(
        abnormal,
        &[
            "TCP RST at 60.012 s, no close frame from either side",
            "the last frame from the server came 60.007 s before the reset",
        ],
    );
    let abnormal = with_fix(
        abnormal,
        "client",
        "Treat 1006 as a normal event: reconnect with exponential backoff and jitter.",
        None,
    );
    let silent = finding(
        CauseId::NoHeartbeat,
        Severity::Warning,
        0.7,
        "Neither side sent a ping in the 60.0 s the connection lived",
    );
    let silent = with_evidence(silent, &["server pings: none; our pings: off"]);
    let silent = with_fix(
        silent,
        "server",
        "Ping every 20-30 s, below the shortest idle timeout in the path.",
        Some("websockets.serve(handler, host, port,\n\tping_interval=20, ping_timeout=20)"),
    );
    (evidence, vec![abnormal, silent])
}
