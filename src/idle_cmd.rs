//! `wsdoctor idle URL`: flags → `IdleConfig`, run, diagnose, render.

use std::time::{Duration, Instant, SystemTime};

use clap::Args;
use wsdoctor_evidence::idle::Arm;
use wsdoctor_sources::idle::{self as idle_source, IdleConfig};

use crate::cli::{parse_duration, ConnectArgs, OutputArgs};
use crate::connect::connect_options;
use crate::output::{self, Spinner};

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
    #[arg(long, value_delimiter = ',', default_value = "silent,ping,data", value_parser = str::parse::<Arm>)]
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
    #[arg(long, default_value = "auto", value_parser = crate::cli::parse_app, value_name = "PROTOCOL", long_help = crate::cli::APP_HELP)]
    pub(crate) app: wsdoctor_app::AppChoice,
    #[command(flatten)]
    pub(crate) fingerprint: crate::hop_probe::FingerprintArgs,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

fn idle_config(args: &IdleArgs) -> anyhow::Result<IdleConfig> {
    let mut config = IdleConfig::new(connect_options(&args.url, &args.connect)?);
    config.arms.clone_from(&args.arms);
    config.samples = args.samples;
    config.interval = args.interval;
    config.keepalive_message.clone_from(&args.keepalive_message);
    config.max = args.max;
    config.heartbeat_window = args.heartbeat_window;
    config.pair = !args.no_pairing;
    wsdoctor_sources::conn::app::prepare(&mut config.connect, args.app)?;
    Ok(config.validated()?)
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
    output::finish(&args.output, &report, &text, || {
        wsdoctor_report::html::idle_charts(
            &evidence,
            &wsdoctor_diagnosis::kb::known_idle_timeouts(),
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn arms_include_the_one_direction_ones() {
        assert_eq!(" inbound".parse::<Arm>(), Ok(Arm::Inbound));
        assert_eq!("outbound".parse::<Arm>(), Ok(Arm::Outbound));
        let err = "sideways".parse::<Arm>().unwrap_err().to_string();
        assert!(err.contains("inbound, outbound"), "{err}");
        let watch = crate::cli::parse_arm("inbound").unwrap_err().to_string();
        assert_eq!(
            watch,
            "'inbound' is not an arm; choose from silent, ping, data"
        );
    }
}
