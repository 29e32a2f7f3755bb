//! Opening an input (a file or standard input, gzip-compressed or not) and
//! cutting it into newline-aligned blocks that can be parsed independently.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;

use flate2::read::MultiGzDecoder;

/// What to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A file (plain or `.gz`; compression is detected from its first bytes).
    Path(PathBuf),
    /// Standard input (`-`).
    Stdin,
}

impl Input {
    /// `-` is standard input; anything else a path.
    pub fn from_arg(arg: &str) -> Input {
        if arg == "-" {
            Input::Stdin
        } else {
            Input::Path(PathBuf::from(arg))
        }
    }

    /// How the input is named in reports.
    pub fn name(&self) -> String {
        match self {
            Input::Path(p) => p.display().to_string(),
            Input::Stdin => "-".to_owned(),
        }
    }
}

/// The gzip magic number. Compression is sniffed, not taken from the file
/// name: rotated logs are often `access.log.1.gz` or renamed.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Which step of opening an input failed.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// Opening the file.
    Open(io::Error),
    /// Reading its first bytes (a directory, a device that refuses).
    Read(io::Error),
}

/// Opens `input`, decompressing when it is gzip (several concatenated gzip
/// members, as `logrotate` and ALB produce, are read as one stream).
pub(crate) fn open(input: &Input) -> Result<(Box<dyn Read + Send>, bool), OpenError> {
    let raw: Box<dyn Read + Send> = match input {
        Input::Path(p) => Box::new(File::open(p).map_err(OpenError::Open)?),
        Input::Stdin => Box::new(io::stdin()),
    };
    let mut buffered = BufReader::with_capacity(256 * 1024, raw);
    let gzip = buffered
        .fill_buf()
        .map_err(OpenError::Read)?
        .starts_with(&GZIP_MAGIC);
    Ok(if gzip {
        (Box::new(MultiGzDecoder::new(buffered)), true)
    } else {
        (Box::new(buffered), false)
    })
}

/// Bytes per block: big enough that per-block overhead (a thread hand-off,
/// merging its aggregates) is noise, small enough that a batch of blocks per
/// core stays a few tens of MiB.
pub(crate) const BLOCK_BYTES: usize = 4 * 1024 * 1024;
/// A line longer than this is refused as one malformed line.
const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// A run of whole lines.
#[derive(Debug)]
pub(crate) struct Block {
    pub(crate) data: Vec<u8>,
    /// The block is the start of one line longer than [`MAX_LINE_BYTES`].
    pub(crate) oversized: bool,
}

/// Cuts a stream into blocks that end at a newline (the last one may not:
/// a truncated last line is still a line).
pub(crate) struct BlockReader<R> {
    inner: R,
    carry: Vec<u8>,
    eof: bool,
    /// Drop bytes up to the next newline: the rest of an oversized line.
    skip_to_newline: bool,
    /// Bytes read so far (decompressed).
    pub(crate) bytes: u64,
}

impl<R: Read> BlockReader<R> {
    pub(crate) fn new(inner: R) -> BlockReader<R> {
        BlockReader {
            inner,
            carry: Vec::new(),
            eof: false,
            skip_to_newline: false,
            bytes: 0,
        }
    }

    /// Reads ahead until `n` bytes (or the end) are buffered and returns
    /// them; the next block starts with them.
    pub(crate) fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        if !self.eof && self.carry.len() < n {
            let want = (n - self.carry.len()) as u64;
            let got = (&mut self.inner).take(want).read_to_end(&mut self.carry)?;
            self.bytes += got as u64;
            self.eof = got == 0 || (got as u64) < want;
        }
        Ok(&self.carry)
    }

    /// The rest of the input as one stream (what was peeked, then the
    /// rest), counting the bytes read in all.
    pub(crate) fn into_stream(self) -> Counted<io::Chain<io::Cursor<Vec<u8>>, R>> {
        Counted {
            bytes: self.bytes,
            // The peeked bytes were counted when read.
            counted_ahead: self.carry.len() as u64,
            inner: io::Cursor::new(self.carry).chain(self.inner),
        }
    }

    /// The next block, `None` at the end.
    pub(crate) fn next_block(&mut self) -> io::Result<Option<Block>> {
        let mut buf = std::mem::take(&mut self.carry);
        let mut target = BLOCK_BYTES;
        loop {
            if !self.eof && buf.len() < target {
                buf.reserve(target - buf.len());
                let want = (target - buf.len()) as u64;
                let n = (&mut self.inner).take(want).read_to_end(&mut buf)?;
                self.bytes += n as u64;
                self.eof = n == 0 || (n as u64) < want;
            }
            if self.skip_to_newline {
                match memchr::memchr(b'\n', &buf) {
                    Some(i) => {
                        buf.drain(..=i);
                        self.skip_to_newline = false;
                    }
                    None if self.eof => return Ok(None),
                    None => {
                        buf.clear();
                        continue;
                    }
                }
            }
            if self.eof {
                return Ok((!buf.is_empty()).then_some(Block {
                    data: buf,
                    oversized: false,
                }));
            }
            if let Some(last) = memchr::memrchr(b'\n', &buf) {
                self.carry = buf[last + 1..].to_vec();
                buf.truncate(last + 1);
                return Ok(Some(Block {
                    data: buf,
                    oversized: false,
                }));
            }
            if buf.len() >= MAX_LINE_BYTES {
                self.skip_to_newline = true;
                buf.truncate(256);
                return Ok(Some(Block {
                    data: buf,
                    oversized: true,
                }));
            }
            // One line longer than a block: read more of it.
            target = buf.len() + BLOCK_BYTES;
        }
    }
}

/// A reader that counts what is read through it.
pub(crate) struct Counted<R> {
    inner: R,
    /// Bytes of the input read so far.
    pub(crate) bytes: u64,
    /// Bytes at the start of `inner` already in `bytes` (peeked before).
    counted_ahead: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let already = self.counted_ahead.min(n as u64);
        self.counted_ahead -= already;
        self.bytes += n as u64 - already;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_end_at_newlines_and_keep_a_truncated_tail() {
        let mut text = Vec::new();
        while text.len() < BLOCK_BYTES + 100 {
            text.extend_from_slice(b"0123456789 line\n");
        }
        text.extend_from_slice(b"truncated");
        let mut r = BlockReader::new(text.as_slice());
        let mut total = Vec::new();
        while let Ok(Some(b)) = r.next_block() {
            assert!(b.data.ends_with(b"\n") || b.data.ends_with(b"truncated"));
            total.extend_from_slice(&b.data);
        }
        assert_eq!(total, text);
        assert_eq!(r.bytes, text.len() as u64);
    }
}
