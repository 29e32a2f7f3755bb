//! The sans-IO WebSocket session: frames, pings, pongs, echoes and the close
//! handshake, with time passed in as an argument (quinn-proto style), so every
//! deadline is testable on a simulated clock.
//!
//! The driver feeds it bytes ([`Session::handle_data`]), transport events
//! ([`Session::handle_eof`], [`Session::handle_transport_error`]) and timer
//! ticks ([`Session::handle_timeout`]); it asks what to write
//! ([`Session::poll_transmit`]) and when to wake next
//! ([`Session::poll_timeout`]). The session records every frame as evidence
//! and decides how the connection ended.
//!
//! Framing uses `websocket-sans-io`, a passive push decoder: it never answers
//! pings or validates on its own, so every control frame stays visible and a
//! frame header announcing 2 GiB costs nothing until we decide to refuse it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use websocket_sans_io::{
    FrameInfo, Opcode, WebsocketFrameDecoder, WebsocketFrameEncoder, WebsocketFrameEvent,
};
use wsdoctor_evidence::{
    redact_message_preview, ConnectionEnd, DeflateParams, DeflateRecord, EndRecord, FrameEvent,
    FrameKind, HeartbeatSettings, PongPolicy, Role, SentMessage, Side, Transport,
    MAX_RECORDED_EVENTS,
};

use crate::deflate::{DeflateCodec, InflateError};
use crate::micros_since;

pub use self::app::{AppLayer, AppMessage};

/// Largest frame we accept; bigger ones end the connection as a protocol
/// violation before any payload is read (bounded memory against a hostile peer).
pub const DEFAULT_MAX_FRAME_BYTES: u64 = 16 * 1024 * 1024;
/// How many bytes of each message we keep for previews and echo matching.
const KEEP_MESSAGE_BYTES: usize = 64 * 1024;
/// Bytes waiting to be sent before we stop reading the peer (see
/// [`SessionConfig::max_queued_bytes`]).
pub const DEFAULT_MAX_QUEUED_BYTES: usize = 64 * 1024;
/// How long the socket may refuse every byte before the peer counts as no
/// longer reading (see [`SessionConfig::write_timeout`]).
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The shortest wait on a blocked write that counts as the peer no longer
/// reading when our own deadline cuts it short.
const MIN_STALL: Duration = Duration::from_secs(1);
/// Delayed pongs kept at most (`PongPolicy::Delay`); a ping flood beyond it
/// is answered only by the latest, as RFC 6455 §5.5.3 allows.
const MAX_DELAYED_PONGS: usize = 64;
const PREVIEW_CHARS: usize = 120;

/// What a text message's event keeps: its first [`PREVIEW_CHARS`]
/// characters, with the values of login header lines (STOMP's CONNECT
/// `login` and `passcode`) redacted here, where the preview is made, so no
/// output (JSON, `--events`, text, HTML) can show them.
fn preview(text: &str) -> String {
    let start: String = text.chars().take(PREVIEW_CHARS).collect();
    redact_message_preview(&start)
}

/// How a session behaves.
///
/// # Defaults
/// Client role, no pings of our own, 10 s pong timeout, answer pings at once,
/// 16 MiB frame and message limit, nothing to send, 1 s to wait for a close
/// answer (a command ends at most a second past its own deadline), 64 KiB
/// of outbound bytes before reading pauses, 10 s for a socket that takes no
/// bytes.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Our role (clients mask their frames).
    pub role: Role,
    /// Pings, pong deadline and pong policy.
    pub heartbeat: HeartbeatSettings,
    /// Largest frame, and largest message (all its fragments, inflated when
    /// compressed), accepted from the peer; beyond it we close with 1009.
    pub max_frame_bytes: u64,
    /// Text messages to send, in order.
    pub messages: Vec<String>,
    /// Gap between messages (the first goes at once).
    pub send_every: Duration,
    /// Send the application protocol's own keepalive (text or binary: MQTT's
    /// PINGREQ is binary) in place of each of `messages` once a protocol is
    /// spoken on the connection: its server drops anything else. `idle`'s
    /// data arms set it.
    pub app_keepalive: bool,
    /// How long to wait for the peer's answer to our close frame.
    pub close_wait: Duration,
    /// Send every complete data message back (an echo server, `wsdoctor
    /// serve`); messages longer than `max_frame_bytes` are not echoed.
    pub echo: bool,
    /// How many frame events to keep (later ones are only counted). Long
    /// runs that read only the clocks (watch, load) keep none, so a
    /// connection that lives for days costs the same as a new one.
    pub max_events: usize,
    /// Bytes we may have waiting to be sent (queued frames plus what the
    /// socket has not taken) before the driver stops reading the peer:
    /// backpressure, so a peer that sends pings or messages to echo and never
    /// reads costs at most this, plus one read and one echoed message.
    pub max_queued_bytes: usize,
    /// How long the socket may take none of our bytes before the peer counts
    /// as no longer reading: the connection then ends as
    /// [`ConnectionEnd::PeerStoppedReading`] (a 1008 close frame is queued in
    /// case the peer reads again). The drivers also give up on a blocked write
    /// at their own deadline (the end of a watch).
    pub write_timeout: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            role: Role::Client,
            heartbeat: HeartbeatSettings {
                ping_interval_ms: None,
                pong_timeout_ms: 10_000,
                pong_policy: PongPolicy::Answer,
            },
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            messages: Vec::new(),
            send_every: Duration::from_millis(500),
            app_keepalive: false,
            close_wait: Duration::from_secs(1),
            echo: false,
            max_events: MAX_RECORDED_EVENTS,
            max_queued_bytes: DEFAULT_MAX_QUEUED_BYTES,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
        }
    }
}

/// A frame being received.
#[derive(Debug)]
struct IncomingFrame {
    info: FrameInfo,
    original_opcode: Opcode,
    /// Payload of control frames (≤125 bytes by the time it is kept).
    control: Vec<u8>,
}

/// A data message being assembled from its frames.
#[derive(Debug)]
struct IncomingMessage {
    opcode: Opcode,
    /// Its length (inflated, when compressed).
    len: usize,
    kept: Vec<u8>,
    /// RSV1 was set on its first frame (permessage-deflate).
    compressed: bool,
    /// Payload bytes announced by its frames so far (as sent, compressed or
    /// not): an endless fragmented message stops at the message limit.
    wire_len: u64,
    /// UTF-8 validation of a text message as it arrives.
    utf8: Option<Utf8Check>,
}

/// Validates a text message chunk by chunk, as it arrives: a code point may
/// be split across frames and reads. Written over std's `from_utf8`, whose
/// `error_len()` tells a sequence cut off at the end of a chunk from an
/// invalid one; the incremental decoders on crates.io hand back the text,
/// which we do not keep.
#[derive(Debug, Default)]
struct Utf8Check {
    /// The start of a code point cut off at the end of the last chunk.
    pending: [u8; 4],
    pending_len: u8,
}

impl Utf8Check {
    /// Feeds the next bytes of the message; false once it cannot be UTF-8.
    fn feed(&mut self, mut bytes: &[u8]) -> bool {
        // First finish the code point the last chunk cut off.
        while self.pending_len > 0 {
            let Some((&next, rest)) = bytes.split_first() else {
                return true;
            };
            let n = usize::from(self.pending_len);
            if n >= self.pending.len() {
                return false;
            }
            self.pending[n] = next;
            self.pending_len += 1;
            bytes = rest;
            match std::str::from_utf8(&self.pending[..=n]) {
                Ok(_) => self.pending_len = 0,
                Err(e) if e.error_len().is_some() => return false,
                Err(_) => {}
            }
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => true,
            Err(e) if e.error_len().is_some() => false,
            Err(e) => {
                // At most 3 bytes: the start of one code point.
                let tail = &bytes[e.valid_up_to()..];
                let Some(slot) = self.pending.get_mut(..tail.len()) else {
                    return false;
                };
                slot.copy_from_slice(tail);
                self.pending_len = tail.len() as u8;
                true
            }
        }
    }

    /// True when the message did not end inside a code point.
    fn complete(&self) -> bool {
        self.pending_len == 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum CloseState {
    Open,
    /// We sent a close frame and wait for the answer until `deadline`.
    Sent {
        code: u16,
        reason: String,
        deadline: Instant,
        /// Wire bytes of our close frame, the last frame we send (no
        /// pongs or data follow it): of what the kernel holds for the peer
        /// at the end, the rest was written ahead of it.
        close_frame_bytes: u64,
    },
}

/// The session state machine. See the module docs.
///
/// A held idle connection (`load` and `serve` keep 100,000s) touches only
/// what is inline here; everything a frame, a timer, a message or a close
/// needs is in [`Busy`], allocated the first time any of it is written
/// (see `a_held_idle_session_stays_small`).
#[derive(Debug)]
pub struct Session {
    // Shared: a load test holds one config for 100,000 sessions.
    config: Arc<SessionConfig>,
    origin: Instant,
    opened_at: Instant,
    decoder: WebsocketFrameDecoder,
    // Boxed: only a message being received needs it, and a held session stays small.
    message: Option<Box<IncomingMessage>>,
    // Boxed: only an ended session needs it, and a held one stays small.
    end: Option<Box<EndRecord>>,
    // Boxed: a connection without permessage-deflate pays one pointer.
    deflate: Option<Box<DeflateCodec>>,
    // Boxed twice: a connection without an application protocol pays one
    // thin pointer, not the two words of a `Box<dyn AppLayer>`.
    app: Option<Box<Box<dyn AppLayer>>>,
    /// Everything else, from its first write on; read as [`Busy::IDLE`]
    /// until then.
    busy: Option<Box<Busy>>,
}

/// What a session needs once anything happens on its connection: frames
/// in or out, pings, messages, a close. Reads of a session that has none
/// see [`Busy::IDLE`].
#[derive(Debug)]
struct Busy {
    frame: Option<IncomingFrame>,
    events: Vec<FrameEvent>,
    events_omitted: u64,
    transmit: VecDeque<Vec<u8>>,
    /// Bytes in `transmit`.
    queued_bytes: usize,
    /// Bytes the driver took but the socket has not accepted yet.
    unsent_bytes: usize,
    /// Since when the socket has taken none of our bytes.
    write_blocked_since: Option<Instant>,
    /// The pong we owe, not yet encoded: a later ping replaces its payload
    /// (RFC 6455 §5.5.3 lets a pong answer only the most recent ping), so a
    /// ping flood costs one pong, not one per ping.
    pong_owed: Option<Vec<u8>>,
    ping_counter: u64,
    next_ping_at: Option<Instant>,
    /// Our pings waiting for a pong: payload and send time.
    pings_in_flight: VecDeque<([u8; 8], Instant)>,
    delayed_pongs: VecDeque<(Instant, Vec<u8>)>,
    /// The next of `config.messages` to send: an index into the shared
    /// list, not a copy of it (a load run holds 100,000 sessions that all
    /// send the same messages).
    next_message: usize,
    next_send_at: Option<Instant>,
    sent: Vec<SentMessage>,
    /// Messages whose echo we still expect: index into `sent`, text, send time.
    awaiting_echo: VecDeque<(usize, String, Instant)>,
    close: CloseState,
    last_inbound: Option<Instant>,
    last_pong: Option<Instant>,
    last_outbound: Option<Instant>,
    last_data_in: Option<Instant>,
    last_pong_rtt_us: Option<u64>,
    frames_in: u64,
}

impl Busy {
    /// A session before anything happened.
    const IDLE: Busy = Busy {
        frame: None,
        events: Vec::new(),
        events_omitted: 0,
        transmit: VecDeque::new(),
        queued_bytes: 0,
        unsent_bytes: 0,
        write_blocked_since: None,
        pong_owed: None,
        ping_counter: 0,
        next_ping_at: None,
        pings_in_flight: VecDeque::new(),
        delayed_pongs: VecDeque::new(),
        next_message: 0,
        next_send_at: None,
        sent: Vec::new(),
        awaiting_echo: VecDeque::new(),
        close: CloseState::Open,
        last_inbound: None,
        last_pong: None,
        last_outbound: None,
        last_data_in: None,
        last_pong_rtt_us: None,
        frames_in: 0,
    };
}

/// What [`Session::b`] reads while a session has no [`Busy`] part.
static IDLE: Busy = Busy::IDLE;

/// The busy part, allocated on its first write. A free function over the
/// field, so the caller may borrow the session's other fields meanwhile.
fn busy(part: &mut Option<Box<Busy>>) -> &mut Busy {
    part.get_or_insert_with(|| Box::new(Busy::IDLE))
}

impl Session {
    /// A session on a connection that opened at `opened_at`; `origin` is the
    /// start of the attempt, the zero of every recorded time.
    pub fn new(
        config: impl Into<Arc<SessionConfig>>,
        origin: Instant,
        opened_at: Instant,
    ) -> Session {
        let config = config.into();
        let next_ping_at = config
            .heartbeat
            .ping_interval_ms
            .map(|ms| opened_at + Duration::from_millis(ms));
        let next_send_at = (!config.messages.is_empty()).then_some(opened_at);
        let mut session = Session {
            config,
            origin,
            opened_at,
            decoder: WebsocketFrameDecoder::new(),
            message: None,
            end: None,
            deflate: None,
            app: None,
            busy: None,
        };
        // A connection with something scheduled is busy from the start.
        if next_ping_at.is_some() || next_send_at.is_some() {
            let busy = session.bm();
            busy.next_ping_at = next_ping_at;
            busy.next_send_at = next_send_at;
        }
        session
    }

    /// The busy part, as it is ([`Busy::IDLE`] before its first write).
    fn b(&self) -> &Busy {
        self.busy.as_deref().unwrap_or(&IDLE)
    }

    /// The busy part, for writing: allocated now if it was not.
    fn bm(&mut self) -> &mut Busy {
        busy(&mut self.busy)
    }

    /// Turns on permessage-deflate as negotiated for this connection:
    /// compressed messages are inflated, and in the server role the
    /// messages we send are compressed. As a client we send ours
    /// uncompressed, which RFC 7692 allows message by message.
    pub fn use_deflate(&mut self, params: DeflateParams) {
        let server = self.config.role == Role::Server;
        self.deflate = Some(Box::new(DeflateCodec::new(params, server)));
    }

    /// permessage-deflate on this connection, when negotiated: the
    /// parameters and the compressed against inflated bytes received.
    pub fn deflate_record(&self) -> Option<DeflateRecord> {
        self.deflate.as_ref().map(|codec| codec.record())
    }

    /// The start of the attempt: the zero of every recorded time.
    pub fn origin(&self) -> Instant {
        self.origin
    }

    /// True once the connection has ended (the transmit queue may still hold
    /// a last close frame to flush).
    pub fn is_ended(&self) -> bool {
        self.end.is_some()
    }

    /// True after we started the closing handshake.
    pub fn is_closing(&self) -> bool {
        self.b().close != CloseState::Open
    }

    /// Frames received so far.
    pub fn frames_in(&self) -> u64 {
        self.b().frames_in
    }

    /// The next encoded frame to write, if any. An owed pong goes first: it
    /// answers a ping that came before anything still queued.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        // Nothing to send allocates nothing (a held idle connection is
        // flushed too).
        let busy = self.busy.as_deref_mut()?;
        if let Some(payload) = busy.pong_owed.take() {
            return Some(self.encode_frame(Opcode::Pong, payload));
        }
        let frame = busy.transmit.pop_front()?;
        busy.queued_bytes = busy.queued_bytes.saturating_sub(frame.len());
        Some(frame)
    }

    /// Bytes waiting to be sent: queued frames, an owed pong, and what the
    /// driver reported the socket has not taken ([`Session::on_unsent`]).
    pub fn outbound_bytes(&self) -> usize {
        let pong = self.b().pong_owed.as_ref().map_or(0, |p| p.len() + 14);
        self.b().queued_bytes + self.b().unsent_bytes + pong
    }

    /// True while more than [`SessionConfig::max_queued_bytes`] wait to be
    /// sent: the driver must not read the peer until the socket takes them
    /// (backpressure; reading would only queue more answers).
    pub fn read_paused(&self) -> bool {
        self.end.is_none() && self.over_bound()
    }

    fn over_bound(&self) -> bool {
        self.outbound_bytes() > self.config.max_queued_bytes
    }

    /// The driver's report after a write attempt at `now`: `unsent` bytes of
    /// a taken frame the socket has not accepted yet (0: all written), and
    /// whether the socket took any byte this time. A socket that takes no
    /// byte for [`SessionConfig::write_timeout`] means the peer stopped
    /// reading ([`Session::handle_timeout`] then ends the connection).
    pub fn on_unsent(&mut self, now: Instant, unsent: usize, progressed: bool) {
        if unsent == 0 && self.busy.is_none() {
            // Nothing was waiting, and nothing is: no busy part for it.
            return;
        }
        let busy = self.bm();
        busy.unsent_bytes = unsent;
        if unsent == 0 {
            busy.write_blocked_since = None;
        } else if progressed || busy.write_blocked_since.is_none() {
            busy.write_blocked_since = Some(now);
        }
    }

    /// When a write still blocked must be given up: the write timeout, or
    /// the close handshake's own deadline once we are closing.
    pub fn write_deadline(&self) -> Option<Instant> {
        let blocked = self.b().write_blocked_since? + self.config.write_timeout;
        Some(match &self.b().close {
            CloseState::Sent { deadline, .. } => blocked.min(*deadline),
            CloseState::Open => blocked,
        })
    }

    /// A write blocked until `now`, the driver's own deadline or
    /// [`Session::write_deadline`]: the peer stopped reading. Ends the
    /// connection as [`ConnectionEnd::PeerStoppedReading`], or, when the
    /// driver's deadline (the end of the watch) came less than a second
    /// into the wait, as that deadline: a socket full for a moment is no
    /// evidence. Nothing more is sent (a frame may be half written).
    pub fn on_write_stalled(&mut self, now: Instant) {
        if self.end.is_some() {
            return;
        }
        let since = self.b().write_blocked_since.unwrap_or(now);
        let waited = now.saturating_duration_since(since);
        if waited >= MIN_STALL.min(self.config.write_timeout) {
            self.peer_stopped_reading(now, since);
        } else {
            let what = format!(
                "the end of the watch, while {} bytes had waited {} ms for the socket",
                self.outbound_bytes(),
                waited.as_millis()
            );
            self.abandon(now, &what);
        }
        let busy = self.bm();
        busy.transmit.clear();
        busy.queued_bytes = 0;
    }

    fn peer_stopped_reading(&mut self, now: Instant, since: Instant) {
        let queued_bytes = self.outbound_bytes() as u64;
        let blocked = now.saturating_duration_since(since);
        let blocked_ms = u64::try_from(blocked.as_millis()).unwrap_or(u64::MAX);
        // What we still owe will never be read; a 1008 says why, in case
        // the peer reads again (after the half-written frame, if any).
        let busy = self.bm();
        busy.transmit.clear();
        busy.queued_bytes = 0;
        busy.pong_owed = None;
        busy.delayed_pongs.clear();
        let reason = format!("not reading: {queued_bytes} bytes unsent for {blocked_ms} ms");
        self.queue_close(now, Some(1008), &reason);
        self.finish(
            now,
            ConnectionEnd::PeerStoppedReading {
                queued_bytes,
                blocked_ms,
            },
        );
    }

    /// Records that a frame was written at `now` (the driver calls this after each write).
    pub fn on_transmitted(&mut self, now: Instant) {
        self.bm().last_outbound = Some(now);
    }

    /// When the session next needs [`Session::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.end.is_some() {
            return None;
        }
        let pong_deadline = self
            .b()
            .pings_in_flight
            .front()
            .map(|(_, sent)| *sent + self.pong_timeout());
        let close_deadline = match &self.b().close {
            CloseState::Sent { deadline, .. } => Some(*deadline),
            CloseState::Open => None,
        };
        // Our own messages wait while the peer has not taken what we owe.
        let next_send_at = self.b().next_send_at.filter(|_| !self.over_bound());
        let open_timers = if self.b().close == CloseState::Open {
            [self.b().next_ping_at, next_send_at, self.app_timeout()]
        } else {
            [None, None, None]
        };
        [
            pong_deadline,
            close_deadline,
            self.write_deadline(),
            self.b().delayed_pongs.front().map(|(at, _)| *at),
        ]
        .into_iter()
        .chain(open_timers)
        .flatten()
        .min()
    }

    fn pong_timeout(&self) -> Duration {
        Duration::from_millis(self.config.heartbeat.pong_timeout_ms)
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.end.is_some() {
            return;
        }
        if let (Some(since), Some(deadline)) = (self.b().write_blocked_since, self.write_deadline())
        {
            if now >= deadline {
                self.peer_stopped_reading(now, since);
                return;
            }
        }
        if let Some((_, sent)) = self.b().pings_in_flight.front() {
            let waited = now.saturating_duration_since(*sent);
            if waited >= self.pong_timeout() {
                let ping_unanswered_ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
                self.finish(now, ConnectionEnd::HalfOpen { ping_unanswered_ms });
                return;
            }
        }
        if let CloseState::Sent {
            code,
            reason,
            deadline,
            ..
        } = &self.b().close
        {
            if now >= *deadline {
                let end = ConnectionEnd::CloseHandshake {
                    code: Some(*code),
                    reason: reason.clone(),
                    initiator: Side::Local,
                    answered: false,
                };
                self.finish(now, end);
                return;
            }
        }
        while self
            .b()
            .delayed_pongs
            .front()
            .is_some_and(|(at, _)| *at <= now)
        {
            if let Some((_, payload)) = self.bm().delayed_pongs.pop_front() {
                self.send_pong(now, payload);
            }
        }
        if self.b().close != CloseState::Open {
            return;
        }
        if let (Some(at), Some(ms)) = (
            self.b().next_ping_at,
            self.config.heartbeat.ping_interval_ms,
        ) {
            if now >= at {
                self.send_ping(now);
                self.bm().next_ping_at = Some(now + Duration::from_millis(ms.max(1)));
            }
        }
        if self.b().next_send_at.is_some_and(|at| now >= at) && !self.over_bound() {
            if let Some(text) = self.config.messages.get(self.b().next_message).cloned() {
                self.bm().next_message += 1;
                match self
                    .config
                    .app_keepalive
                    .then(|| self.app_keepalive())
                    .flatten()
                {
                    Some(keepalive) => self.send_app(now, keepalive),
                    None => self.send_text(now, text),
                }
            }
            let more = self.b().next_message < self.config.messages.len();
            let next_send_at = more.then(|| now + self.config.send_every);
            self.bm().next_send_at = next_send_at;
        }
        self.app_handle_timeout(now);
    }

    /// Whether our unanswered close was to a peer that had stopped
    /// reading, from what our kernel still held for it unacknowledged
    /// (written, not yet acknowledged) when the close wait ended
    /// (`held_now`; `None`: the shell could not read it), the wait lasting
    /// `waited`. The session cannot see past its own queue (the kernel took
    /// our bytes), so the shell reads the kernel and passes what it read.
    ///
    /// The peer stopped reading when bytes written ahead of our close frame
    /// are still unacknowledged at the end of the wait: its receive window
    /// stayed shut, which says more than "no answer". What the kernel holds
    /// beyond our close frame (the last we send: the session knows its
    /// length) was written ahead of it. Our close frame alone unacknowledged
    /// shows no shut window: a reading peer's late ACK on a loaded machine
    /// (a healthy stomp-broker-js was called a slow consumer with our
    /// 31-byte close frame held) or a path that went dead look the same.
    /// Nor does the window have to stay shut to the byte: the kernel of a
    /// peer whose application never reads may still take a little during
    /// the wait (6,144 bytes held at the close, 4,108 at the end, in the
    /// hold pool's test on loopback).
    ///
    /// Turns that unanswered close into
    /// [`ConnectionEnd::PeerStoppedReading`]; any other end is kept as it
    /// is. True when the end was turned.
    pub fn on_close_unread(&mut self, held_now: Option<u64>, waited: Duration) -> bool {
        let Some(held_now) = held_now else {
            return false;
        };
        let CloseState::Sent {
            close_frame_bytes, ..
        } = self.b().close
        else {
            return false;
        };
        let Some(record) = self.end.as_deref_mut() else {
            return false;
        };
        let unanswered = matches!(
            record.end,
            ConnectionEnd::CloseHandshake {
                initiator: Side::Local,
                answered: false,
                ..
            }
        );
        if !unanswered || held_now <= close_frame_bytes {
            return false;
        }
        record.end = ConnectionEnd::PeerStoppedReading {
            queued_bytes: held_now,
            blocked_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
        };
        true
    }

    /// How long our close frame waited for an answer that never came, once
    /// the session ended that way (the end [`Session::on_close_unread`] may
    /// turn); `None` for any other end, or before one.
    pub fn unanswered_close_waited(&self) -> Option<Duration> {
        let record = self.end.as_deref()?;
        let ConnectionEnd::CloseHandshake {
            initiator: Side::Local,
            answered: false,
            ..
        } = record.end
        else {
            return None;
        };
        let CloseState::Sent { deadline, .. } = &self.b().close else {
            return None;
        };
        let closed_at = deadline.checked_sub(self.config.close_wait)?;
        let ended_at = self.origin + Duration::from_micros(record.at_us);
        Some(ended_at.saturating_duration_since(closed_at))
    }

    /// Starts the closing handshake (e.g. at the end of the watch window).
    pub fn close(&mut self, now: Instant, code: u16, reason: &str) {
        if self.end.is_some() || self.b().close != CloseState::Open {
            return;
        }
        let close_frame = self.queue_close(now, Some(code), reason);
        let deadline = now + self.config.close_wait;
        self.bm().close = CloseState::Sent {
            code,
            reason: reason.to_owned(),
            deadline,
            close_frame_bytes: close_frame as u64,
        };
    }

    /// Feeds bytes read from the socket. `data` is unmasked in place.
    pub fn handle_data(&mut self, now: Instant, mut data: &mut [u8]) {
        while self.end.is_none() {
            let result = match self.decoder.add_data(data) {
                Ok(r) => r,
                Err(never) => match never {},
            };
            let consumed = result.consumed_bytes;
            let (chunk, rest) = std::mem::take(&mut data).split_at_mut(consumed);
            data = rest;
            match result.event {
                Some(WebsocketFrameEvent::Start {
                    frame_info,
                    original_opcode,
                }) => self.on_frame_start(now, frame_info, original_opcode),
                Some(WebsocketFrameEvent::PayloadChunk { .. }) => self.on_payload(now, chunk),
                Some(WebsocketFrameEvent::End { .. }) => self.on_frame_end(now),
                None => {
                    if consumed == 0 {
                        break;
                    }
                }
            }
        }
    }

    /// The peer closed its side of TCP (read returned 0).
    pub fn handle_eof(&mut self, now: Instant) {
        if self.end.is_some() {
            return;
        }
        let end = match &self.b().close {
            // We asked to close and the peer just hung up: a close not answered.
            CloseState::Sent { code, reason, .. } => ConnectionEnd::CloseHandshake {
                code: Some(*code),
                reason: reason.clone(),
                initiator: Side::Local,
                answered: false,
            },
            CloseState::Open => ConnectionEnd::FinWithoutClose {
                mid_frame: !self.decoder.eof_valid() || self.b().frame.is_some(),
            },
        };
        self.finish(now, end);
    }

    /// The transport failed: a reset, a TLS error, another I/O error.
    pub fn handle_transport_error(
        &mut self,
        now: Instant,
        transport: Option<Transport>,
        error: String,
    ) {
        if self.end.is_some() {
            return;
        }
        let end = match transport {
            Some(Transport::Reset) => ConnectionEnd::Reset,
            Some(Transport::Eof) => {
                return self.handle_eof(now);
            }
            Some(Transport::Tls) => ConnectionEnd::TlsError { error },
            Some(Transport::HalfOpen) | None => ConnectionEnd::Io { error },
        };
        self.finish(now, end);
    }

    /// Ends the session from outside (e.g. a deadline of the caller).
    pub fn abandon(&mut self, now: Instant, what: &str) {
        if self.end.is_none() {
            self.finish(
                now,
                ConnectionEnd::LocalDeadline {
                    what: what.to_owned(),
                },
            );
        }
    }

    /// The recorded evidence: frame events, how many were not kept, the end
    /// (if it ended) and the messages we sent.
    pub fn into_evidence(self) -> (Vec<FrameEvent>, u64, Option<EndRecord>, Vec<SentMessage>) {
        let busy = self.busy.map_or(Busy::IDLE, |busy| *busy);
        (
            busy.events,
            busy.events_omitted,
            self.end.map(|end| *end),
            busy.sent,
        )
    }

    fn violation(&mut self, now: Instant, rule: String) {
        self.fail(now, 1002, "protocol error", rule);
    }

    /// RFC 6455 §7.1.7: fail the connection; the close frame says why first.
    fn fail(&mut self, now: Instant, code: u16, reason: &str, rule: String) {
        self.message = None;
        self.bm().frame = None;
        self.queue_close(now, Some(code), reason);
        self.finish(now, ConnectionEnd::ProtocolViolation { rule });
    }

    /// RFC 6455 §7.4.1: 1009 for a message too big to process.
    fn too_big(&mut self, now: Instant, rule: String) {
        self.fail(now, 1009, "message too big", rule);
    }

    /// RFC 6455 §8.1: a text message that is not UTF-8 fails the connection
    /// with 1007.
    fn not_utf8(&mut self, now: Instant) {
        self.fail(
            now,
            1007,
            "invalid UTF-8",
            "a text message that is not valid UTF-8 (RFC 6455 §8.1: fail the connection \
             with 1007)"
                .to_owned(),
        );
    }

    fn on_frame_start(&mut self, now: Instant, info: FrameInfo, original_opcode: Opcode) {
        let masked_wrongly = match self.config.role {
            Role::Client => info.mask.is_some(),
            Role::Server => info.mask.is_none(),
        };
        if masked_wrongly {
            let rule = match self.config.role {
                Role::Client => "the server masked a frame (RFC 6455 §5.1: servers must not mask)",
                Role::Server => "the client sent an unmasked frame (RFC 6455 §5.1)",
            };
            return self.violation(now, rule.to_owned());
        }
        // RSV1 is permessage-deflate's "compressed" bit, valid only on the
        // first frame of a data message (RFC 7692 §6.1).
        const RSV1: u8 = 0b100;
        let compressed = info.reserved == RSV1 && self.deflate.is_some();
        if compressed && info.opcode.is_control() {
            return self.violation(
                now,
                format!(
                    "RSV1 set on a {:?} frame; permessage-deflate compresses data messages only (RFC 7692 §6.1)",
                    info.opcode
                ),
            );
        }
        if compressed && info.opcode == Opcode::Continuation {
            return self.violation(
                now,
                "RSV1 set on a continuation frame; only a message's first frame carries it (RFC 7692 §6.1)"
                    .to_owned(),
            );
        }
        if info.reserved != 0 && !compressed {
            return self.violation(
                now,
                format!(
                    "RSV bits {:#05b} set without a negotiated extension (RFC 6455 §5.2)",
                    info.reserved
                ),
            );
        }
        if !(FrameInfo {
            reserved: 0,
            ..info
        })
        .is_reasonable()
        {
            return self.violation(
                now,
                format!("opcode {:?} is reserved or a control frame is fragmented (RFC 6455 §5.2, §5.5)", info.opcode),
            );
        }
        if info.opcode.is_control() && info.payload_length > 125 {
            return self.violation(
                now,
                format!("a {:?} frame carries {} bytes; control frames carry at most 125 (RFC 6455 §5.5)", info.opcode, info.payload_length),
            );
        }
        if info.payload_length > self.config.max_frame_bytes {
            return self.too_big(
                now,
                format!(
                    "a frame announces {} bytes, over our {} byte limit; refused without \
                     reading it, closed with 1009 (RFC 6455 §7.4.1)",
                    info.payload_length, self.config.max_frame_bytes
                ),
            );
        }
        match info.opcode {
            Opcode::Continuation if self.message.is_none() => {
                return self.violation(
                    now,
                    "a continuation frame with no message to continue (RFC 6455 §5.4)".to_owned(),
                );
            }
            Opcode::Text | Opcode::Binary if self.message.is_some() => {
                return self.violation(
                    now,
                    "a new message began before the previous one finished (RFC 6455 §5.4)"
                        .to_owned(),
                );
            }
            Opcode::Text | Opcode::Binary => {
                self.message = Some(Box::new(IncomingMessage {
                    opcode: info.opcode,
                    len: 0,
                    kept: Vec::new(),
                    compressed,
                    wire_len: 0,
                    utf8: (info.opcode == Opcode::Text).then(Utf8Check::default),
                }));
            }
            _ => {}
        }
        if let (false, Some(message)) = (info.opcode.is_control(), &mut self.message) {
            message.wire_len = message.wire_len.saturating_add(info.payload_length);
            if message.wire_len > self.config.max_frame_bytes {
                let total = message.wire_len;
                return self.too_big(
                    now,
                    format!(
                        "a fragmented message reaches {total} bytes, over our {} byte limit; \
                         closed with 1009 (RFC 6455 §7.4.1)",
                        self.config.max_frame_bytes
                    ),
                );
            }
        }
        self.bm().frame = Some(IncomingFrame {
            info,
            original_opcode,
            control: Vec::new(),
        });
    }

    fn on_payload(&mut self, now: Instant, chunk: &[u8]) {
        let Some(frame) = &mut busy(&mut self.busy).frame else {
            return;
        };
        if frame.info.opcode.is_control() {
            frame.control.extend_from_slice(chunk);
            return;
        }
        let Some(message) = &mut self.message else {
            return;
        };
        // An echo needs the whole message, bounded by the frame limit.
        let keep = if self.config.echo {
            usize::try_from(self.config.max_frame_bytes).unwrap_or(usize::MAX)
        } else {
            KEEP_MESSAGE_BYTES
        };
        let mut utf8_ok = true;
        match (&mut self.deflate, message.compressed) {
            (Some(codec), true) => {
                let IncomingMessage {
                    kept, utf8, len, ..
                } = &mut **message;
                let inflated = codec.inflate(
                    chunk,
                    *len as u64,
                    self.config.max_frame_bytes,
                    &mut |out| {
                        keep_part(kept, out, keep);
                        utf8_ok &= utf8.as_mut().is_none_or(|check| check.feed(out));
                    },
                );
                self.after_inflate(now, inflated);
            }
            _ => {
                message.len = message.len.saturating_add(chunk.len());
                keep_part(&mut message.kept, chunk, keep);
                utf8_ok = message.utf8.as_mut().is_none_or(|check| check.feed(chunk));
            }
        }
        if !utf8_ok && !self.is_ended() {
            self.not_utf8(now);
        }
    }

    /// Takes the inflated length of the message so far, or ends the
    /// connection: 1009 for a message inflating past our limit (a deflate
    /// bomb stops there), 1002 for data that is not deflate.
    fn after_inflate(&mut self, now: Instant, inflated: Result<u64, InflateError>) {
        match inflated {
            Ok(len) => {
                if let Some(message) = &mut self.message {
                    message.len = usize::try_from(len).unwrap_or(usize::MAX);
                }
            }
            Err(InflateError::TooBig) => {
                let rule = format!(
                    "a compressed message inflates past our {} byte limit (a deflate bomb, or \
                     a limit too small); closed with 1009",
                    self.config.max_frame_bytes
                );
                self.too_big(now, rule);
            }
            Err(InflateError::Corrupt(why)) => {
                self.message = None;
                self.bm().frame = None;
                self.violation(
                    now,
                    format!(
                        "a compressed message is not valid deflate data ({why}; RFC 7692 §7.2.2)"
                    ),
                );
            }
        }
    }

    fn on_frame_end(&mut self, now: Instant) {
        let busy = self.bm();
        let Some(frame) = busy.frame.take() else {
            return;
        };
        busy.frames_in += 1;
        // A close frame ends the connection; it is not activity, so the idle
        // clock at the end still says how long the path had been silent.
        if frame.info.opcode != Opcode::ConnectionClose {
            busy.last_inbound = Some(now);
        }
        match frame.info.opcode {
            Opcode::Ping => self.on_ping(now, frame.control),
            Opcode::Pong => self.on_pong(now, &frame.control),
            Opcode::ConnectionClose => self.on_close(now, &frame.control),
            _ if frame.info.fin => {
                self.finish_inflating(now);
                if let Some(message) = self.message.take() {
                    if message.utf8.as_ref().is_some_and(|check| !check.complete()) {
                        return self.not_utf8(now);
                    }
                    self.on_message(now, &message, frame.original_opcode);
                }
            }
            _ => {}
        }
    }

    /// Inflates the tail RFC 7692 §7.2.1 strips off a compressed message.
    fn finish_inflating(&mut self, now: Instant) {
        let (Some(codec), Some(message)) = (&mut self.deflate, &mut self.message) else {
            return;
        };
        if !message.compressed {
            return;
        }
        let keep = if self.config.echo {
            usize::try_from(self.config.max_frame_bytes).unwrap_or(usize::MAX)
        } else {
            KEEP_MESSAGE_BYTES
        };
        let IncomingMessage {
            kept, utf8, len, ..
        } = &mut **message;
        let mut utf8_ok = true;
        let inflated = codec.finish_message(*len as u64, self.config.max_frame_bytes, &mut |out| {
            keep_part(kept, out, keep);
            utf8_ok &= utf8.as_mut().is_none_or(|check| check.feed(out));
        });
        self.after_inflate(now, inflated);
        if !utf8_ok && !self.is_ended() {
            self.not_utf8(now);
        }
    }

    fn on_ping(&mut self, now: Instant, payload: Vec<u8>) {
        self.record(now, Side::Remote, FrameKind::Ping { len: payload.len() });
        if self.b().close != CloseState::Open {
            return;
        }
        match self.config.heartbeat.pong_policy {
            PongPolicy::Answer => self.send_pong(now, payload),
            PongPolicy::Never => {}
            PongPolicy::Delay { ms } => {
                if self.b().delayed_pongs.len() >= MAX_DELAYED_PONGS {
                    // Answer only the latest (RFC 6455 §5.5.3), when the
                    // oldest was due.
                    if let Some(last) = self.bm().delayed_pongs.back_mut() {
                        last.1 = payload;
                    }
                } else {
                    self.bm()
                        .delayed_pongs
                        .push_back((now + Duration::from_millis(ms), payload));
                }
            }
        }
    }

    fn on_pong(&mut self, now: Instant, payload: &[u8]) {
        let busy = self.bm();
        busy.last_pong = Some(now);
        // Unsolicited pongs (RFC 6455 §5.5.3 allows them as heartbeats) match nothing.
        let matched = busy
            .pings_in_flight
            .iter()
            .position(|(sent_payload, _)| sent_payload.as_slice() == payload);
        let rtt_us = matched.and_then(|i| {
            // Pongs answer the most recent ping; older ones count as answered too.
            let (_, sent) = busy.pings_in_flight.get(i).copied()?;
            busy.pings_in_flight.drain(..=i);
            Some(micros_since(sent, now))
        });
        self.record(
            now,
            Side::Remote,
            FrameKind::Pong {
                len: payload.len(),
                rtt_us,
            },
        );
    }

    fn on_close(&mut self, now: Instant, payload: &[u8]) {
        let (code, reason) = match payload.len() {
            0 => (None, String::new()),
            1 => {
                return self.violation(
                    now,
                    "a close frame with a 1-byte payload (RFC 6455 §5.5.1)".to_owned(),
                )
            }
            _ => {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                let Ok(reason) = std::str::from_utf8(&payload[2..]) else {
                    return self.violation(
                        now,
                        "a close reason that is not UTF-8 (RFC 6455 §5.5.1)".to_owned(),
                    );
                };
                (Some(code), reason.to_owned())
            }
        };
        self.record(
            now,
            Side::Remote,
            FrameKind::Close {
                code,
                reason: reason.clone(),
            },
        );
        if let Some(c) = code {
            let valid = matches!(c, 1000..=1003 | 1007..=1014 | 3000..=4999);
            if !valid {
                return self.violation(
                    now,
                    format!("close code {c} may not be sent on the wire (RFC 6455 §7.4)"),
                );
            }
        }
        let end = match std::mem::replace(&mut self.bm().close, CloseState::Open) {
            CloseState::Sent {
                code: ours,
                reason: our_reason,
                ..
            } => ConnectionEnd::CloseHandshake {
                code: Some(ours),
                reason: our_reason,
                initiator: Side::Local,
                answered: true,
            },
            CloseState::Open => {
                // Echo the peer's code, as RFC 6455 §5.5.1 suggests.
                self.queue_close(now, code, "");
                ConnectionEnd::CloseHandshake {
                    code,
                    reason,
                    initiator: Side::Remote,
                    answered: true,
                }
            }
        };
        self.finish(now, end);
    }

    fn on_message(&mut self, now: Instant, message: &IncomingMessage, opcode: Opcode) {
        let kind = if opcode == Opcode::Text || message.opcode == Opcode::Text {
            let text = String::from_utf8_lossy(&message.kept);
            let echo_rtt_us = self.match_echo(now, &text, message.len);
            FrameKind::Text {
                len: message.len,
                preview: preview(&text),
                echo_rtt_us,
            }
        } else {
            FrameKind::Binary { len: message.len }
        };
        let echo = (self.config.echo && self.b().close == CloseState::Open)
            .then(|| (kind.clone(), message.kept.clone()))
            .filter(|(_, kept)| kept.len() == message.len);
        self.record(now, Side::Remote, kind);
        self.app_on_message(now, &message.kept, message.opcode == Opcode::Text);
        if let Some((kind, data)) = echo {
            let opcode = if matches!(kind, FrameKind::Text { .. }) {
                Opcode::Text
            } else {
                Opcode::Binary
            };
            self.queue_frame(opcode, data);
            let kind = match kind {
                FrameKind::Text { len, preview, .. } => FrameKind::Text {
                    len,
                    preview,
                    echo_rtt_us: None,
                },
                other => other,
            };
            self.record(now, Side::Local, kind);
        }
    }

    /// Sends a text message now without expecting an echo (a server's
    /// greeting or tick). Ignored once closing or ended.
    pub fn send_message(&mut self, now: Instant, text: &str) {
        if self.end.is_some() || self.b().close != CloseState::Open {
            return;
        }
        self.queue_frame(Opcode::Text, text.as_bytes().to_vec());
        self.record(
            now,
            Side::Local,
            FrameKind::Text {
                len: text.len(),
                preview: preview(text),
                echo_rtt_us: None,
            },
        );
    }

    fn match_echo(&mut self, now: Instant, text: &str, len: usize) -> Option<u64> {
        let position = self
            .b()
            .awaiting_echo
            .iter()
            .position(|(_, sent, _)| sent.len() == len && sent.as_str() == text)?;
        let busy = self.bm();
        let (index, _, sent_at) = busy.awaiting_echo.remove(position)?;
        let rtt = micros_since(sent_at, now);
        if let Some(m) = busy.sent.get_mut(index) {
            m.echo_rtt_us = Some(rtt);
        }
        Some(rtt)
    }

    fn send_ping(&mut self, now: Instant) {
        let busy = self.bm();
        busy.ping_counter += 1;
        let payload = busy.ping_counter.to_be_bytes();
        busy.pings_in_flight.push_back((payload, now));
        self.queue_frame(Opcode::Ping, payload.to_vec());
        self.record(now, Side::Local, FrameKind::Ping { len: payload.len() });
    }

    fn send_pong(&mut self, now: Instant, payload: Vec<u8>) {
        if self.b().close != CloseState::Open {
            return;
        }
        let len = payload.len();
        // A pong still owed is answered by this one (RFC 6455 §5.5.3): it
        // is recorded once, when first owed.
        let coalesced = self.bm().pong_owed.replace(payload).is_some();
        if !coalesced {
            self.record(now, Side::Local, FrameKind::Pong { len, rtt_us: None });
        }
    }

    fn send_text(&mut self, now: Instant, text: String) {
        let len = text.len();
        let at_us = micros_since(self.origin, now);
        self.bm().sent.push(SentMessage {
            at_us,
            len,
            echo_rtt_us: None,
        });
        self.queue_frame(Opcode::Text, text.clone().into_bytes());
        self.record(
            now,
            Side::Local,
            FrameKind::Text {
                len,
                preview: preview(&text),
                echo_rtt_us: None,
            },
        );
        let busy = self.bm();
        let index = busy.sent.len() - 1;
        busy.awaiting_echo.push_back((index, text, now));
    }

    /// Queues a close frame; its length on the wire.
    fn queue_close(&mut self, now: Instant, code: Option<u16>, reason: &str) -> usize {
        let mut payload = Vec::new();
        if let Some(code) = code {
            payload.extend_from_slice(&code.to_be_bytes());
            // Control payloads are at most 125 bytes: 2 for the code, 123 of reason.
            let mut cut = reason.len().min(123);
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            payload.extend_from_slice(&reason.as_bytes()[..cut]);
        }
        let len = self.queue_frame(Opcode::ConnectionClose, payload);
        self.record(
            now,
            Side::Local,
            FrameKind::Close {
                code,
                reason: reason.to_owned(),
            },
        );
        len
    }

    /// Queues a frame; its length on the wire.
    fn queue_frame(&mut self, opcode: Opcode, payload: Vec<u8>) -> usize {
        let wire = self.encode_frame(opcode, payload);
        let len = wire.len();
        let busy = self.bm();
        busy.queued_bytes += len;
        busy.transmit.push_back(wire);
        len
    }

    fn encode_frame(&mut self, opcode: Opcode, mut payload: Vec<u8>) -> Vec<u8> {
        let mask = match self.config.role {
            Role::Client => Some(fastrand::u32(..).to_be_bytes()),
            Role::Server => None,
        };
        let mut reserved = 0;
        if let (Some(codec), true) = (&mut self.deflate, opcode.is_data()) {
            if let Some(compressed) = codec.compress(&payload) {
                payload = compressed;
                reserved = 0b100;
            }
        }
        let mut encoder = WebsocketFrameEncoder::new();
        let header = encoder.start_frame(&FrameInfo {
            opcode,
            payload_length: payload.len() as u64,
            mask,
            fin: true,
            reserved,
        });
        encoder.transform_frame_payload(&mut payload);
        let mut wire = Vec::with_capacity(header.len() + payload.len());
        wire.extend_from_slice(&header);
        wire.extend_from_slice(&payload);
        wire
    }

    fn record(&mut self, now: Instant, from: Side, kind: FrameKind) {
        if from == Side::Remote {
            match kind {
                FrameKind::Text { .. } | FrameKind::Binary { .. } => {
                    self.bm().last_data_in = Some(now);
                }
                FrameKind::Pong {
                    rtt_us: Some(rtt), ..
                } => self.bm().last_pong_rtt_us = Some(rtt),
                _ => {}
            }
        }
        let at_us = micros_since(self.origin, now);
        let max_events = self.config.max_events.min(MAX_RECORDED_EVENTS);
        let busy = self.bm();
        if busy.events.len() >= max_events {
            busy.events_omitted += 1;
            return;
        }
        busy.events.push(FrameEvent { at_us, from, kind });
    }

    fn finish(&mut self, now: Instant, end: ConnectionEnd) {
        let since = |t: Option<Instant>| t.map(|t| micros_since(t, now));
        self.end = Some(Box::new(EndRecord {
            end,
            at_us: micros_since(self.origin, now),
            open_for_us: Some(micros_since(self.opened_at, now)),
            // Before any frame arrives, the idle clock runs from the 101.
            since_last_inbound_us: Some(micros_since(
                self.b().last_inbound.unwrap_or(self.opened_at),
                now,
            )),
            since_last_pong_us: since(self.b().last_pong),
            since_last_outbound_us: since(self.b().last_outbound),
        }));
    }
}

/// Appends what still fits under `keep` bytes.
fn keep_part(kept: &mut Vec<u8>, part: &[u8], keep: usize) {
    let room = keep.saturating_sub(kept.len());
    kept.extend_from_slice(&part[..part.len().min(room)]);
}

/// What a long-running watcher needs to tell a stalled handler from a dead
/// connection. Kept as fields, not read from the frame log, because the log
/// stops growing at its cap while a watch runs for days.
impl Session {
    /// When the peer's last data message arrived.
    pub fn last_data_in(&self) -> Option<Instant> {
        self.b().last_data_in
    }

    /// The round trip of the last pong that answered one of our pings.
    pub fn last_pong_rtt_us(&self) -> Option<u64> {
        self.b().last_pong_rtt_us
    }

    /// When the last pong arrived.
    pub fn last_pong_at(&self) -> Option<Instant> {
        self.b().last_pong
    }
}

mod app;
#[cfg(test)]
mod bounds_tests;
#[cfg(test)]
mod deflate_tests;
#[cfg(test)]
mod tests;
