//! Handshakes turned away before any server accepted them, and retried:
//! the kernel's own counters say so.
//!
//! When a listen queue is full, Linux drops the handshake's last ACK (or
//! the SYN) and counts it in `TcpExtListenOverflows`; the client retries
//! after its retransmission timeout, 1 s and then 3 s, and counts that in
//! `TCPSynRetrans`. Nothing fails, so a ramp looks healthy while a share of
//! its connections took a second or more to open.
//!
//! Both counters are the whole machine's. With the target on this machine,
//! its listen queue overflowed here ([`Waited::ListenQueueHere`]); with the
//! target elsewhere, our retransmitted SYNs say only that its side left
//! them unanswered ([`Waited::SynsUnanswered`]). Either is taken for the
//! ramp's own only when our handshakes show the retransmit's wait. Whose
//! queue it was, and what to change, is [`whose`].

use wsdoctor_evidence::load::{KernelSample, LoadEvidence, LoadStep};
use wsdoctor_evidence::machine::{listen_backlog_settings, TargetListener};
use wsdoctor_evidence::{escape_peer, format_count as thousands};

mod whose;

use whose::{listener_here, program_of, queue_behind, whose_queue, WhoseQueue};

use super::ms;
use crate::finding::{CauseId, Finding, Severity, SourceKind};
use crate::rules::common::{finding, fix};

/// A handshake at least this slow waited for a retransmit: Linux's initial
/// retransmission timeout is 1 s, less some scheduling slack.
const RETRANSMIT_WAIT_US: u64 = 900_000;

/// What the counters showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Waited {
    /// The target is on this machine and `ListenOverflows` rose.
    ListenQueueHere,
    /// The target is elsewhere and this machine sent SYNs again.
    SynsUnanswered,
}

/// Handshakes turned away during the ramp, and when it began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TurnedAway {
    /// Which counter rose.
    pub(super) waited: Waited,
    /// How much it rose from the start to the last step's end.
    pub(super) count: u64,
    /// Index into the steps of the first step whose handshakes waited as
    /// long as a retransmit.
    pub(super) first_step: usize,
    /// The slowest handshake from that step on (µs).
    pub(super) slowest_us: u64,
}

/// The counter that speaks for the target's queue, with its value before
/// the first connection and at the last step's end.
fn counter_span(e: &LoadEvidence) -> Option<(Waited, u64, u64)> {
    let machine = e.generator.machine.as_ref()?;
    // With the target here, the server's SYN-ACK retransmits would mix
    // into TCPSynRetrans: its own queue's counter is the better fact.
    let (waited, counter): (Waited, fn(&KernelSample) -> Option<u64>) = if machine.target_here {
        (Waited::ListenQueueHere, |k| k.listen_overflows)
    } else {
        (Waited::SynsUnanswered, |k| k.syn_retransmits)
    };
    let start = counter(&e.kernel_start?)?;
    let end = e
        .steps
        .iter()
        .filter_map(|s| s.kernel.as_ref().and_then(counter))
        .max()?;
    Some((waited, start, end))
}

/// The counter, when it rose and some of our handshakes waited as long as
/// a retransmit.
pub(super) fn turned_away(e: &LoadEvidence) -> Option<TurnedAway> {
    let (waited, start, end) = counter_span(e)?;
    // The counter moves a retransmission timeout after the handshake it
    // counts was launched: the step a connection was launched in is the
    // one whose handshakes show the wait.
    let first_step = e
        .steps
        .iter()
        .position(|s| s.handshake.max_us >= RETRANSMIT_WAIT_US)?;
    let slowest_us = e.steps[first_step..]
        .iter()
        .map(|s| s.handshake.max_us)
        .max()?;
    // Without a handshake that waited, the counter moved for something
    // else on this machine.
    (end > start).then_some(TurnedAway {
        waited,
        count: end - start,
        first_step,
        slowest_us,
    })
}

/// For a healthy ramp, what the counters say when they were read: no
/// handshake turned away (or, when the counter moved, that none of ours
/// waited for it).
pub(super) fn none_turned_away(e: &LoadEvidence) -> Option<String> {
    let (waited, start, end) = counter_span(e)?;
    let name = match waited {
        Waited::ListenQueueHere => "listen-queue overflows (TcpExtListenOverflows)",
        Waited::SynsUnanswered => "SYNs sent again (TcpExtTCPSynRetrans)",
    };
    Some(if end == start {
        format!("this machine counted no {name} during the ramp")
    } else {
        format!(
            "this machine counted {} {name} during the ramp, but no handshake of the ramp took as long as a retransmit: another program's",
            thousands(end - start)
        )
    })
}

/// Whether the number of open connections stopped growing at a step end
/// after `from` while attempts went on: a server (or proxy) that stopped
/// accepting at a cap, like HAProxy's `maxconn`, whose listen queue then
/// fills and overflows whatever its length. A burst too fast for the
/// queue still lets the number open grow every step.
pub(super) fn stalled(steps: &[LoadStep], from: usize) -> bool {
    steps.get(from..).is_some_and(|after| {
        after
            .windows(2)
            .any(|w| w[1].attempted > 0 && w[1].open_at_end <= w[0].open_at_end)
    })
}

/// The counters next to a finding about a cap: the queue overflowed
/// because nothing accepted past the cap, so its length is not the fix.
pub(super) fn behind_a_cap(f: &mut Finding, e: &LoadEvidence, t: &TurnedAway, cap: u64) {
    let counted = match t.waited {
        Waited::ListenQueueHere => format!(
            "this machine's kernel counted {} listen-queue overflows during the ramp (TcpExtListenOverflows)",
            thousands(t.count)
        ),
        Waited::SynsUnanswered => format!(
            "this machine sent {} SYNs again during the ramp (TcpExtTCPSynRetrans)",
            thousands(t.count)
        ),
    };
    f.evidence.push(format!(
        "{counted}: the listen queue filled behind a server or proxy that stopped accepting at about {} open connections, so a longer backlog would only let more wait",
        thousands(cap)
    ));
    let Some(l) = e
        .generator
        .machine
        .as_ref()
        .and_then(|m| m.target_listener.as_ref())
    else {
        return;
    };
    f.evidence.push(format!(
        "the listener on {}{} has an accept backlog of {} (`ss -ltn` Send-Q)",
        l.address,
        held_by(l),
        thousands(l.backlog)
    ));
    // HAProxy stops accepting at maxconn and leaves the rest in the
    // kernel's queue (haproxy.com/documentation/haproxy-configuration-tutorials/performance/overload-protection/,
    // read 2026-12-07); its listen backlog is that maxconn unless `bind …
    // backlog` says otherwise (observed: `maxconn 100` listens with 100).
    if l.program.as_deref() == Some("haproxy") {
        f.fix.insert(
            0,
            fix(
                "haproxy",
                format!(
                    "The listener is HAProxy, which stops accepting at its maxconn (about {} here) and leaves the rest in the kernel's listen queue, as long as that maxconn unless `bind … backlog` says otherwise. Raise maxconn where it is set (frontend or defaults, and global maxconn, which caps them all) to the concurrency you need: each WebSocket holds its slot for its whole life.",
                    thousands(cap)
                ),
            ),
        );
    }
}

/// ` (haproxy, pid 42)`: the process holding a listener, when known.
pub(super) fn held_by(l: &TargetListener) -> String {
    holder(l.program.as_deref(), l.pid)
}

/// ` (python3, pid 42)`, or nothing when either is unknown.
pub(super) fn holder(program: Option<&str>, pid: Option<u32>) -> String {
    match (program, pid) {
        (Some(program), Some(pid)) => format!(" ({}, pid {pid})", escape_peer(program)),
        _ => String::new(),
    }
}

/// The finding when nothing failed: connections opened, late.
pub(super) fn turned_away_finding(e: &LoadEvidence, t: &TurnedAway) -> Finding {
    let listener_known = e
        .generator
        .machine
        .as_ref()
        .is_some_and(|m| m.target_listener.is_some());
    let (title, confidence) = match (t.waited, whose_queue(e)) {
        (Waited::SynsUnanswered, _) => (
            "New connections waited for their SYNs to be answered".to_owned(),
            0.6,
        ),
        (_, WhoseQueue::Behind(q)) => (
            format!(
                "New connections overflowed a listen queue behind the target, on {}{}",
                q.address,
                program_of(q)
            ),
            0.8,
        ),
        (_, WhoseQueue::NoneSeenFull { .. }) => (
            "New connections overflowed a listen queue on this machine".to_owned(),
            0.6,
        ),
        (_, WhoseQueue::Target(_) | WhoseQueue::NotSampled) => (
            "New connections overflowed the server's listen queue".to_owned(),
            if listener_known { 0.8 } else { 0.6 },
        ),
    };
    let mut f = finding(
        CauseId::LoadLimit,
        Severity::Warning,
        confidence,
        format!(
            "{title}: some handshakes waited up to {} for a retransmit",
            ms(t.slowest_us)
        ),
        SourceKind::Load,
    );
    f.measured.connections_affected = Some(t.count);
    explain(&mut f, e, t);
    f
}

/// The counter, the listener and the fix, added to a finding about slow
/// or queued handshakes: the fix comes first, as the measured cause.
pub(super) fn explain(f: &mut Finding, e: &LoadEvidence, t: &TurnedAway) {
    let step = &e.steps[t.first_step];
    f.evidence.push(match t.waited {
        Waited::ListenQueueHere => format!(
            "this machine's kernel counted {} listen-queue overflows during the ramp (TcpExtListenOverflows in /proc/net/netstat; the count is machine-wide, and the target is on this machine); handshakes waited as long as a retransmit from step {} on",
            thousands(t.count),
            step.index
        ),
        Waited::SynsUnanswered => format!(
            "this machine sent {} SYNs again during the ramp (TcpExtTCPSynRetrans in /proc/net/netstat, machine-wide): the target's side left them unanswered, so connections waited before any server accepted them; handshakes waited as long as a retransmit from step {} on",
            thousands(t.count),
            step.index
        ),
    });
    f.evidence.push(format!(
        "step {}: handshake p50 {} · p99 {} · max {}: an unanswered handshake is retried after 1 s, then 3 s",
        step.index,
        ms(step.handshake.p50_us),
        ms(step.handshake.p99_us),
        ms(step.handshake.max_us)
    ));
    let Some(machine) = e.generator.machine.as_ref() else {
        return;
    };
    match t.waited {
        Waited::ListenQueueHere => match whose_queue(e) {
            WhoseQueue::Behind(q) => queue_behind(f, e, machine, q),
            whose => listener_here(f, machine, &whose),
        },
        Waited::SynsUnanswered => {
            f.fix.insert(0, fix("server", syns_unanswered_fix()));
            f.confirm = Some(
                "on the target's machine (and each proxy's), `nstat -az TcpExtListenOverflows TcpExtListenDrops` before and after another ramp: a rise there is a full listen queue; `ss -ltn` shows each listener's backlog (Send-Q)".to_owned(),
            );
            f.would_change = Some(
                "no overflow on any machine in the path: then SYNs were dropped on the way (a SYN rate limit, a firewall, a load balancer's connection limit)".to_owned(),
            );
        }
    }
}

/// The fix when SYNs went unanswered on the target's side.
fn syns_unanswered_fix() -> String {
    let settings = listen_backlog_settings("N");
    format!(
        "Connections waited before anything accepted them: a listen queue that was full (the server's or a proxy's), a proxy that stopped accepting at its connection limit, or a SYN rate limit. A limit that accepts and then queues (HAProxy's server maxconn) would not leave SYNs unanswered. On the machine that listens, raise the backlog it asks for ({settings}) and net.core.somaxconn, which caps it, then restart it; or raise the proxy's connection limit."
    )
}

#[cfg(test)]
pub(super) mod tests {
    use wsdoctor_evidence::load::{KernelSample, Latency, LoadEvidence, LoadStep};
    use wsdoctor_evidence::machine::{MachineLimits, TargetListener};

    use super::{turned_away, TurnedAway, Waited};

    /// Both counters at `n`: which one is read depends on where the
    /// target is.
    pub(super) fn kernel(n: u64) -> Option<KernelSample> {
        Some(KernelSample {
            listen_overflows: Some(n),
            syn_retransmits: Some(n),
            ..KernelSample::default()
        })
    }

    /// A step whose samples end at `overflows`, its slowest handshake `max_ms`.
    pub(super) fn step(index: u32, overflows: u64, max_ms: u64) -> LoadStep {
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

    pub(super) fn ramp(target_here: bool, steps: Vec<LoadStep>) -> LoadEvidence {
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
                pid: None,
                program: None,
            }),
            ..MachineLimits::default()
        });
        e
    }

    #[test]
    fn the_rule_table() {
        use Waited::{ListenQueueHere as Here, SynsUnanswered as Elsewhere};
        // (what, target here, steps, expected (which, count, first step, slowest ms))
        type Expected = Option<(Waited, u64, usize, u64)>;
        let cases: Vec<(&str, bool, Vec<LoadStep>, Expected)> = vec![
            (
                "python-websockets' backlog of 100 at 20,000/s (measured)",
                true,
                vec![
                    step(1, 1_265, 1_250),
                    step(2, 1_419, 1_053),
                    step(3, 1_484, 1_063),
                ],
                Some((Here, 484, 0, 1_250)),
            ),
            (
                "overflows from step 2 on",
                true,
                vec![step(1, 1_000, 40), step(2, 1_050, 1_100)],
                Some((Here, 50, 1, 1_100)),
            ),
            (
                "SYNs counted a retransmission timeout after the step whose handshakes waited (measured through a network namespace)",
                false,
                vec![step(1, 1_000, 1_252), step(2, 1_000, 1_251), step(3, 1_362, 1_198)],
                Some((Elsewhere, 362, 0, 1_252)),
            ),
            (
                "overflows, but none of our handshakes waited: another listener's",
                true,
                vec![step(1, 1_000, 40), step(2, 1_050, 80)],
                None,
            ),
            (
                "a target elsewhere: our SYNs were sent again",
                false,
                vec![step(1, 1_265, 1_250)],
                Some((Elsewhere, 265, 0, 1_250)),
            ),
            (
                "a target elsewhere, SYNs sent again but nothing of ours waited",
                false,
                vec![step(1, 1_265, 300)],
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
            let got = turned_away(&ramp(here, steps)).map(
                |TurnedAway {
                     waited,
                     count,
                     first_step,
                     slowest_us,
                 }| (waited, count, first_step, slowest_us / 1000),
            );
            assert_eq!(got, expected, "{what}");
        }
    }

    /// A step whose number open at its end is `open`.
    fn open(open_at_end: u64) -> LoadStep {
        LoadStep {
            attempted: 200,
            open_at_end,
            ..LoadStep::default()
        }
    }

    #[test]
    fn a_cap_stalls_the_number_open_and_a_burst_does_not() {
        // (what, open at each step end, from, stalled)
        let cases = [
            (
                "haproxy maxconn 100 (measured: 100 at every step end)",
                vec![100, 100, 100, 100, 100],
                0,
                true,
            ),
            (
                "python-websockets' backlog of 100: late, but growing",
                vec![342, 700, 1_100, 1_500, 1_960],
                0,
                false,
            ),
            (
                "capped from the third step",
                vec![200, 400, 500, 500],
                1,
                true,
            ),
            ("one step: cannot tell", vec![100], 0, false),
        ];
        for (what, opens, from, expected) in cases {
            let steps: Vec<LoadStep> = opens.into_iter().map(open).collect();
            assert_eq!(super::stalled(&steps, from), expected, "{what}");
        }
    }

    #[test]
    fn the_finding_names_the_servers_own_backlog() {
        let e = ramp(true, vec![step(1, 1_265, 1_250)]);
        let t = turned_away(&e).unwrap_or_else(|| panic!("no overflow"));
        let f = super::turned_away_finding(&e, &t);
        let evidence = f.evidence.join("\n");
        assert!(
            evidence.contains(
                "counted 265 listen-queue overflows during the ramp (TcpExtListenOverflows"
            ),
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
