//! Fixed-width timestamp parsers for the formats we read. Log timestamps
//! have a handful of fixed layouts, so each is parsed by position instead of
//! by a general date library: this runs once per line.

use std::cell::Cell;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`, exact for every year we will see).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// 9999-12-31T23:59:59.999Z in Unix ms: the last time a log line may
/// carry. Later (or before 1970, or not finite) is not a date a log was
/// written at; such a line is malformed, not a point on a chart (it
/// printed `10000-01-0 T04:0` in the per-hour table).
pub(crate) const MAX_MS: i64 = 253_402_300_799_999;

/// True for Unix ms between 1970 and the end of 9999.
pub(crate) fn in_range_ms(ms: i64) -> bool {
    (0..=MAX_MS).contains(&ms)
}

/// `2026-01-15T14:02:11Z` for Unix ms (second precision).
pub fn format_rfc3339(ms: i64) -> String {
    wsdoctor_evidence::logs::format_utc(ms)
}

/// An unsigned decimal of exactly `b.len()` digits.
fn digits(b: &[u8]) -> Option<u32> {
    let mut v: u32 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    (!b.is_empty()).then_some(v)
}

fn month_number(name: &[u8]) -> Option<u32> {
    const NAMES: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    NAMES
        .iter()
        .position(|n| n.as_slice() == name)
        .and_then(|i| u32::try_from(i + 1).ok())
}

fn civil_ms(y: u32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<i64> {
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(i64::from(y), mo, d);
    Some((days * 86_400 + i64::from(h * 3600 + mi * 60 + s)) * 1000)
}

/// Milliseconds from a fraction `.123456` (any number of digits; the part
/// after the first three is dropped). Returns (ms, bytes consumed).
fn fraction_ms(b: &[u8]) -> (i64, usize) {
    if b.first() != Some(&b'.') {
        return (0, 0);
    }
    let n = b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut ms = 0i64;
    for i in 0..3 {
        ms = ms * 10
            + b.get(1 + i)
                .filter(|_| i < n)
                .map_or(0, |c| i64::from(c - b'0'));
    }
    (ms, 1 + n)
}

/// `±hh:mm` or `±hhmm` as seconds east of UTC, with bytes consumed.
fn offset_s(b: &[u8]) -> Option<(i64, usize)> {
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let h = i64::from(digits(b.get(1..3)?)?);
    let (m, used) = if b.get(3) == Some(&b':') {
        (i64::from(digits(b.get(4..6)?)?), 6)
    } else {
        (i64::from(digits(b.get(3..5)?)?), 5)
    };
    Some((sign * (h * 3600 + m * 60), used))
}

/// ISO 8601 / RFC 3339: `2026-01-15T14:02:11.186641Z`, `…+01:00`; the
/// fraction and the zone are optional (no zone means UTC).
pub(crate) fn parse_iso8601(b: &[u8]) -> Option<i64> {
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let base = civil_ms(
        digits(&b[0..4])?,
        digits(&b[5..7])?,
        digits(&b[8..10])?,
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    )?;
    let (ms, used) = fraction_ms(&b[19..]);
    let rest = &b[19 + used..];
    let offset = match rest.first() {
        None | Some(b'Z') => 0,
        Some(_) => offset_s(rest)?.0,
    };
    Some(base + ms - offset * 1000)
}

/// nginx `$time_local`: `15/Jan/2026:14:02:11 +0000`. Returns (Unix ms,
/// offset in seconds) so that error-log times (local, without zone) can be
/// read in the same zone.
pub(crate) fn parse_clf(b: &[u8]) -> Option<(i64, i64)> {
    if b.len() < 26 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[20] != b' ' {
        return None;
    }
    let base = civil_ms(
        digits(&b[7..11])?,
        month_number(&b[3..6])?,
        digits(&b[0..2])?,
        digits(&b[12..14])?,
        digits(&b[15..17])?,
        digits(&b[18..20])?,
    )?;
    let (offset, _) = offset_s(&b[21..26])?;
    Some((base - offset * 1000, offset))
}

thread_local! {
    /// The last `$time_local` read on this thread and its value: an access
    /// log writes many lines per second, so most lines repeat it.
    static LAST_CLF: Cell<Option<(ClfKey, (i64, i64))>> = const { Cell::new(None) };
}

/// 26 bytes as two overlapping 16-byte words: compared in two
/// instructions instead of a call to `memcmp`.
type ClfKey = (u128, u128);

/// [`parse_clf`] of a 26-byte `$time_local`, remembering the last answer.
#[inline]
pub(crate) fn parse_clf_cached(b: &[u8]) -> Option<(i64, i64)> {
    let head: [u8; 16] = b.get(..16)?.try_into().ok()?;
    let tail: [u8; 16] = b.get(10..26)?.try_into().ok()?;
    if b.len() != 26 {
        return None;
    }
    let key = (u128::from_ne_bytes(head), u128::from_ne_bytes(tail));
    if let Some((last, value)) = LAST_CLF.get() {
        if last == key {
            return Some(value);
        }
    }
    let value = parse_clf(b)?;
    LAST_CLF.set(Some((key, value)));
    Some(value)
}

/// HAProxy accept date: `06/Feb/2009:12:14:14.655` (local time, no zone;
/// read as UTC).
pub(crate) fn parse_haproxy_date(b: &[u8]) -> Option<i64> {
    if b.len() < 20 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' {
        return None;
    }
    let base = civil_ms(
        digits(&b[7..11])?,
        month_number(&b[3..6])?,
        digits(&b[0..2])?,
        digits(&b[12..14])?,
        digits(&b[15..17])?,
        digits(&b[18..20])?,
    )?;
    Some(base + fraction_ms(&b[20..]).0)
}

/// nginx error log: `2026/01/15 14:02:11` (local time, no zone).
pub(crate) fn parse_nginx_error_date(b: &[u8]) -> Option<i64> {
    if b.len() < 19 || b[4] != b'/' || b[7] != b'/' || b[10] != b' ' {
        return None;
    }
    civil_ms(
        digits(&b[0..4])?,
        digits(&b[5..7])?,
        digits(&b[8..10])?,
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    )
}

/// `$msec`: `1768485731.123` seconds since the epoch.
pub(crate) fn parse_epoch_secs(b: &[u8]) -> Option<i64> {
    let whole = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if whole == 0 || whole > 12 {
        return None;
    }
    let secs = i64::from(digits(&b[..whole.min(9)])?);
    let secs = if whole > 9 {
        secs * 10i64.pow((whole - 9) as u32) + i64::from(digits(&b[9..whole])?)
    } else {
        secs
    };
    Some(secs * 1000 + fraction_ms(&b[whole..]).0)
}

/// The user's `--since`/`--until`: RFC 3339, or a date (`2026-01-15`,
/// midnight UTC), or a date and time without zone (UTC).
pub fn parse_user_time(text: &str) -> Option<i64> {
    let b = text.trim().as_bytes();
    if b.len() == 10 {
        let mut full = b.to_vec();
        full.extend_from_slice(b"T00:00:00Z");
        return parse_iso8601(&full);
    }
    if b.len() == 16 {
        // `2026-01-15T14:02`: minutes precision.
        let mut full = b.to_vec();
        full.extend_from_slice(b":00Z");
        return parse_iso8601(&full);
    }
    parse_iso8601(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JAN_15_2026_14_02_11: i64 = 1_768_485_731_000;

    #[test]
    fn iso8601_layouts() {
        assert_eq!(
            parse_iso8601(b"2026-01-15T14:02:11.186641Z"),
            Some(JAN_15_2026_14_02_11 + 186)
        );
        assert_eq!(
            parse_iso8601(b"2026-01-15T14:02:11Z"),
            Some(JAN_15_2026_14_02_11)
        );
        assert_eq!(
            parse_iso8601(b"2026-01-15T15:02:11+01:00"),
            Some(JAN_15_2026_14_02_11)
        );
        assert_eq!(parse_iso8601(b"2026-13-15T14:02:11Z"), None);
        assert_eq!(parse_iso8601(b"garbage"), None);
    }

    #[test]
    fn clf_and_others() {
        assert_eq!(
            parse_clf(b"15/Jan/2026:09:02:11 -0500"),
            Some((JAN_15_2026_14_02_11, -5 * 3600))
        );
        assert_eq!(
            parse_haproxy_date(b"15/Jan/2026:14:02:11.250"),
            Some(JAN_15_2026_14_02_11 + 250)
        );
        assert_eq!(
            parse_nginx_error_date(b"2026/01/15 14:02:11"),
            Some(JAN_15_2026_14_02_11)
        );
        assert_eq!(
            parse_epoch_secs(b"1768485731.5"),
            Some(JAN_15_2026_14_02_11 + 500)
        );
        assert_eq!(parse_clf(b"15/Foo/2026:09:02:11 -0500"), None);
    }

    #[test]
    fn user_times() {
        assert_eq!(format_rfc3339(JAN_15_2026_14_02_11), "2026-01-15T14:02:11Z");
        assert_eq!(parse_user_time("2026-01-15"), Some(1_768_435_200_000));
        assert_eq!(
            parse_user_time("2026-01-15T14:02"),
            Some(JAN_15_2026_14_02_11 - 11_000)
        );
    }
}
