//! `wsdoctor serve`: flags → `ServeConfig`, run until Ctrl-C, print one line
//! per finished connection and write the server's records as JSON Lines.

use crate::cli::parse_duration;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use wsdoctor_lab::{DiagServer, Fault, LabTls, ServeConfig, ServeEvent};

use crate::output;
use crate::serve_procs;

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
    /// Also speak HTTP/2 with WebSockets by extended CONNECT (RFC 8441): h2c
    /// prior knowledge on ws://, ALPN h2 with --tls-cert or --self-signed.
    #[arg(long)]
    pub(crate) http2: bool,
    /// Faults for HTTP/2 extended CONNECTs only, e.g. `status:501`: advertise
    /// WebSockets over HTTP/2, then refuse them (a request's `h2-fault=` replaces these).
    #[arg(long = "h2-fault", value_name = "FAULTS", requires = "http2")]
    pub(crate) h2_faults: Vec<String>,
    /// Serve wss:// with this PEM certificate chain (needs --tls-key).
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        conflicts_with = "self_signed"
    )]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// Accept on N processes sharing the port (SO_REUSEPORT): one process
    /// holds at most its open-file limit of connections (20,000 here).
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(crate) procs: u16,
    /// Internal: this process is worker I of a `serve --procs` group.
    #[arg(long, hide = true, value_name = "I")]
    pub(crate) worker: Option<usize>,
    /// Serve wss:// with a fresh self-signed certificate for localhost and
    /// 127.0.0.1, written to FILE for clients' --ca-cert.
    #[arg(long, value_name = "FILE")]
    pub(crate) self_signed: Option<PathBuf>,
    /// Refuse permessage-deflate offers. By default serve accepts them, as Python
    /// websockets does (Node ws servers have it off: use this to look like one).
    #[arg(long)]
    pub(crate) no_deflate: bool,
}

/// A short random instance name, so two servers behind one balancer differ.
fn random_instance() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("serve-{:04x}", (nanos ^ std::process::id()) & 0xffff)
}

fn tls(args: &ServeArgs) -> anyhow::Result<Option<LabTls>> {
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        let read = |path: &PathBuf| {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
        };
        return Ok(Some(LabTls::from_pem(&read(cert)?, &read(key)?)?));
    }
    let Some(out) = &args.self_signed else {
        return Ok(None);
    };
    let (tls, pem) = LabTls::self_signed(&["localhost", "127.0.0.1"])?;
    std::fs::write(out, pem).with_context(|| format!("writing {}", out.display()))?;
    Ok(Some(tls))
}

fn config(args: &ServeArgs) -> anyhow::Result<ServeConfig> {
    let mut faults = Vec::new();
    for text in &args.faults {
        faults.extend(Fault::parse_list(text)?);
    }
    let mut h2_faults = Vec::new();
    for text in &args.h2_faults {
        h2_faults.extend(Fault::parse_list(text)?);
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
        // The log line of a connection needs no headers; the event file does.
        event_heads: args.events.is_some(),
        tls: tls(args)?,
        http2: args.http2,
        h2_faults,
        reuse_port: args.procs > 1 || args.worker.is_some(),
        deflate: !args.no_deflate,
        ..ServeConfig::default()
    })
}

pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<u8> {
    // One connection is one file: take what the hard limit allows.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let config = config(&args)?;
    let instance = config.instance.clone();
    let http2 = config.http2;
    let worker = args.worker;
    let events_path = match (&args.events, worker) {
        (Some(path), Some(i)) => Some(serve_procs::worker_events(path, i)),
        (path, _) => path.clone(),
    };
    let mut log = match &events_path {
        Some(path) => Some(BufWriter::new(
            File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => None,
    };
    let mut server = DiagServer::start(config).await?;
    let _workers = if args.procs > 1 && worker.is_none() {
        serve_procs::spawn_workers(usize::from(args.procs), args.listen.port())?
    } else {
        tokio::task::JoinSet::new()
    };
    let mut events = server
        .take_events()
        .context("the server gave no event channel")?;
    let mut browser_reports = server
        .take_browser_reports()
        .context("the server gave no browser report channel")?;
    let mut browser_pages = BrowserPages::default();
    // Workers print their connections, not the banner.
    if worker.is_none() {
        print_banner(&server, &instance, http2, &args);
    }
    let mut server = Some(server);
    let mut stopping = None;
    let parent_gone = async {
        match worker {
            Some(_) => serve_procs::parent_gone().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(parent_gone);
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => write_event(&event, log.as_mut())?,
                // Every connection task is gone after the shutdown.
                None => break,
            },
            Some(report) = browser_reports.recv() => {
                browser_pages.take(&report, log.as_mut())?;
            }
            _ = tokio::signal::ctrl_c(), if server.is_some() => {
                if worker.is_none() {
                    output::say(format_args!("wsdoctor serve: stopping, closing connections with 1001"));
                }
                // Records keep arriving while the connections close.
                if let Some(server) = server.take() {
                    stopping = Some(tokio::spawn(server.shutdown()));
                }
            }
            () = &mut parent_gone, if server.is_some() => {
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

fn print_banner(server: &DiagServer, instance: &str, http2: bool, args: &ServeArgs) {
    let whoami = server
        .url("/whoami")
        .replacen("wss://", "https://", 1)
        .replacen("ws://", "http://", 1);
    output::say(format_args!(
        "wsdoctor serve: listening, instance {instance}\n  point a client at  {}\n  what arrived      curl {whoami}\n  browser probe     open {} in a browser, through your proxies (findings print here; HTTP/1.1 only)\n  Ctrl-C stops (every connection gets a close frame 1001)",
        server.url("/ws"),
        whoami.trim_end_matches("whoami"),
    ));
    if http2 {
        output::say(format_args!(
            "  HTTP/2            extended CONNECT (RFC 8441) on: wsdoctor probe --http2 {}",
            server.url("/ws")
        ));
    }
    if let Some(path) = &args.self_signed {
        output::say(format_args!(
            "  certificate       {} (trust it with --ca-cert)",
            path.display()
        ));
    }
    if args.procs > 1 {
        output::say(format_args!(
            "  processes         {} sharing the port (SO_REUSEPORT){}",
            args.procs,
            match &args.events {
                Some(path) => format!("; workers' events in {}.1 …", path.display()),
                None => String::new(),
            }
        ));
        for line in serve_procs::capacity_lines(usize::from(args.procs)) {
            output::say(format_args!("  {line}"));
        }
    }
}

/// What each browser probe page last reported, so findings are printed
/// when they change and once more when the page finishes, not on every post.
#[derive(Default)]
struct BrowserPages {
    /// Session → the finding ids and titles last printed.
    printed: std::collections::HashMap<String, Vec<String>>,
}

impl BrowserPages {
    /// Sessions remembered; a flood of fake sessions cannot grow the map.
    const MAX_SESSIONS: usize = 1_000;

    fn take(
        &mut self,
        report: &wsdoctor_evidence::browser::BrowserEvidence,
        log: Option<&mut BufWriter<File>>,
    ) -> anyhow::Result<()> {
        let findings = wsdoctor_diagnosis::rules::browser::diagnose_browser(report);
        let key: Vec<String> = findings
            .iter()
            .map(|f| format!("{} {}", f.id.as_str(), f.title))
            .collect();
        let changed = self.printed.get(&report.session) != Some(&key);
        if !changed && !report.finished {
            return Ok(());
        }
        if self.printed.len() >= Self::MAX_SESSIONS && !self.printed.contains_key(&report.session) {
            self.printed.clear();
        }
        self.printed.insert(report.session.clone(), key);
        // serve's stdout is a log of lines (often piped): no colours.
        let style = wsdoctor_report::Style::PLAIN;
        output::log_line(format_args!(
            "{}",
            wsdoctor_report::text::serve_view::browser_lines(report, &findings, style)
        ));
        if let Some(log) = log {
            let line = serde_json::json!({ "browser": report, "findings": findings });
            serde_json::to_writer(&mut *log, &line).context("writing the event log")?;
            log.write_all(b"\n").context("writing the event log")?;
            log.flush().context("writing the event log")?;
        }
        Ok(())
    }
}

fn write_event(event: &ServeEvent, log: Option<&mut BufWriter<File>>) -> anyhow::Result<()> {
    output::log_line(format_args!(
        "{}",
        wsdoctor_report::text::serve_view::connection_line(&event.client, &event.connection)
    ));
    if let Some(log) = log {
        serde_json::to_writer(&mut *log, event).context("writing the event log")?;
        log.write_all(b"\n").context("writing the event log")?;
        // Flushed per record so `tail -f` and a crash both see every line.
        log.flush().context("writing the event log")?;
    }
    Ok(())
}
