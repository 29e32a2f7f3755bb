//! Byte-level helpers shared by the line parsers: a field tokenizer with a
//! tiny quoted-field state machine, number parsers, and a fast hasher for
//! the aggregate maps. Lines are bytes, never `str`: logs carry whatever
//! clients sent, including invalid UTF-8, and validating every line would
//! cost more than parsing it.

use std::hash::{BuildHasherDefault, Hasher};

use memchr::{memchr, memchr2};

/// Space-separated fields where a field starting with `"` runs to the next
/// unescaped `"` (ALB, HAProxy and nginx all quote this way).
#[derive(Debug, Clone)]
pub(crate) struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    pub(crate) fn new(line: &'a [u8]) -> Fields<'a> {
        Fields { rest: line }
    }

    /// The next field; quoted fields come back without their quotes.
    /// `None` at the end of the line or on an unterminated quote.
    pub(crate) fn next_field(&mut self) -> Option<&'a [u8]> {
        while self.rest.first() == Some(&b' ') {
            self.rest = &self.rest[1..];
        }
        if self.rest.is_empty() {
            return None;
        }
        if self.rest[0] == b'"' {
            let body = &self.rest[1..];
            let mut at = 0;
            loop {
                let i = at + memchr2(b'"', b'\\', &body[at..])?;
                if body[i] == b'\\' {
                    // An escaped byte never ends the field.
                    at = i + 2;
                    if at > body.len() {
                        return None;
                    }
                    continue;
                }
                let field = &body[..i];
                self.rest = &body[i + 1..];
                return Some(field);
            }
        }
        match memchr(b' ', self.rest) {
            Some(i) => {
                let field = &self.rest[..i];
                self.rest = &self.rest[i + 1..];
                Some(field)
            }
            None => {
                let field = self.rest;
                self.rest = &[];
                Some(field)
            }
        }
    }

    /// Skips `n` fields; false when the line ran out first.
    pub(crate) fn skip(&mut self, n: usize) -> bool {
        (0..n).all(|_| self.next_field().is_some())
    }
}

/// An unsigned decimal integer (no sign, no spaces).
pub(crate) fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(c - b'0');
    }
    Some(v)
}

/// A three-digit HTTP status (`-` and anything else: `None`).
pub(crate) fn parse_status(b: &[u8]) -> Option<u16> {
    match b {
        [a, b, c] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => None,
    }
}

/// Seconds with an optional fraction (`60.001`, `0.000`) as milliseconds,
/// rounded. `-1` and `-` (what logs write for "never happened") are `None`.
pub(crate) fn parse_secs_ms(b: &[u8]) -> Option<u64> {
    let dot = memchr(b'.', b);
    let (whole, frac) = match dot {
        Some(i) => (&b[..i], &b[i + 1..]),
        None => (b, &b[..0]),
    };
    let whole = parse_u64(whole)?;
    let mut micros: u64 = 0;
    for i in 0..6 {
        let d = match frac.get(i) {
            Some(c) if c.is_ascii_digit() => u64::from(c - b'0'),
            Some(_) => return None,
            None => 0,
        };
        micros = micros * 10 + d;
    }
    whole
        .checked_mul(1000)
        .and_then(|ms| ms.checked_add((micros + 500) / 1000))
}

/// The address part of `ip:port`, `[v6]:port` or a bare address.
pub(crate) fn strip_port(b: &[u8]) -> &[u8] {
    if let Some(rest) = b.strip_prefix(b"[") {
        return memchr(b']', rest).map_or(rest, |i| &rest[..i]);
    }
    // A bare IPv6 address has several colons and no port to strip.
    match memchr::memrchr(b':', b) {
        Some(i) if memchr(b':', &b[..i]).is_none() => &b[..i],
        _ => b,
    }
}

/// The path of a request target without query or fragment (queries carry
/// tokens; paths are what routes and limits are configured on). Absolute
/// forms (`https://host:443/ws`, what ALB logs) lose scheme and host.
pub(crate) fn request_path(target: &[u8]) -> &[u8] {
    let mut t = target;
    // Origin-form (`/ws`) is what almost every line has: skip the search.
    let absolute = t.first() != Some(&b'/');
    if let Some(i) = absolute.then(|| memchr::memmem::find(t, b"://")).flatten() {
        let after = &t[i + 3..];
        t = memchr(b'/', after).map_or(b"/".as_slice(), |j| &after[j..]);
    }
    let end = memchr2(b'?', b'#', t).unwrap_or(t.len());
    &t[..end]
}

/// The query part of a request target (after `?`), empty when none.
pub(crate) fn request_query(target: &[u8]) -> &[u8] {
    memchr(b'?', target).map_or(&[], |i| &target[i + 1..])
}

/// `GET /ws?x=1 HTTP/1.1` → (method, target).
pub(crate) fn split_request(request: &[u8]) -> Option<(&[u8], &[u8])> {
    let sp = memchr(b' ', request)?;
    let method = &request[..sp];
    let rest = &request[sp + 1..];
    let target = memchr(b' ', rest).map_or(rest, |j| &rest[..j]);
    Some((method, target))
}

/// Lossy, escaped, cut text of a line for samples and evidence.
pub(crate) fn show(b: &[u8], max: usize) -> String {
    let cut = &b[..b.len().min(max)];
    let text = String::from_utf8_lossy(cut);
    let more = if b.len() > max { "…" } else { "" };
    format!("{}{more}", wsdoctor_evidence::escape_peer(&text))
}

/// The Fx hash (rustc's): a multiply-rotate per word. The maps here are
/// keyed by small integers and short byte strings from our own parsing of
/// local files, so HashDoS resistance buys nothing and SipHash would cost a
/// third of the per-line budget.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            self.add(u64::from_le_bytes(word));
        }
        let tail = chunks.remainder();
        if !tail.is_empty() {
            let mut word = [0u8; 8];
            word[..tail.len()].copy_from_slice(tail);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_i64(&mut self, i: i64) {
        self.add(i as u64);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

/// A `HashMap` with [`FxHasher`].
pub(crate) type FxMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<FxHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_with_quotes_and_escapes() {
        let mut f = Fields::new(br#"ws 2026 "GET /a b HTTP/1.1" "ua \"x\" y" - last"#);
        assert_eq!(f.next_field(), Some(b"ws".as_slice()));
        assert_eq!(f.next_field(), Some(b"2026".as_slice()));
        assert_eq!(f.next_field(), Some(b"GET /a b HTTP/1.1".as_slice()));
        assert_eq!(f.next_field(), Some(br#"ua \"x\" y"#.as_slice()));
        assert!(f.skip(1));
        assert_eq!(f.next_field(), Some(b"last".as_slice()));
        assert_eq!(f.next_field(), None);
        assert_eq!(Fields::new(br#""open"#).next_field(), None);
        assert_eq!(Fields::new(br#""open\"#).next_field(), None);
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_secs_ms(b"60.001"), Some(60_001));
        assert_eq!(parse_secs_ms(b"0.0004"), Some(0));
        assert_eq!(parse_secs_ms(b"0.0005"), Some(1));
        assert_eq!(parse_secs_ms(b"12"), Some(12_000));
        assert_eq!(parse_secs_ms(b"-1"), None);
        assert_eq!(parse_secs_ms(b"1.x"), None);
        assert_eq!(parse_status(b"101"), Some(101));
        assert_eq!(parse_status(b"-"), None);
        assert_eq!(parse_u64(b"99999999999999999999"), None);
    }

    #[test]
    fn paths_and_addresses() {
        assert_eq!(request_path(b"https://h.example:443/ws?token=x"), b"/ws");
        assert_eq!(request_path(b"/socket.io/?EIO=4"), b"/socket.io/");
        assert_eq!(request_path(b"http://h"), b"/");
        assert_eq!(strip_port(b"10.0.0.1:443"), b"10.0.0.1");
        assert_eq!(strip_port(b"[::1]:443"), b"::1");
        assert_eq!(strip_port(b"2001:db8::1"), b"2001:db8::1");
        assert_eq!(
            split_request(b"GET /ws HTTP/1.1"),
            Some((b"GET".as_slice(), b"/ws".as_slice()))
        );
    }
}
