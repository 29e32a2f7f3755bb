//! The argument types and value parsers that several commands share:
//! output and connection flags, durations, `--app`, watch arms. Imports no
//! command, so every command (and `output`) can use it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

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

/// The one duration syntax of every flag (`500ms`, `25s`, `10m`).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    wsdoctor_evidence::parse_duration(text).map_err(|e| e.to_string())
}

/// `--app`'s help, shared by the commands that speak application protocols.
pub(crate) const APP_HELP: &str = "The application protocol on top, as its real client speaks it: \
auto (default: decided from the URL path, e.g. /socket.io/, the subprotocol offered or chosen, \
and the server's first message; the report says which and why), raw (speak none, only \
recognise one to explain what the server did), socketio, graphql-transport-ws, graphql-ws, \
signalr, phoenix, actioncable, stomp, mqtt (3.1.1), mqtt5. STOMP and MQTT log in with the URL's \
user (ws://USER@host/…) and the password from $WSDOCTOR_APP_PASSWORD (or ws://USER:PASS@…); \
both are redacted in every output.";

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
