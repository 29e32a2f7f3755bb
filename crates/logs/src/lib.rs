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
use wsdoctor_evidence::ConfigError;

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

    /// The config as given when standard input is read at most once and
    /// the time window, if bounded on both sides, is not empty.
    pub fn validated(self) -> Result<Self, ConfigError> {
        if self
            .inputs
            .iter()
            .filter(|i| matches!(i, Input::Stdin))
            .count()
            > 1
        {
            return Err(ConfigError::Rule {
                setting: "standard input (-)",
                rule: "can be read only once",
            });
        }
        if let (Some(s), Some(u)) = (self.filter.since_ms, self.filter.until_ms) {
            if s >= u {
                return Err(ConfigError::Rule {
                    setting: "--since",
                    rule: "must be before --until",
                });
            }
        }
        Ok(self)
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

#[cfg(test)]
mod config_tests {
    use super::*;

    fn refusal(inputs: &[&str], since_ms: Option<i64>, until_ms: Option<i64>) -> Option<String> {
        let mut config = LogsConfig::new(inputs.iter().map(|i| Input::from_arg(i)).collect());
        config.filter.since_ms = since_ms;
        config.filter.until_ms = until_ms;
        config.validated().err().map(|e| e.to_string())
    }

    #[test]
    fn the_constructor_holds_the_bounds() {
        assert_eq!(refusal(&["-", "a.log"], Some(1), Some(2)), None);
        assert_eq!(
            refusal(&["-", "a.log", "-"], None, None).as_deref(),
            Some("standard input (-) can be read only once")
        );
        let window = Some("--since must be before --until");
        assert_eq!(refusal(&["a.log"], Some(2), Some(2)).as_deref(), window);
        assert_eq!(refusal(&["a.log"], Some(3), Some(2)).as_deref(), window);
    }
}
