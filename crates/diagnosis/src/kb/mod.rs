//! The knowledge base: what we know about intermediaries and close codes,
//! every fact with its source. The TOML files are compiled in, so the
//! binary needs no data files and the engine stays free of I/O.

mod close_code;
mod intermediary;
#[cfg(test)]
mod tests;
mod via;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

pub use close_code::{CloseCode, CloseRange, CodeEntry, Subcause};
pub use intermediary::Intermediary;
pub use via::UnknownHop;

/// `kb/intermediaries.toml`: the living copy (it started as the shared research
/// copy; new and corrected facts go here, each with its source and date).
pub const INTERMEDIARIES_TOML: &str = include_str!("../../kb/intermediaries.toml");
/// `kb/close-codes.toml`: the living copy, like the intermediaries.
pub const CLOSE_CODES_TOML: &str = include_str!("../../kb/close-codes.toml");

/// Why a knowledge-base text did not parse.
#[derive(Debug, thiserror::Error)]
pub enum KbError {
    /// Not valid TOML, or a table does not have the expected shape.
    #[error("{file}: {error}")]
    Toml {
        /// Which file.
        file: &'static str,
        /// The parser's message.
        error: toml::de::Error,
    },
    /// A table key that should be a number or a range is not.
    #[error("{file}: bad table key '{key}'")]
    BadKey {
        /// Which file.
        file: &'static str,
        /// The key.
        key: String,
    },
}

/// General rules from the close-codes file's `[meta]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CloseRules {
    /// Which code the "connection close code" is (first close frame received; 1005; 1006).
    pub close_code_rule: Option<String>,
    /// Source of `close_code_rule`.
    pub close_code_rule_source: Option<String>,
    /// Which codes browsers may send from script.
    pub browser_api_rule: Option<String>,
    /// Source of `browser_api_rule`.
    pub browser_api_rule_source: Option<String>,
}

/// The parsed knowledge base. Get the embedded one with [`kb()`].
#[derive(Debug, Clone, Default)]
pub struct Kb {
    /// In file order (grouped by kind of hop), so listings read like the file.
    intermediaries: Vec<Intermediary>,
    codes: BTreeMap<u16, CloseCode>,
    ranges: Vec<CloseRange>,
    /// In file order: the order the research explains them in.
    subcauses: Vec<Subcause>,
    rules: CloseRules,
}

#[derive(Deserialize)]
struct IntermediariesFile {
    intermediary: BTreeMap<String, Intermediary>,
}

#[derive(Deserialize)]
struct CloseCodesFile {
    #[serde(default)]
    meta: CloseRules,
    code: BTreeMap<String, CloseCode>,
    range: BTreeMap<String, CloseRange>,
    subcause: BTreeMap<String, Subcause>,
}

const INTERMEDIARIES_FILE: &str = "intermediaries.toml";
const CLOSE_CODES_FILE: &str = "close-codes.toml";

impl Kb {
    /// Parses the two knowledge-base texts.
    pub fn parse(intermediaries_toml: &str, close_codes: &str) -> Result<Kb, KbError> {
        let inter: IntermediariesFile =
            toml::from_str(intermediaries_toml).map_err(|error| KbError::Toml {
                file: INTERMEDIARIES_FILE,
                error,
            })?;
        let close: CloseCodesFile = toml::from_str(close_codes).map_err(|error| KbError::Toml {
            file: CLOSE_CODES_FILE,
            error,
        })?;

        let mut intermediaries: Vec<Intermediary> = inter
            .intermediary
            .into_iter()
            .map(|(id, mut entry)| {
                entry.id = id;
                entry
            })
            .collect();
        intermediaries.sort_by_key(|i| {
            file_position(&format!("[intermediary.{}]", i.id), intermediaries_toml)
        });

        let mut codes = BTreeMap::new();
        for (key, mut entry) in close.code {
            let code = key.parse::<u16>().map_err(|_| bad_key(&key))?;
            entry.code = code;
            codes.insert(code, entry);
        }

        let mut ranges = Vec::new();
        for (key, mut entry) in close.range {
            let (start, end) = key
                .split_once('-')
                .and_then(|(a, b)| Some((a.parse::<u16>().ok()?, b.parse::<u16>().ok()?)))
                .ok_or_else(|| bad_key(&key))?;
            entry.start = start;
            entry.end = end;
            ranges.push(entry);
        }
        ranges.sort_by_key(|r| r.start);

        let mut subcauses: Vec<Subcause> = close
            .subcause
            .into_iter()
            .map(|(id, mut entry)| {
                entry.id = id;
                entry
            })
            .collect();
        subcauses.sort_by_key(|s| file_position(&format!("[subcause.{}]", s.id), close_codes));

        Ok(Kb {
            intermediaries,
            codes,
            ranges,
            subcauses,
            rules: close.meta,
        })
    }

    /// The embedded knowledge base.
    pub fn embedded() -> Result<Kb, KbError> {
        Kb::parse(INTERMEDIARIES_TOML, CLOSE_CODES_TOML)
    }

    /// True when nothing was loaded (only if the embedded files failed to parse).
    pub fn is_empty(&self) -> bool {
        self.intermediaries.is_empty() && self.codes.is_empty()
    }

    /// All intermediaries, in file order.
    pub fn intermediaries(&self) -> &[Intermediary] {
        &self.intermediaries
    }

    /// One intermediary by kb id (`nginx`, `aws-alb`).
    pub fn intermediary(&self, id: &str) -> Option<&Intermediary> {
        self.intermediaries.iter().find(|i| i.id == id)
    }

    /// What the kb says about a close code: its own entry, else the reserved
    /// range it falls in (1016–2999, 3000–3999, 4000–4999, 0–999); `None`
    /// above 4999.
    pub fn close_code(&self, code: u16) -> Option<CodeEntry<'_>> {
        self.codes.get(&code).map(CodeEntry::Defined).or_else(|| {
            self.ranges
                .iter()
                .find(|r| r.contains(code))
                .map(CodeEntry::Range)
        })
    }

    /// All defined or registered codes, ascending.
    pub fn codes(&self) -> impl Iterator<Item = &CloseCode> + '_ {
        self.codes.values()
    }

    /// The reserved ranges, ascending.
    pub fn ranges(&self) -> &[CloseRange] {
        &self.ranges
    }

    /// One sub-cause of 1006 by id (`tcp_rst`).
    pub fn subcause(&self, id: &str) -> Option<&Subcause> {
        self.subcauses.iter().find(|s| s.id == id)
    }

    /// The sub-causes of 1006, in file order.
    pub fn subcauses(&self) -> &[Subcause] {
        &self.subcauses
    }

    /// General close-code rules from the file's `[meta]`.
    pub fn rules(&self) -> &CloseRules {
        &self.rules
    }
}

fn bad_key(key: &str) -> KbError {
    KbError::BadKey {
        file: CLOSE_CODES_FILE,
        key: key.to_owned(),
    }
}

/// Where a table header stands in the text; sorting by it restores file
/// order, which the `toml` map (sorted by key) does not keep.
fn file_position(header: &str, text: &str) -> usize {
    text.find(header).unwrap_or(usize::MAX)
}

/// The embedded knowledge base, parsed once.
///
/// The data is ours and a test parses it, so a failure here is a bug caught
/// before release; at run time it degrades to an empty kb (findings lose
/// their product-specific fixes) rather than aborting a diagnosis.
pub fn kb() -> &'static Kb {
    static KB: OnceLock<Kb> = OnceLock::new();
    KB.get_or_init(|| Kb::embedded().unwrap_or_default())
}

/// The default idle timeouts of the products in the knowledge base, grouped
/// by value (`(60.0, "nginx / AWS ALB / …")`), for marking charts.
pub fn known_idle_timeouts() -> Vec<(f64, String)> {
    let mut groups: std::collections::BTreeMap<u32, Vec<&str>> = std::collections::BTreeMap::new();
    for i in kb().intermediaries() {
        for t in i.idle_timeout_defaults() {
            groups.entry(t).or_default().push(i.short_name());
        }
    }
    groups
        .into_iter()
        .map(|(t, names)| {
            let shown: Vec<&str> = names.iter().take(3).copied().collect();
            let more = if names.len() > 3 { " …" } else { "" };
            (f64::from(t), format!("{}{more}", shown.join(" / ")))
        })
        .collect()
}
