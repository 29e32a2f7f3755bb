//! nginx directive tree: `name arg… ;` or `name arg… { … }`, with every
//! name and argument keeping its [`Span`]. The parser is tolerant: it records
//! what nginx would reject as a [`ConfigProblem`] and keeps going, so one
//! typo does not hide every finding after it. See `GRAMMAR-nginx.md`.

use wsdoctor_evidence::config::{ConfigProblem, ProblemKind, Span};

use super::lexer::{LexError, Lexer, Token, TokenKind};

/// Deeper nesting than this is not a real config (nginx itself nests a few
/// levels); stopping here keeps hostile input from exhausting the stack.
const MAX_DEPTH: usize = 64;

/// A file with more problems than this is not worth reading on: later
/// ones are counted, not recorded (and hostile input cannot grow the
/// report without bound).
const MAX_PROBLEMS: usize = 100;

/// One argument of a directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Arg {
    /// Quotes removed, escapes resolved.
    pub(crate) text: String,
    pub(crate) span: Span,
    pub(crate) templated: bool,
}

/// One directive, with its block when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Directive {
    pub(crate) name: String,
    /// The name token.
    pub(crate) span: Span,
    pub(crate) args: Vec<Arg>,
    /// `Some` for `name … { … }` (empty for skipped Lua bodies).
    pub(crate) block: Option<Vec<Directive>>,
}

impl Directive {
    /// The first argument's text.
    pub(crate) fn arg(&self, index: usize) -> Option<&str> {
        self.args.get(index).map(|a| a.text.as_str())
    }

    /// Arguments joined by spaces (`~* ^/ws`).
    pub(crate) fn args_text(&self) -> String {
        self.args
            .iter()
            .map(|a| a.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Parses one file's text. `file` is the display path put in every span.
pub(crate) fn parse(file: &str, text: &str) -> (Vec<Directive>, Vec<ConfigProblem>) {
    let mut parser = Parser {
        file,
        lexer: Lexer::new(text),
        peeked: None,
        problems: Vec::new(),
    };
    let directives = parser.block(0, None);
    (directives, parser.problems)
}

struct Parser<'a> {
    file: &'a str,
    lexer: Lexer,
    peeked: Option<Token>,
    problems: Vec<ConfigProblem>,
}

impl Parser<'_> {
    fn span(&self, t: &Token) -> Span {
        Span {
            file: self.file.to_owned(),
            line: t.line,
            column: t.column,
            len: t.len,
        }
    }

    fn problem(&mut self, kind: ProblemKind, message: impl Into<String>, span: Span) {
        if self.problems.len() >= MAX_PROBLEMS {
            return;
        }
        if self.problems.len() + 1 == MAX_PROBLEMS {
            self.problems.push(ConfigProblem {
                kind,
                message: format!(
                    "more than {MAX_PROBLEMS} problems in this file; stopped reporting them"
                ),
                span,
            });
            return;
        }
        self.problems.push(ConfigProblem {
            kind,
            message: message.into(),
            span,
        });
    }

    fn lex_error(&mut self, e: LexError) {
        let span = Span {
            file: self.file.to_owned(),
            line: e.line,
            column: e.column,
            len: 1,
        };
        self.problem(ProblemKind::Syntax, e.message, span);
    }

    fn next(&mut self) -> Option<Token> {
        if let Some(t) = self.peeked.take() {
            return Some(t);
        }
        loop {
            match self.lexer.next_token() {
                Ok(t) => return t,
                // The lexer has moved past the bad input; keep reading.
                Err(e) => self.lex_error(e),
            }
        }
    }

    fn peek(&mut self) -> Option<&Token> {
        if self.peeked.is_none() {
            self.peeked = self.next();
        }
        self.peeked.as_ref()
    }

    fn templated(&mut self, t: &Token) {
        let span = self.span(t);
        self.problem(
            ProblemKind::Templated,
            format!(
                "template placeholder `{}`: its value is known only after rendering",
                t.text
            ),
            span,
        );
    }

    /// Directives until the `}` closing `opener` (or the end of the text
    /// for the top level).
    fn block(&mut self, depth: usize, opener: Option<&Token>) -> Vec<Directive> {
        let mut out = Vec::new();
        loop {
            let Some(tok) = self.next() else {
                if let Some(open) = opener {
                    let span = self.span(open);
                    self.problem(
                        ProblemKind::Syntax,
                        "this `{` is never closed with `}`",
                        span,
                    );
                }
                return out;
            };
            match tok.kind {
                TokenKind::Close if opener.is_some() => return out,
                TokenKind::Close => {
                    let span = self.span(&tok);
                    self.problem(
                        ProblemKind::Syntax,
                        "unexpected `}`: no block is open",
                        span,
                    );
                }
                TokenKind::Semi => {
                    let span = self.span(&tok);
                    self.problem(
                        ProblemKind::Syntax,
                        "unexpected `;`: no directive before it",
                        span,
                    );
                }
                TokenKind::Open => {
                    let span = self.span(&tok);
                    self.problem(
                        ProblemKind::Syntax,
                        "a block `{` with no directive name",
                        span,
                    );
                    self.skip_block(depth, &tok);
                }
                TokenKind::Word => {
                    if tok.templated && self.control_line(&tok) {
                        continue;
                    }
                    match self.directive(depth, &tok) {
                        (d, true) => out.push(d),
                        (d, false) => {
                            out.push(d);
                            // The directive ran into a `}` or the end: that
                            // token closes this block.
                            if opener.is_some() {
                                return out;
                            }
                        }
                    }
                }
            }
        }
    }

    /// A template at the start of a statement with nothing after it on its
    /// line is a control line (`{{- if .Values.ws }}`): it is skipped.
    fn control_line(&mut self, name: &Token) -> bool {
        let line = name.line;
        let alone = self.peek().is_none_or(|next| next.line > line);
        if alone {
            self.templated(name);
        }
        alone
    }

    /// One directive from its name on. The flag is false when the directive
    /// was cut short by a `}` or the end of the text (already consumed).
    fn directive(&mut self, depth: usize, name: &Token) -> (Directive, bool) {
        if name.templated {
            self.templated(name);
        }
        let mut d = Directive {
            name: name.text.clone(),
            span: self.span(name),
            args: Vec::new(),
            block: None,
        };
        loop {
            let Some(tok) = self.next() else {
                self.problem(
                    ProblemKind::Syntax,
                    format!("`{}` is not ended with `;`", d.name),
                    d.span.clone(),
                );
                return (d, false);
            };
            match tok.kind {
                TokenKind::Word => {
                    if tok.templated {
                        self.templated(&tok);
                    }
                    let span = self.span(&tok);
                    d.args.push(Arg {
                        text: tok.text,
                        span,
                        templated: tok.templated,
                    });
                }
                TokenKind::Semi => return (d, true),
                TokenKind::Open => {
                    if is_lua_block(&d.name) || depth + 1 >= MAX_DEPTH {
                        if depth + 1 >= MAX_DEPTH {
                            let span = self.span(&tok);
                            self.problem(ProblemKind::Syntax, "blocks nested too deeply", span);
                        }
                        self.skip_block(depth, &tok);
                        d.block = Some(Vec::new());
                    } else {
                        d.block = Some(self.block(depth + 1, Some(&tok)));
                    }
                    return (d, true);
                }
                TokenKind::Close => {
                    let span = self.span(&tok);
                    self.problem(
                        ProblemKind::Syntax,
                        format!("`{}` is not ended with `;` before this `}}`", d.name),
                        span,
                    );
                    return (d, false);
                }
            }
        }
    }

    fn skip_block(&mut self, _depth: usize, open: &Token) {
        // A peeked token would be inside the skipped body; it is dropped with it.
        self.peeked = None;
        if let Err(e) = self.lexer.skip_raw_block(open.line, open.column) {
            self.lex_error(e);
        }
    }
}

/// `content_by_lua_block`, `init_by_lua_block`, …: Lua, not nginx syntax.
fn is_lua_block(name: &str) -> bool {
    name.ends_with("_by_lua_block") || name.ends_with("_lua_block")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// The tree as `name(args){…}` text, for compact assertions.
    fn shape(ds: &[Directive]) -> String {
        ds.iter()
            .map(|d| {
                let args = d.args_text();
                let block = d
                    .block
                    .as_ref()
                    .map(|b| format!("{{{}}}", shape(b)))
                    .unwrap_or_default();
                format!("{}({args}){block}", d.name)
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn problems(text: &str) -> Vec<String> {
        parse("f", text)
            .1
            .into_iter()
            .map(|p| format!("{:?}@{}:{}", p.kind, p.span.line, p.span.column))
            .collect()
    }

    #[test]
    fn table_of_shapes() {
        let table = [
            ("", ""),
            ("a;", "a()"),
            ("a b c;", "a(b c)"),
            (
                "http { server { listen 80; } }",
                "http(){server(){listen(80)}}",
            ),
            (
                "map $a $b { default x; '' y; }",
                "map($a $b){default(x) (y)}",
            ),
            (
                "location /ws/ { access_by_lua_block { local t = {1} } proxy_pass http://b; }",
                "location(/ws/){access_by_lua_block(){} proxy_pass(http://b)}",
            ),
            (
                "{{- if .Values.ws }}\nlocation /ws { }\n{{- end }}\n",
                "location(/ws){}",
            ),
            ("a {{ .x }};", "a({{ .x }})"),
        ];
        for (text, expected) in table {
            assert_eq!(shape(&parse("f", text).0), expected, "input: {text:?}");
        }
    }

    #[test]
    fn problems_are_recorded_and_parsing_goes_on() {
        assert_eq!(problems("a; }\nb;"), ["Syntax@1:4"]);
        assert_eq!(problems("http {\n a;\n"), ["Syntax@1:6"]);
        assert_eq!(problems("a b"), ["Syntax@1:1"]);
        assert_eq!(problems("s { a b }"), ["Syntax@1:9"]);
        assert_eq!(problems(";"), ["Syntax@1:1"]);
        assert_eq!(problems("{ a; } b;"), ["Syntax@1:1"]);
        // The directive after the error is still there.
        assert_eq!(shape(&parse("f", "a; } b;").0), "a() b()");
        assert_eq!(shape(&parse("f", "s { a b } c;").0), "s(){a(b)} c()");
    }

    #[test]
    fn templates_are_reported_once_each() {
        assert_eq!(
            problems("listen {{ .Values.port }};\n{{ if x }}\n"),
            ["Templated@1:8", "Templated@2:1"]
        );
    }

    #[test]
    fn spans_point_at_names_and_arguments() {
        let (ds, _) = parse("conf/nginx.conf", "http {\n  proxy_read_timeout  5s;\n}");
        let inner = &ds[0].block.as_ref().unwrap()[0];
        assert_eq!(inner.span.to_string(), "conf/nginx.conf:2:3");
        assert_eq!(inner.args[0].span.to_string(), "conf/nginx.conf:2:23");
        assert_eq!(inner.span.len, 18);
    }

    #[test]
    fn deep_nesting_is_cut_off_not_overflowed() {
        let text = "a {".repeat(10_000);
        let (ds, problems) = parse("f", &text);
        assert_eq!(ds.len(), 1);
        assert!(!problems.is_empty());
    }
}
