//! `wsdoctor flow URL`: flags → `FlowConfig`, watch, diagnose, render.

use std::time::{Duration, Instant, SystemTime};

use clap::Args;
use wsdoctor_sources::flow::{self as flow_source, FlowConfig};

use crate::cli::{parse_duration, ConnectArgs, OutputArgs};
use crate::connect::connect_options;
use crate::output;

/// Arguments of `wsdoctor flow`.
#[derive(Debug, Args)]
pub(crate) struct FlowArgs {
    /// The WebSocket URL whose message flow to watch.
    #[arg(value_name = "URL")]
    pub(crate) url: String,
    /// The server sends a message at least this often; longer silence while pongs still come back is a stalled handler.
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub(crate) expect_every: Duration,
    /// A text message to send (a subscription or request that makes the server talk).
    #[arg(long, value_name = "TEXT")]
    pub(crate) send: Option<String>,
    /// Send --send again this often (default: once).
    #[arg(long, value_parser = parse_duration, value_name = "DUR", requires = "send")]
    pub(crate) every: Option<Duration>,
    /// Stop after this long when nothing stalls.
    #[arg(long, value_parser = parse_duration, default_value = "60s", value_name = "DUR")]
    pub(crate) max: Duration,
    /// The application protocol on top, spoken as its real client does:
    /// its heartbeats are answered, and only its data messages (a Socket.IO
    /// event, a GraphQL next) count as the flow.
    #[arg(long, default_value = "auto", value_parser = crate::cli::parse_app, value_name = "PROTOCOL", long_help = crate::cli::APP_HELP)]
    pub(crate) app: wsdoctor_app::AppChoice,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

fn flow_config(args: &FlowArgs) -> anyhow::Result<FlowConfig> {
    let mut config = FlowConfig::new(
        connect_options(&args.url, &args.connect)?,
        args.expect_every,
    );
    config.max = args.max;
    // Without --every the message goes once: its "next" is after the run.
    config.send = args.send.clone().map(|text| {
        (
            text,
            args.every.unwrap_or(args.max + Duration::from_secs(1)),
        )
    });
    wsdoctor_sources::conn::app::prepare(&mut config.connect, args.app)?;
    Ok(config.validated()?)
}

pub(crate) async fn run(args: FlowArgs) -> anyhow::Result<u8> {
    let config = flow_config(&args)?;
    let started_at = SystemTime::now();
    let clock = Instant::now();
    let evidence = flow_source::run(&config).await;
    let findings = wsdoctor_diagnosis::rules::reconnect::diagnose_flow(&evidence);
    let report = wsdoctor_report::Report::new(
        "flow",
        vec![evidence.target.clone()],
        started_at,
        clock.elapsed(),
        findings,
        serde_json::json!({ "flow": evidence }),
    );
    let style = output::style(&args.output);
    let text = format!(
        "{}{}\n",
        wsdoctor_report::text::reconnect_view::render_flow(&evidence, &report.findings, style),
        wsdoctor_report::verdict_line(report.verdict, &report.findings, style)
    );
    output::finish(&args.output, &report, &text, Vec::new)
}
