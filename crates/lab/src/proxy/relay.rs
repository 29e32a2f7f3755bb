//! The relay after the handshake: one task, one `select!` over both reads,
//! both writes and the fault timers.
//!
//! Writes go through per-direction queues so neither side's slowness blocks
//! the other, and the queues are capped (reading stops while one is full),
//! so memory per connection is bounded whatever the peers do. `latency`
//! only stamps each chunk with the time it may leave.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::{Buf as _, Bytes, BytesMut};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::{sleep_until, Instant};
use websocket_sans_io::{FrameInfo, Opcode, WebsocketFrameEncoder};

use super::plan::ProxyPlan;
use super::proxy_fault::{EndHow, IdleCounts};
use super::pump::{Pump, Seen};

/// Bytes requested per socket read.
const READ_CHUNK: usize = 16 * 1024;
/// Bytes queued per direction before reading from its source pauses.
const QUEUE_CAP: usize = 256 * 1024;
/// How long to wait for both close answers after the proxy sent its own.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// How long the other direction may go on after one side sent FIN.
const HALF_CLOSE_LINGER: Duration = Duration::from_secs(10);
/// How long a blackholed connection is kept before it is dropped.
const BLACKHOLE_MAX: Duration = Duration::from_secs(600);
/// Reason text of the close frames the proxy writes itself.
const CLOSE_REASON: &str = "wsdoctor-lab proxy";

/// How the relay wants the two sockets ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    /// Both sides are done, or gone: just drop the sockets.
    Drop,
    /// FIN to both, then drain until they close too.
    Fin,
    /// RST to both.
    Rst,
}

/// What the relay starts with.
#[derive(Debug)]
pub(crate) struct RelayInit<'a> {
    pub(crate) plan: &'a ProxyPlan,
    /// False after a non-101 answer: bytes only, no frames, no faults.
    pub(crate) websocket: bool,
    /// Client bytes that came after the request head.
    pub(crate) up_rest: BytesMut,
    /// Upstream bytes that came after the response head.
    pub(crate) down_rest: BytesMut,
    /// The mass disconnect instant (shared by all connections), if any.
    pub(crate) mass_at: Option<Instant>,
}

/// Chunks waiting to be written to one socket.
#[derive(Debug, Default)]
struct Queue {
    chunks: VecDeque<(Instant, Bytes)>,
    bytes: usize,
}

impl Queue {
    fn push(&mut self, at: Instant, bytes: Vec<u8>) {
        if !bytes.is_empty() {
            self.bytes += bytes.len();
            self.chunks.push_back((at, Bytes::from(bytes)));
        }
    }

    fn front(&self) -> &[u8] {
        self.chunks.front().map_or(&[], |(_, b)| b)
    }

    fn due(&self) -> Option<Instant> {
        self.chunks.front().map(|(at, _)| *at)
    }

    fn advance(&mut self, n: usize) {
        self.bytes = self.bytes.saturating_sub(n);
        if let Some((_, b)) = self.chunks.front_mut() {
            b.advance(n.min(b.len()));
            if b.is_empty() {
                self.chunks.pop_front();
            }
        }
    }

    fn clear(&mut self) {
        self.chunks.clear();
        self.bytes = 0;
    }
}

/// One direction: its pump, its queue, and whether its source has ended.
#[derive(Debug)]
struct Leg {
    pump: Pump,
    queue: Queue,
    /// The source sent FIN.
    eof: bool,
    /// We passed that FIN on.
    shut: bool,
    /// A close frame came from this direction's source.
    closed: bool,
}

impl Leg {
    fn new(websocket: bool) -> Leg {
        Leg {
            pump: Pump::new(websocket),
            queue: Queue::default(),
            eof: false,
            shut: false,
            closed: false,
        }
    }
}

/// Where the connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    /// The proxy sent close frames; waiting for answers until the deadline.
    Closing(Instant),
    /// Forwarding nothing, closing nothing.
    Blackholed,
}

/// A frame the proxy writes itself; towards the server it must be masked.
fn close_frame(code: u16, to_server: bool) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(CLOSE_REASON.as_bytes());
    let mut encoder = WebsocketFrameEncoder::new();
    let header = encoder.start_frame(&FrameInfo {
        opcode: Opcode::ConnectionClose,
        payload_length: payload.len() as u64,
        mask: to_server.then(|| fastrand::u32(..).to_be_bytes()),
        fin: true,
        reserved: 0,
    });
    encoder.transform_frame_payload(&mut payload);
    let mut out = header.to_vec();
    out.extend_from_slice(&payload);
    out
}

/// The relay's state between loop turns.
#[derive(Debug)]
struct Relay<'a> {
    plan: &'a ProxyPlan,
    websocket: bool,
    /// Client to upstream.
    up: Leg,
    /// Upstream to client.
    down: Leg,
    phase: Phase,
    opened: Instant,
    last_activity: Instant,
    mass_at: Option<Instant>,
    stalled: bool,
    injected: bool,
    half_closed_at: Option<Instant>,
    blackholed_at: Option<Instant>,
    /// This connection's draw of `random-drop`.
    random_end: Option<(Instant, EndHow)>,
    /// One side reset (true: the client): what it sent before is passed on
    /// until this deadline, then the reset is.
    reset: Option<(bool, Instant)>,
}

/// The instant `random-drop` ends a connection opened at `opened`: uniform
/// over the range, to the millisecond.
fn random_end(opened: Instant, plan: &ProxyPlan) -> Option<(Instant, EndHow)> {
    let (min, max, how) = plan.random_drop?;
    let span_ms = u64::try_from(max.saturating_sub(min).as_millis()).unwrap_or(u64::MAX);
    let age = min + Duration::from_millis(fastrand::u64(0..=span_ms));
    Some((opened + age, how))
}

/// Runs until both sides are done or a fault ends the connection.
pub(crate) async fn run(
    client: &mut TcpStream,
    upstream: &mut TcpStream,
    init: RelayInit<'_>,
) -> Finish {
    let now = Instant::now();
    let mut relay = Relay {
        plan: init.plan,
        websocket: init.websocket,
        up: Leg::new(init.websocket),
        down: Leg::new(init.websocket),
        phase: Phase::Open,
        opened: now,
        last_activity: now,
        mass_at: init.mass_at,
        stalled: false,
        injected: false,
        half_closed_at: None,
        blackholed_at: None,
        random_end: random_end(now, init.plan),
        reset: None,
    };
    if init.websocket {
        relay.up.pump.rules.drop_pongs = init.plan.drop_pongs;
        relay.up.pump.rules.swallow_close = init.plan.swallow_close;
        relay.down.pump.rules = relay.up.pump.rules;
    }
    if !init.up_rest.is_empty() {
        relay.input(true, &init.up_rest, now);
    }
    if !init.down_rest.is_empty() {
        relay.input(false, &init.down_rest, now);
    }

    let (mut cr, mut cw) = client.split();
    let (mut ur, mut uw) = upstream.split();
    let mut cbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut ubuf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        let now = Instant::now();
        if let Some(finish) = relay.fire(now) {
            return finish;
        }
        if let Some((from_client, deadline)) = relay.reset {
            // The other side first gets what came before the reset (an
            // upstream's 1009 close frame, typically). After a close frame
            // the reset was only TCP's end of a closed WebSocket: the other
            // side gets a FIN, as from a proxy that saw the close, since a
            // reset would discard the frame unread in its buffer.
            let leg = relay.leg(from_client);
            if leg.queue.bytes == 0 || now >= deadline {
                return if leg.closed { Finish::Fin } else { Finish::Rst };
            }
        }
        // Pass a FIN on once everything before it has been written.
        if relay.up.eof && relay.up.queue.bytes == 0 && !relay.up.shut {
            relay.up.shut = true;
            let _ = uw.shutdown().await;
        }
        if relay.down.eof && relay.down.queue.bytes == 0 && !relay.down.shut {
            relay.down.shut = true;
            let _ = cw.shutdown().await;
        }
        if relay.up.shut && relay.down.shut {
            return Finish::Drop;
        }
        let up_ready = relay.up.queue.due().is_some_and(|at| at <= now);
        let down_ready = relay.down.queue.due().is_some_and(|at| at <= now);
        let read_client = !relay.up.eof && relay.up.queue.bytes < QUEUE_CAP;
        let read_upstream = !relay.down.eof && relay.down.queue.bytes < QUEUE_CAP;
        let wake = relay.next_timer();
        cbuf.reserve(READ_CHUNK);
        ubuf.reserve(READ_CHUNK);
        tokio::select! {
            read = cr.read_buf(&mut cbuf), if read_client => match read {
                Ok(0) => relay.eof(true, Instant::now()),
                Ok(_) => {
                    relay.input(true, &cbuf, Instant::now());
                    cbuf.clear();
                }
                Err(_) => relay.reset_by(true, Instant::now()),
            },
            read = ur.read_buf(&mut ubuf), if read_upstream => match read {
                Ok(0) => relay.eof(false, Instant::now()),
                Ok(_) => {
                    relay.input(false, &ubuf, Instant::now());
                    ubuf.clear();
                }
                Err(_) => relay.reset_by(false, Instant::now()),
            },
            wrote = uw.write(relay.up.queue.front()), if up_ready => match wrote {
                Ok(n) if n > 0 => relay.up.queue.advance(n),
                _ => relay.unwritable(false, Instant::now()),
            },
            wrote = cw.write(relay.down.queue.front()), if down_ready => match wrote {
                Ok(n) if n > 0 => relay.down.queue.advance(n),
                _ => relay.unwritable(true, Instant::now()),
            },
            () = sleep_opt(wake) => {}
        }
    }
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Relay<'_> {
    fn leg(&mut self, from_client: bool) -> &mut Leg {
        if from_client {
            &mut self.up
        } else {
            &mut self.down
        }
    }

    /// One side's socket failed (a reset, usually): nothing more comes from
    /// it or goes to it; what it sent before still reaches the other side
    /// (within the close wait), then the reset is passed on (a FIN after a
    /// close frame).
    fn reset_by(&mut self, client: bool, now: Instant) {
        let (from, toward) = if client {
            (&mut self.up, &mut self.down)
        } else {
            (&mut self.down, &mut self.up)
        };
        from.eof = true;
        toward.eof = true;
        toward.shut = true;
        toward.queue.clear();
        self.reset.get_or_insert((client, now + CLOSE_WAIT));
    }

    /// Writing to one side failed: nothing more goes to it, but what it
    /// sent before its reset is still read (its read reports the reset).
    fn unwritable(&mut self, client: bool, now: Instant) {
        let toward = if client { &mut self.down } else { &mut self.up };
        toward.queue.clear();
        toward.eof = true;
        toward.shut = true;
        self.half_closed_at.get_or_insert(now);
    }

    /// Bytes read from one side.
    fn input(&mut self, from_client: bool, bytes: &[u8], now: Instant) {
        let latency = self.plan.latency;
        let leg = self.leg(from_client);
        let mut out = Vec::with_capacity(bytes.len());
        let seen = leg.pump.feed(bytes, &mut out);
        leg.closed |= seen.close;
        leg.queue.push(now + latency, out);
        if self.counts(from_client, seen) {
            self.last_activity = now;
        }
    }

    /// Whether this traffic restarts the idle timer.
    fn counts(&self, from_client: bool, seen: Seen) -> bool {
        match self.plan.idle.map(|(_, _, c)| c) {
            None | Some(IdleCounts::Both) => seen.bytes,
            Some(IdleCounts::DownOnly) => seen.bytes && !from_client,
            Some(IdleCounts::DataOnly) => seen.data,
        }
    }

    fn eof(&mut self, from_client: bool, now: Instant) {
        if self.phase == Phase::Blackholed {
            // Nothing crosses a blackhole, not even a FIN; once the client
            // gives up there is nobody left to fool.
            if from_client {
                self.up.eof = true;
                self.down.eof = true;
            }
            return;
        }
        self.leg(from_client).eof = true;
        self.half_closed_at.get_or_insert(now);
    }

    /// The earliest instant something is due.
    fn next_timer(&self) -> Option<Instant> {
        let after = |d: Option<Duration>| d.map(|d| self.opened + d);
        let mut times = vec![self.up.queue.due(), self.down.queue.due()];
        times.push(self.reset.map(|(_, deadline)| deadline));
        times.push(self.half_closed_at.map(|t| t + HALF_CLOSE_LINGER));
        match self.phase {
            Phase::Open if self.websocket => {
                times.push(self.plan.idle.map(|(d, _, _)| self.last_activity + d));
                times.push(after(self.plan.lifetime.map(|(d, _)| d)));
                times.push(self.random_end.map(|(at, _)| at));
                times.push(after(self.plan.reset_after));
                times.push(after(self.plan.blackhole_after));
                if !self.stalled {
                    times.push(after(self.plan.stall));
                }
                if !self.injected {
                    times.push(after(self.plan.inject_close.map(|(_, d)| d)));
                }
                times.push(self.mass_at);
            }
            Phase::Open => {}
            Phase::Closing(deadline) => times.push(Some(deadline)),
            Phase::Blackholed => times.push(self.blackholed_at.map(|t| t + BLACKHOLE_MAX)),
        }
        times.into_iter().flatten().min()
    }

    /// Applies every timer due at `now`; `Some` ends the connection.
    fn fire(&mut self, now: Instant) -> Option<Finish> {
        if self
            .half_closed_at
            .is_some_and(|t| now >= t + HALF_CLOSE_LINGER)
        {
            return Some(Finish::Drop);
        }
        match self.phase {
            Phase::Open if self.websocket => self.fire_open(now),
            Phase::Open => None,
            Phase::Closing(deadline) => {
                let answered =
                    (self.up.closed || self.up.eof) && (self.down.closed || self.down.eof);
                (answered || now >= deadline).then_some(Finish::Fin)
            }
            Phase::Blackholed => {
                let gone =
                    self.up.eof || self.blackholed_at.is_some_and(|t| now >= t + BLACKHOLE_MAX);
                gone.then_some(Finish::Drop)
            }
        }
    }

    fn fire_open(&mut self, now: Instant) -> Option<Finish> {
        let due = |d: Option<Duration>| d.is_some_and(|d| now >= self.opened + d);
        if due(self.plan.reset_after) {
            return Some(Finish::Rst);
        }
        if let Some((d, how)) = self.plan.lifetime {
            if now >= self.opened + d {
                return self.end(how, now);
            }
        }
        if let Some((at, how)) = self.random_end {
            if now >= at {
                return self.end(how, now);
            }
        }
        if let Some((d, how, _)) = self.plan.idle {
            if now >= self.last_activity + d {
                return self.end(how, now);
            }
        }
        if let (Some(at), Some((_, how))) = (self.mass_at, self.plan.mass) {
            if now >= at {
                return self.end(how, now);
            }
        }
        if due(self.plan.blackhole_after) {
            self.phase = Phase::Blackholed;
            self.blackholed_at = Some(now);
            for leg in [&mut self.up, &mut self.down] {
                leg.pump.rules.discard_all = true;
                leg.queue.clear();
            }
            return None;
        }
        if !self.stalled && due(self.plan.stall) {
            self.stalled = true;
            self.up.pump.rules.stall_data = true;
            self.down.pump.rules.stall_data = true;
        }
        if !self.injected {
            if let Some((code, after)) = self.plan.inject_close {
                if now >= self.opened + after {
                    self.injected = true;
                    self.start_closing(code, 1001, now);
                }
            }
        }
        None
    }

    /// Ends the connection the way a timer's `how` says.
    fn end(&mut self, how: EndHow, now: Instant) -> Option<Finish> {
        match how {
            // After the upgrade there is no HTTP answer left to give.
            EndHow::Fin | EndHow::Http504 => Some(Finish::Fin),
            EndHow::Rst => Some(Finish::Rst),
            EndHow::Close(code) => {
                self.start_closing(code, code, now);
                None
            }
        }
    }

    /// Sends close frames both ways and stops forwarding anything else.
    fn start_closing(&mut self, to_client: u16, to_server: u16, now: Instant) {
        for (leg, frame) in [
            (&mut self.down, close_frame(to_client, false)),
            (&mut self.up, close_frame(to_server, true)),
        ] {
            let mut out = Vec::new();
            leg.pump.inject(frame, &mut out);
            leg.pump.rules.discard_all = true;
            leg.queue.push(now, out);
        }
        // The answers to our frames end the wait; earlier ones do not count.
        self.up.closed = false;
        self.down.closed = false;
        self.phase = Phase::Closing(now + CLOSE_WAIT);
    }
}
