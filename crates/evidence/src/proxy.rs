//! The forward proxy (HTTP CONNECT or SOCKS5) a connection went through.
//!
//! With a forward proxy, DNS and TCP go to the proxy: the record's
//! `resolved`, `peer_addr`, connect time and every round trip measured on
//! the connection are the proxy's path plus the proxy's own path to the
//! target, and the idle timers measured include the proxy's own.

use serde::{Deserialize, Serialize};

use crate::HandshakeRecord;

/// How the tunnel is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyKind {
    /// `http://proxy:3128`: an HTTP `CONNECT host:port` request.
    HttpConnect,
    /// `socks5://`: SOCKS5 (RFC 1928), the target's name resolved here.
    Socks5,
    /// `socks5h://`: SOCKS5, the proxy resolves the target's name.
    Socks5h,
}

impl ProxyKind {
    /// The JSON spelling (`http-connect`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyKind::HttpConnect => "http-connect",
            ProxyKind::Socks5 => "socks5",
            ProxyKind::Socks5h => "socks5h",
        }
    }
}

/// A SOCKS5 server's reply to our CONNECT (RFC 1928 §6), or to our
/// method selection or username/password (RFC 1929) when it stopped there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocksReply {
    /// Which step answered: `method`, `auth` or `connect`.
    pub step: String,
    /// The reply code as sent (`REP`; the method byte; the auth status).
    pub code: u8,
    /// What the code means, per the RFC.
    pub meaning: String,
}

/// The forward proxy of one connection and how it answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardProxyRecord {
    /// The proxy URL, password replaced by `REDACTED`.
    pub url: String,
    /// How the tunnel is asked for.
    pub kind: ProxyKind,
    /// Where the proxy came from: `flag` (`--proxy`) or the environment
    /// variable's name (`HTTPS_PROXY`, `all_proxy`, …).
    pub from: String,
    /// The HTTP CONNECT exchange as on the wire (request redacted,
    /// `Proxy-Authorization` included), once the proxy answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect: Option<HandshakeRecord>,
    /// The SOCKS5 server's answer, once it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socks: Option<SocksReply>,
}

impl ForwardProxyRecord {
    /// The proxy's answer in one line: `HTTP/1.1 200 Connection established`,
    /// `SOCKS5 connect reply 0x02 (connection not allowed by ruleset)`.
    /// Peer-controlled: escape before printing.
    pub fn answer(&self) -> Option<String> {
        if let Some(c) = &self.connect {
            return Some(
                format!("{} {} {}", c.http_version, c.status, c.reason)
                    .trim_end()
                    .to_owned(),
            );
        }
        self.socks
            .as_ref()
            .map(|s| format!("SOCKS5 {} reply 0x{:02x} ({})", s.step, s.code, s.meaning))
    }
}
