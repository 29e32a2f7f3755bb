#![allow(clippy::unwrap_used, clippy::expect_used)]

use wsdoctor_evidence::{
    ConnectionEnd, FrameKind, HandshakeProblem, PongPolicy, ProbeEvidence, Side, TlsFailureKind,
    Transport,
};

use super::diagnose_probe;
use crate::finding::{CauseId, Finding, Severity, SourceKind, Verdict};
use crate::testkit::{handshake, switching, Probe};

const NGINX_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.24.0</center>\r\n</body>\r\n</html>\r\n";
const NGINX_400: &str = "<html>\r\n<head><title>400 Bad Request</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<hr><center>nginx/1.24.0</center>\r\n</body>\r\n</html>\r\n";

fn close(code: u16, reason: &str, initiator: Side, answered: bool) -> ConnectionEnd {
    ConnectionEnd::CloseHandshake {
        code: Some(code),
        reason: reason.to_owned(),
        initiator,
        answered,
    }
}

fn we_closed() -> ConnectionEnd {
    close(1000, "", Side::Local, true)
}

fn behind_nginx() -> wsdoctor_evidence::HandshakeRecord {
    let mut hs = switching();
    hs.headers.insert(
        0,
        wsdoctor_evidence::Header {
            name: "Server".into(),
            value: "nginx/1.24.0".into(),
        },
    );
    hs
}

/// One rule's expectation: the top finding's id and severity, plus whatever
/// else the case checks.
struct Case {
    name: &'static str,
    ev: ProbeEvidence,
    id: CauseId,
    severity: Severity,
    check: fn(&Finding),
}

fn case(
    name: &'static str,
    ev: Probe,
    id: CauseId,
    severity: Severity,
    check: fn(&Finding),
) -> Case {
    Case {
        name,
        ev: ev.build(),
        id,
        severity,
        check,
    }
}

fn nothing(_: &Finding) {}

fn has_evidence(f: &Finding, text: &str) -> bool {
    f.evidence.iter().any(|l| l.contains(text))
}

fn has_fix(f: &Finding, text: &str) -> bool {
    f.fix
        .iter()
        .any(|x| x.text.contains(text) || x.snippet.as_deref().is_some_and(|s| s.contains(text)))
}

#[allow(clippy::too_many_lines)] // one table
fn cases() -> Vec<Case> {
    use CauseId as C;
    use Severity::{Error, Info, Warning};
    vec![
        case(
            "dns",
            Probe::new().failed(ConnectionEnd::DnsFailed {
                host: "nope.example.test".into(),
                error: "failed to lookup address information: Name or service not known".into(),
            }),
            C::DnsFailure,
            Error,
            |f| assert!(has_evidence(f, "Name or service not known")),
        ),
        case(
            "refused",
            Probe::new().failed(ConnectionEnd::ConnectRefused {
                addr: "192.0.2.10:443".into(),
            }),
            C::ConnectRefused,
            Error,
            |f| assert!(has_evidence(f, "refused")),
        ),
        case(
            "connect timeout",
            Probe::new().failed(ConnectionEnd::ConnectTimedOut {
                addr: "192.0.2.10:443".into(),
                after_ms: 10_000,
            }),
            C::ConnectTimeout,
            Error,
            |f| assert!(has_evidence(f, "10000 ms")),
        ),
        case(
            "unreachable is the closest to a timeout, with the OS error",
            Probe::new().failed(ConnectionEnd::ConnectFailed {
                addr: "192.0.2.10:443".into(),
                error: "Network is unreachable (os error 101)".into(),
            }),
            C::ConnectTimeout,
            Error,
            |f| assert!(has_evidence(f, "Network is unreachable")),
        ),
        case(
            "a refused connect failure is connect-refused",
            Probe::new().failed(ConnectionEnd::ConnectFailed {
                addr: "192.0.2.10:443".into(),
                error: "Connection refused (os error 111)".into(),
            }),
            C::ConnectRefused,
            Error,
            nothing,
        ),
        case(
            "untrusted certificate",
            Probe::new().failed(ConnectionEnd::TlsFailed {
                failure: TlsFailureKind::UntrustedCertificate,
                error: "invalid peer certificate: UnknownIssuer".into(),
            }),
            C::TlsFailure,
            Error,
            |f| assert!(has_fix(f, "--ca-cert") && has_evidence(f, "UnknownIssuer")),
        ),
        case(
            "wss to a plain port",
            Probe::new().failed(ConnectionEnd::TlsFailed {
                failure: TlsFailureKind::NotTls,
                error: "received corrupt message of type InvalidContentType".into(),
            }),
            C::TlsFailure,
            Error,
            |f| assert!(has_fix(f, "use ws://")),
        ),
        case(
            "no answer to the upgrade",
            Probe::new().failed(ConnectionEnd::HandshakeTimedOut { after_ms: 10_000 }),
            C::BackendUnavailable,
            Error,
            |f| assert!(has_evidence(f, "within 10000 ms")),
        ),
        case(
            "closed on the upgrade request without a byte",
            Probe::new().failed(ConnectionEnd::HandshakeAborted {
                bytes_received: 0,
                transport: Transport::Eof,
            }),
            C::UpgradeNotForwarded,
            Error,
            |f| assert!(f.confidence < 0.5 && has_fix(f, "curl")),
        ),
        case(
            "cut off mid-answer",
            Probe::new().failed(ConnectionEnd::HandshakeAborted {
                bytes_received: 17,
                transport: Transport::Reset,
            }),
            C::BackendUnavailable,
            Error,
            |f| assert!(has_evidence(f, "RST")),
        ),
        case(
            "502 from nginx",
            Probe::new().rejected(handshake(
                502,
                &[("Server", "nginx/1.24.0"), ("Content-Type", "text/html")],
                Some(NGINX_502),
            )),
            C::BackendUnavailable,
            Error,
            |f| {
                assert_eq!(f.measured.http_status, Some(502));
                assert_eq!(f.intermediary.as_deref(), Some("nginx"));
                assert!(has_evidence(
                    f,
                    "upgrade answered HTTP 502 Bad Gateway after 3.2 ms"
                ));
                assert!(has_evidence(f, "Server: nginx/1.24.0"));
                assert!(has_evidence(f, "body: <title>502 Bad Gateway</title>"));
            },
        ),
        case(
            "504 from nginx quotes its handshake timeout",
            Probe::new().rejected(handshake(504, &[("Server", "nginx")], None)),
            C::BackendUnavailable,
            Error,
            |f| assert!(has_fix(f, "proxy_read_timeout")),
        ),
        case(
            "a 200 page",
            Probe::new().rejected(handshake(
                200,
                &[("Content-Type", "text/html")],
                Some("<!doctype html><title>My App</title>"),
            )),
            C::UpgradeNotForwarded,
            Error,
            |f| assert!(f.title.contains("plain HTTP") && has_fix(f, "Upgrade")),
        ),
        case(
            "an HTTP/1.0 answer",
            Probe::new().rejected({
                let mut hs = handshake(400, &[], Some("Bad Request"));
                hs.http_version = "HTTP/1.0".into();
                hs
            }),
            C::UpgradeNotForwarded,
            Error,
            |f| assert!(has_evidence(f, "HTTP/1.0")),
        ),
        case(
            "426",
            Probe::new().rejected(handshake(426, &[], Some("Upgrade Required"))),
            C::UpgradeNotForwarded,
            Error,
            nothing,
        ),
        case(
            "400 from nginx gets nginx's config",
            Probe::new().rejected(handshake(
                400,
                &[("Server", "nginx/1.24.0")],
                Some(NGINX_400),
            )),
            C::UpgradeNotForwarded,
            Error,
            |f| {
                assert_eq!(f.intermediary.as_deref(), Some("nginx"));
                let nginx = f.fix.iter().find(|x| x.for_ == "nginx").unwrap();
                let snippet = nginx.snippet.as_deref().unwrap();
                assert!(snippet.contains("map $http_upgrade $connection_upgrade"));
                assert!(snippet.contains("proxy_set_header Upgrade $http_upgrade;"));
            },
        ),
        case(
            "400 whose body asks for an upgrade",
            Probe::new().rejected(handshake(
                400,
                &[("Content-Type", "text/plain")],
                Some("Bad Request\nCan \"Upgrade\" only to \"WebSocket\".\n"),
            )),
            C::UpgradeNotForwarded,
            Error,
            |f| {
                assert!(has_evidence(
                    f,
                    "body: Can \"Upgrade\" only to \"WebSocket\"."
                ));
            },
        ),
        case(
            "a bare 400 is the app's own refusal",
            Probe::new().rejected(handshake(400, &[], Some("missing room parameter"))),
            C::UpgradeRejected,
            Error,
            |f| assert!((f.confidence - 0.5).abs() < 1e-9),
        ),
        case(
            "plain HTTP to nginx's TLS port",
            Probe::new().rejected(handshake(
                400,
                &[("Server", "nginx")],
                Some("<center>The plain HTTP request was sent to HTTPS port</center>"),
            )),
            C::UpgradeRejected,
            Error,
            |f| assert!(has_fix(f, "wss://")),
        ),
        case(
            "401",
            Probe::new().rejected(handshake(401, &[("WWW-Authenticate", "Bearer")], None)),
            C::UpgradeRejected,
            Error,
            |f| assert!(has_fix(f, "--origin") && has_fix(f, "Authorization")),
        ),
        case(
            "403 from the ALB itself",
            Probe::new().rejected(handshake(403, &[("Server", "awselb/2.0")], None)),
            C::UpgradeRejected,
            Error,
            |f| {
                assert_eq!(f.intermediary.as_deref(), Some("aws-alb"));
                assert!(f.fix.iter().any(|x| x.for_ == "aws-alb"));
            },
        ),
        case(
            "404",
            Probe::new().rejected(handshake(404, &[], Some("Not Found"))),
            C::UpgradeRejected,
            Error,
            |f| assert!(has_fix(f, "/ws")),
        ),
        case(
            "redirect",
            Probe::new().rejected(handshake(
                301,
                &[("Location", "https://example.test/ws")],
                None,
            )),
            C::UpgradeRejected,
            Error,
            |f| assert!(has_evidence(f, "Location: https://example.test/ws")),
        ),
        case(
            "500 is a weak backend signal",
            Probe::new().rejected(handshake(500, &[], Some("Internal Server Error"))),
            C::BackendUnavailable,
            Error,
            |f| assert!(f.confidence < 0.5),
        ),
        case(
            "429",
            Probe::new().rejected(handshake(429, &[], None)),
            C::UpgradeRejected,
            Error,
            nothing,
        ),
        case(
            "bad accept",
            Probe::new().invalid({
                let mut hs = switching();
                hs.problems = vec![HandshakeProblem::BadAccept {
                    expected: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".into(),
                    got: Some("bogus".into()),
                }];
                hs
            }),
            C::HandshakeInvalid,
            Error,
            |f| {
                assert!(has_evidence(f, "Sec-WebSocket-Accept is \"bogus\""));
                assert_eq!(f.measured.http_status, Some(101));
            },
        ),
        case(
            "1011 is a server error",
            Probe::new()
                .opened()
                .closed(4.2, close(1011, "unexpected error", Side::Remote, true)),
            C::ServerError,
            Error,
            |f| {
                assert_eq!(f.measured.close_code, Some(1011));
                assert_eq!(f.measured.close_reason.as_deref(), Some("unexpected error"));
                assert_eq!(f.measured.open_for_s, Some(4.2));
            },
        ),
        case(
            "1011 keepalive ping timeout although we answered",
            Probe::new().opened().server_pings(20.0, 2).closed(
                60.0,
                close(1011, "keepalive ping timeout", Side::Remote, false),
            ),
            C::LocalKeepaliveTimeout,
            Error,
            |f| {
                assert!(has_evidence(
                    f,
                    "we answered 2 of 2 server pings (pong policy: answer at once)"
                ));
                assert_eq!(f.measured.server_ping_interval_s, Some(20.0));
            },
        ),
        case(
            "1011 keepalive when we were told not to answer",
            Probe::new()
                .watch(60.0)
                .pong_policy(PongPolicy::Never)
                .opened()
                .frame(20.0, Side::Remote, FrameKind::Ping { len: 0 })
                .closed(
                    40.0,
                    close(1011, "keepalive ping timeout", Side::Remote, false),
                ),
            C::LocalKeepaliveTimeout,
            Info,
            |f| assert!(has_evidence(f, "pong policy: never answer")),
        ),
        case(
            "1001",
            Probe::new()
                .opened()
                .closed(300.0, close(1001, "Idle Timeout", Side::Remote, true)),
            C::GoingAway,
            Warning,
            |f| assert!(has_fix(f, "idle timeout")),
        ),
        case(
            "1012 restart",
            Probe::new()
                .opened()
                .closed(3.0, close(1012, "", Side::Remote, true)),
            C::GoingAway,
            Warning,
            |f| assert!(f.title.contains("Service Restart")),
        ),
        case(
            "1009",
            Probe::new()
                .opened()
                .echo(0.5, 2.0)
                .closed(1.0, close(1009, "message too big", Side::Remote, true)),
            C::ProtocolError,
            Error,
            |f| assert!(has_evidence(f, "largest message was 5 bytes")),
        ),
        case(
            "1004 must not be sent",
            Probe::new()
                .opened()
                .closed(1.0, close(1004, "", Side::Remote, true)),
            C::ProtocolError,
            Warning,
            nothing,
        ),
        case(
            "1008",
            Probe::new()
                .opened()
                .closed(1.0, close(1008, "token expired", Side::Remote, true)),
            C::PolicyClose,
            Error,
            |f| assert!(has_evidence(f, "\"token expired\"")),
        ),
        case(
            "4001",
            Probe::new()
                .opened()
                .closed(1.0, close(4001, "unauthorized", Side::Remote, true)),
            C::PolicyClose,
            Error,
            |f| assert!(has_fix(f, "4001")),
        ),
        case(
            "the server closes with 1000 during the watch: that is why it dropped",
            Probe::new()
                .opened()
                .closed(2.0, close(1000, "bye", Side::Remote, true)),
            C::ServerClose,
            Error,
            |f| {
                assert!(has_evidence(
                    f,
                    "the server sent close frame 1000 \"bye\" 2.000 s after the 101"
                ));
                assert!(has_evidence(f, "1000 (Normal Closure)"));
                assert!(has_fix(
                    f,
                    "Search the server's own code for the reason text \"bye\""
                ));
                assert_eq!(f.measured.close_code, Some(1000));
                assert_eq!(f.measured.close_reason.as_deref(), Some("bye"));
            },
        ),
        case(
            "we close at the end of a short watch",
            Probe::new()
                .opened()
                .echo(1.0, 1.8)
                .closed(10.0, we_closed()),
            C::Healthy,
            Info,
            |f| {
                assert!(has_evidence(f, "1 of 1 messages echoed, median RTT 1.8 ms"));
                assert!(has_evidence(f, "the server answered"));
            },
        ),
        case(
            "healthy with server pings",
            Probe::new()
                .watch(65.0)
                .opened()
                .server_pings(20.0, 3)
                .closed(65.0, we_closed()),
            C::Healthy,
            Info,
            |f| {
                assert_eq!(f.measured.server_ping_interval_s, Some(20.0));
                assert!(has_evidence(f, "the server sent 3 pings, every ~20.0 s"));
            },
        ),
        case(
            "our close not answered is only a note",
            Probe::new()
                .opened()
                .server_pings(3.0, 2)
                .closed(10.0, close(1000, "", Side::Local, false)),
            C::Healthy,
            Info,
            nothing,
        ),
        case(
            "FIN at nginx's idle timeout",
            Probe::new()
                .watch(65.0)
                .opened_with(behind_nginx())
                .closed(60.013, ConnectionEnd::FinWithoutClose { mid_frame: false }),
            C::AbnormalClose,
            Error,
            |f| {
                assert_eq!(f.measured.transport.as_deref(), Some("eof"));
                assert_eq!(f.intermediary.as_deref(), Some("nginx"));
                assert!(has_evidence(
                    f,
                    "peer closed TCP (FIN) 60.013 s after the 101, no close frame, 60.013 s since the last frame from the server"
                ));
                assert!(has_evidence(f, "matches the default idle timeout of"));
                assert!(f.fix.iter().any(|x| x.for_ == "nginx"));
                assert!(has_fix(f, "wsdoctor idle"));
            },
        ),
        case(
            "RST after 350 s of silence, no header: the NLB first, by its timer and how it closes",
            Probe::new()
                .watch(400.0)
                .opened()
                .closed(350.2, ConnectionEnd::Reset),
            C::AbnormalClose,
            Error,
            |f| {
                assert_eq!(f.intermediary, None, "no header names it: {f:#?}");
                let first = f.evidence.iter().find(|l| l.starts_with("  ")).unwrap();
                assert!(first.contains("aws-nlb.idle_close_method"), "{first}");
                assert!(f.fix.iter().any(|x| x.for_ == "aws-nlb"));
            },
        ),
        case(
            "FIN at 30 s of age, no header: GCP's backend-service timeout first, not named",
            Probe::new()
                .watch(65.0)
                .opened()
                .closed(30.0, ConnectionEnd::FinWithoutClose { mid_frame: false }),
            C::AbnormalClose,
            Error,
            |f| {
                assert_eq!(f.intermediary, None, "{f:#?}");
                let first = f.evidence.iter().find(|l| l.starts_with("  ")).unwrap();
                assert!(first.contains("gcp-external-alb"), "{:#?}", f.evidence);
                assert!(f.fix.iter().any(|x| x.for_ == "gcp-external-alb"));
            },
        ),
        case(
            "RST",
            Probe::new().opened().closed(5.0, ConnectionEnd::Reset),
            C::AbnormalClose,
            Error,
            |f| assert_eq!(f.measured.transport.as_deref(), Some("reset")),
        ),
        case(
            "half-open",
            Probe::new().our_pings(20.0).opened().closed(
                50.0,
                ConnectionEnd::HalfOpen {
                    ping_unanswered_ms: 10_000,
                },
            ),
            C::AbnormalClose,
            Error,
            |f| {
                assert_eq!(f.measured.transport.as_deref(), Some("half-open"));
                assert!(has_evidence(f, "unanswered for 10000 ms"));
            },
        ),
        case(
            "TLS error while open",
            Probe::new().opened().closed(
                7.0,
                ConnectionEnd::TlsError {
                    error: "bad record MAC".into(),
                },
            ),
            C::AbnormalClose,
            Error,
            |f| assert_eq!(f.measured.transport.as_deref(), Some("tls")),
        ),
        case(
            "protocol violation",
            Probe::new().opened().closed(
                1.0,
                ConnectionEnd::ProtocolViolation {
                    rule: "server frame was masked".into(),
                },
            ),
            C::ProtocolError,
            Error,
            |f| assert!(has_evidence(f, "server frame was masked")),
        ),
        case(
            "socket error",
            Probe::new().opened().closed(
                3.0,
                ConnectionEnd::Io {
                    error: "Broken pipe (os error 32)".into(),
                },
            ),
            C::AbnormalClose,
            Error,
            |f| assert!(has_evidence(f, "Broken pipe")),
        ),
        case(
            "our own deadline",
            Probe::new().opened().closed(
                12.0,
                ConnectionEnd::LocalDeadline {
                    what: "close frame not answered within 2 s".into(),
                },
            ),
            C::AbnormalClose,
            Warning,
            nothing,
        ),
        case(
            "no heartbeat over a long watch",
            Probe::new().watch(65.0).opened().closed(65.0, we_closed()),
            C::NoHeartbeat,
            Warning,
            |f| {
                assert!((f.confidence - 0.7).abs() < 1e-9);
                assert_eq!(f.measured.watched_s, Some(65.0));
            },
        ),
        case(
            "server pings every 60 s behind nginx",
            Probe::new()
                .watch(185.0)
                .opened_with(behind_nginx())
                .server_pings(60.0, 3)
                .closed(185.0, we_closed()),
            C::HeartbeatTooSlow,
            Warning,
            |f| {
                assert_eq!(f.intermediary.as_deref(), Some("nginx"));
                assert!((f.confidence - 0.7).abs() < 1e-9);
                assert!(f.fix.iter().any(|x| x.for_ == "nginx"));
            },
        ),
        case(
            "server pings every 60 s",
            Probe::new()
                .watch(185.0)
                .opened()
                .server_pings(60.0, 3)
                .closed(185.0, we_closed()),
            C::HeartbeatTooSlow,
            Warning,
            |f| {
                assert_eq!(f.measured.server_ping_interval_s, Some(60.0));
                // No header names a hop: the likely ones are named, not blamed.
                assert_eq!(f.intermediary, None);
                assert!(has_evidence(f, "nginx 60 s, Kubernetes ingress-nginx controller 60 s, AWS Application Load Balancer 60 s"), "{:#?}", f.evidence);
                let hops: Vec<&str> = f.fix.iter().skip(1).map(|x| x.for_.as_str()).collect();
                assert_eq!(hops, ["nginx", "ingress-nginx", "aws-alb"]);
            },
        ),
    ]
}

#[test]
fn each_rule() {
    for c in cases() {
        let findings = diagnose_probe(&c.ev);
        let top = findings
            .first()
            .unwrap_or_else(|| panic!("{}: no findings", c.name));
        assert_eq!(
            (top.id, top.severity),
            (c.id, c.severity),
            "{}: {findings:#?}",
            c.name
        );
        (c.check)(top);
    }
}

#[test]
fn every_finding_is_complete_and_ranked() {
    for c in cases() {
        let findings = diagnose_probe(&c.ev);
        for f in &findings {
            assert!(
                !f.evidence.is_empty(),
                "{}: {} has no evidence",
                c.name,
                f.id.as_str()
            );
            assert!(
                !f.fix.is_empty(),
                "{}: {} has no fix",
                c.name,
                f.id.as_str()
            );
            assert!(
                (0.0..=1.0).contains(&f.confidence),
                "{}: confidence",
                c.name
            );
            assert_eq!(f.source, SourceKind::Probe);
            assert!(
                !f.evidence.iter().any(|l| l.chars().any(char::is_control)),
                "{}",
                c.name
            );
        }
        for pair in findings.windows(2) {
            assert!(
                (pair[0].severity, pair[0].confidence) >= (pair[1].severity, pair[1].confidence),
                "{}: not ranked",
                c.name
            );
        }
        // healthy appears exactly when nothing reached warning on an opened connection.
        let warned = findings.iter().any(|f| f.severity >= Severity::Warning);
        let healthy = findings.iter().any(|f| f.id == CauseId::Healthy);
        assert_eq!(healthy, !warned && c.ev.connection.opened(), "{}", c.name);
        let verdict = Verdict::of(&findings);
        assert_eq!(verdict == Verdict::Problems, warned, "{}", c.name);
    }
}

#[test]
fn short_watch_without_pings_is_only_a_note() {
    let ev = Probe::new().opened().closed(10.0, we_closed()).build();
    let findings = diagnose_probe(&ev);
    let nh = findings
        .iter()
        .find(|f| f.id == CauseId::NoHeartbeat)
        .unwrap();
    assert_eq!(nh.severity, Severity::Info);
    assert!((nh.confidence - 0.3).abs() < 1e-9);
    assert_eq!(
        nh.title,
        "No ping from the server in the 10.0 s watch: a heartbeat slower than that cannot be excluded"
    );
    assert!(has_evidence(
        nh,
        "a heartbeat slower than that cannot be excluded"
    ));
    assert!(has_fix(nh, "--watch 65s") && has_fix(nh, "every 25 s"));
    assert_eq!(Verdict::of(&findings), Verdict::Healthy);
}

#[test]
fn a_fin_while_silent_also_reports_the_missing_heartbeat() {
    let ev = Probe::new()
        .watch(120.0)
        .opened()
        .closed(100.2, ConnectionEnd::FinWithoutClose { mid_frame: false })
        .build();
    let ids: Vec<_> = diagnose_probe(&ev).iter().map(|f| f.id).collect();
    assert_eq!(ids, [CauseId::AbnormalClose, CauseId::NoHeartbeat]);
}

/// HAProxy's answer to the fingerprint's malformed header: it is the hop
/// our connection reaches.
fn haproxy_in_front() -> wsdoctor_evidence::HopProbeRecord {
    let header = |name: &str, value: &str| wsdoctor_evidence::Header {
        name: name.into(),
        value: value.into(),
    };
    wsdoctor_evidence::HopProbeRecord {
        to: "192.0.2.10:443".into(),
        tls: true,
        exchanges: vec![wsdoctor_evidence::HopProbeExchange {
            probe: "bad-header-name".into(),
            sent: String::new(),
            status: Some(400),
            reason: "Bad request".into(),
            headers: vec![
                header("Content-length", "90"),
                header("Content-Type", "text/html"),
            ],
            body: "<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n</body></html>\n".into(),
            error: None,
            elapsed_us: 1000,
        }],
    }
}

#[test]
fn a_drop_at_a_configured_front_hop_names_the_proxy_behind_it() {
    // 2.5 s is no product's default: HAProxy (in front) was set to it,
    // or nginx behind it, whose Server header came back through HAProxy.
    let mut ev = Probe::new()
        .opened_with(behind_nginx())
        .closed(2.5, ConnectionEnd::FinWithoutClose { mid_frame: false })
        .build();
    ev.hop_probe = Some(haproxy_in_front());
    let f = &diagnose_probe(&ev)[0];
    assert_eq!(f.intermediary.as_deref(), Some("haproxy"), "{f:#?}");
    assert!(
        has_evidence(f, "nginx behind it may be set to the same value"),
        "{f:#?}"
    );
}

#[test]
fn a_peers_header_saying_came_back_through_places_no_hop_behind() {
    // The same words in a header the peer wrote are not the fingerprint's:
    // only a hop it found in front puts another behind it.
    let mut hs = behind_nginx();
    hs.headers.push(wsdoctor_evidence::Header {
        name: "Via".into(),
        value: "1.1 squid, came back through".into(),
    });
    let ev = Probe::new()
        .opened_with(hs)
        .closed(2.5, ConnectionEnd::FinWithoutClose { mid_frame: false })
        .build();
    let f = &diagnose_probe(&ev)[0];
    assert!(has_evidence(f, "idle timer is configurable"), "{f:#?}");
    assert!(!has_evidence(f, "behind it may be set"), "{f:#?}");
}

#[test]
fn hostile_peer_text_is_escaped() {
    let ev = Probe::new()
        .opened()
        .closed(
            1.0,
            close(4000, "\u{1b}[2J\nforged line", Side::Remote, true),
        )
        .build();
    let f = &diagnose_probe(&ev)[0];
    assert!(f.title.contains("\\u{1b}[2J\\nforged line"), "{}", f.title);
    assert!(!f.measured.close_reason.as_deref().unwrap().contains('\n'));
}

#[test]
fn no_evidence_means_inconclusive() {
    let findings = diagnose_probe(&Probe::new().build());
    assert!(findings.is_empty());
    assert_eq!(Verdict::of(&findings), Verdict::Inconclusive);
}

mod snapshots {
    use super::*;

    #[test]
    fn nginx_bad_gateway() {
        let ev = Probe::new()
            .rejected(handshake(
                502,
                &[("Server", "nginx/1.24.0"), ("Content-Type", "text/html")],
                Some(NGINX_502),
            ))
            .build();
        insta::assert_json_snapshot!(diagnose_probe(&ev));
    }

    #[test]
    fn alb_idle_drop() {
        let mut hs = switching();
        hs.headers.push(wsdoctor_evidence::Header {
            name: "Set-Cookie".into(),
            value: "AWSALB=REDACTED".into(),
        });
        let ev = Probe::new()
            .watch(90.0)
            .opened_with(hs)
            .echo(1.0, 2.4)
            .closed(61.004, ConnectionEnd::FinWithoutClose { mid_frame: false })
            .build();
        insta::assert_json_snapshot!(diagnose_probe(&ev));
    }

    #[test]
    fn healthy_with_pings() {
        let ev = Probe::new()
            .watch(65.0)
            .opened()
            .echo(0.5, 1.2)
            .server_pings(20.0, 3)
            .closed(65.0, we_closed())
            .build();
        insta::assert_json_snapshot!(diagnose_probe(&ev));
    }

    #[test]
    fn keepalive_timeout_from_uvicorn() {
        let mut hs = switching();
        hs.headers.push(wsdoctor_evidence::Header {
            name: "Server".into(),
            value: "uvicorn".into(),
        });
        let ev = Probe::new()
            .pong_policy(PongPolicy::Delay { ms: 25_000 })
            .opened_with(hs)
            .frame(20.0, Side::Remote, FrameKind::Ping { len: 4 })
            .closed(
                40.002,
                close(1011, "keepalive ping timeout", Side::Remote, false),
            )
            .build();
        insta::assert_json_snapshot!(diagnose_probe(&ev));
    }
}

#[test]
fn a_refusal_is_the_proxy_s_own_only_when_its_server_header_says_so() {
    let refusal = |headers: &[(&str, &str)]| {
        let ev = Probe::new().rejected(handshake(403, headers, None)).build();
        diagnose_probe(&ev).remove(0)
    };
    let its_own = "itself: check its WAF or access rules";
    // The proxy wrote the 403 and signed it.
    let f = refusal(&[("Server", "awselb/2.0")]);
    assert_eq!(f.intermediary.as_deref(), Some("aws-alb"), "{f:#?}");
    assert!(has_fix(&f, its_own), "{f:#?}");
    // HAProxy only passed it on (it appended itself to Via); that the
    // header's text says "server:" decides nothing.
    let f = refusal(&[("Via", "1.1 haproxy (server: app-7)")]);
    assert_eq!(f.id, CauseId::UpgradeRejected);
    assert_eq!(f.intermediary.as_deref(), Some("haproxy"), "{f:#?}");
    assert!(!has_fix(&f, its_own), "{f:#?}");
}
