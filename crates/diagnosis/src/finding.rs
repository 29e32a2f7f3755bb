//! A finding: one cause from the contract's vocabulary, with the measured
//! facts behind it and how to fix it. Field names are the JSON contract
//! (`shared/contract.md`); never rename one.

use serde::{Deserialize, Serialize};

/// The contract's cause ids. Stable forever: add, never rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum CauseId {
    /// The host name does not resolve.
    DnsFailure,
    /// Nothing listens, or a firewall rejects.
    ConnectRefused,
    /// TCP connect never answered (blackholed).
    ConnectTimeout,
    /// TLS handshake failed.
    TlsFailure,
    /// An intermediary did not pass `Upgrade`/`Connection`, or downgraded to HTTP/1.0.
    UpgradeNotForwarded,
    /// The server refused the upgrade for its own reasons.
    UpgradeRejected,
    /// The intermediary answered for a dead or unreachable backend.
    BackendUnavailable,
    /// A 101 came back but is not a valid WebSocket handshake.
    HandshakeInvalid,
    /// Silent connections are closed after a fixed idle time.
    IdleTimeout,
    /// Connections are closed after T whatever the traffic.
    MaxLifetime,
    /// Neither side sends pings or heartbeats.
    NoHeartbeat,
    /// Pings exist but their interval is not below the idle timeout.
    HeartbeatTooSlow,
    /// The connection ended without a close frame.
    AbnormalClose,
    /// The server closed with 1011.
    ServerError,
    /// 1001, 1012, 1013 or 1014.
    GoingAway,
    /// 1002, 1003, 1007, 1009, 1010, or a frame error.
    ProtocolError,
    /// 1008 or an application code 3000–4999.
    PolicyClose,
    /// Failures start past a concurrency or rate level.
    LoadLimit,
    /// Pongs come back but application messages have stopped.
    HandlerStalled,
    /// A client reconnects immediately or at a fixed short delay.
    ReconnectNoBackoff,
    /// Clients back off but reconnect in lockstep.
    ReconnectNoJitter,
    /// Consecutive connections land on different instances.
    StickySessionMissing,
    /// Many connections closed within a short window.
    MassDisconnect,
    /// One side could not keep up.
    SlowConsumer,
    /// The HTTP/2 extended CONNECT path fails while HTTP/1.1 works.
    H2WebsocketBroken,
    /// A keepalive gave up because a pong did not come back in time.
    LocalKeepaliveTimeout,
    /// The server (its application) ended the connection on purpose during
    /// the watch: 1000 (or an empty close frame), or a code its protocol documents.
    ServerClose,
    /// The forward proxy (HTTP CONNECT or SOCKS5) refused or failed the
    /// tunnel to the target. An extension of the contract's vocabulary.
    ProxyRefused,
    /// An application protocol's own heartbeat went unanswered (Socket.IO
    /// pingTimeout, …), so an endpoint gave up: not the path.
    AppHeartbeatTimeout,
    /// An application protocol's opening step did not happen in time
    /// (graphql-transport-ws 4408, …).
    AppInitTimeout,
    /// Nothing wrong was found by the checks that ran.
    Healthy,
}

impl CauseId {
    /// The contract's spelling (`idle-timeout`).
    pub fn as_str(self) -> &'static str {
        match self {
            CauseId::DnsFailure => "dns-failure",
            CauseId::ConnectRefused => "connect-refused",
            CauseId::ConnectTimeout => "connect-timeout",
            CauseId::TlsFailure => "tls-failure",
            CauseId::UpgradeNotForwarded => "upgrade-not-forwarded",
            CauseId::UpgradeRejected => "upgrade-rejected",
            CauseId::BackendUnavailable => "backend-unavailable",
            CauseId::HandshakeInvalid => "handshake-invalid",
            CauseId::IdleTimeout => "idle-timeout",
            CauseId::MaxLifetime => "max-lifetime",
            CauseId::NoHeartbeat => "no-heartbeat",
            CauseId::HeartbeatTooSlow => "heartbeat-too-slow",
            CauseId::AbnormalClose => "abnormal-close",
            CauseId::ServerError => "server-error",
            CauseId::GoingAway => "going-away",
            CauseId::ProtocolError => "protocol-error",
            CauseId::PolicyClose => "policy-close",
            CauseId::LoadLimit => "load-limit",
            CauseId::HandlerStalled => "handler-stalled",
            CauseId::ReconnectNoBackoff => "reconnect-no-backoff",
            CauseId::ReconnectNoJitter => "reconnect-no-jitter",
            CauseId::StickySessionMissing => "sticky-session-missing",
            CauseId::MassDisconnect => "mass-disconnect",
            CauseId::SlowConsumer => "slow-consumer",
            CauseId::H2WebsocketBroken => "h2-websocket-broken",
            CauseId::LocalKeepaliveTimeout => "local-keepalive-timeout",
            CauseId::ServerClose => "server-close",
            CauseId::ProxyRefused => "proxy-refused",
            CauseId::AppHeartbeatTimeout => "app-heartbeat-timeout",
            CauseId::AppInitTimeout => "app-init-timeout",
            CauseId::Healthy => "healthy",
        }
    }
}

/// How bad a finding is. Ordered: `Error` > `Warning` > `Info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Worth knowing; does not make the verdict `problems`.
    Info,
    /// A problem that will bite.
    Warning,
    /// The problem.
    Error,
}

/// Which kind of source produced the evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum SourceKind {
    /// `wsdoctor probe`.
    Probe,
    /// `wsdoctor idle`.
    Idle,
    /// `wsdoctor load`.
    Load,
    /// Message-flow checks.
    Flow,
    /// `wsdoctor reconnect`.
    Reconnect,
    /// `wsdoctor lint`.
    Config,
    /// `wsdoctor logs`.
    Log,
    /// The browser check.
    Browser,
}

/// Measured numbers, with the contract's key names. Only the keys that apply are set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// Measured idle timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_timeout_s: Option<f64>,
    /// Measured lifetime cap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_lifetime_s: Option<f64>,
    /// Spread of the measured value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spread_s: Option<f64>,
    /// How many samples.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub samples: Option<u32>,
    /// Close frame code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close_code: Option<u16>,
    /// Close frame reason (peer-controlled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close_reason: Option<String>,
    /// HTTP status of the upgrade answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// `reset`, `eof`, `half-open`, `tls`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    /// Interval of the server's pings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_ping_interval_s: Option<f64>,
    /// Concurrency at which failures begin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency_limit: Option<u64>,
    /// `immediate`, `fixed`, `linear`, `exponential`, `exponential-jitter`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconnect_policy: Option<String>,
    /// Delays between drop and reconnect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconnect_delays_s: Option<Vec<f64>>,
    /// When messages stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stall_after_s: Option<f64>,
    /// Which traffic keeps an idle path open: `data`, `ping`, `either`, `none`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keepalive_by: Option<String>,
    /// How many connections this affects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections_affected: Option<u64>,
    /// Width of a cluster of close times.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_window_s: Option<f64>,
    /// How long the connection was open when it ended (wsdoctor extension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_for_s: Option<f64>,
    /// How long the watch lasted (wsdoctor extension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watched_s: Option<f64>,
    /// The application protocol the connection spoke (`socketio`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
    /// The protocol's heartbeat interval, as announced or its default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_ping_interval_s: Option<f64>,
    /// The protocol's heartbeat timeout, as announced or its default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_ping_timeout_s: Option<f64>,
}

/// One way to fix a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fix {
    /// Who applies it: an intermediary id (`nginx`, `aws-alb`), `server`, `client`.
    #[serde(rename = "for")]
    pub for_: String,
    /// What to do, in a sentence or two.
    pub text: String,
    /// The exact config or code to change, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snippet: Option<String>,
}

/// One diagnosed cause with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The cause.
    pub id: CauseId,
    /// How bad.
    pub severity: Severity,
    /// 0..1: how sure the rule is.
    pub confidence: f64,
    /// One line for people.
    pub title: String,
    /// Which kind of source saw it.
    pub source: SourceKind,
    /// What it is about when that is not the whole target (a URL, `client=web-42`, `nginx.conf:31`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The product blamed, as a knowledge-base id (`aws-alb`, `nginx`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intermediary: Option<String>,
    /// Measured numbers.
    pub measured: Measured,
    /// Measured facts, one per line (peer-controlled parts escaped).
    pub evidence: Vec<String>,
    /// How to fix it; at least one.
    pub fix: Vec<Fix>,
    /// How to confirm this conclusion (wsdoctor extension of the contract).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<String>,
    /// What observation would change the conclusion (wsdoctor extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub would_change: Option<String>,
}

/// The overall verdict of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Nothing wrong was found (exit 0).
    Healthy,
    /// At least one warning or error finding (exit 1).
    Problems,
    /// The checks could not decide.
    Inconclusive,
}

impl Verdict {
    /// The verdict of a list of findings: problems when any is a warning or error.
    pub fn of(findings: &[Finding]) -> Verdict {
        if findings.iter().any(|f| f.severity >= Severity::Warning) {
            Verdict::Problems
        } else if findings.is_empty() {
            Verdict::Inconclusive
        } else {
            Verdict::Healthy
        }
    }

    /// The contract's exit status: 0 healthy, 1 problems. (2, "could not run",
    /// never comes from a verdict.)
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Healthy => 0,
            Verdict::Problems | Verdict::Inconclusive => 1,
        }
    }
}

/// A fix without a snippet.
pub(crate) fn fix(for_: &str, text: impl Into<String>) -> Fix {
    Fix {
        for_: for_.to_owned(),
        text: text.into(),
        snippet: None,
    }
}

/// A fix with a snippet (trimmed of the blank lines TOML multi-line strings carry).
pub(crate) fn fix_with(for_: &str, text: impl Into<String>, snippet: &str) -> Fix {
    Fix {
        for_: for_.to_owned(),
        text: text.into(),
        snippet: Some(snippet.trim_matches('\n').to_owned()),
    }
}
