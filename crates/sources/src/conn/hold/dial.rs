//! Opening a plain-TCP WebSocket connection inside the hold pool: a
//! non-blocking connect and the HTTP/1.1 upgrade, driven by the worker's
//! readiness events, and handed on as a held connection once the 101 is in.
//!
//! `wsdoctor load` opens thousands of connections a second. Through tokio
//! each one was registered with tokio's reactor, deregistered again to be
//! handed to the pool, and registered a third time there, with a task, a
//! cross-thread hand-over and a wake-up per connection on top. Here the
//! socket is registered once, on the thread that will hold it. The request
//! and the judgment of the answer are the same functions the tokio dialer
//! uses ([`handshake::build_request`], [`handshake::judge_101`]), so both
//! dialers agree on what a valid 101 is.

use std::io::{self, Read as _, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use mio::net::TcpStream;
use wsdoctor_evidence::{ConnectionEnd, DeflateParams, HandshakeRecord, Transport};
use wsdoctor_wire::head::HeadProgress;

use super::super::dial::classify_connect_error;
use super::super::handshake::{self, HeadParse};
use super::super::session::{Session, SessionConfig};
use super::super::{micros_since, ConnectOptions};
use super::OnEnd;
use wsdoctor_wire_io::hold::{Ended, Open, Opening, Progress};

/// What the caller hears about a connection the pool opens ([`Dial`]).
/// Called on a worker thread. How the open connection ended comes through
/// [`Ended`]: the observer itself is what the pool calls then, so a held
/// connection carries no closure around it.
pub trait DialObserver: Ended {
    /// The 101 arrived `handshake_us` after the dial started (connect
    /// included), and the connection is held from now on.
    fn opened(&mut self, handshake_us: u64);
    /// The attempt ended before the WebSocket opened; `handshake` is the
    /// answer when one came (the body of a refusal is not read).
    fn failed(self: Box<Self>, end: ConnectionEnd, handshake: Option<Box<HandshakeRecord>>);
}

/// A connection for the pool to open itself: plain TCP to one address and
/// the HTTP/1.1 upgrade (no TLS, no forward proxy, no HTTP/2: those go
/// through the tokio dialer and [`super::HoldPool::adopt`]).
pub struct Dial {
    /// The address to connect to (resolved by the caller).
    pub addr: SocketAddr,
    /// The local address to connect from; the kernel picks the port at
    /// connect time.
    pub bind_ip: Option<IpAddr>,
    /// Request line, headers and timeouts (shared by every dial of a ramp).
    pub options: Arc<ConnectOptions>,
    /// The session of the open connection.
    pub session: Arc<SessionConfig>,
    /// Who hears how it went.
    pub observer: Box<dyn DialObserver>,
}

impl std::fmt::Debug for Dial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dial")
            .field("addr", &self.addr)
            .field("bind_ip", &self.bind_ip)
            .finish_non_exhaustive()
    }
}

/// Where an opening connection is.
enum Phase {
    /// Waiting for the TCP connect to complete.
    Connecting,
    /// Connected: writing the request (`sent` bytes of it so far).
    Writing { sent: usize },
    /// Reading the answer's head.
    Reading,
}

/// A connection between `connect(2)` and the 101.
struct DialOpening {
    stream: TcpStream,
    addr: SocketAddr,
    started: Instant,
    phase: Phase,
    /// The current phase's deadline (connect, then handshake).
    deadline: Instant,
    key: String,
    /// The request until it is written (then freed: thousands of openings
    /// can be waiting for their answers at once).
    request: Vec<u8>,
    /// The answer so far (a 101 usually comes in one read).
    received: Vec<u8>,
    /// How much of `received` was looked at (a head trickling in is not
    /// parsed from its start on every read).
    progress: HeadProgress,
    options: Arc<ConnectOptions>,
    session: Arc<SessionConfig>,
    observer: Box<dyn DialObserver>,
}

impl Open for Dial {
    fn start(self: Box<Self>, now: Instant) -> Option<Box<dyn Opening>> {
        match DialOpening::start(*self, now) {
            Ok(opening) => Some(Box::new(opening)),
            Err((observer, end)) => {
                observer.failed(end, None);
                None
            }
        }
    }
}

impl Opening for DialOpening {
    fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }
    fn deadline(&self) -> Instant {
        self.deadline
    }
    fn on_ready(&mut self, now: Instant, scratch: &mut [u8]) -> Progress {
        self.turn(now, scratch)
    }
    fn timed_out(&self) -> ConnectionEnd {
        self.deadline_end()
    }
    fn failed(self: Box<Self>, end: ConnectionEnd, handshake: Option<Box<HandshakeRecord>>) {
        self.observer.failed(end, handshake);
    }
    fn into_held(self: Box<Self>) -> (TcpStream, OnEnd) {
        let DialOpening {
            stream, observer, ..
        } = *self;
        (stream, observer)
    }
}

impl DialOpening {
    /// Creates the socket and starts the connect. An error here (no file
    /// descriptor, no port, an unreachable address) is the attempt's end.
    fn start(
        dial: Dial,
        now: Instant,
    ) -> Result<DialOpening, (Box<dyn DialObserver>, ConnectionEnd)> {
        let stream = match connect(dial.addr, dial.bind_ip) {
            Ok(stream) => stream,
            Err(e) => {
                let end = classify_connect_error(dial.addr, &e, now);
                return Err((dial.observer, end));
            }
        };
        let key = handshake::new_key();
        // The redacted lines are rebuilt only for a refusal's record.
        let (request, _) = handshake::build_request(&dial.options, &key);
        Ok(DialOpening {
            stream,
            addr: dial.addr,
            started: now,
            phase: Phase::Connecting,
            deadline: now + dial.options.connect_timeout,
            key,
            request,
            received: Vec::new(),
            progress: HeadProgress::default(),
            options: dial.options,
            session: dial.session,
            observer: dial.observer,
        })
    }

    /// After a readiness event of any kind.
    fn turn(&mut self, now: Instant, scratch: &mut [u8]) -> Progress {
        if let Phase::Connecting = self.phase {
            match self.connected() {
                Ok(false) => return Progress::Waiting,
                Ok(true) => {
                    self.phase = Phase::Writing { sent: 0 };
                    self.deadline = now + self.options.handshake_timeout;
                }
                Err(e) => {
                    return Progress::Failed(
                        classify_connect_error(self.addr, &e, self.started),
                        None,
                    )
                }
            }
        }
        while let Phase::Writing { sent } = &mut self.phase {
            match self.stream.write(&self.request[*sent..]) {
                Ok(0) => {
                    let e = io::Error::from(io::ErrorKind::WriteZero);
                    return Progress::Failed(handshake::transport_end_before_head(&e, 0), None);
                }
                Ok(n) => {
                    *sent += n;
                    if *sent == self.request.len() {
                        self.request = Vec::new();
                        self.phase = Phase::Reading;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Progress::Waiting,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Progress::Failed(handshake::transport_end_before_head(&e, 0), None)
                }
            }
        }
        self.read_answer(now, scratch)
    }

    /// The deadline of the current phase has passed.
    fn deadline_end(&self) -> ConnectionEnd {
        match self.phase {
            Phase::Connecting => ConnectionEnd::ConnectTimedOut {
                addr: self.addr.to_string(),
                after_ms: millis(self.options.connect_timeout),
            },
            Phase::Writing { .. } | Phase::Reading => ConnectionEnd::HandshakeTimedOut {
                after_ms: millis(self.options.handshake_timeout),
            },
        }
    }

    /// Whether the non-blocking connect has completed (the sequence mio
    /// documents for `TcpStream::connect`: the pending error, then whether
    /// there is a peer).
    fn connected(&self) -> io::Result<bool> {
        if let Some(e) = self.stream.take_error()? {
            return Err(e);
        }
        match self.stream.peer_addr() {
            Ok(_) => Ok(true),
            Err(e)
                if e.kind() == io::ErrorKind::NotConnected
                    || e.raw_os_error() == Some(libc::EINPROGRESS) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    fn read_answer(&mut self, now: Instant, scratch: &mut [u8]) -> Progress {
        loop {
            match self.stream.read(scratch) {
                Ok(0) => {
                    let end = ConnectionEnd::HandshakeAborted {
                        bytes_received: self.received.len(),
                        transport: Transport::Eof,
                    };
                    return Progress::Failed(end, None);
                }
                Ok(n) => self.received.extend_from_slice(&scratch[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Progress::Waiting,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let end = handshake::transport_end_before_head(&e, self.received.len());
                    return Progress::Failed(end, None);
                }
            }
            match handshake::parse_head_from(&self.received, &mut self.progress) {
                HeadParse::Partial if self.received.len() < handshake::MAX_HEAD_BYTES => {}
                HeadParse::Partial => {
                    let rule = format!("response head exceeds {} bytes", handshake::MAX_HEAD_BYTES);
                    return Progress::Failed(ConnectionEnd::ProtocolViolation { rule }, None);
                }
                HeadParse::Invalid(why) => {
                    let first = &self.received[..self.received.len().min(40)];
                    let rule = format!(
                        "the answer to the upgrade request is not HTTP ({why}); first bytes: {:?}",
                        String::from_utf8_lossy(first)
                    );
                    return Progress::Failed(ConnectionEnd::ProtocolViolation { rule }, None);
                }
                HeadParse::Complete(head) => return self.judge(head, now),
            }
        }
    }

    fn judge(&mut self, head: handshake::ResponseHead, now: Instant) -> Progress {
        let head_len = head.len;
        if head.status != 101 {
            let status = head.status;
            let record = head.into_record(self.redacted_request());
            return Progress::Failed(
                ConnectionEnd::HandshakeRejected { status },
                Some(Box::new(record)),
            );
        }
        let mut record = head.into_record(Vec::new());
        let deflate: Option<DeflateParams> =
            match handshake::judge_101(&mut record, &self.key, &self.options) {
                Ok(deflate) => deflate,
                Err(end) => {
                    record.request = self.redacted_request();
                    return Progress::Failed(end, Some(Box::new(record)));
                }
            };
        let mut session = Box::new(Session::new(Arc::clone(&self.session), self.started, now));
        if let Some(params) = deflate {
            session.use_deflate(params);
        }
        // Frames that came with the 101.
        let mut leftover = self.received.split_off(head_len);
        if !leftover.is_empty() {
            session.handle_data(now, &mut leftover);
        }
        self.observer.opened(micros_since(self.started, now));
        Progress::Open(session)
    }
}

impl DialOpening {
    /// The request as the record shows it (secrets redacted).
    fn redacted_request(&self) -> Vec<String> {
        handshake::build_request(&self.options, &self.key).1
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A non-blocking socket with its connect under way.
fn connect(addr: SocketAddr, bind_ip: Option<IpAddr>) -> io::Result<TcpStream> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )?;
    // Small control frames must leave at once for honest RTTs.
    socket.set_tcp_nodelay(true)?;
    if let Some(ip) = bind_ip {
        super::super::dial::bind_address_no_port(&socket);
        socket.bind(&SocketAddr::new(ip, 0).into())?;
    }
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(std::net::TcpStream::from(socket)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::sync::mpsc;
    use std::time::Duration;

    use wsdoctor_evidence::{ConnectionEnd, HandshakeProblem, Side};

    use super::super::HoldPool;
    use super::*;
    use crate::conn::Target;

    const WAIT: Duration = Duration::from_secs(5);

    /// What a test observer heard.
    #[derive(Debug)]
    enum Heard {
        Opened,
        Failed(ConnectionEnd, Option<Box<HandshakeRecord>>),
        /// How it ended, and how many frames came from the server.
        Ended(Option<ConnectionEnd>, usize),
    }

    struct Ear(mpsc::Sender<Heard>);

    impl DialObserver for Ear {
        fn opened(&mut self, _handshake_us: u64) {
            let _ = self.0.send(Heard::Opened);
        }
        fn failed(self: Box<Self>, end: ConnectionEnd, handshake: Option<Box<HandshakeRecord>>) {
            let _ = self.0.send(Heard::Failed(end, handshake));
        }
    }

    impl Ended for Ear {
        fn ended(self: Box<Self>, session: Box<Session>) {
            let (events, _, end, _) = session.into_evidence();
            let from_server = events.iter().filter(|e| e.from == Side::Remote).count();
            let _ = self.0.send(Heard::Ended(end.map(|e| e.end), from_server));
        }
    }

    /// Reads a request head byte by byte; its `Sec-WebSocket-Key`.
    fn read_key(tcp: &mut std::net::TcpStream) -> String {
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && tcp.read(&mut byte).unwrap_or(0) == 1 {
            head.push(byte[0]);
        }
        String::from_utf8_lossy(&head)
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap_or_default()
            .to_owned()
    }

    /// A one-connection server on 127.0.0.1:0 that answers the first
    /// request head with `answer(key)` and then reads until the client
    /// closes; returns what it read after the head.
    fn server(
        answer: impl FnOnce(&str) -> Option<Vec<u8>> + Send + 'static,
    ) -> (SocketAddr, std::thread::JoinHandle<Vec<u8>>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let thread = std::thread::spawn(move || {
            let (mut tcp, _) = listener.accept().unwrap();
            let key = read_key(&mut tcp);
            let Some(bytes) = answer(&key) else {
                // Never answer: hold the socket until the client gives up.
                let mut rest = Vec::new();
                let _ = tcp.read_to_end(&mut rest);
                return rest;
            };
            tcp.write_all(&bytes).unwrap();
            let mut rest = Vec::new();
            let _ = tcp.read_to_end(&mut rest);
            rest
        });
        (addr, thread)
    }

    fn dial(
        pool: &HoldPool,
        addr: SocketAddr,
        handshake_timeout: Duration,
    ) -> mpsc::Receiver<Heard> {
        let target = Target::parse(&format!("ws://{addr}/chat")).unwrap();
        let mut options = ConnectOptions::new(target);
        options.handshake_timeout = handshake_timeout;
        let (tx, rx) = mpsc::channel();
        pool.dial(Dial {
            addr,
            bind_ip: Some("127.0.0.1".parse().unwrap()),
            options: Arc::new(options),
            session: Arc::new(SessionConfig::default()),
            observer: Box::new(Ear(tx)),
        })
        .unwrap();
        rx
    }

    fn upgrade(key: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            handshake::accept_key(key)
        )
        .into_bytes()
    }

    #[test]
    fn opens_holds_and_closes_with_a_close_frame() {
        // A text frame "hi" right behind the 101: the session must see it.
        let (addr, server) = server(|key| {
            let mut bytes = upgrade(key);
            bytes.extend_from_slice(&[0x81, 0x02, b'h', b'i']);
            Some(bytes)
        });
        let pool = HoldPool::start(1).unwrap();
        let heard = dial(&pool, addr, WAIT);
        assert!(matches!(heard.recv_timeout(WAIT).unwrap(), Heard::Opened));
        pool.close_all(Instant::now(), 1000, "done");
        let ended = heard.recv_timeout(WAIT).unwrap();
        // The test server never answers the close: the session gives up
        // waiting, but the close was ours, with our code.
        assert!(
            matches!(
                ended,
                Heard::Ended(
                    Some(ConnectionEnd::CloseHandshake {
                        initiator: Side::Local,
                        code: Some(1000),
                        ..
                    }),
                    1
                )
            ),
            "{ended:?}"
        );
        drop(pool);
        let after_head = server.join().unwrap();
        // Our close frame: FIN + opcode 8, masked, code 1000.
        assert_eq!(after_head.first(), Some(&0x88), "{after_head:?}");
    }

    #[test]
    fn a_fin_right_behind_the_101_ends_the_connection_at_once() {
        // 101, a frame and the FIN, sent together: when they are all in
        // the socket before the worker's poll returns, one edge announces
        // them, the turn reads up to the 101 and only `read_again` brings
        // the FIN (timing decides whether a run hits that case; the
        // answering side's test does every time).
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut tcp, _) = listener.accept().unwrap();
            let mut bytes = upgrade(&read_key(&mut tcp));
            bytes.extend_from_slice(&[0x81, 0x02, b'h', b'i']);
            tcp.write_all(&bytes).unwrap();
            tcp.shutdown(std::net::Shutdown::Write).unwrap();
            std::thread::sleep(Duration::from_millis(300));
        });
        let pool = HoldPool::start(1).unwrap();
        let heard = dial(&pool, addr, WAIT);
        assert!(matches!(heard.recv_timeout(WAIT).unwrap(), Heard::Opened));
        // No close_all: the end must come from the FIN alone.
        let ended = heard.recv_timeout(WAIT).unwrap();
        assert!(
            matches!(&ended, Heard::Ended(Some(end), 1) if !matches!(end, ConnectionEnd::CloseHandshake { initiator: Side::Local, .. })),
            "{ended:?}"
        );
        server.join().unwrap();
    }

    #[test]
    fn a_refusal_keeps_its_status_and_server_header() {
        let (addr, _server) = server(|_| {
            Some(b"HTTP/1.1 503 Service Unavailable\r\nServer: nginx/1.26.3\r\nContent-Length: 0\r\n\r\n".to_vec())
        });
        let pool = HoldPool::start(1).unwrap();
        let heard = dial(&pool, addr, WAIT).recv_timeout(WAIT).unwrap();
        let Heard::Failed(end, Some(handshake)) = heard else {
            panic!("{heard:?}");
        };
        assert_eq!(end, ConnectionEnd::HandshakeRejected { status: 503 });
        assert_eq!(handshake.header("Server"), Some("nginx/1.26.3"));
    }

    #[test]
    fn a_wrong_accept_is_an_invalid_handshake() {
        let (addr, _server) = server(|_| Some(upgrade("not the key we sent")));
        let pool = HoldPool::start(1).unwrap();
        let heard = dial(&pool, addr, WAIT).recv_timeout(WAIT).unwrap();
        let Heard::Failed(ConnectionEnd::HandshakeInvalid { problems }, Some(_)) = heard else {
            panic!("{heard:?}");
        };
        assert!(
            matches!(problems.as_slice(), [HandshakeProblem::BadAccept { .. }]),
            "{problems:?}"
        );
    }

    #[test]
    fn a_silent_server_times_the_handshake_out() {
        let (addr, _server) = server(|_| None);
        let pool = HoldPool::start(1).unwrap();
        let started = Instant::now();
        let heard = dial(&pool, addr, Duration::from_millis(300))
            .recv_timeout(WAIT)
            .unwrap();
        assert!(
            matches!(
                heard,
                Heard::Failed(ConnectionEnd::HandshakeTimedOut { after_ms: 300 }, None)
            ),
            "{heard:?}"
        );
        assert!(started.elapsed() >= Duration::from_millis(300));
    }

    #[test]
    fn a_closed_port_is_refused() {
        // Bound and closed again: nothing listens there now.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let pool = HoldPool::start(1).unwrap();
        let heard = dial(&pool, addr, WAIT).recv_timeout(WAIT).unwrap();
        assert!(
            matches!(
                heard,
                Heard::Failed(ConnectionEnd::ConnectRefused { .. }, None)
            ),
            "{heard:?}"
        );
    }

    #[test]
    fn an_answer_that_is_not_http_is_a_protocol_violation() {
        let (addr, _server) = server(|_| Some(b"SSH-2.0-OpenSSH_9.6\r\n\r\n".to_vec()));
        let pool = HoldPool::start(1).unwrap();
        let heard = dial(&pool, addr, WAIT).recv_timeout(WAIT).unwrap();
        assert!(
            matches!(
                &heard,
                Heard::Failed(ConnectionEnd::ProtocolViolation { rule }, None) if rule.contains("not HTTP")
            ),
            "{heard:?}"
        );
    }
}
