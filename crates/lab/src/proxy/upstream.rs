//! `wsdoctor lab --upstream URL`: the server behind the lab proxy. The
//! proxy relays plain TCP, so only `ws://` is taken; the URL's
//! `host:port` (port 80 when none is given) is what gets resolved.

use std::str::FromStr;

/// A `ws://host[:port][/…]` URL, reduced to what the proxy dials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamUrl {
    host_port: String,
}

/// Why an `--upstream` URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamUrlError {
    /// Not a `ws://` URL (`wss://`, `http://`, a bare address).
    #[error("--upstream must be a ws:// URL (the lab proxy does not speak TLS): {url}")]
    NotWs {
        /// The URL as given.
        url: String,
    },
}

impl UpstreamUrl {
    /// `host:port` to resolve and dial.
    pub fn host_port(&self) -> &str {
        &self.host_port
    }
}

impl FromStr for UpstreamUrl {
    type Err = UpstreamUrlError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let Some(rest) = url.strip_prefix("ws://") else {
            return Err(UpstreamUrlError::NotWs {
                url: url.to_owned(),
            });
        };
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        let has_port = authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok());
        let host_port = if has_port {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(UpstreamUrl { host_port })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls() {
        let host_port = |url: &str| url.parse::<UpstreamUrl>().map(|u| u.host_port().to_owned());
        assert_eq!(
            host_port("ws://127.0.0.1:9000/ws?x=1").unwrap(),
            "127.0.0.1:9000"
        );
        assert_eq!(host_port("ws://localhost").unwrap(), "localhost:80");
        assert_eq!(host_port("ws://[::1]:81").unwrap(), "[::1]:81");
        assert_eq!(
            host_port("wss://127.0.0.1:9000").unwrap_err().to_string(),
            "--upstream must be a ws:// URL (the lab proxy does not speak TLS): wss://127.0.0.1:9000"
        );
    }
}
