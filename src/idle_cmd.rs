//! `wsdoctor idle URL`: flags → `IdleConfig`, run, diagnose, render.

use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context};
use clap::Args;
use wsdoctor_evidence::idle::Arm;
use wsdoctor_sources::idle::{self as idle_source, IdleConfig};

use crate::args::{parse_duration, ConnectArgs, OutputArgs};
use crate::output::{self, Spinner};
use crate::probe::connect_options;

/// Arguments of `wsdoctor idle`.
#[derive(Debug, Args)]
pub(crate) struct IdleArgs {
    /// The WebSocket URL whose path to measure.
    #[arg(value_name = "URL")]
    pub(crate) url: String,
    /// Which connections to run side by side: silent, ping, data, and,
    /// against a `wsdoctor serve` (behind your proxies), inbound (only the
    /// server sends) and outbound (only the client sends) to find timers
    /// that count one direction.
    #[arg(long, value_delimiter = ',', default_value = "silent,ping,data", value_parser = parse_idle_arm)]
    pub(crate) arms: Vec<Arm>,
    /// Connections per arm, all started together.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub(crate) samples: u32,
    /// How often the ping and data arms send.
    #[arg(long, value_parser = parse_duration, default_value = "1s", value_name = "DUR")]
    pub(crate) interval: Duration,
    /// What the data arm sends (some paths, like AWS API Gateway, ignore pings).
    #[arg(long, default_value = "wsdoctor keepalive", value_name = "TEXT")]
    pub(crate) keepalive_message: String,
    /// Give up waiting for a drop after this long.
    #[arg(long, value_parser = parse_duration, default_value = "10m", value_name = "DUR")]
    pub(crate) max: Duration,
    /// Once the timer is certain, keep the connections that survived it
    /// open until this age of the run (at most --max) to see the server's
    /// own pings: a heartbeat slower than the timer is told apart from none.
    /// The default outlasts the 20–30 s that server libraries ping at.
    #[arg(long, value_parser = parse_duration, default_value = "35s", value_name = "DUR")]
    pub(crate) heartbeat_window: Duration,
    /// Do not tag connections (`X-Wsdoctor-Conn-Id`) nor ask a `wsdoctor
    /// serve` target afterwards how it saw them end.
    #[arg(long)]
    pub(crate) no_pairing: bool,
    /// The application protocol on top, spoken by every arm (the data arm
    /// sends the protocol's own keepalive).
    #[arg(long, default_value = "auto", value_parser = crate::args::parse_app, value_name = "PROTOCOL", long_help = crate::args::APP_HELP)]
    pub(crate) app: wsdoctor_app::AppChoice,
    #[command(flatten)]
    pub(crate) fingerprint: crate::hop_probe::FingerprintArgs,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

/// An idle arm: the watch's three, plus the one-direction arms that only a
/// `wsdoctor serve` can feed.
fn parse_idle_arm(text: &str) -> Result<Arm, String> {
    match text.trim() {
        "silent" => Ok(Arm::Silent),
        "ping" => Ok(Arm::Ping),
        "data" => Ok(Arm::Data),
        "inbound" => Ok(Arm::Inbound),
        "outbound" => Ok(Arm::Outbound),
        other => Err(format!(
            "'{other}' is not an arm; choose from silent, ping, data, inbound, outbound"
        )),
    }
}

fn idle_config(args: &IdleArgs) -> anyhow::Result<IdleConfig> {
    if args.samples == 0 || args.samples > 50 {
        bail!("--samples must be between 1 and 50");
    }
    if args.interval < Duration::from_millis(50) {
        bail!("--interval must be at least 50ms");
    }
    if args.max < Duration::from_secs(1) || args.max > Duration::from_secs(24 * 3600) {
        bail!("--max must be between 1s and 24h");
    }
    let mut arms = args.arms.clone();
    arms.sort_unstable();
    arms.dedup();
    let mut config = IdleConfig::new(connect_options(&args.url, &args.connect)?);
    config.arms = arms;
    config.samples = args.samples;
    config.interval = args.interval;
    config.keepalive_message.clone_from(&args.keepalive_message);
    config.max = args.max;
    config.heartbeat_window = args.heartbeat_window.min(args.max);
    config.pair = !args.no_pairing;
    wsdoctor_sources::conn::app::prepare(&mut config.connect, args.app)?;
    // The handshake must not eat the budget of a short experiment.
    config.connect.handshake_timeout = config.connect.handshake_timeout.min(args.max);
    Ok(config)
}

pub(crate) async fn run(args: IdleArgs) -> anyhow::Result<u8> {
    let config = idle_config(&args)?;
    let started_at = SystemTime::now();
    let clock = Instant::now();
    let spinner = Spinner::new();
    let mut evidence = idle_source::run(&config, Some(spinner.sink())).await;
    let handshake = evidence
        .samples
        .iter()
        .find_map(|s| s.connection.handshake.as_ref());
    evidence.hop_probe =
        crate::hop_probe::run_if_unknown(&args.fingerprint, &config.connect, handshake).await;
    spinner.finish();
    let mut findings = wsdoctor_diagnosis::rules::idle::diagnose_idle(&evidence);
    crate::hop_probe::note(&mut findings, evidence.hop_probe.as_ref());
    let report = wsdoctor_report::Report::new(
        "idle",
        vec![evidence.target.clone()],
        started_at,
        clock.elapsed(),
        findings,
        serde_json::json!({ "idle": evidence }),
    );
    let style = output::style(&args.output);
    let text = format!(
        "{}{}\n",
        wsdoctor_report::text::idle_view::render_idle(&evidence, &report.findings, style),
        wsdoctor_report::verdict_line(report.verdict, &report.findings, style)
    );
    output::write_html(&args.output, &report, Some(&text), || {
        wsdoctor_report::html::idle_charts(
            &evidence,
            &wsdoctor_diagnosis::kb::known_idle_timeouts(),
        )
    })?;
    output::emit(&args.output, &report, &text).context("writing the report")?;
    Ok(u8::try_from(report.verdict.exit_code()).unwrap_or(1))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn arms_include_the_one_direction_ones() {
        assert_eq!(parse_idle_arm(" inbound"), Ok(Arm::Inbound));
        assert_eq!(parse_idle_arm("outbound"), Ok(Arm::Outbound));
        let err = parse_idle_arm("sideways").unwrap_err();
        assert!(err.contains("inbound, outbound"), "{err}");
    }
}
