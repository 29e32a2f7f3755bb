//! Shared helpers for the lint integration tests.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr
)]

use std::path::{Path, PathBuf};

use wsdoctor_diagnosis::rules::config::{diagnose_config, ConfigFinding};
use wsdoctor_evidence::config::ConfigEvidence;
use wsdoctor_lint::LintConfig;

/// The fixtures directory.
pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Lints fixture paths (relative to `tests/fixtures`).
pub(crate) fn lint(
    paths: &[&str],
    tweak: impl FnOnce(&mut LintConfig),
) -> (ConfigEvidence, Vec<ConfigFinding>) {
    let mut config = LintConfig {
        paths: paths.iter().map(|p| fixtures().join(p)).collect(),
        ..LintConfig::default()
    };
    tweak(&mut config);
    let ev = wsdoctor_lint::load(&config).expect("fixture loads");
    let findings = diagnose_config(&ev);
    (ev, findings)
}

/// `id@file-name:line` for each finding, in order.
pub(crate) fn summary(findings: &[ConfigFinding]) -> Vec<String> {
    findings
        .iter()
        .map(|f| {
            let at = f.span.as_ref().map_or_else(String::new, |s| {
                let name = Path::new(&s.file)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                format!("@{name}:{}", s.line)
            });
            format!("{}/{:?}{at}", f.finding.id.as_str(), f.finding.severity)
        })
        .collect()
}

/// True when CI is set: a missing real binary then fails instead of skipping.
pub(crate) fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Finds a binary on PATH (or /usr/sbin, where Debian puts nginx and haproxy).
pub(crate) fn binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The binary, or `None` after printing a skip note; panics under CI.
pub(crate) fn require(name: &str) -> Option<PathBuf> {
    match binary(name) {
        Some(p) => Some(p),
        None if in_ci() => {
            panic!("{name} is not installed but CI is set: install it (apt-get install -y {name})")
        }
        None => {
            eprintln!("skipping: {name} is not installed (set CI=1 to make this a failure)");
            None
        }
    }
}

/// `nginx -t` on a config file; Err carries nginx's output.
pub(crate) fn nginx_t(nginx: &Path, conf: &Path) -> Result<(), String> {
    let prefix = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(nginx)
        .arg("-t")
        .arg("-q")
        .args(["-e", "stderr"])
        .arg("-p")
        .arg(prefix.path())
        .arg("-c")
        .arg(conf.canonicalize().unwrap())
        .arg("-g")
        .arg(format!("pid {}/nginx.pid;", prefix.path().display()))
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `haproxy -c` on a config file.
pub(crate) fn haproxy_c(haproxy: &Path, conf: &Path) -> Result<(), String> {
    let out = std::process::Command::new(haproxy)
        .args(["-c", "-q", "-f"])
        .arg(conf)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Lints fixture paths, builds the `--fix` diff, copies the files read into
/// a temp dir (keeping their relative paths, so `a/…` paths apply there
/// with `patch -p1`), applies it, and returns the dir and the diff.
pub(crate) fn apply_fix(
    paths: &[&str],
    tweak: impl FnOnce(&mut LintConfig),
) -> Option<(tempfile::TempDir, String)> {
    let (ev, findings) = lint(paths, tweak);
    let edits: Vec<_> = findings.iter().flat_map(|f| f.edits.clone()).collect();
    let diff = wsdoctor_lint::unified_diff(&ev, &edits);
    assert!(!diff.is_empty(), "nothing to fix");
    let tmp = tempfile::tempdir().unwrap();
    for file in &ev.files {
        let dest = tmp.path().join(&file.path);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(&file.path),
            &dest,
        )
        .unwrap();
    }
    if binary("patch").is_none() {
        assert!(!in_ci(), "patch(1) is not installed but CI is set");
        eprintln!("skipping the patch step: patch(1) is not installed");
        return None;
    }
    patch(tmp.path(), &diff);
    Some((tmp, diff))
}

/// `patch -p1` in `dir`; panics with the diff when it does not apply.
pub(crate) fn patch(dir: &Path, diff: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("patch")
        .args(["-p1", "--quiet", "--forward"])
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("patch(1) runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(diff.as_bytes())
        .unwrap();
    assert!(
        child.wait().unwrap().success(),
        "patch -p1 failed on:\n{diff}"
    );
}

/// Lints a path (absolute) with default settings.
pub(crate) fn lint_abs(
    path: &Path,
    tweak: impl FnOnce(&mut LintConfig),
) -> (ConfigEvidence, Vec<ConfigFinding>) {
    let mut config = LintConfig {
        paths: vec![path.to_path_buf()],
        ..LintConfig::default()
    };
    tweak(&mut config);
    let ev = wsdoctor_lint::load(&config).expect("loads");
    let findings = diagnose_config(&ev);
    (ev, findings)
}

/// `terraform fmt -` on a file: it parses HCL exactly as Terraform does
/// (no providers or network needed). Err carries terraform's output.
pub(crate) fn terraform_parses(terraform: &Path, file: &Path) -> Result<(), String> {
    let out = std::process::Command::new(terraform)
        .args(["fmt", "-no-color", "-"])
        .stdin(std::fs::File::open(file).unwrap())
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}
