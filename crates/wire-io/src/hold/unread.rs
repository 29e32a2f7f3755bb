//! Closes that went unanswered, and whether the peer had stopped reading.
//!
//! At a close-all (the end of a load ramp, a server going away) a peer
//! that stopped reading may still have taken everything we sent: our
//! kernel took the last pongs and the close frame, so no write of ours ever
//! blocked, and the session sees only "no answer". Our kernel knows more:
//! if bytes written ahead of our close frame are still unacknowledged when
//! the close wait ends, the peer's receive window stayed shut the whole
//! wait (the queue ahead of the close never drained), and the connection
//! ends as [`wsdoctor_evidence::ConnectionEnd::PeerStoppedReading`]. The
//! session decides it, as for the tokio driver's `probe`
//! ([`Session::on_close_unread`](crate::Session::on_close_unread)); the
//! pool reads the kernel for it.
//!
//! Asking the kernel costs a pass over `/proc/net/tcp` (every socket of the
//! machine: ~150 MB at a million), so a worker keeps such connections,
//! sockets open, until the end of its turn and asks once for all of them;
//! the reading is shared by the pool's workers, whose closes of one
//! close-all end at the same moment ([`KernelHeld::since`]). Nothing is
//! read while every close is answered.
//! Past [`crate::kernel_queue::MAX_TABLE_ROWS`] sockets on the machine
//! the tables are not read and such a close stays "unanswered": at a
//! million sockets the reading would cost every process minutes of CPU.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::kernel_queue::unacknowledged_by_inode;

/// What the kernel held for our sockets at the last reading, shared by a
/// pool's workers.
#[derive(Debug, Default)]
pub(super) struct KernelHeld {
    last: Mutex<Option<Reading>>,
    /// Readings taken, for the tests.
    reads: AtomicUsize,
}

#[derive(Debug)]
struct Reading {
    /// When the reading started: it shows every socket as it was then or
    /// later.
    taken: Instant,
    by_inode: Arc<HashMap<u64, u64>>,
}

impl KernelHeld {
    /// Unacknowledged bytes by socket inode, from a reading that started
    /// no earlier than `not_before`: another worker's when it will do, else
    /// one taken now. `None` when the tables cannot be read.
    pub(super) fn since(&self, not_before: Instant) -> Option<Arc<HashMap<u64, u64>>> {
        // Held while reading: a worker that comes meanwhile waits for this
        // reading rather than taking its own.
        let mut last = self.last.lock().ok()?;
        if let Some(reading) = last.as_ref().filter(|r| r.taken >= not_before) {
            return Some(Arc::clone(&reading.by_inode));
        }
        let taken = Instant::now();
        self.reads.fetch_add(1, Ordering::Relaxed);
        let by_inode = Arc::new(unacknowledged_by_inode()?);
        *last = Some(Reading {
            taken,
            by_inode: Arc::clone(&by_inode),
        });
        Some(by_inode)
    }

    /// Readings taken so far.
    #[cfg(test)]
    pub(super) fn reads(&self) -> usize {
        self.reads.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, target_os = "linux"))]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::net::{TcpListener, TcpStream};
    use std::sync::mpsc;
    use std::time::Duration;

    use wsdoctor_evidence::{ConnectionEnd, Side};
    use wsdoctor_wire::session::SessionConfig;

    use super::super::HoldPool;
    use crate::kernel_queue::kernel_queues;
    use crate::Session;

    const WAIT: Duration = Duration::from_secs(5);

    /// A connected pair on loopback: ours and the peer's.
    fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
        let ours = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (theirs, _) = listener.accept().unwrap();
        (ours, theirs)
    }

    /// Writes to a peer that never reads until its window is shut: our
    /// kernel holds bytes unacknowledged, with room left for a close frame.
    fn shut_its_window(ours: &mut TcpStream) {
        ours.set_nonblocking(true).unwrap();
        let chunk = [0u8; 8 * 1024];
        // Bounded: loopback windows are a few MiB at most.
        for _ in 0..2048 {
            let _ = ours.write(&chunk);
            // Bytes in flight are unacknowledged for a moment too: held
            // after a pause, they wait for a window that stays shut.
            std::thread::sleep(Duration::from_millis(5));
            if kernel_queues(ours).is_some_and(|q| q.unacknowledged > 0) {
                return;
            }
        }
        panic!("the peer's window never shut");
    }

    #[tokio::test]
    async fn unanswered_closes_to_peers_that_stopped_reading_say_so_after_one_reading() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        // Accepted sockets inherit it (and no autotuning): the peers'
        // windows shut after a few KiB.
        socket2::SockRef::from(&listener)
            .set_recv_buffer_size(4096)
            .unwrap();
        let (mut deaf_1, _deaf_peer_1) = pair(&listener);
        let (mut deaf_2, _deaf_peer_2) = pair(&listener);
        shut_its_window(&mut deaf_1);
        shut_its_window(&mut deaf_2);
        // Reads everything and never answers the close.
        let (reading, mut reading_peer) = pair(&listener);
        std::thread::spawn(move || {
            let mut sink = [0u8; 4096];
            while reading_peer.read(&mut sink).is_ok_and(|n| n > 0) {}
        });
        let pool = HoldPool::start(1).unwrap();
        let (ended_tx, ended) = mpsc::channel();
        let config = std::sync::Arc::new(SessionConfig {
            close_wait: Duration::from_millis(300),
            ..SessionConfig::default()
        });
        for (name, stream) in [("deaf 1", deaf_1), ("deaf 2", deaf_2), ("reading", reading)] {
            stream.set_nonblocking(true).unwrap();
            let now = std::time::Instant::now();
            let session = Box::new(Session::new(std::sync::Arc::clone(&config), now, now));
            let tx = ended_tx.clone();
            let on_end = Box::new(move |s: Box<Session>| {
                let _ = tx.send((name, s));
            });
            let stream = tokio::net::TcpStream::from_std(stream).unwrap();
            assert!(pool.adopt(stream, session, on_end).is_ok());
        }
        pool.close_all(std::time::Instant::now(), 1000, "done");
        let mut ends = Vec::new();
        for _ in 0..3 {
            let (name, session) = ended.recv_timeout(WAIT).expect("every connection ends");
            ends.push((name, session.into_evidence().2.unwrap().end));
        }
        ends.sort_by_key(|(name, _)| *name);
        for (name, end) in &ends[..2] {
            assert!(
                matches!(end, ConnectionEnd::PeerStoppedReading { blocked_ms, .. } if *blocked_ms >= 300),
                "{name}: {end:?}"
            );
        }
        // The peer that read took the close frame: only "no answer".
        assert!(
            matches!(
                ends[2].1,
                ConnectionEnd::CloseHandshake {
                    initiator: Side::Local,
                    answered: false,
                    ..
                }
            ),
            "{:?}",
            ends[2]
        );
        // One reading of the kernel's table for the three, not one each.
        assert_eq!(pool.kernel.reads(), 1);
    }
}
