//! Inline silencing: `# wsdoctor: ignore idle-timeout` (one or more cause
//! ids, separated by spaces or commas, optionally followed by `-- why`).
//!
//! A directive after code on the same line covers that line. A directive
//! on a line of its own covers the next line that is not blank or a
//! comment and, when that line opens a block, the whole block: an nginx,
//! Caddy or Terraform `{…}`, an Apache `<Tag>…</Tag>`, an HAProxy section
//! (up to the next section keyword), or a YAML key with everything indented
//! below it. Lint never drops what a directive covers: the command reports
//! those findings as silenced.
//!
//! Read from the file text (the same text the parsers read), so one small
//! scanner serves every kind; each parser's own grammar would need the
//! same "which lines does this block span" answer eight times.

use serde::Serialize;
use wsdoctor_evidence::config::{ConfigEvidence, ConfigKind, SourceFile};

use crate::haproxy::SECTIONS;

/// The word that starts a directive, after the comment marker.
const MARKER: &str = "wsdoctor:";

/// One `wsdoctor: ignore …` comment and the lines it covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IgnoreDirective {
    /// The file's display path (as in a finding's span).
    pub file: String,
    /// 1-based line of the comment.
    pub line: u32,
    /// The cause ids it silences, lowercased, as written.
    pub ids: Vec<String>,
    /// Why, when written after ` -- `.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// First and last covered line (1-based, inclusive).
    pub first_line: u32,
    /// Last covered line.
    pub last_line: u32,
}

impl IgnoreDirective {
    /// True when this directive silences cause `id` at `file:line`.
    pub fn covers(&self, file: &str, line: u32, id: &str) -> bool {
        self.file == file
            && (self.first_line..=self.last_line).contains(&line)
            && self.ids.iter().any(|i| i == id)
    }
}

/// Every directive in the files read, in file and line order.
pub fn ignore_directives(evidence: &ConfigEvidence) -> Vec<IgnoreDirective> {
    evidence.files.iter().flat_map(directives_in).collect()
}

fn directives_in(file: &SourceFile) -> Vec<IgnoreDirective> {
    let lines: Vec<&str> = file.text.lines().collect();
    let mut out = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let Some((code_before, ids, reason)) = parse_directive(line) else {
            continue;
        };
        let (first, last) = if code_before {
            (index, index)
        } else {
            match next_code_line(&lines, index + 1) {
                Some(target) => (target, block_end(file.kind, &lines, target)),
                // A directive with nothing after it covers only itself.
                None => (index, index),
            }
        };
        out.push(IgnoreDirective {
            file: file.path.clone(),
            line: line_number(index),
            ids,
            reason,
            first_line: line_number(first),
            last_line: line_number(last),
        });
    }
    out
}

fn line_number(index: usize) -> u32 {
    u32::try_from(index + 1).unwrap_or(u32::MAX)
}

/// `(code before the comment?, ids, reason)` for a directive line.
fn parse_directive(line: &str) -> Option<(bool, Vec<String>, Option<String>)> {
    let at = line.find(MARKER)?;
    let before = line[..at].trim_end();
    let code = before
        .strip_suffix("//")
        .or_else(|| before.strip_suffix('#'))?
        .trim_end_matches(['#', '/'])
        .trim();
    let rest = line[at + MARKER.len()..].trim_start();
    let rest = rest.strip_prefix("ignore")?;
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    let (list, reason) = match rest.split_once(" -- ") {
        Some((list, reason)) => (list, Some(reason.trim().to_owned())),
        None => (rest, None),
    };
    let ids: Vec<String> = list
        .split([' ', '\t', ','])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    if ids.is_empty() {
        return None;
    }
    Some((!code.is_empty(), ids, reason.filter(|r| !r.is_empty())))
}

fn is_comment_or_blank(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#') || t.starts_with("//")
}

fn next_code_line(lines: &[&str], from: usize) -> Option<usize> {
    (from..lines.len()).find(|&i| !is_comment_or_blank(lines[i]))
}

/// The last line of the block `target` opens, or `target` itself.
fn block_end(kind: ConfigKind, lines: &[&str], target: usize) -> usize {
    match kind {
        ConfigKind::Nginx | ConfigKind::Caddy | ConfigKind::Terraform | ConfigKind::Application => {
            brace_block_end(lines, target)
        }
        ConfigKind::Apache => apache_block_end(lines, target),
        ConfigKind::Haproxy => haproxy_section_end(lines, target),
        ConfigKind::Kubernetes | ConfigKind::Envoy | ConfigKind::Cloudformation => {
            yaml_block_end(lines, target)
        }
        _ => target,
    }
}

/// Brace depth change of one line, ignoring quoted text and comments.
fn brace_delta(line: &str) -> i64 {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') => break,
            (None, '/') if chars.peek() == Some(&'/') => break,
            (None, '{') => depth += 1,
            (None, '}') => depth -= 1,
            _ => {}
        }
    }
    depth
}

fn brace_block_end(lines: &[&str], target: usize) -> usize {
    let mut depth = brace_delta(lines[target]);
    if depth <= 0 {
        return target;
    }
    for (i, line) in lines.iter().enumerate().skip(target + 1) {
        depth += brace_delta(line);
        if depth <= 0 {
            return i;
        }
    }
    lines.len().saturating_sub(1)
}

/// `<VirtualHost *:80>` … `</VirtualHost>`, counting nested tags of the
/// same name.
fn apache_block_end(lines: &[&str], target: usize) -> usize {
    let head = lines[target].trim_start();
    let Some(name) = head
        .strip_prefix('<')
        .filter(|h| !h.starts_with('/'))
        .and_then(|h| h.split([' ', '\t', '>']).next())
        .filter(|n| !n.is_empty())
    else {
        return target;
    };
    let open = format!("<{}", name.to_ascii_lowercase());
    let close = format!("</{}", name.to_ascii_lowercase());
    let mut depth = 1usize;
    for (i, line) in lines.iter().enumerate().skip(target + 1) {
        let t = line.trim_start().to_ascii_lowercase();
        if t.starts_with(&close) {
            depth -= 1;
            if depth == 0 {
                return i;
            }
        } else if t.starts_with(&open) {
            depth += 1;
        }
    }
    lines.len().saturating_sub(1)
}

fn haproxy_keyword(line: &str) -> Option<&str> {
    line.split_whitespace()
        .next()
        .filter(|w| SECTIONS.contains(w))
}

fn haproxy_section_end(lines: &[&str], target: usize) -> usize {
    if haproxy_keyword(lines[target]).is_none() {
        return target;
    }
    let next = (target + 1..lines.len()).find(|&i| haproxy_keyword(lines[i]).is_some());
    let end = next.unwrap_or(lines.len());
    // The section ends at its last line that is not blank or a comment
    // (a directive for the next section belongs to that one).
    (target..end)
        .rev()
        .find(|&i| !is_comment_or_blank(lines[i]))
        .unwrap_or(target)
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches([' ', '\t']).len()
}

/// A YAML key ending in `:` (its value on the following lines) spans those
/// lines indented deeper, and a sequence at its own indentation.
fn yaml_block_end(lines: &[&str], target: usize) -> usize {
    let head = lines[target];
    let body = head.split(" #").next().unwrap_or(head).trim_end();
    if !body.ends_with(':') && !body.trim_start().starts_with("- ") {
        return target;
    }
    let base = indent(head);
    // The content of a `- key: value` item sits two columns in.
    let item = body.trim_start().starts_with("- ");
    let mut last = target;
    for (i, line) in lines.iter().enumerate().skip(target + 1) {
        if is_comment_or_blank(line) {
            continue;
        }
        let ind = indent(line);
        let sequence_under_key =
            !item && ind == base && line.trim_start().starts_with('-') && body.ends_with(':');
        if ind > base || sequence_under_key {
            last = i;
        } else {
            break;
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(kind: ConfigKind, text: &str) -> SourceFile {
        SourceFile {
            path: "conf".into(),
            kind,
            included_from: None,
            text: text.into(),
        }
    }

    fn ranges(kind: ConfigKind, text: &str) -> Vec<(u32, u32, Vec<String>)> {
        directives_in(&file(kind, text))
            .into_iter()
            .map(|d| (d.first_line, d.last_line, d.ids))
            .collect()
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn trailing_directive_covers_its_line() {
        let text = "http {\n  proxy_read_timeout 30s; # wsdoctor: ignore idle-timeout\n}\n";
        assert_eq!(
            ranges(ConfigKind::Nginx, text),
            vec![(2, 2, ids(&["idle-timeout"]))]
        );
    }

    #[test]
    fn directive_before_an_nginx_block_covers_the_block() {
        let text = "http {\n  # wsdoctor: ignore idle-timeout, heartbeat-too-slow -- app pings every 20s\n\n  location /ws {\n    proxy_pass http://a; # a } in a comment\n    add_header X \"}\";\n  }\n  location / {}\n}\n";
        let found = directives_in(&file(ConfigKind::Nginx, text));
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].first_line, found[0].last_line), (4, 7));
        assert_eq!(found[0].ids, ids(&["idle-timeout", "heartbeat-too-slow"]));
        assert_eq!(found[0].reason.as_deref(), Some("app pings every 20s"));
        assert!(found[0].covers("conf", 5, "heartbeat-too-slow"));
        assert!(!found[0].covers("conf", 8, "idle-timeout"));
        assert!(!found[0].covers("other", 5, "idle-timeout"));
        assert!(!found[0].covers("conf", 5, "no-heartbeat"));
    }

    #[test]
    fn directive_before_a_plain_line_covers_that_line() {
        let text =
            "# wsdoctor: ignore idle-timeout\nproxy_read_timeout 30s;\nproxy_send_timeout 30s;\n";
        assert_eq!(
            ranges(ConfigKind::Nginx, text),
            vec![(2, 2, ids(&["idle-timeout"]))]
        );
    }

    #[test]
    fn haproxy_section_runs_to_the_next_section() {
        let text = "defaults\n  timeout client 30s\n# wsdoctor: ignore heartbeat-too-slow\nbackend be_ws\n  timeout server 30s\n  server a 127.0.0.1:1\n\n# about the next one\nbackend other\n  timeout server 1s\n";
        assert_eq!(
            ranges(ConfigKind::Haproxy, text),
            vec![(4, 6, ids(&["heartbeat-too-slow"]))]
        );
    }

    #[test]
    fn yaml_key_covers_what_is_indented_below_it() {
        let text = "metadata:\n  name: x\n  # wsdoctor: ignore idle-timeout\n  annotations:\n    a: \"1\"\n    b: \"2\"\n  labels:\n    c: d\n";
        assert_eq!(
            ranges(ConfigKind::Kubernetes, text),
            vec![(4, 6, ids(&["idle-timeout"]))]
        );
        let seq =
            "# wsdoctor: ignore idle-timeout\nrules:\n- host: a\n  http: {}\n- host: b\nkind: X\n";
        assert_eq!(
            ranges(ConfigKind::Kubernetes, seq),
            vec![(2, 5, ids(&["idle-timeout"]))]
        );
    }

    #[test]
    fn apache_tag_block() {
        let text = "# wsdoctor: ignore idle-timeout\n<VirtualHost *:80>\n  <Location /ws>\n  </Location>\n</VirtualHost>\nTimeout 5\n";
        assert_eq!(
            ranges(ConfigKind::Apache, text),
            vec![(2, 5, ids(&["idle-timeout"]))]
        );
    }

    #[test]
    fn not_a_directive() {
        for line in [
            "# wsdoctor: ignored idle-timeout",
            "# wsdoctor: ignore",
            "# see wsdoctor:",
            "proxy_pass http://wsdoctor:ignore;",
            "# wsdoctor: check idle-timeout",
        ] {
            assert_eq!(parse_directive(line), None, "{line}");
        }
    }

    #[test]
    fn unclosed_block_runs_to_the_end_of_the_file() {
        let text = "# wsdoctor: ignore idle-timeout\nserver {\n  listen 80;\n";
        assert_eq!(
            ranges(ConfigKind::Nginx, text),
            vec![(2, 3, ids(&["idle-timeout"]))]
        );
    }
}
