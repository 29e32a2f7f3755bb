#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::{LocalResource, Side, TlsFailureKind, Transport};

fn every_end() -> Vec<ConnectionEnd> {
    let s = String::new;
    vec![
        ConnectionEnd::DnsFailed {
            host: s(),
            error: s(),
        },
        ConnectionEnd::ConnectRefused { addr: s() },
        ConnectionEnd::ConnectTimedOut {
            addr: s(),
            after_ms: 1,
        },
        ConnectionEnd::LocalLimit {
            resource: LocalResource::Memory,
            error: s(),
        },
        ConnectionEnd::ConnectFailed {
            addr: s(),
            error: s(),
        },
        ConnectionEnd::TlsFailed {
            failure: TlsFailureKind::Other,
            error: s(),
        },
        ConnectionEnd::HandshakeTimedOut { after_ms: 1 },
        ConnectionEnd::HandshakeAborted {
            bytes_received: 0,
            transport: Transport::Reset,
        },
        ConnectionEnd::HandshakeRejected { status: 503 },
        ConnectionEnd::HandshakeInvalid {
            problems: Vec::new(),
        },
        ConnectionEnd::CloseHandshake {
            code: Some(1001),
            reason: s(),
            initiator: Side::Remote,
            answered: true,
        },
        ConnectionEnd::FinWithoutClose { mid_frame: false },
        ConnectionEnd::Reset,
        ConnectionEnd::HalfOpen {
            ping_unanswered_ms: 1,
        },
        ConnectionEnd::TlsError { error: s() },
        ConnectionEnd::ProtocolViolation { rule: s() },
        ConnectionEnd::PeerStoppedReading {
            queued_bytes: 1,
            blocked_ms: 1,
        },
        ConnectionEnd::LocalDeadline { what: s() },
        ConnectionEnd::Io { error: s() },
        ConnectionEnd::ProxyRefused {
            proxy: s(),
            answer: s(),
            status: None,
        },
        ConnectionEnd::ProxyFailed {
            proxy: s(),
            error: s(),
        },
    ]
}

#[test]
fn the_view_of_every_end_agrees_with_its_serialized_kind() {
    for end in every_end() {
        let json = serde_json::to_value(&end).unwrap();
        let kind = json["kind"].as_str().unwrap();
        let code = json["code"].as_u64().map(|c| u16::try_from(c).unwrap());
        let view = EventEnd::from(&end);
        assert_eq!(EventEnd::of_event(kind, code), Some(view), "{kind}");
        assert_eq!(EventEnd::parse(view.as_str()), Some(view), "{kind}");
    }
}

#[test]
fn close_codes_are_spelled_as_reports_always_were() {
    let spell = |code| EventEnd::Close(CloseCodeClass::from(code)).as_str();
    assert_eq!(spell(Some(1000)), "close 1000");
    assert_eq!(spell(Some(1013)), "close 1013");
    assert_eq!(spell(Some(1014)), "close (other code)");
    assert_eq!(spell(Some(4321)), "close 4xxx (application)");
    assert_eq!(spell(None), "close (no code)");
    for text in [
        "close 1001",
        "close (no code)",
        "close 4xxx (application)",
        "close (other code)",
    ] {
        assert_eq!(EventEnd::parse(text).unwrap().as_str(), text);
    }
    assert_eq!(EventEnd::parse("close 1014"), None);
    assert_eq!(EventEnd::of_event("a-kind-of-tomorrow", None), None);
}

#[test]
fn haproxy_states_say_who_and_when() {
    let cd = HaproxyTermination::parse("cD").unwrap();
    assert_eq!(cd.ended_by(), EndedBy::Client);
    assert!(cd.is_data_phase_timeout());
    assert_eq!(
        cd.meaning(),
        Some("client-side timeout during the data phase (timeout client / timeout tunnel)")
    );
    let sd = HaproxyTermination::parse("SD").unwrap();
    assert_eq!(
        (sd.ended_by(), sd.is_data_phase_timeout()),
        (EndedBy::Server, false)
    );
    assert_eq!(
        sd.meaning(),
        Some("the server closed or aborted during the data phase")
    );
    assert_eq!(
        HaproxyTermination::parse("--").unwrap().meaning(),
        Some("normal end")
    );
    assert_eq!(
        HaproxyTermination::parse("PR").unwrap().ended_by(),
        EndedBy::Proxy
    );
    assert_eq!(HaproxyTermination::parse("x"), None);
    assert_eq!(HaproxyTermination::parse("xD"), None);
    for state in ["cD", "sD", "SC", "--", "PR", "cZ", "K-"] {
        assert_eq!(HaproxyTermination::parse(state).unwrap().to_string(), state);
    }
}

#[test]
fn logged_ends_serialize_to_the_logs_words() {
    let read = |format, text| LoggedEnd::read(format, text);
    assert!(matches!(
        read(LogFormat::Haproxy, "cD"),
        LoggedEnd::Haproxy(_)
    ));
    assert!(matches!(
        read(LogFormat::Wsdoctor, "reset"),
        LoggedEnd::Wsdoctor(EventEnd::Reset)
    ));
    assert!(matches!(read(LogFormat::Alb, "cD"), LoggedEnd::Text(_)));
    assert!(matches!(
        read(LogFormat::Haproxy, "(other)"),
        LoggedEnd::Text(_)
    ));
    for (format, text) in [
        (LogFormat::Haproxy, "sD"),
        (LogFormat::Wsdoctor, "close 1001"),
        (LogFormat::Wsdoctor, "fin-without-close"),
        (LogFormat::Alb, "TargetConnectionError"),
    ] {
        let end = read(format, text);
        assert_eq!(serde_json::to_string(&end).unwrap(), format!("\"{text}\""));
    }
    assert_eq!(read(LogFormat::Alb, "x").meaning(), None);
    assert_eq!(
        read(LogFormat::Wsdoctor, "reset").meaning(),
        Some("TCP reset")
    );
}
