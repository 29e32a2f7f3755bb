//! The sources of wsdoctor's evidence: active checks that talk to a
//! WebSocket endpoint and record what they saw as `wsdoctor-evidence` values.
//!
//! A source never prints and never decides: it measures, records, and hands
//! the record to the diagnosis engine. Progress for people goes through a
//! [`ProgressSink`] that the caller renders.
//!
//! The WebSocket protocol itself is `wsdoctor-wire` (sans-IO) and its
//! tokio and mio shells `wsdoctor-wire-io`; this crate opens connections
//! (DNS, proxies, TLS, HTTP/2, the upgrade's sockets) and runs the checks
//! on them. The flow is one way: wire → wire-io → sources → evidence →
//! diagnosis → report.

pub mod conn;
pub mod fingerprint;
pub mod flow;
#[doc(hidden)]
pub mod fuzzing;
pub mod idle;
pub mod kernel_queue;
pub mod listener;
pub mod load;
pub mod machine;
pub use wsdoctor_wire_io::memory;
pub mod probe;
mod progress;
pub mod reconnect;
pub mod watch;

pub use progress::{Progress, ProgressSink};
