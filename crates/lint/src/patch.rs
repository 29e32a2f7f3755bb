//! `--fix`: the rules' line edits as a unified diff that `patch -p1`
//! applies from the working directory (paths are `a/<file>` / `b/<file>`
//! with the display paths, which are relative to it).
//!
//! The edits are line-anchored (replace this line, insert after it, insert
//! into the block it opens), so the diff is built from them directly; no
//! general diff algorithm is needed. Inserted lines take their indentation
//! and line ending from the file, so a fix looks like the user wrote it.

use std::collections::BTreeMap;

use wsdoctor_evidence::config::{ConfigEvidence, Edit, EditAction};

/// Lines of context around each change, as `diff -u` prints.
const CONTEXT: usize = 3;

/// The unified diff for `edits` against the files in `evidence`; empty when
/// there is nothing to change. Identical edits are applied once; a second
/// `Replace` of the same line is dropped (the first rule to claim a line
/// wins, and rules are ranked most important first).
pub fn unified_diff(evidence: &ConfigEvidence, edits: &[Edit]) -> String {
    let mut by_file: BTreeMap<&str, Vec<&Edit>> = BTreeMap::new();
    for e in edits {
        by_file.entry(e.file.as_str()).or_default().push(e);
    }
    let mut out = String::new();
    // In the order the files were read, which is the order users think in.
    for file in &evidence.files {
        let Some(edits) = by_file.get(file.path.as_str()) else {
            continue;
        };
        let ops = apply(&file.text, edits);
        out.push_str(&render(&file.path, &ops));
    }
    out
}

/// One change to a file's text, for a SARIF `replacement`: delete
/// `deleted_chars` characters (Unicode scalar values) from `char_offset`,
/// then insert `inserted`. The same edits as [`unified_diff`], with the
/// same indentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    /// Characters before the change.
    pub char_offset: usize,
    /// Characters removed.
    pub deleted_chars: usize,
    /// Text inserted there.
    pub inserted: String,
}

/// The replacements `edits` make, per file (display path), in the order
/// the files were read; files without a change are left out.
pub fn replacements(evidence: &ConfigEvidence, edits: &[Edit]) -> Vec<(String, Vec<Replacement>)> {
    let mut out = Vec::new();
    for file in &evidence.files {
        let mine: Vec<&Edit> = edits.iter().filter(|e| e.file == file.path).collect();
        if mine.is_empty() {
            continue;
        }
        let changes = replacements_of(&apply(&file.text, &mine));
        if !changes.is_empty() {
            out.push((file.path.clone(), changes));
        }
    }
    out
}

fn replacements_of(ops: &[(Op, bool)]) -> Vec<Replacement> {
    let mut out: Vec<Replacement> = Vec::new();
    let mut offset = 0;
    let mut open: Option<Replacement> = None;
    for (op, eol) in ops {
        let chars = |t: &str| t.chars().count() + usize::from(*eol);
        match op {
            Op::Keep(t) => {
                out.extend(open.take());
                offset += chars(t);
            }
            Op::Del(t) => {
                let r = open.get_or_insert_with(|| Replacement {
                    char_offset: offset,
                    deleted_chars: 0,
                    inserted: String::new(),
                });
                r.deleted_chars += chars(t);
                offset += chars(t);
            }
            Op::Add(t) => {
                let r = open.get_or_insert_with(|| Replacement {
                    char_offset: offset,
                    deleted_chars: 0,
                    inserted: String::new(),
                });
                r.inserted.push_str(t);
                if *eol {
                    r.inserted.push('\n');
                }
            }
        }
    }
    out.extend(open);
    out
}

/// One line of the result: kept, removed or added.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Keep(String),
    Del(String),
    Add(String),
}

/// A line without its `\n`, and whether the `\n` was there.
fn split_lines(text: &str) -> Vec<(&str, bool)> {
    text.split_inclusive('\n')
        .map(|l| match l.strip_suffix('\n') {
            Some(body) => (body, true),
            None => (l, false),
        })
        .collect()
}

fn indent_of(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

/// The indentation of a block's body: its first non-blank line's when that
/// is deeper than the header's, else one level (tab or four spaces) deeper.
fn child_indent(lines: &[(&str, bool)], header: usize) -> String {
    let base = indent_of(lines[header].0);
    let next = lines[header + 1..]
        .iter()
        .map(|(l, _)| *l)
        .find(|l| !l.trim().is_empty());
    match next.map(indent_of) {
        Some(ind) if ind.len() > base.len() => ind.to_owned(),
        _ if base.contains('\t') => format!("{base}\t"),
        _ => format!("{base}    "),
    }
}

fn apply(text: &str, edits: &[&Edit]) -> Vec<(Op, bool)> {
    let lines = split_lines(text);
    let crlf = lines.first().is_some_and(|(l, _)| l.ends_with('\r'));
    let mut sorted: Vec<&Edit> = edits.to_vec();
    sorted.sort();
    sorted.dedup();
    let mut ops: Vec<(Op, bool)> = Vec::new();
    let added = |indent: &str, e: &Edit| -> Vec<(Op, bool)> {
        e.lines
            .iter()
            .map(|l| {
                let eol = if crlf { "\r" } else { "" };
                (Op::Add(format!("{indent}{l}{eol}")), true)
            })
            .collect()
    };
    for (index, (line, has_eol)) in lines.iter().enumerate() {
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let here: Vec<&Edit> = sorted
            .iter()
            .copied()
            .filter(|e| e.line == number)
            .collect();
        let indent = indent_of(line.trim_end_matches('\r'));
        for e in here.iter().filter(|e| e.action == EditAction::InsertBefore) {
            ops.extend(added(indent, e));
        }
        let touches_end = !has_eol
            && here.iter().any(|e| {
                matches!(
                    e.action,
                    EditAction::Replace | EditAction::InsertAfter | EditAction::InsertInto
                )
            });
        // Two rules may rewrite one line, each appending to it (Apache's
        // `upgrade=websocket` and `timeout=`): the one that extends the
        // other carries both; otherwise the first wins.
        let replace = here
            .iter()
            .copied()
            .filter(|e| e.action == EditAction::Replace)
            .reduce(|kept, e| {
                if e.lines.concat().starts_with(&kept.lines.concat()) {
                    e
                } else {
                    kept
                }
            });
        match replace {
            Some(e) => {
                ops.push((Op::Del((*line).to_owned()), *has_eol));
                ops.extend(added(indent, e));
            }
            None if touches_end => {
                // The last line gains a newline so text can follow it.
                ops.push((Op::Del((*line).to_owned()), false));
                ops.push((Op::Add((*line).to_owned()), true));
            }
            None => ops.push((Op::Keep((*line).to_owned()), *has_eol)),
        }
        for e in here.iter().filter(|e| e.action == EditAction::InsertInto) {
            ops.extend(added(&child_indent(&lines, index), e));
        }
        for e in here.iter().filter(|e| e.action == EditAction::InsertAfter) {
            ops.extend(added(indent, e));
        }
    }
    ops
}

fn render(path: &str, ops: &[(Op, bool)]) -> String {
    let changed: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, (op, _))| !matches!(op, Op::Keep(_)))
        .map(|(i, _)| i)
        .collect();
    if changed.is_empty() {
        return String::new();
    }
    // Group changes whose contexts touch into one hunk.
    let mut groups: Vec<(usize, usize)> = Vec::new();
    for &i in &changed {
        let start = i.saturating_sub(CONTEXT);
        let end = (i + CONTEXT + 1).min(ops.len());
        match groups.last_mut() {
            Some((_, last_end)) if start <= *last_end => *last_end = end,
            _ => groups.push((start, end)),
        }
    }
    let mut out = format!("--- a/{path}\n+++ b/{path}\n");
    for (start, end) in groups {
        let old_before = ops[..start]
            .iter()
            .filter(|(op, _)| !matches!(op, Op::Add(_)))
            .count();
        let new_before = ops[..start]
            .iter()
            .filter(|(op, _)| !matches!(op, Op::Del(_)))
            .count();
        let slice = &ops[start..end];
        let old_len = slice
            .iter()
            .filter(|(op, _)| !matches!(op, Op::Add(_)))
            .count();
        let new_len = slice
            .iter()
            .filter(|(op, _)| !matches!(op, Op::Del(_)))
            .count();
        // diff -u numbers an empty side by the line before it.
        let old_start = if old_len == 0 {
            old_before
        } else {
            old_before + 1
        };
        let new_start = if new_len == 0 {
            new_before
        } else {
            new_before + 1
        };
        out.push_str(&format!(
            "@@ -{old_start},{old_len} +{new_start},{new_len} @@\n"
        ));
        for (op, eol) in slice {
            let (mark, text) = match op {
                Op::Keep(t) => (' ', t),
                Op::Del(t) => ('-', t),
                Op::Add(t) => ('+', t),
            };
            out.push(mark);
            out.push_str(text);
            out.push('\n');
            if !eol {
                out.push_str("\\ No newline at end of file\n");
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use wsdoctor_evidence::config::{ConfigKind, SourceFile};

    use super::*;

    fn evidence(text: &str) -> ConfigEvidence {
        ConfigEvidence {
            files: vec![SourceFile {
                path: "conf/nginx.conf".into(),
                kind: ConfigKind::Nginx,
                included_from: None,
                text: text.into(),
            }],
            ..ConfigEvidence::default()
        }
    }

    fn edit(line: u32, action: EditAction, lines: &[&str]) -> Edit {
        Edit::new(
            "conf/nginx.conf",
            line,
            action,
            lines.iter().map(|s| (*s).to_owned()).collect(),
        )
    }

    #[test]
    fn insert_after_takes_the_anchor_indentation() {
        let text = "server {\n    location / {\n        proxy_pass http://b;\n    }\n}\n";
        let diff = unified_diff(
            &evidence(text),
            &[edit(
                3,
                EditAction::InsertAfter,
                &["proxy_http_version 1.1;"],
            )],
        );
        assert_eq!(
            diff,
            "--- a/conf/nginx.conf\n+++ b/conf/nginx.conf\n@@ -1,5 +1,6 @@\n server {\n     location / {\n         proxy_pass http://b;\n+        proxy_http_version 1.1;\n     }\n }\n"
        );
    }

    #[test]
    fn replace_and_insert_into_with_tabs_and_no_final_newline() {
        let text = "backend be\n\tserver s 1.2.3.4:80\n\ttimeout server 30s";
        let diff = unified_diff(
            &evidence(text),
            &[
                edit(3, EditAction::Replace, &["timeout server 1h"]),
                edit(1, EditAction::InsertInto, &["timeout tunnel 1h"]),
                edit(1, EditAction::InsertInto, &["timeout tunnel 1h"]),
            ],
        );
        assert_eq!(
            diff,
            "--- a/conf/nginx.conf\n+++ b/conf/nginx.conf\n@@ -1,3 +1,4 @@\n backend be\n+\ttimeout tunnel 1h\n \tserver s 1.2.3.4:80\n-\ttimeout server 30s\n\\ No newline at end of file\n+\ttimeout server 1h\n"
        );
    }

    #[test]
    fn far_apart_changes_make_two_hunks() {
        let text: String = (1..=20).map(|i| format!("l{i};\n")).collect();
        let diff = unified_diff(
            &evidence(&text),
            &[
                edit(1, EditAction::InsertBefore, &["a;"]),
                edit(20, EditAction::InsertAfter, &["z;"]),
            ],
        );
        assert!(diff.contains("@@ -1,3 +1,4 @@\n+a;\n l1;"), "{diff}");
        assert!(
            diff.contains("@@ -18,3 +19,4 @@\n l18;\n l19;\n l20;\n+z;\n"),
            "{diff}"
        );
    }

    /// Applying the replacements to the text gives what `patch` makes of
    /// the diff.
    fn replaced(text: &str, changes: &[Replacement]) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        for r in changes.iter().rev() {
            chars.splice(
                r.char_offset..r.char_offset + r.deleted_chars,
                r.inserted.chars(),
            );
        }
        chars.into_iter().collect()
    }

    #[test]
    fn replacements_make_the_same_change_as_the_diff() {
        let text = "backend bé\n\tserver s 1.2.3.4:80\n\ttimeout server 30s";
        let edits = [
            edit(3, EditAction::Replace, &["timeout server 1h"]),
            edit(1, EditAction::InsertInto, &["timeout tunnel 1h"]),
        ];
        let changes = replacements(&evidence(text), &edits);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].1.len(), 2);
        assert_eq!(
            replaced(text, &changes[0].1),
            "backend bé\n\ttimeout tunnel 1h\n\tserver s 1.2.3.4:80\n\ttimeout server 1h\n"
        );
        assert!(replacements(&evidence(text), &[]).is_empty());
    }

    #[test]
    fn nothing_to_do_is_an_empty_diff() {
        assert_eq!(unified_diff(&evidence("a;\n"), &[]), "");
    }
}
