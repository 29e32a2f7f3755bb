//! Close codes, reserved ranges and the sub-causes of 1006 from
//! `kb/close-codes.toml`.

use serde::{Deserialize, Serialize};

/// A defined or registered close code (`[code.<n>]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloseCode {
    /// The code: the table's key, filled in after parsing.
    #[serde(skip_deserializing)]
    pub code: u16,
    /// Registered name, e.g. `Abnormal Closure`.
    pub name: String,
    /// Where it is registered (RFC 6455, IANA).
    pub registry: String,
    /// What it means.
    pub meaning: String,
    /// `true` (may be sent), `false` (local only), `reserved`.
    pub on_wire: String,
    /// Who usually sends it.
    pub typical_sender: String,
    /// Real-world causes.
    #[serde(default)]
    pub root_causes: Vec<String>,
    /// Source of `root_causes`.
    pub root_causes_source: Option<String>,
    /// How to tell the causes apart.
    #[serde(default)]
    pub distinguish: Vec<String>,
    /// Source of `distinguish`.
    pub distinguish_source: Option<String>,
    /// Source of the definition.
    pub source: String,
}

/// A reserved range of RFC 6455 §7.4.2 (`[range."a-b"]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloseRange {
    /// First code of the range, from the table key.
    #[serde(skip_deserializing)]
    pub start: u16,
    /// Last code of the range (inclusive), from the table key.
    #[serde(skip_deserializing)]
    pub end: u16,
    /// What codes in the range mean.
    pub meaning: String,
    /// `true`, `false`, `reserved`.
    pub on_wire: String,
    /// Who sends codes from this range.
    pub typical_sender: Option<String>,
    /// Source.
    pub source: String,
}

impl CloseRange {
    /// True when `code` lies in the range.
    pub fn contains(&self, code: u16) -> bool {
        (self.start..=self.end).contains(&code)
    }
}

/// One way a connection ends without a close frame (`[subcause.<id>]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subcause {
    /// The kb id (`tcp_fin_no_close_frame`), filled in after parsing.
    #[serde(skip_deserializing)]
    pub id: String,
    /// One line.
    pub summary: String,
    /// What the client observes.
    pub client_signal: String,
    /// Which hops or events produce it.
    pub typical_origin: Option<String>,
    /// How its timing looks.
    pub timing_signature: Option<String>,
    /// What the server side logs.
    pub server_side_evidence: Option<String>,
    /// How to detect it.
    pub detection_recipe: Option<String>,
    /// Source.
    pub source: String,
}

/// What the kb knows about one close code: its own entry, or the reserved
/// range it falls into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeEntry<'a> {
    /// A defined or registered code.
    Defined(&'a CloseCode),
    /// An unassigned code in a reserved range.
    Range(&'a CloseRange),
}

impl CodeEntry<'_> {
    /// The meaning, whichever kind of entry it is.
    pub fn meaning(&self) -> &str {
        match self {
            CodeEntry::Defined(c) => &c.meaning,
            CodeEntry::Range(r) => &r.meaning,
        }
    }
}
