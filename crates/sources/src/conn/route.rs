//! Pinning where a connection goes, as curl does: `--resolve
//! HOST:PORT:ADDR[,ADDR…]` answers a name without DNS, `--connect-to
//! HOST:PORT:HOST2:PORT2` dials another host and port, `-4`/`-6` keep one
//! address family. The URL's host still goes into SNI and `Host`, so one
//! load-balancer node, one pod or a new cluster can be reached under the
//! name it serves.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// Why a `--resolve` or `--connect-to` value was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// Not `HOST:PORT:ADDR`.
    #[error("--resolve '{0}': write it as HOST:PORT:ADDR[,ADDR…] (e.g. example.com:443:10.0.0.7 or example.com:443:[::1])")]
    Resolve(String),
    /// Not `HOST:PORT:HOST2:PORT2`.
    #[error("--connect-to '{0}': write it as HOST:PORT:HOST2:PORT2 (an empty part means any, or unchanged)")]
    ConnectTo(String),
    /// A port that is not 1–65535.
    #[error("'{value}' in '{whole}' is not a port (1-65535)")]
    Port {
        /// The part that is not a port.
        value: String,
        /// The whole argument.
        whole: String,
    },
    /// An address that is not an IP address.
    #[error("'{value}' in '{whole}' is not an IP address")]
    Address {
        /// The part that is not an address.
        value: String,
        /// The whole argument.
        whole: String,
    },
    /// `-4`/`-6` with a URL whose host is an address of the other family.
    #[error("{flag} cannot reach {ip}, the URL's host: it is an address of the other family")]
    FamilyOfAddress {
        /// `-4` or `-6`.
        flag: &'static str,
        /// The URL's address.
        ip: IpAddr,
    },
    /// `--connect-to` together with a forward proxy.
    #[error("--connect-to cannot be combined with a forward proxy (use --no-proxy, or pin the proxy's own address with --resolve)")]
    ConnectToWithProxy,
}

/// One `--resolve HOST:PORT:ADDR[,ADDR…]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolve {
    /// The name (`*` for any), compared without case.
    pub host: String,
    /// The port it applies to.
    pub port: u16,
    /// The addresses to use instead of DNS, in order.
    pub addrs: Vec<IpAddr>,
}

/// One `--connect-to HOST:PORT:HOST2:PORT2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTo {
    /// The name it applies to (`None`: any).
    pub host: Option<String>,
    /// The port it applies to (`None`: any).
    pub port: Option<u16>,
    /// The host to dial instead (`None`: the same).
    pub to_host: Option<String>,
    /// The port to dial instead (`None`: the same).
    pub to_port: Option<u16>,
}

/// Which address family to dial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpFamily {
    /// `-4`.
    V4,
    /// `-6`.
    V6,
}

impl IpFamily {
    /// Whether `ip` is of this family.
    pub fn admits(self, ip: IpAddr) -> bool {
        match self {
            IpFamily::V4 => ip.is_ipv4(),
            IpFamily::V6 => ip.is_ipv6(),
        }
    }

    /// The flag that chose it.
    pub fn flag(self) -> &'static str {
        match self {
            IpFamily::V4 => "-4",
            IpFamily::V6 => "-6",
        }
    }
}

/// Where a connection goes instead of where DNS would send it.
///
/// # Defaults
/// No pins, both address families.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// `--resolve` entries; the first that matches applies.
    pub resolve: Vec<Resolve>,
    /// `--connect-to` entries; the first that matches applies.
    pub connect_to: Vec<ConnectTo>,
    /// `-4` or `-6`.
    pub family: Option<IpFamily>,
}

impl Route {
    /// Checks the route can be followed: `--connect-to` changes the host
    /// dialled, which a forward proxy's tunnel does not; `-4`/`-6` cannot
    /// reach a URL whose host is an address of the other family.
    pub fn check(&self, target_ip: Option<IpAddr>, through_proxy: bool) -> Result<(), RouteError> {
        if through_proxy && !self.connect_to.is_empty() {
            return Err(RouteError::ConnectToWithProxy);
        }
        if let (Some(family), Some(ip)) = (self.family, target_ip) {
            let dialled_elsewhere = self.connect_to.iter().any(|c| c.to_host.is_some());
            if !family.admits(ip) && !dialled_elsewhere {
                return Err(RouteError::FamilyOfAddress {
                    flag: family.flag(),
                    ip,
                });
            }
        }
        Ok(())
    }

    /// The host and port to dial for `host:port` after `--connect-to`.
    pub fn connect_to<'a>(&'a self, host: &'a str, port: u16) -> (&'a str, u16) {
        let matched = self.connect_to.iter().find(|c| {
            c.host.as_deref().is_none_or(|h| same_host(h, host)) && c.port.is_none_or(|p| p == port)
        });
        match matched {
            Some(c) => (
                c.to_host.as_deref().unwrap_or(host),
                c.to_port.unwrap_or(port),
            ),
            None => (host, port),
        }
    }

    /// The pinned addresses for `host:port`, when a `--resolve` names it.
    pub fn resolve(&self, host: &str, port: u16) -> Option<&[IpAddr]> {
        self.resolve
            .iter()
            .find(|r| r.port == port && (r.host == "*" || same_host(&r.host, host)))
            .map(|r| r.addrs.as_slice())
    }

    /// Keeps the addresses of the chosen family.
    pub fn filter(&self, addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
        match self.family {
            Some(family) => addrs
                .into_iter()
                .filter(|a| family.admits(a.ip()))
                .collect(),
            None => addrs,
        }
    }

    /// One route per node when several `--resolve` values name `host:port`
    /// (to compare the nodes side by side); `None` when at most one does.
    pub fn per_node(&self, host: &str, port: u16) -> Option<Vec<Route>> {
        let matches = |r: &Resolve| r.port == port && same_host(&r.host, host);
        let nodes: Vec<&Resolve> = self.resolve.iter().filter(|r| matches(r)).collect();
        if nodes.len() < 2 {
            return None;
        }
        let others: Vec<Resolve> = self
            .resolve
            .iter()
            .filter(|r| !matches(r))
            .cloned()
            .collect();
        Some(
            nodes
                .into_iter()
                .map(|node| {
                    let mut route = self.clone();
                    route.resolve = std::iter::once(node.clone())
                        .chain(others.iter().cloned())
                        .collect();
                    route
                })
                .collect(),
        )
    }
}

/// Host names compare without case; IPv6 literals with or without brackets.
fn same_host(a: &str, b: &str) -> bool {
    unbracket(a).eq_ignore_ascii_case(unbracket(b))
}

fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// Splits on `:` outside `[…]`, so IPv6 literals keep their colons.
fn split_colons(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0_u32;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ':' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn port(value: &str, whole: &str) -> Result<u16, RouteError> {
    value
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| RouteError::Port {
            value: value.to_owned(),
            whole: whole.to_owned(),
        })
}

impl FromStr for Resolve {
    type Err = RouteError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        // curl's `+` prefix (add lazily) means the same here.
        let body = text.trim().trim_start_matches('+');
        // HOST:PORT: then the addresses, which may hold colons themselves.
        let mut parts = body.splitn(3, ':');
        let (Some(host), Some(port_text), Some(addrs)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(RouteError::Resolve(text.to_owned()));
        };
        if host.is_empty() || addrs.is_empty() {
            return Err(RouteError::Resolve(text.to_owned()));
        }
        let addrs = addrs
            .split(',')
            .map(|a| {
                unbracket(a.trim())
                    .parse::<IpAddr>()
                    .map_err(|_| RouteError::Address {
                        value: a.to_owned(),
                        whole: text.to_owned(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Resolve {
            host: host.to_owned(),
            port: port(port_text, text)?,
            addrs,
        })
    }
}

impl FromStr for ConnectTo {
    type Err = RouteError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parts = split_colons(text.trim());
        let [host, from_port, to_host, to_port] = parts.as_slice() else {
            return Err(RouteError::ConnectTo(text.to_owned()));
        };
        let optional_port = |p: &str| (!p.is_empty()).then(|| port(p, text)).transpose();
        let optional_host = |h: &str| (!h.is_empty()).then(|| unbracket(h).to_owned());
        Ok(ConnectTo {
            host: optional_host(host),
            port: optional_port(from_port)?,
            to_host: optional_host(to_host),
            to_port: optional_port(to_port)?,
        })
    }
}

/// A host as a `--resolve`/`--connect-to` part: IPv6 in brackets.
fn bracketed(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// Written back as the flag takes it (`load --procs` hands it to children).
impl std::fmt::Display for Resolve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let addrs: Vec<String> = self
            .addrs
            .iter()
            .map(|a| bracketed(&a.to_string()))
            .collect();
        write!(f, "{}:{}:{}", self.host, self.port, addrs.join(","))
    }
}

/// Written back as the flag takes it.
impl std::fmt::Display for ConnectTo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = |h: &Option<String>| h.as_deref().map(bracketed).unwrap_or_default();
        let port = |p: Option<u16>| p.map(|p| p.to_string()).unwrap_or_default();
        write!(
            f,
            "{}:{}:{}:{}",
            host(&self.host),
            port(self.port),
            host(&self.to_host),
            port(self.to_port)
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn resolve_values_parse_as_curl_writes_them() {
        let r: Resolve = "example.com:443:10.0.0.7,[::1]".parse().unwrap();
        assert_eq!(r.host, "example.com");
        assert_eq!(r.port, 443);
        assert_eq!(
            r.addrs,
            vec![
                "10.0.0.7".parse::<IpAddr>().unwrap(),
                "::1".parse::<IpAddr>().unwrap()
            ]
        );
        assert_eq!(r.to_string(), "example.com:443:10.0.0.7,[::1]");
        let v6: Resolve = "h:80:::1".parse().unwrap();
        assert_eq!(v6.addrs, vec!["::1".parse::<IpAddr>().unwrap()]);
        for bad in [
            "example.com",
            "example.com:443",
            ":443:1.2.3.4",
            "h:0:1.2.3.4",
            "h:80:nope",
        ] {
            assert!(bad.parse::<Resolve>().is_err(), "{bad}");
        }
    }

    #[test]
    fn connect_to_values_parse_with_empty_parts_meaning_any() {
        let c: ConnectTo = "example.com:443:[::1]:8443".parse().unwrap();
        assert_eq!(c.host.as_deref(), Some("example.com"));
        assert_eq!(c.to_host.as_deref(), Some("::1"));
        assert_eq!(c.to_port, Some(8443));
        let any: ConnectTo = "::other:".parse().unwrap();
        assert_eq!(any.host, None);
        assert_eq!(any.port, None);
        assert_eq!(any.to_port, None);
        let route = Route {
            connect_to: vec![any],
            ..Route::default()
        };
        assert_eq!(route.connect_to("x", 80), ("other", 80));
        for text in ["example.com:443:[::1]:8443", "::other:", "h:1::2"] {
            let parsed: ConnectTo = text.parse().unwrap();
            assert_eq!(parsed.to_string(), text);
        }
        for bad in ["a:1:b", "a:x:b:2", "a:1:b:2:3"] {
            assert!(bad.parse::<ConnectTo>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_family_the_url_address_is_not_of_is_refused_up_front() {
        let v6 = Route {
            family: Some(IpFamily::V6),
            ..Route::default()
        };
        let v4_ip = Some("127.0.0.1".parse().unwrap());
        assert!(matches!(
            v6.check(v4_ip, false),
            Err(RouteError::FamilyOfAddress { flag: "-6", .. })
        ));
        assert!(v6.check(None, false).is_ok());
        assert!(v6.check(Some("::1".parse().unwrap()), false).is_ok());
        let tunnelled = Route {
            connect_to: vec!["::h:".parse().unwrap()],
            ..Route::default()
        };
        assert_eq!(
            tunnelled.check(None, true),
            Err(RouteError::ConnectToWithProxy)
        );
    }

    #[test]
    fn several_resolves_for_one_name_are_one_route_per_node() {
        let route = Route {
            resolve: [
                "n.test:80:127.0.0.1",
                "N.test:80:127.0.0.2",
                "o.test:80:127.0.0.3",
            ]
            .iter()
            .map(|r| r.parse().unwrap())
            .collect(),
            ..Route::default()
        };
        let nodes = route.per_node("n.test", 80).unwrap();
        assert_eq!(nodes.len(), 2);
        assert_eq!(
            nodes[1].resolve("n.test", 80),
            Some(["127.0.0.2".parse::<IpAddr>().unwrap()].as_slice())
        );
        assert!(nodes[1].resolve("o.test", 80).is_some());
        assert!(route.per_node("o.test", 80).is_none());
    }
}
