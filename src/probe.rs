//! `wsdoctor probe`: flags → `ProbeConfig`, run, diagnose, render.

use std::time::{Duration, Instant, SystemTime};

use wsdoctor_diagnosis::Finding;
use wsdoctor_evidence::{HeartbeatSettings, PongPolicy, ProbeEvidence};
use wsdoctor_sources::conn::route::IpFamily;
use wsdoctor_sources::conn::{
    ConnectOptions, ForwardProxy, HeaderLine, HttpVersion, Route, Target, TlsOptions,
};
use wsdoctor_sources::probe::{self as probe_source, ProbeConfig};

use crate::args::{ConnectArgs, ProbeArgs};
use crate::output::{self, Spinner};

/// Turns the shared connection flags into validated options for one URL.
pub(crate) fn connect_options(url: &str, args: &ConnectArgs) -> anyhow::Result<ConnectOptions> {
    let target = Target::parse(url)?;
    let mut tls = TlsOptions {
        insecure: args.insecure,
        ..TlsOptions::default()
    };
    if let Some(path) = &args.ca_cert {
        tls.add_ca_file(path)?;
    }
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        tls.set_client_certificate(cert, key)?;
    }
    // As curl and browsers: the variable names where TLS secrets go.
    if let Some(path) = std::env::var_os("SSLKEYLOGFILE").filter(|p| !p.is_empty()) {
        tls.log_keys_to(std::path::Path::new(&path))?;
    }
    let headers = args
        .headers
        .iter()
        .map(|h| h.parse::<HeaderLine>().map(HeaderLine::into_pair))
        .collect::<Result<Vec<_>, _>>()?;
    let proxy = if args.no_proxy {
        None
    } else if let Some(url) = &args.proxy {
        Some(ForwardProxy::parse(url, "flag")?)
    } else {
        let env: std::collections::HashMap<String, String> = std::env::vars().collect();
        wsdoctor_sources::conn::proxy::from_env(&target, &env)?
    };
    let mut options = ConnectOptions::new(target);
    options.proxy = proxy;
    options.headers = headers;
    options.origin.clone_from(&args.origin);
    options.subprotocols.clone_from(&args.subprotocols);
    options.connect_timeout = args.connect_timeout;
    options.tls = tls;
    // `--http1` is the default spelled out; only `--http2` changes the path.
    options.http = if args.http2 && !args.http1 {
        HttpVersion::Http2
    } else {
        HttpVersion::Http1
    };
    options.deflate = args.deflate;
    options.route = Route {
        resolve: args.resolve.clone(),
        connect_to: args.connect_to.clone(),
        family: match (args.ipv4, args.ipv6) {
            (true, _) => Some(IpFamily::V4),
            (false, true) => Some(IpFamily::V6),
            (false, false) => None,
        },
    };
    options
        .route
        .check(options.target.ip, options.proxy.is_some())?;
    Ok(options)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn probe_config(url: &str, args: &ProbeArgs) -> anyhow::Result<ProbeConfig> {
    let mut config = ProbeConfig::new(connect_options(url, &args.connect)?);
    config.watch = args.watch;
    config.messages.clone_from(&args.send);
    config.send_every = args.send_every;
    config.compare_http = args.connect.compare_http;
    wsdoctor_sources::conn::app::prepare(&mut config.connect, args.app)?;
    config.heartbeat = HeartbeatSettings {
        ping_interval_ms: args.ping_interval.map(millis),
        pong_timeout_ms: millis(args.pong_timeout),
        pong_policy: match (args.no_pong, args.pong_delay) {
            (true, _) => PongPolicy::Never,
            (false, Some(d)) => PongPolicy::Delay { ms: millis(d) },
            (false, None) => PongPolicy::Answer,
        },
    };
    Ok(config.validated()?)
}

/// Probes every target at once (a fair comparison sees the same moment).
pub(crate) async fn probe_all(configs: Vec<ProbeConfig>, spinner: &Spinner) -> Vec<ProbeEvidence> {
    let mut set = tokio::task::JoinSet::new();
    for (index, config) in configs.into_iter().enumerate() {
        let sink = spinner.sink();
        set.spawn(async move { (index, probe_source::run(&config, Some(sink)).await) });
    }
    let mut results = Vec::new();
    while let Some(joined) = set.join_next().await {
        if let Ok(result) = joined {
            results.push(result);
        }
    }
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, e)| e).collect()
}

/// Diagnoses each probe; with several targets each finding names its target.
pub(crate) fn diagnose(evidence: &[ProbeEvidence]) -> Vec<Vec<Finding>> {
    let labels = labels(evidence);
    evidence
        .iter()
        .zip(labels)
        .map(|(e, label)| {
            let mut findings = wsdoctor_diagnosis::diagnose_probe(e);
            if evidence.len() > 1 {
                for f in &mut findings {
                    f.subject.get_or_insert_with(|| label.clone());
                }
            }
            findings
        })
        .collect()
}

/// Each probe's name in a comparison: its target, and the node's address
/// when several probes share the target (`--resolve` per node).
fn labels(evidence: &[ProbeEvidence]) -> Vec<String> {
    evidence
        .iter()
        .map(|e| {
            let target = &e.connection.target;
            let shared = evidence
                .iter()
                .filter(|o| &o.connection.target == target)
                .count()
                > 1;
            if shared && !e.connection.resolved.is_empty() {
                format!("{target} at {}", e.connection.resolved.join(","))
            } else {
                target.clone()
            }
        })
        .collect()
}

pub(crate) async fn run(args: ProbeArgs) -> anyhow::Result<u8> {
    let mut configs = Vec::new();
    for url in &args.urls {
        let config = probe_config(url, &args)?;
        let target = &config.connect.target;
        // Several --resolve values for the URL's host: one probe per node.
        match config.connect.route.per_node(&target.host, target.port) {
            Some(routes) => configs.extend(routes.into_iter().map(|route| {
                let mut node = config.clone();
                node.connect.route = route;
                node
            })),
            None => configs.push(config),
        }
    }
    let started_at = SystemTime::now();
    let clock = Instant::now();
    let spinner = Spinner::new();
    let connects: Vec<ConnectOptions> = configs.iter().map(|c| c.connect.clone()).collect();
    let mut evidence = probe_all(configs, &spinner).await;
    // One target after the other, after the probes: the fingerprint never
    // runs beside the connection it explains.
    for (e, connect) in evidence.iter_mut().zip(&connects) {
        e.hop_probe = crate::hop_probe::run_if_unknown(
            &args.fingerprint,
            connect,
            e.connection.handshake.as_ref(),
        )
        .await;
    }
    spinner.finish();
    let mut per_target = diagnose(&evidence);
    for (findings, e) in per_target.iter_mut().zip(&evidence) {
        crate::hop_probe::note(findings, e.hop_probe.as_ref());
    }

    let targets = labels(&evidence);
    let mut all: Vec<Finding> = per_target.iter().flatten().cloned().collect();
    wsdoctor_diagnosis::rank(&mut all);
    let observations = serde_json::json!({ "probes": evidence });
    let report = wsdoctor_report::Report::new(
        "probe",
        targets.clone(),
        started_at,
        clock.elapsed(),
        all,
        observations,
    );
    let style = output::style(&args.output);
    let text = if evidence.len() == 1 {
        wsdoctor_report::text::render_probe(&evidence[0], &per_target[0], style)
    } else {
        let items: Vec<(String, &ProbeEvidence, &[Finding])> = targets
            .iter()
            .zip(&evidence)
            .zip(&per_target)
            .map(|((label, e), f)| (label.clone(), e, f.as_slice()))
            .collect();
        wsdoctor_report::text::render_comparison(&items, style)
    };
    let text = format!(
        "{text}\n{}\n",
        wsdoctor_report::verdict_line(report.verdict, &report.findings, style)
    );
    output::finish(&args.output, &report, &text, || {
        wsdoctor_report::html::probe_charts(&evidence.iter().collect::<Vec<_>>())
    })
}
