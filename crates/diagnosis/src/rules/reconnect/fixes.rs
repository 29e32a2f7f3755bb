//! The fix for a client without backoff or jitter: full-jitter exponential
//! backoff. The numbers and the snippets live in [`crate::advice::app`],
//! once for every rule that recommends them.

pub use crate::advice::app::{full_jitter_fix, BASE_S, CAP_S, FACTOR};
