//! `wsdoctor logs`: flags → `LogsConfig`, read, diagnose, render.

use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use wsdoctor_evidence::logs::{LogEvidence, LogFormat};
use wsdoctor_logs::{log_formats_in_conf, parse_user_time, Filter, Input, LogsConfig, NginxFormat};

use crate::cli::OutputArgs;
use crate::output;

/// The formats `--format` accepts.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum FormatArg {
    /// AWS Application Load Balancer access log.
    Alb,
    /// nginx access log (combined, or --log-format / --nginx-conf).
    Nginx,
    /// nginx error log (reloads, upgraded-connection timeouts).
    NginxError,
    /// HAProxy log (httplog or tcplog).
    Haproxy,
    /// HAR file from browser developer tools.
    Har,
    /// wsdoctor's own JSON Lines events (serve --events, watch --events).
    Wsdoctor,
}

impl From<FormatArg> for LogFormat {
    fn from(f: FormatArg) -> LogFormat {
        match f {
            FormatArg::Alb => LogFormat::Alb,
            FormatArg::Nginx => LogFormat::Nginx,
            FormatArg::NginxError => LogFormat::NginxError,
            FormatArg::Haproxy => LogFormat::Haproxy,
            FormatArg::Har => LogFormat::Har,
            FormatArg::Wsdoctor => LogFormat::Wsdoctor,
        }
    }
}

/// Arguments of `wsdoctor logs`.
#[derive(Debug, Args)]
pub(crate) struct LogsArgs {
    /// Log files, plain or gzip-compressed; `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    pub(crate) files: Vec<String>,
    /// Read every file as this format instead of detecting it.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub(crate) format: Option<FormatArg>,
    /// nginx `log_format` of the access logs, e.g. '$remote_addr [$time_local] "$request" $status $request_time' (default: combined).
    #[arg(long, value_name = "FORMAT", conflicts_with = "nginx_conf")]
    pub(crate) log_format: Option<String>,
    /// Take the nginx `log_format` from this nginx.conf.
    #[arg(long, value_name = "FILE")]
    pub(crate) nginx_conf: Option<PathBuf>,
    /// Only entries written at or after this time (2026-01-15, 2026-01-15T14:00, RFC 3339; UTC unless a zone is given).
    #[arg(long, value_name = "TIME")]
    pub(crate) since: Option<String>,
    /// Only entries written before this time.
    #[arg(long, value_name = "TIME")]
    pub(crate) until: Option<String>,
    /// Only requests whose path starts with this (e.g. /ws).
    #[arg(long, value_name = "PREFIX")]
    pub(crate) path: Option<String>,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

fn user_time(flag: &str, text: &str) -> anyhow::Result<i64> {
    parse_user_time(text).with_context(|| {
        format!("{flag} '{text}' is not a time; write it like 2026-01-15 or 2026-01-15T14:02:00Z")
    })
}

/// The nginx format: `--log-format`, the best `log_format` of
/// `--nginx-conf` (the first that logs `$request_time`, else the first that
/// compiles), or `combined`.
fn nginx_format(args: &LogsArgs) -> anyhow::Result<NginxFormat> {
    if let Some(text) = &args.log_format {
        return NginxFormat::compile(text).context("--log-format");
    }
    let Some(path) = &args.nginx_conf else {
        return Ok(NginxFormat::combined());
    };
    let conf =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let formats = log_formats_in_conf(&conf);
    let compiled: Vec<(&str, NginxFormat, bool)> = formats
        .iter()
        .filter_map(|(name, text)| {
            let f = NginxFormat::compile(text).ok()?;
            Some((name.as_str(), f, text.contains("$request_time")))
        })
        .collect();
    match compiled.iter().find(|c| c.2).or(compiled.first()) {
        Some((_, f, _)) => Ok(f.clone()),
        None if formats.is_empty() => bail!("{}: no log_format directive", path.display()),
        None => bail!(
            "{}: no log_format has a time and a $status wsdoctor can read",
            path.display()
        ),
    }
}

fn config(args: &LogsArgs) -> anyhow::Result<LogsConfig> {
    let mut config = LogsConfig::new(args.files.iter().map(|f| Input::from_arg(f)).collect());
    config.format = args.format.map(LogFormat::from);
    config.nginx_format = nginx_format(args)?;
    config.filter = Filter {
        since_ms: args
            .since
            .as_deref()
            .map(|t| user_time("--since", t))
            .transpose()?,
        until_ms: args
            .until
            .as_deref()
            .map(|t| user_time("--until", t))
            .transpose()?,
        path_prefix: args.path.as_ref().map(|p| p.as_bytes().to_vec()),
    };
    Ok(config.validated()?)
}

/// The report's `observations`: the summary, not the raw buckets (a day
/// of close times is 864,000 of them).
fn observations(ev: &LogEvidence) -> serde_json::Value {
    let q = |p: f64| ev.lifetime_quantile(p).map(|ms| ms as f64 / 1000.0);
    serde_json::json!({
        "logs": {
            "files": ev.files,
            "filters": ev.filters,
            "connections": ev.connections,
            "failed_upgrades": ev.failed_upgrades_total,
            "clients": ev.clients,
            "first": ev.first_ms.map(wsdoctor_evidence::logs::format_utc),
            "last": ev.last_ms.map(wsdoctor_evidence::logs::format_utc),
            "lifetime_s": {
                "known": ev.with_lifetime(),
                "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": q(1.0),
            },
            "statuses": ev.statuses,
            "failed_upgrade_paths": ev.failed_upgrades.iter().take(50).collect::<Vec<_>>(),
            "end_reasons": ev.end_reasons,
            "hours": ev.hours,
            "reconnecting_clients": ev.reconnects.len(),
            "events": ev.events.iter().take(100).collect::<Vec<_>>(),
        }
    })
}

pub(crate) async fn run(args: LogsArgs) -> anyhow::Result<u8> {
    let config = config(&args)?;
    let started_at = SystemTime::now();
    let clock = Instant::now();
    // Parsing is CPU-bound (rayon inside): keep it off the async workers.
    let evidence = tokio::task::spawn_blocking(move || wsdoctor_logs::read_logs(&config))
        .await
        .context("the log reader stopped")??;
    let findings = wsdoctor_diagnosis::rules::logs::diagnose_logs(&evidence);
    let report = wsdoctor_report::Report::new(
        "logs",
        evidence.files.iter().map(|f| f.path.clone()).collect(),
        started_at,
        clock.elapsed(),
        findings,
        observations(&evidence),
    );
    let style = output::style(&args.output);
    let text = format!(
        "{}{}\n",
        wsdoctor_report::text::logs_view::render_logs(&evidence, &report.findings, style),
        wsdoctor_report::verdict_line(report.verdict, &report.findings, style)
    );
    output::finish(&args.output, &report, &text, || {
        wsdoctor_report::html::logs_charts(
            &evidence,
            &wsdoctor_diagnosis::kb::known_idle_timeouts(),
        )
    })
}
