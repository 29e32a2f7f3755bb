//! The Caddyfile lexer and block parser. The grammar (caddyconfig/caddyfile
//! lexer.go) is small:
//!
//! * tokens are separated by blanks; a newline ends a directive;
//! * `"…"` quotes a token (`\"` escapes), `` `…` `` quotes it raw;
//! * `#` starts a comment at the start of a token;
//! * a `\` at the end of a line continues the directive;
//! * `{` at the end of a line opens a block, a lone `}` closes it.
//!
//! Placeholders (`{$VAR}`, `{env.VAR}`) are ordinary tokens here; the
//! reader reports them.

/// A token and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) text: String,
    pub(crate) line: u32,
    pub(crate) column: u32,
    /// Characters in the source, quotes included.
    pub(crate) len: u32,
    pub(crate) quoted: bool,
}

/// A directive: its tokens and, when it opens one, its block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Directive {
    pub(crate) tokens: Vec<Token>,
    pub(crate) block: Option<Vec<Directive>>,
    /// The line of the closing `}` of its block.
    pub(crate) close_line: Option<u32>,
}

/// Blocks nested deeper than this are not a Caddyfile; the parser stops
/// descending (and reports it) instead of recursing without bound.
const MAX_DEPTH: usize = 32;

/// A lexing or nesting problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) message: &'static str,
    pub(crate) line: u32,
    pub(crate) column: u32,
}

/// One logical line's tokens, with whether it ended in `{`.
fn tokenize(text: &str, problems: &mut Vec<Problem>) -> Vec<Vec<Token>> {
    let mut lines: Vec<Vec<Token>> = Vec::new();
    let mut current: Vec<Token> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let chars: Vec<char> = raw.chars().collect();
        let mut i = 0;
        let mut continued = false;
        while i < chars.len() {
            let c = chars[i];
            if c.is_whitespace() {
                i += 1;
                continue;
            }
            if c == '#' {
                break;
            }
            if c == '\\' && chars[i + 1..].iter().all(|c| c.is_whitespace()) {
                continued = true;
                break;
            }
            let start = i;
            let mut text = String::new();
            let quoted = c == '"' || c == '`';
            if quoted {
                i += 1;
                let mut closed = false;
                while i < chars.len() {
                    if c == '"' && chars[i] == '\\' && chars.get(i + 1) == Some(&'"') {
                        text.push('"');
                        i += 2;
                        continue;
                    }
                    if chars[i] == c {
                        closed = true;
                        i += 1;
                        break;
                    }
                    text.push(chars[i]);
                    i += 1;
                }
                if !closed {
                    problems.push(Problem {
                        message: "quote is never closed",
                        line,
                        column: u32::try_from(start + 1).unwrap_or(u32::MAX),
                    });
                }
            } else {
                while i < chars.len() && !chars[i].is_whitespace() {
                    text.push(chars[i]);
                    i += 1;
                }
            }
            current.push(Token {
                text,
                line,
                column: u32::try_from(start + 1).unwrap_or(u32::MAX),
                len: u32::try_from(i - start).unwrap_or(u32::MAX),
                quoted,
            });
        }
        if !continued && !current.is_empty() {
            lines.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

/// Parses a Caddyfile into directives with blocks.
pub(crate) fn parse(text: &str) -> (Vec<Directive>, Vec<Problem>) {
    let mut problems = Vec::new();
    let lines = tokenize(text, &mut problems);
    let mut iter = lines.into_iter().peekable();
    let out = block(&mut iter, 0, &mut problems, None);
    (out, problems)
}

fn is_open(t: &Token) -> bool {
    !t.quoted && t.text == "{"
}

fn is_close(t: &Token) -> bool {
    !t.quoted && t.text == "}"
}

fn block(
    lines: &mut std::iter::Peekable<std::vec::IntoIter<Vec<Token>>>,
    depth: usize,
    problems: &mut Vec<Problem>,
    opened_at: Option<&Token>,
) -> Vec<Directive> {
    let mut out = Vec::new();
    while let Some(mut tokens) = lines.next() {
        if tokens.len() == 1 && is_close(&tokens[0]) {
            if depth == 0 {
                problems.push(Problem {
                    message: "`}` closes no block",
                    line: tokens[0].line,
                    column: tokens[0].column,
                });
                continue;
            }
            return close(out, tokens[0].line);
        }
        let opens = tokens.last().is_some_and(is_open);
        if opens {
            let brace = tokens.pop();
            let nested = if depth + 1 >= MAX_DEPTH {
                if let Some(b) = &brace {
                    problems.push(Problem {
                        message: "blocks nested too deep; the rest of this block is skipped",
                        line: b.line,
                        column: b.column,
                    });
                }
                skip_block(lines);
                (Vec::new(), None)
            } else {
                let inner = block(lines, depth + 1, problems, brace.as_ref());
                split_close(inner)
            };
            out.push(Directive {
                tokens,
                block: Some(nested.0),
                close_line: nested.1,
            });
        } else {
            out.push(Directive {
                tokens,
                block: None,
                close_line: None,
            });
        }
    }
    if let (Some(open), true) = (opened_at, depth > 0) {
        problems.push(Problem {
            message: "`{` is never closed",
            line: open.line,
            column: open.column,
        });
    }
    out
}

/// A finished block carries the line of its `}` as a marker directive at
/// its end, split off again by [`split_close`].
fn close(mut out: Vec<Directive>, line: u32) -> Vec<Directive> {
    out.push(Directive {
        tokens: Vec::new(),
        block: None,
        close_line: Some(line),
    });
    out
}

fn split_close(mut inner: Vec<Directive>) -> (Vec<Directive>, Option<u32>) {
    match inner.last() {
        Some(d) if d.tokens.is_empty() && d.block.is_none() => {
            let line = d.close_line;
            inner.pop();
            (inner, line)
        }
        _ => (inner, None),
    }
}

/// Skips lines up to the `}` that closes the block being skipped.
fn skip_block(lines: &mut std::iter::Peekable<std::vec::IntoIter<Vec<Token>>>) {
    let mut open = 1usize;
    for tokens in lines.by_ref() {
        if tokens.last().is_some_and(is_open) {
            open += 1;
        } else if tokens.len() == 1 && is_close(&tokens[0]) {
            open -= 1;
            if open == 0 {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `name(args)[{…}]` per directive, for compact expectations.
    fn render(ds: &[Directive]) -> String {
        ds.iter()
            .map(|d| {
                let words: Vec<&str> = d.tokens.iter().map(|t| t.text.as_str()).collect();
                match &d.block {
                    Some(b) => format!("{}{{{}}}", words.join(" "), render(b)),
                    None => words.join(" "),
                }
            })
            .collect::<Vec<_>>()
            .join(";")
    }

    #[test]
    fn parser_table() {
        let table = [
            ("example.com {\n  reverse_proxy b:80\n}\n", "example.com{reverse_proxy b:80}"),
            ("{\n  admin off\n}\n:80 {\n}\n", "{admin off};:80{}"),
            (
                "a {\n  @ws {\n    header Connection *Upgrade*\n  }\n  reverse_proxy @ws b {\n    stream_close_delay 5m\n  }\n}",
                "a{@ws{header Connection *Upgrade*};reverse_proxy @ws b{stream_close_delay 5m}}",
            ),
            ("a # comment\nb \"c d\" `e`\n", "a;b c d e"),
            ("reverse_proxy \\\n  b:80\n", "reverse_proxy b:80"),
            ("a {\n", "a{}"),
            ("}\n", ""),
            ("a \"b\\\"c\"\n", "a b\"c"),
            ("x#y\n", "x#y"),
        ];
        for (text, expected) in table {
            assert_eq!(render(&parse(text).0), expected, "{text:?}");
        }
    }

    #[test]
    fn problems_table() {
        let table = [
            ("a {\n", vec!["`{` is never closed@1:3"]),
            ("}\n", vec!["`}` closes no block@1:1"]),
            ("a \"b\n", vec!["quote is never closed@1:3"]),
        ];
        for (text, expected) in table {
            let got: Vec<String> = parse(text)
                .1
                .iter()
                .map(|p| format!("{}@{}:{}", p.message, p.line, p.column))
                .collect();
            assert_eq!(got, expected, "{text:?}");
        }
    }

    #[test]
    fn deep_nesting_is_cut() {
        let text = "a {\n".repeat(10_000);
        let (tree, problems) = parse(&text);
        assert_eq!(tree.len(), 1);
        assert!(problems.iter().any(|p| p.message.contains("too deep")));
    }

    #[test]
    fn close_lines_are_recorded() {
        let (tree, _) = parse("a {\n  b\n}\n");
        assert_eq!(tree[0].close_line, Some(3));
    }
}
