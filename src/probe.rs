//! `wsdoctor probe`: flags → `ProbeConfig`, run, diagnose, render.

use std::time::{Duration, Instant, SystemTime};

use clap::Args;
use wsdoctor_diagnosis::Finding;
use wsdoctor_evidence::{HeartbeatSettings, PongPolicy, ProbeEvidence};
use wsdoctor_sources::probe::{self as probe_source, ProbeConfig};

use crate::cli::{parse_app, parse_duration, ConnectArgs, OutputArgs, APP_HELP};
use crate::connect::connect_options;
use crate::output::{self, Spinner};

#[derive(Debug, Args)]
pub(crate) struct ProbeArgs {
    /// WebSocket URL(s): ws://host:port/path or wss://…; several are compared side by side.
    #[arg(required = true, value_name = "URL")]
    pub(crate) urls: Vec<String>,
    /// How long to hold the connection open after the handshake.
    #[arg(long, value_parser = parse_duration, default_value = "10s", value_name = "DUR")]
    pub(crate) watch: Duration,
    /// Text message to send once open (repeatable; sent in order, one --send-every apart).
    #[arg(long = "send", value_name = "TEXT")]
    pub(crate) send: Vec<String>,
    /// Gap between --send messages.
    #[arg(long, value_parser = parse_duration, default_value = "500ms", value_name = "DUR")]
    pub(crate) send_every: Duration,
    /// Send our own WebSocket ping this often (default: never, to see what the server does).
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub(crate) ping_interval: Option<Duration>,
    /// A ping unanswered this long means the path is half-open.
    #[arg(long, value_parser = parse_duration, default_value = "10s", value_name = "DUR")]
    pub(crate) pong_timeout: Duration,
    /// Never answer the server's pings (emulates a dead client).
    #[arg(long, conflicts_with = "pong_delay")]
    pub(crate) no_pong: bool,
    /// Answer the server's pings only after this delay (emulates a slow path).
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub(crate) pong_delay: Option<Duration>,
    /// The application protocol on top, as its real client speaks it.
    #[arg(long, default_value = "auto", value_parser = parse_app, value_name = "PROTOCOL", long_help = APP_HELP)]
    pub(crate) app: wsdoctor_app::AppChoice,
    #[command(flatten)]
    pub(crate) fingerprint: crate::hop_probe::FingerprintArgs,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn probe_config(url: &str, args: &ProbeArgs) -> anyhow::Result<ProbeConfig> {
    let mut config = ProbeConfig::new(connect_options(url, &args.connect)?);
    config.watch = args.watch;
    config.messages.clone_from(&args.send);
    config.send_every = args.send_every;
    config.compare_http = args.connect.compare_http;
    wsdoctor_sources::conn::app::prepare(&mut config.connect, args.app)?;
    config.heartbeat = HeartbeatSettings {
        ping_interval_ms: args.ping_interval.map(millis),
        pong_timeout_ms: millis(args.pong_timeout),
        pong_policy: match (args.no_pong, args.pong_delay) {
            (true, _) => PongPolicy::Never,
            (false, Some(d)) => PongPolicy::Delay { ms: millis(d) },
            (false, None) => PongPolicy::Answer,
        },
    };
    Ok(config.validated()?)
}

/// Probes every target at once (a fair comparison sees the same moment).
pub(crate) async fn probe_all(configs: Vec<ProbeConfig>, spinner: &Spinner) -> Vec<ProbeEvidence> {
    let mut set = tokio::task::JoinSet::new();
    for (index, config) in configs.into_iter().enumerate() {
        let sink = spinner.sink();
        set.spawn(async move { (index, probe_source::run(&config, Some(sink)).await) });
    }
    let mut results = Vec::new();
    while let Some(joined) = set.join_next().await {
        if let Ok(result) = joined {
            results.push(result);
        }
    }
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, e)| e).collect()
}

/// Diagnoses each probe; with several targets each finding names its target.
pub(crate) fn diagnose(evidence: &[ProbeEvidence]) -> Vec<Vec<Finding>> {
    let labels = labels(evidence);
    evidence
        .iter()
        .zip(labels)
        .map(|(e, label)| {
            let mut findings = wsdoctor_diagnosis::diagnose_probe(e);
            if evidence.len() > 1 {
                for f in &mut findings {
                    f.subject.get_or_insert_with(|| label.clone());
                }
            }
            findings
        })
        .collect()
}

/// Each probe's name in a comparison: its target, and the node's address
/// when several probes share the target (`--resolve` per node).
fn labels(evidence: &[ProbeEvidence]) -> Vec<String> {
    evidence
        .iter()
        .map(|e| {
            let target = &e.connection.target;
            let shared = evidence
                .iter()
                .filter(|o| &o.connection.target == target)
                .count()
                > 1;
            if shared && !e.connection.resolved.is_empty() {
                format!("{target} at {}", e.connection.resolved.join(","))
            } else {
                target.clone()
            }
        })
        .collect()
}

pub(crate) async fn run(args: ProbeArgs) -> anyhow::Result<u8> {
    let mut configs = Vec::new();
    for url in &args.urls {
        let config = probe_config(url, &args)?;
        let target = &config.connect.target;
        // Several --resolve values for the URL's host: one probe per node.
        match config.connect.route.per_node(&target.host, target.port) {
            Some(routes) => configs.extend(routes.into_iter().map(|route| {
                let mut node = config.clone();
                node.connect.route = route;
                node
            })),
            None => configs.push(config),
        }
    }
    let started_at = SystemTime::now();
    let clock = Instant::now();
    let spinner = Spinner::new();
    let connects: Vec<wsdoctor_sources::conn::ConnectOptions> =
        configs.iter().map(|c| c.connect.clone()).collect();
    let mut evidence = probe_all(configs, &spinner).await;
    // One target after the other, after the probes: the fingerprint never
    // runs beside the connection it explains.
    for (e, connect) in evidence.iter_mut().zip(&connects) {
        e.hop_probe = crate::hop_probe::run_if_unknown(
            &args.fingerprint,
            connect,
            e.connection.handshake.as_ref(),
        )
        .await;
    }
    spinner.finish();
    let mut per_target = diagnose(&evidence);
    for (findings, e) in per_target.iter_mut().zip(&evidence) {
        crate::hop_probe::note(findings, e.hop_probe.as_ref());
    }

    let targets = labels(&evidence);
    let mut all: Vec<Finding> = per_target.iter().flatten().cloned().collect();
    wsdoctor_diagnosis::rank(&mut all);
    let observations = serde_json::json!({ "probes": evidence });
    let report = wsdoctor_report::Report::new(
        "probe",
        targets.clone(),
        started_at,
        clock.elapsed(),
        all,
        observations,
    );
    let style = output::style(&args.output);
    let text = if evidence.len() == 1 {
        wsdoctor_report::text::render_probe(&evidence[0], &per_target[0], style)
    } else {
        let items: Vec<(String, &ProbeEvidence, &[Finding])> = targets
            .iter()
            .zip(&evidence)
            .zip(&per_target)
            .map(|((label, e), f)| (label.clone(), e, f.as_slice()))
            .collect();
        wsdoctor_report::text::render_comparison(&items, style)
    };
    let text = format!(
        "{text}\n{}\n",
        wsdoctor_report::verdict_line(report.verdict, &report.findings, style)
    );
    output::finish(&args.output, &report, &text, || {
        wsdoctor_report::html::probe_charts(&evidence.iter().collect::<Vec<_>>())
    })
}
