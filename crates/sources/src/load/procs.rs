//! `load --procs N`: the ramp spread over N processes of this binary, each
//! running one shard, because one process can hold only its open-file hard
//! limit of sockets.
//!
//! The protocol between parent and child is private to this binary:
//! - the parent starts each child with `--shard I/N` and a hidden `--child`
//!   flag; the child's stdout is one line of [`super::fanout::ChildResult`]
//!   (its shard's evidence, not the public report), which the parent
//!   merges;
//! - the child writes progress as JSON lines on stderr
//!   (`{"load_progress":{…}}`, see [`progress_line`]); any other stderr line
//!   is kept for the error message if the child fails;
//! - the child's stdin is a pipe from the parent: a line on it asks the
//!   child to stop its ramp as on Ctrl-C (close every connection, answer
//!   with what it saw); when it closes, the parent is gone (exited, killed),
//!   and the child exits at once ([`exit_when_parent_goes`]). Children are
//!   also killed when the parent drops them (an error, an early return), so
//!   no child outlives its parent.

use std::ffi::OsString;
use std::io::Read as _;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::sync::{mpsc, watch};

use crate::{Progress, ProgressSink};

/// A child's result on stdout is at most this large (a ramp's evidence with
/// its histograms is tens to hundreds of KiB).
const MAX_REPORT_BYTES: u64 = 64 << 20;

/// Stderr lines of a child that are not progress, kept for its error
/// message: the last few, each cut to a bounded length.
const KEPT_STDERR_LINES: usize = 8;
const MAX_STDERR_LINE: usize = 500;

/// Exit status of a child whose parent went away.
pub const EXIT_PARENT_GONE: i32 = 3;

/// One child to start.
#[derive(Debug, Clone)]
pub struct ChildSpec {
    /// How it is named in messages (`shard 1/3`).
    pub label: String,
    /// The binary (`std::env::current_exe()`).
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
}

/// What a child left behind.
#[derive(Debug)]
pub struct ChildOutput {
    /// As in its [`ChildSpec`].
    pub label: String,
    /// Its stdout: its [`super::fanout::ChildResult`] line.
    pub stdout: Vec<u8>,
    /// How it exited.
    pub status: ExitStatus,
    /// Its last stderr lines that were not progress.
    pub stderr: Vec<String>,
}

/// Why the children could not be run.
#[derive(Debug, thiserror::Error)]
pub enum ProcsError {
    /// A child did not start.
    #[error("cannot start {label} ({program}): {error}")]
    Spawn {
        /// Which.
        label: String,
        /// The binary.
        program: String,
        /// The OS error.
        error: std::io::Error,
    },
}

/// A child's latest progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChildProgress {
    /// Current step (1-based).
    pub step: u32,
    /// Steps in the plan.
    pub steps: u32,
    /// Open now.
    pub open: u64,
    /// Failed so far.
    pub failed: u64,
    /// Dropped so far.
    pub dropped: u64,
}

/// The stderr line a child writes for a progress report (none for other
/// kinds of progress).
pub fn progress_line(p: &Progress) -> Option<String> {
    let Progress::Load {
        step,
        steps,
        open,
        failed,
        dropped,
        ..
    } = p
    else {
        return None;
    };
    Some(
        serde_json::json!({ "load_progress": {
            "step": step, "steps": steps, "open": open, "failed": failed, "dropped": dropped,
        }})
        .to_string(),
    )
}

/// Reads a progress line back.
pub fn parse_progress_line(line: &str) -> Option<ChildProgress> {
    let v: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
    let p = v.get("load_progress")?;
    let num = |k: &str| p.get(k).and_then(serde_json::Value::as_u64);
    Some(ChildProgress {
        step: u32::try_from(num("step")?).ok()?,
        steps: u32::try_from(num("steps")?).ok()?,
        open: num("open")?,
        failed: num("failed")?,
        dropped: num("dropped")?,
    })
}

/// Sums the children's progress into one report for the terminal.
pub fn aggregate(target: &str, children: &[ChildProgress]) -> Progress {
    Progress::Load {
        target: target.to_owned(),
        step: children.iter().map(|c| c.step).max().unwrap_or(0),
        steps: children.iter().map(|c| c.steps).max().unwrap_or(0),
        open: children.iter().map(|c| c.open).sum(),
        failed: children.iter().map(|c| c.failed).sum(),
        dropped: children.iter().map(|c| c.dropped).sum(),
    }
}

/// In a child: calls `on_stop` when the parent writes on stdin (stop the
/// ramp as on Ctrl-C), and exits the process as soon as stdin closes (the
/// parent is gone). Runs on a thread of its own, as a blocking read is what
/// notices the end of a pipe without polling.
pub fn exit_when_parent_goes(on_stop: impl Fn() + Send + 'static) {
    let spawned = std::thread::Builder::new()
        .name("parent-watch".to_owned())
        .spawn(move || {
            let mut stdin = std::io::stdin();
            let mut buf = [0u8; 64];
            // Bounded by the parent's lifetime: it writes once at most, so
            // read returns data once, then only at EOF or an error, both
            // meaning it is gone.
            while let Ok(n) = stdin.read(&mut buf) {
                if n == 0 {
                    break;
                }
                on_stop();
            }
            std::process::exit(EXIT_PARENT_GONE);
        });
    // Without the thread the child still dies when killed by the parent.
    drop(spawned);
}

enum Update {
    Progress(usize, ChildProgress),
    Done(usize, ChildOutput),
}

/// Starts every child, forwards their summed progress to `progress`, and
/// returns their outputs in the order given once all have exited. When
/// `stop` turns true, every child is asked to stop its ramp (a line on its
/// stdin) and still answers. Children are killed if this future is dropped.
pub async fn run_children(
    children: Vec<ChildSpec>,
    target: &str,
    progress: Option<ProgressSink>,
    stop: watch::Receiver<bool>,
) -> Result<Vec<ChildOutput>, ProcsError> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut handles = Vec::with_capacity(children.len());
    let total = children.len();
    for (i, spec) in children.into_iter().enumerate() {
        let mut child = tokio::process::Command::new(&spec.program)
            .args(&spec.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| ProcsError::Spawn {
                label: spec.label.clone(),
                program: spec.program.display().to_string(),
                error,
            })?;
        let tx = tx.clone();
        let mut stop = stop.clone();
        // Each child is watched by a task that owns it; aborting the task
        // (when this future is dropped) drops the child, which kills it.
        handles.push(tokio::spawn(async move {
            let mut stdin = child.stdin.take();
            let stdout = child.stdout.take();
            let stderr = child.stderr.take();
            let read_stdout = async {
                let mut out = Vec::new();
                if let Some(stdout) = stdout {
                    let _ = stdout.take(MAX_REPORT_BYTES).read_to_end(&mut out).await;
                }
                out
            };
            let read_stderr = async {
                let mut kept: Vec<String> = Vec::new();
                if let Some(stderr) = stderr {
                    let mut lines = BufReader::new(stderr).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        if let Some(p) = parse_progress_line(&line) {
                            let _ = tx.send(Update::Progress(i, p));
                        } else if !line.trim().is_empty() {
                            if kept.len() == KEPT_STDERR_LINES {
                                kept.remove(0);
                            }
                            kept.push(cut(&line));
                        }
                    }
                }
                kept
            };
            // Never ends: asks once, then keeps stdin open until the child
            // exits (its end means "the parent is gone").
            let ask_stop = async {
                if stop.wait_for(|s| *s).await.is_ok() {
                    if let Some(pipe) = stdin.as_mut() {
                        let _ = pipe.write_all(b"stop\n").await;
                        let _ = pipe.flush().await;
                    }
                }
                std::future::pending::<()>().await;
            };
            let (stdout, stderr) = tokio::select! {
                out = async { tokio::join!(read_stdout, read_stderr) } => out,
                () = ask_stop => (Vec::new(), Vec::new()),
            };
            let status = child.wait().await;
            // The child's stdin closes only now, after it exited on its own.
            drop(stdin);
            match status {
                Ok(status) => {
                    let _ = tx.send(Update::Done(
                        i,
                        ChildOutput {
                            label: spec.label,
                            stdout,
                            status,
                            stderr,
                        },
                    ));
                }
                Err(e) => {
                    let _ = tx.send(Update::Done(
                        i,
                        ChildOutput {
                            label: spec.label,
                            stdout,
                            status: ExitStatus::default(),
                            stderr: vec![format!("cannot wait for it: {e}")],
                        },
                    ));
                }
            }
        }));
    }
    drop(tx);
    let abort_all = AbortOnDrop(handles);
    let mut latest = vec![ChildProgress::default(); total];
    let mut outputs: Vec<Option<ChildOutput>> = (0..total).map(|_| None).collect();
    let mut last_shown = tokio::time::Instant::now() - Duration::from_secs(1);
    // Bounded: ends when every child task has sent Done and dropped its sender.
    while let Some(update) = rx.recv().await {
        match update {
            Update::Progress(i, p) => {
                latest[i] = p;
                if let Some(sink) = &progress {
                    if last_shown.elapsed() >= Duration::from_millis(100) {
                        sink(aggregate(target, &latest));
                        last_shown = tokio::time::Instant::now();
                    }
                }
            }
            Update::Done(i, out) => outputs[i] = Some(out),
        }
    }
    drop(abort_all);
    Ok(outputs.into_iter().flatten().collect())
}

struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

fn cut(line: &str) -> String {
    if line.len() <= MAX_STDERR_LINE {
        return line.to_owned();
    }
    let mut end = MAX_STDERR_LINE;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &line[..end])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn progress_lines_round_trip_and_add_up() {
        let p = Progress::Load {
            target: "ws://127.0.0.1:1/".into(),
            step: 2,
            steps: 5,
            open: 40,
            failed: 1,
            dropped: 0,
        };
        let line = progress_line(&p).unwrap();
        let back = parse_progress_line(&line).unwrap();
        assert_eq!(back.open, 40);
        assert!(parse_progress_line("wsdoctor: something broke").is_none());
        assert!(parse_progress_line(r#"{"load_progress":{"step":-1}}"#).is_none());
        let other = ChildProgress {
            step: 3,
            steps: 5,
            open: 2,
            failed: 0,
            dropped: 7,
        };
        assert_eq!(
            aggregate("t", &[back, other]),
            Progress::Load {
                target: "t".into(),
                step: 3,
                steps: 5,
                open: 42,
                failed: 1,
                dropped: 7
            }
        );
    }
}
