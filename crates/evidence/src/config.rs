//! Evidence read out of proxy and load-balancer configuration (`wsdoctor lint`).
//!
//! A config source parses files and records *what they say*, each value with
//! the place it was written ([`Span`]); it never judges. Which value is too
//! low, which header is missing and what the defaults are is the diagnosis
//! engine's business, so these types carry explicit settings only: `None`
//! means "not written anywhere that applies", and the rules supply the
//! product default from the knowledge base.
//!
//! Durations are milliseconds (`u64`), whatever unit the file used.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Words in a path, location, upstream or service name that say "WebSocket
/// here" (config readers and rules decide which routes need the upgrade).
/// `socket.io` only matches where names are split keeping dots.
pub const WEBSOCKET_WORDS: &[&str] = &[
    "ws",
    "wss",
    "websocket",
    "websockets",
    "socket",
    "sockets",
    "sockjs",
    "socketio",
    "socket.io",
    "cable",
    "hub",
    "hubs",
    "realtime",
    "live",
    "stream",
    "subscriptions",
    "graphql",
    "graphql-ws",
];

/// A place in a config file: 1-based line and column (in characters), and
/// how many characters the highlighted token spans.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Span {
    /// The file as the user would name it (relative to the working directory
    /// when it lies below it).
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub column: u32,
    /// Width of the highlighted token in characters (at least 1).
    pub len: u32,
}

impl Span {
    /// `nginx.conf:31`: the contract's `subject` for a config place.
    pub fn file_line(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Which product a file configures; the string is its knowledge-base id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ConfigKind {
    /// nginx (`nginx.conf`, `conf.d/*.conf`).
    Nginx,
    /// HAProxy (`haproxy.cfg`).
    Haproxy,
    /// Kubernetes manifests (Ingress, Service, BackendConfig, ConfigMap),
    /// one or many documents, or `kubectl get -o yaml` List output.
    Kubernetes,
    /// Envoy bootstrap or listener config (YAML or JSON).
    Envoy,
    /// Terraform (`*.tf`): `aws_lb`, `aws_lb_listener`, `aws_elb`,
    /// `google_compute_backend_service`.
    Terraform,
    /// CloudFormation templates (JSON or YAML).
    Cloudformation,
    /// JSON printed by the AWS CLI (`aws elbv2 describe-…-attributes`).
    AwsCli,
    /// JSON printed by gcloud (`gcloud compute backend-services describe`).
    Gcloud,
    /// Apache httpd (`httpd.conf`, `sites-enabled/*.conf`).
    Apache,
    /// Caddy (`Caddyfile`).
    Caddy,
    /// Application code that configures a WebSocket library's heartbeat
    /// (Socket.IO `pingInterval`, python-websockets `ping_interval`).
    Application,
}

impl ConfigKind {
    /// The knowledge-base id of the product (`nginx`, `haproxy`, `envoy`,
    /// `apache-httpd`), or the format's name for files that describe other
    /// products (`kubernetes`, `terraform`, `cloudformation`, `aws-cli`,
    /// `gcloud`).
    pub fn kb_id(self) -> &'static str {
        match self {
            ConfigKind::Nginx => "nginx",
            ConfigKind::Haproxy => "haproxy",
            ConfigKind::Kubernetes => "kubernetes",
            ConfigKind::Envoy => "envoy",
            ConfigKind::Terraform => "terraform",
            ConfigKind::Cloudformation => "cloudformation",
            ConfigKind::AwsCli => "aws-cli",
            ConfigKind::Gcloud => "gcloud",
            ConfigKind::Apache => "apache-httpd",
            ConfigKind::Caddy => "caddy",
            ConfigKind::Application => "application",
        }
    }
}

/// One file that was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    /// Display path, as in [`Span::file`].
    pub path: String,
    /// What it configures.
    pub kind: ConfigKind,
    /// The `include` that pulled it in; `None` for a file named by the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub included_from: Option<Span>,
    /// The full text. Kept for rendering source lines and building patches;
    /// left out of JSON, where it would only repeat the user's own files.
    #[serde(skip)]
    pub text: String,
}

impl SourceFile {
    /// Line `n` (1-based) without its line ending.
    pub fn line(&self, n: u32) -> Option<&str> {
        let index = usize::try_from(n).ok()?.checked_sub(1)?;
        self.text.lines().nth(index)
    }
}

/// What kind of trouble reading a file ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ProblemKind {
    /// The text does not follow the product's grammar.
    Syntax,
    /// A template placeholder (`{{ … }}`, `${VAR}`): the value is unknown
    /// until the template is rendered, so rules cannot judge it.
    Templated,
    /// An `include` points outside the config root; it was not followed.
    IncludeOutsideRoot,
    /// An `include` names a file that could not be read.
    IncludeUnreadable,
    /// An `include` glob matched nothing (nginx accepts this silently).
    IncludeNoMatch,
    /// A value that should be a duration or a number is not one.
    InvalidValue,
}

impl ProblemKind {
    /// True when the config could not be read completely, so a clean result
    /// would not mean the config is clean.
    pub fn is_error(self) -> bool {
        matches!(self, ProblemKind::Syntax | ProblemKind::IncludeUnreadable)
    }
}

/// A reading problem, at the place it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigProblem {
    /// What kind.
    pub kind: ProblemKind,
    /// One sentence for people.
    pub message: String,
    /// Where.
    pub span: Span,
}

/// A value written in a config file, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setting<T> {
    /// The parsed value; `None` when the text could not be read as one
    /// (templated or invalid; a [`ConfigProblem`] says which).
    pub value: Option<T>,
    /// The value as written (`75s`, `$connection_upgrade`).
    pub raw: String,
    /// The directive that set it.
    pub span: Span,
    /// True when the value comes from an enclosing block (`http`, `server`,
    /// `defaults`) rather than the block it applies to.
    pub inherited: bool,
}

impl<T> Setting<T> {
    /// The same setting, marked as coming from an enclosing block.
    pub fn inherited(mut self) -> Self {
        self.inherited = true;
        self
    }
}

/// A duration setting, in milliseconds.
pub type TimerSetting = Setting<u64>;

/// One `proxy_set_header NAME VALUE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderSetting {
    /// The header name as written.
    pub name: String,
    /// The value as written, quotes removed.
    pub value: String,
    /// The directive.
    pub span: Span,
    /// Where the header name token starts (for "did you mean" carets).
    pub name_span: Span,
    /// Where the value token starts.
    pub value_span: Span,
    /// Set in an enclosing block.
    pub inherited: bool,
}

/// One `map $source $target { … }` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NginxMap {
    /// The variable read, e.g. `$http_upgrade`.
    pub source: String,
    /// The variable defined, e.g. `$connection_upgrade`.
    pub target: String,
    /// The `map` directive.
    pub span: Span,
    /// Every `key value` entry in order (`default` included), quotes removed.
    pub entries: Vec<(String, String)>,
}

impl NginxMap {
    /// The value given for `key`, if the map lists it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A block that proxies (`location`, or a `server` with `proxy_pass`), with
/// the settings in effect there after nginx's inheritance rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NginxRoute {
    /// `server_name` of the enclosing server (first name), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// The location's arguments (`/ws/`, `~* ^/socket`); `None` for a
    /// server-level `proxy_pass`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The `location` (or `server`) directive.
    pub block: Span,
    /// `proxy_pass` in this block.
    pub proxy_pass: Setting<String>,
    /// `proxy_http_version` in effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_version: Option<Setting<String>>,
    /// The `proxy_set_header` list in effect here.
    pub headers: Vec<HeaderSetting>,
    /// Headers set in an enclosing block that do *not* apply here, because
    /// this level has `proxy_set_header` lines of its own (nginx inherits
    /// array directives only when a level has none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shadowed_headers: Vec<HeaderSetting>,
    /// `proxy_read_timeout` in effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_timeout: Option<TimerSetting>,
    /// `proxy_send_timeout` in effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_timeout: Option<TimerSetting>,
    /// `proxy_buffering` in effect (`on`/`off`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffering: Option<Setting<String>>,
    /// The enclosing `server` directive (where http-level inserts go).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<Span>,
}

/// Everything read from nginx files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NginxEvidence {
    /// `worker_shutdown_timeout` (main context).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_shutdown_timeout: Option<TimerSetting>,
    /// `worker_connections` (events context).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_connections: Option<Setting<u64>>,
    /// Every `map` block.
    pub maps: Vec<NginxMap>,
    /// Every proxying block.
    pub routes: Vec<NginxRoute>,
    /// The nginx version the user says runs this config (`--nginx-version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// One HAProxy proxy section (`frontend`, `backend`, `listen`) with the
/// settings in effect after its `defaults`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaproxySection {
    /// `frontend`, `backend` or `listen`.
    pub kind: String,
    /// The section's name.
    pub name: String,
    /// The section header line.
    pub span: Span,
    /// `mode` in effect (`http`, `tcp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Setting<String>>,
    /// `timeout <name>` in effect, by name (`tunnel`, `client`, `server`,
    /// `client-fin`, `server-fin`, `connect`).
    pub timeouts: Vec<(String, TimerSetting)>,
    /// `option …` lines in effect that matter for upgrades
    /// (`http-server-close`, `httpclose`, `forceclose`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<Setting<String>>,
    /// `maxconn` in effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxconn: Option<Setting<u64>>,
    /// Backends this section sends to (`default_backend`, `use_backend`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<String>,
    /// The `defaults` section it inherits from, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<Span>,
}

impl HaproxySection {
    /// The timeout called `name`, if set.
    pub fn timeout(&self, name: &str) -> Option<&TimerSetting> {
        self.timeouts
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s)
    }
}

/// Everything read from HAProxy files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaproxyEvidence {
    /// `maxconn` in `global`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_maxconn: Option<Setting<u64>>,
    /// `hard-stop-after` in `global`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard_stop_after: Option<TimerSetting>,
    /// `frontend`, `backend` and `listen` sections in file order.
    pub sections: Vec<HaproxySection>,
}

/// What a timer does to a WebSocket once it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum TimerRole {
    /// Closes connections silent for this long (traffic re-arms it).
    Idle,
    /// Closes connections this old, whatever the traffic.
    Lifetime,
    /// A per-request timeout that, depending on the product's version,
    /// may also end upgraded connections (Envoy's route `timeout`).
    Request,
    /// How long open connections may stay after a config reload before
    /// they are closed (Caddy's `stream_close_delay`); unset or 0 means
    /// every reload closes them at once.
    Drain,
    /// How often the application itself sends a ping or heartbeat
    /// (Socket.IO `pingInterval`, python-websockets `ping_interval`): not a
    /// timer that closes anything, but what every idle timer is judged
    /// against.
    Heartbeat,
}

/// How a product writes a duration, so an edit writes a new one the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ValueStyle {
    /// A bare number of seconds (`60`, `"60"`).
    Seconds,
    /// Seconds with an `s` (`60s`, `3600s`).
    SecondsSuffix,
}

impl ValueStyle {
    /// `seconds` written in this style.
    pub fn write(self, seconds: u64) -> String {
        match self {
            ValueStyle::Seconds => seconds.to_string(),
            ValueStyle::SecondsSuffix => format!("{seconds}s"),
        }
    }
}

/// One timer of a [`HopConfig`]: written (with the exact place of its
/// value) or not written (the product default applies; the rules know it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HopTimer {
    /// The setting as the product names it
    /// (`nginx.ingress.kubernetes.io/proxy-read-timeout`, `idle_timeout`).
    pub key: String,
    /// What it does to WebSockets.
    pub role: TimerRole,
    /// The value as written; its span covers exactly the value's characters
    /// (quotes included), so an edit can replace them in place. `None` when
    /// the file does not set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setting: Option<TimerSetting>,
    /// How a new value is written.
    pub style: ValueStyle,
    /// Where a missing setting would be added: an edit whose lines carry
    /// `{value}` where the value goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insert: Option<Edit>,
}

/// Whether a hop forwards WebSocket upgrades, as its config says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpgradeSetting {
    /// True when the config enables upgrades for this hop.
    pub enabled: bool,
    /// What enables it or where it is missing (`upgrade_configs`,
    /// `ProxyPass … upgrade=websocket`).
    pub what: String,
    /// The place: the enabling line, or the block that lacks it.
    pub span: Span,
    /// The edit that enables it, when one line-level edit can.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<Edit>,
}

/// A hop described by a manifest, template, API output or proxy config
/// (everything but nginx and HAProxy, which have their own evidence).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HopConfig {
    /// kb id of the product that runs the hop (`aws-alb`, `ingress-nginx`,
    /// `envoy`, `gcp-external-alb`, `apache-httpd`, …).
    pub product: String,
    /// How findings name it (`Ingress default/chat`, `aws_lb.ws`,
    /// `Envoy listener main, route /ws`).
    pub name: String,
    /// The resource, block or route it comes from.
    pub span: Span,
    /// The file kind it was read from.
    pub source: ConfigKind,
    /// Why it is taken to carry WebSockets (a path, a service or an
    /// annotation naming them); `None` when nothing says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websocket: Option<String>,
    /// Timers, written or not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timers: Vec<HopTimer>,
    /// Upgrade forwarding, for products where it needs configuring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<UpgradeSetting>,
    /// Facts worth a note in findings about this hop.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl HopConfig {
    /// The timer with this role, the first one when there are several.
    pub fn timer(&self, role: TimerRole) -> Option<&HopTimer> {
        self.timers.iter().find(|t| t.role == role)
    }
}

/// All evidence from one `wsdoctor lint` run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigEvidence {
    /// Every file read, in the order read.
    pub files: Vec<SourceFile>,
    /// Reading problems (syntax, templating, includes).
    pub problems: Vec<ConfigProblem>,
    /// What the nginx files say.
    pub nginx: NginxEvidence,
    /// What the HAProxy files say.
    pub haproxy: HaproxyEvidence,
    /// Hops described by every other kind of file (Kubernetes, Envoy,
    /// Terraform, CloudFormation, AWS/gcloud output, Apache, Caddy), in
    /// file order, and the heartbeat settings read from application code
    /// (a [`TimerRole::Heartbeat`] timer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hops: Vec<HopConfig>,
    /// The application's heartbeat interval, when the user gave it
    /// (`--app-ping`), in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_ping_ms: Option<u64>,
    /// Hops named by the user (`--via aws-alb,cloudflare`), as kb ids, in
    /// path order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub via: Vec<String>,
}

impl ConfigEvidence {
    /// The file with this display path.
    pub fn file(&self, path: &str) -> Option<&SourceFile> {
        self.files.iter().find(|f| f.path == path)
    }

    /// The source text of the line a span points at.
    pub fn source_line(&self, span: &Span) -> Option<&str> {
        self.file(&span.file)?.line(span.line)
    }
}

/// Where an [`Edit`] puts its lines relative to its anchor line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EditAction {
    /// Replace the anchor line.
    Replace,
    /// Insert after the anchor line, indented like it.
    InsertAfter,
    /// Insert before the anchor line, indented like it.
    InsertBefore,
    /// Insert as the first lines of the block the anchor line opens,
    /// indented like that block's body.
    InsertInto,
}

/// One line-level change to a config file, for `--fix`. Lines carry no
/// indentation: the patch writer takes it from the file, so a fix matches
/// the user's own style.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Edit {
    /// Display path of the file.
    pub file: String,
    /// 1-based anchor line.
    pub line: u32,
    /// What to do at the anchor.
    pub action: EditAction,
    /// The new lines, without indentation.
    pub lines: Vec<String>,
}

impl Edit {
    /// An edit of `file` at `line`.
    pub fn new(file: &str, line: u32, action: EditAction, lines: Vec<String>) -> Edit {
        Edit {
            file: file.to_owned(),
            line,
            action,
            lines,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(line: u32) -> Span {
        Span {
            file: "nginx.conf".into(),
            line,
            column: 5,
            len: 3,
        }
    }

    #[test]
    fn span_prints_like_a_compiler() {
        assert_eq!(span(31).to_string(), "nginx.conf:31:5");
        assert_eq!(span(31).file_line(), "nginx.conf:31");
    }

    #[test]
    fn source_lines_are_one_based() {
        let ev = ConfigEvidence {
            files: vec![SourceFile {
                path: "nginx.conf".into(),
                kind: ConfigKind::Nginx,
                included_from: None,
                text: "a\nb\r\nc".into(),
            }],
            ..ConfigEvidence::default()
        };
        assert_eq!(ev.source_line(&span(2)), Some("b"));
        assert_eq!(ev.source_line(&span(0)), None);
        assert_eq!(ev.source_line(&span(4)), None);
    }
}
