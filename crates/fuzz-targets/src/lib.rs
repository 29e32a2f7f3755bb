//! The bodies of wsdoctor's fuzz targets.
//!
//! Each target is a plain `fn(&[u8])` that panics when an input shows a
//! bug: a panic inside a parser, an unbounded allocation, or a broken
//! property (an answer with an injected header line, a secret in an
//! output, a chunking that changes what a decoder reads). `fuzz/` wraps
//! each in `fuzz_target!` for cargo-fuzz; `tests/corpus.rs` replays the
//! committed corpora (`fuzz/corpus/TARGET/`) through the same functions on
//! stable, so `cargo test --workspace` runs every find again.
//!
//! Inputs that need structure (chunk boundaries, file trees, URL parts) are
//! read from the bytes with `arbitrary::Unstructured`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod app;
mod conn;
mod files;
mod lab;
mod serve;
mod text;

/// One fuzz target: its name (the directory of its corpus and the binary
/// in `fuzz/`) and its body.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// `fuzz/fuzz_targets/NAME.rs`, `fuzz/corpus/NAME/`.
    pub name: &'static str,
    /// Runs one input; panics on a bug.
    pub run: fn(&[u8]),
}

/// Every target, in the order CI runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "lab_request_head",
        run: lab::request_head,
    },
    Target {
        name: "lab_frames",
        run: lab::frames,
    },
    Target {
        name: "lab_proxy_head",
        run: lab::proxy_head,
    },
    Target {
        name: "lab_proxy_pump",
        run: lab::proxy_pump,
    },
    Target {
        name: "fault_query",
        run: lab::fault_query,
    },
    Target {
        name: "serve_conn",
        run: serve::serve_conn,
    },
    Target {
        name: "browser_report",
        run: serve::browser_report,
    },
    Target {
        name: "deflate",
        run: conn::deflate,
    },
    Target {
        name: "proxy_reply",
        run: conn::proxy_reply,
    },
    Target {
        name: "redaction",
        run: text::redaction,
    },
    Target {
        name: "durations",
        run: text::durations,
    },
    Target {
        name: "har",
        run: files::har,
    },
    Target {
        name: "lint_include",
        run: files::lint_include,
    },
    Target {
        name: "load_merge",
        run: files::load_merge,
    },
    Target {
        name: "load_histogram",
        run: files::load_histogram,
    },
    Target {
        name: "app_messages",
        run: app::app_messages,
    },
];

/// The body of the target called `name`.
pub fn target(name: &str) -> Option<fn(&[u8])> {
    TARGETS.iter().find(|t| t.name == name).map(|t| t.run)
}

/// Splits `bytes` into consecutive non-empty chunks whose sizes come from
/// `u` (a decoder must read the same whatever the chunking).
fn chunked<'a>(u: &mut arbitrary::Unstructured<'_>, bytes: &'a [u8]) -> Vec<&'a [u8]> {
    let mut chunks = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        // Once the control bytes run out, the rest is one chunk.
        if u.is_empty() {
            chunks.push(rest);
            break;
        }
        let size = u
            .int_in_range(1..=rest.len().min(300))
            .unwrap_or(rest.len());
        let (chunk, tail) = rest.split_at(size);
        chunks.push(chunk);
        rest = tail;
    }
    chunks
}

/// `bytes` split in two: the first `head_len` bytes (or all) drive the
/// structure, the rest is the payload.
fn split_control(bytes: &[u8], head_len: usize) -> (&[u8], &[u8]) {
    bytes.split_at(head_len.min(bytes.len()))
}
