//! A `-H 'Name: value'` argument, checked once for every command that
//! sends extra request headers: a header name that is an HTTP token and a
//! value without line breaks, so no flag can smuggle a second header or a
//! request line into the handshake.

use std::fmt;
use std::str::FromStr;

/// One extra request header, as `-H 'Name: value'` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderLine {
    name: String,
    value: String,
}

/// Why a `-H` argument was refused. Errors quote the first word only: the
/// rest may be a credential (`-H 'Authorization Bearer X'`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderLineError {
    /// No `:` between name and value.
    #[error("header '{first_word}' has no ':'; write it as -H 'Name: value'")]
    NoColon {
        /// The argument's first word.
        first_word: String,
    },
    /// The name is empty or not an HTTP token (RFC 9110 §5.6.2).
    #[error("'{first_word}' is not a valid HTTP header name")]
    BadName {
        /// The name's first word.
        first_word: String,
    },
    /// The value holds CR, LF or NUL.
    #[error("the value of header '{name}' contains a line break")]
    LineBreak {
        /// The header's (valid) name.
        name: String,
    },
}

impl HeaderLine {
    /// The header's name, as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The header's value, trimmed.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The (name, value) pair connection options carry.
    pub fn into_pair(self) -> (String, String) {
        (self.name, self.value)
    }
}

impl FromStr for HeaderLine {
    type Err = HeaderLineError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let Some((name, value)) = raw.split_once(':') else {
            return Err(HeaderLineError::NoColon {
                first_word: first_word(raw),
            });
        };
        let name = name.trim();
        let is_token = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !is_token {
            return Err(HeaderLineError::BadName {
                first_word: first_word(name),
            });
        }
        let value = value.trim();
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(HeaderLineError::LineBreak {
                name: name.to_owned(),
            });
        }
        Ok(HeaderLine {
            name: name.to_owned(),
            value: value.to_owned(),
        })
    }
}

impl fmt::Display for HeaderLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.value)
    }
}

/// The first word of a header argument, with "…" when more follows.
fn first_word(raw: &str) -> String {
    let mut words = raw.split_whitespace();
    let first = words.next().unwrap_or_default();
    if words.next().is_some() {
        format!("{first} …")
    } else {
        first.to_owned()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn pair(raw: &str) -> Option<(String, String)> {
        raw.parse::<HeaderLine>().ok().map(HeaderLine::into_pair)
    }

    #[test]
    fn header_table() {
        assert_eq!(
            pair("Authorization: Bearer x"),
            Some(("Authorization".into(), "Bearer x".into()))
        );
        assert_eq!(pair("X-A:b:c"), Some(("X-A".into(), "b:c".into())));
        for bad in ["NoColon", ": v", "Bad Name: v", "X: a\nb"] {
            assert!(pair(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn errors_never_quote_past_the_first_word() {
        let e = "Authorization Bearer secret"
            .parse::<HeaderLine>()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "header 'Authorization …' has no ':'; write it as -H 'Name: value'"
        );
        assert!(!e.to_string().contains("secret"));
        let e = "Bad Name secret: v".parse::<HeaderLine>().unwrap_err();
        assert_eq!(e.to_string(), "'Bad …' is not a valid HTTP header name");
        let e = "X-A: a\r\nHost: evil".parse::<HeaderLine>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "the value of header 'X-A' contains a line break"
        );
    }
}
