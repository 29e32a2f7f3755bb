//! Replays every committed fuzz corpus (`fuzz/corpus/TARGET/*`: seeds and
//! minimized finds) through the target bodies, on stable, so each find
//! stays fixed; then a few hundred random inputs per target, for machines
//! without cargo-fuzz.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use wsdoctor_fuzz_targets::{target, TARGETS};

fn corpus_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(name)
}

#[test]
fn every_target_has_a_committed_corpus_and_a_cargo_fuzz_binary() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    for t in TARGETS {
        let seeds = std::fs::read_dir(corpus_dir(t.name))
            .unwrap_or_else(|e| panic!("fuzz/corpus/{}: {e}", t.name))
            .count();
        assert!(seeds > 0, "fuzz/corpus/{} is empty", t.name);
        let binary = fuzz.join("fuzz_targets").join(format!("{}.rs", t.name));
        let text = std::fs::read_to_string(&binary)
            .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
        assert!(
            text.contains(&format!("target(\"{}\")", t.name)),
            "{}",
            binary.display()
        );
    }
}

#[test]
fn committed_corpora_replay_without_a_failure() {
    for t in TARGETS {
        let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir(t.name))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).unwrap();
            let run = std::panic::catch_unwind(|| (t.run)(&data));
            assert!(run.is_ok(), "{} fails on {}", t.name, file.display());
        }
    }
}

/// Targets cheap enough for many random inputs per test run; the ones that
/// open sockets or write files get fewer.
fn cases(name: &str) -> u32 {
    match name {
        "serve_conn" | "proxy_reply" | "lint_include" | "har" => 24,
        _ => 256,
    }
}

#[test]
fn random_inputs_break_no_target() {
    for t in TARGETS {
        let config = ProptestConfig {
            cases: cases(t.name),
            failure_persistence: None,
            ..ProptestConfig::default()
        };
        let run = target(t.name).unwrap();
        proptest!(config, |(data in prop::collection::vec(any::<u8>(), 0..2048))| {
            run(&data);
        });
    }
}
