//! `wsdoctor merge FILE…`: reads the `--json` reports of `load --shard I/N`
//! runs, checks they are shards of one ramp, merges them exactly, diagnoses
//! the merged ramp and renders it like `load`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use clap::Args;
use serde_json::Value;
use wsdoctor_evidence::load::LoadEvidence;
use wsdoctor_sources::load::{self as load_source, ShardResult};

use crate::cli::OutputArgs;
use crate::output;

/// A shard report larger than this is not one (they are tens to hundreds
/// of KiB); refusing early keeps a wrong file from filling memory.
const MAX_REPORT_BYTES: u64 = 256 << 20;

/// Arguments of `wsdoctor merge`.
#[derive(Debug, Args)]
pub(crate) struct MergeArgs {
    /// The shards' `load --shard I/N --json` reports.
    #[arg(required = true, value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,
    /// Merge even when some shards are missing (the result says which).
    #[arg(long)]
    pub(crate) partial: bool,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

/// A shard's report, as read from a file or a child's stdout.
pub(crate) struct ShardReport {
    pub(crate) shard: ShardResult,
    /// When it started and how long it ran, for the merged report's header.
    pub(crate) started_at: Option<SystemTime>,
    pub(crate) duration: Duration,
}

/// Reads one `load --json` report from `bytes`; errors are one line naming `label`.
pub(crate) fn shard_from_report(label: &str, bytes: &[u8]) -> anyhow::Result<ShardReport> {
    let report: Value = serde_json::from_slice(bytes)
        .map_err(|e| anyhow::anyhow!("{label}: not a JSON report ({e})"))?;
    if report.get("schema").and_then(Value::as_str) != Some("wsdoctor.report/v1") {
        bail!("{label}: not a wsdoctor report (no \"schema\": \"wsdoctor.report/v1\")");
    }
    let command = report.get("command").and_then(Value::as_str).unwrap_or("");
    if command != "load" {
        bail!("{label}: a report of `wsdoctor {command}`, not of `wsdoctor load`");
    }
    let load = report
        .get("observations")
        .and_then(|o| o.get("load"))
        .with_context(|| format!("{label}: the report has no observations.load"))?;
    let evidence: LoadEvidence = serde_json::from_value(load.clone())
        .map_err(|e| anyhow::anyhow!("{label}: observations.load is not a load result ({e})"))?;
    let started_at = report
        .get("started_at")
        .and_then(Value::as_str)
        .and_then(|t| humantime::parse_rfc3339(t).ok());
    let duration = report
        .get("duration_s")
        .and_then(Value::as_f64)
        .filter(|d| d.is_finite() && *d >= 0.0 && *d < 1e9)
        .map_or(Duration::ZERO, Duration::from_secs_f64);
    Ok(ShardReport {
        shard: ShardResult {
            label: label.to_owned(),
            evidence,
        },
        started_at,
        duration,
    })
}

fn read_report(path: &Path) -> anyhow::Result<ShardReport> {
    use std::io::Read as _;
    let label = path.display().to_string();
    let file =
        std::fs::File::open(path).map_err(|e| anyhow::anyhow!("{label}: cannot read ({e})"))?;
    let mut bytes = Vec::new();
    file.take(MAX_REPORT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| anyhow::anyhow!("{label}: cannot read ({e})"))?;
    if bytes.len() as u64 > MAX_REPORT_BYTES {
        bail!(
            "{label}: larger than {} MiB, not a shard report",
            MAX_REPORT_BYTES >> 20
        );
    }
    shard_from_report(&label, &bytes)
}

/// Merges shard reports; the merged evidence with a note when shards were
/// missing, and the earliest start and longest run.
pub(crate) fn merge_reports(
    reports: Vec<ShardReport>,
    partial: bool,
) -> anyhow::Result<(LoadEvidence, SystemTime, Duration)> {
    let started_at = reports
        .iter()
        .filter_map(|r| r.started_at)
        .min()
        .unwrap_or_else(SystemTime::now);
    let duration = reports.iter().map(|r| r.duration).max().unwrap_or_default();
    let shards: Vec<ShardResult> = reports.into_iter().map(|r| r.shard).collect();
    let merged = load_source::merge(&shards, partial)?;
    let mut evidence = merged.evidence;
    if !merged.missing.is_empty() {
        let count = merged.missing.len() + shards.len();
        evidence.generator.notes.push(format!(
            "incomplete: merged {} of {count} shards; missing {} — counts cover only the shards present",
            shards.len(),
            merged
                .missing
                .iter()
                .map(|i| format!("{i}/{count}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok((evidence, started_at, duration))
}

/// Diagnoses and renders a (merged) load result like `wsdoctor load`.
pub(crate) fn render(
    evidence: &LoadEvidence,
    started_at: SystemTime,
    duration: Duration,
    out: &OutputArgs,
) -> anyhow::Result<u8> {
    let findings = wsdoctor_diagnosis::rules::load::diagnose_load(evidence);
    let report = wsdoctor_report::Report::new(
        "load",
        vec![evidence.target.clone()],
        started_at,
        duration,
        findings,
        serde_json::json!({ "load": evidence }),
    );
    let style = output::style(out);
    let text = format!(
        "{}{}\n",
        wsdoctor_report::text::load_view::render_load(evidence, &report.findings, style),
        wsdoctor_report::verdict_line(report.verdict, &report.findings, style)
    );
    output::finish(out, &report, &text, || {
        wsdoctor_report::html::load_charts(evidence)
    })
}

pub(crate) fn run(args: &MergeArgs) -> anyhow::Result<u8> {
    let mut reports = Vec::new();
    let mut bad = 0usize;
    for path in &args.files {
        match read_report(path) {
            Ok(r) => reports.push(r),
            Err(e) => {
                bad += 1;
                // One line per bad file, all of them, before giving up.
                #[allow(clippy::print_stderr)]
                {
                    eprintln!(
                        "wsdoctor: {}",
                        wsdoctor_evidence::redact_text(&format!("{e:#}"))
                    );
                }
            }
        }
    }
    if bad > 0 {
        bail!(
            "{bad} of {} files are not load shard results; nothing was merged",
            args.files.len()
        );
    }
    let (evidence, started_at, duration) = merge_reports(reports, args.partial)?;
    render(&evidence, started_at, duration, &args.output)
}
