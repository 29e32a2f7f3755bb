//! The ramp as several processes (`load --procs N`): which processes, which
//! shard and source addresses each runs, the typed result each sends back,
//! and the exact merge of those results. How a process is started (its
//! command line) is the caller's, given as a function; [`super::procs`]
//! runs them.
//!
//! A child answers with one JSON line of [`ChildResult`] on stdout, a type
//! private to this exchange: the public report (`--json`) is for people and
//! tools and may grow; it is not the wire format between processes.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use wsdoctor_evidence::load::LoadEvidence;
use wsdoctor_evidence::{check_between, format_count, ConfigError};

use super::procs::{self, ChildSpec, ProcsError};
use super::{merge, scale, LoadConfig, MergeError, Shard, ShardError, ShardResult};
use crate::ProgressSink;

/// More processes than this on one machine is a typo, not a plan.
pub const MAX_PROCS: u32 = 256;

/// What a child sends its parent: the evidence of its shard.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChildResult {
    /// Its shard's evidence, merged exactly by the parent.
    pub load_shard: LoadEvidence,
}

impl ChildResult {
    /// The one line a child writes on stdout.
    pub fn line(evidence: &LoadEvidence) -> Result<String, serde_json::Error> {
        #[derive(Serialize)]
        struct Borrowed<'a> {
            load_shard: &'a LoadEvidence,
        }
        serde_json::to_string(&Borrowed {
            load_shard: evidence,
        })
    }

    /// Reads a child's stdout back.
    pub fn parse(label: &str, stdout: &[u8]) -> Result<LoadEvidence, FanoutError> {
        serde_json::from_slice::<ChildResult>(stdout)
            .map(|r| r.load_shard)
            .map_err(|e| FanoutError::BadResult {
                label: label.to_owned(),
                why: e.to_string(),
            })
    }
}

/// Why the ramp could not run as processes.
#[derive(Debug, thiserror::Error)]
pub enum FanoutError {
    /// A child could not be started.
    #[error(transparent)]
    Spawn(#[from] ProcsError),
    /// A child ran but did not finish its shard.
    #[error("{label} failed ({status}): {why}")]
    ChildFailed {
        /// Which.
        label: String,
        /// How it exited.
        status: std::process::ExitStatus,
        /// Its last line on stderr.
        why: String,
    },
    /// A child's answer could not be read.
    #[error("{label}: not a shard result ({why})")]
    BadResult {
        /// Which.
        label: String,
        /// The parser's words.
        why: String,
    },
    /// The shard numbering overflowed (`--shard N` times `--procs`).
    #[error("--shard N times --procs is too large")]
    TooManyShards,
    /// A shard could not be formed.
    #[error(transparent)]
    Shard(#[from] ShardError),
    /// The children's results did not merge.
    #[error(transparent)]
    Merge(#[from] MergeError),
}

/// How many processes to run, and the note that says why when chosen
/// automatically: `asked` (`--procs`) within 1 to [`MAX_PROCS`] and no more
/// than the connections to open, or as many as the open-file hard limit
/// needs. A child (`is_child`) runs alone.
pub fn processes(
    config: &LoadConfig,
    asked: Option<u32>,
    is_child: bool,
) -> Result<(u32, Option<String>), ConfigError> {
    // A shard's processes share its slice: they count its connections only.
    let here = config.connections_here();
    match asked {
        Some(n) => {
            check_between("--procs", n, 1, MAX_PROCS)?;
            if n > 1 && is_child {
                return Err(ConfigError::Rule {
                    setting: "--procs",
                    rule: "cannot be given to a --procs child",
                });
            }
            if u64::from(n) > here {
                return Err(ConfigError::MoreProcessesThanConnections {
                    procs: n,
                    connections: here,
                });
            }
            Ok((n, None))
        }
        None if is_child => Ok((1, None)),
        None => {
            let hard = scale::nofile_limits().map(|(_, hard)| hard);
            let n = scale::processes_needed(here, hard);
            let note = match hard {
                Some(hard) if n > 1 => Some(format!(
                    "ran as {n} processes of wsdoctor on its own (--procs {n}): one process holds at most {} connections under this machine's open-file hard limit of {}",
                    format_count(scale::connections_per_process(hard)),
                    format_count(hard)
                )),
                _ => None,
            };
            Ok((n, note))
        }
    }
}

/// The shard process `i` of `procs` runs: shard `i/procs` of the whole
/// ramp, or, when this run is itself shard I/N, sub-shard `I + N·i` of
/// `N·procs`: together exactly the connections ≡ I (mod N).
pub fn child_shard(outer: Option<Shard>, i: u32, procs: u32) -> Result<Shard, FanoutError> {
    let outer = outer.unwrap_or(Shard::WHOLE);
    let count = outer
        .count()
        .checked_mul(procs)
        .ok_or(FanoutError::TooManyShards)?;
    Ok(Shard::new(outer.index() + outer.count() * i, count)?)
}

/// One process of the ramp, before it is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildPlan {
    /// How it is named in messages.
    pub label: String,
    /// The slice of the ramp it runs.
    pub shard: Shard,
    /// Its own local source addresses (none: the system's choice).
    pub sources: Vec<IpAddr>,
}

/// Every process of the ramp, and the notes for the report: the ramp's
/// source addresses ([`LoadConfig::sources_for`] the `procs` processes),
/// a slice for each child.
pub fn plan_children(
    config: &LoadConfig,
    procs: u32,
) -> Result<(Vec<ChildPlan>, Vec<String>), FanoutError> {
    let mut notes = vec![format!(
        "{procs} processes ran one interleaved shard each; counts and histograms were merged exactly"
    )];
    let sources = config.sources_for(procs);
    notes.extend(sources.note);
    let slices = scale::split_sources(&sources.ips, procs);
    let mut children = Vec::new();
    for (i, sources) in (0..procs).zip(slices) {
        let shard = child_shard(config.shard, i, procs)?;
        children.push(ChildPlan {
            label: format!("process {} of {procs} (shard {shard})", i + 1),
            shard,
            sources,
        });
    }
    Ok((children, notes))
}

/// Runs `children`, each started as `start` says, and merges their results
/// exactly into the evidence of this run (the whole ramp, or, when it is
/// itself shard I/N, that shard again, for an outer `wsdoctor merge`).
/// `notes` go first in the generator's notes; `machine` is the check of
/// this machine for the whole ramp ([`LoadConfig::machine_check`] with
/// these processes), made once before the run. Dropping the future kills
/// the children.
pub async fn run_children(
    config: &LoadConfig,
    children: &[ChildPlan],
    notes: Vec<String>,
    machine: Option<wsdoctor_evidence::machine::MachineLimits>,
    start: impl Fn(&ChildPlan) -> ChildSpec,
    progress: Option<ProgressSink>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<LoadEvidence, FanoutError> {
    let specs = children.iter().map(start).collect();
    let target = config.connect.target.redacted();
    let sampler = machine
        .as_ref()
        .filter(|m| m.target_here)
        .map(|_| crate::listener::QueueSampler::start(super::LISTEN_QUEUE_SAMPLE_EVERY));
    let outputs = procs::run_children(specs, &target, progress, stop).await?;
    let listen_queues = sampler.and_then(crate::listener::QueueSampler::finish);
    let mut shards = Vec::new();
    for out in outputs {
        if out.status.code() != Some(0) {
            let why = out
                .stderr
                .last()
                .cloned()
                .unwrap_or_else(|| "no message".to_owned());
            return Err(FanoutError::ChildFailed {
                label: out.label,
                status: out.status,
                why,
            });
        }
        let evidence = ChildResult::parse(&out.label, &out.stdout)?;
        shards.push(ShardResult {
            label: out.label,
            evidence,
        });
    }
    let mut evidence = match config.shard {
        None => merge(&shards, false)?.evidence,
        // This run is shard I/N: its processes are the sub-shards ≡ I (mod
        // N) of N·procs, every other residue belongs to other runs. Merged,
        // they are shard I/N again.
        Some(outer) => {
            let mut evidence = merge(&shards, true)?.evidence;
            evidence.shard = Some(outer.spec());
            evidence.shards.clear();
            evidence
        }
    };
    for note in notes.into_iter().rev() {
        evidence.generator.notes.insert(0, note);
    }
    // The machine as the whole ramp needs it (a child checks none).
    evidence.generator.machine = machine;
    evidence.listen_queues = listen_queues;
    Ok(evidence)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_shards_processes_split_its_slice() {
        let whole: Vec<String> = (0..3)
            .map(|i| child_shard(None, i, 3).unwrap().to_string())
            .collect();
        assert_eq!(whole, ["0/3", "1/3", "2/3"]);
        // Shard 1/4 over 2 processes: residues 1 and 5 of 8, i.e. ≡ 1 (mod 4).
        let outer = Shard::new(1, 4).ok();
        let subs: Vec<Shard> = (0..2).map(|i| child_shard(outer, i, 2).unwrap()).collect();
        assert_eq!(subs[0].to_string(), "1/8");
        assert_eq!(subs[1].to_string(), "5/8");
        for conn in 0..64u64 {
            let owned = subs.iter().filter(|s| s.owns(conn)).count();
            assert_eq!(owned, usize::from(conn % 4 == 1), "connection {conn}");
        }
        assert!(matches!(
            child_shard(Shard::new(0, u32::MAX).ok(), 0, 2),
            Err(FanoutError::TooManyShards)
        ));
    }

    #[test]
    fn the_result_line_reads_back_and_nothing_else_does() {
        let evidence = LoadEvidence {
            target: "ws://127.0.0.1:9/".into(),
            concurrency: 10,
            ..LoadEvidence::default()
        };
        let line = ChildResult::line(&evidence).unwrap();
        assert!(!line.contains('\n'));
        let back = ChildResult::parse("p", line.as_bytes()).unwrap();
        assert_eq!(back, evidence);
        // The public report is not a child's answer.
        let report =
            format!(r#"{{"schema":"wsdoctor.report/v1","observations":{{"load":{line}}}}}"#);
        assert!(ChildResult::parse("p", report.as_bytes()).is_err());
    }

    #[test]
    fn process_counts_are_bounded() {
        let target = crate::conn::Target::parse("ws://127.0.0.1:9/").unwrap();
        let config = LoadConfig::new(crate::conn::ConnectOptions::new(target), 3);
        let said = |asked, child| {
            processes(&config, asked, child)
                .err()
                .map(|e| e.to_string())
        };
        assert_eq!(said(Some(3), false), None);
        let range = Some("--procs must be between 1 and 256".to_owned());
        assert_eq!(said(Some(0), false), range);
        assert_eq!(said(Some(257), false), range);
        assert_eq!(
            said(Some(2), true).as_deref(),
            Some("--procs cannot be given to a --procs child")
        );
        assert_eq!(
            said(Some(4), false).as_deref(),
            Some("--procs 4 is more processes than the 3 connections to open")
        );
        assert_eq!(processes(&config, None, true).ok(), Some((1, None)));
    }

    /// The addresses the children are given, the count the machine check
    /// takes and a single process's choice follow one rule, and turning
    /// the automatic choice off turns it off for the children too (they
    /// spread over 127.0.0.2… regardless before).
    #[test]
    fn children_follow_the_one_source_address_rule() {
        let target = crate::conn::Target::parse("ws://127.0.0.1:9/").unwrap();
        // More connections than one address's ports serve well (none is
        // opened here: this is only the plan).
        let mut config = LoadConfig::new(crate::conn::ConnectOptions::new(target), 200_000);
        let given = |config: &LoadConfig, procs| {
            let (children, _) = plan_children(config, procs).unwrap();
            let ips: std::collections::BTreeSet<IpAddr> =
                children.into_iter().flat_map(|c| c.sources).collect();
            ips.len() as u64
        };
        assert!(
            config.source_addresses(4) > 4,
            "{}",
            config.source_addresses(4)
        );
        assert_eq!(given(&config, 4), config.source_addresses(4));
        assert_eq!(
            config.sources_for(1).ips.len() as u64,
            config.source_addresses(1)
        );
        config.auto_source_ips = false;
        assert_eq!(config.source_addresses(4), 1);
        assert_eq!(given(&config, 4), 0);
        assert!(config.sources_for(1).ips.is_empty());
        config.source_ips = scale::parse_source_range("127.0.0.2-127.0.0.4").unwrap();
        assert_eq!(given(&config, 2), 3);
        assert_eq!(config.source_addresses(2), 3);
    }
}
