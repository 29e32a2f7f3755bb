//! The nginx tokenizer, modelled on `ngx_conf_read_token`: words end at
//! whitespace, `;` or `{` (not at `}`: `a}` is one word to nginx), `#` starts
//! a comment only where a token could start, and `${name}` is part of a word.
//!
//! On top of nginx's own grammar it tolerates templates: a Helm `{{ … }}`
//! anywhere is swallowed into the word it sits in (or is a word of its own)
//! and the token is marked `templated`, so a chart's `nginx.conf` parses into
//! the same tree as the rendered file. `*_by_lua_block { … }` bodies are Lua,
//! not nginx, and are skipped by [`Lexer::skip_raw_block`].

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// A bare or quoted word (directive name or argument).
    Word,
    /// `{`
    Open,
    /// `}`
    Close,
    /// `;`
    Semi,
}

/// One token with its position (1-based line and column, in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) kind: TokenKind,
    /// The word with quotes removed and escapes resolved; `{`, `}`, `;` for
    /// punctuation.
    pub(crate) text: String,
    pub(crate) line: u32,
    pub(crate) column: u32,
    /// Width in characters as written (quotes included); 1 when the token
    /// runs over several lines (the caret then marks its start).
    pub(crate) len: u32,
    /// Written in quotes.
    pub(crate) quoted: bool,
    /// Contains a template placeholder (`{{ … }}` or `${UPPER_CASE}`).
    pub(crate) templated: bool,
}

/// A tokenizer error: nginx would refuse the file here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LexError {
    pub(crate) message: String,
    pub(crate) line: u32,
    pub(crate) column: u32,
}

/// A pull tokenizer over one file's text. Pull, not a token list, because
/// the parser decides when a `{` opens a Lua body rather than nginx syntax.
#[derive(Debug)]
pub(crate) struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: u32,
    column: u32,
}

impl Lexer {
    pub(crate) fn new(text: &str) -> Lexer {
        Lexer {
            chars: text.chars().collect(),
            pos: 0,
            line: 1,
            column: 1,
        }
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn peek(&self) -> Option<char> {
        self.peek_at(0)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line = self.line.saturating_add(1);
            self.column = 1;
        } else {
            self.column = self.column.saturating_add(1);
        }
        Some(c)
    }

    fn error(&self, message: impl Into<String>, line: u32, column: u32) -> LexError {
        LexError {
            message: message.into(),
            line,
            column,
        }
    }

    /// The next token, `Ok(None)` at the end of the text. After an error the
    /// lexer has moved past the bad input, so a caller may keep going.
    pub(crate) fn next_token(&mut self) -> Result<Option<Token>, LexError> {
        self.skip_space_and_comments();
        let (line, column) = (self.line, self.column);
        let Some(c) = self.peek() else {
            return Ok(None);
        };
        let kind = match c {
            ';' => TokenKind::Semi,
            '}' => TokenKind::Close,
            '{' if self.peek_at(1) != Some('{') => TokenKind::Open,
            '"' | '\'' => return self.read_quoted(c, line, column).map(Some),
            _ => return self.read_bare(line, column).map(Some),
        };
        self.bump();
        Ok(Some(Token {
            kind,
            text: c.to_string(),
            line,
            column,
            len: 1,
            quoted: false,
            templated: false,
        }))
    }

    fn skip_space_and_comments(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.bump();
            } else if c == '#' {
                while let Some(c) = self.bump() {
                    if c == '\n' {
                        break;
                    }
                }
            } else {
                break;
            }
        }
    }

    /// Reads a `{{ … }}` placeholder starting at the current `{{`.
    fn read_template(&mut self, text: &mut String) -> Result<(), LexError> {
        let (line, column) = (self.line, self.column);
        let mut prev = '\0';
        while let Some(c) = self.bump() {
            text.push(c);
            // The first two characters are the opening `{{`.
            if text.len() > 2 && prev == '}' && c == '}' {
                return Ok(());
            }
            prev = c;
        }
        Err(self.error(
            "template placeholder `{{` is never closed with `}}`",
            line,
            column,
        ))
    }

    fn read_bare(&mut self, line: u32, column: u32) -> Result<Token, LexError> {
        let mut text = String::new();
        let mut templated = false;
        let mut variable = false;
        while let Some(c) = self.peek() {
            if c == '{' && self.peek_at(1) == Some('{') {
                self.read_template(&mut text)?;
                templated = true;
                variable = false;
                continue;
            }
            if c == '{' && variable {
                // `${name}`: nginx's own braced variable syntax.
                self.bump();
                text.push(c);
                variable = false;
                continue;
            }
            variable = false;
            if c.is_whitespace() || c == ';' || c == '{' {
                break;
            }
            self.bump();
            if c == '\\' {
                self.push_escaped(&mut text);
                continue;
            }
            variable = c == '$';
            text.push(c);
        }
        templated |= has_env_placeholder(&text);
        Ok(self.word(text, line, column, false, templated))
    }

    fn read_quoted(&mut self, quote: char, line: u32, column: u32) -> Result<Token, LexError> {
        self.bump();
        let mut text = String::new();
        let mut templated = false;
        loop {
            match self.peek() {
                None => {
                    return Err(self.error(
                        format!("quoted string starting here is never closed with {quote}"),
                        line,
                        column,
                    ))
                }
                Some('{') if self.peek_at(1) == Some('{') => {
                    self.read_template(&mut text)?;
                    templated = true;
                }
                Some('\\') => {
                    self.bump();
                    self.push_escaped(&mut text);
                }
                Some(c) if c == quote => {
                    self.bump();
                    break;
                }
                Some(c) => {
                    self.bump();
                    text.push(c);
                }
            }
        }
        templated |= has_env_placeholder(&text);
        Ok(self.word(text, line, column, true, templated))
    }

    /// The character after a backslash, resolved the way nginx copies words:
    /// `\"`, `\'`, `\\`, `\t`, `\r`, `\n` are escapes; anything else keeps its
    /// backslash (regexes like `\.php$` rely on that).
    fn push_escaped(&mut self, text: &mut String) {
        match self.bump() {
            Some(c @ ('"' | '\'' | '\\')) => text.push(c),
            Some('t') => text.push('\t'),
            Some('n') => text.push('\n'),
            Some('r') => text.push('\r'),
            Some(c) => {
                text.push('\\');
                text.push(c);
            }
            None => text.push('\\'),
        }
    }

    fn word(&self, text: String, line: u32, column: u32, quoted: bool, templated: bool) -> Token {
        let len = if self.line == line {
            self.column.saturating_sub(column).max(1)
        } else {
            1
        };
        Token {
            kind: TokenKind::Word,
            text,
            line,
            column,
            len,
            quoted,
            templated,
        }
    }

    /// Skips a block body that is not nginx syntax (a `*_by_lua_block`),
    /// the opening `{` already read: up to the matching `}`, stepping over
    /// Lua strings and comments so a brace inside them does not count.
    pub(crate) fn skip_raw_block(&mut self, line: u32, column: u32) -> Result<(), LexError> {
        let mut depth = 1usize;
        while let Some(c) = self.bump() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                '"' | '\'' => {
                    while let Some(d) = self.bump() {
                        if d == '\\' {
                            self.bump();
                        } else if d == c || d == '\n' {
                            break;
                        }
                    }
                }
                '-' if self.peek() == Some('-') => {
                    while let Some(d) = self.bump() {
                        if d == '\n' {
                            break;
                        }
                    }
                }
                '[' if self.peek() == Some('[') => {
                    let mut prev = '\0';
                    while let Some(d) = self.bump() {
                        if prev == ']' && d == ']' {
                            break;
                        }
                        prev = d;
                    }
                }
                _ => {}
            }
        }
        Err(self.error("block is never closed with `}`", line, column))
    }
}

/// `${UPPER_CASE}`: an envsubst placeholder (the nginx docker image renders
/// `templates/*.template` this way). nginx's own variables are lower case,
/// so `${host}` is not one.
pub(crate) fn has_env_placeholder(text: &str) -> bool {
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        if let Some(end) = after.find('}') {
            let name = &after[..end];
            let is_env = name.starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if is_env {
                return true;
            }
            rest = &after[end..];
        } else {
            break;
        }
    }
    false
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// `W:text`, `Q:text` (quoted), `T:text` (templated), `{`, `}`, `;`, or
    /// `E@line:col` for an error.
    fn lex(text: &str) -> Vec<String> {
        let mut lexer = Lexer::new(text);
        let mut out = Vec::new();
        loop {
            match lexer.next_token() {
                Ok(None) => break,
                Ok(Some(t)) => out.push(match t.kind {
                    TokenKind::Word if t.templated => format!("T:{}", t.text),
                    TokenKind::Word if t.quoted => format!("Q:{}", t.text),
                    TokenKind::Word => format!("W:{}", t.text),
                    _ => t.text,
                }),
                Err(e) => {
                    out.push(format!("E@{}:{}", e.line, e.column));
                    break;
                }
            }
        }
        out
    }

    macro_rules! lex_tests {
        ($($name:ident: $text:expr => [$($tok:expr),* $(,)?];)*) => {$(
            #[test]
            fn $name() {
                let expected: Vec<String> = vec![$($tok.to_string()),*];
                assert_eq!(lex($text), expected, "input: {:?}", $text);
            }
        )*};
    }

    lex_tests! {
        empty: "" => [];
        only_comment: "# hello { ; }\n" => [];
        directive: "worker_processes 4;" => ["W:worker_processes", "W:4", ";"];
        block: "events{worker_connections 1024;}" =>
            ["W:events", "{", "W:worker_connections", "W:1024", ";", "}"];
        close_brace_inside_word: "a} b;" => ["W:a}", "W:b", ";"];
        hash_inside_word_is_not_comment: "set $a b#c;" => ["W:set", "W:$a", "W:b#c", ";"];
        comment_after_token: "listen 80; # v4\nlisten [::]:80;" =>
            ["W:listen", "W:80", ";", "W:listen", "W:[::]:80", ";"];
        double_quotes: r#"add_header X "a b";"# => ["W:add_header", "W:X", "Q:a b", ";"];
        single_quotes_empty: "'' close;" => ["Q:", "W:close", ";"];
        escaped_quote: r#""a\"b""# => [r#"Q:a"b"#];
        braced_variable: "return 200 ${host}x;" => ["W:return", "W:200", "W:${host}x", ";"];
        regex_location: "location ~* ^/(ws|socket)$ {" =>
            ["W:location", "W:~*", "W:^/(ws|socket)$", "{"];
        helm_placeholder_word: "proxy_read_timeout {{ .Values.timeout }};" =>
            ["W:proxy_read_timeout", "T:{{ .Values.timeout }}", ";"];
        helm_inside_word: "listen {{ .Values.port }}ssl;" =>
            ["W:listen", "T:{{ .Values.port }}ssl", ";"];
        helm_with_braces_inside: "{{- if eq .x \"}\" }}" => ["T:{{- if eq .x \"}\" }}"];
        envsubst: "listen ${NGINX_PORT};" => ["W:listen", "T:${NGINX_PORT}", ";"];
        envsubst_quoted: "server_name \"${HOST_NAME}\";" => ["W:server_name", "T:${HOST_NAME}", ";"];
        crlf: "a b;\r\nc;" => ["W:a", "W:b", ";", "W:c", ";"];
        unterminated_quote: "a \"b;\n" => ["W:a", "E@1:3"];
        unterminated_template: "a {{ b" => ["W:a", "E@1:3"];
        unicode: "server_name ünï.example;" => ["W:server_name", "W:ünï.example", ";"];
    }

    #[test]
    fn positions_are_one_based_characters() {
        let mut lexer = Lexer::new("http {\n    proxy_pass  \"x y\";\n}");
        let mut tokens = Vec::new();
        while let Some(t) = lexer.next_token().unwrap() {
            tokens.push((t.text, t.line, t.column, t.len));
        }
        assert_eq!(tokens[2], ("proxy_pass".into(), 2, 5, 10));
        assert_eq!(tokens[3], ("x y".into(), 2, 17, 5));
        assert_eq!(tokens[5], ("}".into(), 3, 1, 1));
    }

    #[test]
    fn lua_bodies_are_skipped_with_their_braces_and_strings() {
        let text = "access_by_lua_block {\n  local t = {a = \"}\"} -- }\n  x = [[ } ]]\n}\nnext;";
        let mut lexer = Lexer::new(text);
        assert_eq!(
            lexer.next_token().unwrap().unwrap().text,
            "access_by_lua_block"
        );
        let open = lexer.next_token().unwrap().unwrap();
        assert_eq!(open.kind, TokenKind::Open);
        lexer.skip_raw_block(open.line, open.column).unwrap();
        assert_eq!(lexer.next_token().unwrap().unwrap().text, "next");
    }

    #[test]
    fn env_placeholders_are_upper_case_only() {
        for (text, expected) in [
            ("${PORT}", true),
            ("a${_X1}b", true),
            ("${host}", false),
            ("$PORT", false),
            ("${", false),
            ("${Mixed}", false),
        ] {
            assert_eq!(has_env_placeholder(text), expected, "{text}");
        }
    }
}
