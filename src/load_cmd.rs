//! `wsdoctor load URL -c N`: flags → `LoadConfig`, run, diagnose, render.
//! Past one process's open-file limit the ramp runs as several processes of
//! this binary (`--procs`), each one shard, merged exactly.

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context};
use clap::Args;
use std::io::Write as _;
use wsdoctor_evidence::load::LoadEvidence;
use wsdoctor_evidence::machine::MachineLimits;
use wsdoctor_sources::load::fanout::{self, ChildPlan, ChildResult};
use wsdoctor_sources::load::{
    self as load_source, procs, scale, EventsWriter, LoadConfig, Shard, StopFlag,
};
use wsdoctor_sources::ProgressSink;

use crate::cli::{parse_duration, ConnectArgs, OutputArgs};
use crate::connect::connect_options;
use crate::merge_cmd;
use crate::output::Spinner;

/// A child's progress lines are written at most this often.
const CHILD_PROGRESS_EVERY: Duration = Duration::from_millis(200);

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
    /// Local source addresses to spread connections over, e.g. 127.0.0.2-127.0.0.40
    /// (default on a loopback target: 127.0.0.2… as many as the count needs).
    #[arg(long, value_name = "RANGE")]
    pub(crate) source_ips: Option<String>,
    /// Run only slice I of N of the ramp (the connections whose index is I modulo N,
    /// at the whole ramp's times) and report it; combine the N reports with `wsdoctor merge`.
    #[arg(long, value_name = "I/N")]
    pub(crate) shard: Option<String>,
    /// Spread the ramp over N processes of wsdoctor, merged exactly (default: as many
    /// as the open-file hard limit needs).
    #[arg(long, value_name = "N")]
    pub(crate) procs: Option<u32>,
    /// Write the per-connection timeline to FILE as JSON Lines (one line per opened,
    /// failed or dropped connection; with --procs all processes append to FILE).
    #[arg(long, value_name = "FILE")]
    pub(crate) events: Option<PathBuf>,
    /// The application protocol every connection speaks, as its real client
    /// does (so a Socket.IO server keeps them past pingInterval+pingTimeout).
    /// `auto` decides from the URL path and the subprotocol offered only:
    /// sniffing each server's first message would cost every connection an
    /// application session.
    /// Values: auto, raw, socketio, graphql-transport-ws, graphql-ws, signalr,
    /// phoenix, actioncable, stomp, mqtt (3.1.1), mqtt5. STOMP and MQTT log in
    /// with the URL's user and $WSDOCTOR_APP_PASSWORD.
    #[arg(long, default_value = "auto", value_parser = crate::cli::parse_app, value_name = "PROTOCOL")]
    pub(crate) app: wsdoctor_app::AppChoice,
    /// Internal: run as a child of `load --procs` (progress as JSON lines on stderr,
    /// exit when stdin closes, append to --events).
    #[arg(long, hide = true)]
    pub(crate) child: bool,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

fn load_config(args: &LoadArgs) -> anyhow::Result<LoadConfig> {
    let mut config = LoadConfig::new(connect_options(&args.url, &args.connect)?, args.connections);
    config.rate = args.rate;
    if let Some(step) = args.step {
        config.step = step;
    }
    config.step_hold = args.step_hold;
    config.hold = args.hold;
    config.message_every = args.message_every;
    config.message_size = args.size;
    config.ping_interval = args.ping_interval;
    if let Some(range) = &args.source_ips {
        config.source_ips = scale::parse_source_range(range)?;
    }
    if let Some(shard) = &args.shard {
        config.shard = Some(Shard::parse(shard).context("--shard")?);
    }
    wsdoctor_sources::conn::app::prepare(&mut config.connect, args.app)?;
    Ok(config.validated()?)
}

pub(crate) async fn run(args: LoadArgs) -> anyhow::Result<u8> {
    let config = load_config(&args)?;
    let (procs, procs_note) = fanout::processes(&config, args.procs, args.child)?;
    let started_at = SystemTime::now();
    let clock = Instant::now();
    // This machine's limits against the whole ramp, checked once: said now,
    // kept in the report. A child's parent checked them for it.
    let machine = (!args.child).then(|| config.machine_check(procs));
    if let Some(machine) = &machine {
        warn_if_it_will_not_fit(machine);
    }
    if procs > 1 {
        let evidence = run_procs(&args, &config, procs, procs_note, machine).await?;
        return merge_cmd::render(&evidence, started_at, clock.elapsed(), &args.output);
    }
    let stop = StopFlag::default();
    if args.child {
        let raise = stop.clone();
        procs::exit_when_parent_goes(move || raise.raise());
    }
    stop_on_ctrl_c(stop.clone());
    let events = match &args.events {
        Some(path) => {
            // A child appends: its parent emptied the file, and its
            // siblings write to it too.
            let opened = if args.child {
                EventsWriter::append(path)
            } else {
                EventsWriter::create(path)
            };
            Some(
                opened
                    .with_context(|| format!("cannot open the events file {}", path.display()))?,
            )
        }
        None => None,
    };
    let spinner = Spinner::new();
    let sink = if args.child {
        child_progress_sink()
    } else {
        spinner.sink()
    };
    let run = load_source::run_until(&config, Some(sink), events, &stop, machine).await;
    spinner.finish();
    if args.child {
        // What the parent reads: a line of its own type, not the report.
        let line = ChildResult::line(&run.evidence).context("writing the shard result")?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{line}")
            .and_then(|()| stdout.flush())
            .context("writing the shard result")?;
        if let Some(Err(e)) = run.events {
            bail!(e);
        }
        return Ok(0);
    }
    let code = merge_cmd::render(&run.evidence, started_at, clock.elapsed(), &args.output)?;
    if let Some(Err(e)) = run.events {
        bail!(e);
    }
    Ok(code)
}

/// Says before the run, on stderr, each of this machine's limits the ramp
/// will not fit in, with the setting to change (the report carries them too).
fn warn_if_it_will_not_fit(machine: &MachineLimits) {
    for shortfall in &machine.shortfalls {
        crate::output::say(format_args!(
            "wsdoctor load: warning: {}",
            wsdoctor_sources::machine::describe(shortfall)
        ));
    }
}

/// Ctrl-C (SIGINT; a `--procs` child gets it from the terminal too) stops
/// the ramp: it closes every connection and reports what it saw. A second
/// Ctrl-C exits at once.
fn stop_on_ctrl_c(stop: StopFlag) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        stop.raise();
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(130);
        }
    });
}

/// In a `--procs` child: progress as JSON lines on stderr, a few per second.
fn child_progress_sink() -> ProgressSink {
    let last = Arc::new(Mutex::new(None::<Instant>));
    Arc::new(move |p| {
        let Ok(mut last) = last.lock() else { return };
        if last.is_some_and(|t| t.elapsed() < CHILD_PROGRESS_EVERY) {
            return;
        }
        *last = Some(Instant::now());
        if let Some(line) = procs::progress_line(&p) {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("{line}");
            }
        }
    })
}

/// Runs the ramp as `procs` child processes of this binary, one shard each
/// (`sources::load::fanout`), and merges their results.
async fn run_procs(
    args: &LoadArgs,
    config: &LoadConfig,
    procs: u32,
    procs_note: Option<String>,
    machine: Option<MachineLimits>,
) -> anyhow::Result<LoadEvidence> {
    let program = std::env::current_exe()
        .context("cannot find wsdoctor's own executable to start --procs processes")?;
    let (children, notes) = fanout::plan_children(config, procs)?;
    let notes = procs_note.into_iter().chain(notes).collect();
    if let Some(path) = &args.events {
        // Children append; the file starts empty here, once.
        std::fs::File::create(path)
            .with_context(|| format!("cannot open the events file {}", path.display()))?;
    }
    let start = |child: &ChildPlan| procs::ChildSpec {
        label: child.label.clone(),
        program: program.clone(),
        args: child_args(args, config, Some(child.shard), &child.sources),
    };
    let spinner = Spinner::new();
    // Ctrl-C (even where the shell started us with SIGINT ignored): every
    // child is asked to stop (a line on its stdin), closes its connections
    // and answers; the merged report says how long the close took. A second
    // Ctrl-C drops the children, which kills them. Without this the
    // children would still go when the parent dies, as their stdin closes.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let run = fanout::run_children(
        config,
        &children,
        notes,
        machine,
        start,
        Some(spinner.sink()),
        stop_rx,
    );
    tokio::pin!(run);
    let merged = tokio::select! {
        merged = &mut run => merged,
        _ = tokio::signal::ctrl_c() => {
            let _ = stop_tx.send(true);
            tokio::select! {
                merged = &mut run => merged,
                _ = tokio::signal::ctrl_c() => {
                    spinner.finish();
                    bail!("interrupted twice: the {procs} load processes were killed");
                }
            }
        }
    };
    spinner.finish();
    Ok(merged?)
}

fn duration_arg(d: Duration) -> OsString {
    // µs keep every duration a user can type, and humantime reads them back.
    format!("{}us", d.as_micros()).into()
}

/// The command line of one `--procs` child: the same ramp as `config`, one
/// shard of it, with its own source addresses; it answers with a
/// `fanout::ChildResult` line.
fn child_args(
    args: &LoadArgs,
    config: &LoadConfig,
    shard: Option<Shard>,
    sources: &[IpAddr],
) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec!["load".into(), args.url.clone().into()];
    let mut push = |flag: &str, value: OsString| {
        a.push(flag.into());
        a.push(value);
    };
    push("-c", config.concurrency.to_string().into());
    // Display of f64 is the shortest text that reads back to the same
    // value, so every child runs (and records) the very same rate.
    push("--rate", config.rate.to_string().into());
    push("--step", config.step.to_string().into());
    push("--step-hold", duration_arg(config.step_hold));
    push("--hold", duration_arg(config.hold));
    if let Some(every) = config.message_every {
        push("--message-every", duration_arg(every));
    }
    push("--size", config.message_size.to_string().into());
    if let Some(ping) = config.ping_interval {
        push("--ping-interval", duration_arg(ping));
    }
    if !sources.is_empty() {
        push("--source-ips", scale::describe_sources(sources).into());
    }
    let c = &args.connect;
    for h in &c.headers {
        push("-H", h.into());
    }
    if let Some(origin) = &c.origin {
        push("--origin", origin.into());
    }
    for p in &c.subprotocols {
        push("--subprotocol", p.into());
    }
    push("--connect-timeout", duration_arg(c.connect_timeout));
    push("--app", args.app.to_string().into());
    if let Some(ca) = &c.ca_cert {
        push("--ca-cert", ca.into());
    }
    if let (Some(cert), Some(key)) = (&c.cert, &c.key) {
        push("--cert", cert.into());
        push("--key", key.into());
    }
    for pin in &c.resolve {
        push("--resolve", pin.to_string().into());
    }
    for pin in &c.connect_to {
        push("--connect-to", pin.to_string().into());
    }
    // As given, not as resolved: a child without them would read the
    // proxy variables itself, unlike its parent under --proxy/--no-proxy.
    if let Some(proxy) = &c.proxy {
        push("--proxy", proxy.into());
    }
    if let Some(events) = &args.events {
        push("--events", events.into());
    }
    if let Some(shard) = shard {
        push("--shard", shard.to_string().into());
    }
    push("--color", "never".into());
    for flag in [
        (c.insecure, "--insecure"),
        (c.http2, "--http2"),
        (c.http1, "--http1"),
        (c.deflate, "--deflate"),
        (c.ipv4, "-4"),
        (c.ipv6, "-6"),
        (c.no_proxy, "--no-proxy"),
        (true, "--child"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, f)| f)
    {
        a.push(flag.into());
    }
    a
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {

    #[test]
    fn children_get_the_same_ramp() {
        use clap::Parser as _;
        let cli = crate::args::Cli::try_parse_from([
            "wsdoctor",
            "load",
            "ws://127.0.0.1:9/ws",
            "-c",
            "300",
            "--rate",
            "333.3",
            "--hold",
            "1500ms",
            "-H",
            "X-A: 1",
            "--procs",
            "2",
            "--events",
            "/tmp/e.jsonl",
        ])
        .unwrap();
        let crate::args::Command::Load(args) = cli.command else {
            panic!("not load")
        };
        let config = super::load_config(&args).unwrap();
        let shard = wsdoctor_sources::load::Shard::new(1, 2).ok();
        let child: Vec<String> = super::child_args(&args, &config, shard, &[])
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        let reparsed = crate::args::Cli::try_parse_from(
            std::iter::once("wsdoctor".to_owned()).chain(child.iter().cloned()),
        )
        .unwrap();
        let crate::args::Command::Load(back) = reparsed.command else {
            panic!("not load")
        };
        let child_config = super::load_config(&back).unwrap();
        assert_eq!(child_config.plan_spec(), config.plan_spec());
        assert_eq!(child_config.rate.to_bits(), config.rate.to_bits());
        assert_eq!(child_config.shard, shard);
        assert!(back.child && back.procs.is_none());
        assert_eq!(back.connect.headers, vec!["X-A: 1".to_owned()]);
    }

    /// The parent's `--proxy`/`--no-proxy`, as given: without them a child
    /// would read the proxy variables itself.
    #[test]
    fn children_get_the_proxy_choice() {
        use clap::Parser as _;
        for (flags, want) in [
            (
                &["--proxy", "http://u:p@127.0.0.1:3128"][..],
                &["--proxy", "http://u:p@127.0.0.1:3128"][..],
            ),
            (&["--no-proxy"][..], &["--no-proxy"][..]),
            (&[][..], &[][..]),
        ] {
            let cli = crate::args::Cli::try_parse_from(
                ["wsdoctor", "load", "ws://127.0.0.1:9/ws", "-c", "4"]
                    .iter()
                    .chain(flags),
            )
            .unwrap();
            let crate::args::Command::Load(args) = cli.command else {
                panic!("not load")
            };
            let config = super::load_config(&args).unwrap();
            let child: Vec<String> = super::child_args(&args, &config, None, &[])
                .into_iter()
                .map(|a| a.into_string().unwrap())
                .filter(|a| a.contains("proxy") || a.contains("3128"))
                .collect();
            assert_eq!(child, want, "{flags:?}");
        }
    }
}
