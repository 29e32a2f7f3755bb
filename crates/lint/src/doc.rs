//! What the YAML/JSON readers (Kubernetes, Envoy, CloudFormation, cloud
//! CLI output) share: reading a file into documents with templating
//! recognised, and turning nodes into spans and timer settings.

use std::path::Path;

use wsdoctor_evidence::config::{
    ConfigKind, Edit, EditAction, HopTimer, ProblemKind, Span, TimerRole, TimerSetting, ValueStyle,
};

use crate::loader::Loader;
use crate::source::ReadError;
use crate::yaml::{self, Node};

/// A file read into YAML documents, with its lines for spans.
#[derive(Debug)]
pub(crate) struct Doc {
    pub(crate) file: String,
    pub(crate) lines: Vec<String>,
    pub(crate) docs: Vec<Node>,
}

impl Doc {
    /// The source line `n` (1-based).
    pub(crate) fn line(&self, n: u32) -> &str {
        usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| self.lines.get(i))
            .map_or("", String::as_str)
    }

    /// A span on a node: its scalar's exact width when it has one on its
    /// line, else one character.
    pub(crate) fn span(&self, node: &Node) -> Span {
        let len = yaml::scalar_width(self.line(node.line), node.column).unwrap_or(1);
        Span {
            file: self.file.clone(),
            line: node.line.max(1),
            column: node.column.max(1),
            len,
        }
    }

    /// A span covering `width` characters from `offset` inside a scalar
    /// node (a number inside `a=1,b=60`), when the scalar sits on one line
    /// as written (quotes shift the start by one).
    pub(crate) fn span_inside(&self, node: &Node, offset: usize, width: usize) -> Option<Span> {
        let text = node.str()?;
        let line = self.line(node.line);
        let start = usize::try_from(node.column).ok()?.checked_sub(1)?;
        let written: String = line.chars().skip(start).collect();
        let quoted = written.starts_with(['"', '\'']);
        let body = if quoted { &written[1..] } else { &written[..] };
        // The scalar must appear literally (no escapes or folding).
        if !body.starts_with(text) {
            return None;
        }
        let column = node.column + u32::from(quoted) + u32::try_from(offset).ok()?;
        Some(Span {
            file: self.file.clone(),
            line: node.line,
            column,
            len: u32::try_from(width).ok()?.max(1),
        })
    }

    /// True when a mapping is written in block style with at least one
    /// entry below `key_line`, so `InsertInto` at the key's line adds an
    /// entry at the right indentation.
    pub(crate) fn block_map_below(&self, key_line: u32, map: &Node) -> bool {
        match map.entries().first() {
            Some((k, _)) => k.line > key_line && !self.line(key_line).trim_end().ends_with('{'),
            None => false,
        }
    }
}

/// Reads a file as YAML documents. Helm templates are reported and
/// skipped (they are not YAML until rendered); a syntax error is reported
/// where the parser stopped. `None` when nothing can be read.
pub(crate) fn read(
    loader: &mut Loader,
    path: &Path,
    kind: ConfigKind,
) -> Result<Option<Doc>, ReadError> {
    let text = loader.read(path, kind, None)?;
    let lines: Vec<String> = text.text.lines().map(str::to_owned).collect();
    if let Some((line, column)) = helm_template(&lines) {
        loader.problem(
            ProblemKind::Templated,
            "Helm template (`{{ … }}`): skipped, its values exist only after rendering; lint the output of `helm template` instead",
            Span {
                file: text.display,
                line,
                column,
                len: 2,
            },
        );
        return Ok(None);
    }
    match yaml::parse(&text.text) {
        Ok(docs) => Ok(Some(Doc {
            file: text.display,
            lines,
            docs,
        })),
        Err(e) => {
            loader.problem(
                ProblemKind::Syntax,
                format!("not valid YAML/JSON: {}", e.message),
                Span {
                    file: text.display,
                    line: e.line,
                    column: e.column,
                    len: 1,
                },
            );
            Ok(None)
        }
    }
}

/// Where the first Helm action (`{{`) outside comments and quoted strings
/// is, if any. Inside quotes `{{ … }}` is ordinary text that YAML reads
/// fine (a PrometheusRule's `"{{ $labels.instance }} is down"`); outside,
/// it makes the file a template that is not YAML until rendered.
pub(crate) fn helm_template(lines: &[String]) -> Option<(u32, u32)> {
    lines.iter().enumerate().find_map(|(i, line)| {
        let chars: Vec<char> = line.chars().collect();
        let mut quote: Option<char> = None;
        for (at, c) in chars.iter().enumerate() {
            match (quote, c) {
                (None, '#') if at == 0 || chars[at - 1].is_whitespace() => return None,
                (None, '"' | '\'') => quote = Some(*c),
                (Some(q), c) if *c == q => quote = None,
                (None, '{') if chars.get(at + 1) == Some(&'{') => {
                    return Some((
                        u32::try_from(i + 1).unwrap_or(u32::MAX),
                        u32::try_from(at + 1).unwrap_or(u32::MAX),
                    ));
                }
                _ => {}
            }
        }
        None
    })
}

/// True for a template placeholder in a value: envsubst (`${VAR}`,
/// `$VAR`) or Helm (`{{ … }}` inside a quoted value).
pub(crate) fn is_placeholder(text: &str) -> bool {
    text.contains("${") || text.contains("{{") || (text.starts_with('$') && text.len() > 1)
}

/// A written timer from a scalar node: seconds via `parse`; a placeholder
/// is reported and left unknown, an unreadable value reported as invalid.
pub(crate) fn timer_setting(
    loader: &mut Loader,
    doc: &Doc,
    node: &Node,
    span: Span,
    parse: fn(&str) -> Option<u64>,
) -> TimerSetting {
    let raw = node.str().unwrap_or_default().to_owned();
    let value = if is_placeholder(&raw) {
        loader.problem(
            ProblemKind::Templated,
            format!("`{raw}` is filled in at deploy time; its value is unknown here"),
            span.clone(),
        );
        None
    } else {
        let v = parse(&raw);
        if v.is_none() {
            loader.problem(
                ProblemKind::InvalidValue,
                format!("`{raw}` is not a duration wsdoctor can read"),
                doc.span(node),
            );
        }
        v
    };
    TimerSetting {
        value,
        raw,
        span,
        inherited: false,
    }
}

/// A timer read from `node` (or not written, when `node` is `None`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn timer(
    loader: &mut Loader,
    doc: &Doc,
    key: &str,
    role: TimerRole,
    style: ValueStyle,
    node: Option<&Node>,
    parse: fn(&str) -> Option<u64>,
    insert: Option<Edit>,
) -> HopTimer {
    let setting = node.map(|n| {
        let span = doc.span(n);
        timer_setting(loader, doc, n, span, parse)
    });
    HopTimer {
        key: key.to_owned(),
        role,
        setting,
        style,
        insert,
    }
}

/// An edit adding `lines` as entries of the block mapping opened at
/// `key`'s line, when that mapping is in block style.
/// A leading `"@type"` entry (protobuf `Any`) stays first: the lines go
/// after it.
pub(crate) fn insert_into(doc: &Doc, key: &Node, map: &Node, lines: Vec<String>) -> Option<Edit> {
    if !doc.block_map_below(key.line, map) {
        return None;
    }
    match map.entries().first() {
        Some((k, v)) if k.str() == Some("@type") && v.line == k.line => {
            Some(Edit::new(&doc.file, k.line, EditAction::InsertAfter, lines))
        }
        _ => Some(Edit::new(
            &doc.file,
            key.line,
            EditAction::InsertInto,
            lines,
        )),
    }
}

/// Whole seconds: `60`, `"60"`, `60.0`.
pub(crate) fn seconds_ms(text: &str) -> Option<u64> {
    let t = text.trim();
    if let Ok(n) = t.parse::<u64>() {
        return n.checked_mul(1000);
    }
    let f: f64 = t.parse().ok()?;
    (f.is_finite() && (0.0..1e12).contains(&f)).then(|| (f * 1000.0).round() as u64)
}

/// A protobuf JSON duration as Envoy writes it: `15s`, `0.5s`, `3600s`;
/// also the Go forms people use by mistake elsewhere (`1h`, `5m`, `500ms`).
pub(crate) fn duration_ms(text: &str) -> Option<u64> {
    let t = text.trim();
    let (number, factor) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60_000.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3_600_000.0)
    } else {
        (t, 1000.0)
    };
    let f: f64 = number.trim().parse().ok()?;
    (f.is_finite() && f >= 0.0 && f * factor < 1e15).then(|| (f * factor).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_table() {
        let table = [
            ("15s", Some(15_000)),
            ("0s", Some(0)),
            ("0.5s", Some(500)),
            ("3600s", Some(3_600_000)),
            ("1h", Some(3_600_000)),
            ("500ms", Some(500)),
            ("60", Some(60_000)),
            ("-1s", None),
            ("x", None),
            ("NaNs", None),
            ("1e300s", None),
        ];
        for (text, expected) in table {
            assert_eq!(duration_ms(text), expected, "{text}");
        }
    }

    #[test]
    fn seconds_table() {
        for (text, expected) in [
            ("60", Some(60_000)),
            (" 3600 ", Some(3_600_000)),
            ("1.5", Some(1500)),
            ("-5", None),
            ("60s", None),
            ("inf", None),
        ] {
            assert_eq!(seconds_ms(text), expected, "{text}");
        }
    }

    #[test]
    fn helm_is_found_outside_comments() {
        let lines = |t: &str| t.lines().map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(helm_template(&lines("# {{ x }}\na: 1\n")), None);
        assert_eq!(
            helm_template(&lines("a: 1\n  b: {{ .Values.b }}\n")),
            Some((2, 6))
        );
        assert_eq!(
            helm_template(&lines("d: \"{{ $labels.x }} down\" # {{ c }}\n")),
            None
        );
        assert_eq!(
            helm_template(&lines("{{- if .Values.on }}\n")),
            Some((1, 1))
        );
    }
}
