//! Line edits that set a hop's timer, for `lint --fix`: in place when the
//! file sets the value, else where the product would set it.

use wsdoctor_evidence::config::{ConfigEvidence, Edit, EditAction, HopTimer, Span};

/// Replaces exactly the value's characters on its line, keeping quotes.
fn replace_value(ev: &ConfigEvidence, span: &Span, value: &str) -> Option<Edit> {
    let line = ev.source_line(span)?;
    let chars: Vec<char> = line.chars().collect();
    let start = usize::try_from(span.column).ok()?.checked_sub(1)?;
    let end = start.checked_add(usize::try_from(span.len).ok()?)?;
    let old: String = chars.get(start..end)?.iter().collect();
    let quote = old.chars().next().filter(|c| matches!(c, '"' | '\''));
    let token = match quote {
        Some(q) if old.len() >= 2 && old.ends_with(q) => format!("{q}{value}{q}"),
        _ => value.to_owned(),
    };
    let mut new: String = chars[..start].iter().collect();
    new.push_str(&token);
    new.extend(&chars[end..]);
    Some(Edit::new(
        &span.file,
        span.line,
        EditAction::Replace,
        vec![new.trim_start().to_owned()],
    ))
}

/// The edit that sets `t` to `value` (as the product writes it): in place
/// when the file sets it on this hop, else where the hop would set it.
pub(super) fn set_edit(ev: &ConfigEvidence, t: &HopTimer, value: &str) -> Option<Edit> {
    match &t.setting {
        Some(s) if !s.inherited => replace_value(ev, &s.span, value),
        _ => t.insert.as_ref().map(|e| Edit {
            lines: e
                .lines
                .iter()
                .map(|l| l.replace("{value}", value))
                .collect(),
            ..e.clone()
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use wsdoctor_evidence::config::{ConfigKind, SourceFile};

    use super::*;

    #[test]
    fn replace_value_table() {
        let table = [
            ("    key: \"60\"", 10, 4, "3600", "key: \"3600\""),
            (
                "  idle_timeout = 60 # x",
                18,
                2,
                "3600",
                "idle_timeout = 3600 # x",
            ),
            (
                "  a: b=1,idle=60,c=2",
                15,
                2,
                "3600",
                "a: b=1,idle=3600,c=2",
            ),
            ("      timeout: 15s", 16, 3, "0s", "timeout: 0s"),
            (
                "  \"Value\": \"60\",",
                12,
                4,
                "3600",
                "\"Value\": \"3600\",",
            ),
        ];
        for (line, column, len, value, expected) in table {
            let ev = ConfigEvidence {
                files: vec![SourceFile {
                    path: "f".into(),
                    kind: ConfigKind::Kubernetes,
                    included_from: None,
                    text: format!("first\n{line}\n"),
                }],
                ..ConfigEvidence::default()
            };
            let span = Span {
                file: "f".into(),
                line: 2,
                column,
                len,
            };
            let e = replace_value(&ev, &span, value).unwrap();
            assert_eq!(e.lines, [expected], "{line}");
        }
    }
}
