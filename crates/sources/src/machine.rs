//! This machine's limits for holding many connections, checked before a run
//! (`load`, `serve --procs`) against what it will need, and the kernel's own
//! memory per socket, sampled while connections are held.
//!
//! Everything is read from `/proc` (Linux). The `procfs` crate reads
//! `meminfo` but not `/proc/net/sockstat`, and each sysctl here is one line
//! of numbers, so the few fields are read here (as `memory.rs` reads VmRSS)
//! rather than adding a dependency for them. Elsewhere every fact is `None`
//! (unknown) and no check is made: never "fits" on a guess.
//!
//! The check itself ([`check`]) is pure arithmetic on [`MachineLimits`].

use wsdoctor_evidence::format_count;
use wsdoctor_evidence::machine::{
    listen_backlog_settings, KernelSample, MachineLimits, MachineResource, MachineShortfall,
    TargetListener,
};

/// What one idle connection costs in user space, as measured by
/// bench/load/idle100k.sh (generator ~750 B, serve ~1.5 KB at 100,000):
/// rounded up, so the check errs towards warning.
pub const GENERATOR_BYTES_PER_CONNECTION: u64 = 1024;
/// The same for `serve` (its record included).
pub const SERVE_BYTES_PER_CONNECTION: u64 = 2048;
/// What the kernel holds per idle TCP socket: slab for the socket, its
/// inode and dentry, the file and the epoll item. Measured here with 8,000
/// loopback pairs (Linux 6.18): 3.7 KB of slab per socket, 2.9 KB of it
/// unreclaimable, no TCP buffer pages while idle.
pub const KERNEL_BYTES_PER_SOCKET: u64 = 4096;
/// Files a process keeps open besides its connections.
const FILES_PER_PROCESS: u64 = 128;
/// Memory left to the rest of the machine: a run that needs all of
/// `MemAvailable` leaves the page cache and everything else nothing.
const MEMORY_USABLE_SHARE: f64 = 0.9;
/// How long a burst of new connections a listen queue should absorb while
/// the server accepts: at the ramp's rate, this much of it.
const BACKLOG_BURST_SECS: f64 = 0.05;

/// What a run will need of this machine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Need {
    /// Connections to hold at once.
    pub connections: u64,
    /// New connections per second at most.
    pub rate: f64,
    /// The target's end is on this machine too (a loopback target): each
    /// connection is two sockets, two files, and the server's memory.
    pub target_here: bool,
    /// Processes the generator runs as (0 for a server-only check).
    pub generator_processes: u64,
    /// Each connection sends messages: its socket holds buffered data at
    /// times, charged to `tcp_mem` at a page at least.
    pub sends_messages: bool,
    /// The accept backlog the server on this machine asks for (`serve`'s
    /// listen backlog), when it is known: `net.core.somaxconn` below it
    /// caps every listen queue of that server.
    pub server_backlog: Option<u64>,
}

/// Reads this machine's limits (`source_addresses` and `ephemeral_ports`
/// as the run will use them).
pub fn read_limits(source_addresses: u64, target_here: bool) -> MachineLimits {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    MachineLimits {
        file_max: read_numbers("/proc/sys/fs/file-max").and_then(|v| v.first().copied()),
        files_open: read_numbers("/proc/sys/fs/file-nr").and_then(|v| v.first().copied()),
        ephemeral_ports: ephemeral_ports(),
        source_addresses: source_addresses.max(1),
        mem_available_bytes: meminfo_bytes(&meminfo, "MemAvailable"),
        tcp_mem_pages: read_numbers("/proc/sys/net/ipv4/tcp_mem")
            .and_then(|v| Some([*v.first()?, *v.get(1)?, *v.get(2)?])),
        somaxconn: read_numbers("/proc/sys/net/core/somaxconn").and_then(|v| v.first().copied()),
        target_here,
        target_listener: None,
        shortfalls: Vec::new(),
    }
}

/// The Linux default range when /proc cannot be read: 32768–60999.
const DEFAULT_EPHEMERAL_PORTS: u64 = 60_999 - 32_768 + 1;

/// How many ephemeral ports one source address has towards one server
/// address (`net.ipv4.ip_local_port_range`).
pub fn ephemeral_ports() -> u64 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| parse_port_range(&text))
        .unwrap_or(DEFAULT_EPHEMERAL_PORTS)
}

pub(crate) fn parse_port_range(text: &str) -> Option<u64> {
    let mut parts = text.split_whitespace().map(str::parse::<u64>);
    let (lo, hi) = (parts.next()?.ok()?, parts.next()?.ok()?);
    (hi >= lo).then(|| hi - lo + 1)
}

/// The kernel's memory now, or `None` where `/proc` cannot tell.
pub fn kernel_sample() -> Option<KernelSample> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let sockstat = std::fs::read_to_string("/proc/net/sockstat").ok()?;
    let mut sample = parse_kernel_sample(&meminfo, &sockstat, page_size())?;
    (sample.listen_overflows, sample.syn_retransmits) = crate::listener::handshake_counters();
    Some(sample)
}

fn parse_kernel_sample(meminfo: &str, sockstat: &str, page: u64) -> Option<KernelSample> {
    let (tcp_sockets, tcp_pages) = sockstat_tcp(sockstat)?;
    Some(KernelSample {
        slab_bytes: meminfo_bytes(meminfo, "Slab")?,
        slab_unreclaimable_bytes: meminfo_bytes(meminfo, "SUnreclaim")?,
        tcp_sockets,
        tcp_buffer_bytes: tcp_pages.saturating_mul(page),
        listen_overflows: None,
        syn_retransmits: None,
    })
}

/// The page size `tcp_mem` and sockstat count in. 4 KiB on every Linux
/// this runs on; reading it would take `unsafe` (sysconf) for no change.
fn page_size() -> u64 {
    4096
}

fn read_numbers(path: &str) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(path).ok()?;
    let numbers: Vec<u64> = text
        .split_whitespace()
        .map_while(|w| w.parse().ok())
        .collect();
    (!numbers.is_empty()).then_some(numbers)
}

/// A `/proc/meminfo` field (`Slab:   1047716 kB`) in bytes.
fn meminfo_bytes(meminfo: &str, key: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.split(':').next() == Some(key))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// `TCP: inuse 1 orphan 0 tw 0 alloc 1 mem 108` → (inuse, mem pages).
fn sockstat_tcp(sockstat: &str) -> Option<(u64, u64)> {
    let field = |name| wsdoctor_wire_io::kernel_queue::sockstat_tcp_field(sockstat, name);
    Some((field("inuse")?, field("mem")?))
}

/// What `need` would take of `limits`, resource by resource; each one it
/// does not fit in is returned with the setting to change.
pub fn check(limits: &MachineLimits, need: &Need) -> Vec<MachineShortfall> {
    let mut out = Vec::new();
    let sockets_per_conn = if need.target_here { 2 } else { 1 };
    let sockets = need.connections.saturating_mul(sockets_per_conn);
    if let (Some(max), Some(open)) = (limits.file_max, limits.files_open) {
        let free = max.saturating_sub(open);
        let needed = sockets + need.generator_processes * FILES_PER_PROCESS;
        if needed > free {
            out.push(MachineShortfall {
                resource: MachineResource::FileMax,
                needed,
                available: free,
                fits_connections: free / sockets_per_conn,
                setting: format!(
                    "sysctl -w fs.file-max={}",
                    round_up(open + needed + needed / 10)
                ),
                detail: format!(
                    "{} connections need {} files{}, and this machine allows {} more (fs.file-max {}, {} open now)",
                    format_count(need.connections),
                    format_count(needed),
                    if need.target_here { " (both ends are on this machine)" } else { "" },
                    format_count(free),
                    format_count(max),
                    format_count(open)
                ),
            });
        }
    }
    if let Some(s) = ports_shortfall(limits, need) {
        out.push(s);
    }
    if let Some(s) = memory_shortfall(limits, need, sockets) {
        out.push(s);
    }
    if let Some(s) = tcp_mem_shortfall(limits, need, sockets) {
        out.push(s);
    }
    if let Some(s) = backlog_shortfall(limits, need) {
        out.push(s);
    }
    out
}

fn ports_shortfall(limits: &MachineLimits, need: &Need) -> Option<MachineShortfall> {
    if need.generator_processes == 0 {
        return None;
    }
    let available = limits
        .ephemeral_ports
        .saturating_mul(limits.source_addresses);
    (need.connections > available).then(|| MachineShortfall {
        resource: MachineResource::EphemeralPorts,
        needed: need.connections,
        available,
        fits_connections: available,
        setting: "--source-ips FIRST-LAST (more local addresses), or sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\"".to_owned(),
        detail: format!(
            "{} connections to one server address need as many local ports; {} source address(es) × {} ephemeral ports (net.ipv4.ip_local_port_range) give {}",
            format_count(need.connections),
            limits.source_addresses,
            format_count(limits.ephemeral_ports),
            format_count(available)
        ),
    })
}

fn memory_shortfall(limits: &MachineLimits, need: &Need, sockets: u64) -> Option<MachineShortfall> {
    let available = limits.mem_available_bytes?;
    let user = if need.generator_processes > 0 {
        GENERATOR_BYTES_PER_CONNECTION
    } else {
        0
    } + if need.target_here || need.generator_processes == 0 {
        SERVE_BYTES_PER_CONNECTION
    } else {
        0
    };
    let sockets_per_conn = sockets / need.connections.max(1);
    let per_connection = user + KERNEL_BYTES_PER_SOCKET * sockets_per_conn.max(1);
    let needed = need.connections.saturating_mul(per_connection);
    let usable = (available as f64 * MEMORY_USABLE_SHARE) as u64;
    (needed > usable).then(|| MachineShortfall {
        resource: MachineResource::Memory,
        needed,
        available,
        fits_connections: usable / per_connection.max(1),
        setting: "free memory on this machine, or fewer connections (-c) per machine with --shard I/N on several".to_owned(),
        detail: format!(
            "{} connections need about {} MiB ({} B each: {} B in user space, {} B of kernel per socket × {}), and {} MiB is available (MemAvailable)",
            format_count(need.connections),
            format_count(needed >> 20),
            format_count(per_connection),
            format_count(user),
            format_count(KERNEL_BYTES_PER_SOCKET),
            sockets_per_conn.max(1),
            format_count(available >> 20)
        ),
    })
}

fn tcp_mem_shortfall(
    limits: &MachineLimits,
    need: &Need,
    sockets: u64,
) -> Option<MachineShortfall> {
    let [_, pressure, max] = limits.tcp_mem_pages?;
    // An idle socket holds no buffer; one holding a message is charged at
    // least a page while the message waits.
    if !need.sends_messages || sockets <= pressure {
        return None;
    }
    Some(MachineShortfall {
        resource: MachineResource::TcpMem,
        needed: sockets,
        available: pressure,
        fits_connections: pressure / (sockets / need.connections.max(1)).max(1),
        setting: format!(
            "sysctl -w net.ipv4.tcp_mem=\"{} {} {}\"",
            round_up(sockets / 2),
            round_up(sockets),
            round_up(sockets.max(max) * 3 / 2)
        ),
        detail: format!(
            "{} sockets sending messages can each hold a page of buffers at once; net.ipv4.tcp_mem is {} pages before the kernel's memory pressure and {} at most",
            format_count(sockets),
            format_count(pressure),
            format_count(max)
        ),
    })
}

/// The server's listen queue against `net.core.somaxconn`: too short for
/// the ramp's arrivals, or shorter than the backlog the server asks for
/// (the first, when both).
fn backlog_shortfall(limits: &MachineLimits, need: &Need) -> Option<MachineShortfall> {
    if !need.target_here && need.generator_processes > 0 {
        return None;
    }
    let somaxconn = limits.somaxconn?;
    let burst = (need.rate * BACKLOG_BURST_SECS).ceil() as u64;
    if let Some(listener) = &limits.target_listener {
        return listener_shortfall(listener, somaxconn, burst, need);
    }
    if burst <= somaxconn {
        return asked_backlog_shortfall(somaxconn, need);
    }
    Some(MachineShortfall {
        resource: MachineResource::AcceptBacklog,
        needed: burst,
        available: somaxconn,
        fits_connections: need.connections,
        setting: format!("sysctl -w net.core.somaxconn={}", round_up(burst * 2)),
        detail: format!(
            "at {:.0} new connections a second, {} ms of arrivals is {} connections waiting to be accepted; net.core.somaxconn caps each listen queue at {} (a full queue costs a client a 1 s SYN retransmit), and the server's own listen backlog may be lower still (Node's default is 511; `ss -ltn` shows it as Send-Q)",
            need.rate,
            (BACKLOG_BURST_SECS * 1000.0) as u64,
            format_count(burst),
            format_count(somaxconn)
        ),
    })
}

/// The target's own listening socket (read from the kernel) too short for
/// the ramp's arrivals. Its backlog below `somaxconn` is the server's own
/// choice, and raising `somaxconn` would change nothing; at `somaxconn`,
/// both must grow, and the server must listen again for the new cap.
fn listener_shortfall(
    listener: &TargetListener,
    somaxconn: u64,
    burst: u64,
    need: &Need,
) -> Option<MachineShortfall> {
    if burst <= listener.backlog {
        return None;
    }
    let wanted = round_up(burst * 2);
    let sysctl = if wanted > somaxconn {
        format!("; and sysctl -w net.core.somaxconn={wanted}, which caps it")
    } else {
        String::new()
    };
    let whose = if listener.backlog < somaxconn {
        format!(
            "below net.core.somaxconn {}: the server asked for it",
            format_count(somaxconn)
        )
    } else {
        "net.core.somaxconn's cap when the server called listen()".to_owned()
    };
    let sockets = if listener.sockets > 1 {
        format!(" (each of {} sockets sharing the port)", listener.sockets)
    } else {
        String::new()
    };
    Some(MachineShortfall {
        resource: MachineResource::AcceptBacklog,
        needed: burst,
        available: listener.backlog,
        fits_connections: need.connections,
        setting: format!(
            "the server's listen backlog to {wanted} ({}){sysctl}, then restart the server",
            listen_backlog_settings(&wanted.to_string())
        ),
        detail: format!(
            "at {:.0} new connections a second, {} ms of arrivals is {} connections waiting to be accepted; the server listening on {} has an accept backlog of {}{sockets} (`ss -ltn` Send-Q), {whose} (a full queue costs a client a 1 s SYN retransmit)",
            need.rate,
            (BACKLOG_BURST_SECS * 1000.0) as u64,
            format_count(burst),
            listener.address,
            format_count(listener.backlog),
        ),
    })
}

/// The backlog the server asks for, when `net.core.somaxconn` caps it.
fn asked_backlog_shortfall(somaxconn: u64, need: &Need) -> Option<MachineShortfall> {
    let asked = need.server_backlog.filter(|b| *b > somaxconn)?;
    Some(MachineShortfall {
        resource: MachineResource::AcceptBacklog,
        needed: asked,
        available: somaxconn,
        fits_connections: need.connections,
        setting: format!("sysctl -w net.core.somaxconn={asked}"),
        detail: format!(
            "the server here asks for an accept backlog of {} and net.core.somaxconn caps each listen queue at {} (a burst of new connections past it waits for a 1 s SYN retransmit)",
            format_count(asked),
            format_count(somaxconn)
        ),
    })
}

/// Rounds up to two significant digits, for a setting people type.
fn round_up(n: u64) -> u64 {
    let mut unit = 1;
    while n / unit >= 100 {
        unit *= 10;
    }
    n.div_ceil(unit) * unit
}

/// One line for people: the shortfall and the setting to change.
pub fn describe(s: &MachineShortfall) -> String {
    // The accept backlog caps a burst, not how many connections are held:
    // every one still fits, some only after a SYN retransmit.
    if s.resource == MachineResource::AcceptBacklog {
        return format!(
            "new connections will wait at a listen queue: {}; change: {}",
            s.detail, s.setting
        );
    }
    format!(
        "this machine cannot hold it: {} — about {} connections fit; change: {}",
        s.detail,
        format_count(s.fits_connections),
        s.setting
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// This machine as it was measured: 2.46 M files, 24 GiB.
    fn limits(target_here: bool) -> MachineLimits {
        MachineLimits {
            file_max: Some(2_466_239),
            files_open: Some(937),
            ephemeral_ports: 28_232,
            source_addresses: 1,
            mem_available_bytes: Some(23_479_964 * 1024),
            tcp_mem_pages: Some([287_907, 383_877, 575_814]),
            somaxconn: Some(4096),
            target_here,
            target_listener: None,
            shortfalls: Vec::new(),
        }
    }

    fn need(connections: u64) -> Need {
        Need {
            connections,
            rate: 20_000.0,
            target_here: true,
            generator_processes: 56,
            sends_messages: false,
            server_backlog: None,
        }
    }

    fn kinds(v: &[MachineShortfall]) -> Vec<MachineResource> {
        v.iter().map(|s| s.resource).collect()
    }

    #[test]
    fn a_million_on_loopback_fits_here_with_enough_source_addresses() {
        let mut l = limits(true);
        l.source_addresses = 284;
        assert_eq!(check(&l, &need(1_000_000)), vec![]);
    }

    #[test]
    fn two_million_on_loopback_do_not_fit_in_file_max_or_memory() {
        let mut l = limits(true);
        l.source_addresses = 600;
        let out = check(&l, &need(2_000_000));
        assert_eq!(
            kinds(&out),
            vec![MachineResource::FileMax, MachineResource::Memory]
        );
        let files = &out[0];
        assert_eq!(files.needed, 4_000_000 + 56 * 128);
        assert_eq!(files.fits_connections, (2_466_239 - 937) / 2);
        assert_eq!(files.setting, "sysctl -w fs.file-max=4500000");
        assert!(
            describe(files).contains("fs.file-max 2,466,239"),
            "{}",
            describe(files)
        );
    }

    #[test]
    fn ports_and_backlog_and_tcp_mem() {
        let l = limits(true);
        let out = check(&l, &need(100_000));
        assert_eq!(kinds(&out), vec![MachineResource::EphemeralPorts]);
        assert_eq!(out[0].available, 28_232);
        let fast = Need {
            rate: 100_000.0,
            ..need(10_000)
        };
        assert_eq!(
            kinds(&check(&l, &fast)),
            vec![MachineResource::AcceptBacklog]
        );
        let mut many = limits(false);
        many.source_addresses = 600;
        let chatty = Need {
            sends_messages: true,
            target_here: false,
            ..need(500_000)
        };
        let out = check(&many, &chatty);
        assert_eq!(kinds(&out), vec![MachineResource::TcpMem]);
        assert_eq!(out[0].fits_connections, 383_877);
    }

    /// A server on this machine whose own listen backlog is short: its
    /// backlog is the fix, and somaxconn too only when it caps the backlog
    /// the fix asks for (npm ws listens with 511, python-websockets with 100).
    #[test]
    fn the_targets_own_listener_decides_the_backlog_fix() {
        // (what, backlog, sockets, rate, expected setting, detail contains)
        let cases = [
            ("fits", 511, 1, 10_000.0, None, ""),
            (
                "node's 511 under somaxconn 4096",
                511,
                1,
                20_000.0,
                Some("the server's listen backlog to 2000 (npm ws: new WebSocketServer({ port, backlog: 2000 }); Node: server.listen({ port, backlog: 2000 }); python-websockets: serve(..., backlog=2000); nginx: listen ... backlog=2000;), then restart the server"),
                "has an accept backlog of 511 (`ss -ltn` Send-Q), below net.core.somaxconn 4,096: the server asked for it",
            ),
            (
                "at the somaxconn cap, and the fix needs more than the cap",
                4096,
                1,
                100_000.0,
                Some("the server's listen backlog to 10000 (npm ws: new WebSocketServer({ port, backlog: 10000 }); Node: server.listen({ port, backlog: 10000 }); python-websockets: serve(..., backlog=10000); nginx: listen ... backlog=10000;); and sysctl -w net.core.somaxconn=10000, which caps it, then restart the server"),
                "net.core.somaxconn's cap when the server called listen()",
            ),
            (
                "reuseport: the shortest of two",
                100,
                2,
                5_000.0,
                Some("the server's listen backlog to 500 (npm ws: new WebSocketServer({ port, backlog: 500 }); Node: server.listen({ port, backlog: 500 }); python-websockets: serve(..., backlog=500); nginx: listen ... backlog=500;), then restart the server"),
                "backlog of 100 (each of 2 sockets sharing the port)",
            ),
        ];
        for (what, backlog, sockets, rate, setting, detail) in cases {
            let mut l = limits(true);
            l.target_listener = Some(TargetListener {
                address: "127.0.0.1:8080".to_owned(),
                backlog,
                sockets,
                pid: None,
                program: None,
            });
            let out = check(
                &l,
                &Need {
                    rate,
                    ..need(1_000)
                },
            );
            let backlog_fix = out
                .iter()
                .find(|s| s.resource == MachineResource::AcceptBacklog);
            assert_eq!(backlog_fix.map(|s| s.setting.as_str()), setting, "{what}");
            if let Some(s) = backlog_fix {
                assert!(s.detail.contains(detail), "{what}: {}", s.detail);
                assert_eq!(s.available, backlog, "{what}");
            }
        }
    }

    /// `serve` says the backlog it asks for through the check, as `load`
    /// says the arrivals' burst: one shortfall, the same words around it.
    #[test]
    fn a_servers_backlog_above_somaxconn_is_a_shortfall() {
        let l = limits(false);
        let serve = Need {
            connections: 40_000,
            rate: 0.0,
            target_here: false,
            generator_processes: 0,
            sends_messages: false,
            server_backlog: Some(8192),
        };
        let out = check(&l, &serve);
        assert_eq!(kinds(&out), vec![MachineResource::AcceptBacklog]);
        assert_eq!((out[0].needed, out[0].available), (8192, 4096));
        assert_eq!(out[0].setting, "sysctl -w net.core.somaxconn=8192");
        assert!(
            describe(&out[0]).contains(
                "accept backlog of 8,192 and net.core.somaxconn caps each listen queue at 4,096"
            ),
            "{}",
            describe(&out[0])
        );
        // A burst limit, not a capacity: nothing says fewer connections fit.
        assert!(
            describe(&out[0]).starts_with("new connections will wait at a listen queue: "),
            "{}",
            describe(&out[0])
        );
        assert!(!describe(&out[0]).contains("fit"), "{}", describe(&out[0]));
        let within = Need {
            server_backlog: Some(4096),
            ..serve
        };
        assert_eq!(check(&l, &within), vec![]);
        // A ramp's burst past somaxconn is said first, and only once.
        let fast = Need {
            rate: 100_000.0,
            ..serve
        };
        let out = check(&l, &fast);
        assert_eq!(kinds(&out), vec![MachineResource::AcceptBacklog]);
        assert_eq!(out[0].needed, 5_000);
    }

    #[test]
    fn unknown_facts_are_not_checked() {
        let blind = MachineLimits {
            ephemeral_ports: 28_232,
            source_addresses: 1_000,
            ..MachineLimits::default()
        };
        assert_eq!(check(&blind, &need(1_000_000)), vec![]);
    }

    #[test]
    fn proc_files_parse() {
        let meminfo = "MemTotal:       24683772 kB\nMemAvailable:   23479964 kB\nSlab:            1047716 kB\nSUnreclaim:       108480 kB\n";
        let sockstat =
            "sockets: used 22\nTCP: inuse 1 orphan 0 tw 0 alloc 1 mem 108\nUDP: inuse 0 mem 0\n";
        let s = parse_kernel_sample(meminfo, sockstat, 4096).unwrap();
        assert_eq!(s.slab_bytes, 1_047_716 * 1024);
        assert_eq!(s.slab_unreclaimable_bytes, 108_480 * 1024);
        assert_eq!((s.tcp_sockets, s.tcp_buffer_bytes), (1, 108 * 4096));
        assert_eq!(
            meminfo_bytes(meminfo, "MemAvailable"),
            Some(23_479_964 * 1024)
        );
        assert_eq!(meminfo_bytes(meminfo, "Mem"), None);
        assert_eq!(parse_kernel_sample(meminfo, "TCP: inuse x", 4096), None);
        #[cfg(target_os = "linux")]
        {
            assert!(kernel_sample().is_some());
            let here = read_limits(1, true);
            assert!(here.file_max.is_some() && here.mem_available_bytes.is_some());
        }
        assert_eq!(round_up(4_400_000), 4_400_000);
        assert_eq!(round_up(4_407_168), 4_500_000);
        assert_eq!(round_up(57), 57);
    }
}
