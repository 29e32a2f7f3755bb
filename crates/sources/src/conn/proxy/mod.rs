//! Forward proxies: `--proxy URL`, or the environment the way curl reads it.
//!
//! With a proxy, DNS and TCP go to the proxy, then [`tunnel`] asks it for a
//! byte stream to the target (HTTP `CONNECT`, or SOCKS5), then TLS and the
//! upgrade run over that stream as they would over a direct connection.
//!
//! Both tunnels are written here rather than taken from `async-http-proxy`,
//! `tokio-socks` or `fast-socks5`: those return an error value on refusal and
//! drop the proxy's status line, headers and error page (or the raw SOCKS
//! reply), which are the evidence we report; and the SOCKS crates wrap the
//! socket in their own stream type, while the connection driver and the hold
//! pool need the bare `TcpStream` back. Both protocols are a few bounded
//! reads here.

mod env;
mod http;
mod socks;

use std::net::IpAddr;

use url::{Host, Url};
use wsdoctor_evidence::{ConnectionEnd, ConnectionRecord, ForwardProxyRecord, ProxyKind};

use super::Target;

pub use env::{from_env, no_proxy_matches};

/// User name and password for the proxy (percent-decoded). Never printed.
#[derive(Clone, PartialEq, Eq)]
struct Credentials {
    user: String,
    password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(REDACTED)")
    }
}

/// A validated forward proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardProxy {
    /// How the tunnel is asked for.
    pub kind: ProxyKind,
    /// The proxy's host name or address (IPv6 without brackets).
    pub host: String,
    /// The address when the host is an IP literal.
    pub ip: Option<IpAddr>,
    /// The proxy's port (1080 when the URL has none, as in curl).
    pub port: u16,
    /// `flag`, or the environment variable it came from.
    pub from: String,
    credentials: Option<Credentials>,
    redacted: String,
}

/// Why a proxy URL was not accepted. Messages show the URL redacted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProxyError {
    /// The URL did not parse.
    #[error("proxy '{input}' (from {from}) is not a valid URL: {reason}")]
    Malformed {
        /// The URL, redacted.
        input: String,
        /// Where it came from.
        from: String,
        /// The parser's reason.
        reason: String,
    },
    /// A scheme we do not speak.
    #[error("proxy '{input}' (from {from}): unsupported scheme '{scheme}'; use http://, socks5:// or socks5h:// (TLS to the proxy itself, https://, is not supported)")]
    UnsupportedScheme {
        /// The URL, redacted.
        input: String,
        /// Where it came from.
        from: String,
        /// The scheme.
        scheme: String,
    },
    /// No host.
    #[error("proxy '{input}' (from {from}) has no host")]
    NoHost {
        /// The URL, redacted.
        input: String,
        /// Where it came from.
        from: String,
    },
    /// SOCKS5 carries user name and password in at most 255 bytes each (RFC 1929).
    #[error(
        "proxy '{input}' (from {from}): SOCKS5 user names and passwords are at most 255 bytes"
    )]
    CredentialsTooLong {
        /// The URL, redacted.
        input: String,
        /// Where it came from.
        from: String,
    },
}

/// A proxy URL as it may appear in an error (it may not parse):
/// credentials and token-like parameters redacted.
fn redact_proxy_input(url: &str) -> String {
    wsdoctor_evidence::redact_typed_url(url)
}

/// curl's port for a proxy URL without one, whatever the scheme.
const DEFAULT_PROXY_PORT: u16 = 1080;

impl ForwardProxy {
    /// Parses `http://[user:password@]host[:port]`, `socks5://…` or
    /// `socks5h://…`; without a scheme, `http://` (as curl). `from` says
    /// where the URL came from, for the record and for error messages.
    pub fn parse(input: &str, from: &str) -> Result<ForwardProxy, ProxyError> {
        let trimmed = input.trim();
        let with_scheme = if trimmed.contains("://") {
            trimmed.to_owned()
        } else {
            format!("http://{trimmed}")
        };
        let redacted = redact_proxy_input(&with_scheme);
        let from = from.to_owned();
        let url = Url::parse(&with_scheme).map_err(|e| ProxyError::Malformed {
            input: redacted.clone(),
            from: from.clone(),
            reason: e.to_string(),
        })?;
        let kind = match url.scheme() {
            "http" => ProxyKind::HttpConnect,
            "socks5" => ProxyKind::Socks5,
            "socks5h" => ProxyKind::Socks5h,
            other => {
                return Err(ProxyError::UnsupportedScheme {
                    input: redacted,
                    from,
                    scheme: other.to_owned(),
                })
            }
        };
        let (host, ip) = match url.host() {
            Some(Host::Domain(d)) if !d.is_empty() => match d.parse::<IpAddr>() {
                // Non-special schemes (socks5) leave IP literals as names.
                Ok(ip) => (ip.to_string(), Some(ip)),
                Err(_) => (d.to_owned(), None),
            },
            Some(Host::Ipv4(a)) => (a.to_string(), Some(IpAddr::V4(a))),
            Some(Host::Ipv6(a)) => (a.to_string(), Some(IpAddr::V6(a))),
            _ => {
                return Err(ProxyError::NoHost {
                    input: redacted,
                    from,
                })
            }
        };
        // `Url` hides a port equal to the scheme's default (http://p:80),
        // so an explicit one is looked for in the text.
        let port = url.port().unwrap_or_else(|| {
            if has_explicit_port(&with_scheme) {
                url.port_or_known_default().unwrap_or(DEFAULT_PROXY_PORT)
            } else {
                DEFAULT_PROXY_PORT
            }
        });
        let credentials = (!url.username().is_empty()).then(|| Credentials {
            user: decode(url.username()),
            password: url.password().map(decode).unwrap_or_default(),
        });
        let socks = kind != ProxyKind::HttpConnect;
        if socks
            && credentials
                .as_ref()
                .is_some_and(|c| c.user.len() > 255 || c.password.len() > 255)
        {
            return Err(ProxyError::CredentialsTooLong {
                input: redacted,
                from,
            });
        }
        Ok(ForwardProxy {
            kind,
            host,
            ip,
            port,
            from,
            credentials,
            redacted: redacted_proxy_url(&url),
        })
    }

    /// The URL with the password replaced by `REDACTED` (the user name kept:
    /// it says which account was used, as curl's verbose output does).
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// A fresh record of this proxy, before it answered.
    pub fn record(&self) -> ForwardProxyRecord {
        ForwardProxyRecord {
            url: self.redacted.clone(),
            kind: self.kind,
            from: self.from.clone(),
            connect: None,
            socks: None,
        }
    }
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

fn has_explicit_port(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let after_host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or("", |(_, r)| r),
        None => host_port,
    };
    after_host.contains(':')
}

fn redacted_proxy_url(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some(wsdoctor_evidence::REDACTED));
    }
    // A bare `http://proxy:3128/` reads better without the root path.
    let text = shown.to_string();
    match text.strip_suffix('/') {
        Some(t) if shown.path() == "/" && shown.query().is_none() => t.to_owned(),
        _ => text,
    }
}

/// `host:port` for a CONNECT line or a SOCKS5 domain name, IPv6 in brackets.
fn authority(target: &Target) -> String {
    match target.ip {
        Some(IpAddr::V6(_)) => format!("[{}]:{}", target.host, target.port),
        _ => format!("{}:{}", target.host, target.port),
    }
}

/// Asks the proxy at the other end of `tcp` for a tunnel to the target,
/// within `deadline`, recording its answer in `record.forward_proxy`.
/// `Err` is how the attempt ended.
pub(crate) async fn tunnel(
    tcp: &mut tokio::net::TcpStream,
    proxy: &ForwardProxy,
    target: &Target,
    deadline: tokio::time::Instant,
    record: &mut ConnectionRecord,
) -> Result<(), ConnectionEnd> {
    let answer = record.forward_proxy.get_or_insert_with(|| proxy.record());
    let exchange = async {
        match proxy.kind {
            ProxyKind::HttpConnect => http::connect(tcp, proxy, target, deadline, answer).await,
            ProxyKind::Socks5 | ProxyKind::Socks5h => {
                socks::connect(tcp, proxy, target, answer).await
            }
        }
    };
    match tokio::time::timeout_at(deadline, exchange).await {
        Ok(result) => result,
        Err(_) => Err(ConnectionEnd::ProxyFailed {
            proxy: proxy.redacted.clone(),
            error: "no complete answer to our tunnel request before the connect timeout".to_owned(),
        }),
    }
}

/// The end for an I/O failure while talking to the proxy.
fn io_failed(proxy: &ForwardProxy, what: &str, e: &std::io::Error) -> ConnectionEnd {
    let error = match e.kind() {
        std::io::ErrorKind::UnexpectedEof => format!("the proxy closed the connection {what}"),
        std::io::ErrorKind::ConnectionReset => format!("the proxy reset the connection {what}"),
        _ => format!("{e} ({what})"),
    };
    ConnectionEnd::ProxyFailed {
        proxy: proxy.redacted.clone(),
        error,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
