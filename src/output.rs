//! Where output goes: the JSON report alone on stdout with `--json`, text
//! otherwise; colours and the live spinner only on a terminal.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use wsdoctor_report::text::Style;
use wsdoctor_report::Report;
use wsdoctor_sources::{Progress, ProgressSink};

use crate::cli::{ColorWhen, OutputArgs};

/// The text style for stdout: colour only on a terminal, never with NO_COLOR.
pub(crate) fn style(output: &OutputArgs) -> Style {
    style_for(output.color)
}

/// The text style for a `--color` choice.
pub(crate) fn style_for(when: ColorWhen) -> Style {
    let color = match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    };
    Style { color }
}

/// Writes the HTML report when `--html FILE` was given: the findings, the
/// charts (only built then) and `text`, the report as the terminal shows it.
pub(crate) fn write_html(
    output: &OutputArgs,
    report: &Report,
    text: Option<&str>,
    charts: impl FnOnce() -> Vec<wsdoctor_report::html::Chart>,
) -> anyhow::Result<()> {
    let Some(path) = &output.html else {
        return Ok(());
    };
    let page = wsdoctor_report::html::render_html(report, &charts(), text);
    std::fs::write(path, page)
        .map_err(|e| anyhow::anyhow!("cannot write the HTML report to {}: {e}", path.display()))
}

/// The tail every report command shares: the HTML page when `--html` was
/// given, the report on stdout, and the exit status its verdict stands for.
pub(crate) fn finish(
    output: &OutputArgs,
    report: &Report,
    text: &str,
    charts: impl FnOnce() -> Vec<wsdoctor_report::html::Chart>,
) -> anyhow::Result<u8> {
    write_html(output, report, Some(text), charts)?;
    emit(output, report, text).context("writing the report")?;
    Ok(exit_status(report))
}

/// The process exit status of a report's verdict (contract: 0 healthy,
/// 1 problems or inconclusive).
pub(crate) fn exit_status(report: &Report) -> u8 {
    u8::try_from(report.verdict.exit_code()).unwrap_or(1)
}

/// Writes the report: JSON alone on stdout, or the text rendering.
pub(crate) fn emit(output: &OutputArgs, report: &Report, text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    if output.json {
        serde_json::to_writer_pretty(&mut stdout, report)?;
        writeln!(stdout)?;
    } else {
        stdout.write_all(text.as_bytes())?;
    }
    stdout.flush()
}

/// A live status line on stderr while sources run, with a countdown that
/// ticks even when the peer is silent; hidden when stderr is not a terminal,
/// so CI logs and `--json` pipelines stay clean.
pub(crate) struct Spinner {
    bar: Option<ProgressBar>,
    /// When the watch window ends, once a connection is open.
    deadline: Arc<Mutex<Option<Instant>>>,
}

impl Spinner {
    pub(crate) fn new() -> Spinner {
        let deadline = Arc::new(Mutex::new(None::<Instant>));
        if !std::io::stderr().is_terminal() {
            return Spinner {
                bar: None,
                deadline,
            };
        }
        let shown = Arc::clone(&deadline);
        let style = ProgressStyle::with_template("{spinner} [{elapsed}] {msg}{left}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .with_key(
                "left",
                move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let left = shown
                        .lock()
                        .ok()
                        .and_then(|d| *d)
                        .map(|d| d.saturating_duration_since(Instant::now()));
                    if let Some(left) = left {
                        let _ = write!(w, " — {}s left", left.as_secs());
                    }
                },
            );
        let bar = ProgressBar::new_spinner();
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(100));
        bar.set_message("connecting…");
        Spinner {
            bar: Some(bar),
            deadline,
        }
    }

    /// A progress sink for one source.
    pub(crate) fn sink(&self) -> ProgressSink {
        let bar = self.bar.clone();
        let deadline = Arc::clone(&self.deadline);
        Arc::new(move |p: Progress| {
            let Some(bar) = &bar else { return };
            let message = match p {
                Progress::Connecting { target } => format!("connecting to {target}"),
                Progress::Watching {
                    target,
                    remaining,
                    frames_in,
                } => {
                    if let Ok(mut d) = deadline.lock() {
                        d.get_or_insert_with(|| Instant::now() + remaining);
                    }
                    format!("watching {target}: {frames_in} frames received")
                }
                Progress::Idle {
                    target,
                    open,
                    total,
                    ..
                } => {
                    format!("measuring {target}: {open} of {total} connections still open")
                }
                Progress::IdleTimerCertain {
                    target,
                    dropped_at,
                    heartbeat_until,
                } => {
                    // A line that stays: the timer is the main answer, and
                    // the heartbeat watch may take a while longer.
                    bar.println(format!(
                        "{target}: connections dropped together at {}: the timer is certain; \
                         keeping the survivors open until {} to see the server's heartbeat \
                         (--heartbeat-window)",
                        wsdoctor_evidence::format_duration(dropped_at),
                        wsdoctor_evidence::format_duration(heartbeat_until)
                    ));
                    format!("measuring {target}: watching for the server's heartbeat")
                }
                Progress::Load { target, step, steps, open, failed, dropped } => format!(
                    "loading {target}: step {step}/{steps}, {open} open, {failed} failed, {dropped} dropped"
                ),
                Progress::Closing { target } => format!("closing {target}"),
            };
            bar.set_message(message);
        })
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A line for the person running a long-lived server (`serve`, `lab`) on
/// stderr. A server must not die because its stderr went away (a closed
/// pipe, a detached terminal): write errors are ignored, where `eprintln!`
/// would panic.
pub(crate) fn say(text: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// A line of a long-lived server's log on stdout (one per connection), for
/// the same reason: `serve | head` stops reading, the server goes on.
pub(crate) fn log_line(text: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}
