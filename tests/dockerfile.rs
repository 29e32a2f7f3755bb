//! The container image, checked where no builder can run (no registry to
//! pull the base images from, in tests or here): the `Dockerfile` is read
//! instruction by instruction and held to what the image must be — two
//! stages, bases pinned to a tag that is not `latest`, the build stage's
//! `cargo build --release --locked -p … --bin …` naming this workspace's
//! package and binary, a toolchain at least the workspace's rust-version,
//! a runtime with CA certificates, a numeric non-root `USER`, an exec-form
//! `ENTRYPOINT` at the binary it copies, a `HEALTHCHECK` line and the OCI
//! version label equal to the crate's version. The build context that
//! `.dockerignore` leaves (the tracked files minus its patterns) is laid
//! out in a temporary directory, and `cargo tree --locked --offline` there
//! proves the manifests load and the committed Cargo.lock is used as it is.
//!
//! Not checked: that the base images exist, that the release build
//! compiles in them (a release build is too slow for CI; the debug build of
//! the same package runs in every test), or the image's size.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// One instruction: its keyword (upper case) and the rest of its line,
/// continuation lines joined.
#[derive(Debug, Clone)]
struct Instruction {
    keyword: String,
    args: String,
}

/// Hand-written: the few rules needed here (comments, `\` continuations,
/// the keyword) are a dozen lines, where the parser crate
/// (dockerfile-parser) would bring pest, regex and snafu 0.6 into every
/// test build.
fn parse(text: &str) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(body) => {
                current.push_str(body);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let (keyword, args) = current.split_once(char::is_whitespace).unwrap();
                out.push(Instruction {
                    keyword: keyword.to_ascii_uppercase(),
                    args: args.trim().to_owned(),
                });
                current.clear();
            }
        }
    }
    assert!(
        current.is_empty(),
        "the Dockerfile ends inside a continuation"
    );
    out
}

/// `NAME=value` of an `ARG`.
fn arg_default(args: &str) -> Option<(String, String)> {
    let (name, value) = args.split_once('=')?;
    Some((name.to_owned(), value.trim_matches('"').to_owned()))
}

fn substitute(text: &str, args: &HashMap<String, String>) -> String {
    let mut out = text.to_owned();
    for (name, value) in args {
        out = out.replace(&format!("${{{name}}}"), value);
    }
    out
}

struct Stage {
    image: String,
    name: String,
    body: Vec<Instruction>,
}

fn stages(instructions: &[Instruction]) -> (HashMap<String, String>, Vec<Stage>) {
    let mut global = HashMap::new();
    let mut stages: Vec<Stage> = Vec::new();
    for i in instructions {
        match (i.keyword.as_str(), stages.last_mut()) {
            ("FROM", _) => {
                let words: Vec<&str> = i.args.split_whitespace().collect();
                assert_eq!(words.len(), 3, "FROM image AS name: {}", i.args);
                assert!(words[1].eq_ignore_ascii_case("as"), "{}", i.args);
                stages.push(Stage {
                    image: substitute(words[0], &global),
                    name: words[2].to_owned(),
                    body: Vec::new(),
                });
            }
            ("ARG", None) => {
                let (name, value) = arg_default(&i.args).expect("a global ARG has a default");
                global.insert(name, value);
            }
            (_, Some(stage)) => stage.body.push(i.clone()),
            (keyword, None) => panic!("{keyword} before the first FROM"),
        }
    }
    (global, stages)
}

fn dockerfile() -> (HashMap<String, String>, Vec<Stage>) {
    let text = std::fs::read_to_string(Path::new(ROOT).join("Dockerfile")).unwrap();
    stages(&parse(&text))
}

fn find<'a>(stage: &'a Stage, keyword: &str) -> Vec<&'a str> {
    stage
        .body
        .iter()
        .filter(|i| i.keyword == keyword)
        .map(|i| i.args.as_str())
        .collect()
}

/// `cargo metadata --no-deps` of the workspace (no network, no lock change).
fn metadata(dir: &Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO"))
        .current_dir(dir)
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn version_tuple(text: &str) -> Vec<u32> {
    text.split('.').map(|p| p.parse().unwrap()).collect()
}

#[test]
fn two_stages_on_pinned_bases() {
    let (_, stages) = dockerfile();
    assert_eq!(stages.len(), 2, "a build stage and a runtime stage");
    for stage in &stages {
        // hadolint DL3006/DL3007: a tag, and not `latest`.
        let (_, tag) = stage
            .image
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("{} has no tag", stage.image));
        assert!(!tag.is_empty() && tag != "latest", "{}", stage.image);
        assert!(!stage.image.contains('$'), "unresolved: {}", stage.image);
    }
    assert!(stages[0].image.contains("/rust:"), "{}", stages[0].image);
    assert!(
        stages[1].image.contains("debian:bookworm-slim")
            || stages[1].image.contains("distroless/cc"),
        "{}",
        stages[1].image
    );
}

#[test]
fn build_stage_builds_this_workspace_binary_with_the_lockfile() {
    let (_, stages) = dockerfile();
    let build = &stages[0];
    let run = find(build, "RUN").join(" && ");
    let words: Vec<&str> = run.split_whitespace().collect();
    let at = words
        .windows(2)
        .position(|w| w == ["cargo", "build"])
        .expect("the build stage runs cargo build");
    let cargo: Vec<&str> = words[at..]
        .iter()
        .copied()
        .take_while(|w| *w != "&&")
        .collect();
    assert!(
        cargo.contains(&"--release") && cargo.contains(&"--locked"),
        "{cargo:?}"
    );
    let after = |flag: &str| {
        let i = cargo
            .iter()
            .position(|w| *w == flag)
            .unwrap_or_else(|| panic!("{flag} in {cargo:?}"));
        cargo[i + 1]
    };
    let (package, bin) = (after("-p"), after("--bin"));

    let meta = metadata(Path::new(ROOT));
    let pkg = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == package)
        .unwrap_or_else(|| panic!("-p {package} is no workspace package"));
    assert!(
        pkg["targets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == bin && t["kind"][0] == "bin"),
        "--bin {bin} is no binary of {package}"
    );
    // The same binary the tests run.
    assert_eq!(bin, "wsdoctor");
    assert!(run.contains(&format!("target/release/{bin}")), "{run}");

    // The toolchain is at least the workspace's rust-version.
    let (global, _) = dockerfile();
    let toolchain = global.get("RUST_VERSION").expect("ARG RUST_VERSION");
    let needed = pkg["rust_version"].as_str().unwrap();
    assert!(
        version_tuple(toolchain) >= version_tuple(needed),
        "rust {toolchain} < rust-version {needed}"
    );
}

#[test]
fn runtime_is_small_non_root_labelled_and_runs_the_binary() {
    let (_, stages) = dockerfile();
    let runtime = &stages[1];
    let run = find(runtime, "RUN").join(" ");
    assert!(run.contains("ca-certificates"), "{run}");
    // hadolint DL3015 and DL3009.
    assert!(run.contains("--no-install-recommends"), "{run}");
    assert!(run.contains("rm -rf /var/lib/apt/lists/*"), "{run}");

    // Everything copied from the build stage is something it made.
    let build_run = find(&stages[0], "RUN").join(" ");
    for copy in find(runtime, "COPY") {
        let words: Vec<&str> = copy.split_whitespace().collect();
        assert_eq!(words[0], format!("--from={}", stages[0].name), "{copy}");
        assert!(
            build_run.contains(words[1]),
            "{} is not made by the build stage",
            words[1]
        );
    }

    // hadolint DL3002: the last USER is not root; numeric, so Kubernetes'
    // runAsNonRoot (deploy/k8s) can verify it.
    let user = *find(runtime, "USER").last().expect("a USER");
    let uid: u32 = user
        .split(':')
        .next()
        .unwrap()
        .parse()
        .expect("a numeric uid");
    assert_ne!(uid, 0);

    let entrypoint = find(runtime, "ENTRYPOINT");
    assert_eq!(entrypoint.len(), 1);
    let exec: Vec<String> = serde_json::from_str(entrypoint[0]).expect("exec form (DL3025)");
    assert!(
        find(runtime, "COPY").iter().any(|c| c.ends_with(&exec[0])),
        "{} is not copied in",
        exec[0]
    );
    assert_eq!(find(runtime, "HEALTHCHECK").len(), 1);

    // The OCI version label, from ARG VERSION, whose default is the crate's.
    let label = find(runtime, "LABEL").join(" ");
    assert!(
        label.contains("org.opencontainers.image.version=\"${VERSION}\""),
        "{label}"
    );
    let version = find(runtime, "ARG")
        .iter()
        .find_map(|a| arg_default(a).filter(|(n, _)| n == "VERSION"))
        .expect("ARG VERSION=…")
        .1;
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
}

/// The build stage's commands after `cargo build` (install, man pages,
/// completions), run for real on the binary the tests built: the debug
/// build of the same package stands in for `target/release`, a temporary
/// directory for `/out`.
#[test]
fn build_stage_steps_after_cargo_run() {
    let (_, stages) = dockerfile();
    let run = find(&stages[0], "RUN").join(" && ");
    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().to_str().unwrap();
    let steps: Vec<String> = run
        .split(" && ")
        .map(str::trim)
        .filter(|step| !step.starts_with("cargo build"))
        .map(|step| {
            step.replace("target/release/wsdoctor", env!("CARGO_BIN_EXE_wsdoctor"))
                .replace("/out/", &format!("{out_dir}/"))
        })
        .collect();
    assert!(steps.iter().all(|s| !s.contains(" /out")), "{steps:?}");
    let status = Command::new("sh")
        .args(["-euc", &steps.join(" && ")])
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    let bin = out.path().join("bin/wsdoctor");
    let version = Command::new(&bin).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("wsdoctor {}", env!("CARGO_PKG_VERSION"))
    );
    assert!(out.path().join("share/man/man1/wsdoctor-probe.1").is_file());
    assert!(out
        .path()
        .join("share/bash-completion/completions/wsdoctor")
        .is_file());
}

#[test]
fn manifests_use_the_documented_image_name() {
    for file in ["deploy/k8s/watch.yaml", "deploy/k8s/load-job.yaml"] {
        let text = std::fs::read_to_string(Path::new(ROOT).join(file)).unwrap();
        let images: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("image:"))
            .map(str::trim)
            .collect();
        assert_eq!(images, ["${REGISTRY}/wsdoctor:${VERSION}"], "{file}");
    }
}

/// True when `.dockerignore`'s `pattern` leaves `path` out of the context
/// (the forms used there: `dir/`, `**/dir/`, `*.ext`).
fn ignored(pattern: &str, path: &str) -> bool {
    let pattern = pattern.trim_end_matches('/');
    if let Some(dir) = pattern.strip_prefix("**/") {
        return path.split('/').any(|part| part == dir);
    }
    if let Some(ext) = pattern.strip_prefix("*.") {
        return !path.contains('/') && path.ends_with(&format!(".{ext}"));
    }
    path == pattern || path.starts_with(&format!("{pattern}/"))
}

#[test]
fn build_context_resolves_with_the_committed_lockfile() {
    let Some(git) = support::require("git") else {
        return;
    };
    let listed = Command::new(git)
        .current_dir(ROOT)
        .args(["ls-files", "-z"])
        .output()
        .unwrap();
    if !listed.status.success() {
        // CI runs in a fresh clone: there it must be one.
        assert!(
            std::env::var_os("CI").is_none(),
            "{ROOT} is not a git checkout"
        );
        eprintln!("skipped: {ROOT} is not a git checkout");
        return;
    }
    let patterns: Vec<String> = std::fs::read_to_string(Path::new(ROOT).join(".dockerignore"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    let context = tempfile::tempdir().unwrap();
    let mut copied = 0;
    for path in String::from_utf8(listed.stdout).unwrap().split('\0') {
        if path.is_empty() || patterns.iter().any(|p| ignored(p, path)) {
            continue;
        }
        let from = Path::new(ROOT).join(path);
        if !from.is_file() {
            continue; // deleted in the work tree, not yet in the index
        }
        let to: PathBuf = context.path().join(path);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&from, &to).unwrap();
        copied += 1;
    }
    assert!(copied > 0);
    assert!(!context.path().join("target").exists());
    assert!(context.path().join("Cargo.lock").is_file());
    // The build's package graph, from the context alone, with the lockfile
    // as committed (--locked fails if it would have to change).
    let out = Command::new(env!("CARGO"))
        .current_dir(context.path())
        .args([
            "tree",
            "--locked",
            "--offline",
            "-p",
            "wsdoctor",
            "-e",
            "normal,build",
            "--depth",
            "1",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the build context does not resolve: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.contains("wsdoctor-lint"), "{tree}");
}

#[test]
fn dockerignore_patterns_match_as_docker_reads_them() {
    assert!(ignored("target/", "target/debug/wsdoctor"));
    assert!(!ignored("target/", "crates/target.rs"));
    assert!(ignored(
        "**/node_modules/",
        "tests/peers/node/node_modules/x.js"
    ));
    assert!(ignored("*.sarif", "out.sarif"));
    assert!(!ignored("fuzz/", "crates/fuzz-targets/Cargo.toml"));
}
