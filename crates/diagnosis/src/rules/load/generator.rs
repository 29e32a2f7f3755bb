//! The generator's own limits: a local resource it ran out of (file
//! descriptors, ephemeral ports, socket memory), and its CPU or timers
//! falling behind its schedule. They come first and are never the server's.

use wsdoctor_evidence::load::LoadEvidence;
use wsdoctor_evidence::machine::{MachineLimits, MachineResource, MachineShortfall};
use wsdoctor_evidence::{format_count as thousands, LocalResource};

use super::ms;
use crate::finding::{CauseId, Finding, Severity, SourceKind};
use crate::rules::common::{finding, fix, human, local_limit};

/// A generator this late on its own schedule (µs) measured its own CPU or
/// timers, not the target: reported as the generator's limit.
const GENERATOR_LAG_US: u64 = 1_000_000;

/// A ramp whose launches ended this share of their planned time late (and
/// at least [`GENERATOR_LAG_US`]) ran at a lower rate than asked because
/// the generator could not keep up, even when no single launch was late
/// by much.
const BEHIND_SHARE: f64 = 0.1;

/// What the generator's own limits came to.
pub(super) struct GeneratorLimits {
    /// Its findings; empty when the generator was no limit.
    pub(super) findings: Vec<Finding>,
    /// The check before the run said where this machine would run out,
    /// and it did (a finding quotes the check): the knee is its own.
    pub(super) predicted: bool,
}

/// The generator's limits.
pub(super) fn diagnose(e: &LoadEvidence) -> GeneratorLimits {
    let mut findings = Vec::new();
    let mut predicted = false;
    let mut local_found = false;
    for s in &e.steps {
        for sample in &s.failure_samples {
            if let Some(resource) = sample.kind.local_resource() {
                if !local_found {
                    let mut f = local_limit(resource, &sample.detail, SourceKind::Load);
                    f.measured.concurrency_limit = Some(sample.at_concurrency);
                    f.evidence.push(format!(
                        "at {} open connections, step {}: {} of {} attempts failed this way",
                        thousands(sample.at_concurrency),
                        s.index,
                        s.failures.get(&sample.kind).copied().unwrap_or(0),
                        s.attempted
                    ));
                    if matches!(
                        resource,
                        LocalResource::FileDescriptors | LocalResource::SystemFileDescriptors
                    ) {
                        if e.shards.len() > 1 {
                            f.evidence.push(format!(
                                "open-file limit per generator process: {} (hard limit {}), {} processes",
                                e.generator.nofile_now,
                                e.generator.nofile_hard,
                                e.shards.len()
                            ));
                        } else {
                            f.evidence.push(format!(
                                "open-file limit of this process: {} (hard limit {})",
                                e.generator.nofile_now, e.generator.nofile_hard
                            ));
                        }
                    }
                    if let Some(machine) = &e.generator.machine {
                        predicted |= machine_evidence(&mut f, machine, resource);
                    }
                    if resource == LocalResource::EphemeralPorts {
                        f.evidence.push(if e.generator.source_ips.is_empty() {
                            "all connections came from one source address".to_owned()
                        } else {
                            format!(
                                "connections came from {} source addresses",
                                e.generator.source_ips.len()
                            )
                        });
                    }
                    findings.push(f);
                }
                local_found = true;
            }
        }
    }

    if !local_found {
        if let Some(f) = predicted_limit(e) {
            predicted = true;
            findings.push(f);
        }
    }
    findings.extend(behind_schedule(e));
    GeneratorLimits {
        findings,
        predicted,
    }
}

/// The generator fell behind its own schedule: one launch very late, or
/// many a little, adding up to a ramp slower than asked.
fn behind_schedule(e: &LoadEvidence) -> Option<Finding> {
    let g = &e.generator;
    let attempted = e.attempted();
    let planned_us = if e.rate > 0.0 {
        attempted as f64 / e.rate * 1e6
    } else {
        0.0
    };
    let slow_ramp = g.schedule_behind_us > GENERATOR_LAG_US
        && g.schedule_behind_us as f64 > planned_us * BEHIND_SHARE;
    let (behind, over) = if slow_ramp {
        (human(g.schedule_behind_us), " over the ramp")
    } else if g.timer_lag_max_us > GENERATOR_LAG_US {
        (ms(g.timer_lag_max_us), "")
    } else {
        return None;
    };
    let mut f = finding(
        CauseId::LoadLimit,
        Severity::Warning,
        0.7,
        format!(
            "wsdoctor's machine fell {behind} behind its own schedule{over}: its CPU or timers were a limit here, not the target"
        ),
        SourceKind::Load,
    );
    f.subject = Some("wsdoctor (this machine)".to_owned());
    if slow_ramp {
        // More than GENERATOR_LAG_US behind: never zero.
        let took_us = planned_us + g.schedule_behind_us as f64;
        f.evidence.push(format!(
            "it launched {} connections in {} where {:.0}/s plans {}: about {:.0}/s",
            thousands(attempted),
            human(took_us as u64),
            e.rate,
            human(planned_us as u64),
            attempted as f64 * 1e6 / took_us
        ));
    }
    f.evidence.push(format!(
        "the generator launched connections up to {} later than planned at {:.0}/s",
        ms(g.timer_lag_max_us),
        e.rate
    ));
    f.evidence.push(
        "latencies measured while the generator was this busy include its own delay".to_owned(),
    );
    f.fix.push(fix(
        "client",
        "Give the generator more CPU: a lower --rate, more processes (--procs), or shards on more machines (--shard I/N, then wsdoctor merge).",
    ));
    Some(f)
}

/// This machine's own figures next to a local failure, and the setting the
/// check before the run named for it. True when the check had named it.
fn machine_evidence(f: &mut Finding, m: &MachineLimits, resource: LocalResource) -> bool {
    let wanted = match resource {
        LocalResource::SystemFileDescriptors => {
            if let (Some(max), Some(open)) = (m.file_max, m.files_open) {
                f.evidence.push(format!(
                    "the whole machine's file table was full: fs.file-max {} ({} open before the run)",
                    thousands(max),
                    thousands(open)
                ));
            }
            MachineResource::FileMax
        }
        LocalResource::FileDescriptors => MachineResource::OpenFiles,
        LocalResource::EphemeralPorts => MachineResource::EphemeralPorts,
        LocalResource::Memory => {
            if let Some(avail) = m.mem_available_bytes {
                f.evidence.push(format!(
                    "memory available before the run: {} MiB",
                    thousands(avail >> 20)
                ));
            }
            if let Some([_, pressure, max]) = m.tcp_mem_pages {
                f.evidence.push(format!(
                    "net.ipv4.tcp_mem: pressure at {} pages, at most {}",
                    thousands(pressure),
                    thousands(max)
                ));
            }
            MachineResource::Memory
        }
    };
    let Some(s) = m.shortfalls.iter().find(|s| s.resource == wanted) else {
        return false;
    };
    f.evidence.push(format!("{CHECKED_BEFORE}{}", s.detail));
    f.fix
        .push(fix("client", format!("On this machine: {}", s.setting)));
    true
}

const CHECKED_BEFORE: &str = "checked before the run: ";

/// A ramp that stopped short where the check before the run said this
/// machine would run out: the machine's limit (the generator's, and the
/// target's too when both ends are here), never the target's alone, even
/// when what the generator saw was a timeout or a reset.
fn predicted_limit(e: &LoadEvidence) -> Option<Finding> {
    let machine = e.generator.machine.as_ref()?;
    let failed = e.failed();
    let dropped = e.dropped();
    if failed + dropped == 0 && e.peak_open >= e.concurrency {
        return None;
    }
    // The tightest resource, and only when the ramp broke about there
    // (within a quarter): elsewhere the check does not explain it.
    // A short accept backlog slows a burst; it holds every connection in
    // the end, so it never explains a ramp that stopped short.
    let tightest: &MachineShortfall = machine
        .shortfalls
        .iter()
        .filter(|s| s.resource != MachineResource::AcceptBacklog)
        .min_by_key(|s| s.fits_connections)?;
    let near = e.peak_open.saturating_mul(5) / 4 + 100;
    if tightest.fits_connections > near {
        return None;
    }
    let mut f = finding(
        CauseId::LoadLimit,
        Severity::Warning,
        0.8,
        format!(
            "wsdoctor's machine ran out of {} at about {} connections: a limit here, not of the target",
            tightest.resource.as_str(),
            thousands(e.peak_open)
        ),
        SourceKind::Load,
    );
    f.subject = Some("wsdoctor (this machine)".to_owned());
    f.measured.concurrency_limit = Some(e.peak_open);
    f.evidence
        .push(format!("{CHECKED_BEFORE}{}", tightest.detail));
    f.evidence.push(format!(
        "the ramp held at most {} of {} connections ({} failed, {} dropped)",
        thousands(e.peak_open),
        thousands(e.concurrency),
        thousands(failed),
        thousands(dropped)
    ));
    if machine.target_here {
        f.evidence.push(
            "the target is on this machine (loopback): its sockets and memory count against the same limits".to_owned(),
        );
    }
    f.fix.push(fix(
        "client",
        format!("On this machine: {}", tightest.setting),
    ));
    Some(f)
}
