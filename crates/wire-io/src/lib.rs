//! The I/O shells around the sans-IO WebSocket session of
//! [`wsdoctor_wire`], shared by the client side (`wsdoctor-sources`) and
//! the server side (`wsdoctor-lab`'s `serve`):
//!
//! - [`driver`]: the tokio steps every session loop takes (write what the
//!   session queued, within its deadlines; feed it a read's result);
//! - [`hold`]: worker threads with a mio poll, a slab and a timer heap
//!   that hold open plain-TCP connections at about 1 KiB each (`load`
//!   dials through it, `serve` answers through it);
//! - [`kernel_queue`]: what the kernel still holds unacknowledged for a
//!   socket (`/proc/net/tcp`), for one socket or a whole close-all;
//! - [`memory`]: giving the heap back after a burst of connections.
//!
//! Its own crate, not part of `wire` (which links no tokio and no sockets)
//! nor of `sources` (which the lab must not import: the lab is the
//! misbehaving peer the sources are tested against). How to dial — proxies,
//! TLS, the upgrade's options — stays in `sources`, plugged into the pool
//! through [`hold::Open`].
//!
//! Data flows one way: wire → wire-io → sources / lab → evidence →
//! diagnosis → report.

#![warn(missing_docs)]

pub mod driver;
pub mod hold;
pub mod kernel_queue;
pub mod memory;

use wsdoctor_wire::session::Session;
