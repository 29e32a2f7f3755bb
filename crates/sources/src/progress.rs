//! Progress reports from a running source, for the caller to render (a
//! spinner on a terminal, nothing in CI). Sources never print.

use std::sync::Arc;
use std::time::Duration;

/// What a source is doing right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Resolving, connecting, TLS, handshake.
    Connecting {
        /// The (redacted) target.
        target: String,
    },
    /// The WebSocket is open and being watched.
    Watching {
        /// The (redacted) target.
        target: String,
        /// Time left in the watch window.
        remaining: Duration,
        /// Frames received so far.
        frames_in: u64,
    },
    /// The idle experiment: how many of its connections are still open.
    Idle {
        /// The (redacted) target.
        target: String,
        /// Connections still open.
        open: usize,
        /// Connections in the experiment.
        total: usize,
        /// Time since the experiment started.
        elapsed: Duration,
    },
    /// The idle experiment's timer is certain: the arms that dropped did so
    /// together at `dropped_at`; the survivors stay open until
    /// `heartbeat_until` to see the server's pings.
    IdleTimerCertain {
        /// The (redacted) target.
        target: String,
        /// Age of the experiment at the last drop of the arms that dropped.
        dropped_at: Duration,
        /// Age of the experiment at which it will stop.
        heartbeat_until: Duration,
    },
    /// A load ramp.
    Load {
        /// The (redacted) target.
        target: String,
        /// The step being run (1-based).
        step: u32,
        /// Steps in the plan.
        steps: u32,
        /// Connections open now.
        open: u64,
        /// Failed attempts so far.
        failed: u64,
        /// Connections dropped so far.
        dropped: u64,
    },
    /// Closing the connection.
    Closing {
        /// The (redacted) target.
        target: String,
    },
}

/// Where a source sends its progress; cheap to clone.
pub type ProgressSink = Arc<dyn Fn(Progress) + Send + Sync>;
