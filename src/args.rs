//! The clap types. They stay in the binary; each command converts its
//! arguments into a validated library config.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    Probe(Box<ProbeArgs>),
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

/// Output options shared by every diagnosing command.
#[derive(Debug, Args, Clone)]
pub(crate) struct OutputArgs {
    /// Print the JSON report (wsdoctor.report/v1) alone on stdout.
    #[arg(long)]
    pub(crate) json: bool,
    /// Also write a self-contained HTML report (findings, charts and the text report) to FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) html: Option<PathBuf>,
    /// When to use colours (auto: only on a terminal, and never with NO_COLOR).
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    pub(crate) color: ColorWhen,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// How to reach the target; shared by every command that connects.
#[derive(Debug, Args, Clone)]
pub(crate) struct ConnectArgs {
    /// Extra request header, e.g. -H 'Authorization: Bearer …' (repeatable; secrets are redacted in output).
    #[arg(short = 'H', long = "header", value_name = "'NAME: VALUE'")]
    pub(crate) headers: Vec<String>,
    /// Origin header to send (browsers always send one; many servers check it).
    #[arg(long)]
    pub(crate) origin: Option<String>,
    /// Subprotocol to offer (repeatable, in order of preference).
    #[arg(long = "subprotocol", value_name = "NAME")]
    pub(crate) subprotocols: Vec<String>,
    /// Budget for DNS and TCP connect.
    #[arg(long, value_parser = parse_duration, default_value = "10s", value_name = "DUR")]
    pub(crate) connect_timeout: Duration,
    /// Do not verify the server's TLS certificate (the connection is still encrypted).
    #[arg(long)]
    pub(crate) insecure: bool,
    /// Also trust the CA certificate(s) in this PEM file.
    #[arg(long, value_name = "FILE")]
    pub(crate) ca_cert: Option<PathBuf>,
    /// Open the WebSocket over HTTP/2 (RFC 8441 extended CONNECT), as browsers do:
    /// ALPN h2 for wss:// (HTTP/1.1 if the server picks it), h2c prior knowledge for ws://.
    #[arg(long, conflicts_with = "http1")]
    pub(crate) http2: bool,
    /// Use the HTTP/1.1 upgrade only (the default).
    #[arg(long)]
    pub(crate) http1: bool,
    /// probe: open the WebSocket both ways at once (HTTP/1.1 upgrade and HTTP/2
    /// extended CONNECT) and compare them; other commands ignore it.
    #[arg(long, conflicts_with_all = ["http1", "http2"])]
    pub(crate) compare_http: bool,
    /// Go through this forward proxy: http://[user:pass@]host:port (HTTP CONNECT),
    /// socks5:// or socks5h://. Default: HTTPS_PROXY / HTTP_PROXY / ALL_PROXY minus NO_PROXY, as curl.
    #[arg(long, value_name = "URL")]
    pub(crate) proxy: Option<String>,
    /// Ignore the proxy environment variables and connect directly.
    #[arg(long, conflicts_with = "proxy")]
    pub(crate) no_proxy: bool,
    /// Offer permessage-deflate (RFC 7692), as browsers do, and report what the server
    /// agreed (window bits, context takeover) and how much it compressed.
    #[arg(long)]
    pub(crate) deflate: bool,
    /// Client certificate (PEM, with its chain) for servers that require one (mutual TLS).
    #[arg(long, value_name = "FILE", requires = "key")]
    pub(crate) cert: Option<PathBuf>,
    /// The private key of --cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub(crate) key: Option<PathBuf>,
    /// Connect to ADDR(s) instead of resolving HOST for PORT, as curl does (repeatable;
    /// SNI and Host stay the URL's). probe: several for the URL's host compare the nodes.
    #[arg(long, value_name = "HOST:PORT:ADDR[,ADDR]", value_parser = parse_resolve)]
    pub(crate) resolve: Vec<wsdoctor_sources::conn::route::Resolve>,
    /// Connect to HOST2:PORT2 instead of HOST:PORT, as curl does (repeatable; an empty
    /// part means any or unchanged; SNI and Host stay the URL's).
    #[arg(long, value_name = "HOST:PORT:HOST2:PORT2", value_parser = parse_connect_to)]
    pub(crate) connect_to: Vec<wsdoctor_sources::conn::route::ConnectTo>,
    /// Use IPv4 addresses only.
    #[arg(short = '4', long = "ipv4", conflicts_with = "ipv6")]
    pub(crate) ipv4: bool,
    /// Use IPv6 addresses only.
    #[arg(short = '6', long = "ipv6")]
    pub(crate) ipv6: bool,
}

/// A `--resolve` value.
fn parse_resolve(text: &str) -> Result<wsdoctor_sources::conn::route::Resolve, String> {
    text.parse()
        .map_err(|e: wsdoctor_sources::conn::RouteError| e.to_string())
}

/// A `--connect-to` value.
fn parse_connect_to(text: &str) -> Result<wsdoctor_sources::conn::route::ConnectTo, String> {
    text.parse()
        .map_err(|e: wsdoctor_sources::conn::RouteError| e.to_string())
}

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

/// The one duration syntax of every flag (`500ms`, `25s`, `10m`).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    wsdoctor_evidence::parse_duration(text).map_err(|e| e.to_string())
}

/// `--app`'s help, shared by the commands that speak application protocols.
pub(crate) const APP_HELP: &str = "The application protocol on top, as its real client speaks it: \
auto (default: decided from the URL path, e.g. /socket.io/, the subprotocol offered or chosen, \
and the server's first message; the report says which and why), raw (speak none, only \
recognise one to explain what the server did), socketio, graphql-transport-ws, graphql-ws, \
signalr, phoenix, actioncable, stomp, mqtt.";

/// A `--app` value.
pub(crate) fn parse_app(text: &str) -> Result<wsdoctor_app::AppChoice, String> {
    text.parse()
        .map_err(|e: wsdoctor_app::UnknownApp| e.to_string())
}

/// A watch arm: `silent`, `ping`, `data` (the ones any server feeds).
pub(crate) fn parse_arm(
    text: &str,
) -> Result<wsdoctor_evidence::idle::Arm, wsdoctor_evidence::idle::UnknownArm> {
    use wsdoctor_evidence::idle::Arm;
    Arm::parse_among(text, &Arm::ANY_SERVER)
}
