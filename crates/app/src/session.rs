//! One connection's application protocol: detection still pending, a
//! protocol being spoken (or only watched), or none.

use std::time::Instant;

use wsdoctor_evidence::AppRecord;

use crate::detect::{from_chosen_subprotocol, from_first_message};
use crate::protocol::{Ctx, Outgoing, Protocol, StartContext};
use crate::{AppChoice, AppPlan, Spec};

/// Where detection stands.
#[derive(Debug)]
enum State {
    /// Waiting for the server's first message to decide.
    Sniffing,
    /// Speaking (or, with `--app raw`, watching) a protocol.
    Running(Box<dyn Protocol>),
    /// No protocol, for good.
    Off,
}

/// The application protocol of one connection. Feed it the server's
/// messages and timer ticks; send what [`AppSession::poll_transmit`]
/// returns; read the evidence with [`AppSession::into_record`].
#[derive(Debug)]
pub struct AppSession {
    state: State,
    cx: Ctx,
    start: StartContext,
    choice: AppChoice,
    started: bool,
    /// The server's messages that carried application data, and when the
    /// last one came (what `flow` watches when a protocol is spoken).
    data_messages: u64,
    last_data: Option<Instant>,
}

impl AppSession {
    /// The session for a connection planned by `plan` (`start` says what the
    /// server chose), opened at `origin`. `None` when nothing is to be
    /// spoken or watched at all.
    pub fn new(plan: &AppPlan, start: StartContext, origin: Instant) -> AppSession {
        let mut record = AppRecord {
            decided_by: plan.decided_by.clone(),
            spoken: plan.speaks(),
            ..AppRecord::default()
        };
        let chosen = start
            .subprotocol
            .as_deref()
            .and_then(from_chosen_subprotocol);
        let spec = match (plan.protocol.and_then(|p| p.spec()), chosen) {
            (Some(spec), _) => Some(spec),
            (None, Some(spec)) => {
                record.decided_by = join(
                    &plan.decided_by,
                    &format!(
                        "the server chose the subprotocol {}",
                        start.subprotocol.as_deref().unwrap_or_default()
                    ),
                );
                Some(spec)
            }
            _ => None,
        };
        let state = match spec {
            Some(spec) => {
                record.protocol = Some(spec.protocol.id().to_owned());
                State::Running((spec.start)(&start))
            }
            None => State::Sniffing,
        };
        AppSession {
            state,
            cx: Ctx::new(origin, plan.speaks(), record),
            start,
            choice: plan.choice,
            started: false,
            data_messages: 0,
            last_data: None,
        }
    }

    /// The session of the listening side (`reconnect --listen`): `server`
    /// speaks the protocol's server half to a client, from `origin`.
    pub(crate) fn serving(
        server: Box<dyn Protocol>,
        record: AppRecord,
        origin: Instant,
    ) -> AppSession {
        AppSession {
            state: State::Running(server),
            cx: Ctx::new(origin, true, record),
            start: StartContext::default(),
            choice: AppChoice::Auto,
            started: false,
            data_messages: 0,
            last_data: None,
        }
    }

    /// The connection is open: sends the protocol's first messages.
    pub fn start(&mut self, now: Instant) {
        self.started = true;
        if let State::Running(p) = &mut self.state {
            p.start(now, &mut self.cx);
        }
    }

    /// A text message from the server.
    pub fn handle_text(&mut self, now: Instant, text: &str) {
        if let State::Sniffing = self.state {
            self.sniff(now, text);
        }
        if let State::Running(p) = &mut self.state {
            p.on_text(now, text, &mut self.cx);
        }
        self.count_data(now, text.as_bytes(), true);
    }

    fn count_data(&mut self, now: Instant, message: &[u8], text: bool) {
        let Some(protocol) = self.protocol() else {
            return;
        };
        if crate::data::is_application_data(protocol, message, text) {
            self.data_messages += 1;
            self.last_data = Some(now);
        }
    }

    /// The protocol being spoken or watched, once decided.
    pub fn protocol(&self) -> Option<crate::AppProtocol> {
        match &self.state {
            State::Running(_) => self
                .cx
                .record
                .protocol
                .as_deref()
                .and_then(crate::AppProtocol::from_id),
            _ => None,
        }
    }

    /// Messages from the server that carried application data (not the
    /// protocol's heartbeats, acks or greetings), and when the last came;
    /// `None` while no protocol is decided.
    pub fn application_data(&self) -> Option<(u64, Option<Instant>)> {
        self.protocol()
            .map(|_| (self.data_messages, self.last_data))
    }

    /// A binary message from the server.
    pub fn handle_binary(&mut self, now: Instant, data: &[u8]) {
        if let State::Sniffing = self.state {
            self.give_up("the server's first message is binary and matches no protocol");
        }
        if let State::Running(p) = &mut self.state {
            p.on_binary(now, data, &mut self.cx);
        }
        self.count_data(now, data, false);
    }

    fn sniff(&mut self, now: Instant, first: &str) {
        let Some(spec) = from_first_message(first) else {
            let preview: String = first.chars().take(40).collect();
            return self.give_up(&format!(
                "no application protocol recognised: not from the URL path, the subprotocol, or the server's first message ({preview:?})"
            ));
        };
        self.adopt(now, spec);
    }

    fn adopt(&mut self, now: Instant, spec: &'static Spec) {
        let why = format!("the server's first message is a {} greeting", spec.title);
        self.cx.record.decided_by = join(&self.cx.record.decided_by, &why);
        self.cx.record.protocol = Some(spec.protocol.id().to_owned());
        let mut protocol = (spec.start)(&self.start);
        if self.started {
            protocol.start(now, &mut self.cx);
        }
        self.state = State::Running(protocol);
    }

    fn give_up(&mut self, why: &str) {
        self.cx.record.decided_by = join(&self.cx.record.decided_by, why);
        self.state = State::Off;
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Outgoing> {
        self.cx.poll_transmit()
    }

    /// When [`AppSession::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Running(p) => p.poll_timeout(),
            _ => None,
        }
    }

    /// Fires the protocol's timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let State::Running(p) = &mut self.state {
            p.handle_timeout(now, &mut self.cx);
        }
    }

    /// The protocol's harmless keepalive message, when it is spoken and has one.
    pub fn keepalive(&self) -> Option<Outgoing> {
        match &self.state {
            State::Running(p) if self.cx.speaks() => p.keepalive(),
            _ => None,
        }
    }

    /// The evidence so far (a long watch reports it before the
    /// connection ends).
    pub fn record(&self) -> &AppRecord {
        &self.cx.record
    }

    /// What `--app` said.
    pub fn choice(&self) -> AppChoice {
        self.choice
    }

    /// The evidence. Still sniffing: the server sent no message to decide on.
    pub fn into_record(self) -> AppRecord {
        let mut record = self.cx.record;
        if let State::Sniffing = self.state {
            record.decided_by = join(
                &record.decided_by,
                "no application protocol recognised: not from the URL path or the subprotocol, and the server sent no message",
            );
        }
        record
    }
}

fn join(before: &str, more: &str) -> String {
    if before.is_empty() {
        more.to_owned()
    } else {
        format!("{before}; {more}")
    }
}
