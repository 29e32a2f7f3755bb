//! The hot path of the most common nginx format: `combined`, optionally
//! with ` $request_time` appended. Its plain-HTTP lines (most of any access
//! log) are read by hand, field by field with `memchr`, without the general
//! plan's per-item dispatch. Anything unexpected — a 101, an error status,
//! a field that does not end where `combined` says — returns `None`, and
//! the general compiled plan reads the line, so both give the same answer.

use super::nginx_common::{polling, COMBINED};
use memchr::memchr;

use crate::bytes::{request_path, request_query, split_request};
use crate::record::{Parsed, Record, Upgrade};
use crate::time::parse_clf_cached;

/// True for the formats this path reads: `combined` and `combined
/// $request_time`.
pub(crate) fn applies(format: &str) -> bool {
    format == COMBINED
        || format
            .strip_prefix(COMBINED)
            .is_some_and(|rest| rest == " $request_time")
}

/// The first `b` in a field that is usually short (an address, a user):
/// a plain loop over the first bytes beats `memchr`'s set-up there.
#[inline]
fn find(b: u8, hay: &[u8]) -> Option<usize> {
    const SHORT: usize = 16;
    let head = &hay[..hay.len().min(SHORT)];
    if let Some(i) = head.iter().position(|c| *c == b) {
        return Some(i);
    }
    memchr(b, hay.get(SHORT..)?).map(|i| i + SHORT)
}

/// A plain (1xx–3xx, not 101) `combined` line, or `None` for the general plan.
#[inline]
pub(crate) fn parse_plain(line: &[u8]) -> Option<Parsed<'_>> {
    // `$remote_addr - $remote_user [`
    let addr_end = find(b' ', line)?;
    let rest = line.get(addr_end..)?.strip_prefix(b" - ")?;
    let user_end = find(b' ', rest)?;
    let rest = rest.get(user_end..)?.strip_prefix(b" [")?;
    // `$time_local] "` (fixed width)
    let time = rest.get(..26)?;
    let rest = rest.get(26..)?.strip_prefix(b"] \"")?;
    // `$request" `
    let request_end = memchr(b'"', rest)?;
    let request = &rest[..request_end];
    let rest = rest.get(request_end..)?.strip_prefix(b"\" ")?;
    // `$status ` — only plain answers are read here.
    let status = rest.get(..3)?;
    if rest.get(3) != Some(&b' ') || !matches!(status[0], b'1'..=b'3') || status == b"101" {
        return None;
    }
    if !status[1].is_ascii_digit() || !status[2].is_ascii_digit() {
        return None;
    }
    let status = u16::from(status[0] - b'0') * 100
        + u16::from(status[1] - b'0') * 10
        + u16::from(status[2] - b'0');
    let (end_ms, offset) = parse_clf_cached(time)?;
    let target = split_request(request).map_or(request, |(_, t)| t);
    let mut r = Record::new(end_ms, status, request_path(target), b"");
    r.utc_offset_s = Some(offset);
    if polling(request_query(target)) {
        r.upgrade = Upgrade::No;
    }
    Some(Parsed::Record(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_only() {
        let line = br#"10.1.2.3 - - [15/Jan/2026:14:02:11 +0000] "GET /a?transport=polling HTTP/1.1" 200 5 "-" "ua" 0.004"#;
        let Some(Parsed::Record(r)) = parse_plain(line) else {
            panic!("not read")
        };
        assert_eq!(
            (r.status, r.path, r.upgrade),
            (200, &b"/a"[..], Upgrade::No)
        );
        for other in [
            &br#"10.1.2.3 - - [15/Jan/2026:14:02:11 +0000] "GET /ws HTTP/1.1" 101 5 "-" "ua" 60.0"#
                [..],
            br#"10.1.2.3 - - [15/Jan/2026:14:02:11 +0000] "GET /ws HTTP/1.1" 503 5 "-" "ua" 0.1"#,
            br#"10.1.2.3 - a b [15/Jan/2026:14:02:11 +0000] "GET / HTTP/1.1" 200 5 "-" "ua""#,
            br#"10.1.2.3 - - [15/Jan/2026:14:02:11 +0000] "GET / HTTP/1.1" 2000 5"#,
        ] {
            assert!(parse_plain(other).is_none());
        }
    }
}
