//! One load connection: open it, hold it until the ramp ends, and tell the
//! aggregator how it opened, failed or dropped.

use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;

use tokio::sync::{mpsc, watch};
use wsdoctor_evidence::load::{DropKind, FailureKind};
use wsdoctor_evidence::{
    escape_peer, ConnectionEnd, ConnectionRecord, HandshakeRecord, HeartbeatSettings, PongPolicy,
    Role,
};

use super::LoadConfig;
use crate::conn::driver::{drive, WatchPlan};
use crate::conn::hold::{DialObserver, Ended, HoldPool};
use crate::conn::session::{Session, SessionConfig};
use crate::conn::{self, BoxedStream, ConnectOptions};

/// How the generator closes its connections when the ramp is over.
pub(super) const CLOSE_CODE: u16 = 1000;
pub(super) const CLOSE_REASON: &str = "wsdoctor load finished";

/// One message from a connection to the aggregator.
#[derive(Debug)]
pub(super) struct Report {
    /// The connection's index in the whole ramp (0-based).
    pub(super) conn: u64,
    /// When it happened.
    pub(super) at: Instant,
    pub(super) event: Event,
}

/// What a connection tells the aggregator.
#[derive(Debug)]
pub(super) enum Event {
    Opened {
        step: usize,
        handshake_us: u64,
    },
    Failed {
        step: usize,
        kind: FailureKind,
        detail: String,
        server: Option<String>,
    },
    Dropped {
        kind: DropKind,
    },
    Echo {
        rtt_us: u64,
        /// When the message was sent: it counts in that step, not in the
        /// one when the connection ended (the report comes at the end).
        sent_at: Instant,
    },
}

pub(super) fn session_config(config: &LoadConfig) -> Arc<SessionConfig> {
    let mut session = SessionConfig {
        role: Role::Client,
        heartbeat: HeartbeatSettings {
            ping_interval_ms: config
                .ping_interval
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            pong_timeout_ms: 10_000,
            pong_policy: PongPolicy::Answer,
        },
        // Only the clocks matter here; a frame log would grow for days.
        max_events: 0,
        ..SessionConfig::default()
    };
    if let Some(every) = config.message_every {
        let total = config.steps_duration();
        let count = (total.as_millis() / every.as_millis().max(1) + 1).min(100_000);
        session.messages =
            vec!["x".repeat(config.message_size); usize::try_from(count).unwrap_or(0)];
        session.send_every = every;
    }
    Arc::new(session)
}

/// One connection of the ramp, from connect to its end.
///
/// Not an `async fn`: its arguments would stay in the task for the
/// connection's whole life (the connect options alone are ~350 bytes), and a
/// held connection should cost as little as possible. Opening needs a few
/// KiB of state (DNS, TLS, the handshake record) and is boxed, so the task
/// keeps only what holding the connection needs.
pub(super) fn run_connection(
    options: ConnectOptions,
    session_config: Arc<SessionConfig>,
    step: usize,
    conn: u64,
    close_at: watch::Receiver<Instant>,
    reports: mpsc::UnboundedSender<Report>,
    pool: Option<Arc<HoldPool>>,
) -> impl std::future::Future<Output = ()> + Send {
    let reporter = Reporter { conn, reports };
    let opening = Box::pin(open(options, session_config, step));
    async move {
        let (stream, leftover, mut session, opened) = match opening.await {
            Ok(open) => open,
            Err(failed) => return reporter.send(failed),
        };
        reporter.send(opened);
        let Some(pool) = pool.filter(|_| stream.plain_tcp().is_some()) else {
            hold(stream, leftover, session, close_at, &reporter).await;
            return;
        };
        let mut leftover = leftover;
        session.handle_data(Instant::now(), &mut leftover);
        let Ok(tcp) = stream.into_any().downcast::<tokio::net::TcpStream>() else {
            // plain_tcp() said it is one; nothing else can be held.
            return;
        };
        // The task ends here; the pool reports the connection's end.
        if let Err((session, _)) = pool.adopt(
            *tcp,
            session,
            Box::new(move |session: Box<Session>| finish(&reporter, *session)),
        ) {
            // Only when the ramp is over and the pool already stopped.
            drop(session);
        }
    }
}

/// Sends a connection's events to the aggregator.
struct Reporter {
    conn: u64,
    reports: mpsc::UnboundedSender<Report>,
}

impl Reporter {
    fn send(&self, event: Event) {
        let _ = self.reports.send(Report {
            conn: self.conn,
            at: Instant::now(),
            event,
        });
    }
}

/// Connects and upgrades; the open connection and its `Opened` event, or
/// the `Failed` event.
async fn open(
    options: ConnectOptions,
    session_config: Arc<SessionConfig>,
    step: usize,
) -> Result<(BoxedStream, BytesMut, Box<Session>, Event), Event> {
    let origin = Instant::now();
    let mut record = conn::new_record(&options.target, Role::Client, session_config.heartbeat);
    let Some(open) = conn::open(&options, origin, &mut record).await else {
        return Err(failed(step, &record));
    };
    let handshake_us = record.phases.response_head_us.unwrap_or(0);
    // Boxed: moved into the holding future by pointer, not by value.
    let mut session = Box::new(Session::new(session_config, origin, open.opened_at));
    if let Some(params) = open.deflate {
        session.use_deflate(params);
    }
    // `--app`: the protocol's session (none unless load keeps a plan).
    conn::app::attach(&mut session, &options, &record, open.opened_at);
    Ok((
        open.stream,
        open.leftover,
        session,
        Event::Opened { step, handshake_us },
    ))
}

async fn hold(
    stream: BoxedStream,
    leftover: BytesMut,
    mut session: Box<Session>,
    close_at: watch::Receiver<Instant>,
    reporter: &Reporter,
) {
    let mut plan = WatchPlan {
        close_at,
        code: CLOSE_CODE,
        reason: CLOSE_REASON.to_owned(),
        read_buffer: 2048,
    };
    drive(stream, leftover, &mut session, &mut plan, |_| {}).await;
    finish(reporter, *session);
}

/// Reports how an open connection ended, and that it did.
fn finish(reporter: &Reporter, session: Session) {
    let origin = session.origin();
    let (_, _, end, sent) = session.into_evidence();
    for message in &sent {
        if let Some(rtt_us) = message.echo_rtt_us {
            let sent_at = origin + std::time::Duration::from_micros(message.at_us);
            reporter.send(Event::Echo { rtt_us, sent_at });
        }
    }
    if let Some(kind) = end.as_ref().and_then(|e| DropKind::of(&e.end)) {
        reporter.send(Event::Dropped { kind });
    }
}

fn failed(step: usize, record: &ConnectionRecord) -> Event {
    failed_with(
        step,
        record.end.as_ref().map(|e| &e.end),
        record.handshake.as_ref(),
    )
}

fn failed_with(
    step: usize,
    end: Option<&ConnectionEnd>,
    handshake: Option<&HandshakeRecord>,
) -> Event {
    let (kind, detail) = match end {
        Some(end) => (FailureKind::from(end), end.describe()),
        None => (FailureKind::ConnectError, "no end recorded".to_owned()),
    };
    let server = handshake.and_then(|h| h.header("Server")).map(escape_peer);
    Event::Failed {
        step,
        kind,
        detail,
        server,
    }
}

/// One connection of the ramp that the hold pool opens and holds itself
/// ([`HoldPool::dial`]): what it hears goes to the aggregator as from a
/// task.
pub(super) struct PooledConnection {
    step: usize,
    reporter: Reporter,
}

impl PooledConnection {
    pub(super) fn new(step: usize, conn: u64, reports: mpsc::UnboundedSender<Report>) -> Self {
        PooledConnection {
            step,
            reporter: Reporter { conn, reports },
        }
    }
}

impl DialObserver for PooledConnection {
    fn opened(&mut self, handshake_us: u64) {
        self.reporter.send(Event::Opened {
            step: self.step,
            handshake_us,
        });
    }

    fn failed(self: Box<Self>, end: ConnectionEnd, handshake: Option<Box<HandshakeRecord>>) {
        let event = failed_with(self.step, Some(&end), handshake.as_deref());
        self.reporter.send(event);
    }
}

/// The observer is the held connection's end handler too (one box each).
impl Ended for PooledConnection {
    fn ended(self: Box<Self>, session: Box<Session>) {
        finish(&self.reporter, *session);
    }
}

#[cfg(test)]
mod tests {
    use wsdoctor_evidence::load::DropKind;
    use wsdoctor_evidence::{ConnectionEnd, Side};

    #[test]
    fn drop_kinds_name_how_the_path_ended_a_connection() {
        let close = |code, initiator| ConnectionEnd::CloseHandshake {
            code,
            reason: String::new(),
            initiator,
            answered: true,
        };
        let cases = [
            (close(Some(1001), Side::Remote), Some("close-1001")),
            (close(None, Side::Remote), Some("close-1005")),
            (close(Some(1000), Side::Local), None),
            (
                ConnectionEnd::PeerStoppedReading {
                    queued_bytes: 70_000,
                    blocked_ms: 10_000,
                },
                Some("peer-stopped-reading"),
            ),
            (
                ConnectionEnd::FinWithoutClose { mid_frame: false },
                Some("eof"),
            ),
        ];
        for (end, want) in cases {
            let got = DropKind::of(&end).map(|k| k.to_string());
            assert_eq!(got.as_deref(), want, "{end:?}");
        }
    }
}
