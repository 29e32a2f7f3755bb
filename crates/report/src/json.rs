//! The JSON report: one document on stdout for `--json`.
//!
//! This is the wire format other programs (CI jobs, dashboards, scripts) read.
//! Field names are fixed by the contract (`shared/contract.md`) and checked
//! against `schema/report.schema.json` in this crate's tests. Fields may be
//! added; none is ever renamed or removed within `wsdoctor.report/v1`.
//!
//! # Top-level fields
//!
//! * `schema` (string): always `"wsdoctor.report/v1"`. A reader should check
//!   it before anything else; a new incompatible layout gets a new value.
//! * `tool_version` (string): the wsdoctor version that wrote the report,
//!   e.g. `"0.3.1"`.
//! * `command` (string): the subcommand that ran: `probe`, `idle`, `load`,
//!   `lint`, `logs`, …
//! * `target` (string): what was examined, usually a WebSocket URL with
//!   secrets redacted (`token=REDACTED`); the first one when there were
//!   several; `""` when the command had no target.
//! * `targets` (array of strings, optional, wsdoctor extension): every
//!   target, present only when the command examined more than one (e.g.
//!   `probe` comparing local and production). Absent otherwise.
//! * `started_at` (string): wall-clock start, RFC 3339 in UTC with second
//!   precision, e.g. `"2026-11-26T03:16:16Z"`.
//! * `duration_s` (number): how long the command ran, in seconds, rounded to
//!   milliseconds.
//! * `verdict` (string): `"healthy"` (no warning or error; exit status 0),
//!   `"problems"` (at least one warning or error; exit status 1) or
//!   `"inconclusive"` (no finding at all; exit status 1).
//! * `findings` (array): the findings, most important first, in the order the
//!   diagnosis ranked them. Each one is an object:
//!   * `id` (string): the cause, one of the contract's stable ids
//!     (`idle-timeout`, `upgrade-not-forwarded`, `healthy`, …).
//!   * `severity` (string): `"error"`, `"warning"` or `"info"`.
//!   * `confidence` (number, 0 to 1): how sure the rule is.
//!   * `title` (string): one line for people.
//!   * `source` (string): which kind of check saw it: `probe`, `idle`,
//!     `load`, `flow`, `reconnect`, `config`, `log`, `browser`.
//!   * `subject` (string, optional): what the finding is about when that is
//!     not the whole target: `client=web-42`, `nginx.conf:31`, a log file.
//!   * `intermediary` (string, optional): the product blamed, as a lowercase
//!     knowledge-base id: `nginx`, `aws-alb`, `cloudflare`, …
//!   * `measured` (object): the numbers behind the finding; only the keys that
//!     apply are present. Contract keys: `idle_timeout_s`, `max_lifetime_s`,
//!     `spread_s`, `samples`, `close_code`, `close_reason`, `http_status`,
//!     `transport` (`reset`, `eof`, `half-open`, `tls`),
//!     `server_ping_interval_s`, `concurrency_limit`, `reconnect_policy`
//!     (`immediate`, `fixed`, `linear`, `exponential`, `exponential-jitter`),
//!     `reconnect_delays_s` (array), `stall_after_s`, `keepalive_by`
//!     (`data`, `ping`, `either`, `none`), `connections_affected`,
//!     `cluster_window_s`. wsdoctor extensions: `open_for_s`, `watched_s`.
//!     Readers must ignore keys they do not know.
//!   * `evidence` (array of strings): the measured facts, one per line.
//!   * `fix` (array, at least one): ways to fix it, each `{"for", "text",
//!     "snippet"?}` where `for` names who applies it (an intermediary id,
//!     `server`, `client`), `text` says what to do and the optional
//!     `snippet` is the exact config or code.
//! * `observations` (object): command-specific raw measurements (the probe's
//!   connection record, the idle experiment's samples, …). Its layout
//!   belongs to each command and is not part of the stable contract.
//!
//! Secrets never appear: `Authorization`, `Cookie`, `Set-Cookie` and
//! `Proxy-Authorization` values and token-like query parameters are redacted
//! by the evidence layer before they are recorded.
//!
//! # Example
//!
//! ```json
//! {
//!   "schema": "wsdoctor.report/v1",
//!   "tool_version": "0.3.1",
//!   "command": "idle",
//!   "target": "wss://example.com/socket?token=REDACTED",
//!   "started_at": "2026-11-26T03:16:16Z",
//!   "duration_s": 64.2,
//!   "verdict": "problems",
//!   "findings": [
//!     {
//!       "id": "idle-timeout",
//!       "severity": "error",
//!       "confidence": 0.93,
//!       "title": "Idle connections are closed after 60.0 s",
//!       "source": "idle",
//!       "intermediary": "aws-alb",
//!       "measured": { "idle_timeout_s": 60.02, "spread_s": 0.03, "samples": 3 },
//!       "evidence": ["silent connection #1 closed at 60.01 s: TCP FIN, no close frame"],
//!       "fix": [
//!         {
//!           "for": "aws-alb",
//!           "text": "Raise the load balancer's idle timeout above your heartbeat interval.",
//!           "snippet": "aws elbv2 modify-load-balancer-attributes --attributes Key=idle_timeout.timeout_seconds,Value=300"
//!         }
//!       ]
//!     }
//!   ],
//!   "observations": {}
//! }
//! ```

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Deserializer, Serialize};
use wsdoctor_diagnosis::{Finding, Verdict};

/// The value of `schema` in every report this version writes.
pub const SCHEMA_ID: &str = "wsdoctor.report/v1";

/// `&'static str` under a name: serde's derive treats a field spelled `&str`
/// as borrowed from the input (`'de: 'static`), which would stop `Report`
/// from being `DeserializeOwned`; the field is read by a function that checks
/// the value and yields the constant instead.
pub type SchemaId = &'static str;

/// One `--json` report. See the [module documentation](self) for the wire format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always [`SCHEMA_ID`]; deserializing any other value fails, so a reader
    /// never misreads a future layout as this one.
    #[serde(deserialize_with = "known_schema")]
    pub schema: SchemaId,
    /// The wsdoctor version that wrote the report.
    pub tool_version: String,
    /// The subcommand that ran (`probe`, `idle`, …).
    pub command: String,
    /// The first (usually the only) target, secrets redacted; `""` when none.
    pub target: String,
    /// Every target, only when there were several (wsdoctor extension).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// Wall-clock start, RFC 3339 UTC (`2026-11-26T03:16:16Z`).
    pub started_at: String,
    /// How long the command ran, in seconds with millisecond precision.
    pub duration_s: f64,
    /// The verdict of `findings` ([`Verdict::of`]).
    pub verdict: Verdict,
    /// The findings, in the order the diagnosis ranked them.
    pub findings: Vec<Finding>,
    /// Command-specific raw observations (not part of the stable contract).
    pub observations: serde_json::Value,
}

impl Report {
    /// Builds a report. `targets` are the redacted targets in the order the
    /// user gave them: `target` becomes the first one (or `""`), and
    /// `targets` is kept only when there are several. The verdict is
    /// [`Verdict::of`] the findings, which stay in the order given.
    /// `tool_version` is this workspace's version (the binary shares it).
    pub fn new(
        command: impl Into<String>,
        targets: Vec<String>,
        started_at: SystemTime,
        duration: Duration,
        findings: Vec<Finding>,
        observations: serde_json::Value,
    ) -> Report {
        let target = targets.first().cloned().unwrap_or_default();
        // One target is already `target`; repeating it would only be noise.
        let targets = if targets.len() > 1 {
            targets
        } else {
            Vec::new()
        };
        Report {
            schema: SCHEMA_ID,
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            command: command.into(),
            target,
            targets,
            started_at: humantime::format_rfc3339_seconds(started_at).to_string(),
            duration_s: round_millis(duration),
            verdict: Verdict::of(&findings),
            findings,
            observations,
        }
    }
}

/// Seconds rounded to 3 decimals: finer digits are clock noise, not information.
fn round_millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0).round() / 1000.0
}

/// Accepts only [`SCHEMA_ID`], so a reader never mistakes another layout for
/// this one.
fn known_schema<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SchemaId, D::Error> {
    let value = String::deserialize(deserializer)?;
    if value == SCHEMA_ID {
        Ok(SCHEMA_ID)
    } else {
        Err(serde::de::Error::custom(format!(
            "unsupported report schema '{value}' (this wsdoctor reads '{SCHEMA_ID}')"
        )))
    }
}

#[cfg(test)]
mod tests;
