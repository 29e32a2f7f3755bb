//! HAProxy line tokenizer (`cfgparse.c`, `parse_line`): one statement per
//! line, words split on blanks, `#` starts a comment outside quotes,
//! backslash escapes, `"…"` (with `${VAR}` expansion) and `'…'` (without).
//! A `${VAR}` or a Helm `{{ … }}` makes the word templated: its value is
//! known only where the config is deployed.

use wsdoctor_evidence::config::Span;

/// One word of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word {
    /// Quotes removed, escapes resolved.
    pub(crate) text: String,
    pub(crate) span: Span,
    pub(crate) templated: bool,
}

/// Splits one line into words. An unclosed quote runs to the end of the
/// line; the error is returned next to the words read.
pub(crate) fn words(file: &str, line_no: u32, line: &str) -> (Vec<Word>, Option<Span>) {
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut error = None;
    let mut i = 0;
    let span = |column: usize, len: usize| Span {
        file: file.to_owned(),
        line: line_no,
        column: u32::try_from(column + 1).unwrap_or(u32::MAX),
        len: u32::try_from(len.max(1)).unwrap_or(u32::MAX),
    };
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        if chars[i] == '#' {
            break;
        }
        let start = i;
        let mut text = String::new();
        let mut templated = false;
        let mut quote: Option<char> = None;
        while i < chars.len() {
            let c = chars[i];
            match quote {
                None if c.is_whitespace() || c == '#' => break,
                None if c == '"' || c == '\'' => {
                    quote = Some(c);
                    i += 1;
                }
                Some(q) if c == q => {
                    quote = None;
                    i += 1;
                }
                _ if c == '\\' && i + 1 < chars.len() => {
                    text.push(chars[i + 1]);
                    i += 2;
                }
                _ if c == '{' && chars.get(i + 1) == Some(&'{') => {
                    // A Helm placeholder: copied whole, blanks included.
                    let end = find(&chars, i + 2, "}}").map_or(chars.len(), |e| e + 2);
                    text.extend(&chars[i..end]);
                    templated = true;
                    i = end;
                }
                _ if c == '$' && chars.get(i + 1) == Some(&'{') && quote != Some('\'') => {
                    let end = find(&chars, i + 2, "}").map_or(chars.len(), |e| e + 1);
                    text.extend(&chars[i..end]);
                    templated = true;
                    i = end;
                }
                _ => {
                    text.push(c);
                    i += 1;
                }
            }
        }
        if quote.is_some() {
            error = Some(span(start, 1));
        }
        out.push(Word {
            text,
            span: span(start, i - start),
            templated,
        });
    }
    (out, error)
}

fn find(chars: &[char], from: usize, needle: &str) -> Option<usize> {
    let needle: Vec<char> = needle.chars().collect();
    (from..chars.len()).find(|&i| chars[i..].starts_with(&needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<String> {
        let (ws, err) = words("h.cfg", 1, line);
        let mut out: Vec<String> = ws
            .into_iter()
            .map(|w| {
                if w.templated {
                    format!("T:{}", w.text)
                } else {
                    w.text
                }
            })
            .collect();
        if let Some(e) = err {
            out.push(format!("E@{}", e.column));
        }
        out
    }

    #[test]
    fn table() {
        let table: &[(&str, &[&str])] = &[
            ("", &[]),
            ("   # only a comment", &[]),
            ("timeout tunnel 1h", &["timeout", "tunnel", "1h"]),
            (
                "  timeout\tclient  30s # idle",
                &["timeout", "client", "30s"],
            ),
            (
                r#"http-request set-header X "a b""#,
                &["http-request", "set-header", "X", "a b"],
            ),
            ("acl a path_beg '/x y'", &["acl", "a", "path_beg", "/x y"]),
            (r"acl a path /a\ b", &["acl", "a", "path", "/a b"]),
            ("bind \"${BIND_ADDR}:80\"", &["bind", "T:${BIND_ADDR}:80"]),
            (
                "timeout client {{ .Values.t }}",
                &["timeout", "client", "T:{{ .Values.t }}"],
            ),
            ("a \"open", &["a", "open", "E@3"]),
            ("a#b", &["a"]),
        ];
        for (line, expected) in table {
            assert_eq!(texts(line), *expected, "{line:?}");
        }
    }

    #[test]
    fn spans_are_columns_of_the_word() {
        let (ws, _) = words("h.cfg", 7, "    timeout  tunnel 1h");
        assert_eq!(ws[0].span.to_string(), "h.cfg:7:5");
        assert_eq!(ws[1].span.column, 14);
        assert_eq!(ws[1].span.len, 6);
    }
}
