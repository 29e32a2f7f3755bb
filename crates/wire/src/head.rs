//! When a growing HTTP/1 head is worth parsing again.
//!
//! `httparse` keeps no state between calls: each parse starts from the
//! first byte. A reader that parses the head after every read therefore
//! does O(n²) work on a head that arrives in small pieces; a slowloris
//! peer sending a 64 KiB head one byte at a time made the reader scan
//! about two billion bytes. [`HeadProgress`] looks only at the bytes that
//! are new since its last call and says whether a parse can come out
//! differently from the last one:
//!
//! - within the first [`EAGER_BYTES`], always, so an answer that is not
//!   HTTP at all (`SSH-2.0-…`, a TLS alert) is refused as soon as it
//!   arrives, as before;
//! - afterwards only when a line has ended or is ending (a `\r` or `\n`
//!   among the new bytes or just before them): a head is complete only
//!   there, and the header count limit is passed only there.
//!
//! The cost is that a bad byte in the middle of a line past the first
//! [`EAGER_BYTES`] is noticed when its line ends (or at the size limit, or
//! the deadline) rather than at once. The number of parses is bounded by
//! the number of lines, which the parsers cap (`MAX_HEADERS`), so the work
//! is linear in the head's size.

/// Bytes at the start of a head that are parsed on every read.
pub const EAGER_BYTES: usize = 64;

/// How much of a growing head has been looked at. One per connection,
/// fed the whole head so far after each read.
#[derive(Debug, Default, Clone)]
pub struct HeadProgress {
    /// Bytes of the head looked at by earlier calls.
    seen: usize,
}

impl HeadProgress {
    /// Whether `buf` (the head so far: the bytes of the last call and the
    /// new ones after them) can parse differently than at the last call.
    pub fn worth_parsing(&mut self, buf: &[u8]) -> bool {
        let before = self.seen.min(buf.len());
        self.seen = buf.len();
        // From the byte before the new ones: httparse takes any byte after
        // a head's last `\r` as its end, so a `\r` ending the last read
        // makes the next byte worth a parse too.
        before < EAGER_BYTES
            || buf[before.saturating_sub(1)..]
                .iter()
                .any(|&b| b == b'\n' || b == b'\r')
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::handshake::{parse_head, parse_head_from, HeadParse};

    fn outcome(parse: &HeadParse) -> String {
        match parse {
            HeadParse::Complete(head) => format!("complete {} {}", head.status, head.len),
            HeadParse::Partial => "partial".to_owned(),
            HeadParse::Invalid(why) => format!("invalid {why}"),
        }
    }

    /// What a row feeds, read after read, and what it expects after each.
    type Row<'a> = (&'static str, Vec<&'a [u8]>, Vec<&'static str>);

    /// Feeds `chunks` one after another; the outcome after each.
    fn fed(chunks: &[&[u8]]) -> Vec<String> {
        let mut progress = HeadProgress::default();
        let mut buf = Vec::new();
        chunks
            .iter()
            .map(|chunk| {
                buf.extend_from_slice(chunk);
                outcome(&parse_head_from(&buf, &mut progress))
            })
            .collect()
    }

    #[test]
    fn parses_only_when_something_can_have_changed() {
        let long_value = "v".repeat(100);
        let header = format!("X-Long: {long_value}");
        let table: [Row<'_>; 5] = [
            (
                "a whole head in one read",
                vec![b"HTTP/1.1 101 Switching Protocols\r\n\r\n"],
                vec!["complete 101 36"],
            ),
            (
                "the blank line split over reads",
                vec![b"HTTP/1.1 101 OK\r\n", b"\r", b"\n"],
                vec!["partial", "partial", "complete 101 19"],
            ),
            (
                "not HTTP: refused at its first bytes",
                vec![b"SSH-2.0"],
                vec!["invalid invalid HTTP version"],
            ),
            (
                "a bad byte past the eager bytes waits for its line end",
                vec![
                    b"HTTP/1.1 101 OK\r\n",
                    header.as_bytes(),
                    b"\x01",
                    b"more",
                    b"\r\n",
                ],
                vec![
                    "partial",
                    "partial",
                    "partial",
                    "partial",
                    "invalid invalid header value",
                ],
            ),
            (
                "bytes that come with the head are not part of it",
                vec![b"HTTP/1.1 101 OK\r\n\r\n\x81\x00"],
                vec!["complete 101 19"],
            ),
        ];
        for (what, chunks, expected) in table {
            assert_eq!(fed(&chunks), expected, "{what}");
        }
    }

    /// A 64 KiB response head (120 headers of 540 bytes) fed a byte per
    /// read, parsed from the start on every read and then resumed: the
    /// issue 19 measurement. Prints the times and the bytes handed to
    /// httparse; `cargo test -p wsdoctor-wire head::tests::measure --
    /// --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check"]
    #[allow(clippy::print_stderr)]
    fn measure_a_64_kib_head_a_byte_per_read() {
        let mut head = b"HTTP/1.1 101 Switching Protocols\r\n".to_vec();
        for i in 0..120 {
            head.extend_from_slice(format!("X-Filler-{i:03}: {}\r\n", "v".repeat(524)).as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        let (mut full_bytes, mut resumed_bytes) = (0usize, 0usize);
        let started = std::time::Instant::now();
        for end in 1..=head.len() {
            full_bytes += end;
            if let HeadParse::Complete(_) = parse_head(&head[..end]) {
                break;
            }
        }
        let full = started.elapsed();
        let started = std::time::Instant::now();
        let mut progress = HeadProgress::default();
        for end in 1..=head.len() {
            let mut probe = progress.clone();
            if probe.worth_parsing(&head[..end]) {
                resumed_bytes += end;
            }
            if let HeadParse::Complete(_) = parse_head_from(&head[..end], &mut progress) {
                break;
            }
        }
        let resumed = started.elapsed();
        eprintln!(
            "{} byte head, a byte per read: parsed from the start {full:?} ({full_bytes} bytes parsed), resumed {resumed:?} ({resumed_bytes} bytes parsed)",
            head.len()
        );
        assert!(resumed < full);
    }

    proptest::proptest! {
        /// However a head is cut into reads, it completes at the same read
        /// as parsing everything every time would, and never parses as
        /// something a full parse would not.
        #[test]
        fn agrees_with_a_full_parse_at_every_read(
            cuts in proptest::collection::vec(1usize..40, 1..60),
            junk in proptest::num::u8::ANY,
            junk_at in 0usize..200,
        ) {
            let mut head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n".to_vec();
            if junk_at < head.len() {
                head[junk_at] = junk;
            }
            let mut progress = HeadProgress::default();
            let mut end = 0;
            for cut in cuts {
                end = (end + cut).min(head.len());
                let resumed = outcome(&parse_head_from(&head[..end], &mut progress));
                let full = outcome(&parse_head(&head[..end]));
                if resumed == "partial" {
                    proptest::prop_assert!(!full.starts_with("complete"), "{full}");
                } else {
                    proptest::prop_assert_eq!(resumed, full);
                }
            }
        }
    }
}
