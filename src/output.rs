//! Where output goes: the JSON report alone on stdout with `--json`, text
//! otherwise; colours and the live spinner only on a terminal.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use wsdoctor_report::text::Style;
use wsdoctor_report::Report;
use wsdoctor_sources::{Progress, ProgressSink};

use crate::args::{ColorWhen, OutputArgs};

/// The text style for stdout: colour only on a terminal, never with NO_COLOR.
pub(crate) fn style(output: &OutputArgs) -> Style {
    let color = match output.color {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    };
    Style { color }
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

/// A live status line on stderr while sources run (elapsed time ticks even
/// when the peer is silent); hidden when stderr is not a terminal, so CI logs
/// and `--json` pipelines stay clean.
pub(crate) struct Spinner {
    bar: Option<ProgressBar>,
    watch: Duration,
}

impl Spinner {
    pub(crate) fn new(watch: Duration) -> Spinner {
        if !std::io::stderr().is_terminal() {
            return Spinner { bar: None, watch };
        }
        let bar = ProgressBar::new_spinner();
        let style = ProgressStyle::with_template("{spinner} [{elapsed}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(100));
        bar.set_message("connecting…");
        Spinner {
            bar: Some(bar),
            watch,
        }
    }

    /// A progress sink for one source.
    pub(crate) fn sink(&self) -> ProgressSink {
        let bar = self.bar.clone();
        let watch = wsdoctor_evidence::format_duration(self.watch);
        Arc::new(move |p: Progress| {
            let Some(bar) = &bar else { return };
            let message = match p {
                Progress::Connecting { target } => format!("connecting to {target}"),
                Progress::Watching {
                    target,
                    remaining,
                    frames_in,
                } => format!(
                    "watching {target} ({watch} window, {}s left): {frames_in} frames received",
                    remaining.as_secs()
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
