//! One WebSocket connection after the 101: echo, plus the timed faults.
//!
//! Everything happens in one `select!` loop over the socket read and the
//! timers, so a connection is one task with no shared state. The read uses
//! `read_buf` into a `BytesMut`, which is cancel-safe: when a timer wins the
//! race no received byte is lost.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::pending;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncReadExt as _;
use tokio::time::{interval_at, sleep_until, Instant, Interval, MissedTickBehavior};
use websocket_sans_io::Opcode;

use crate::config::{PongMode, SessionPlan};
use crate::conn::Conn;
use crate::frames::{self, Inbound, Incoming};

/// How long to wait for the client's close frame after sending ours.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// How long to wait for the client's FIN after sending ours.
const FIN_LINGER: Duration = Duration::from_secs(2);
/// Bytes requested per socket read.
const READ_CHUNK: usize = 16 * 1024;
/// How long a write may wait on a client that does not read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Delayed pongs kept at most (`pong-delay`); later pings go unanswered.
const MAX_PENDING_PONGS: usize = 64;
/// Payload of the `huge-frame` fault's announced frame.
const HUGE_FRAME_LEN: u64 = 2 << 30;

/// What the handshake hands over.
#[derive(Debug)]
pub(crate) struct SessionInput {
    pub(crate) plan: SessionPlan,
    /// Reason text for the `close` fault's frame.
    pub(crate) reason: String,
    /// JSON for the `greet` fault.
    pub(crate) greeting: Option<String>,
    /// Bytes the client sent right after its request head.
    pub(crate) leftover: BytesMut,
}

/// How the session ends, applied to the socket once the loop is left.
#[derive(Debug)]
enum End {
    /// Just drop the socket (the client left, or a write failed).
    Drop,
    /// RST.
    Reset,
    /// FIN, then wait briefly for the client's FIN.
    Finish,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Frames flow both ways.
    Open,
    /// Our close frame is out; waiting for the client's until the deadline.
    Closing(Instant),
    /// A frame was left unfinished (`huge-frame`): nothing more can be sent.
    Stalled,
}

#[derive(Debug)]
struct Session {
    conn: Conn,
    plan: SessionPlan,
    reason: String,
    rbuf: BytesMut,
    inbound: Inbound,
    phase: Phase,
    pongs: VecDeque<(Instant, Vec<u8>)>,
}

/// Runs the session until the client leaves or a fault ends it.
pub(crate) async fn run(conn: Conn, input: SessionInput) {
    let mut session = Session {
        conn,
        plan: input.plan,
        reason: input.reason,
        rbuf: input.leftover,
        inbound: Inbound::default(),
        phase: Phase::Open,
        pongs: VecDeque::new(),
    };
    let end = match session.drive(input.greeting).await {
        Err(end) => end,
        Ok(never) => match never {},
    };
    match end {
        End::Drop => {}
        End::Reset => session.conn.reset(),
        End::Finish => session.conn.finish(FIN_LINGER).await,
    }
}

/// Waits until `at`, or forever when there is no deadline.
async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => pending().await,
    }
}

/// Waits for the next tick, or forever when there is no interval.
async fn tick_opt(interval: &mut Option<Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => pending().await,
    }
}

fn periodic(start: Instant, every: Option<Duration>) -> Option<Interval> {
    every.map(|d| {
        let mut i = interval_at(start + d, d);
        // A stalled writer should not be followed by a burst of catch-up pings.
        i.set_missed_tick_behavior(MissedTickBehavior::Delay);
        i
    })
}

impl Session {
    /// Writes a frame; a client that takes none of it for [`WRITE_TIMEOUT`]
    /// stopped reading and is dropped (nothing is read meanwhile, so it
    /// cannot make the server queue more).
    async fn send(&mut self, bytes: &[u8]) -> Result<(), End> {
        match tokio::time::timeout(WRITE_TIMEOUT, self.conn.send(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) | Err(_) => Err(End::Drop),
        }
    }

    /// The loop; it only ever leaves with how to end.
    async fn drive(&mut self, greeting: Option<String>) -> Result<Infallible, End> {
        let start = Instant::now();
        let after = |d: Option<Duration>| d.map(|d| start + d);
        let mut close_at = after(self.plan.close.map(|(_, d)| d));
        let rst_at = after(self.plan.rst);
        let fin_at = after(self.plan.fin);
        let fin_mid_at = after(self.plan.fin_mid_frame);
        let mut pings = periodic(start, self.plan.ping);
        let mut ticks = periodic(start, self.plan.tick);
        let (mut ping_n, mut tick_n) = (0u64, 0u64);

        if let Some(json) = greeting {
            self.send(&frames::frame(Opcode::Text, json.as_bytes()))
                .await?;
        }
        if self.plan.huge_frame {
            let mut bytes = frames::header(Opcode::Binary, true, HUGE_FRAME_LEN);
            bytes.extend_from_slice(b"wsdoctor");
            self.send(&bytes).await?;
            self.phase = Phase::Stalled;
        }

        loop {
            // Bytes that arrived with the request head, or in the last read.
            if !self.rbuf.is_empty() {
                self.handle_input().await?;
            }
            let open = self.phase == Phase::Open;
            let closing_deadline = match self.phase {
                Phase::Closing(at) => Some(at),
                _ => None,
            };
            let pong_at = self.pongs.front().map(|(at, _)| *at);
            self.rbuf.reserve(READ_CHUNK);
            tokio::select! {
                read = self.conn.read_buf(&mut self.rbuf) => match read {
                    // EOF or error: the client is gone, quietly.
                    Ok(0) | Err(_) => return Err(End::Drop),
                    Ok(_) => {}
                },
                () = sleep_opt(rst_at) => return Err(End::Reset),
                () = sleep_opt(fin_at) => return Err(End::Finish),
                () = sleep_opt(fin_mid_at) => {
                    if self.phase != Phase::Stalled {
                        let mut bytes = frames::header(Opcode::Text, true, 100);
                        bytes.extend_from_slice(b"wsdoctor: ");
                        self.send(&bytes).await?;
                    }
                    return Err(End::Finish);
                }
                () = sleep_opt(close_at), if open => {
                    close_at = None;
                    let code = self.plan.close.map_or(1000, |(code, _)| code);
                    let frame = frames::close_frame(code, &self.reason);
                    self.send(&frame).await?;
                    self.phase = Phase::Closing(Instant::now() + CLOSE_WAIT);
                }
                () = sleep_opt(closing_deadline) => return Err(End::Finish),
                () = tick_opt(&mut pings), if open => {
                    ping_n += 1;
                    self.send(&frames::frame(Opcode::Ping, &ping_n.to_be_bytes())).await?;
                }
                () = tick_opt(&mut ticks), if open => {
                    tick_n += 1;
                    let text = format!("tick {tick_n}");
                    self.send(&frames::frame(Opcode::Text, text.as_bytes())).await?;
                }
                () = sleep_opt(pong_at), if open => {
                    if let Some((_, payload)) = self.pongs.pop_front() {
                        self.send(&frames::frame(Opcode::Pong, &payload)).await?;
                    }
                }
            }
        }
    }

    /// Decodes what is in the read buffer and reacts to it.
    async fn handle_input(&mut self) -> Result<(), End> {
        let mut items = Vec::new();
        let fed = self.inbound.feed(&mut self.rbuf, &mut items);
        for item in items {
            self.react(item).await?;
        }
        if let Err(violation) = fed {
            // Fail the connection (RFC 6455 section 7.1.7): say why if a
            // frame can still be sent, then close TCP.
            if self.phase == Phase::Open {
                self.send(&frames::close_frame(violation.code, violation.why))
                    .await?;
            }
            return Err(End::Finish);
        }
        Ok(())
    }

    async fn react(&mut self, item: Incoming) -> Result<(), End> {
        match (self.phase, item) {
            (Phase::Open, Incoming::Message { text, data }) => {
                let opcode = if text { Opcode::Text } else { Opcode::Binary };
                self.send(&frames::frame(opcode, &data)).await
            }
            (Phase::Open, Incoming::Ping(payload)) => match self.plan.pong {
                PongMode::Immediate => self.send(&frames::frame(Opcode::Pong, &payload)).await,
                PongMode::Never => Ok(()),
                PongMode::After(delay) => {
                    if self.pongs.len() < MAX_PENDING_PONGS {
                        self.pongs.push_back((Instant::now() + delay, payload));
                    }
                    Ok(())
                }
            },
            (Phase::Open, Incoming::Close(code)) => {
                // Echo the code (or an empty close for an empty one), then
                // close TCP: the server closes first (RFC 6455 section 7.1.1).
                let frame = match code {
                    Some(code) => frames::close_frame(code, ""),
                    None => frames::frame(Opcode::ConnectionClose, &[]),
                };
                self.send(&frame).await?;
                Err(End::Finish)
            }
            // The answer to our close, or a close while stalled mid-frame.
            (_, Incoming::Close(_)) => Err(End::Finish),
            // After our close, or mid-frame, nothing else can be answered.
            (_, Incoming::Message { .. } | Incoming::Ping(_) | Incoming::Pong) => Ok(()),
        }
    }
}
