//! Stopping a ramp early (Ctrl-C): a flag the ramp reads on every wake-up
//! (at least every 200 ms), raised by whoever noticed the signal — the
//! binary's Ctrl-C handler, or in a `load --procs` child the line its
//! parent writes on stdin.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Raised once to stop a ramp; clones share it.
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// Asks the ramp to stop launching, close its connections and report.
    pub fn raise(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether it was raised.
    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
