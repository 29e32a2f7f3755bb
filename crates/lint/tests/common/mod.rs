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
