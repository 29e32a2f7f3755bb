//! Duration syntax of each product, to milliseconds. Each grammar differs
//! in the one way that matters most: a bare number is *seconds* to nginx
//! but *milliseconds* to HAProxy.

/// nginx time (`ngx_parse_time`): `60`, `60s`, `1m30s`, `500ms`, `1h 30m`;
/// units ms, s, m, h, d, w, M (30 days), y (365 days); a bare number is
/// seconds. `None` when it is not a valid nginx time.
pub(crate) fn nginx_ms(text: &str) -> Option<u64> {
    let chars: Vec<char> = text.trim().chars().collect();
    if chars.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == ' ' {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let number: u64 = chars[start..i].iter().collect::<String>().parse().ok()?;
        let (factor, width) = match (chars.get(i), chars.get(i + 1)) {
            (Some('m'), Some('s')) => (1, 2),
            (Some('s'), _) => (1000, 1),
            (Some('m'), _) => (60_000, 1),
            (Some('h'), _) => (3_600_000, 1),
            (Some('d'), _) => (86_400_000, 1),
            (Some('w'), _) => (7 * 86_400_000, 1),
            (Some('M'), _) => (30 * 86_400_000, 1),
            (Some('y'), _) => (365 * 86_400_000, 1),
            (None | Some(' '), _) => (1000, 0),
            _ => return None,
        };
        total = total.checked_add(number.checked_mul(factor)?)?;
        i += width;
    }
    Some(total)
}

/// HAProxy time: `30s`, `1h`, `500`, `100us`; units us, ms, s, m, h, d; a
/// bare number is milliseconds.
pub(crate) fn haproxy_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().ok()?;
    let ms = match unit {
        "us" => number / 1000,
        "" | "ms" => number,
        "s" => number.checked_mul(1000)?,
        "m" => number.checked_mul(60_000)?,
        "h" => number.checked_mul(3_600_000)?,
        "d" => number.checked_mul(86_400_000)?,
        _ => return None,
    };
    Some(ms)
}

/// A plain count (`worker_connections 1024`, `maxconn 2000`).
pub(crate) fn count(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_table() {
        let table = [
            ("60", Some(60_000)),
            ("60s", Some(60_000)),
            ("500ms", Some(500)),
            ("1m30s", Some(90_000)),
            ("1h 30m", Some(5_400_000)),
            ("1d", Some(86_400_000)),
            ("2M", Some(2 * 30 * 86_400_000)),
            ("", None),
            ("s", None),
            ("10x", None),
            ("-1s", None),
            ("99999999999999999999", None),
            ("{{ .Values.t }}", None),
        ];
        for (text, expected) in table {
            assert_eq!(nginx_ms(text), expected, "{text:?}");
        }
    }

    #[test]
    fn haproxy_table() {
        let table = [
            ("30s", Some(30_000)),
            ("500", Some(500)),
            ("1h", Some(3_600_000)),
            ("1500us", Some(1)),
            ("2d", Some(172_800_000)),
            ("1h30m", None),
            ("x", None),
            ("${T}", None),
        ];
        for (text, expected) in table {
            assert_eq!(haproxy_ms(text), expected, "{text:?}");
        }
    }
}
