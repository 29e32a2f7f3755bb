//! Answering an accepted plain-TCP connection inside the hold pool: read the
//! request head, let the server decide ([`Responder`]), write its 101 and
//! hold the connection from then on — or hand it back to the server's own
//! (tokio) path for anything else.
//!
//! `wsdoctor serve` under a load test accepts thousands of connections a
//! second. Answered by a tokio task, each socket was registered with tokio's
//! reactor, deregistered to be handed to the pool and registered again
//! there, with a task and a wake-up per connection on top. Here it is
//! registered once, on the thread that will hold it; the request parsing and
//! every decision stay the server's ([`Responder::respond`]).

use std::io::{self, Read as _};
use std::time::Instant;

use mio::net::TcpStream;

use super::OnEnd;
use crate::Session;

/// The server's side of a connection the pool answers
/// ([`super::HoldPool::answer`]). Called on a worker thread.
pub trait Responder: Send {
    /// Everything received so far; what to do with it.
    fn respond(&mut self, received: &[u8], now: Instant) -> Response;
    /// The server's own path takes the connection over with the bytes
    /// received so far (not a plain upgrade: an HTTP request, a fault, a
    /// malformed head…).
    fn hand_back(self: Box<Self>, stream: std::net::TcpStream, received: Vec<u8>);
}

/// What the server decided about the bytes received so far.
pub enum Response {
    /// The request head is not complete yet.
    NeedMore,
    /// Send `answer` (the 101) and hold the connection with `session`; the
    /// request head was the first `head_len` bytes, what follows it is the
    /// client's first frames. `on_end` gets the session when it is over.
    Upgrade {
        /// The 101, as bytes to write.
        answer: Vec<u8>,
        /// Bytes of the request head.
        head_len: usize,
        /// The session to hold the connection with.
        session: Box<Session>,
        /// Gets the session when the connection is over.
        on_end: OnEnd,
    },
    /// Give the connection back ([`Responder::hand_back`]).
    HandBack,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Response::NeedMore => f.write_str("NeedMore"),
            Response::Upgrade { head_len, .. } => f
                .debug_struct("Upgrade")
                .field("head_len", head_len)
                .finish_non_exhaustive(),
            Response::HandBack => f.write_str("HandBack"),
        }
    }
}

/// A connection between `accept(2)` and the server's decision.
pub(super) struct Answering {
    pub(super) stream: TcpStream,
    /// The client has this long to send its request head; then the
    /// connection is closed unanswered, as the server's own path does.
    pub(super) deadline: Instant,
    received: Vec<u8>,
    pub(super) responder: Box<dyn Responder>,
}

/// What an answering connection's turn gave.
pub(super) enum Answered {
    Waiting,
    /// The client left (or broke the connection) before a decision: close.
    Gone,
    /// Hold it: the answer still to write, the session, what to call at its
    /// end and the bytes after the request head.
    Upgrade {
        answer: Vec<u8>,
        session: Box<Session>,
        on_end: OnEnd,
        leftover: Vec<u8>,
    },
    HandBack,
}

impl Answering {
    pub(super) fn new(
        stream: TcpStream,
        deadline: Instant,
        responder: Box<dyn Responder>,
    ) -> Answering {
        Answering {
            stream,
            deadline,
            received: Vec::new(),
            responder,
        }
    }

    /// Reads what arrived and asks the responder after each read.
    pub(super) fn on_ready(&mut self, now: Instant, scratch: &mut [u8]) -> Answered {
        loop {
            match self.stream.read(scratch) {
                Ok(0) => return Answered::Gone,
                Ok(n) => self.received.extend_from_slice(&scratch[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Answered::Waiting,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Answered::Gone,
            }
            match self.responder.respond(&self.received, now) {
                Response::NeedMore => {}
                Response::HandBack => return Answered::HandBack,
                Response::Upgrade {
                    answer,
                    head_len,
                    session,
                    on_end,
                } => {
                    let leftover = self.received.split_off(head_len.min(self.received.len()));
                    return Answered::Upgrade {
                        answer,
                        session,
                        on_end,
                        leftover,
                    };
                }
            }
        }
    }

    /// The bytes received so far, for a hand-back.
    pub(super) fn into_parts(self) -> (TcpStream, Vec<u8>, Box<dyn Responder>) {
        (self.stream, self.received, self.responder)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::net::{TcpListener, TcpStream};
    use std::sync::mpsc;
    use std::time::Duration;

    use wsdoctor_evidence::Role;

    use super::super::HoldPool;
    use super::*;
    use wsdoctor_wire::session::SessionConfig;

    const WAIT: Duration = Duration::from_secs(5);
    const HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    /// A masked text frame "hi" (mask 0: the payload reads as it is).
    const FRAME: &[u8] = &[0x81, 0x82, 0, 0, 0, 0, b'h', b'i'];

    /// Upgrades after a whole head, or hands every request back.
    struct TestServer {
        upgrade: bool,
        handed_back: mpsc::Sender<(std::net::TcpStream, Vec<u8>)>,
    }

    impl Responder for TestServer {
        fn respond(&mut self, received: &[u8], now: Instant) -> Response {
            let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") else {
                return Response::NeedMore;
            };
            if !self.upgrade {
                return Response::HandBack;
            }
            let config = SessionConfig {
                role: Role::Server,
                echo: true,
                ..SessionConfig::default()
            };
            Response::Upgrade {
                answer: b"HTTP/1.1 101 Switching Protocols\r\n\r\n".to_vec(),
                head_len: end + 4,
                session: Box::new(Session::new(config, now, now)),
                on_end: Box::new(|_| {}),
            }
        }

        fn hand_back(self: Box<Self>, stream: std::net::TcpStream, received: Vec<u8>) {
            let _ = self.handed_back.send((stream, received));
        }
    }

    /// A client connected to a socket a one-worker pool answers with a
    /// [`TestServer`]; the hand-backs arrive on the receiver.
    fn connect(
        upgrade: bool,
        deadline: Duration,
    ) -> (
        HoldPool,
        TcpStream,
        mpsc::Receiver<(std::net::TcpStream, Vec<u8>)>,
    ) {
        let pool = HoldPool::start(1).unwrap();
        let (handed_back, rx) = mpsc::channel();
        let responder = TestServer {
            upgrade,
            handed_back,
        };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        client.set_read_timeout(Some(WAIT)).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        pool.answer(accepted, Box::new(responder), Instant::now() + deadline)
            .map_err(|_| "pool stopped")
            .unwrap();
        (pool, client, rx)
    }

    fn read_exactly(client: &mut TcpStream, n: usize) -> Vec<u8> {
        let mut bytes = vec![0; n];
        client.read_exact(&mut bytes).unwrap();
        bytes
    }

    #[test]
    fn a_plain_upgrade_is_answered_and_the_frames_behind_it_are_served() {
        let (_pool, mut client, _rx) = connect(true, WAIT);
        // The head in two pieces, the second with a frame right behind it.
        client.write_all(&HEAD[..10]).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        client.write_all(&[&HEAD[10..], FRAME].concat()).unwrap();
        let answer = b"HTTP/1.1 101 Switching Protocols\r\n\r\n";
        assert_eq!(read_exactly(&mut client, answer.len()), answer);
        // The echo of "hi", unmasked from the server.
        assert_eq!(read_exactly(&mut client, 4), [0x81, 0x02, b'h', b'i']);
    }

    #[test]
    fn a_fin_right_behind_the_request_is_seen_once_held() {
        let (_pool, mut client, _rx) = connect(true, WAIT);
        // Head, a frame and the FIN, all there before the worker reads.
        client.write_all(&[HEAD, FRAME].concat()).unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let mut all = Vec::new();
        // The server answers, echoes, and closes its side once it has seen
        // the FIN: read_to_end returns; a missed FIN would hang it until
        // the read timeout.
        let started = Instant::now();
        client.read_to_end(&mut all).unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert!(
            all.ends_with(&[0x81, 0x02, b'h', b'i'])
                || all.windows(4).any(|w| w == [0x81, 0x02, b'h', b'i']),
            "{all:?}"
        );
    }

    #[test]
    fn anything_else_comes_back_with_the_bytes_read_and_a_usable_socket() {
        let (_pool, mut client, rx) = connect(false, WAIT);
        client.write_all(HEAD).unwrap();
        let (mut stream, received) = rx.recv_timeout(WAIT).unwrap();
        assert_eq!(received, HEAD);
        stream.set_nonblocking(false).unwrap();
        stream
            .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
            .unwrap();
        assert_eq!(read_exactly(&mut client, 12), b"HTTP/1.1 204");
    }

    #[test]
    fn a_client_without_a_whole_head_by_the_deadline_is_disconnected() {
        let (_pool, mut client, rx) = connect(true, Duration::from_millis(200));
        client.write_all(&HEAD[..10]).unwrap();
        let started = Instant::now();
        let mut rest = Vec::new();
        // EOF (or a reset) once the deadline passes, not the read timeout.
        let _ = client.read_to_end(&mut rest);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert!(rest.is_empty(), "{rest:?}");
        assert!(rx.try_recv().is_err(), "not handed back");
    }
}
