//! Whose listen queue filled, among those sampled on this machine through
//! the ramp, and what to change: the target's own backlog (or
//! `somaxconn`), or the backlog of a server behind it.

use wsdoctor_evidence::format_count as thousands;
use wsdoctor_evidence::load::LoadEvidence;
use wsdoctor_evidence::machine::{
    listen_backlog_settings, MachineLimits, MachineResource, SampledListenQueue,
};

use super::{held_by, holder};
use crate::finding::Finding;
use crate::rules::common::fix;

/// Which listen queue on this machine filled, as sampled through the ramp.
#[derive(Debug, Clone, Copy)]
pub(super) enum WhoseQueue<'a> {
    /// No sampling (the kernel could not be asked, or an older report).
    NotSampled,
    /// The target's own listener was seen full.
    Target(&'a SampledListenQueue),
    /// The target's was not, another one here was: a server behind it.
    Behind(&'a SampledListenQueue),
    /// Sampled, but no queue was caught full.
    NoneSeenFull { samples: u64, every_ms: u64 },
}

/// Which queue filled: the target's when it was seen full, else the
/// fullest other one seen full.
pub(super) fn whose_queue(e: &LoadEvidence) -> WhoseQueue<'_> {
    let Some(watch) = &e.listen_queues else {
        return WhoseQueue::NotSampled;
    };
    let target = e
        .generator
        .machine
        .as_ref()
        .and_then(|m| m.target_listener.as_ref())
        .map(|l| l.address.as_str());
    let full = watch.queues.iter().filter(|q| q.near_full_samples > 0);
    if let Some(q) = full.clone().find(|q| Some(q.address.as_str()) == target) {
        return WhoseQueue::Target(q);
    }
    match full.max_by_key(|q| q.near_full_samples) {
        Some(q) => WhoseQueue::Behind(q),
        None => WhoseQueue::NoneSeenFull {
            samples: watch.samples,
            every_ms: watch.every_ms,
        },
    }
}

/// ` (python3, pid 42)`: the process holding a sampled queue, when known.
pub(super) fn program_of(q: &SampledListenQueue) -> String {
    holder(q.program.as_deref(), q.pid)
}

/// The queue that filled was behind the target (a proxy here passed the
/// connections on to a server here): that server's backlog is the fix.
pub(super) fn queue_behind(
    f: &mut Finding,
    e: &LoadEvidence,
    machine: &MachineLimits,
    q: &SampledListenQueue,
) {
    let watch = e.listen_queues.as_ref();
    f.evidence.push(format!(
        "{}{} was seen full or nearly (90% and more) in {} of {} samples (every {} ms): at most {} connections waiting for an accept backlog of {}",
        q.address,
        program_of(q),
        q.near_full_samples,
        watch.map_or(0, |w| w.samples),
        watch.map_or(0, |w| w.every_ms),
        thousands(q.peak_queued),
        thousands(q.backlog)
    ));
    if let Some(l) = &machine.target_listener {
        let peak = watch
            .and_then(|w| w.queues.iter().find(|s| s.address == l.address))
            .map_or(0, |s| s.peak_queued);
        f.evidence.push(format!(
            "the target's own listener, {}{}, was never seen nearly full: at most {} waiting for its backlog of {}",
            l.address,
            held_by(l),
            thousands(peak),
            thousands(l.backlog)
        ));
    }
    f.fix.insert(
        0,
        fix(
            "server",
            format!(
                "The server behind the target, on {}{}, listens with a backlog of {}: what is in front passes new connections on as fast as they arrive, and they wait at that server's queue. Raise its backlog ({}) and restart it; accepting faster (more processes on the port with SO_REUSEPORT) shortens the wait too.",
                q.address,
                program_of(q),
                thousands(q.backlog),
                listen_backlog_settings("N")
            ),
        ),
    );
    let port = q.address.rsplit(':').next().unwrap_or("PORT");
    f.confirm = Some(format!(
        "`ss -ltn 'sport = :{port}'` during another ramp: Recv-Q reaching Send-Q is that queue full. With its backlog raised and the server restarted, the same ramp should open every connection without a 1 s wait"
    ));
    f.would_change = Some(
        "the target's own queue full in a longer sampling: then both queues are short for the burst".to_owned(),
    );
}

/// The target's listener here: its backlog as evidence, and the fix.
pub(super) fn listener_here(f: &mut Finding, machine: &MachineLimits, whose: &WhoseQueue<'_>) {
    match *whose {
        WhoseQueue::Target(q) => f.evidence.push(format!(
            "its queue was seen full or nearly (90% and more) in {} samples: at most {} connections waiting",
            q.near_full_samples,
            thousands(q.peak_queued)
        )),
        WhoseQueue::NoneSeenFull { samples, every_ms } => f.evidence.push(format!(
            "no listen queue here was caught even nearly full in {samples} samples every {every_ms} ms: which one overflowed is not known; `ss -ltn` during a ramp shows it (Recv-Q reaching Send-Q)"
        )),
        WhoseQueue::NotSampled | WhoseQueue::Behind(_) => {}
    }
    if let Some(l) = &machine.target_listener {
        f.evidence.push(format!(
            "the server listens on {}{} with an accept backlog of {} (`ss -ltn` Send-Q){}; net.core.somaxconn is {}",
            l.address,
            held_by(l),
            thousands(l.backlog),
            if l.sockets > 1 {
                format!(", each of {} sockets sharing the port", l.sockets)
            } else {
                String::new()
            },
            machine.somaxconn.map_or_else(|| "unknown".to_owned(), thousands)
        ));
    }
    f.fix.insert(0, fix("server", backlog_fix(machine)));
    let port = machine
        .target_listener
        .as_ref()
        .and_then(|l| l.address.rsplit(':').next())
        .unwrap_or("PORT");
    f.confirm = Some(format!(
        "`ss -ltn 'sport = :{port}'` during another ramp: Recv-Q reaching Send-Q is a full queue; `nstat -az TcpExtListenOverflows` before and after counts the turned-away handshakes. With the backlog raised and the server restarted, the same ramp should open every connection without a 1 s wait"
    ));
    f.would_change = Some(
        "handshakes as slow with the counter still: then the wait is the server's accept loop or CPU, not its queue".to_owned(),
    );
}

/// What to change: the check before the run's setting when it named one,
/// else whichever of the server's backlog and `somaxconn` is the shorter.
fn backlog_fix(m: &MachineLimits) -> String {
    const FULL: &str =
        "A burst of new connections fills the listen queue before the server accepts them.";
    const FASTER: &str =
        "Accepting faster (more processes on the port with SO_REUSEPORT) shortens the wait too.";
    if let Some(s) = m
        .shortfalls
        .iter()
        .find(|s| s.resource == MachineResource::AcceptBacklog)
    {
        return format!("{FULL} Raise {}. {FASTER}", s.setting);
    }
    let settings = listen_backlog_settings("N");
    match (&m.target_listener, m.somaxconn) {
        (Some(l), Some(cap)) if l.backlog < cap => format!(
            "{FULL} The server asked for a backlog of {}: raise it ({settings}) and restart it. {FASTER}",
            thousands(l.backlog)
        ),
        (Some(_), Some(cap)) => format!(
            "{FULL} net.core.somaxconn ({}) caps its backlog: raise it (sysctl -w net.core.somaxconn=…), make sure the server asks for as much ({settings}), and restart it, since the cap applies when it calls listen().",
            thousands(cap)
        ),
        _ => format!(
            "{FULL} Raise the backlog the server asks for ({settings}) and net.core.somaxconn, which caps it, then restart the server; `ss -ltn` shows the backlog it has (Send-Q)."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{ramp, step};

    #[test]
    fn whose_queue_filled() {
        use wsdoctor_evidence::machine::{ListenQueueWatch, SampledListenQueue};
        let queue = |address: &str, near_full_samples: u64| SampledListenQueue {
            address: address.to_owned(),
            backlog: 100,
            peak_queued: if near_full_samples > 0 { 101 } else { 40 },
            near_full_samples,
            pid: Some(7),
            program: Some("python3".to_owned()),
        };
        // The target listens on 127.0.0.1:8080 (see `ramp`).
        // (what, sampled queues, expected)
        let cases: Vec<(&str, Option<Vec<SampledListenQueue>>, &str)> = vec![
            ("not sampled", None, "not sampled"),
            (
                "the target's own queue full",
                Some(vec![
                    queue("127.0.0.1:8080", 12),
                    queue("127.0.0.1:9000", 3),
                ]),
                "target 127.0.0.1:8080",
            ),
            (
                "nginx in front never full, python behind it full (measured)",
                Some(vec![
                    queue("127.0.0.1:9000", 24),
                    queue("127.0.0.1:8080", 0),
                ]),
                "behind 127.0.0.1:9000",
            ),
            (
                "the fullest of two behind",
                Some(vec![
                    queue("127.0.0.1:9000", 2),
                    queue("127.0.0.1:9001", 30),
                ]),
                "behind 127.0.0.1:9001",
            ),
            (
                "none caught full",
                Some(vec![queue("127.0.0.1:8080", 0)]),
                "none of 300 every 5 ms",
            ),
        ];
        for (what, queues, expected) in cases {
            let mut e = ramp(true, vec![step(1, 1_265, 1_250)]);
            e.listen_queues = queues.map(|queues| ListenQueueWatch {
                samples: 300,
                every_ms: 5,
                queues,
            });
            let got = match super::whose_queue(&e) {
                super::WhoseQueue::NotSampled => "not sampled".to_owned(),
                super::WhoseQueue::Target(q) => format!("target {}", q.address),
                super::WhoseQueue::Behind(q) => format!("behind {}", q.address),
                super::WhoseQueue::NoneSeenFull { samples, every_ms } => {
                    format!("none of {samples} every {every_ms} ms")
                }
            };
            assert_eq!(got, expected, "{what}");
        }
    }
}
