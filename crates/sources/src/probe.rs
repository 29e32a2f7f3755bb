//! `wsdoctor probe`: open one connection, hold it for the watch window, and
//! record everything — the handshake, phase timings, every frame, the end.
//!
//! With [`ProbeConfig::compare_http`] it opens two at once, one by the
//! HTTP/1.1 upgrade and one by HTTP/2 extended CONNECT (RFC 8441), so the
//! path browsers take is seen next to the one command-line clients take.

use std::time::{Duration, Instant};

use wsdoctor_evidence::{ConfigError, HeartbeatSettings, ProbeEvidence, Role};

use crate::conn::driver::{drive, WatchPlan};
use crate::conn::session::{Session, SessionConfig};
use crate::conn::{self, ConnectOptions, HttpVersion};
use crate::{Progress, ProgressSink};

/// A validated probe configuration.
///
/// # Defaults
/// 10 s watch, no messages, 500 ms between messages, no pings of our own,
/// 10 s pong timeout, pings from the server answered at once, one path (the
/// one `connect.http` names).
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// Where and how to connect.
    pub connect: ConnectOptions,
    /// How long to hold the connection open after the 101.
    pub watch: Duration,
    /// Text messages to send, in order.
    pub messages: Vec<String>,
    /// Gap between messages.
    pub send_every: Duration,
    /// Our heartbeat and pong policy.
    pub heartbeat: HeartbeatSettings,
    /// Probe both paths side by side: the HTTP/1.1 upgrade in
    /// `connection`, HTTP/2 extended CONNECT in `h2` (`connect.http` is
    /// then ignored).
    pub compare_http: bool,
}

impl ProbeConfig {
    /// A probe of `connect` with the documented defaults.
    pub fn new(connect: ConnectOptions) -> Self {
        ProbeConfig {
            connect,
            watch: Duration::from_secs(10),
            messages: Vec::new(),
            send_every: Duration::from_millis(500),
            heartbeat: SessionConfig::default().heartbeat,
            compare_http: false,
        }
    }

    /// The config as given when our own ping interval, if any, is above 0.
    pub fn validated(self) -> Result<Self, ConfigError> {
        if self.heartbeat.ping_interval_ms == Some(0) {
            return Err(ConfigError::AboveZero {
                setting: "--ping-interval",
            });
        }
        Ok(self)
    }
}

/// Runs one probe. Never fails: every failure of the connection is evidence.
pub async fn run(config: &ProbeConfig, progress: Option<ProgressSink>) -> ProbeEvidence {
    if !config.compare_http {
        return run_one(config, &config.connect, progress).await;
    }
    let mut h1 = config.connect.clone();
    h1.http = HttpVersion::Http1;
    let mut h2 = config.connect.clone();
    h2.http = HttpVersion::Http2;
    // At the same time, so both see the same moment of the path; progress
    // follows the HTTP/1.1 one, the primary record.
    let (mut primary, second) =
        tokio::join!(run_one(config, &h1, progress), run_one(config, &h2, None));
    primary.h2 = Some(Box::new(second));
    primary
}

async fn run_one(
    config: &ProbeConfig,
    connect: &ConnectOptions,
    progress: Option<ProgressSink>,
) -> ProbeEvidence {
    let origin = Instant::now();
    let mut record = conn::new_record(&connect.target, Role::Client, config.heartbeat);
    let target = record.target.clone();
    let report = |p: Progress| {
        if let Some(sink) = &progress {
            sink(p);
        }
    };
    report(Progress::Connecting {
        target: target.clone(),
    });
    let watch_ms = u64::try_from(config.watch.as_millis()).unwrap_or(u64::MAX);
    let Some(open) = conn::open(connect, origin, &mut record).await else {
        return ProbeEvidence {
            connection: record,
            watch_ms,
            sent: Vec::new(),
            h2: None,
            hop_probe: None,
        };
    };
    let session_config = SessionConfig {
        role: Role::Client,
        heartbeat: config.heartbeat,
        messages: config.messages.clone(),
        send_every: config.send_every,
        // A socket that takes none of our bytes for as long as we give a
        // connect means the server stopped reading (the watch's end cuts
        // it shorter).
        write_timeout: config.connect.connect_timeout,
        ..SessionConfig::default()
    };
    let mut session = Session::new(session_config, origin, open.opened_at);
    if let Some(params) = open.deflate {
        session.use_deflate(params);
    }
    conn::app::attach(&mut session, connect, &record, open.opened_at);
    // The probe's deadline never moves; the sender just has to outlive the drive.
    let (_deadline, close_at) = tokio::sync::watch::channel(open.opened_at + config.watch);
    let watch_end = open.opened_at + config.watch;
    let mut plan = WatchPlan {
        close_at,
        code: 1000,
        reason: "wsdoctor probe finished".to_owned(),
        read_buffer: crate::conn::driver::DEFAULT_READ_BUFFER,
    };
    let mut last_report = Instant::now();
    drive(open.stream, open.leftover, &mut session, &mut plan, |s| {
        let now = Instant::now();
        if now.duration_since(last_report) >= Duration::from_millis(100) {
            last_report = now;
            report(if s.is_closing() {
                Progress::Closing {
                    target: target.clone(),
                }
            } else {
                Progress::Watching {
                    target: target.clone(),
                    remaining: watch_end.saturating_duration_since(now),
                    frames_in: s.frames_in(),
                }
            });
        }
    })
    .await;
    if let Some(deflate) = session.deflate_record() {
        record.deflate = Some(deflate);
    }
    record.app = session.take_app_record();
    let (events, omitted, end, sent) = session.into_evidence();
    record.events = events;
    record.events_omitted = omitted;
    record.end = end;
    ProbeEvidence {
        connection: record,
        watch_ms,
        sent,
        h2: None,
        hop_probe: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_constructor_refuses_a_zero_ping_interval() {
        let Ok(target) = conn::Target::parse("ws://127.0.0.1:9/") else {
            panic!("the target must parse")
        };
        let mut config = ProbeConfig::new(ConnectOptions::new(target));
        config.heartbeat.ping_interval_ms = Some(1);
        let config = config.validated();
        assert!(config.is_ok());
        let Ok(mut config) = config else { return };
        config.heartbeat.ping_interval_ms = Some(0);
        assert_eq!(
            config.validated().err().map(|e| e.to_string()).as_deref(),
            Some("--ping-interval must be more than 0")
        );
    }
}
