//! What to dial: a `ws://` or `wss://` URL, validated once, up front.

use std::net::IpAddr;

use url::{Host, Url};
use wsdoctor_evidence::{redact_typed_url, redact_url};

/// A validated WebSocket target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL as parsed.
    pub url: Url,
    /// `wss://`.
    pub secure: bool,
    /// The host name or address to dial (IPv6 without brackets).
    pub host: String,
    /// The address when the host is an IP literal (no DNS).
    pub ip: Option<IpAddr>,
    /// The port (default 80/443).
    pub port: u16,
    /// Path and query for the request line.
    pub resource: String,
    /// The `Host` header value.
    pub host_header: String,
}

/// Why a target was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    /// The URL did not parse.
    #[error("'{input}' is not a valid URL: {reason}")]
    Malformed {
        /// What the user typed.
        input: String,
        /// The parser's reason.
        reason: String,
    },
    /// An `http(s)://` URL: almost always meant as `ws(s)://`.
    #[error(
        "'{input}' is an HTTP URL; WebSocket URLs start with {suggestion} (try {suggested_url})"
    )]
    HttpScheme {
        /// What the user typed.
        input: String,
        /// `ws://` or `wss://`.
        suggestion: &'static str,
        /// The URL with the scheme replaced.
        suggested_url: String,
    },
    /// Another scheme.
    #[error("'{input}': unsupported scheme '{scheme}'; use ws:// or wss://")]
    UnsupportedScheme {
        /// What the user typed.
        input: String,
        /// The scheme.
        scheme: String,
    },
    /// No host.
    #[error("'{input}' has no host")]
    NoHost {
        /// What the user typed.
        input: String,
    },
}

impl Target {
    /// Parses `ws://host:port/path?query`, `wss://[::1]:8443/ws`, or a bare
    /// `host:port/path` (taken as `ws://`).
    pub fn parse(input: &str) -> Result<Target, TargetError> {
        let trimmed = input.trim();
        // What errors quote of the input: it may hold credentials.
        let shown = redact_typed_url(trimmed);
        let with_scheme = if trimmed.contains("://") {
            trimmed.to_owned()
        } else {
            format!("ws://{trimmed}")
        };
        let url = Url::parse(&with_scheme).map_err(|e| TargetError::Malformed {
            input: shown.clone(),
            reason: e.to_string(),
        })?;
        let secure = match url.scheme() {
            "ws" => false,
            "wss" => true,
            "http" | "https" => {
                let suggestion = if url.scheme() == "https" {
                    "wss://"
                } else {
                    "ws://"
                };
                let rest = shown.split_once("://").map_or(shown.as_str(), |(_, r)| r);
                return Err(TargetError::HttpScheme {
                    suggested_url: format!("{suggestion}{rest}"),
                    input: shown,
                    suggestion,
                });
            }
            other => {
                return Err(TargetError::UnsupportedScheme {
                    input: shown,
                    scheme: other.to_owned(),
                })
            }
        };
        let (host, ip) = match url.host() {
            Some(Host::Domain(d)) if !d.is_empty() => (d.to_owned(), None),
            Some(Host::Ipv4(a)) => (a.to_string(), Some(IpAddr::V4(a))),
            Some(Host::Ipv6(a)) => (a.to_string(), Some(IpAddr::V6(a))),
            _ => return Err(TargetError::NoHost { input: shown }),
        };
        let default_port = if secure { 443 } else { 80 };
        let port = url.port().unwrap_or(default_port);
        let mut resource = url.path().to_owned();
        if resource.is_empty() {
            resource.push('/');
        }
        if let Some(q) = url.query() {
            resource.push('?');
            resource.push_str(q);
        }
        let host_in_header = match ip {
            Some(IpAddr::V6(_)) => format!("[{host}]"),
            _ => host.clone(),
        };
        let host_header = if url.port().is_some() && port != default_port {
            format!("{host_in_header}:{port}")
        } else {
            host_in_header
        };
        Ok(Target {
            url,
            secure,
            host,
            ip,
            port,
            resource,
            host_header,
        })
    }

    /// The URL with secrets (user info, token-like query values) redacted.
    pub fn redacted(&self) -> String {
        redact_url(self.url.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_usual_shapes() {
        let table = [
            (
                "ws://localhost:8080/ws",
                false,
                "localhost",
                8080,
                "/ws",
                "localhost:8080",
            ),
            (
                "wss://example.com/socket?room=1",
                true,
                "example.com",
                443,
                "/socket?room=1",
                "example.com",
            ),
            ("ws://[::1]:9001/", false, "::1", 9001, "/", "[::1]:9001"),
            ("ws://127.0.0.1", false, "127.0.0.1", 80, "/", "127.0.0.1"),
            (
                "localhost:9001/chat",
                false,
                "localhost",
                9001,
                "/chat",
                "localhost:9001",
            ),
        ];
        for (input, secure, host, port, resource, host_header) in table {
            let t = Target::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(
                (
                    t.secure,
                    t.host.as_str(),
                    t.port,
                    t.resource.as_str(),
                    t.host_header.as_str()
                ),
                (secure, host, port, resource, host_header),
                "{input}"
            );
        }
    }

    #[test]
    fn explains_what_is_wrong() {
        let err = Target::parse("https://example.com/ws").unwrap_err();
        assert_eq!(
            err.to_string(),
            "'https://example.com/ws' is an HTTP URL; WebSocket URLs start with wss:// (try wss://example.com/ws)"
        );
        assert!(matches!(
            Target::parse("ftp://x/"),
            Err(TargetError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            Target::parse("ws://exa mple.com/"),
            Err(TargetError::Malformed { .. })
        ));
        assert!(matches!(
            Target::parse("ws://:80/"),
            Err(TargetError::Malformed { .. } | TargetError::NoHost { .. })
        ));
    }

    #[test]
    fn errors_never_show_credentials() {
        for input in [
            "wss://user:hunter2pw@",
            "user:hunter2pw@",
            "ftp://u:hunter2pw@host/",
            "https://u:hunter2pw@host/ws",
            "wss://u:hunter2/pw@host/ws",
            "ws://h:99999/?token=hunter2pw",
        ] {
            let e = Target::parse(input).unwrap_err().to_string();
            assert!(!e.contains("hunter2"), "{input}: {e}");
        }
    }

    #[test]
    fn redacts_tokens() {
        let t = Target::parse("wss://h/ws?token=s3cret").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.redacted(), "wss://h/ws?token=REDACTED");
    }
}
