//! How many processes and local source addresses a ramp needs on this
//! machine: pure arithmetic on the machine's limits, which are read once.
//!
//! One process can hold at most its open-file hard limit of sockets (20,000
//! on the machines this was built on, and not raisable even by root), and
//! one source address can reach one server address from at most as many
//! ports as `net.ipv4.ip_local_port_range` holds (32768–60999: 28,232).

use std::net::{IpAddr, Ipv4Addr};

use wsdoctor_evidence::ConfigError;

/// Files a load process needs besides its connections (runtime, stdio,
/// the events file, resolver, TLS roots), and the share of the limit kept
/// free so a ramp ends on its plan, not on the last descriptor.
const FD_OVERHEAD: u64 = 128;
const FD_USABLE_SHARE: f64 = 0.9;

/// The share of the ephemeral port range one source address is given. The
/// kernel searches for a free port on every connect, and the search gets
/// slower as the range fills: measured here (bench/load), 15,000 connections
/// from one address cost 440 µs of kernel time each and handshakes up to
/// 2.5 s, spread over 30 addresses 136 µs and 49 ms. An eighth of the range
/// (about 3,500 ports) keeps the search cheap.
const PORTS_USABLE_SHARE: f64 = 0.125;

/// The most processes or source addresses chosen automatically; more is a
/// mistake in the inputs, not a plan.
const MAX_AUTO: u64 = 1024;

/// Below this open-file hard limit, processes are not multiplied on their
/// own: a limit this low is a setting to raise (`ulimit -n`), and the ramp
/// then reports it as the generator's limit instead of starting hundreds of
/// processes.
const MIN_HARD_FOR_AUTO: u64 = 1024;

/// The open-file limits of this process: (soft, hard). `None` when unlimited
/// or unknown.
pub fn nofile_limits() -> Option<(u64, u64)> {
    rlimit::Resource::NOFILE
        .get()
        .ok()
        .filter(|(_, hard)| *hard != rlimit::INFINITY)
}

/// How many connections one process can hold under an open-file hard limit.
pub fn connections_per_process(nofile_hard: u64) -> u64 {
    ((nofile_hard as f64 * FD_USABLE_SHARE) as u64)
        .saturating_sub(FD_OVERHEAD)
        .max(1)
}

/// How many processes `connections` need under an open-file hard limit
/// (1 when they fit, when the limit is unknown, or when it is so low that
/// raising it is the fix).
pub fn processes_needed(connections: u64, nofile_hard: Option<u64>) -> u32 {
    let Some(hard) = nofile_hard.filter(|h| *h >= MIN_HARD_FOR_AUTO) else {
        return 1;
    };
    let n = connections
        .div_ceil(connections_per_process(hard))
        .clamp(1, MAX_AUTO);
    u32::try_from(n).unwrap_or(1)
}

/// How many ephemeral ports one source address has towards one server
/// address (`net.ipv4.ip_local_port_range`; read with the machine's other
/// limits in [`crate::machine`]).
pub fn ephemeral_ports() -> u64 {
    crate::machine::ephemeral_ports()
}

/// How many source addresses `connections` to one server address need.
pub fn source_addresses_needed(connections: u64, ephemeral_ports: u64) -> u64 {
    let per_address = ((ephemeral_ports as f64 * PORTS_USABLE_SHARE) as u64).max(1);
    connections.div_ceil(per_address).clamp(1, MAX_AUTO)
}

/// Whether spreading over 127.0.0.x source addresses can help: the target is
/// a loopback address, so any 127/8 address reaches it.
pub fn is_loopback(ip: Option<IpAddr>) -> bool {
    ip.is_some_and(|ip| ip.is_loopback() && ip.is_ipv4())
}

/// `count` loopback source addresses from 127.0.0.2 on (127.0.0.1 stays the
/// default source of everything else on the machine).
pub fn loopback_sources(count: u64) -> Vec<IpAddr> {
    let first = u32::from(Ipv4Addr::new(127, 0, 0, 2));
    (0..u32::try_from(count.min(MAX_AUTO)).unwrap_or(0))
        .map(|i| IpAddr::V4(Ipv4Addr::from(first + i)))
        .collect()
}

/// Cuts `ips` into `parts` contiguous slices, as even as possible, so each
/// process of a `--procs` run has addresses of its own. When there are fewer
/// addresses than parts, parts share them round robin (the kernel still
/// keeps their ports apart; only the ports per address are shared).
pub fn split_sources(ips: &[IpAddr], parts: u32) -> Vec<Vec<IpAddr>> {
    let parts = usize::try_from(parts.max(1)).unwrap_or(1);
    if ips.is_empty() {
        return vec![Vec::new(); parts];
    }
    if ips.len() < parts {
        return (0..parts).map(|i| vec![ips[i % ips.len()]]).collect();
    }
    let (base, extra) = (ips.len() / parts, ips.len() % parts);
    let mut out = Vec::with_capacity(parts);
    let mut at = 0;
    for i in 0..parts {
        let len = base + usize::from(i < extra);
        out.push(ips[at..at + len].to_vec());
        at += len;
    }
    out
}

/// Renders addresses as `first-last` when they are consecutive IPv4, the
/// form `--source-ips` takes.
pub fn describe_sources(ips: &[IpAddr]) -> String {
    match (ips.first(), ips.last()) {
        (Some(a), Some(b)) if ips.len() > 1 => format!("{a}-{b}"),
        (Some(a), _) => a.to_string(),
        _ => String::new(),
    }
}

/// The addresses of `--source-ips`: `127.0.0.2-127.0.0.40` or a single
/// address; 1 to 1025 of them, first to last (more would be a typo, and a
/// range is expanded into a list).
pub fn parse_source_range(text: &str) -> Result<Vec<IpAddr>, ConfigError> {
    let (first, last) = text.split_once('-').unwrap_or((text, text));
    let address = |part: &str| {
        part.trim()
            .parse::<Ipv4Addr>()
            .map_err(|e| ConfigError::Unreadable {
                text: wsdoctor_evidence::escape_peer(part),
                expected: "an IPv4 address",
                why: e.to_string(),
            })
    };
    let (a, b) = (u32::from(address(first)?), u32::from(address(last)?));
    if b < a || b - a > 1024 {
        return Err(ConfigError::Rule {
            setting: "--source-ips",
            rule: "must be a range of 1 to 1025 addresses, first to last",
        });
    }
    Ok((a..=b).map(|n| IpAddr::V4(Ipv4Addr::from(n))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_for_a_20000_file_limit() {
        assert_eq!(connections_per_process(20_000), 17_872);
        assert_eq!(processes_needed(10_000, Some(20_000)), 1);
        assert_eq!(processes_needed(17_872, Some(20_000)), 1);
        assert_eq!(processes_needed(17_873, Some(20_000)), 2);
        assert_eq!(processes_needed(100_000, Some(20_000)), 6);
        assert_eq!(processes_needed(100_000, None), 1);
        assert_eq!(processes_needed(200, Some(100)), 1);
        assert_eq!(processes_needed(4000, Some(4096)), 2);
        assert_eq!(processes_needed(900, Some(1024)), 2);
        assert_eq!(processes_needed(900, Some(1023)), 1);
    }

    #[test]
    fn source_addresses_for_the_default_port_range() {
        let ports = crate::machine::parse_port_range("32768\t60999\n").unwrap_or(0);
        assert_eq!(ports, 28_232);
        assert_eq!(source_addresses_needed(3_000, ports), 1);
        assert_eq!(source_addresses_needed(3_529, ports), 1);
        assert_eq!(source_addresses_needed(3_530, ports), 2);
        assert_eq!(source_addresses_needed(20_000, ports), 6);
        assert_eq!(source_addresses_needed(100_000, ports), 29);
        assert_eq!(crate::machine::parse_port_range("9 2"), None);
        assert!(is_loopback("127.0.0.1".parse().ok()));
        assert!(!is_loopback("10.0.0.1".parse().ok()));
        assert!(!is_loopback(None));
    }

    #[test]
    fn addresses_are_split_between_processes() {
        let ips = loopback_sources(5);
        assert_eq!(describe_sources(&ips), "127.0.0.2-127.0.0.6");
        let parts = split_sources(&ips, 2);
        assert_eq!(parts[0].len(), 3);
        assert_eq!(parts[1].len(), 2);
        assert_eq!(describe_sources(&parts[1]), "127.0.0.5-127.0.0.6");
        let shared = split_sources(&ips[..2], 3);
        assert_eq!(shared.len(), 3);
        assert!(shared.iter().all(|p| p.len() == 1));
        assert!(split_sources(&[], 2).iter().all(Vec::is_empty));
    }
}
