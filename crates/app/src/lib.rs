//! Application protocols spoken over a WebSocket, sans-IO.
//!
//! Placeholder root while the layer's trait is being written on the `app`
//! branch: the protocol codecs below are pure and stand on their own.

pub mod actioncable;
pub mod mqtt;
pub mod phoenix;
pub mod signalr;
pub mod stomp;
