//! nginx: a hand-written lexer and parser (no maintained crate exists; the
//! old `nginx-config` crate pulls in `failure`), include expansion, and the
//! extraction of proxying blocks into typed evidence.

mod extract;
mod include;
pub(crate) mod lexer;
pub(crate) mod parser;

use std::path::Path;

use wsdoctor_evidence::config::ConfigKind;

use crate::loader::Loader;
use crate::source::{ReadError, Root};

pub(crate) use extract::Context;

/// Reads one nginx file the user named (or found in a directory they
/// named), follows its includes, and adds what it says to the evidence.
pub(crate) fn load(loader: &mut Loader, root: &Root, path: &Path) -> Result<(), ReadError> {
    let text = loader.read(path, ConfigKind::Nginx, None)?;
    let (tree, problems) = parser::parse(&text.display, &text.text);
    loader.problems(problems);
    let tree = include::expand(tree, path, loader, root);
    let context = Context::of_top_level(&tree);
    let ev = &mut loader.evidence;
    extract::extract(&tree, context, &mut ev.nginx, &mut ev.problems);
    Ok(())
}

/// True when the text looks like a main `nginx.conf` (it has `http` or
/// `events`), which is read before fragments so that fragments it includes
/// are read in their context.
pub(crate) fn is_main(text: &str) -> bool {
    let mut lexer = lexer::Lexer::new(text);
    let mut at_start = true;
    while let Ok(Some(t)) = lexer.next_token() {
        if at_start && matches!(t.text.as_str(), "http" | "events") {
            return true;
        }
        at_start = t.kind != lexer::TokenKind::Word;
    }
    false
}
