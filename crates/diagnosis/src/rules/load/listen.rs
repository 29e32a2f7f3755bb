//! A full listen queue on the target's machine (this one): the kernel
//! turned handshakes away and their clients waited for a retransmit.
//!
//! When the accept queue is full, Linux drops the handshake's last ACK (or
//! the SYN) and counts it in `TcpExtListenOverflows`; the client retries
//! after its retransmission timeout, 1 s and then 3 s. Nothing fails, so a
//! ramp looks healthy while a share of its connections took a second or
//! more to open. The counter is the whole machine's, so it is only taken
//! for the target's when the target is on this machine and our own
//! handshakes show the retransmit's wait.

use wsdoctor_evidence::format_count as thousands;
use wsdoctor_evidence::load::LoadEvidence;
use wsdoctor_evidence::machine::{MachineLimits, MachineResource};

use super::ms;
use crate::finding::{CauseId, Finding, Severity, SourceKind};
use crate::rules::common::{finding, fix};

/// A handshake at least this slow waited for a retransmit: Linux's initial
/// retransmission timeout is 1 s, less some scheduling slack.
const RETRANSMIT_WAIT_US: u64 = 900_000;

/// The kernel's overflows during the ramp, and when they began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Overflows {
    /// `TcpExtListenOverflows` added from the start to the last step's end.
    pub(super) count: u64,
    /// Index into the steps of the first step they rose in.
    pub(super) first_step: usize,
    /// The slowest handshake from that step on (µs).
    pub(super) slowest_us: u64,
}

/// The overflows of the target's listen queue, when the target is on this
/// machine and some of our handshakes waited as long as a retransmit.
pub(super) fn overflows(e: &LoadEvidence) -> Option<Overflows> {
    let machine = e.generator.machine.as_ref()?;
    // The counter is this machine's: a target elsewhere has its own.
    if !machine.target_here {
        return None;
    }
    let start = e.kernel_start?.listen_overflows?;
    let mut seen = start;
    let mut first_step = None;
    for (i, step) in e.steps.iter().enumerate() {
        let Some(now) = step.kernel.and_then(|k| k.listen_overflows) else {
            continue;
        };
        if now > seen && first_step.is_none() {
            first_step = Some(i);
        }
        seen = seen.max(now);
    }
    let first_step = first_step?;
    let slowest_us = e.steps[first_step..]
        .iter()
        .map(|s| s.handshake.max_us)
        .max()?;
    // Without a handshake that waited, the overflows were another
    // listener's on this machine.
    (slowest_us >= RETRANSMIT_WAIT_US).then_some(Overflows {
        count: seen - start,
        first_step,
        slowest_us,
    })
}

/// The finding when nothing failed: connections opened, late.
pub(super) fn overflow_finding(e: &LoadEvidence, o: &Overflows) -> Finding {
    let known = e
        .generator
        .machine
        .as_ref()
        .is_some_and(|m| m.target_listener.is_some());
    let mut f = finding(
        CauseId::LoadLimit,
        Severity::Warning,
        if known { 0.8 } else { 0.6 },
        format!(
            "New connections overflowed the server's listen queue: some handshakes waited up to {} for a retransmit",
            ms(o.slowest_us)
        ),
        SourceKind::Load,
    );
    f.measured.connections_affected = Some(o.count);
    explain(&mut f, e, o);
    f
}

/// The overflows, the listener and the fix, added to a finding about slow
/// or queued handshakes: the fix comes first, as the measured cause.
pub(super) fn explain(f: &mut Finding, e: &LoadEvidence, o: &Overflows) {
    let step = &e.steps[o.first_step];
    f.evidence.push(format!(
        "this machine's kernel counted {} listen-queue overflows during the ramp, from step {} on (TcpExtListenOverflows in /proc/net/netstat; the count is machine-wide, and the target is on this machine)",
        thousands(o.count),
        step.index
    ));
    f.evidence.push(format!(
        "step {}: handshake p50 {} · p99 {} · max {}: a turned-away handshake is retried after 1 s, then 3 s",
        step.index,
        ms(step.handshake.p50_us),
        ms(step.handshake.p99_us),
        ms(step.handshake.max_us)
    ));
    let Some(machine) = e.generator.machine.as_ref() else {
        return;
    };
    if let Some(l) = &machine.target_listener {
        f.evidence.push(format!(
            "the server listens on {} with an accept backlog of {} (`ss -ltn` Send-Q){}; net.core.somaxconn is {}",
            l.address,
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
    const EXAMPLES: &str = "npm ws: new WebSocketServer({ port, backlog }); Node: server.listen({ port, backlog }); python-websockets: serve(..., backlog=N); nginx: listen ... backlog=N;";
    if let Some(s) = m
        .shortfalls
        .iter()
        .find(|s| s.resource == MachineResource::AcceptBacklog)
    {
        return format!(
            "A burst of new connections fills the listen queue before the server accepts them. Raise {}. Accepting faster (more processes on the port with SO_REUSEPORT) shortens the wait too.",
            s.setting
        );
    }
    match (&m.target_listener, m.somaxconn) {
        (Some(l), Some(cap)) if l.backlog < cap => format!(
            "A burst of new connections fills the listen queue before the server accepts them. The server asked for a backlog of {}: raise it ({EXAMPLES}) and restart it. Accepting faster (more processes on the port with SO_REUSEPORT) shortens the wait too.",
            thousands(l.backlog)
        ),
        (Some(_), Some(cap)) => format!(
            "A burst of new connections fills the listen queue before the server accepts them. net.core.somaxconn ({}) caps its backlog: raise it (sysctl -w net.core.somaxconn=…), make sure the server asks for as much ({EXAMPLES}), and restart it, since the cap applies when it calls listen().",
            thousands(cap)
        ),
        _ => format!(
            "A burst of new connections fills the listen queue before the server accepts them. Raise the backlog the server asks for ({EXAMPLES}) and net.core.somaxconn, which caps it, then restart the server; `ss -ltn` shows the backlog it has (Send-Q)."
        ),
    }
}

#[cfg(test)]
mod tests {
    use wsdoctor_evidence::load::{KernelSample, Latency, LoadEvidence, LoadStep};
    use wsdoctor_evidence::machine::{MachineLimits, TargetListener};

    use super::{overflows, Overflows};

    fn kernel(overflows: u64) -> Option<KernelSample> {
        Some(KernelSample {
            listen_overflows: Some(overflows),
            ..KernelSample::default()
        })
    }

    /// A step whose samples end at `overflows`, its slowest handshake `max_ms`.
    fn step(index: u32, overflows: u64, max_ms: u64) -> LoadStep {
        LoadStep {
            index,
            attempted: 600,
            opened: 600,
            open_at_end: u64::from(index) * 600,
            handshake: Latency {
                count: 600,
                p50_us: 40_000,
                p90_us: 60_000,
                p99_us: max_ms * 1000,
                max_us: max_ms * 1000,
                histogram: None,
            },
            kernel: kernel(overflows),
            ..LoadStep::default()
        }
    }

    fn ramp(target_here: bool, steps: Vec<LoadStep>) -> LoadEvidence {
        let mut e = LoadEvidence {
            steps,
            kernel_start: kernel(1_000),
            ..LoadEvidence::default()
        };
        e.generator.machine = Some(MachineLimits {
            target_here,
            somaxconn: Some(4096),
            target_listener: Some(TargetListener {
                address: "127.0.0.1:8080".to_owned(),
                backlog: 100,
                sockets: 1,
            }),
            ..MachineLimits::default()
        });
        e
    }

    #[test]
    fn the_rule_table() {
        // (what, target here, steps, expected (count, first step, slowest ms))
        let cases: Vec<(&str, bool, Vec<LoadStep>, Option<(u64, usize, u64)>)> = vec![
            (
                "python-websockets' backlog of 100 at 20,000/s (measured)",
                true,
                vec![
                    step(1, 1_265, 1_250),
                    step(2, 1_419, 1_053),
                    step(3, 1_484, 1_063),
                ],
                Some((484, 0, 1_250)),
            ),
            (
                "overflows from step 2 on",
                true,
                vec![step(1, 1_000, 40), step(2, 1_050, 1_100)],
                Some((50, 1, 1_100)),
            ),
            (
                "overflows, but none of our handshakes waited: another listener's",
                true,
                vec![step(1, 1_000, 40), step(2, 1_050, 80)],
                None,
            ),
            (
                "a target elsewhere: this machine's counter is not its queue",
                false,
                vec![step(1, 1_265, 1_250)],
                None,
            ),
            (
                "no overflow",
                true,
                vec![step(1, 1_000, 1_250), step(2, 1_000, 3_000)],
                None,
            ),
        ];
        for (what, here, steps, expected) in cases {
            let got = overflows(&ramp(here, steps)).map(
                |Overflows {
                     count,
                     first_step,
                     slowest_us,
                 }| (count, first_step, slowest_us / 1000),
            );
            assert_eq!(got, expected, "{what}");
        }
    }

    #[test]
    fn the_finding_names_the_servers_own_backlog() {
        let e = ramp(true, vec![step(1, 1_265, 1_250)]);
        let o = overflows(&e).unwrap_or_else(|| panic!("no overflow"));
        let f = super::overflow_finding(&e, &o);
        let evidence = f.evidence.join("\n");
        assert!(
            evidence.contains("counted 265 listen-queue overflows during the ramp, from step 1 on"),
            "{evidence}"
        );
        assert!(
            evidence.contains("listens on 127.0.0.1:8080 with an accept backlog of 100 (`ss -ltn` Send-Q); net.core.somaxconn is 4,096"),
            "{evidence}"
        );
        assert!(
            f.fix[0]
                .text
                .contains("The server asked for a backlog of 100: raise it"),
            "{:?}",
            f.fix
        );
        assert!((f.confidence - 0.8).abs() < 1e-9);
    }
}
