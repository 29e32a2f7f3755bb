//! The one duration syntax of every wsdoctor flag: `500ms`, `25s`, `10m`, `1h30m`.

use std::time::Duration;

/// Why a duration given by the user was not understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DurationError {
    /// A bare number: we refuse to guess whether `30` means seconds or milliseconds.
    #[error("'{0}' has no unit: write it as {0}s or {0}ms")]
    MissingUnit(String),
    /// Anything else humantime does not accept.
    #[error("'{input}' is not a duration ({reason}); write it like 500ms, 25s or 10m")]
    Invalid {
        /// What the user typed.
        input: String,
        /// humantime's explanation.
        reason: String,
    },
}

/// Parses `500ms`, `25s`, `10m`, `1h30m` (humantime syntax, units required).
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let trimmed = input.trim();
    // Zero needs no unit: `--ping-interval 0` (off) means the same in any.
    if trimmed == "0" {
        return Ok(Duration::ZERO);
    }
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(DurationError::MissingUnit(trimmed.to_owned()));
    }
    humantime::parse_duration(trimmed).map_err(|e| DurationError::Invalid {
        input: trimmed.to_owned(),
        reason: e.to_string(),
    })
}

/// Formats a duration the way wsdoctor prints it to people: `850 ms`, `12.4 s`,
/// `60.0 s`, `5 m 0 s`, `2 h 0 m`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1.0 {
        format!("{} µs", d.as_micros())
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else if d.as_secs() < 600 {
        format!("{:.1} s", d.as_secs_f64())
    } else if d.as_secs() < 7200 {
        format!("{} m {} s", d.as_secs() / 60, d.as_secs() % 60)
    } else {
        format!("{} h {} m", d.as_secs() / 3600, (d.as_secs() % 3600) / 60)
    }
}

/// Formats microseconds as seconds with millisecond precision (`60.012 s`):
/// what a measured timer value looks like in evidence lines.
pub fn format_secs(us: u64) -> String {
    format!("{:.3} s", us as f64 / 1_000_000.0)
}

/// A count people read at a glance: `1,204`, `10,000`.
pub fn format_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let table = [
            ("500ms", 500),
            ("25s", 25_000),
            ("10m", 600_000),
            ("1h30m", 5_400_000),
            (" 2s ", 2_000),
            ("0", 0),
        ];
        for (text, ms) in table {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
        }
    }

    #[test]
    fn refuses_bare_numbers_and_garbage() {
        assert_eq!(
            parse_duration("30"),
            Err(DurationError::MissingUnit("30".into()))
        );
        assert!(matches!(
            parse_duration("soon"),
            Err(DurationError::Invalid { .. })
        ));
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn formats_for_people() {
        let table = [
            (Duration::from_micros(420), "420 µs"),
            (Duration::from_millis(850), "850 ms"),
            (Duration::from_millis(60_012), "60.0 s"),
            (Duration::from_secs(900), "15 m 0 s"),
            (Duration::from_secs(7200), "2 h 0 m"),
        ];
        for (d, text) in table {
            assert_eq!(format_duration(d), text);
        }
        assert_eq!(format_secs(60_012_345), "60.012 s");
        assert_eq!(format_count(0), "0");
        assert_eq!(format_count(1_204), "1,204");
        assert_eq!(format_count(10_000_000), "10,000,000");
    }
}
