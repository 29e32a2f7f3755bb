//! `wsdoctor watch URL…`: the canary. Flags → `WatchConfig`; runs until
//! `--duration` or Ctrl-C/SIGTERM; prints findings as they change, serves
//! `/metrics`, appends `--events`; ends with the full report.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use clap::Args;
use tokio::sync::{mpsc, watch};
use wsdoctor_diagnosis::Finding;
use wsdoctor_evidence::idle::Arm;
use wsdoctor_evidence::watch::{WatchAnswer, WatchEvidence};
use wsdoctor_evidence::HandshakeRecord;
use wsdoctor_sources::watch::{self as watch_source, WatchConfig, WatchEvent, WatchState};

use crate::cli::{parse_arm, parse_duration, ConnectArgs, OutputArgs};
use crate::connect::connect_options;
use crate::output;

/// Arguments of `wsdoctor watch`.
#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// WebSocket URL(s) to keep connections open to.
    #[arg(required = true, value_name = "URL")]
    pub(crate) urls: Vec<String>,
    /// Connections per URL, spread over the arms in turn.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub(crate) conns: u32,
    /// silent, ping, data.
    #[arg(long, value_delimiter = ',', default_value = "silent,ping", value_parser = parse_arm)]
    pub(crate) arms: Vec<Arm>,
    /// How often the ping and data arms send.
    #[arg(long, value_parser = parse_duration, default_value = "20s", value_name = "DUR")]
    pub(crate) interval: Duration,
    /// The server sends messages at least this often; longer silence with pongs still flowing is a stall.
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub(crate) expect_every: Option<Duration>,
    /// Serve Prometheus metrics on this address (/metrics, /healthz).
    #[arg(long, value_name = "ADDR")]
    pub(crate) metrics: Option<SocketAddr>,
    /// Append every drop, stall and failed reconnect to this file as JSON Lines.
    #[arg(long, value_name = "FILE")]
    pub(crate) events: Option<PathBuf>,
    /// Stop after this long (default: until Ctrl-C or SIGTERM).
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub(crate) duration: Option<Duration>,
    /// How far back the rolling findings look.
    #[arg(long, value_parser = parse_duration, default_value = "1h", value_name = "DUR")]
    pub(crate) window: Duration,
    /// First reconnect delay ceiling (full-jitter exponential backoff).
    #[arg(long, value_parser = parse_duration, default_value = "1s", value_name = "DUR")]
    pub(crate) backoff: Duration,
    /// Largest reconnect delay.
    #[arg(long, value_parser = parse_duration, default_value = "60s", value_name = "DUR")]
    pub(crate) backoff_max: Duration,
    /// Response header that names the server instance, to check that one
    /// client's reconnects stay on one instance (sticky sessions).
    #[arg(long, default_value = wsdoctor_sources::watch::DEFAULT_INSTANCE_HEADER, value_name = "NAME")]
    pub(crate) instance_header: String,
    /// The application protocol on top, spoken by every connection (the
    /// data arm sends the protocol's own keepalive): a Socket.IO server
    /// closes a connection that does not answer its pings.
    #[arg(long, default_value = "auto", value_parser = crate::cli::parse_app, value_name = "PROTOCOL", long_help = crate::cli::APP_HELP)]
    pub(crate) app: wsdoctor_app::AppChoice,
    #[command(flatten)]
    pub(crate) fingerprint: crate::hop_probe::FingerprintArgs,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

fn watch_config(args: &WatchArgs) -> anyhow::Result<WatchConfig> {
    let targets = args
        .urls
        .iter()
        .map(|u| {
            let mut options = connect_options(u, &args.connect)?;
            wsdoctor_sources::conn::app::prepare(&mut options, args.app)?;
            Ok(options)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut config = WatchConfig::new(targets);
    config.conns = args.conns;
    config.arms = args.arms.clone();
    config.interval = args.interval;
    config.expect_every = args.expect_every;
    config.backoff_base = args.backoff;
    config.backoff_cap = args.backoff_max;
    config.instance_header.clone_from(&args.instance_header);
    Ok(config.validated()?)
}

/// Appends one JSON line, reopening the file each time so log rotation by
/// rename just works.
fn append_event(path: &PathBuf, line: &serde_json::Value) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot append to {}", path.display()))?;
    writeln!(file, "{line}").with_context(|| format!("cannot append to {}", path.display()))
}

fn event_line(event: &WatchEvent) -> Option<serde_json::Value> {
    match event {
        WatchEvent::Dropped(d) => Some(
            serde_json::json!({ "event": if d.opened { "drop" } else { "reconnect-failed" }, "drop": d }),
        ),
        WatchEvent::Stalled(s) => Some(serde_json::json!({ "event": "stall", "stall": s })),
        _ => None,
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// What has to change for a finding to be printed again: its cause and how
/// many connections it covers (not its title, which names the window).
fn summary(findings: &[Finding]) -> Vec<(String, Option<u64>)> {
    findings
        .iter()
        .map(|f| (f.id.as_str().to_owned(), f.measured.connections_affected))
        .collect()
}

pub(crate) async fn run(args: WatchArgs) -> anyhow::Result<u8> {
    let config = watch_config(&args)?;
    let state = Arc::new(Mutex::new(WatchState::new(&config, args.window)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (events_tx, mut events_rx) = mpsc::unbounded_channel();
    let started_at = SystemTime::now();
    let clock = Instant::now();
    let say = |line: String| {
        if !args.output.json {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{line}");
            let _ = stdout.flush();
        }
    };
    if let Some(addr) = args.metrics {
        let (bound, _task) = watch_source::serve_metrics(addr, Arc::clone(&state), stop_rx.clone())
            .await
            .with_context(|| format!("cannot serve metrics on {addr}"))?;
        say(format!("metrics on http://{bound}/metrics"));
    }
    say(format!(
        "watching {} with {} connection(s); Ctrl-C ends the watch and prints the report",
        args.urls
            .iter()
            .map(|u| wsdoctor_evidence::redact_url(u))
            .collect::<Vec<_>>()
            .join(", "),
        config.slots().len()
    ));
    let targets = config.targets.clone();
    let runner = tokio::spawn(watch_source::run(config, events_tx, stop_rx));
    let deadline = args.duration.map(|d| tokio::time::Instant::now() + d);
    let mut ticker = tokio::time::interval(Duration::from_secs(2));
    let mut shown: Vec<(String, Option<u64>)> = Vec::new();
    let signal = shutdown_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            Some(event) = events_rx.recv() => {
                if let (Some(path), Some(line)) = (&args.events, event_line(&event)) {
                    append_event(path, &line)?;
                }
                if let Ok(mut s) = state.lock() {
                    s.apply(event);
                }
            }
            _ = ticker.tick() => {
                let now_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
                let findings = {
                    let Ok(mut s) = state.lock() else { continue };
                    s.expire(now_ms);
                    let findings = wsdoctor_diagnosis::rules::watch::diagnose_watch(&s.evidence(now_ms));
                    let current: Vec<(String, String)> = findings.iter().map(|f| (f.id.as_str().to_owned(), format!("{:?}", f.severity).to_lowercase())).collect();
                    s.metrics.set_findings(&current);
                    findings
                };
                let now = summary(&findings);
                if now != shown {
                    let stamp = wsdoctor_sources::conn::rfc3339_from_unix(
                        SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
                    );
                    for (f, key) in findings.iter().zip(&now).filter(|(_, key)| !shown.contains(key)) {
                        say(format!("{stamp} {}: {}", key.0, wsdoctor_evidence::escape_peer(&f.title)));
                    }
                    shown = now;
                }
            }
            () = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => break,
            () = &mut signal => break,
        }
    }
    let _ = stop_tx.send(true);
    let _ = runner.await;
    while let Ok(event) = events_rx.try_recv() {
        if let Ok(mut s) = state.lock() {
            s.apply(event);
        }
    }
    let now_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (mut evidence, answers) = state
        .lock()
        .map(|s| {
            let answers: Vec<_> = (0..targets.len()).map(|i| s.answer(i).cloned()).collect();
            (s.evidence(now_ms), answers)
        })
        .map_err(|_| anyhow::anyhow!("watch state lock poisoned"))?;
    // After the watch, never during it: the hops no header named.
    evidence.hop_probes =
        crate::hop_probe::after_watch(&args.fingerprint, &targets, &answers, &evidence.targets)
            .await;
    evidence.first_answers = first_answers(&evidence.targets, answers);
    let findings = wsdoctor_diagnosis::rules::watch::diagnose_watch(&evidence);
    let observation = watch_observation(&evidence);
    let report = wsdoctor_report::Report::new(
        "watch",
        evidence.targets.clone(),
        started_at,
        clock.elapsed(),
        findings,
        serde_json::json!({ "watch": observation }),
    );
    let style = output::style(&args.output);
    let text = format!(
        "\n{}Findings over the watch\n{}\n{}\n",
        wsdoctor_report::text::watch_view::render_watch_drops(&evidence, style),
        wsdoctor_report::render_findings(&report.findings, style),
        wsdoctor_report::verdict_line(report.verdict, &report.findings, style)
    );
    output::finish(&args.output, &report, &text, || {
        wsdoctor_report::html::watch_charts(
            &evidence,
            &wsdoctor_diagnosis::kb::known_idle_timeouts(),
        )
    })
}

/// The report's `observations.watch`: the evidence, and the targets the
/// diagnosis found behind an unidentified hop as `behind_unknown_hop` (in
/// the report schema since the evidence carried that verdict itself).
fn watch_observation(evidence: &WatchEvidence) -> serde_json::Value {
    let mut observation = serde_json::json!(evidence);
    let behind = wsdoctor_diagnosis::rules::watch::behind_unknown_hop(evidence);
    if let (false, Some(fields)) = (behind.is_empty(), observation.as_object_mut()) {
        fields.insert("behind_unknown_hop".to_owned(), behind.into());
    }
    observation
}

/// Each target's first answer (`answers` in the order of `targets`), for
/// the targets that answered.
fn first_answers(targets: &[String], answers: Vec<Option<HandshakeRecord>>) -> Vec<WatchAnswer> {
    targets
        .iter()
        .zip(answers)
        .filter_map(|(target, answer)| {
            Some(WatchAnswer {
                target: target.clone(),
                answer: answer?,
            })
        })
        .collect()
}
