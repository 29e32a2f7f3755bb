//! The WebSocket protocol with no I/O, cut from the shells that drive it
//! as `quinn-proto` is cut from `quinn`: every function takes bytes and the
//! time as arguments and returns what to write and when to wake, so each
//! deadline is tested on a simulated clock and no tokio is linked here.
//!
//! - [`session`]: the state machine of one open connection (frames, pings,
//!   pongs, echoes, the close handshake, backpressure), either role; an
//!   application protocol sits on top of it as a further sans-IO layer
//!   ([`session::AppLayer`]).
//! - [`deflate`]: permessage-deflate (RFC 7692) negotiation and a bounded
//!   codec.
//! - [`handshake`]: the pure half of the client's HTTP/1.1 upgrade (the
//!   request, the answer's head, the judgment of a 101, the accept key).
//! - [`head`]: when a head that arrives in pieces is worth parsing again
//!   (linear, not quadratic, in its size).
//! - [`frames`]: the server-side frame codec of the lab's fault server
//!   (client frames in, unmasked frames out).
//!
//! Data flows one way through the workspace: wire → sources / lab (the
//! tokio and mio shells that own sockets) → evidence (what a connection
//! did; the session already records in its types) → diagnosis → report.

#![warn(missing_docs)]

pub mod deflate;
pub mod frames;
#[doc(hidden)]
pub mod fuzzing;
pub mod handshake;
pub mod head;
pub mod session;

use std::time::Instant;

/// Microseconds from `origin` to `now` (0 if `now` is earlier).
pub fn micros_since(origin: Instant, now: Instant) -> u64 {
    u64::try_from(now.saturating_duration_since(origin).as_micros()).unwrap_or(u64::MAX)
}
