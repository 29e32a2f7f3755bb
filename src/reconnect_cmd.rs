//! `wsdoctor reconnect`: flags → `ReconnectConfig`; serve until every
//! client came back N times, `--max` or Ctrl-C; classify each client's
//! policy, diagnose, render; with `--clients N`, the storm the measured
//! policy would make.

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use clap::Args;
use tokio::sync::watch;
use wsdoctor_diagnosis::rules::reconnect::storm::{simulate, StormPolicy, StormScenario};
use wsdoctor_diagnosis::rules::reconnect::{self as rules, client_policies, fixes};
use wsdoctor_evidence::reconnect::Interruption;
use wsdoctor_sources::reconnect::{ReconnectConfig, ReconnectServer};

use crate::cli::{parse_duration, OutputArgs};
use crate::output;

/// Arguments of `wsdoctor reconnect`.
#[derive(Debug, Args)]
pub(crate) struct ReconnectArgs {
    /// Where to listen; point your client at ws://ADDR/ (add ?client=NAME to name it).
    #[arg(long, default_value = "127.0.0.1:9002", value_name = "ADDR")]
    pub(crate) listen: SocketAddr,
    /// Hold each connection this long, then drop it.
    #[arg(long, value_parser = parse_duration, default_value = "5s", value_name = "DUR")]
    pub(crate) drop_after: Duration,
    /// Drops per client before the run can end.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub(crate) drops: u32,
    /// How to drop: rst, fin (no close frame) or a close code (1001, 1006 = rst, 1012, 1013, …); several, comma-separated, are used in turn.
    #[arg(long, value_delimiter = ',', default_value = "rst", value_parser = str::parse::<Interruption>, value_name = "CODE|rst|fin")]
    pub(crate) close_code: Vec<Interruption>,
    /// After each drop, refuse the client's next K handshakes with 503 (shows whether it keeps backing off).
    #[arg(long, default_value_t = 0, value_name = "K")]
    pub(crate) refuse: u32,
    /// Stop after this long even if clients are still coming back.
    #[arg(long, value_parser = parse_duration, default_value = "10m", value_name = "DUR")]
    pub(crate) max: Duration,
    /// Also estimate the reconnect wave of N clients with the measured policy after an outage.
    #[arg(long, value_name = "N")]
    pub(crate) clients: Option<u32>,
    /// The application protocol to speak to clients so their library's
    /// session really opens: auto (from the request path /socket.io/, the
    /// subprotocol offered, or the token of our SignalR negotiate answer),
    /// raw (bare WebSocket), socketio, graphql-transport-ws, graphql-ws or
    /// signalr (needed for @microsoft/signalr with skipNegotiation).
    #[arg(long, default_value = "auto", value_parser = parse_listen_app, value_name = "PROTOCOL")]
    pub(crate) app: wsdoctor_app::AppChoice,
    /// The outage of the storm estimate.
    #[arg(long, value_parser = parse_duration, default_value = "10s", value_name = "DUR")]
    pub(crate) outage: Duration,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

fn parse_listen_app(text: &str) -> Result<wsdoctor_app::AppChoice, String> {
    let choice = crate::cli::parse_app(text)?;
    wsdoctor_app::listen::check_listen_choice(choice).map_err(|e| e.to_string())?;
    Ok(choice)
}

fn config(args: &ReconnectArgs) -> anyhow::Result<ReconnectConfig> {
    Ok(ReconnectConfig {
        listen: args.listen,
        drop_after: args.drop_after,
        drops: args.drops,
        ways: args.close_code.clone(),
        refuse: args.refuse,
        max: args.max,
        app: args.app,
    }
    .validated()?)
}

/// Turns true on Ctrl-C or SIGTERM.
fn interrupt() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        let _ = tx.send(true);
    });
    rx
}

pub(crate) async fn run(args: ReconnectArgs) -> anyhow::Result<u8> {
    let config = config(&args)?;
    // Checked before the run, not after it: a bad --clients must not cost
    // the whole experiment.
    let scenario = args
        .clients
        .map(|clients| StormScenario::new(clients, args.outage, 1))
        .transpose()?;
    let server = ReconnectServer::bind(config.clone())
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = server.addr();
    let started_at = SystemTime::now();
    let clock = Instant::now();
    {
        // stderr, so it never mixes with --json on stdout.
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "listening on ws://{addr}/ — point your client at it (name it with ?client=NAME or an X-Client-Id header); Ctrl-C ends the run"
        );
    }
    let evidence = server.run(interrupt(), |_| {}).await;
    let policies = client_policies(&evidence);
    let findings = rules::diagnose_reconnect(&evidence);
    let storm = scenario.and_then(|scenario| {
        // The measured policy of the first client with a problem, else the first classified.
        let (p, c) = policies
            .iter()
            .zip(&evidence.clients)
            .filter(|(p, _)| p.fit.is_some())
            .min_by_key(|(p, _)| {
                p.fit
                    .as_ref()
                    .is_some_and(|f| f.kind.as_str() == "exponential-jitter")
            })?;
        let fit = p.fit.as_ref()?;
        let observed_max = p.delays_s.iter().copied().fold(0.0, f64::max);
        let mut measured = StormPolicy::from_fit(fit, observed_max);
        measured.name = format!("measured (client={})", c.client);
        let reference = StormPolicy::full_jitter(fixes::BASE_S, fixes::CAP_S);
        let a = simulate(&measured, &scenario);
        let b = simulate(&reference, &scenario);
        Some((scenario, vec![(measured, a), (reference, b)]))
    });
    let observations = serde_json::json!({
        "reconnect": evidence,
        "policies": policies,
        "storm": storm.as_ref().map(|(s, runs)| serde_json::json!({ "scenario": s, "runs": runs })),
    });
    let report = wsdoctor_report::Report::new(
        "reconnect",
        vec![format!("ws://{addr}/")],
        started_at,
        clock.elapsed(),
        findings,
        observations,
    );
    let style = output::style(&args.output);
    let mut text = wsdoctor_report::text::reconnect_view::render_reconnect(
        &evidence,
        &policies,
        &report.findings,
        style,
    );
    if let Some((scenario, runs)) = &storm {
        text.push_str(&wsdoctor_report::text::reconnect_view::render_storm(
            scenario, runs, style,
        ));
    }
    text.push_str(&format!(
        "{}\n",
        wsdoctor_report::verdict_line(report.verdict, &report.findings, style)
    ));
    output::finish(&args.output, &report, &text, || {
        let mut charts = wsdoctor_report::html::reconnect_charts(&evidence);
        if let Some((scenario, runs)) = &storm {
            let series: Vec<_> = runs.iter().map(|(_, wave)| wave).collect();
            charts.extend(wsdoctor_report::html::storm_charts(scenario, &series));
        }
        charts
    })
}
