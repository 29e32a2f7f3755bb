//! `include` expansion: each `include PATTERN;` is replaced, in place, by
//! the directives of the files it matches, as nginx does while reading.
//! Patterns resolve against the config root and never leave it
//! ([`Root::resolve`]); include cycles and runaway depth are cut off.

use std::path::PathBuf;

use wsdoctor_evidence::config::{ConfigKind, ProblemKind};

use super::parser::{self, Directive};
use crate::loader::Loader;
use crate::source::{Resolved, Root};

/// nginx has no limit, but a real config nests includes two or three deep.
const MAX_DEPTH: usize = 16;

/// Expands includes in `tree` (recursively, inside blocks too).
pub(crate) fn expand(tree: Vec<Directive>, loader: &mut Loader, root: &Root) -> Vec<Directive> {
    let mut stack = Vec::new();
    expand_in(tree, loader, root, &mut stack)
}

fn expand_in(
    tree: Vec<Directive>,
    loader: &mut Loader,
    root: &Root,
    stack: &mut Vec<PathBuf>,
) -> Vec<Directive> {
    let mut out = Vec::with_capacity(tree.len());
    for mut d in tree {
        if d.name == "include" && d.block.is_none() {
            out.extend(include(&d, loader, root, stack));
            continue;
        }
        if let Some(block) = d.block.take() {
            d.block = Some(expand_in(block, loader, root, stack));
        }
        out.push(d);
    }
    out
}

fn include(
    d: &Directive,
    loader: &mut Loader,
    root: &Root,
    stack: &mut Vec<PathBuf>,
) -> Vec<Directive> {
    let Some(arg) = d.args.first() else {
        return Vec::new();
    };
    if arg.templated {
        // Already reported as templated; the file name is unknown.
        return Vec::new();
    }
    let files = match root.resolve(&arg.text) {
        Resolved::Outside => {
            loader.problem(
                ProblemKind::IncludeOutsideRoot,
                format!(
                    "`{}` is outside the config root; not followed (lint the directory that holds it)",
                    arg.text
                ),
                arg.span.clone(),
            );
            return Vec::new();
        }
        Resolved::Files(files) => files,
    };
    if files.is_empty() {
        let (kind, message) = if arg.text.contains(['*', '?', '[']) {
            (
                ProblemKind::IncludeNoMatch,
                format!("`{}` matches no file", arg.text),
            )
        } else {
            (
                ProblemKind::IncludeUnreadable,
                format!("`{}` does not exist below the config root", arg.text),
            )
        };
        loader.problem(kind, message, arg.span.clone());
        return Vec::new();
    }
    let mut out = Vec::new();
    for path in files {
        let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
        if stack.contains(&canonical) || stack.len() >= MAX_DEPTH {
            loader.problem(
                ProblemKind::Syntax,
                format!("include of `{}` loops back on itself", path.display()),
                arg.span.clone(),
            );
            continue;
        }
        let text = match loader.read(&path, ConfigKind::Nginx, Some(d.span.clone())) {
            Ok(text) => text,
            Err(e) => {
                loader.problem(
                    ProblemKind::IncludeUnreadable,
                    format!("cannot read `{}`: {e}", path.display()),
                    arg.span.clone(),
                );
                continue;
            }
        };
        let (tree, problems) = parser::parse(&text.display, &text.text);
        // A file included twice (a snippet used in two locations) is parsed
        // twice but its problems are reported once.
        if text.first {
            loader.problems(problems);
        }
        stack.push(canonical);
        out.extend(expand_in(tree, loader, root, stack));
        stack.pop();
    }
    out
}
