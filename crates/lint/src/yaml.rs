//! YAML (and JSON, which YAML reads) as a tree of nodes that know where they
//! were written, for the Kubernetes, Envoy, CloudFormation and cloud-CLI
//! readers.
//!
//! serde-saphyr parses; its `Spanned` wrapper gives every node's line and
//! column. Its budget bounds what hostile input can cost: alias expansion
//! ("billion laughs"), nesting depth, node and document counts. Tags
//! (CloudFormation's `!Ref`, `!Sub`) are kept as plain values: the readers
//! only look at literal settings.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::{Budget, Options, Spanned};

/// Nesting deeper than this is not a config (Envoy's deepest real paths
/// are about 20 levels); the budget refuses it before the stack suffers.
const MAX_DEPTH: usize = 48;

/// Nodes per file, aliases expanded: about 1 000 Ingresses' worth of
/// `kubectl get -o yaml`. This is what stops a billion-laughs document
/// (every alias replays its anchor's nodes), so it is kept low enough
/// that hitting it costs well under a second.
const MAX_NODES: usize = 120_000;

/// Alias (`*ref`) uses per file; real configs use a handful.
const MAX_ALIASES: usize = 500;

/// A YAML value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// `~`, `null`, or nothing.
    Null,
    /// Any scalar, as text (`60`, `true` and `"60"` alike).
    Scalar(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order.
    Map(Vec<(Node, Node)>),
}

/// A value and where it starts (1-based line and column, in characters).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) value: Value,
    pub(crate) line: u32,
    pub(crate) column: u32,
}

impl Node {
    /// The scalar text, if this is a scalar.
    pub(crate) fn str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The value under `key` in a mapping.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The key node and value node of `key` in a mapping.
    pub(crate) fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.str() == Some(key))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    /// Follows a path of keys.
    pub(crate) fn path(&self, keys: &[&str]) -> Option<&Node> {
        keys.iter().try_fold(self, |node, key| node.get(key))
    }

    /// The scalar under `key`.
    pub(crate) fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Node::str)
    }

    /// The elements of a sequence (empty for anything else).
    pub(crate) fn items(&self) -> &[Node] {
        match &self.value {
            Value::Seq(items) => items,
            _ => &[],
        }
    }

    /// The entries of a mapping (empty for anything else).
    pub(crate) fn entries(&self) -> &[(Node, Node)] {
        match &self.value {
            Value::Map(entries) => entries,
            _ => &[],
        }
    }
}

/// A file that is not YAML, with where the parser gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError {
    pub(crate) message: String,
    pub(crate) line: u32,
    pub(crate) column: u32,
}

fn options() -> Options {
    let mut budget = Budget::default();
    budget.max_depth = MAX_DEPTH;
    budget.max_nodes = MAX_NODES;
    budget.max_aliases = MAX_ALIASES;
    let mut options = Options::default();
    options.budget = Some(budget);
    options
}

/// Parses every document of a YAML stream (empty documents are skipped).
pub(crate) fn parse(text: &str) -> Result<Vec<Node>, ParseError> {
    serde_saphyr::from_str_multiple_with_options::<Node, Vec<Node>>(text, options()).map_err(|e| {
        let location = e.location();
        let (line, column) = location.map_or((1, 1), |l| {
            (
                u32::try_from(l.line()).unwrap_or(u32::MAX).max(1),
                u32::try_from(l.column()).unwrap_or(u32::MAX).max(1),
            )
        });
        let message = e.to_string();
        // The first line is the message; the rest is a rendered snippet.
        let message = message
            .lines()
            .next()
            .unwrap_or("not valid YAML")
            .to_owned();
        ParseError {
            message,
            line,
            column,
        }
    })
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(deserializer)?;
        Ok(Node {
            line: u32::try_from(spanned.referenced.line()).unwrap_or(u32::MAX),
            column: u32::try_from(spanned.referenced.column()).unwrap_or(u32::MAX),
            value: spanned.value,
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Scalar(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Scalar(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Scalar(v.to_string()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Scalar(v.to_string()))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Ok(Value::Scalar(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Scalar(v.to_string()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Scalar(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Scalar(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Scalar(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Node>()? {
            let value = map.next_value::<Node>()?;
            entries.push((key, value));
        }
        Ok(Value::Map(entries))
    }
}

/// The characters a scalar node occupies on its line: `"60"` with its
/// quotes, `60s` bare. `None` for values that continue on other lines
/// (block scalars, multi-line flow) or that the line does not show where
/// the parser said (aliases, merges).
pub(crate) fn scalar_width(line: &str, column: u32) -> Option<u32> {
    let start = usize::try_from(column).ok()?.checked_sub(1)?;
    let rest: Vec<char> = line.chars().skip(start).collect();
    let first = *rest.first()?;
    let width = match first {
        '"' | '\'' => {
            let mut i = 1;
            loop {
                let c = *rest.get(i)?;
                if c == '\\' && first == '"' {
                    i += 2;
                    continue;
                }
                if c == first {
                    if first == '\'' && rest.get(i + 1) == Some(&'\'') {
                        i += 2;
                        continue;
                    }
                    break i + 1;
                }
                i += 1;
            }
        }
        '|' | '>' | '*' | '&' | '!' | '[' | '{' => return None,
        _ => {
            // A plain scalar ends at ` #`, at `: `, at a flow indicator
            // or at the end of the line.
            let mut end = rest.len();
            for (i, c) in rest.iter().enumerate() {
                let next = rest.get(i + 1).copied();
                let ends = matches!(c, ',' | ']' | '}')
                    || (*c == ' ' && next == Some('#'))
                    || (*c == ':' && matches!(next, None | Some(' ')));
                if ends {
                    end = i;
                    break;
                }
            }
            rest[..end]
                .iter()
                .rposition(|c| !c.is_whitespace())
                .map(|p| p + 1)?
        }
    };
    u32::try_from(width).ok().filter(|w| *w > 0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn nodes_know_where_they_start() {
        let docs =
            parse("a:\n  b: \"60\"\n  c: [1, x]\n---\n# two\nkind: Ingress\nref: !Ref Thing\n")
                .unwrap();
        assert_eq!(docs.len(), 2);
        let b = docs[0].path(&["a", "b"]).unwrap();
        assert_eq!((b.str(), b.line, b.column), (Some("60"), 2, 6));
        assert_eq!(docs[0].path(&["a", "c"]).unwrap().items().len(), 2);
        let kind = docs[1].get("kind").unwrap();
        assert_eq!((kind.line, kind.column), (6, 7));
        assert!(docs[1].get("ref").is_some());
    }

    #[test]
    fn json_reads_as_yaml() {
        let docs =
            parse("{\n  \"Attributes\": [\n    {\"Key\": \"k\", \"Value\": \"60\"}\n  ]\n}\n")
                .unwrap();
        let v = &docs[0].get("Attributes").unwrap().items()[0];
        let value = v.get("Value").unwrap();
        assert_eq!((value.line, value.column), (3, 27));
    }

    #[test]
    fn bombs_and_garbage_are_errors_not_hangs() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..12 {
            let prev = if i == 0 {
                "a".to_owned()
            } else {
                format!("l{}", i - 1)
            };
            bomb.push_str(&format!(
                "l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        let err = parse(&bomb).unwrap_err();
        assert!(err.message.contains("budget"), "{err:?}");
        assert!(parse(&"[".repeat(10_000)).is_err());
        assert!(parse(&"- ".repeat(10_000)).is_err());
        assert!(parse("a: b: c").is_err());
    }

    #[test]
    fn scalar_width_table() {
        let table = [
            ("  key: \"60\"", 8, Some(4)),
            ("  key: '6''0'", 8, Some(6)),
            ("  key: 60 # why", 8, Some(2)),
            ("  key: 60s", 8, Some(3)),
            ("  {key: 60, b: 1}", 9, Some(2)),
            ("  key: |", 8, None),
            ("  key: \"open", 8, None),
            ("x", 5, None),
            ("  k: idle_timeout.timeout_seconds=60", 6, Some(31)),
        ];
        for (line, column, expected) in table {
            assert_eq!(scalar_width(line, column), expected, "{line:?}");
        }
    }
}
