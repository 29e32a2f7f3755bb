//! `wsdoctor storm`: the reconnect wave a server meets after an outage, for
//! a named library's defaults or explicit numbers, next to full jitter.

use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::{Args, ValueEnum};
use wsdoctor_diagnosis::rules::reconnect::presets::{preset, PRESETS};
use wsdoctor_diagnosis::rules::reconnect::storm::{simulate, Jitter, StormPolicy, StormScenario};
use wsdoctor_diagnosis::rules::reconnect::{diagnose_storm, fixes};

use crate::cli::{parse_duration, OutputArgs};
use crate::output;

/// Randomness of an explicit policy.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum JitterArg {
    /// Uniform between 0 and the step.
    Full,
    /// None: every client on the same schedule.
    None,
}

/// Arguments of `wsdoctor storm`.
#[derive(Debug, Args)]
pub(crate) struct StormArgs {
    /// A library's defaults: socket.io-client, reconnecting-websocket, partysocket, phoenix, signalr, python-websockets, graphql-ws, centrifuge-js.
    #[arg(long, value_name = "PRESET", conflicts_with_all = ["base", "factor", "cap", "jitter"])]
    pub(crate) policy: Option<String>,
    /// First delay of an explicit policy.
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub(crate) base: Option<Duration>,
    /// Growth per attempt of an explicit policy (1 = fixed).
    #[arg(long, value_name = "F")]
    pub(crate) factor: Option<f64>,
    /// Largest delay of an explicit policy.
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub(crate) cap: Option<Duration>,
    /// Randomness of an explicit policy.
    #[arg(long, value_enum, value_name = "full|none")]
    pub(crate) jitter: Option<JitterArg>,
    /// Clients dropped at once.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub(crate) clients: u32,
    /// How long the server refuses connections after the drop.
    #[arg(long, value_parser = parse_duration, default_value = "10s", value_name = "DUR")]
    pub(crate) outage: Duration,
    /// Seed of the simulation's random generator (the same seed, the same wave).
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

fn policy(args: &StormArgs) -> anyhow::Result<StormPolicy> {
    if let Some(name) = &args.policy {
        return preset(name)
            .with_context(|| format!("no preset '{name}'; choose from {}", PRESETS.join(", ")));
    }
    let jitter = match args.jitter.unwrap_or(JitterArg::None) {
        JitterArg::Full => Jitter::Full,
        JitterArg::None => Jitter::None,
    };
    Ok(StormPolicy::from_flags(
        args.base,
        args.factor,
        args.cap,
        jitter,
    )?)
}

pub(crate) async fn run(args: StormArgs) -> anyhow::Result<u8> {
    let scenario = StormScenario::new(args.clients, args.outage, args.seed)?;
    let policy = policy(&args)?;
    let started_at = SystemTime::now();
    let clock = std::time::Instant::now();
    let reference = StormPolicy::full_jitter(fixes::BASE_S, fixes::CAP_S);
    let wave = simulate(&policy, &scenario);
    let reference_wave = simulate(&reference, &scenario);
    let findings = diagnose_storm(&scenario, &policy, &wave, &reference_wave);
    let name = policy.name.clone();
    let runs = vec![(policy, wave), (reference, reference_wave)];
    let report = wsdoctor_report::Report::new(
        "storm",
        vec![name],
        started_at,
        clock.elapsed(),
        findings,
        serde_json::json!({ "storm": { "scenario": scenario, "runs": runs } }),
    );
    let style = output::style(&args.output);
    let text = format!(
        "{}Findings\n{}\n{}\n",
        wsdoctor_report::text::reconnect_view::render_storm(&scenario, &runs, style),
        wsdoctor_report::render_findings(&report.findings, style),
        wsdoctor_report::verdict_line(report.verdict, &report.findings, style)
    );
    output::finish(&args.output, &report, &text, || {
        let series: Vec<_> = runs.iter().map(|(_, wave)| wave).collect();
        wsdoctor_report::html::storm_charts(&scenario, &series)
    })
}
