//! One intermediary (load balancer, proxy, CDN, app server, library) as the
//! knowledge base describes it. Field names are the TOML keys, so a fact and
//! its `*_source` sit next to each other in code as they do in the file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An intermediary from `kb/intermediaries.toml`. Every numeric fact is
/// optional: absent means "unknown", never a guessed default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Intermediary {
    /// The kb id (`nginx`, `aws-alb`): the table's key, filled in after parsing.
    #[serde(skip_deserializing)]
    pub id: String,
    /// Display name, e.g. `nginx (ngx_http_proxy_module)`.
    pub name: String,
    /// `cloud LB`, `reverse proxy`, `CDN`, `PaaS router`, `service mesh`,
    /// `app server`, `API gateway`, `forward proxy`, `client library`, `browser`.
    pub kind: String,

    /// Default idle timeout in seconds.
    pub idle_timeout_default_s: Option<u32>,
    /// Smallest configurable idle timeout.
    pub idle_timeout_min_s: Option<u32>,
    /// Largest configurable idle timeout.
    pub idle_timeout_max_s: Option<u32>,
    /// Other default idle timeouts the docs or field reports give, where they
    /// disagree with `idle_timeout_default_s` (which holds the smallest).
    #[serde(default)]
    pub idle_timeout_also_s: Vec<u32>,
    /// Which of the disagreeing idle values is documented and which reported.
    pub idle_timeout_disagreement_note: Option<String>,
    /// The knob that controls the idle timeout.
    pub idle_timeout_setting: Option<String>,
    /// Which traffic resets the idle timer.
    pub idle_timeout_counts: Option<String>,
    /// Why the idle timeout is unknown or special.
    pub idle_timeout_note: Option<String>,
    /// Source of the idle-timeout facts.
    pub idle_timeout_source: Option<String>,

    /// Hard cap on connection age regardless of traffic.
    pub max_lifetime_s: Option<u32>,
    /// Largest configurable lifetime cap.
    pub max_lifetime_max_s: Option<u32>,
    /// Other default lifetime caps the docs or field reports give.
    #[serde(default)]
    pub max_lifetime_also_s: Vec<u32>,
    /// Which of the disagreeing lifetime values is documented and which reported.
    pub max_lifetime_disagreement_note: Option<String>,
    /// The knob that controls the lifetime cap.
    pub max_lifetime_setting: Option<String>,
    /// Lifetime notes (reloads, restarts).
    pub max_lifetime_note: Option<String>,
    /// Source of the lifetime facts.
    pub max_lifetime_source: Option<String>,

    /// `default`, `needs_config`, `not_supported`, `varies`.
    pub websocket_support: Option<String>,
    /// The configuration WebSockets need.
    pub websocket_config: Option<String>,
    /// Source of the WebSocket-support facts.
    pub websocket_source: Option<String>,

    /// `yes`, `no`, `partial`, `unclear`, `n/a`: do Ping/Pong frames reset the idle timer.
    pub ping_pong_counts: Option<String>,
    /// Detail on ping/pong behaviour.
    pub ping_pong_note: Option<String>,
    /// Source of the ping/pong facts.
    pub ping_pong_source: Option<String>,

    /// `tcp_fin`, `tcp_rst`, `silent_drop_then_rst`, `close_frame`, `http_status`, `unknown`.
    pub idle_close_method: Option<String>,
    /// How the idle close happens.
    pub idle_close_detail: Option<String>,
    /// What a client observes at the idle close.
    pub idle_close_client_sees: Option<String>,
    /// Source of the idle-close facts.
    pub idle_close_source: Option<String>,

    /// Response headers / Server values / error bodies that identify the hop (free text).
    #[serde(default)]
    pub fingerprint: Vec<String>,
    /// `documented`, `observed`, `inferred` (free text).
    pub fingerprint_confidence: Option<String>,
    /// Why there is no fingerprint.
    pub fingerprint_note: Option<String>,
    /// Source of the fingerprint.
    pub fingerprint_source: Option<String>,

    /// Config that raises the limit or works around it.
    pub fix_snippet: Option<String>,
    /// Source of the fix.
    pub fix_source: Option<String>,

    /// Other known ways this hop drops connections.
    #[serde(default)]
    pub other_drop_causes: Vec<String>,
    /// Source of `other_drop_causes`.
    pub other_drop_causes_source: Option<String>,

    /// What happens when the backend does not answer the upgrade in time.
    pub handshake_timeout_behavior: Option<String>,
    /// Source of `handshake_timeout_behavior`.
    pub handshake_timeout_source: Option<String>,

    /// Overall quality of the entry: `documented`, `observed`, `mixed`, …
    pub confidence: Option<String>,

    /// Facts only a few entries have (`reload_close_*`, `chrome_background`,
    /// `project_status` …), kept verbatim with their `*_source` keys.
    #[serde(flatten)]
    pub other: BTreeMap<String, toml::Value>,
}

impl Intermediary {
    /// Every default idle timeout the kb gives for this product: the
    /// default first, then the disagreeing values.
    pub fn idle_timeout_defaults(&self) -> impl Iterator<Item = u32> + '_ {
        self.idle_timeout_default_s
            .into_iter()
            .chain(self.idle_timeout_also_s.iter().copied())
    }

    /// Every default lifetime cap the kb gives for this product.
    pub fn max_lifetime_defaults(&self) -> impl Iterator<Item = u32> + '_ {
        self.max_lifetime_s
            .into_iter()
            .chain(self.max_lifetime_also_s.iter().copied())
    }

    /// The display name without its parenthesised detail: `nginx`, `AWS Application Load Balancer`.
    pub fn short_name(&self) -> &str {
        self.name
            .split_once(" (")
            .map_or(self.name.as_str(), |(short, _)| short)
    }

    /// True for hops that sit between client and server (not app servers,
    /// libraries, browsers or Kubernetes' pod shutdown): the ones that can
    /// fail to forward an upgrade.
    pub fn is_proxy(&self) -> bool {
        !matches!(
            self.kind.as_str(),
            "app server" | "client library" | "browser" | "orchestrator"
        )
    }
}
