//! The clap types. They stay in the binary; each command converts its
//! arguments into a validated library config. Only this module (and
//! `main`) names the commands; what several commands share is in `cli`.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::cli::{parse_duration, ColorWhen, OutputArgs};

/// Find out why WebSocket connections drop, fail to connect, or set off
/// reconnect storms — and how to fix it.
#[derive(Debug, Parser)]
#[command(name = "wsdoctor", version, about, long_about = None)]
#[command(
    after_help = "Exit status: 0 healthy, 1 problems found, 2 the command could not run.\nDurations are written 500ms, 25s, 10m."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Connect, hold the connection, and diagnose how it behaves and ends.
    Probe(Box<crate::probe::ProbeArgs>),
    /// Explain a close code (1006), a finding id (idle-timeout) or a product (aws-alb).
    Explain(ExplainArgs),
    /// Run wsdoctor against a built-in lab that misbehaves on purpose.
    Demo(DemoArgs),
    /// Measure the idle timeout of a path, and which traffic keeps it open.
    Idle(Box<crate::idle_cmd::IdleArgs>),
    /// Ramp connections up in steps until something breaks, and say what broke.
    Load(Box<crate::load_cmd::LoadArgs>),
    /// Merge the results of `load --shard I/N` runs into the whole ramp's, exactly.
    Merge(Box<crate::merge_cmd::MergeArgs>),
    /// Keep connections open for days, classify every drop, export Prometheus metrics.
    Watch(Box<crate::watch_cmd::WatchArgs>),
    /// Point your client at this server: it drops connections and measures how the client comes back.
    Reconnect(Box<crate::reconnect_cmd::ReconnectArgs>),
    /// The reconnect wave a server sees after an outage, for a client policy.
    Storm(Box<crate::storm_cmd::StormArgs>),
    /// Watch message flow: tell a stalled handler from a dead connection.
    Flow(Box<crate::flow_cmd::FlowArgs>),
    /// Read proxy and load-balancer configs and find what will drop WebSockets.
    Lint(Box<crate::lint_cmd::LintArgs>),
    /// Find drop patterns in access logs, error logs and HAR files.
    Logs(Box<crate::logs_cmd::LogsArgs>),
    /// A diagnostic WebSocket server to put behind your proxies.
    Serve(Box<crate::serve_cmd::ServeArgs>),
    /// A WebSocket-aware proxy that injects the runbook's failures.
    Lab(Box<crate::lab_cmd::LabArgs>),
    /// Print a shell completion script: bash, zsh, fish, powershell or elvish.
    Completions(crate::completions_cmd::CompletionsArgs),
    /// Print the man page (roff), or write one page per command with --dir.
    Man(crate::completions_cmd::ManArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ExplainArgs {
    /// A close code (1000–4999), a finding id such as idle-timeout, or a product such as aws-alb or nginx.
    #[arg(value_name = "CODE")]
    pub(crate) code: String,
    /// Print the explanation as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// When to use colours.
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    pub(crate) color: ColorWhen,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// How long each demo connection is watched.
    #[arg(long, value_parser = parse_duration, default_value = "3s", value_name = "DUR")]
    pub(crate) watch: Duration,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}
