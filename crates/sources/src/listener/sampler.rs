//! Every listen queue on this machine, sampled while a run goes on.

use wsdoctor_evidence::machine::{ListenQueueWatch, SampledListenQueue};

use super::diag::SockDiag;
use super::holders_of;

/// Listeners followed at once by a [`QueueSampler`]: a machine with more is
/// followed on the first ones seen.
const MAX_LISTENERS_FOLLOWED: usize = 4096;

/// Samples every listen queue on this machine while a run goes on, to see
/// which ones filled: the kernel's overflow counter is machine-wide, and a
/// full queue behind a proxy is not the proxy's. A full queue is one whose
/// waiting connections reached its backlog. A server that accepts in
/// batches (asyncio) drains a full queue within milliseconds, so the
/// sampling is frequent: one dump of the listeners costs tens of µs.
#[derive(Debug)]
pub struct QueueSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    every: std::time::Duration,
    thread: Option<std::thread::JoinHandle<Followed>>,
}

/// What the sampler saw of each listener, by inode.
#[derive(Debug, Default)]
struct Followed {
    samples: u64,
    listeners: std::collections::BTreeMap<u32, Seen>,
    /// Who holds each listener, looked up after the first sample, before
    /// the run opens its connections (each is an open file to pass over).
    holders: std::collections::BTreeMap<u32, (u32, String)>,
}

/// One listener as sampled.
#[derive(Debug)]
struct Seen {
    address: std::net::SocketAddr,
    backlog: u64,
    peak_queued: u64,
    near_full_samples: u64,
}

impl QueueSampler {
    /// Starts sampling every `every` on a thread of its own (the kernel
    /// answers in microseconds, so the run's threads are not held up).
    pub fn start(every: std::time::Duration) -> QueueSampler {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("listen-queues".to_owned())
            .spawn(move || {
                let mut followed = Followed::default();
                let Some(mut diag) = SockDiag::open() else {
                    return followed;
                };
                followed.sample(&mut diag);
                followed.holders = holders_of(&followed.listeners.keys().copied().collect());
                while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                    followed.sample(&mut diag);
                    std::thread::sleep(every);
                }
                followed.sample(&mut diag);
                followed
            })
            .ok();
        QueueSampler {
            stop,
            every,
            thread,
        }
    }

    /// Stops, and says which queues were seen full; `None` when the kernel
    /// could not be asked.
    pub fn finish(mut self) -> Option<ListenQueueWatch> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let followed = self.thread.take()?.join().ok()?;
        if followed.samples == 0 {
            return None;
        }
        let mut busy: Vec<(&u32, &Seen)> = followed
            .listeners
            .iter()
            .filter(|(_, seen)| seen.peak_queued > 0)
            .collect();
        // Full ones first, then by how near to full they came.
        busy.sort_by(|(_, a), (_, b)| {
            (b.near_full_samples > 0)
                .cmp(&(a.near_full_samples > 0))
                .then((b.peak_queued * a.backlog.max(1)).cmp(&(a.peak_queued * b.backlog.max(1))))
        });
        busy.truncate(ListenQueueWatch::MAX_QUEUES);
        // Listeners that appeared after the first sample, looked up now.
        let unknown = busy
            .iter()
            .map(|(inode, _)| **inode)
            .filter(|inode| !followed.holders.contains_key(inode))
            .collect();
        let mut late = holders_of(&unknown);
        let queues = busy
            .into_iter()
            .map(|(inode, seen)| {
                let holder = followed
                    .holders
                    .get(inode)
                    .cloned()
                    .or_else(|| late.remove(inode));
                SampledListenQueue {
                    address: seen.address.to_string(),
                    backlog: seen.backlog,
                    peak_queued: seen.peak_queued,
                    near_full_samples: seen.near_full_samples,
                    pid: holder.as_ref().map(|(pid, _)| *pid),
                    program: holder.map(|(_, program)| program),
                }
            })
            .collect();
        Some(ListenQueueWatch {
            samples: followed.samples,
            every_ms: self.every.as_millis() as u64,
            queues,
        })
    }
}

impl Drop for QueueSampler {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Followed {
    fn sample(&mut self, diag: &mut SockDiag) {
        let Some(listening) = diag.listening_both() else {
            return;
        };
        self.samples += 1;
        for l in listening {
            if !self.listeners.contains_key(&l.inode)
                && self.listeners.len() >= MAX_LISTENERS_FOLLOWED
            {
                continue;
            }
            let seen = self.listeners.entry(l.inode).or_insert(Seen {
                address: l.address,
                backlog: l.backlog,
                peak_queued: 0,
                near_full_samples: 0,
            });
            seen.peak_queued = seen.peak_queued.max(l.queued);
            // The kernel counts a queue full when it holds more than the
            // backlog (`sk_acceptq_is_full`). A server that accepts in
            // batches drains it within milliseconds, so a sample between
            // arrivals may find it one or two short: 90% counts.
            if l.backlog > 0 && l.queued * 10 >= l.backlog * 9 {
                seen.near_full_samples += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A listener with a backlog of 2 that never accepts, sent 6 connects:
    /// the sampler sees it full, and says who holds it (this test).
    #[cfg(target_os = "linux")]
    #[test]
    fn the_sampler_sees_a_queue_fill() {
        let (_socket, bound) = super::super::tests::listening_with(2);
        let sampler = QueueSampler::start(std::time::Duration::from_millis(5));
        let clients: Vec<_> = (0..6)
            .map(|_| {
                let c = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                    .unwrap();
                c.set_nonblocking(true).unwrap();
                let _ = c.connect(&bound.into());
                c
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let watch = sampler.finish().unwrap();
        drop(clients);
        assert!(watch.samples >= 2, "{watch:?}");
        let full = watch
            .queues
            .iter()
            .find(|q| q.address == bound.to_string())
            .unwrap_or_else(|| panic!("not seen full: {watch:?}"));
        assert_eq!(full.backlog, 2);
        assert!(
            full.peak_queued >= 2 && full.near_full_samples >= 1,
            "{full:?}"
        );
        assert_eq!(full.pid, Some(std::process::id()));
    }
}
