//! Reading one input: detect its format, then parse its blocks in parallel
//! batches and merge their aggregates in file order.

use std::io::Read;

use memchr::memchr_iter;
use rayon::prelude::*;
use wsdoctor_evidence::logs::{LogFile, LogFormat};

use crate::agg::{malformed, Agg, FileStats, Filter};
use crate::error::LogsError;
use crate::formats::nginx::NginxFormat;
use crate::formats::{detect, har, LineParser};
use crate::input::{open, Block, BlockReader, Input, OpenError, BLOCK_BYTES};

/// Reads `input` into `agg` and returns what was read from it.
pub(crate) fn read_input(
    input: &Input,
    forced: Option<LogFormat>,
    nginx: &NginxFormat,
    filter: &Filter,
    agg: &mut Agg,
) -> Result<LogFile, LogsError> {
    let path = input.name();
    let (reader, gzip) = open(input).map_err(|e| match e {
        OpenError::Open(source) => LogsError::Open {
            path: path.clone(),
            source,
        },
        OpenError::Read(source) => LogsError::Read {
            path: path.clone(),
            source,
        },
    })?;
    let mut blocks = BlockReader::new(reader);
    let read_error = |source| LogsError::Read {
        path: path.clone(),
        source,
    };
    // The format is told from a look ahead that consumes nothing: a HAR is
    // then read as one stream, whatever the length of its lines.
    let head = blocks.peek(BLOCK_BYTES).map_err(read_error)?;
    let format = match forced {
        Some(f) => f,
        None if head.is_empty() => LogFormat::Nginx,
        None => detect(whole_lines(head), nginx)
            .ok_or(LogsError::UnknownFormat { path: path.clone() })?,
    };
    let mut file = LogFile {
        path: path.clone(),
        format,
        detected: forced.is_none(),
        gzip,
        bytes: 0,
        lines: 0,
        websocket_entries: 0,
        filtered_out: 0,
        malformed: 0,
        malformed_samples: Vec::new(),
    };
    let mut stats = FileStats::default();
    file.bytes = match LineParser::for_format(format, nginx) {
        Some(parser) => {
            let first = blocks.next_block().map_err(read_error)?;
            read_lines(&parser, &mut blocks, first, filter, &path, agg, &mut stats);
            blocks.bytes
        }
        None => read_har(blocks, filter, &path, agg, &mut stats)?,
    };
    file.lines = stats.lines;
    file.websocket_entries = stats.websocket_entries;
    file.filtered_out = stats.filtered_out;
    file.malformed = stats.malformed;
    file.malformed_samples = stats.samples;
    Ok(file)
}

fn read_lines<R: Read + Send>(
    parser: &LineParser,
    blocks: &mut BlockReader<R>,
    first: Option<Block>,
    filter: &Filter,
    path: &str,
    agg: &mut Agg,
    stats: &mut FileStats,
) {
    // Two blocks per thread keep every core busy while the batch is merged.
    let batch_len = rayon::current_num_threads().max(1) * 2;
    // Reading (and gunzipping) runs on its own thread, a batch ahead of the
    // parsers, so I/O overlaps parsing; the channel bounds memory.
    let (send, receive) = std::sync::mpsc::sync_channel::<std::io::Result<Block>>(batch_len);
    let stopped = std::thread::scope(|scope| {
        scope.spawn(move || loop {
            match blocks.next_block() {
                Ok(Some(b)) => {
                    if send.send(Ok(b)).is_err() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = send.send(Err(e));
                    break;
                }
            }
        });
        let mut batch: Vec<Block> = first.into_iter().collect();
        let mut stopped = None;
        let mut incoming = receive.iter();
        loop {
            while stopped.is_none() && batch.len() < batch_len {
                match incoming.next() {
                    Some(Ok(b)) => batch.push(b),
                    // A stream that breaks off (a truncated .gz) keeps what it gave.
                    Some(Err(e)) => stopped = Some(e),
                    None => break,
                }
            }
            if batch.is_empty() {
                break;
            }
            let results: Vec<(Agg, FileStats)> = batch
                .par_iter()
                .map(|b| parse_block(parser, b, filter, path))
                .collect();
            for (mut part, part_stats) in results {
                let base = stats.lines;
                part.shift_event_lines(base);
                stats.merge(part_stats, base);
                agg.merge(part);
            }
            batch.clear();
        }
        stopped
    });
    if let Some(e) = stopped {
        let line = stats.lines + 1;
        malformed(
            stats,
            line,
            format!("input ends early: {e}").as_bytes(),
            "read error",
        );
    }
}

/// Parses one block on its own (line numbers relative to the block).
fn parse_block(
    parser: &LineParser,
    block: &Block,
    filter: &Filter,
    path: &str,
) -> (Agg, FileStats) {
    let mut agg = Agg::default();
    let mut stats = FileStats::default();
    let format = parser.format();
    if block.oversized {
        stats.lines = 1;
        malformed(&mut stats, 1, &block.data, "line longer than 64 MiB");
        return (agg, stats);
    }
    let data = block.data.as_slice();
    let mut start = 0;
    let tail = (!data.ends_with(b"\n")).then_some(data.len());
    for end in memchr_iter(b'\n', data).chain(tail) {
        let raw = &data[start..end];
        start = end + 1;
        stats.lines += 1;
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let n = stats.lines;
        match parser.parse(line) {
            Ok(parsed) => match parsed.out_of_range() {
                None => agg.add(parsed, format, filter, &mut stats, n, path),
                Some(reason) => malformed(&mut stats, n, line, reason),
            },
            Err(reason) => malformed(&mut stats, n, line, reason),
        }
    }
    (agg, stats)
}

/// Reads a HAR as one JSON stream; returns the bytes read.
fn read_har<R: Read>(
    blocks: BlockReader<R>,
    filter: &Filter,
    path: &str,
    agg: &mut Agg,
    stats: &mut FileStats,
) -> Result<u64, LogsError> {
    let mut stream = blocks.into_stream();
    let content = har::parse(&mut stream).map_err(|source| {
        // A read error surfaces inside the JSON error; say it as one.
        if source.is_io() {
            LogsError::Read {
                path: path.to_owned(),
                source: std::io::Error::other(source.to_string()),
            }
        } else {
            LogsError::Har {
                path: path.to_owned(),
                source,
            }
        }
    })?;
    stats.lines = content.entries;
    for (entry, why) in &content.bad_samples {
        malformed(stats, *entry, b"(a WebSocket entry)", why);
    }
    stats.malformed += content.bad_entries - content.bad_samples.len() as u64;
    for (i, socket) in content.sockets.iter().enumerate() {
        let parsed = crate::record::Parsed::Record(socket.record());
        agg.add(parsed, LogFormat::Har, filter, stats, i as u64 + 1, path);
    }
    Ok(stream.bytes)
}

/// The head up to its last newline (the sniffed lines are whole), or all
/// of it when it holds none.
fn whole_lines(head: &[u8]) -> &[u8] {
    match memchr::memrchr(b'\n', head) {
        Some(i) => &head[..=i],
        None => head,
    }
}
