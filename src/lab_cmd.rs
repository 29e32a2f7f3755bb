//! `wsdoctor lab`: flags → `ProxyConfig` (plus an in-process `serve` when no
//! upstream is given), print the URL, run until Ctrl-C.

use crate::cli::parse_duration;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use wsdoctor_lab::{
    checked_time_scale, DiagServer, EndHow, LabProxy, ProxyConfig, ProxyFault, ServeConfig,
    UpstreamUrl, PRESETS, PROXY_FAULTS,
};

/// Arguments of `wsdoctor lab`.
#[derive(Debug, Args)]
pub(crate) struct LabArgs {
    /// Faults (`idle-timeout=60s`, `drop-pongs`, `inject-close=1012@30s`, …)
    /// or presets (`alb`, `nginx-default`, `nginx-no-upgrade`, `cloudflare`,
    /// `api-gateway`, `cloudfront`). `--list` shows them all.
    #[arg(value_name = "FAULT")]
    pub(crate) faults: Vec<String>,
    /// Address the proxy listens on.
    #[arg(long, default_value = "127.0.0.1:9002", value_name = "ADDR")]
    pub(crate) listen: SocketAddr,
    /// The WebSocket server to proxy to (`ws://host:port`); without it an
    /// in-process `wsdoctor serve` is started behind the proxy.
    #[arg(long, value_name = "URL")]
    pub(crate) upstream: Option<String>,
    /// How timers end a connection when a fault does not say:
    /// fin, rst, close-1001 or http-504.
    #[arg(long, value_name = "HOW")]
    pub(crate) how: Option<String>,
    /// Multiply the presets' durations (0.05 turns a 60 s idle timeout into 3 s).
    #[arg(long, default_value_t = 1.0, value_name = "FACTOR")]
    pub(crate) time_scale: f64,
    /// Ping interval of the in-process server; 0 disables.
    #[arg(long, value_parser = parse_duration, default_value = "0s", value_name = "DUR")]
    pub(crate) ping_interval: Duration,
    /// List the faults and presets, then exit.
    #[arg(long)]
    pub(crate) list: bool,
}

/// Does this fault text name how it ends (`idle-timeout=2s:rst`)?
fn names_how(text: &str) -> bool {
    text.split(':')
        .skip(1)
        .any(|part| part.parse::<EndHow>().is_ok())
}

/// The fault list from the positional arguments.
fn faults(args: &LabArgs) -> anyhow::Result<Vec<ProxyFault>> {
    let time_scale = checked_time_scale(args.time_scale)?;
    let how: Option<EndHow> = match &args.how {
        Some(text) => Some(text.parse().map_err(anyhow::Error::msg)?),
        None => None,
    };
    let mut out = Vec::new();
    for text in &args.faults {
        if let Some(preset) = ProxyFault::preset(text, time_scale) {
            out.extend(preset);
            continue;
        }
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let fault: ProxyFault = item.parse()?;
            let fault = match (how, names_how(item), fault) {
                (Some(how), false, ProxyFault::IdleTimeout { after, counts, .. }) => {
                    ProxyFault::IdleTimeout { after, how, counts }
                }
                (Some(how), false, ProxyFault::MaxLifetime { after, .. }) => {
                    ProxyFault::MaxLifetime { after, how }
                }
                (Some(how), false, ProxyFault::MassDisconnect { at, .. }) => {
                    ProxyFault::MassDisconnect { at, how }
                }
                (_, _, other) => other,
            };
            out.push(fault);
        }
    }
    Ok(out)
}

/// `ws://host:port[/…]` → a socket address.
async fn upstream_addr(url: &str) -> anyhow::Result<SocketAddr> {
    let upstream: UpstreamUrl = url.parse()?;
    let with_port = upstream.host_port();
    let mut addrs = tokio::net::lookup_host(with_port)
        .await
        .with_context(|| format!("resolving {with_port}"))?;
    addrs
        .next()
        .with_context(|| format!("{with_port} resolved to no address"))
}

#[allow(clippy::print_stdout)]
pub(crate) async fn run(args: LabArgs) -> anyhow::Result<u8> {
    if args.list {
        println!("faults: {PROXY_FAULTS}\n\npresets (durations scaled by --time-scale):");
        for (name, what) in PRESETS {
            println!("  {name:<17} {what}");
        }
        return Ok(0);
    }
    let faults = faults(&args)?;
    let (upstream, server, behind) = match &args.upstream {
        Some(url) => (upstream_addr(url).await?, None, url.clone()),
        None => {
            let server = DiagServer::start(ServeConfig {
                ping_interval: (!args.ping_interval.is_zero()).then_some(args.ping_interval),
                instance: "lab-serve".to_owned(),
                ..ServeConfig::default()
            })
            .await
            .context("starting the in-process server")?;
            let url = format!("{} (in-process wsdoctor serve)", server.url("/"));
            (server.addr(), Some(server), url)
        }
    };
    let proxy = LabProxy::start(ProxyConfig {
        listen: args.listen,
        upstream,
        faults: faults.clone(),
    })
    .await?;
    let list: Vec<String> = faults.iter().map(ToString::to_string).collect();
    crate::output::say(format_args!(
        "wsdoctor lab: proxy listening\n  point a client at  {}\n  upstream          {behind}\n  faults            {}\n  Ctrl-C stops",
        proxy.url("/ws"),
        if list.is_empty() { "none".to_owned() } else { list.join(", ") },
    ));
    let _ = tokio::signal::ctrl_c().await;
    proxy.shutdown().await;
    if let Some(server) = server {
        server.shutdown().await;
    }
    Ok(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        lab: LabArgs,
    }

    fn parse(argv: &[&str]) -> anyhow::Result<Vec<ProxyFault>> {
        let cli = Cli::try_parse_from(std::iter::once("lab").chain(argv.iter().copied()))?;
        faults(&cli.lab)
    }

    #[test]
    fn presets_scale_and_how_applies_where_unspecified() {
        let got = parse(&["alb", "--time-scale", "0.05"]).unwrap();
        assert_eq!(got[0].to_string(), "idle-timeout=3s:fin:both");
        let got = parse(&[
            "idle-timeout=2s",
            "max-lifetime=5s:rst",
            "--how",
            "close-1001",
        ])
        .unwrap();
        assert_eq!(got[0].to_string(), "idle-timeout=2s:close-1001:both");
        assert_eq!(got[1].to_string(), "max-lifetime=5s:rst");
        assert!(parse(&["bogus"]).is_err());
        assert!(parse(&["alb", "--time-scale", "0"]).is_err());
    }
}
