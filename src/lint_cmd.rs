//! `wsdoctor lint`: flags → `LintConfig`, read the files, diagnose, render
//! (or, with `--fix`, print the patch).

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use clap::{Args, ValueEnum};
use wsdoctor_diagnosis::rules::config::{diagnose_config, ConfigFinding};
use wsdoctor_diagnosis::Verdict;
use wsdoctor_evidence::config::{ConfigEvidence, ConfigKind};
use wsdoctor_lint::{IgnoreDirective, LintConfig};

use crate::cli::{parse_duration, ColorWhen, OutputArgs};
use crate::lint_sarif::{self, Entry};
use crate::output;

/// Arguments of `wsdoctor lint`.
#[derive(Debug, Args)]
pub(crate) struct LintArgs {
    /// Config files or directories (nginx.conf, conf.d/, haproxy.cfg, Kubernetes/Envoy/CloudFormation YAML, *.tf, AWS CLI/gcloud JSON, httpd.conf, Caddyfile, or app code: server.js, app.py); kinds are detected.
    #[arg(required = true, value_name = "PATH")]
    pub(crate) paths: Vec<PathBuf>,
    /// Treat every file as this kind instead of detecting it.
    #[arg(long, value_enum, value_name = "KIND")]
    pub(crate) kind: Option<KindArg>,
    /// The application's heartbeat interval (ping or app-level message), to judge the timers against; overrides what application code given as PATH says.
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub(crate) app_ping: Option<Duration>,
    /// Hops outside these files, in path order, by knowledge-base id (aws-alb,cloudflare,…); their default timers join the stack.
    #[arg(long, value_delimiter = ',', value_name = "HOPS")]
    pub(crate) via: Vec<String>,
    /// The nginx version that runs this config (proxy_http_version defaults to 1.1 from 1.29.7).
    #[arg(long, value_name = "VERSION")]
    pub(crate) nginx_version: Option<String>,
    /// Print a unified diff that fixes what can be fixed in place (apply with `patch -p1`); the report goes to stderr.
    #[arg(long, conflicts_with_all = ["json", "format"])]
    pub(crate) fix: bool,
    /// Output format: text, json (the same as --json) or sarif (SARIF 2.1.0, for code scanning).
    #[arg(long, value_enum, value_name = "FORMAT", conflicts_with = "json")]
    pub(crate) format: Option<FormatArg>,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

/// `--format` values.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum FormatArg {
    Text,
    Json,
    /// SARIF 2.1.0 (GitHub code scanning, GitLab, CI dashboards).
    Sarif,
}

/// `--kind` values.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum KindArg {
    Nginx,
    Haproxy,
    /// Kubernetes manifests (Ingress, Service, BackendConfig, ConfigMap).
    Kubernetes,
    /// Envoy config (YAML or JSON).
    Envoy,
    /// Terraform (.tf).
    Terraform,
    /// CloudFormation template (JSON or YAML).
    Cloudformation,
    /// `aws elbv2 describe-…-attributes` JSON output.
    AwsCli,
    /// `gcloud compute backend-services describe|list --format=json` output.
    Gcloud,
    /// Apache httpd.
    Apache,
    /// Caddy (Caddyfile).
    Caddy,
    /// Application code setting a heartbeat (Socket.IO pingInterval, python-websockets ping_interval).
    Application,
}

impl KindArg {
    fn kind(self) -> ConfigKind {
        match self {
            KindArg::Nginx => ConfigKind::Nginx,
            KindArg::Haproxy => ConfigKind::Haproxy,
            KindArg::Kubernetes => ConfigKind::Kubernetes,
            KindArg::Envoy => ConfigKind::Envoy,
            KindArg::Terraform => ConfigKind::Terraform,
            KindArg::Cloudformation => ConfigKind::Cloudformation,
            KindArg::AwsCli => ConfigKind::AwsCli,
            KindArg::Gcloud => ConfigKind::Gcloud,
            KindArg::Apache => ConfigKind::Apache,
            KindArg::Caddy => ConfigKind::Caddy,
            KindArg::Application => ConfigKind::Application,
        }
    }
}

/// Colour for text on stderr (`--fix` puts the report there): like
/// [`output::style`], but asking whether *stderr* is a terminal.
fn stderr_style(out: &OutputArgs) -> wsdoctor_report::Style {
    use std::io::IsTerminal;
    let color = match out.color {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => {
            std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    };
    wsdoctor_report::Style { color }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn lint_config(args: &LintArgs) -> anyhow::Result<LintConfig> {
    let kb = wsdoctor_diagnosis::kb();
    let mut via = Vec::new();
    for raw in &args.via {
        via.extend(kb.via_hop(raw)?);
    }
    Ok(LintConfig {
        paths: args.paths.clone(),
        kind: args.kind.map(KindArg::kind),
        app_ping_ms: args.app_ping.map(millis),
        via,
        nginx_version: args.nginx_version.clone(),
    }
    .validated()?)
}

/// The JSON report, with each finding's `span` (wsdoctor extension: `file`,
/// `line`, `column`, `len`) added next to the contract's fields, and the
/// findings a `# wsdoctor: ignore` comment silenced under `silenced`.
fn json_report(
    report: &wsdoctor_report::Report,
    findings: &[ConfigFinding],
    silenced: &[(ConfigFinding, &IgnoreDirective)],
) -> anyhow::Result<serde_json::Value> {
    let mut value = serde_json::to_value(report).context("serializing the report")?;
    if let Some(list) = value
        .get_mut("findings")
        .and_then(serde_json::Value::as_array_mut)
    {
        for (json, f) in list.iter_mut().zip(findings) {
            if let (Some(obj), Some(span)) = (json.as_object_mut(), &f.span) {
                obj.insert("span".into(), serde_json::to_value(span)?);
            }
        }
    }
    if !silenced.is_empty() {
        let mut list = Vec::new();
        for (f, directive) in silenced {
            let mut json = serde_json::to_value(&f.finding).context("serializing the report")?;
            if let Some(obj) = json.as_object_mut() {
                if let Some(span) = &f.span {
                    obj.insert("span".into(), serde_json::to_value(span)?);
                }
                obj.insert("silenced_by".into(), serde_json::to_value(directive)?);
            }
            list.push(json);
        }
        if let Some(obj) = value.as_object_mut() {
            obj.insert("silenced".into(), serde_json::Value::Array(list));
        }
    }
    Ok(value)
}

fn observations(ev: &ConfigEvidence, findings: &[ConfigFinding]) -> serde_json::Value {
    let edits: Vec<_> = findings.iter().flat_map(|f| &f.edits).collect();
    serde_json::json!({
        "config": ev,
        "edits": edits,
    })
}

pub(crate) async fn run(args: LintArgs) -> anyhow::Result<u8> {
    let config = lint_config(&args)?;
    let started_at = SystemTime::now();
    let clock = Instant::now();
    let evidence = wsdoctor_lint::load(&config)?;
    let directives = wsdoctor_lint::ignore_directives(&evidence);
    let (findings, silenced) = silence(diagnose_config(&evidence), &directives);

    let targets = config
        .paths
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let plain: Vec<_> = findings.iter().map(|f| f.finding.clone()).collect();
    let mut report = wsdoctor_report::Report::new(
        "lint",
        targets,
        started_at,
        clock.elapsed(),
        plain,
        observations(&evidence, &findings),
    );
    // What was found was silenced on purpose: nothing is left to count.
    if report.verdict == Verdict::Inconclusive && findings.is_empty() && !silenced.is_empty() {
        report.verdict = Verdict::Healthy;
    }
    // A file that could not be read completely cannot be called healthy.
    if report.verdict == Verdict::Healthy && evidence.problems.iter().any(|p| p.kind.is_error()) {
        report.verdict = Verdict::Inconclusive;
    }
    let exit = output::exit_status(&report);
    // For the page (only with --html): the text report without colours,
    // whatever stdout is.
    let plain = wsdoctor_report::Style::PLAIN;
    let page_text = args.output.html.as_ref().map(|_| {
        format!(
            "{}{}\n{}\n",
            wsdoctor_report::text::lint_view::render_lint(&evidence, &findings, plain),
            silenced_text(&silenced, &directives),
            wsdoctor_report::verdict_line(report.verdict, &report.findings, plain)
        )
    });
    output::write_html(&args.output, &report, page_text.as_deref(), Vec::new)?;

    if args.format == Some(FormatArg::Sarif) {
        let mut entries: Vec<Entry<'_>> = findings
            .iter()
            .map(|finding| Entry {
                finding,
                silenced_by: None,
            })
            .collect();
        entries.extend(silenced.iter().map(|(finding, d)| Entry {
            finding,
            silenced_by: Some(*d),
        }));
        let log = lint_sarif::sarif_log(&evidence, &entries);
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut stdout, &log).context("writing the SARIF log")?;
        writeln!(stdout).context("writing the SARIF log")?;
        return Ok(exit);
    }
    if args.output.json || args.format == Some(FormatArg::Json) {
        let value = json_report(&report, &findings, &silenced)?;
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut stdout, &value).context("writing the report")?;
        writeln!(stdout).context("writing the report")?;
        return Ok(exit);
    }
    let style = if args.fix {
        stderr_style(&args.output)
    } else {
        output::style(&args.output)
    };
    let text = format!(
        "{}{}\n{}\n",
        wsdoctor_report::text::lint_view::render_lint(&evidence, &findings, style),
        silenced_text(&silenced, &directives),
        wsdoctor_report::verdict_line(report.verdict, &report.findings, style)
    );
    if args.fix {
        let edits: Vec<_> = findings.iter().flat_map(|f| f.edits.clone()).collect();
        let diff = wsdoctor_lint::unified_diff(&evidence, &edits);
        let mut stderr = std::io::stderr().lock();
        stderr
            .write_all(text.as_bytes())
            .context("writing the report")?;
        // What --fix could not decide, and an empty diff, said where a
        // pipe into `patch -p1` does not read it.
        for note in findings.iter().filter_map(|f| f.fix_note.as_deref()) {
            writeln!(stderr, "--fix: {note}").context("writing the report")?;
        }
        if diff.is_empty() {
            writeln!(
                stderr,
                "--fix: the diff is empty: nothing found here can be changed in place"
            )
            .context("writing the report")?;
        }
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(diff.as_bytes())
            .context("writing the diff")?;
        stdout.flush().context("writing the diff")?;
        return Ok(exit);
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .context("writing the report")?;
    Ok(exit)
}

/// Splits the findings into those that count and those a `# wsdoctor:
/// ignore` comment covers (kept, with the directive, to be reported as
/// silenced). A finding without a place cannot be silenced inline.
fn silence(
    findings: Vec<ConfigFinding>,
    directives: &[IgnoreDirective],
) -> (Vec<ConfigFinding>, Vec<(ConfigFinding, &IgnoreDirective)>) {
    let mut kept = Vec::new();
    let mut silenced = Vec::new();
    for f in findings {
        let by = f.span.as_ref().and_then(|span| {
            directives
                .iter()
                .find(|d| d.covers(&span.file, span.line, f.finding.id.as_str()))
        });
        match by {
            Some(d) => silenced.push((f, d)),
            None => kept.push(f),
        }
    }
    (kept, silenced)
}

/// The short "silenced" list of the text report, and a note for every id
/// in a directive that is no finding id (a typo silences nothing).
fn silenced_text(
    silenced: &[(ConfigFinding, &IgnoreDirective)],
    directives: &[IgnoreDirective],
) -> String {
    use wsdoctor_diagnosis::explain::Topic;
    let escape = wsdoctor_evidence::escape_peer;
    let mut out = String::new();
    if !silenced.is_empty() {
        out.push_str(&format!("\nsilenced ({}):\n", silenced.len()));
        for (f, d) in silenced {
            let place = f
                .span
                .as_ref()
                .map_or_else(String::new, |s| format!("{s}: "));
            out.push_str(&format!(
                "  {place}{} (by the comment at {}:{}{})\n",
                f.finding.id.as_str(),
                escape(&d.file),
                d.line,
                d.reason
                    .as_ref()
                    .map_or_else(String::new, |r| format!(": {}", escape(r)))
            ));
        }
    }
    for d in directives {
        for id in &d.ids {
            let known = matches!(
                wsdoctor_diagnosis::explain(id).map(|e| e.topic),
                Ok(Topic::Cause(_))
            );
            if !known {
                out.push_str(&format!(
                    "\nnote: {}:{}: `wsdoctor: ignore {}` names no finding id (see `wsdoctor explain`); it silences nothing\n",
                    escape(&d.file),
                    d.line,
                    escape(id)
                ));
            }
        }
    }
    out
}
