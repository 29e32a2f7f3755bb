//! Connections the pool opens itself. How to connect and which upgrade to
//! ask for is the caller's (`wsdoctor_sources::conn::hold::Dial`: plain
//! TCP and the HTTP/1.1 upgrade of its connection options); the pool only
//! runs it on the worker thread that will hold the connection, so the
//! socket is registered once.

use std::time::Instant;

use mio::net::TcpStream;
use wsdoctor_evidence::{ConnectionEnd, HandshakeRecord};

use super::OnEnd;
use crate::Session;

/// A connection for the pool to open ([`super::HoldPool::dial`]).
pub trait Open: Send + std::fmt::Debug {
    /// Creates the socket and starts the connect, on the worker. `None`:
    /// the attempt already ended (no descriptor, no port, an unreachable
    /// address), and whoever waits for it has heard.
    fn start(self: Box<Self>, now: Instant) -> Option<Box<dyn Opening>>;
}

/// A connection between `connect(2)` and the 101, driven by the worker's
/// readiness events and timer.
pub trait Opening: Send {
    /// The socket, to register with the worker's poll.
    fn stream(&mut self) -> &mut TcpStream;
    /// The current phase's deadline (connect, then handshake).
    fn deadline(&self) -> Instant;
    /// After a readiness event of any kind; `scratch` is the worker's
    /// read buffer.
    fn on_ready(&mut self, now: Instant, scratch: &mut [u8]) -> Progress;
    /// How the attempt ended when [`Opening::deadline`] passed.
    fn timed_out(&self) -> ConnectionEnd;
    /// The attempt will not open: tell whoever waits.
    fn failed(self: Box<Self>, end: ConnectionEnd, handshake: Option<Box<HandshakeRecord>>);
    /// The connection opened: its socket, and who hears how it ends.
    fn into_held(self: Box<Self>) -> (TcpStream, OnEnd);
}

/// What an opening connection did with its turn.
#[derive(Debug)]
pub enum Progress {
    /// Nothing to do until the next readiness event or the deadline.
    Waiting,
    /// It will not open.
    Failed(ConnectionEnd, Option<Box<HandshakeRecord>>),
    /// The 101 is in and valid: hold this session.
    Open(Box<Session>),
}
