//! `wsdoctor flow`: a message-flow watchdog. One connection that pings
//! often (so transport liveness is always known) and expects application
//! messages at a rhythm; it ends as soon as a stall is certain — messages
//! stopped while pongs keep coming — or when the pongs stop too (half-open),
//! or at `max`.
//!
//! [`stall_check`] is the pure decision, tested on a made-up clock; the
//! driver loop is the same one every check uses.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use wsdoctor_evidence::reconnect::{FlowEvidence, FlowStall, MAX_FLOW_GAPS};
use wsdoctor_evidence::{
    check_at_least, check_between, ConfigError, FrameKind, HeartbeatSettings, PongPolicy, Role,
    Side,
};

use crate::conn::driver::{drive, WatchPlan, DEFAULT_READ_BUFFER};
use crate::conn::session::{Session, SessionConfig};
use crate::conn::{self, ConnectOptions};

/// A validated flow watch.
///
/// # Defaults
/// Nothing sent, pings every quarter of `expect_every` (25 ms to 5 s), give
/// up after 60 s.
#[derive(Debug, Clone)]
pub struct FlowConfig {
    /// Where and how to connect.
    pub connect: ConnectOptions,
    /// The server sends a message at least this often.
    pub expect_every: Duration,
    /// A message to send, and how often (a subscription, a request).
    pub send: Option<(String, Duration)>,
    /// The longest the watch lasts.
    pub max: Duration,
}

impl FlowConfig {
    /// A watch of `connect` expecting a message every `expect_every`.
    pub fn new(connect: ConnectOptions, expect_every: Duration) -> FlowConfig {
        FlowConfig {
            connect,
            expect_every,
            send: None,
            max: Duration::from_secs(60),
        }
    }

    /// The config as given when every setting is within what a flow watch
    /// supports: a rhythm of 50 ms to 1 h, a max of 1 s to 24 h, and a
    /// message sent no more often than every 10 ms; the handshake timeout
    /// no longer than the max.
    pub fn validated(mut self) -> Result<Self, ConfigError> {
        check_between(
            "--expect-every",
            self.expect_every,
            Duration::from_millis(50),
            Duration::from_secs(3600),
        )?;
        check_between(
            "--max",
            self.max,
            Duration::from_secs(1),
            Duration::from_secs(24 * 3600),
        )?;
        if let Some((_, every)) = &self.send {
            check_at_least("--every", *every, Duration::from_millis(10))?;
        }
        self.connect.handshake_timeout = self.connect.handshake_timeout.min(self.max);
        Ok(self)
    }

    /// Our ping interval: a quarter of the expected rhythm, so a pong is
    /// always fresher than one interval when the stall is judged.
    pub fn ping_interval(&self) -> Duration {
        (self.expect_every / 4).clamp(Duration::from_millis(25), Duration::from_secs(5))
    }
}

/// The stall rule. Messages have stopped for certain when nothing arrived
/// for 1.5 × `expect_every` (room for a late message) while a pong came
/// back within the last `expect_every` (the connection itself is alive).
/// Returns how long it has been silent when that is the case.
pub fn stall_check(
    now: Instant,
    opened: Instant,
    last_data: Option<Instant>,
    last_pong: Option<Instant>,
    expect_every: Duration,
) -> Option<Duration> {
    let silent = now.saturating_duration_since(last_data.unwrap_or(opened));
    let alive = last_pong.is_some_and(|p| now.saturating_duration_since(p) <= expect_every);
    (alive && silent > expect_every.mul_f64(1.5)).then_some(silent)
}

/// When the server's last data message came: with a protocol decided, its
/// last application message (a Socket.IO event, a GraphQL `next`), since
/// its heartbeats are messages too and would hide a stalled handler.
fn data_in(s: &Session) -> Option<Instant> {
    match s.app_data_in() {
        Some((_, at)) => at,
        None => s.last_data_in(),
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Runs the watch. Never fails: a failed connection is evidence too.
pub async fn run(config: &FlowConfig) -> FlowEvidence {
    let origin = Instant::now();
    let ping = config.ping_interval();
    let mut session_config = SessionConfig {
        role: Role::Client,
        heartbeat: HeartbeatSettings {
            ping_interval_ms: Some(ms(ping)),
            // Three missed pongs in a row: the path is half-open.
            pong_timeout_ms: ms(ping * 3).max(500),
            pong_policy: PongPolicy::Answer,
        },
        ..SessionConfig::default()
    };
    if let Some((text, every)) = &config.send {
        let count = config.max.as_millis() / every.as_millis().max(1) + 1;
        let count = usize::try_from(count).unwrap_or(usize::MAX).min(100_000);
        session_config.messages = vec![text.clone(); count];
        session_config.send_every = *every;
    }
    let mut record = conn::new_record(
        &config.connect.target,
        Role::Client,
        session_config.heartbeat,
    );
    let mut evidence = FlowEvidence {
        target: config.connect.target.redacted(),
        expect_every_ms: ms(config.expect_every),
        ping_interval_ms: ms(ping),
        max_ms: ms(config.max),
        ran_ms: 0,
        messages: 0,
        gaps_ms: Vec::new(),
        largest_gap_ms: None,
        pongs: 0,
        stall: None,
        connection: record.clone(),
    };
    let Some(open) = conn::open(&config.connect, origin, &mut record).await else {
        evidence.ran_ms = ms(origin.elapsed());
        evidence.connection = record;
        return evidence;
    };
    let opened = open.opened_at;
    let mut session = Session::new(session_config, origin, opened);
    if let Some(params) = open.deflate {
        session.use_deflate(params);
    }
    // With an application protocol (`--app`), its heartbeats keep the
    // connection up and only its data messages count as the flow.
    conn::app::attach(&mut session, &config.connect, &record, opened);
    let (close_tx, close_rx) = watch::channel(origin + config.max);
    let mut plan = WatchPlan {
        close_at: close_rx,
        code: 1000,
        reason: "wsdoctor flow finished".to_owned(),
        read_buffer: DEFAULT_READ_BUFFER,
    };
    let expect = config.expect_every;
    let mut last_seen = None::<Instant>;
    let mut gaps: Vec<u64> = Vec::new();
    let mut largest: Option<(u64, u64)> = None;
    let mut stall: Option<FlowStall> = None;
    drive(open.stream, open.leftover, &mut session, &mut plan, |s| {
        let now = Instant::now();
        let data_in = data_in(s);
        if let Some(at) = data_in.filter(|at| Some(*at) != last_seen) {
            let gap = ms(at.saturating_duration_since(last_seen.unwrap_or(opened)));
            last_seen = Some(at);
            if gaps.len() < MAX_FLOW_GAPS {
                gaps.push(gap);
            }
            if largest.is_none_or(|(g, _)| gap > g) {
                largest = Some((gap, ms(at.saturating_duration_since(opened))));
            }
        }
        if stall.is_some() {
            return;
        }
        if let Some(silent) = stall_check(now, opened, data_in, s.last_pong_at(), expect) {
            stall = Some(FlowStall {
                at_ms: ms(now.saturating_duration_since(opened)),
                silent_ms: ms(silent),
                last_message_ms: data_in.map(|t| ms(t.saturating_duration_since(opened))),
                last_pong_rtt_us: s.last_pong_rtt_us(),
                last_pong_ago_ms: s
                    .last_pong_at()
                    .map(|p| ms(now.saturating_duration_since(p))),
            });
            // Certain now: close at once instead of waiting for `max`.
            let _ = close_tx.send(now);
        }
    })
    .await;
    let app_messages = session.app_data_in().map(|(count, _)| count);
    record.app = session.take_app_record();
    let (events, omitted, end, _) = session.into_evidence();
    evidence.messages = app_messages.unwrap_or_else(|| {
        events
            .iter()
            .filter(|e| e.from == Side::Remote)
            .filter(|e| matches!(e.kind, FrameKind::Text { .. } | FrameKind::Binary { .. }))
            .count() as u64
    });
    evidence.pongs = events
        .iter()
        .filter(|e| matches!(e.kind, FrameKind::Pong { .. }))
        .count() as u64;
    // Silence at the end counts as a gap too when it is the largest.
    if let Some(e) = &end {
        let tail_end = origin + Duration::from_micros(e.at_us);
        let tail = ms(tail_end.saturating_duration_since(last_seen.unwrap_or(opened)));
        if largest.is_none_or(|(g, _)| tail > g) && e.end.transport().is_none() {
            largest = Some((tail, ms(tail_end.saturating_duration_since(opened))));
        }
    }
    record.events = events;
    record.events_omitted = omitted;
    record.end = end;
    evidence.gaps_ms = gaps;
    evidence.largest_gap_ms = largest;
    evidence.stall = stall;
    evidence.ran_ms = ms(origin.elapsed());
    evidence.connection = record;
    evidence
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(edit: impl FnOnce(&mut FlowConfig)) -> Option<String> {
        let target = conn::Target::parse("ws://127.0.0.1:9/").ok()?;
        let mut config = FlowConfig::new(ConnectOptions::new(target), Duration::from_secs(1));
        edit(&mut config);
        config.validated().err().map(|e| e.to_string())
    }

    #[test]
    fn the_constructor_holds_the_bounds() {
        assert_eq!(refusal(|_| {}), None);
        let rhythm = Some("--expect-every must be between 50ms and 1h");
        assert_eq!(
            refusal(|c| c.expect_every = Duration::from_millis(49)).as_deref(),
            rhythm
        );
        assert_eq!(
            refusal(|c| c.expect_every = Duration::from_secs(3601)).as_deref(),
            rhythm
        );
        let max = Some("--max must be between 1s and 24h");
        assert_eq!(
            refusal(|c| c.max = Duration::from_millis(999)).as_deref(),
            max
        );
        assert_eq!(
            refusal(|c| c.max = Duration::from_secs(86_401)).as_deref(),
            max
        );
        assert_eq!(
            refusal(|c| c.send = Some(("hi".into(), Duration::from_millis(9)))).as_deref(),
            Some("--every must be at least 10ms")
        );
        assert_eq!(
            refusal(|c| c.send = Some(("hi".into(), Duration::from_millis(10)))),
            None
        );
    }

    #[test]
    fn stall_needs_silence_and_fresh_pongs() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let every = Duration::from_millis(200);
        // Messages flowing: no stall.
        assert_eq!(
            stall_check(at(1000), t0, Some(at(900)), Some(at(990)), every),
            None
        );
        // Silent 301 ms with a fresh pong: stalled.
        assert_eq!(
            stall_check(at(1201), t0, Some(at(900)), Some(at(1150)), every),
            Some(Duration::from_millis(301))
        );
        // Silent, but the pongs stopped too: not a stall (half-open is the session's call).
        assert_eq!(
            stall_check(at(1500), t0, Some(at(900)), Some(at(1000)), every),
            None
        );
        // Nothing ever arrived: silence counts from the 101.
        assert!(stall_check(at(400), t0, None, Some(at(390)), every).is_some());
    }
}
