//! `wsdoctor load URL -c N`: flags → `LoadConfig`, run, diagnose, render.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context};
use clap::Args;
use wsdoctor_sources::load::{self as load_source, LoadConfig};

use crate::args::{parse_duration, ConnectArgs, OutputArgs};
use crate::output::{self, Spinner};
use crate::probe::connect_options;

/// Arguments of `wsdoctor load`.
#[derive(Debug, Args)]
pub(crate) struct LoadArgs {
    /// The WebSocket URL to load.
    #[arg(value_name = "URL")]
    pub(crate) url: String,
    /// How many concurrent connections to reach.
    #[arg(short = 'c', long = "connections", value_name = "N")]
    pub(crate) connections: u64,
    /// New connections per second, at most.
    #[arg(long, default_value_t = 200.0, value_name = "R")]
    pub(crate) rate: f64,
    /// Connections added per step (default: a fifth of -c).
    #[arg(long, value_name = "N")]
    pub(crate) step: Option<u64>,
    /// Hold after each step before the next.
    #[arg(long, value_parser = parse_duration, default_value = "2s", value_name = "DUR")]
    pub(crate) step_hold: Duration,
    /// Hold after the last step.
    #[arg(long, value_parser = parse_duration, default_value = "10s", value_name = "DUR")]
    pub(crate) hold: Duration,
    /// Each connection sends a message this often (echo RTT is measured).
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub(crate) message_every: Option<Duration>,
    /// Message size in bytes.
    #[arg(long, default_value_t = 32, value_name = "B")]
    pub(crate) size: usize,
    /// Our own ping interval on every connection.
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub(crate) ping_interval: Option<Duration>,
    /// Local source addresses to spread connections over, e.g. 127.0.0.2-127.0.0.40.
    #[arg(long, value_name = "RANGE")]
    pub(crate) source_ips: Option<String>,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

/// `127.0.0.2-127.0.0.40` or a single address.
fn parse_ip_range(text: &str) -> anyhow::Result<Vec<IpAddr>> {
    let (first, last) = text.split_once('-').unwrap_or((text, text));
    let first: Ipv4Addr = first
        .trim()
        .parse()
        .with_context(|| format!("'{first}' is not an IPv4 address"))?;
    let last: Ipv4Addr = last
        .trim()
        .parse()
        .with_context(|| format!("'{last}' is not an IPv4 address"))?;
    let (a, b) = (u32::from(first), u32::from(last));
    if b < a || b - a > 1024 {
        bail!("--source-ips must be a range of 1 to 1025 addresses, first to last");
    }
    Ok((a..=b).map(|n| IpAddr::V4(Ipv4Addr::from(n))).collect())
}

fn load_config(args: &LoadArgs) -> anyhow::Result<LoadConfig> {
    if args.connections == 0 || args.connections > 1_000_000 {
        bail!("-c must be between 1 and 1000000");
    }
    if !(args.rate > 0.0 && args.rate <= 100_000.0) {
        bail!("--rate must be more than 0 and at most 100000 per second");
    }
    if args.size > 16 * 1024 * 1024 {
        bail!("--size is at most 16 MiB");
    }
    let mut config = LoadConfig::new(connect_options(&args.url, &args.connect)?, args.connections);
    config.rate = args.rate;
    if let Some(step) = args.step {
        if step == 0 {
            bail!("--step must be at least 1");
        }
        config.step = step;
    }
    config.step_hold = args.step_hold;
    config.hold = args.hold;
    config.message_every = args.message_every;
    config.message_size = args.size;
    config.ping_interval = args.ping_interval;
    if let Some(range) = &args.source_ips {
        config.source_ips = parse_ip_range(range)?;
    }
    Ok(config)
}

pub(crate) async fn run(args: LoadArgs) -> anyhow::Result<u8> {
    let config = load_config(&args)?;
    let started_at = SystemTime::now();
    let clock = Instant::now();
    let spinner = Spinner::new();
    let evidence = load_source::run(&config, Some(spinner.sink())).await;
    spinner.finish();
    let findings = wsdoctor_diagnosis::rules::load::diagnose_load(&evidence);
    let report = wsdoctor_report::Report::new(
        "load",
        vec![evidence.target.clone()],
        started_at,
        clock.elapsed(),
        findings,
        serde_json::json!({ "load": evidence }),
    );
    let style = output::style(&args.output);
    let text = format!(
        "{}{}\n",
        wsdoctor_report::text::load_view::render_load(&evidence, &report.findings, style),
        wsdoctor_report::verdict_line(report.verdict, &report.findings, style)
    );
    output::write_html(&args.output, &report, || {
        wsdoctor_report::html::load_charts(&evidence)
    })?;
    output::emit(&args.output, &report, &text).context("writing the report")?;
    Ok(u8::try_from(report.verdict.exit_code()).unwrap_or(1))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::parse_ip_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_ip_range("127.0.0.2-127.0.0.4").unwrap().len(), 3);
        assert_eq!(parse_ip_range("127.0.0.9").unwrap().len(), 1);
        assert!(parse_ip_range("127.0.0.9-127.0.0.2").is_err());
        assert!(parse_ip_range("10.0.0.0-10.1.0.0").is_err());
        assert!(parse_ip_range("nope").is_err());
    }
}
