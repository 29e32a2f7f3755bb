//! The trait every protocol implements, and the context it talks through.

use std::collections::VecDeque;
use std::time::Instant;

use wsdoctor_evidence::{AppEvent, AppEventKind, AppRecord, AppTimers, MAX_APP_EVENTS};

/// A message a protocol wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

/// What a protocol knows when the connection opens.
#[derive(Debug, Clone, Default)]
pub struct StartContext {
    /// The query of the URL that was dialled (`EIO=4&transport=websocket`).
    pub query: String,
    /// The subprotocol the server chose, if any.
    pub subprotocol: Option<String>,
    /// The login the protocol's CONNECT carries (STOMP `login`/`passcode`,
    /// MQTT user name/password); protocols without one ignore it.
    pub login: Option<Login>,
}

/// A user name and password for the protocol's own login. `Debug` never
/// shows the password: contexts get logged.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Login {
    pub user: String,
    /// `None`: the user name alone.
    pub password: Option<String>,
}

/// Where the password comes from when the URL names only the user
/// (`ws://alice@host/mqtt`): an environment variable, so it stays out of
/// shell history and process lists.
pub const PASSWORD_ENV: &str = "WSDOCTOR_APP_PASSWORD";

impl Login {
    /// The login in `url`'s user info (`ws://USER:PASS@host/…`,
    /// percent-decoded), the password from `env_password` when the URL has
    /// none. `None` without a user name. Every output already redacts user
    /// info in URLs, so the login is not printed anywhere.
    pub fn from_url(url: &url::Url, env_password: Option<String>) -> Option<Login> {
        let decode = |text: &str| {
            percent_encoding::percent_decode_str(text)
                .decode_utf8_lossy()
                .into_owned()
        };
        if url.username().is_empty() {
            return None;
        }
        Some(Login {
            user: decode(url.username()),
            password: url.password().map(decode).or(env_password),
        })
    }
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "REDACTED"))
            .finish()
    }
}

/// One protocol's client on one connection. Sans-IO: it reads messages
/// and the clock, and says what to send through [`Ctx`]. `Sync` because
/// the drivers hold a shared borrow of the session across a write.
pub trait Protocol: std::fmt::Debug + Send + Sync {
    /// The connection opened: queue the first messages.
    fn start(&mut self, now: Instant, cx: &mut Ctx);
    /// A text message from the server.
    fn on_text(&mut self, now: Instant, text: &str, cx: &mut Ctx);
    /// A binary message from the server.
    fn on_binary(&mut self, _now: Instant, _data: &[u8], _cx: &mut Ctx) {}
    /// When [`Protocol::handle_timeout`] is next due.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    /// Fires the protocol's timers due at `now`.
    fn handle_timeout(&mut self, _now: Instant, _cx: &mut Ctx) {}
    /// A message the server accepts and ignores (or answers) without
    /// side effects: what a data keepalive sends. `None` when the protocol
    /// has none.
    fn keepalive(&self) -> Option<Outgoing>;
}

/// What a protocol talks through: the outgoing queue and the record.
#[derive(Debug)]
pub struct Ctx {
    origin: Instant,
    speak: bool,
    out: VecDeque<Outgoing>,
    pub(crate) record: AppRecord,
}

impl Ctx {
    pub(crate) fn new(origin: Instant, speak: bool, record: AppRecord) -> Ctx {
        Ctx {
            origin,
            speak,
            out: VecDeque::new(),
            record,
        }
    }

    /// False when wsdoctor only watches (`--app raw`).
    pub fn speaks(&self) -> bool {
        self.speak
    }

    /// Queues `message`; returns false (and sends nothing) when only watching.
    pub fn send(&mut self, message: Outgoing) -> bool {
        if self.speak {
            self.out.push_back(message);
        }
        self.speak
    }

    /// Queues the protocol's opening `message` and records it as sent, in
    /// the words of `described`; false when only watching.
    pub fn send_init(&mut self, now: Instant, message: Outgoing, described: String) -> bool {
        let sent = self.send(message);
        if sent {
            self.event(now, AppEventKind::InitSent { message: described });
        }
        sent
    }

    pub(crate) fn poll_transmit(&mut self) -> Option<Outgoing> {
        self.out.pop_front()
    }

    /// Records a protocol event at `now`.
    pub fn event(&mut self, now: Instant, kind: AppEventKind) {
        if self.record.events.len() >= MAX_APP_EVENTS {
            self.record.events_omitted += 1;
            return;
        }
        let at_us = u64::try_from(now.saturating_duration_since(self.origin).as_micros())
            .unwrap_or(u64::MAX);
        self.record.events.push(AppEvent { at_us, kind });
    }

    /// Records a heartbeat from the server, answered or not.
    pub fn server_heartbeat(&mut self, now: Instant, answered: bool) {
        self.record.server_heartbeats += 1;
        if !answered {
            self.record.heartbeats_unanswered += 1;
        }
        self.event(now, AppEventKind::ServerHeartbeat { answered });
    }

    /// The protocol's heartbeat timers (announced, or the default).
    pub fn set_timers(&mut self, timers: AppTimers) {
        self.record.timers = Some(timers);
    }

    /// The timers recorded so far.
    pub fn timers(&self) -> Option<&AppTimers> {
        self.record.timers.as_ref()
    }

    /// The protocol's version or dialect.
    pub fn set_version(&mut self, version: &str) {
        self.record.version = Some(version.to_owned());
    }
}

/// Milliseconds between two instants (0 if `later` is earlier).
pub(crate) fn ms_between(earlier: Instant, later: Instant) -> u64 {
    u64::try_from(later.saturating_duration_since(earlier).as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_from_user_info_or_the_environment() {
        let url = |u: &str| url::Url::parse(u).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(Login::from_url(&url("ws://h/mqtt"), Some("x".into())), None);
        assert_eq!(
            Login::from_url(&url("ws://al%40ice:p%3Aw@h/mqtt"), Some("env".into())),
            Some(Login {
                user: "al@ice".into(),
                password: Some("p:w".into())
            })
        );
        let from_env = Login::from_url(&url("ws://alice@h/mqtt"), Some("env".into()));
        assert_eq!(
            from_env.as_ref().and_then(|l| l.password.as_deref()),
            Some("env")
        );
        assert!(!format!("{from_env:?}").contains("env"));
        assert_eq!(
            Login::from_url(&url("ws://alice@h/mqtt"), None).map(|l| l.password),
            Some(None)
        );
    }
}
