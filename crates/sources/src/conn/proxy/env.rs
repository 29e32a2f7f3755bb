//! Choosing the proxy from the environment as curl does, as a pure function
//! over the variables (the CLI passes `std::env::vars()`; tests a table).
//!
//! `wss://` reads `https_proxy`/`HTTPS_PROXY`, `ws://` reads
//! `http_proxy`/`HTTP_PROXY`, then both fall back to `all_proxy`/`ALL_PROXY`;
//! lower case first, as curl. `no_proxy`/`NO_PROXY` lists hosts that go
//! direct: `*`, domain suffixes with or without a leading dot, IP addresses
//! and CIDR ranges. Like curl, loopback is not excluded unless listed.

use std::collections::HashMap;
use std::net::IpAddr;

use super::{ForwardProxy, ProxyError};
use crate::conn::Target;

/// The first non-empty variable of `names`, with its name.
fn first_set<'a>(
    env: &'a HashMap<String, String>,
    names: &[&'a str],
) -> Option<(&'a str, &'a str)> {
    names.iter().find_map(|name| {
        env.get(*name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(|v| (*name, v))
    })
}

/// The proxy the environment asks for to reach `target`, if any.
pub fn from_env(
    target: &Target,
    env: &HashMap<String, String>,
) -> Result<Option<ForwardProxy>, ProxyError> {
    let scheme_vars: [&str; 2] = if target.secure {
        ["https_proxy", "HTTPS_PROXY"]
    } else {
        ["http_proxy", "HTTP_PROXY"]
    };
    let Some((name, url)) =
        first_set(env, &scheme_vars).or_else(|| first_set(env, &["all_proxy", "ALL_PROXY"]))
    else {
        return Ok(None);
    };
    if let Some((_, list)) = first_set(env, &["no_proxy", "NO_PROXY"]) {
        if no_proxy_matches(list, &target.host, target.ip) {
            return Ok(None);
        }
    }
    ForwardProxy::parse(url, name).map(Some)
}

/// True when the `NO_PROXY` list says `host` goes direct.
pub fn no_proxy_matches(list: &str, host: &str, ip: Option<IpAddr>) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    list.split([',', ' ', '\t'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| entry_matches(entry, &host, ip))
}

fn entry_matches(entry: &str, host: &str, ip: Option<IpAddr>) -> bool {
    if entry == "*" {
        return true;
    }
    if let Some((net, bits)) = entry.split_once('/') {
        let net = net.trim_start_matches('[').trim_end_matches(']');
        return match (ip, net.parse::<IpAddr>(), bits.parse::<u8>()) {
            (Some(ip), Ok(net), Ok(bits)) => in_cidr(ip, net, bits),
            _ => false,
        };
    }
    let bare = entry.trim_start_matches('[').trim_end_matches(']');
    if let Ok(listed) = bare.parse::<IpAddr>() {
        return ip == Some(listed);
    }
    let domain = entry
        .trim_start_matches("*.")
        .trim_start_matches('.')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    !domain.is_empty()
        && (host == domain
            || host
                .strip_suffix(domain.as_str())
                .is_some_and(|rest| rest.ends_with('.')))
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}
