//! `wsdoctor serve`: flags → `ServeConfig`, run until Ctrl-C, print one line
//! per finished connection and write the server's records as JSON Lines.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use wsdoctor_lab::{DiagServer, Fault, ServeConfig, ServeEvent};

/// Arguments of `wsdoctor serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (loopback unless you say otherwise).
    #[arg(long, default_value = "127.0.0.1:9001", value_name = "ADDR")]
    pub(crate) listen: SocketAddr,
    /// Push a numbered `tick N` message on this period (for flow checks).
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub(crate) tick: Option<Duration>,
    /// How often to ping each client; 0 disables (the runbook's fix is 30 s).
    #[arg(long, value_parser = parse_duration, default_value = "30s", value_name = "DUR")]
    pub(crate) ping_interval: Duration,
    /// How long a ping may go unanswered before the client counts as gone.
    #[arg(long, value_parser = parse_duration, default_value = "10s", value_name = "DUR")]
    pub(crate) pong_timeout: Duration,
    /// Instance name, in a response header and the greeting (default: random).
    #[arg(long, value_name = "NAME")]
    pub(crate) instance: Option<String>,
    /// Misbehave for every connection, e.g. `close:1011:30s`, `no-pong`,
    /// `rst:10s`, `fin:10s` (a connection's `?fault=` replaces these).
    #[arg(long = "fault", value_name = "FAULTS")]
    pub(crate) faults: Vec<String>,
    /// Do not send the JSON greeting as the first message.
    #[arg(long)]
    pub(crate) no_greeting: bool,
    /// Write the server's view of each finished connection to FILE (JSON Lines).
    #[arg(long, value_name = "FILE")]
    pub(crate) events: Option<PathBuf>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    wsdoctor_evidence::parse_duration(text).map_err(|e| e.to_string())
}

/// A short random instance name, so two servers behind one balancer differ.
fn random_instance() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("serve-{:04x}", (nanos ^ std::process::id()) & 0xffff)
}

fn config(args: &ServeArgs) -> anyhow::Result<ServeConfig> {
    let mut faults = Vec::new();
    for text in &args.faults {
        faults.extend(Fault::parse_list(text)?);
    }
    Ok(ServeConfig {
        listen: args.listen,
        instance: args.instance.clone().unwrap_or_else(random_instance),
        ping_interval: (!args.ping_interval.is_zero()).then_some(args.ping_interval),
        pong_timeout: args.pong_timeout,
        tick: args.tick.filter(|d| !d.is_zero()),
        greet: !args.no_greeting,
        faults,
        events: true,
        ..ServeConfig::default()
    })
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<u8> {
    let config = config(&args)?;
    let instance = config.instance.clone();
    let mut log = match &args.events {
        Some(path) => Some(BufWriter::new(
            File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => None,
    };
    let mut server = DiagServer::start(config).await?;
    let mut events = server
        .take_events()
        .context("the server gave no event channel")?;
    eprintln!(
        "wsdoctor serve: listening, instance {instance}\n  point a client at  {}\n  what arrived      curl {}\n  Ctrl-C stops (every connection gets a close frame 1001)",
        server.url("/ws"),
        server.url("/whoami").replacen("ws://", "http://", 1),
    );
    let mut server = Some(server);
    let mut stopping = None;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => write_event(&event, log.as_mut())?,
                // Every connection task is gone after the shutdown.
                None => break,
            },
            _ = tokio::signal::ctrl_c(), if server.is_some() => {
                eprintln!("wsdoctor serve: stopping, closing connections with 1001");
                // Records keep arriving while the connections close.
                if let Some(server) = server.take() {
                    stopping = Some(tokio::spawn(server.shutdown()));
                }
            }
        }
    }
    if let Some(task) = stopping {
        let _ = task.await;
    }
    if let Some(log) = &mut log {
        log.flush().context("writing the event log")?;
    }
    Ok(0)
}

#[allow(clippy::print_stdout)]
fn write_event(event: &ServeEvent, log: Option<&mut BufWriter<File>>) -> anyhow::Result<()> {
    println!(
        "{}",
        wsdoctor_report::text::serve_view::connection_line(&event.client, &event.connection)
    );
    if let Some(log) = log {
        serde_json::to_writer(&mut *log, event).context("writing the event log")?;
        log.write_all(b"\n").context("writing the event log")?;
        // Flushed per record so `tail -f` and a crash both see every line.
        log.flush().context("writing the event log")?;
    }
    Ok(())
}
