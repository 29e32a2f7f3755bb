//! The httpd config lexer. httpd's grammar (`ap_cfg_getline` +
//! `ap_getword_conf`) is line-based:
//!
//! * a line ending in `\` continues on the next one;
//! * `#` starts a comment only as the first thing on a line;
//! * words are separated by blanks; `"…"` and `'…'` quote a word (a
//!   backslash escapes the quote inside);
//! * `<Name args>` opens a section, `</Name>` closes it.
//!
//! Every word keeps its line and column, so findings point at it.

/// A word of a directive line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word {
    /// The text, quotes removed.
    pub(crate) text: String,
    /// 1-based line and column (characters) of its first character.
    pub(crate) line: u32,
    pub(crate) column: u32,
    /// Characters it covers in the source, quotes included.
    pub(crate) len: u32,
}

/// What a logical line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineKind {
    /// `Name args…`
    Directive,
    /// `<Name args…>`
    Open,
    /// `</Name>`
    Close,
}

/// One logical line: its kind and words (the name first, without `<`,
/// `</` or `>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) kind: LineKind,
    pub(crate) words: Vec<Word>,
    /// The physical lines it spans.
    pub(crate) first: u32,
    pub(crate) last: u32,
}

/// A quote left open at the end of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unclosed {
    pub(crate) line: u32,
    pub(crate) column: u32,
}

/// Physical lines longer than this are cut (a config line is short; this
/// bounds the work on hostile input).
const MAX_LINE_CHARS: usize = 16 * 1024;

/// Logical lines joined across `\` continuations are capped at this many
/// physical lines.
const MAX_CONTINUATIONS: usize = 1_000;

/// Splits a config into logical lines of words.
pub(crate) fn lines(text: &str) -> (Vec<Line>, Vec<Unclosed>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let physical: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < physical.len() {
        let first = i;
        // (line number, chars) pieces of one logical line.
        let mut pieces: Vec<(u32, Vec<char>)> = Vec::new();
        loop {
            let number = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let mut chars: Vec<char> = physical[i].chars().take(MAX_LINE_CHARS).collect();
            i += 1;
            let continued = chars.last() == Some(&'\\');
            if continued {
                chars.pop();
            }
            pieces.push((number, chars));
            if !continued || i >= physical.len() || pieces.len() >= MAX_CONTINUATIONS {
                break;
            }
        }
        let mut words = Vec::new();
        for (n, chars) in &pieces {
            words_of(*n, chars, &mut words, &mut errors);
        }
        let Some(head) = words.first() else { continue };
        if head.text.starts_with('#') {
            continue;
        }
        let line = classify(words);
        out.push(Line {
            first: u32::try_from(first + 1).unwrap_or(u32::MAX),
            last: u32::try_from(i).unwrap_or(u32::MAX),
            ..line
        });
    }
    (out, errors)
}

fn words_of(line: u32, chars: &[char], out: &mut Vec<Word>, errors: &mut Vec<Unclosed>) {
    let col = |i: usize| u32::try_from(i + 1).unwrap_or(u32::MAX);
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let mut text = String::new();
        if matches!(chars[i], '"' | '\'') {
            let quote = chars[i];
            i += 1;
            let mut closed = false;
            while i < chars.len() {
                match chars[i] {
                    '\\' if chars.get(i + 1) == Some(&quote) => {
                        text.push(quote);
                        i += 2;
                    }
                    c if c == quote => {
                        closed = true;
                        i += 1;
                        break;
                    }
                    c => {
                        text.push(c);
                        i += 1;
                    }
                }
            }
            if !closed {
                errors.push(Unclosed {
                    line,
                    column: col(start),
                });
            }
        } else {
            while i < chars.len() && !chars[i].is_whitespace() {
                text.push(chars[i]);
                i += 1;
            }
        }
        out.push(Word {
            text,
            line,
            column: col(start),
            len: u32::try_from(i - start).unwrap_or(u32::MAX),
        });
    }
}

/// Strips the section brackets: `<Location` `"/ws">` → Open `Location` `/ws`.
fn classify(mut words: Vec<Word>) -> Line {
    let kind = match words.first().map(|w| w.text.as_str()) {
        Some(t) if t.starts_with("</") => LineKind::Close,
        Some(t) if t.starts_with('<') => LineKind::Open,
        _ => LineKind::Directive,
    };
    if kind != LineKind::Directive {
        if let Some(head) = words.first_mut() {
            let skip = if kind == LineKind::Close { 2 } else { 1 };
            head.text = head.text.chars().skip(skip).collect();
            head.column = head.column.saturating_add(u32::try_from(skip).unwrap_or(0));
            head.len = head.len.saturating_sub(u32::try_from(skip).unwrap_or(0));
        }
        if let Some(last) = words.last_mut() {
            if let Some(stripped) = last.text.strip_suffix('>') {
                last.text = stripped.to_owned();
                last.len = last.len.saturating_sub(1);
            }
        }
        words.retain(|w| !w.text.is_empty() || w.len > 0);
    }
    Line {
        kind,
        words,
        first: 0,
        last: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `kind:word@line:col,…` for each logical line.
    fn render(text: &str) -> Vec<String> {
        lines(text)
            .0
            .iter()
            .map(|l| {
                let words: Vec<String> = l
                    .words
                    .iter()
                    .map(|w| format!("{}@{}:{}", w.text, w.line, w.column))
                    .collect();
                format!("{:?}:{}", l.kind, words.join(","))
            })
            .collect()
    }

    #[test]
    fn lexer_table() {
        let table: &[(&str, &[&str])] = &[
            ("Timeout 60", &["Directive:Timeout@1:1,60@1:9"]),
            ("  # a comment\nTimeout 5", &["Directive:Timeout@2:1,5@2:9"]),
            (
                "ProxyPass /ws/ \"ws://b:80/ws/\" upgrade=websocket",
                &["Directive:ProxyPass@1:1,/ws/@1:11,ws://b:80/ws/@1:16,upgrade=websocket@1:32"],
            ),
            (
                "<VirtualHost *:80>\n</VirtualHost>",
                &["Open:VirtualHost@1:2,*:80@1:14", "Close:VirtualHost@2:3"],
            ),
            ("<Location \"/ws\">", &["Open:Location@1:2,/ws@1:11"]),
            (
                "<IfModule mod_proxy.c>",
                &["Open:IfModule@1:2,mod_proxy.c@1:11"],
            ),
            (
                "ProxyPass /a \\\n    http://b/",
                &["Directive:ProxyPass@1:1,/a@1:11,http://b/@2:5"],
            ),
            (
                "Header set X \"a \\\" b\"",
                &["Directive:Header@1:1,set@1:8,X@1:12,a \" b@1:14"],
            ),
            (
                "RewriteRule ^/ws(.*) ws://b$1 [P,L]",
                &["Directive:RewriteRule@1:1,^/ws(.*)@1:13,ws://b$1@1:22,[P,L]@1:31"],
            ),
            (
                "Timeout 60 # not a comment",
                &["Directive:Timeout@1:1,60@1:9,#@1:12,not@1:14,a@1:18,comment@1:20"],
            ),
            ("\n\n", &[]),
            ("<>", &["Open:"]),
            ("é \"é\"", &["Directive:é@1:1,é@1:3"]),
        ];
        for (text, expected) in table {
            assert_eq!(render(text), *expected, "{text:?}");
        }
    }

    #[test]
    fn unclosed_quotes_are_reported_and_the_rest_is_kept() {
        let (lines, errors) = lines("ServerName \"a b\nTimeout 5\n");
        assert_eq!(
            errors,
            [Unclosed {
                line: 1,
                column: 12
            }]
        );
        assert_eq!(lines.len(), 2);
    }

    #[test]
    fn a_trailing_backslash_on_the_last_line_ends_it() {
        let (lines, _) = lines("Timeout 5 \\");
        assert_eq!(lines[0].words.len(), 2);
    }
}
