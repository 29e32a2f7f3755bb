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
use tokio::task::JoinSet;
use wsdoctor_lab::ServeConfig;

/// Starts workers 1..n with this process's arguments and watches them: a
/// worker that fails or is killed is said on stderr (its
/// connections went with it). The children are killed when the returned
/// set is dropped.
pub(crate) fn spawn_workers(n: usize, port: u16) -> anyhow::Result<JoinSet<()>> {
    ServeConfig::check_procs(n, port)?;
    let exe = std::env::current_exe().context("finding wsdoctor's own executable")?;
    let args = worker_args(std::env::args_os().skip(1));
    let mut set = JoinSet::new();
    for i in 1..n {
        let mut child: Child = Command::new(&exe)
            .args(&args)
            .arg("--worker")
            .arg(i.to_string())
            .stdin(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting serve worker {i}"))?;
        set.spawn(async move {
            // The stdin pipe lives as long as this task: `wait` would close
            // it, which tells the worker its parent is gone.
            let stdin = child.stdin.take();
            let status = child.wait().await;
            drop(stdin);
            // A worker that stops with the group (Ctrl-C) exits 0 and is
            // not news; one killed (the OOM killer) or failing is.
            let said = match status {
                Ok(s) if s.success() => return,
                Ok(s) => s.to_string(),
                Err(e) => e.to_string(),
            };
            crate::output::say(format_args!(
                "wsdoctor serve: worker {i} exited ({said}); its connections ended with it"
            ));
        });
    }
    Ok(set)
}

/// What `procs` processes can hold on this machine, said once at start:
/// the open-file limit per process times the processes, and each limit of
/// the machine (fs.file-max, memory, the accept backlog) that many
/// connections would not fit in, with the setting to change.
pub(crate) fn capacity_lines(procs: usize) -> Vec<String> {
    use wsdoctor_sources::load::scale;
    use wsdoctor_sources::machine;
    let Some((_, hard)) = scale::nofile_limits() else {
        return Vec::new();
    };
    let per_process = scale::connections_per_process(hard);
    let capacity = per_process.saturating_mul(procs as u64);
    let mut lines = vec![format!(
        "capacity          about {} connections ({procs} × {} under the open-file hard limit of {})",
        wsdoctor_evidence::format_count(capacity),
        wsdoctor_evidence::format_count(per_process),
        wsdoctor_evidence::format_count(hard)
    )];
    let limits = machine::read_limits(1, false);
    let need = machine::Need {
        connections: capacity,
        rate: 0.0,
        target_here: false,
        generator_processes: 0,
        sends_messages: false,
        server_backlog: Some(u64::from(wsdoctor_lab::LISTEN_BACKLOG.unsigned_abs())),
    };
    for s in machine::check(&limits, &need) {
        lines.push(format!("warning           {}", machine::describe(&s)));
    }
    lines
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
