//! Holding many open plain-TCP WebSocket connections for a few hundred
//! bytes each.
//!
//! A load test that keeps 100,000 connections open, or a `serve` that
//! accepts them, spends its memory on what each idle connection carries. As
//! a tokio task an idle connection costs about 2.4 KiB (the task, its
//! futures, a timer entry, the reactor's registration, the session); here it
//! costs a slab entry with its [`Session`] inline (176 bytes idle), because
//! nothing is allocated per connection for waiting: a few worker threads
//! each own a `mio` poll, a slab of connections and a heap of timers, and
//! read on readiness into one scratch buffer per worker — the way tcpkali
//! does it. A connection comes in three ways: opened elsewhere (tokio, with
//! TLS or a proxy) and handed over ([`HoldPool::adopt`]); opened by the
//! worker itself, connect and upgrade included ([`HoldPool::dial`], what
//! lets `wsdoctor load` open ten thousand a second); or accepted by a
//! server and answered by the worker, the server deciding
//! ([`HoldPool::answer`], what lets `wsdoctor serve` keep up with it).
//!
//! The session ([`Session`], sans-IO) decides everything, as under the
//! tokio driver: this is only another shell around it.

mod answer;
mod open;
mod unread;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read as _, Write as _};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;

use self::answer::{Answered, Answering};
pub use self::answer::{Responder, Response};
pub use self::open::{Open, Opening, Progress};
use self::unread::KernelHeld;
use crate::driver::{classify_io_error, DEFAULT_READ_BUFFER};
use crate::Session;

/// Called once with the session when its connection has ended.
pub type OnEnd = Box<dyn Ended>;

/// Hears, once, how a held connection ended. Any `FnOnce(Box<Session>) +
/// Send` closure is one; so can be whatever already waits for the
/// connection (`load`'s observer of a dial), which is then the held
/// connection's only box: one allocation per connection, not a closure
/// boxing another box (`load` holds 100,000s).
pub trait Ended: Send {
    /// The connection is over; `session` says how.
    fn ended(self: Box<Self>, session: Box<Session>);
}

impl<F: FnOnce(Box<Session>) + Send> Ended for F {
    fn ended(self: Box<Self>, session: Box<Session>) {
        (*self)(session);
    }
}

/// The token of each worker's waker (connections use their slab keys).
const WAKER: Token = Token(usize::MAX);
/// Reads per turn before other connections get theirs (a connection with
/// more to read gets another turn right after).
const READS_PER_EVENT: usize = 16;
/// Readiness events taken per poll.
const EVENTS_PER_POLL: usize = 1024;

/// A connection handed to the pool.
struct Adoption {
    stream: std::net::TcpStream,
    session: Box<Session>,
    on_end: OnEnd,
}

enum Command {
    Adopt(Box<Adoption>),
    Dial(Box<dyn Open>),
    Answer(Box<Answering>),
    /// Start the closing handshake of every connection (held now or
    /// adopted later) at this time, with this code and reason.
    CloseAll {
        at: Instant,
        code: u16,
        reason: Arc<str>,
    },
}

struct WorkerHandle {
    commands: mpsc::Sender<Command>,
    waker: Arc<Waker>,
    /// Set by whoever wakes the worker, cleared by the worker before it
    /// takes its commands: a burst of commands costs one wake-up (a
    /// syscall and a context switch), not one each.
    woken: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl WorkerHandle {
    fn send(&self, command: Command) -> Result<(), Command> {
        self.commands.send(command).map_err(|e| e.0)?;
        if !self.woken.swap(true, Ordering::AcqRel) && self.waker.wake().is_err() {
            // Not woken after all: the next sender tries again.
            self.woken.store(false, Ordering::Release);
        }
        Ok(())
    }
}

/// Worker threads holding open connections. Dropping the pool stops the
/// workers and closes every connection they still hold (without a closing
/// handshake: call [`HoldPool::close_all`] first for that).
pub struct HoldPool {
    workers: Vec<WorkerHandle>,
    next: AtomicUsize,
    /// The workers' shared reading of the kernel's queues at a close-all
    /// (kept here for the tests' count of readings).
    #[cfg(test)]
    kernel: Arc<KernelHeld>,
}

impl std::fmt::Debug for HoldPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HoldPool")
            .field("workers", &self.workers.len())
            .finish()
    }
}

impl HoldPool {
    /// Starts `threads` workers (at least one).
    pub fn start(threads: usize) -> io::Result<HoldPool> {
        let mut workers = Vec::new();
        let kernel = Arc::new(KernelHeld::default());
        for index in 0..threads.max(1) {
            let poll = Poll::new()?;
            let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
            let woken = Arc::new(AtomicBool::new(false));
            let (commands, receiver) = mpsc::channel();
            let worker_woken = Arc::clone(&woken);
            let worker_kernel = Arc::clone(&kernel);
            let thread = std::thread::Builder::new()
                .name(format!("wsdoctor-hold-{index}"))
                .spawn(move || Worker::new(poll, receiver, worker_woken, worker_kernel).run())?;
            workers.push(WorkerHandle {
                commands,
                waker,
                woken,
                thread: Some(thread),
            });
        }
        Ok(HoldPool {
            workers,
            next: AtomicUsize::new(0),
            #[cfg(test)]
            kernel,
        })
    }

    /// One worker per core.
    pub fn per_core() -> io::Result<HoldPool> {
        HoldPool::start(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// The next worker, round robin.
    fn worker(&self) -> &WorkerHandle {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        &self.workers[n % self.workers.len()]
    }

    /// Takes over an open connection. The session must have consumed
    /// whatever arrived with the handshake; frames it has queued are sent.
    /// `on_end` runs on a worker thread when the connection is over. On
    /// error (the pool has stopped) the connection is given back.
    pub fn adopt(
        &self,
        stream: tokio::net::TcpStream,
        session: Box<Session>,
        on_end: OnEnd,
    ) -> Result<(), (Box<Session>, OnEnd)> {
        let Ok(stream) = stream.into_std() else {
            return Err((session, on_end));
        };
        let adoption = Box::new(Adoption {
            stream,
            session,
            on_end,
        });
        match self.worker().send(Command::Adopt(adoption)) {
            Ok(()) => Ok(()),
            Err(Command::Adopt(a)) => Err((a.session, a.on_end)),
            Err(_) => unreachable_send(),
        }
    }

    /// Opens a connection on a worker and holds it there; the caller's
    /// [`Open`] hears how the opening went and, later, how the connection
    /// ended. On error (the pool has stopped) the dial is given back
    /// untouched.
    pub fn dial<D: Open + 'static>(&self, dial: D) -> Result<(), Box<dyn Open>> {
        match self.worker().send(Command::Dial(Box::new(dial))) {
            Ok(()) => Ok(()),
            Err(Command::Dial(dial)) => Err(dial),
            Err(_) => unreachable_send(),
        }
    }

    /// Answers an accepted connection on a worker: its request head is read
    /// there and given to `responder`, which decides (the 101 and a session
    /// to hold, or the connection back). A client that has not sent a whole
    /// head by `deadline` is disconnected. On error (the pool has stopped)
    /// the connection is given back untouched.
    pub fn answer(
        &self,
        stream: std::net::TcpStream,
        responder: Box<dyn Responder>,
        deadline: Instant,
    ) -> Result<(), (std::net::TcpStream, Box<dyn Responder>)> {
        // accept(2) does not pass the listener's O_NONBLOCK on.
        if stream.set_nonblocking(true).is_err() {
            return Err((stream, responder));
        }
        let answering = Box::new(Answering::new(
            TcpStream::from_std(stream),
            deadline,
            responder,
        ));
        match self.worker().send(Command::Answer(answering)) {
            Ok(()) => Ok(()),
            Err(Command::Answer(answering)) => {
                let (stream, _, responder) = answering.into_parts();
                Err((stream.into(), responder))
            }
            Err(_) => unreachable_send(),
        }
    }

    /// Every held connection starts its closing handshake at `at`
    /// (connections adopted or opened later too, as soon as they open);
    /// connections still waiting for a request head are closed then. A
    /// close that goes unanswered while our kernel still holds bytes
    /// written ahead of the close frame unacknowledged ends as the peer
    /// having stopped reading (`unread.rs`: one reading of the kernel's
    /// table for all of them).
    pub fn close_all(&self, at: Instant, code: u16, reason: &str) {
        let reason: Arc<str> = Arc::from(reason);
        for worker in &self.workers {
            let _ = worker.send(Command::CloseAll {
                at,
                code,
                reason: Arc::clone(&reason),
            });
        }
    }
}

/// `send` hands back exactly the command it was given.
#[cold]
fn unreachable_send<T>() -> T {
    unreachable!("mpsc::SendError returns the command that was sent")
}

impl Drop for HoldPool {
    fn drop(&mut self) {
        for worker in &mut self.workers {
            // A closed channel tells the worker to stop.
            let (dead, _) = mpsc::channel();
            drop(std::mem::replace(&mut worker.commands, dead));
            let _ = worker.waker.wake();
            if let Some(thread) = worker.thread.take() {
                // Dropped from one of its own workers (the last owner was
                // a callback there): that one stops on its own.
                if thread.thread().id() != std::thread::current().id() {
                    let _ = thread.join();
                }
            }
        }
    }
}

/// A connection the worker owns: opening or answering (boxed: the request
/// and the answer so far are needed only until the 101) or held.
enum Slot {
    Opening(OpeningSlot),
    Answering(Box<Answering>),
    Held(Held),
}

/// A connection being opened, and the deadline the worker's timer heap
/// has for it.
struct OpeningSlot {
    opening: Box<dyn Opening>,
    armed: Instant,
}

/// One held connection.
struct Held {
    stream: TcpStream,
    /// Inline, not boxed: the slab is one allocation of its own, so what
    /// held connections keep does not sit between the freed leftovers of
    /// their handshakes, which the allocator can then give back (a boxed
    /// session pinned every page of the handshake burst: issue 23).
    session: Session,
    on_end: OnEnd,
    /// Bytes the socket would not take yet (no allocation while empty).
    unsent: Vec<u8>,
    /// The wake-up this connection has in the timer heap.
    wake_at: Option<Instant>,
    /// Registered for writability too.
    writable: bool,
    /// Ended with our close unanswered: waits, socket open, for the
    /// worker's one look at the kernel's queues (`unread.rs`).
    awaiting_kernel: bool,
    /// The socket had bytes to read while reading was paused (the session
    /// had too much to send): it is read again once the session drains,
    /// since no new readiness edge comes for bytes already there.
    read_waiting: bool,
}

/// The held connections of one turn that ended with our close unanswered.
struct Unanswered {
    /// Each one's slab key, and how long its close waited.
    ended: Vec<(usize, Duration)>,
    /// When the latest of them ended: the kernel's reading must be later.
    until: Instant,
}

struct Worker {
    poll: Poll,
    commands: mpsc::Receiver<Command>,
    woken: Arc<AtomicBool>,
    slots: Slab<Slot>,
    /// (when, slab key); stale entries (the key's wake-up moved) are skipped.
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    close_all: Option<(Instant, u16, Arc<str>)>,
    /// Connections that may have bytes left after their turn.
    read_again: Vec<usize>,
    /// Whether the close-all time has come (every connection was told).
    closing_all: bool,
    /// Held connections that ended with our close unanswered this turn
    /// (none: `None`), looked up in the kernel's queues at its end.
    unanswered: Option<Unanswered>,
    kernel: Arc<KernelHeld>,
    scratch: Vec<u8>,
}

impl Worker {
    fn new(
        poll: Poll,
        commands: mpsc::Receiver<Command>,
        woken: Arc<AtomicBool>,
        kernel: Arc<KernelHeld>,
    ) -> Worker {
        Worker {
            poll,
            commands,
            woken,
            slots: Slab::new(),
            timers: BinaryHeap::new(),
            close_all: None,
            read_again: Vec::new(),
            closing_all: false,
            unanswered: None,
            kernel,
            scratch: vec![0; DEFAULT_READ_BUFFER],
        }
    }

    fn run(mut self) {
        let mut events = Events::with_capacity(EVENTS_PER_POLL);
        loop {
            let now = Instant::now();
            let timeout = if self.read_again.is_empty() {
                self.next_deadline()
                    .map(|at| at.saturating_duration_since(now))
            } else {
                Some(std::time::Duration::ZERO)
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    break;
                }
            }
            for key in std::mem::take(&mut self.read_again) {
                self.turn(key, true, false);
            }
            for event in &events {
                if event.token() == WAKER {
                    continue;
                }
                let readable = event.is_readable() || event.is_read_closed() || event.is_error();
                self.turn(event.token().0, readable, event.is_writable());
            }
            if !self.take_commands() {
                break;
            }
            self.fire_timers(Instant::now());
            self.settle_unanswered();
        }
        // Stopped: the connections are dropped (closed) with the worker.
    }

    /// One connection's turn after readiness.
    fn turn(&mut self, key: usize, readable: bool, writable: bool) {
        match self.slots.get_mut(key) {
            None => {}
            Some(Slot::Opening(slot)) => {
                let progress = slot.opening.on_ready(Instant::now(), &mut self.scratch);
                self.progress(key, progress);
            }
            Some(Slot::Answering(answering)) => {
                let answered = answering.on_ready(Instant::now(), &mut self.scratch);
                self.answered(key, answered);
            }
            // Ended: only the kernel's queues are still to be read.
            Some(Slot::Held(held)) if held.awaiting_kernel => {}
            Some(Slot::Held(held)) => {
                if writable {
                    held.flush(Instant::now());
                }
                if readable && held.read(Instant::now(), &mut self.scratch) {
                    self.read_again.push(key);
                }
                self.settle(key);
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let close = self
            .close_all
            .as_ref()
            .filter(|_| !self.closing_all)
            .map(|(at, _, _)| *at);
        let timer = self.timers.peek().map(|Reverse((at, _))| *at);
        [close, timer].into_iter().flatten().min()
    }

    /// Applies queued commands; false once the pool is gone.
    fn take_commands(&mut self) -> bool {
        // Before taking: a command sent after this wakes us again. A swap,
        // not a store: reading the senders' `true` orders their sends
        // before the `try_recv`s below.
        self.woken.swap(false, Ordering::AcqRel);
        loop {
            match self.commands.try_recv() {
                Ok(Command::Adopt(adoption)) => self.adopt(*adoption),
                Ok(Command::Dial(dial)) => self.dial(dial),
                Ok(Command::Answer(answering)) => self.answer(answering),
                Ok(Command::CloseAll { at, code, reason }) => {
                    self.close_all = Some((at, code, reason));
                    self.closing_all = false;
                }
                Err(mpsc::TryRecvError::Empty) => return true,
                Err(mpsc::TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn adopt(&mut self, adoption: Adoption) {
        let Adoption {
            stream,
            mut session,
            on_end,
        } = adoption;
        let mut stream = TcpStream::from_std(stream);
        let entry = self.slots.vacant_entry();
        let key = entry.key();
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut stream, Token(key), Interest::READABLE)
        {
            session.handle_transport_error(Instant::now(), None, e.to_string());
            on_end.ended(session);
            return;
        }
        entry.insert(Slot::Held(Held {
            stream,
            session: *session,
            on_end,
            unsent: Vec::new(),
            wake_at: None,
            writable: false,
            read_waiting: false,
            awaiting_kernel: false,
        }));
        self.start_holding(key);
    }

    /// A connection just became held: it closes at once if the close-all
    /// time has passed, and frames queued before now go out. (Data that
    /// arrived meanwhile: an adopted socket's registration reports it; the
    /// pool's own openings are put on `read_again` by their callers.)
    fn start_holding(&mut self, key: usize) {
        if let (Some(Slot::Held(held)), true) = (self.slots.get_mut(key), self.closing_all) {
            if let Some((_, code, reason)) = self.close_all.as_ref() {
                held.session.close(Instant::now(), *code, reason);
            }
        }
        if let Some(Slot::Held(held)) = self.slots.get_mut(key) {
            held.flush(Instant::now());
        }
        self.settle(key);
    }

    fn dial(&mut self, dial: Box<dyn Open>) {
        let now = Instant::now();
        let Some(mut opening) = dial.start(now) else {
            return;
        };
        let entry = self.slots.vacant_entry();
        let key = entry.key();
        // Registered once for both: writable says the connect is done,
        // readable that the answer is here. The held connection keeps it.
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self
            .poll
            .registry()
            .register(opening.stream(), Token(key), interest)
        {
            let end = wsdoctor_evidence::ConnectionEnd::Io {
                error: format!("could not watch the socket: {e}"),
            };
            return opening.failed(end, None);
        }
        let armed = opening.deadline();
        self.timers.push(Reverse((armed, key)));
        entry.insert(Slot::Opening(OpeningSlot { opening, armed }));
    }

    fn answer(&mut self, mut answering: Box<Answering>) {
        let entry = self.slots.vacant_entry();
        let key = entry.key();
        // Readable only: a fresh socket is writable at once, and the 101
        // is written when the request has come.
        if self
            .poll
            .registry()
            .register(&mut answering.stream, Token(key), Interest::READABLE)
            .is_err()
        {
            // Cannot watch it: the server's own path can.
            let (stream, received, responder) = answering.into_parts();
            return responder.hand_back(stream.into(), received);
        }
        self.timers.push(Reverse((answering.deadline, key)));
        entry.insert(Slot::Answering(answering));
    }

    /// Acts on what an answering connection's turn gave.
    fn answered(&mut self, key: usize, answered: Answered) {
        match answered {
            Answered::Waiting => {}
            // Dropping the socket closes it and takes it out of the poll.
            Answered::Gone => drop(self.slots.try_remove(key)),
            Answered::HandBack => {
                if let Some(Slot::Answering(answering)) = self.slots.try_remove(key) {
                    let (mut stream, received, responder) = answering.into_parts();
                    // The descriptor lives on elsewhere: take it out of ours.
                    let _ = self.poll.registry().deregister(&mut stream);
                    responder.hand_back(stream.into(), received);
                }
            }
            Answered::Upgrade {
                answer,
                mut session,
                on_end,
                mut leftover,
            } => {
                let Some(Slot::Answering(answering)) = self.slots.try_remove(key) else {
                    return;
                };
                let (mut stream, _, _) = answering.into_parts();
                let now = Instant::now();
                let unsent = match write_now(&mut stream, &answer) {
                    Ok(written) => answer[written..].to_vec(),
                    // Gone before its 101: no session to record, as on the
                    // server's own path (dropping `on_end` uncounts it).
                    Err(_) => return drop((session, on_end)),
                };
                if !leftover.is_empty() {
                    session.handle_data(now, &mut leftover);
                }
                let entry = self.slots.vacant_entry();
                // The slab hands the freed key out again (see `progress`).
                if entry.key() != key
                    && self
                        .poll
                        .registry()
                        .reregister(&mut stream, Token(entry.key()), Interest::READABLE)
                        .is_err()
                {
                    session.handle_transport_error(now, None, "could not watch the socket".into());
                    return on_end.ended(session);
                }
                let key = entry.key();
                entry.insert(Slot::Held(Held {
                    stream,
                    session: *session,
                    on_end,
                    // The rest of the 101, in the rare case the socket
                    // would not take it all: it leaves before any frame.
                    unsent,
                    wake_at: None,
                    writable: false,
                    read_waiting: false,
                    awaiting_kernel: false,
                }));
                // The turn stopped reading at the request head (see
                // `progress`).
                self.read_again.push(key);
                self.start_holding(key);
            }
        }
    }

    /// Acts on what an opening connection's turn (or its deadline) gave.
    fn progress(&mut self, key: usize, progress: Progress) {
        match progress {
            Progress::Waiting => {
                // Connected: the handshake's deadline replaces the connect's.
                if let Some(Slot::Opening(slot)) = self.slots.get_mut(key) {
                    let deadline = slot.opening.deadline();
                    if slot.armed != deadline {
                        slot.armed = deadline;
                        self.timers.push(Reverse((deadline, key)));
                    }
                }
            }
            Progress::Failed(end, handshake) => {
                // Dropping the socket closes it and takes it out of the poll.
                if let Some(Slot::Opening(slot)) = self.slots.try_remove(key) {
                    slot.opening.failed(end, handshake);
                }
            }
            Progress::Open(session) => {
                let Some(Slot::Opening(slot)) = self.slots.try_remove(key) else {
                    return;
                };
                let (mut stream, on_end) = slot.opening.into_held();
                let entry = self.slots.vacant_entry();
                // The slab hands the freed key out again, so the socket's
                // registration (its token is the key) stays as it is.
                if entry.key() != key {
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if let Err(e) =
                        self.poll
                            .registry()
                            .reregister(&mut stream, Token(entry.key()), interest)
                    {
                        let mut session = session;
                        session.handle_transport_error(Instant::now(), None, e.to_string());
                        return on_end.ended(session);
                    }
                }
                let key = entry.key();
                entry.insert(Slot::Held(Held {
                    stream,
                    session: *session,
                    on_end,
                    unsent: Vec::new(),
                    wake_at: None,
                    writable: true,
                    read_waiting: false,
                    awaiting_kernel: false,
                }));
                // The turn stopped reading at the 101: what came behind it
                // (more frames, a FIN, a reset) gets no new edge.
                self.read_again.push(key);
                self.start_holding(key);
            }
        }
    }

    fn fire_timers(&mut self, now: Instant) {
        if let Some((at, code, reason)) = &self.close_all {
            if !self.closing_all && now >= *at {
                self.closing_all = true;
                let (code, reason) = (*code, Arc::clone(reason));
                // A server going away answers no more requests.
                self.slots
                    .retain(|_, slot| !matches!(slot, Slot::Answering(_)));
                let keys: Vec<usize> = self
                    .slots
                    .iter()
                    .filter(|(_, slot)| matches!(slot, Slot::Held(_)))
                    .map(|(key, _)| key)
                    .collect();
                for key in keys {
                    if let Some(Slot::Held(held)) = self.slots.get_mut(key) {
                        if !held.session.is_closing() {
                            held.session.close(now, code, &reason);
                        }
                        held.flush(now);
                    }
                    self.settle(key);
                }
            }
        }
        while let Some(Reverse((at, key))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            match self.slots.get_mut(key) {
                Some(Slot::Held(held)) if held.wake_at == Some(at) => {
                    held.wake_at = None;
                    held.session.handle_timeout(now);
                    held.flush(now);
                    self.settle(key);
                }
                Some(Slot::Opening(slot)) if slot.opening.deadline() == at => {
                    let end = slot.opening.timed_out();
                    self.progress(key, Progress::Failed(end, None));
                }
                // No whole request head in time: closed unanswered.
                Some(Slot::Answering(answering)) if answering.deadline == at => {
                    drop(self.slots.try_remove(key));
                }
                // Stale: the wake-up moved, or the key is someone else's now.
                _ => {}
            }
        }
    }

    /// After anything happened to held connection `key`: end it, or arm its
    /// next timer and its interest in writability.
    fn settle(&mut self, key: usize) {
        let Some(Slot::Held(held)) = self.slots.get_mut(key) else {
            return;
        };
        if held.awaiting_kernel {
            return;
        }
        if let Some(waited) = held.session.unanswered_close_waited() {
            // Kept, socket open and not shut down (a FIN would count as
            // unacknowledged too), for one look at the kernel's queues.
            held.awaiting_kernel = true;
            held.wake_at = None;
            let now = Instant::now();
            let batch = self.unanswered.get_or_insert_with(|| Unanswered {
                ended: Vec::new(),
                until: now,
            });
            batch.ended.push((key, waited));
            batch.until = now;
            return;
        }
        // An ended session had its last flush; a peer that stopped reading
        // does not get to keep it (and its socket) alive.
        if held.session.is_ended() {
            let Some(Slot::Held(held)) = self.slots.try_remove(key) else {
                return;
            };
            end_held(held);
            return;
        }
        // Backpressure released: read what arrived while paused.
        if held.read_waiting && !held.session.read_paused() {
            held.read_waiting = false;
            self.read_again.push(key);
        }
        // Interest in writability is added when bytes wait and then kept:
        // readiness is edge-triggered, so it costs at most a flush that finds
        // nothing to send, where dropping it again would cost a syscall.
        if !held.unsent.is_empty()
            && !held.writable
            && self
                .poll
                .registry()
                .reregister(
                    &mut held.stream,
                    Token(key),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .is_ok()
        {
            held.writable = true;
        }
        let wake = held.session.poll_timeout();
        if wake != held.wake_at {
            held.wake_at = wake;
            if let Some(at) = wake {
                self.timers.push(Reverse((at, key)));
            }
        }
    }
}

impl Worker {
    /// Ends the connections whose close went unanswered this turn, each as
    /// its session judges from what the kernel still holds for it
    /// ([`Session::on_close_unread`]). One reading of the kernel's table
    /// for all of them, shared with the other workers (`unread.rs`).
    fn settle_unanswered(&mut self) {
        let Some(Unanswered { ended, until }) = self.unanswered.take() else {
            return;
        };
        let held_by_inode = self.kernel.since(until);
        for (key, waited) in ended {
            let Some(Slot::Held(mut held)) = self.slots.try_remove(key) else {
                continue;
            };
            // The reading keeps only sockets that hold bytes: one missing
            // from it holds none.
            let held_bytes = held_by_inode.as_ref().and_then(|by_inode| {
                let inode = crate::kernel_queue::inode_of(&held.stream)?;
                Some(by_inode.get(&inode).copied().unwrap_or(0))
            });
            held.session.on_close_unread(held_bytes, waited);
            end_held(held);
        }
    }
}

/// Ends TCP politely and tells whoever waits for the session. The socket
/// closes when `held` is dropped, which also takes it out of the poll (the
/// worker holds its only descriptor): no deregistering syscall.
fn end_held(held: Held) {
    let _ = held.stream.shutdown(Shutdown::Write);
    held.on_end.ended(Box::new(held.session));
}

/// Writes as much of `bytes` as the socket takes now; how much that was.
fn write_now(stream: &mut TcpStream, bytes: &[u8]) -> io::Result<usize> {
    let mut written = 0;
    while written < bytes.len() {
        match stream.write(&bytes[written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}

impl Held {
    /// Reads until the socket has nothing more (readiness is edge-triggered:
    /// no new event comes for bytes left unread), or at most
    /// `READS_PER_EVENT` times; true when bytes may be left to read.
    fn read(&mut self, now: Instant, scratch: &mut [u8]) -> bool {
        let mut more = true;
        for _ in 0..READS_PER_EVENT {
            if self.session.is_ended() {
                more = false;
                break;
            }
            if self.session.read_paused() {
                // Backpressure: what the peer sends waits in the kernel
                // until the socket takes what we owe it.
                self.flush(now);
                if self.session.read_paused() {
                    self.read_waiting = true;
                    more = false;
                    break;
                }
            }
            match self.stream.read(scratch) {
                Ok(0) => {
                    self.session.handle_eof(now);
                    more = false;
                    break;
                }
                Ok(n) => self.session.handle_data(now, &mut scratch[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    more = false;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.session
                        .handle_transport_error(now, classify_io_error(&e), e.to_string());
                    more = false;
                    break;
                }
            }
        }
        // Frames the data asked for (pongs, echoes, a close answer).
        self.flush(now);
        more
    }

    /// Writes what the session queued; keeps what the socket would not take.
    fn flush(&mut self, now: Instant) {
        let mut progressed = false;
        loop {
            if self.unsent.is_empty() {
                match self.session.poll_transmit() {
                    Some(frame) => self.unsent = frame,
                    None => break,
                }
            }
            match self.stream.write(&self.unsent) {
                Ok(0) => {
                    self.session.handle_transport_error(
                        now,
                        None,
                        "the socket took no bytes".into(),
                    );
                    self.unsent = Vec::new();
                    break;
                }
                Ok(n) if n == self.unsent.len() => {
                    self.unsent = Vec::new();
                    self.session.on_transmitted(now);
                    progressed = true;
                }
                Ok(n) => {
                    self.unsent.drain(..n);
                    progressed = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.session
                        .handle_transport_error(now, classify_io_error(&e), e.to_string());
                    self.unsent = Vec::new();
                    break;
                }
            }
        }
        // The session times a socket that takes nothing (a peer that
        // stopped reading) and counts these bytes as waiting.
        self.session.on_unsent(now, self.unsent.len(), progressed);
    }
}

#[cfg(test)]
#[allow(clippy::print_stderr)] // the sizes are printed on purpose
mod size_tests {
    use std::mem::size_of;

    use super::{Held, Slot};
    use crate::Session;

    /// What one idle held connection costs in user space, the parts that
    /// are not the kernel's: its slab entry, its boxed session and its end
    /// handler (one box, 16 to 32 bytes with glibc's rounding). Printed so
    /// that a regression shows where (`cargo test -p wsdoctor-wire-io
    /// a_held_connection -- --nocapture`); measured at 100,000 in
    /// bench/load/README.md.
    #[test]
    fn a_held_connection_stays_small() {
        let (slot, held, session) = (size_of::<Slot>(), size_of::<Held>(), size_of::<Session>());
        eprintln!("slab slot {slot} B (held {held} B), session {session} B");
        // Debug builds add 8 bytes to mio's socket (its selector id).
        assert!(slot <= 200, "Slot is {slot} B");
        assert!(session <= 112, "Session is {session} B");
    }
}
