//! The generator's own limits: a local resource it ran out of (file
//! descriptors, ephemeral ports, socket memory), and its CPU or timers
//! falling behind its schedule. They come first and are never the server's.

use wsdoctor_evidence::load::LoadEvidence;
use wsdoctor_evidence::{format_count as thousands, LocalResource};

use super::ms;
use crate::finding::{CauseId, Finding, Severity, SourceKind};
use crate::rules::common::{finding, fix, local_limit};

/// A generator this late on its own schedule (µs) measured its own CPU or
/// timers, not the target: reported as the generator's limit.
const GENERATOR_LAG_US: u64 = 1_000_000;

/// The generator's limits; empty when it was not one.
pub(super) fn diagnose(e: &LoadEvidence) -> Vec<Finding> {
    let mut findings = Vec::new();
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
                    if resource == LocalResource::FileDescriptors {
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

    if e.generator.timer_lag_max_us > GENERATOR_LAG_US {
        let mut f = finding(
            CauseId::LoadLimit,
            Severity::Warning,
            0.7,
            format!(
                "wsdoctor's machine fell {} behind its own schedule: its CPU or timers were a limit here, not the target",
                ms(e.generator.timer_lag_max_us)
            ),
            SourceKind::Load,
        );
        f.subject = Some("wsdoctor (this machine)".to_owned());
        f.evidence.push(format!(
            "the generator launched connections up to {} later than planned at {:.0}/s",
            ms(e.generator.timer_lag_max_us),
            e.rate
        ));
        f.evidence.push(
            "latencies measured while the generator was this busy include its own delay".to_owned(),
        );
        f.fix.push(fix(
            "client",
            "Give the generator more CPU: a lower --rate, more processes (--procs), or shards on more machines (--shard I/N, then wsdoctor merge).",
        ));
        findings.push(f);
    }
    findings
}
