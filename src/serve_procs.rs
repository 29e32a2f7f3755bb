//! `wsdoctor serve --procs N`: one process holds at most its open-file
//! limit of connections (20,000 in many containers, a hard limit even for
//! root), so past that `serve` runs as N processes of itself sharing the
//! port with `SO_REUSEPORT`; the kernel spreads new connections over them.
//!
//! The first process is the parent; workers are its children with the same
//! arguments plus a hidden `--worker I`. They stop when the parent does:
//! Ctrl-C reaches the whole process group, and a worker whose stdin (a pipe
//! from the parent) closes stops too, so a killed parent leaves no orphans.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::Context as _;
use tokio::io::AsyncReadExt as _;
use tokio::process::{Child, Command};
use wsdoctor_lab::ServeConfig;

/// Starts workers 1..n with this process's arguments; the children are
/// killed when the returned handles are dropped.
pub(crate) fn spawn_workers(n: usize, port: u16) -> anyhow::Result<Vec<Child>> {
    ServeConfig::check_procs(n, port)?;
    let exe = std::env::current_exe().context("finding wsdoctor's own executable")?;
    let args = worker_args(std::env::args_os().skip(1));
    (1..n)
        .map(|i| {
            Command::new(&exe)
                .args(&args)
                .arg("--worker")
                .arg(i.to_string())
                .stdin(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("starting serve worker {i}"))
        })
        .collect()
}

/// The parent's arguments without `--procs`.
fn worker_args(args: impl Iterator<Item = OsString>) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut skip_value = false;
    for arg in args {
        if skip_value {
            skip_value = false;
            continue;
        }
        let text = arg.to_string_lossy();
        if text == "--procs" {
            skip_value = true;
            continue;
        }
        if text.starts_with("--procs=") {
            continue;
        }
        out.push(arg);
    }
    out
}

/// A worker's own events file: `FILE.I` next to the parent's `FILE`.
pub(crate) fn worker_events(path: &Path, worker: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{worker}"));
    PathBuf::from(name)
}

/// Resolves when stdin closes: the parent is gone.
pub(crate) async fn parent_gone() {
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    while let Ok(n) = stdin.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn worker_args_drop_procs() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        let table: &[(&[&str], &[&str])] = &[
            (
                &["serve", "--procs", "4", "--listen", "127.0.0.1:9"],
                &["serve", "--listen", "127.0.0.1:9"],
            ),
            (
                &["serve", "--procs=4", "--no-greeting"],
                &["serve", "--no-greeting"],
            ),
            (&["serve"], &["serve"]),
        ];
        for (input, want) in table {
            assert_eq!(
                worker_args(args(input).into_iter()),
                args(want),
                "{input:?}"
            );
        }
        assert_eq!(
            worker_events(Path::new("/tmp/ev.jsonl"), 2),
            PathBuf::from("/tmp/ev.jsonl.2")
        );
    }
}
