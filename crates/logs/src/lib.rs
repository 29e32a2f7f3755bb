//! wsdoctor source: logs. Reads the logs users already have — AWS ALB,
//! nginx (access and error) and HAProxy logs, HAR files — and turns the
//! WebSocket entries into [`LogEvidence`]: lifetimes, close times, failed
//! upgrades, per-client reconnect delays, end reasons and error-log events.
//!
//! Lines are parsed as bytes without regex, in newline-aligned blocks spread
//! over all cores, and only bounded aggregates are kept, so memory grows
//! with the number of distinct clients and paths, never with the file.
//! Malformed lines are counted and sampled, never fatal.

mod agg;
mod bytes;
mod error;
pub mod formats;
mod input;
mod read;
mod record;
mod time;

use wsdoctor_evidence::logs::{LogEvidence, LogFormat};

pub use agg::Filter;
pub use error::LogsError;
pub use formats::nginx::{log_formats_in_conf, FormatError, NginxFormat, COMBINED};
pub use input::Input;
pub use time::{format_rfc3339, parse_user_time};

/// What to read and how.
#[derive(Debug, Clone)]
pub struct LogsConfig {
    /// The inputs, in order (a client's reconnects may span files).
    pub inputs: Vec<Input>,
    /// Read every input as this format instead of detecting it.
    pub format: Option<LogFormat>,
    /// The nginx `log_format` of nginx access logs (default `combined`).
    pub nginx_format: NginxFormat,
    /// Which entries count.
    pub filter: Filter,
}

impl LogsConfig {
    /// Reads `inputs` with format detection, `combined` for nginx, no filter.
    pub fn new(inputs: Vec<Input>) -> LogsConfig {
        LogsConfig {
            inputs,
            format: None,
            nginx_format: NginxFormat::combined(),
            filter: Filter::default(),
        }
    }
}

/// Reads every input and returns the evidence. Fails only when an input
/// cannot be opened or read at all, or its format is unknown.
pub fn read_logs(config: &LogsConfig) -> Result<LogEvidence, LogsError> {
    let mut agg = agg::Agg::default();
    let mut files = Vec::new();
    for input in &config.inputs {
        files.push(read::read_input(
            input,
            config.format,
            &config.nginx_format,
            &config.filter,
            &mut agg,
        )?);
    }
    let mut evidence = agg.finish(&config.filter);
    evidence.files = files;
    evidence.filters = describe(&config.filter);
    Ok(evidence)
}

fn describe(filter: &Filter) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(s) = filter.since_ms {
        out.push(format!("since {}", format_rfc3339(s)));
    }
    if let Some(u) = filter.until_ms {
        out.push(format!("until {}", format_rfc3339(u)));
    }
    if let Some(p) = &filter.path_prefix {
        out.push(format!("path {}", String::from_utf8_lossy(p)));
    }
    out
}
