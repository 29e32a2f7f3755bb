//! The sources of wsdoctor's evidence: active checks that talk to a
//! WebSocket endpoint and record what they saw as `wsdoctor-evidence` values.
//!
//! A source never prints and never decides: it measures, records, and hands
//! the record to the diagnosis engine. Progress for people goes through a
//! [`ProgressSink`] that the caller renders.

pub mod conn;
pub mod fingerprint;
pub mod flow;
#[doc(hidden)]
pub mod fuzzing;
pub mod idle;
pub mod load;
pub mod memory;
pub mod probe;
mod progress;
pub mod reconnect;
pub mod watch;

pub use progress::{Progress, ProgressSink};
