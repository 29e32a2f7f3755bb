//! How a log says a connection ended ([`LoggedEnd`]), typed where the
//! format's vocabulary is known: HAProxy's two-letter termination state
//! ([`HaproxyTermination`]) and the ends of wsdoctor's own events
//! ([`EventEnd`], a view of [`ConnectionEnd`]). Other formats' words (ALB
//! `error_reason`) stay the log's text. Each serializes to the string the
//! JSON report has always carried (`cD`, `close 1001`, `fin-without-close`),
//! so the rules match on the type and never compare strings.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::logs::LogFormat;
use crate::ConnectionEnd;

/// A connection's end as a log recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LoggedEnd {
    /// HAProxy's termination state (its first two characters).
    Haproxy(HaproxyTermination),
    /// The end of a connection in wsdoctor's own events.
    Wsdoctor(EventEnd),
    /// The log's own words, in a vocabulary wsdoctor does not type (ALB
    /// `error_reason`, or a word of a format's vocabulary not known here),
    /// already escaped and shortened for output.
    Text(String),
}

impl LoggedEnd {
    /// Reads `text` in the vocabulary of `format`; text no typed variant
    /// reads is kept as [`LoggedEnd::Text`].
    pub fn read(format: LogFormat, text: &str) -> LoggedEnd {
        let typed = match format {
            LogFormat::Haproxy => HaproxyTermination::parse(text).map(LoggedEnd::Haproxy),
            LogFormat::Wsdoctor => EventEnd::parse(text).map(LoggedEnd::Wsdoctor),
            _ => None,
        };
        typed.unwrap_or_else(|| LoggedEnd::Text(text.to_owned()))
    }

    /// What the end means, for the vocabularies wsdoctor knows.
    pub fn meaning(&self) -> Option<&'static str> {
        match self {
            LoggedEnd::Haproxy(t) => t.meaning(),
            LoggedEnd::Wsdoctor(e) => e.meaning(),
            LoggedEnd::Text(_) => None,
        }
    }

    /// The HAProxy termination state, when this is one.
    pub fn haproxy(&self) -> Option<HaproxyTermination> {
        match self {
            LoggedEnd::Haproxy(t) => Some(*t),
            _ => None,
        }
    }
}

impl fmt::Display for LoggedEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoggedEnd::Haproxy(t) => t.fmt(f),
            LoggedEnd::Wsdoctor(e) => f.write_str(e.as_str()),
            LoggedEnd::Text(text) => f.write_str(text),
        }
    }
}

impl Serialize for LoggedEnd {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Who ended a HAProxy session, from the first letter of its termination
/// state (HAProxy configuration manual, "Session state at disconnection").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TerminationCause {
    /// `C`: the client aborted.
    ClientAbort,
    /// `S`: the server aborted or refused.
    ServerAbort,
    /// `P`: the proxy refused or aborted (limits, filters, errors).
    Proxy,
    /// `L`: the proxy answered locally.
    Local,
    /// `R`: a proxy resource ran out.
    Resource,
    /// `I`: an internal proxy error.
    Internal,
    /// `D`: the server was marked down.
    ServerDown,
    /// `U`: the server was marked up and took over.
    ServerUp,
    /// `K`: an administrator killed the session.
    Killed,
    /// `c`: the client-side timeout expired.
    ClientTimeout,
    /// `s`: the server-side timeout expired.
    ServerTimeout,
    /// `-`: a normal end.
    Normal,
}

const CAUSES: [(u8, TerminationCause); 12] = [
    (b'C', TerminationCause::ClientAbort),
    (b'S', TerminationCause::ServerAbort),
    (b'P', TerminationCause::Proxy),
    (b'L', TerminationCause::Local),
    (b'R', TerminationCause::Resource),
    (b'I', TerminationCause::Internal),
    (b'D', TerminationCause::ServerDown),
    (b'U', TerminationCause::ServerUp),
    (b'K', TerminationCause::Killed),
    (b'c', TerminationCause::ClientTimeout),
    (b's', TerminationCause::ServerTimeout),
    (b'-', TerminationCause::Normal),
];

/// The party that ended a HAProxy session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndedBy {
    /// The client (abort or client-side timeout).
    Client,
    /// The server (abort, refusal or server-side timeout).
    Server,
    /// HAProxy itself (limits, local answers, resources, admin, health).
    Proxy,
    /// Nobody: the session ended normally.
    Nobody,
}

impl TerminationCause {
    /// Who ended the session.
    pub fn ended_by(self) -> EndedBy {
        match self {
            TerminationCause::ClientAbort | TerminationCause::ClientTimeout => EndedBy::Client,
            TerminationCause::ServerAbort | TerminationCause::ServerTimeout => EndedBy::Server,
            TerminationCause::Normal => EndedBy::Nobody,
            _ => EndedBy::Proxy,
        }
    }

    /// True for `c` and `s`: a timeout expired.
    pub fn is_timeout(self) -> bool {
        matches!(
            self,
            TerminationCause::ClientTimeout | TerminationCause::ServerTimeout
        )
    }

    fn letter(self) -> u8 {
        CAUSES
            .iter()
            .find(|(_, c)| *c == self)
            .map_or(b'?', |(l, _)| *l)
    }
}

/// Which phase a HAProxy session was in when it ended, from the second
/// letter of its termination state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionPhase {
    /// `R`: waiting for the client's request.
    Request,
    /// `Q`: waiting in a queue for a server.
    Queue,
    /// `C`: connecting to the server.
    Connect,
    /// `H`: waiting for the server's response headers.
    Headers,
    /// `D`: the data phase (a WebSocket tunnel lives here).
    Data,
    /// `L`: the proxy was sending the last data to the client.
    Last,
    /// `T`: the request was tarpitted.
    Tarpit,
    /// `-`: a normal end.
    Normal,
    /// Another printable letter (a newer HAProxy's), kept as logged.
    Other(u8),
}

const PHASES: [(u8, SessionPhase); 8] = [
    (b'R', SessionPhase::Request),
    (b'Q', SessionPhase::Queue),
    (b'C', SessionPhase::Connect),
    (b'H', SessionPhase::Headers),
    (b'D', SessionPhase::Data),
    (b'L', SessionPhase::Last),
    (b'T', SessionPhase::Tarpit),
    (b'-', SessionPhase::Normal),
];

impl SessionPhase {
    fn from_letter(letter: u8) -> Option<SessionPhase> {
        let known = PHASES.iter().find(|(l, _)| *l == letter).map(|(_, p)| *p);
        known.or_else(|| {
            letter
                .is_ascii_graphic()
                .then_some(SessionPhase::Other(letter))
        })
    }

    fn letter(self) -> u8 {
        match self {
            SessionPhase::Other(letter) => letter,
            known => PHASES
                .iter()
                .find(|(_, p)| *p == known)
                .map_or(b'?', |(l, _)| *l),
        }
    }
}

/// HAProxy's termination state: who ended the session, in which phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HaproxyTermination {
    /// The first letter: who or what ended it.
    pub cause: TerminationCause,
    /// The second letter: the phase it was in.
    pub phase: SessionPhase,
}

impl HaproxyTermination {
    /// Reads a termination state's first two characters (`cD` of `cD--`,
    /// as the HAProxy parser keeps them); `None` when the first is no known
    /// cause or the second is not a printable letter.
    pub fn parse(state: &str) -> Option<HaproxyTermination> {
        let b = state.as_bytes();
        if b.len() != 2 {
            return None;
        }
        let cause = CAUSES.iter().find(|(l, _)| *l == b[0]).map(|(_, c)| *c)?;
        let phase = SessionPhase::from_letter(b[1])?;
        Some(HaproxyTermination { cause, phase })
    }

    /// Who ended the session.
    pub fn ended_by(self) -> EndedBy {
        self.cause.ended_by()
    }

    /// True for `cD` and `sD`: a timeout (client, server or tunnel) expired
    /// while data flowed, as an idle WebSocket tunnel ends.
    pub fn is_data_phase_timeout(self) -> bool {
        self.cause.is_timeout() && self.phase == SessionPhase::Data
    }

    /// What the state means.
    pub fn meaning(self) -> Option<&'static str> {
        use SessionPhase::Data;
        use TerminationCause as C;
        Some(match (self.cause, self.phase) {
            (C::ClientTimeout, Data) => {
                "client-side timeout during the data phase (timeout client / timeout tunnel)"
            }
            (C::ServerTimeout, Data) => {
                "server-side timeout during the data phase (timeout server / timeout tunnel)"
            }
            (C::ClientAbort, Data) => "the client closed or aborted during the data phase",
            (C::ServerAbort, Data) => "the server closed or aborted during the data phase",
            (C::ClientTimeout, _) => "client-side timeout",
            (C::ServerTimeout, _) => "server-side timeout",
            (C::ClientAbort, _) => "the client aborted",
            (C::ServerAbort, _) => "the server aborted or refused",
            (C::Proxy, _) => "the proxy refused or aborted (limits, filters, errors)",
            (C::Local, _) => "the proxy answered locally",
            (C::Resource, _) => "a proxy resource ran out (memory, sockets, ports)",
            (C::Internal, _) => "an internal proxy error",
            (C::ServerDown, _) => "the server was marked down",
            (C::ServerUp, _) => "the server was marked up and took over",
            (C::Killed, _) => "an administrator killed the session",
            (C::Normal, _) => "normal end",
        })
    }
}

impl fmt::Display for HaproxyTermination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}",
            char::from(self.cause.letter()),
            char::from(self.phase.letter())
        )
    }
}

/// A close code as wsdoctor's events count it: the codes of RFC 6455 one
/// by one, application codes together, others together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseCodeClass {
    /// A close frame without a code.
    NoCode,
    /// One of the registered codes counted one by one.
    Registered(u16),
    /// 4000–4999: the application's own.
    Application,
    /// Any other code.
    Other,
}

/// The registered codes counted one by one, with their spelling.
const REGISTERED: [(u16, &str); 11] = [
    (1000, "close 1000"),
    (1001, "close 1001"),
    (1002, "close 1002"),
    (1003, "close 1003"),
    (1006, "close 1006"),
    (1007, "close 1007"),
    (1008, "close 1008"),
    (1009, "close 1009"),
    (1011, "close 1011"),
    (1012, "close 1012"),
    (1013, "close 1013"),
];

impl From<Option<u16>> for CloseCodeClass {
    fn from(code: Option<u16>) -> Self {
        match code {
            None => CloseCodeClass::NoCode,
            Some(4000..=4999) => CloseCodeClass::Application,
            Some(c) if REGISTERED.iter().any(|(r, _)| *r == c) => CloseCodeClass::Registered(c),
            Some(_) => CloseCodeClass::Other,
        }
    }
}

impl CloseCodeClass {
    fn as_str(self) -> &'static str {
        match self {
            CloseCodeClass::NoCode => "close (no code)",
            CloseCodeClass::Application => "close 4xxx (application)",
            CloseCodeClass::Other => "close (other code)",
            CloseCodeClass::Registered(code) => REGISTERED
                .iter()
                .find(|(r, _)| *r == code)
                .map_or("close (other code)", |(_, s)| s),
        }
    }
}

/// The end of a connection in wsdoctor's events: a view of
/// [`ConnectionEnd`] that keeps the close code's class and the end's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventEnd {
    /// A close handshake (`close 1000`, `close 4xxx (application)`).
    Close(CloseCodeClass),
    /// `fin-without-close`: TCP closed without a close frame.
    FinWithoutClose,
    /// `reset`: TCP reset.
    Reset,
    /// `half-open`: pings went unanswered.
    HalfOpen,
    /// Another end of [`ConnectionEnd`], by its kind (`local-deadline`).
    Other(&'static str),
}

/// The kinds of [`ConnectionEnd`] other than the four typed above, as its
/// serde tag spells them (a test checks each against the serializer).
const OTHER_KINDS: [&str; 17] = [
    "dns-failed",
    "connect-refused",
    "connect-timed-out",
    "local-limit",
    "connect-failed",
    "tls-failed",
    "handshake-timed-out",
    "handshake-aborted",
    "handshake-rejected",
    "handshake-invalid",
    "tls-error",
    "protocol-violation",
    "peer-stopped-reading",
    "local-deadline",
    "io",
    "proxy-refused",
    "proxy-failed",
];

impl EventEnd {
    /// The end an event line gives as `{"kind": …, "code": …}`; `None` for
    /// a kind this version does not know.
    pub fn of_event(kind: &str, code: Option<u16>) -> Option<EventEnd> {
        Some(match kind {
            "close-handshake" => EventEnd::Close(code.into()),
            "fin-without-close" => EventEnd::FinWithoutClose,
            "reset" => EventEnd::Reset,
            "half-open" => EventEnd::HalfOpen,
            _ => EventEnd::Other(OTHER_KINDS.iter().find(|k| **k == kind)?),
        })
    }

    /// Reads the spelling [`EventEnd::as_str`] writes.
    pub fn parse(text: &str) -> Option<EventEnd> {
        if text.starts_with("close ") {
            let registered = REGISTERED.iter().find(|(_, s)| *s == text);
            return Some(EventEnd::Close(match text {
                "close (no code)" => CloseCodeClass::NoCode,
                "close 4xxx (application)" => CloseCodeClass::Application,
                "close (other code)" => CloseCodeClass::Other,
                _ => CloseCodeClass::Registered(registered?.0),
            }));
        }
        EventEnd::of_event(text, None).filter(|e| !matches!(e, EventEnd::Close(_)))
    }

    /// The spelling of reports: `close 1001`, `reset`, `local-deadline`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventEnd::Close(class) => class.as_str(),
            EventEnd::FinWithoutClose => "fin-without-close",
            EventEnd::Reset => "reset",
            EventEnd::HalfOpen => "half-open",
            EventEnd::Other(kind) => kind,
        }
    }

    /// What the end means, for the common ones.
    pub fn meaning(self) -> Option<&'static str> {
        Some(match self {
            EventEnd::Close(CloseCodeClass::Registered(code)) => match code {
                1000 => "normal closure",
                1001 => "going away (server shutdown or page left)",
                1006 => "abnormal closure (no close frame)",
                1008 => "policy violation",
                1009 => "message too big",
                1011 => "server error",
                1012 => "service restart",
                1013 => "try again later (overloaded)",
                _ => return None,
            },
            EventEnd::FinWithoutClose => "TCP closed without a WebSocket close frame",
            EventEnd::Reset => "TCP reset",
            EventEnd::HalfOpen => "pings went unanswered: the path silently dropped the connection",
            _ => return None,
        })
    }
}

impl From<&ConnectionEnd> for EventEnd {
    fn from(end: &ConnectionEnd) -> Self {
        let other = |kind| EventEnd::Other(kind);
        match end {
            ConnectionEnd::CloseHandshake { code, .. } => EventEnd::Close((*code).into()),
            ConnectionEnd::FinWithoutClose { .. } => EventEnd::FinWithoutClose,
            ConnectionEnd::Reset => EventEnd::Reset,
            ConnectionEnd::HalfOpen { .. } => EventEnd::HalfOpen,
            ConnectionEnd::DnsFailed { .. } => other("dns-failed"),
            ConnectionEnd::ConnectRefused { .. } => other("connect-refused"),
            ConnectionEnd::ConnectTimedOut { .. } => other("connect-timed-out"),
            ConnectionEnd::LocalLimit { .. } => other("local-limit"),
            ConnectionEnd::ConnectFailed { .. } => other("connect-failed"),
            ConnectionEnd::TlsFailed { .. } => other("tls-failed"),
            ConnectionEnd::HandshakeTimedOut { .. } => other("handshake-timed-out"),
            ConnectionEnd::HandshakeAborted { .. } => other("handshake-aborted"),
            ConnectionEnd::HandshakeRejected { .. } => other("handshake-rejected"),
            ConnectionEnd::HandshakeInvalid { .. } => other("handshake-invalid"),
            ConnectionEnd::TlsError { .. } => other("tls-error"),
            ConnectionEnd::ProtocolViolation { .. } => other("protocol-violation"),
            ConnectionEnd::PeerStoppedReading { .. } => other("peer-stopped-reading"),
            ConnectionEnd::LocalDeadline { .. } => other("local-deadline"),
            ConnectionEnd::Io { .. } => other("io"),
            ConnectionEnd::ProxyRefused { .. } => other("proxy-refused"),
            ConnectionEnd::ProxyFailed { .. } => other("proxy-failed"),
        }
    }
}

#[cfg(test)]
#[path = "log_end_tests.rs"]
mod tests;
