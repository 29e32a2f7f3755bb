//! `--events FILE`: the per-connection timeline as JSON Lines, one line per
//! opened, failed or dropped connection.
//!
//! Writing is bounded: lines go through a fixed 64 KiB buffer to the file,
//! so memory never grows with the ramp. The file is opened in append mode
//! and every line is handed to the buffer whole, and the buffer only ever
//! writes whole lines: several processes (`load --procs`) append to one file
//! and their lines never interleave mid-line (O_APPEND places each write at
//! the end atomically on local file systems).

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use wsdoctor_evidence::load::{DropKind, FailureKind, ShardSpec};

const BUFFER_BYTES: usize = 64 * 1024;

/// Peer text in a line (failure details) is cut to this many bytes.
const MAX_DETAIL_BYTES: usize = 300;

/// An open events file.
#[derive(Debug)]
pub struct EventsWriter {
    path: PathBuf,
    out: BufWriter<File>,
    shard: Option<ShardSpec>,
    /// The first write error; later lines are dropped, and the error is
    /// reported once when the ramp ends.
    error: Option<io::Error>,
    lines: u64,
}

/// What happened to a connection, for one line.
#[derive(Debug, Clone, Copy)]
pub(super) enum LineKind<'a> {
    Opened { handshake_us: u64 },
    Failed { kind: FailureKind, detail: &'a str },
    Dropped { kind: DropKind, during_step: u32 },
}

impl EventsWriter {
    /// Creates (or empties) `path`.
    pub fn create(path: &Path) -> io::Result<EventsWriter> {
        File::create(path)?;
        EventsWriter::append(path)
    }

    /// Opens `path` to append to it (a `--procs` child: the parent emptied it).
    pub fn append(path: &Path) -> io::Result<EventsWriter> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(EventsWriter {
            path: path.to_owned(),
            out: BufWriter::with_capacity(BUFFER_BYTES, file),
            shard: None,
            error: None,
            lines: 0,
        })
    }

    pub(super) fn set_shard(&mut self, shard: Option<ShardSpec>) {
        self.shard = shard;
    }

    /// Writes one line; `since_start` is the time since the ramp started.
    pub(super) fn line(&mut self, conn: u64, step: u32, since_start: Duration, kind: LineKind<'_>) {
        if self.error.is_some() {
            return;
        }
        let mut line = serde_json::json!({
            "conn": conn,
            "step": step,
            "t_ms": (since_start.as_secs_f64() * 1e6).round() / 1e3,
        });
        if let Some(shard) = self.shard {
            line["shard"] = serde_json::json!(shard.index);
        }
        match kind {
            LineKind::Opened { handshake_us } => {
                line["event"] = "opened".into();
                line["handshake_us"] = handshake_us.into();
            }
            LineKind::Failed { kind, detail } => {
                line["event"] = "failed".into();
                line["kind"] = kind.to_string().into();
                line["detail"] = cut(detail).into();
            }
            LineKind::Dropped { kind, during_step } => {
                line["event"] = "dropped".into();
                line["kind"] = kind.to_string().into();
                line["during_step"] = during_step.into();
            }
        }
        let mut text = line.to_string();
        text.push('\n');
        // One write_all per line: BufWriter flushes what it holds before a
        // line that does not fit, so its writes are whole lines.
        match self.out.write_all(text.as_bytes()) {
            Ok(()) => self.lines += 1,
            Err(e) => self.error = Some(e),
        }
    }

    /// Flushes the file; the first error of the whole ramp, if any, with the path.
    pub fn finish(mut self) -> Result<u64, String> {
        let flushed = self.out.flush();
        match self.error.take().map_or(flushed, Err) {
            Ok(()) => Ok(self.lines),
            Err(e) => Err(format!(
                "cannot write the events to {}: {e}",
                self.path.display()
            )),
        }
    }
}

fn cut(text: &str) -> &str {
    if text.len() <= MAX_DETAIL_BYTES {
        return text;
    }
    let mut end = MAX_DETAIL_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn lines_are_json_and_appended() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let mut a = EventsWriter::create(&path).unwrap();
        a.line(
            0,
            1,
            Duration::from_micros(1500),
            LineKind::Opened { handshake_us: 900 },
        );
        let mut b = EventsWriter::append(&path).unwrap();
        b.set_shard(Some(ShardSpec { index: 1, count: 2 }));
        b.line(
            1,
            1,
            Duration::from_millis(3),
            LineKind::Failed {
                kind: FailureKind::Http(503),
                detail: "\"quoted\"\nand é".repeat(100).as_str(),
            },
        );
        b.line(
            1,
            1,
            Duration::from_millis(4),
            LineKind::Dropped {
                kind: DropKind::Transport(wsdoctor_evidence::Transport::Reset),
                during_step: 2,
            },
        );
        assert_eq!(b.finish().unwrap(), 2);
        assert_eq!(a.finish().unwrap(), 1);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["event"], "failed");
        assert_eq!(lines[0]["shard"], 1);
        assert!(lines[0]["detail"].as_str().unwrap().len() <= MAX_DETAIL_BYTES);
        assert_eq!(lines[1]["during_step"], 2);
        assert_eq!(lines[2]["t_ms"], 1.5);
        assert!(lines[2].get("shard").is_none());
    }
}
