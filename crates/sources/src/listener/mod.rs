//! The listen queue of a server on this machine, and the kernel's count of
//! the connections a full one turned away.
//!
//! A listening socket's accept backlog is what the server passed to
//! `listen()`, capped by `net.core.somaxconn` at that moment; `ss -ltn`
//! shows it as Send-Q. `/proc/net/tcp` does not carry it, so it is asked of
//! the kernel over `NETLINK_SOCK_DIAG` (what `ss` itself does), through the
//! rust-netlink crates. Knowing it tells a server that asked for a short
//! queue (Node's default 511, Python asyncio's 100) from a machine whose
//! `somaxconn` capped a longer one: the two have different fixes.
//!
//! `TcpExtListenOverflows` in `/proc/net/netstat` counts, machine-wide, the
//! times a full accept queue dropped a handshake's last ACK (or a SYN): each
//! costs that client a retransmit, 1 s and more. `TCPSynRetrans` counts the
//! SYNs this machine sent again: with the target elsewhere, the sign that
//! its side (or something in front of it) let SYNs go unanswered.
//!
//! Elsewhere than Linux, or when the kernel will not answer, everything is
//! `None`: no claim is made on a guess.

use std::net::{IpAddr, SocketAddr};

use wsdoctor_evidence::machine::TargetListener;

mod diag;
mod sampler;

pub use sampler::QueueSampler;

/// One listening socket, as the kernel reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Listening {
    pub(crate) address: SocketAddr,
    /// Its accept backlog (`idiag_wqueue` for a listener).
    pub(crate) backlog: u64,
    /// Connections waiting in its accept queue now (`idiag_rqueue`).
    pub(crate) queued: u64,
    /// Its inode, which names it among a process's open files.
    pub(crate) inode: u32,
}

/// The listening sockets that accept connections to `target` and their
/// backlog, with the program that holds them, or `None` when there is none
/// or the kernel cannot be asked.
pub fn target_listener(target: SocketAddr) -> Option<TargetListener> {
    let listening = diag::SockDiag::open()?.listening_both()?;
    let (mut listener, inode) = pick_listener(target, &listening)?;
    if let Some((pid, program)) = holders_of(&[inode].into()).remove(&inode) {
        listener.pid = Some(pid);
        listener.program = Some(program);
    }
    Some(listener)
}

/// Of the listening sockets, the ones that take connections to `target`:
/// bound to its address itself, or else to the unspecified address of
/// either family. With `SO_REUSEPORT` several share the port, each with its
/// own queue; the shortest one is reported, with its inode.
fn pick_listener(target: SocketAddr, listening: &[Listening]) -> Option<(TargetListener, u32)> {
    let on_port = || {
        listening
            .iter()
            .filter(|l| l.address.port() == target.port())
    };
    let exact: Vec<_> = on_port()
        .filter(|l| same_ip(l.address.ip(), target.ip()))
        .collect();
    let chosen = if exact.is_empty() {
        on_port()
            .filter(|l| l.address.ip().is_unspecified())
            .collect()
    } else {
        exact
    };
    let shortest = chosen.iter().min_by_key(|l| l.backlog)?;
    Some((
        TargetListener {
            address: shortest.address.to_string(),
            backlog: shortest.backlog,
            sockets: chosen.len() as u64,
            pid: None,
            program: None,
        },
        shortest.inode,
    ))
}

/// Open files looked at, across all processes, before giving up on finding
/// a socket's holder: a machine holding a million sockets is not scanned.
const MAX_FILES_SCANNED: usize = 200_000;

/// The process holding each socket of `inodes` open, and its program name
/// (`/proc/PID/comm`), found as `ss -p` finds them: by the `socket:[INODE]`
/// links among each process's open files, in one pass that stops when all
/// are found or [`MAX_FILES_SCANNED`] files were looked at. Processes this
/// one may not look into (another user's, without root) are passed over.
pub(crate) fn holders_of(
    inodes: &std::collections::BTreeSet<u32>,
) -> std::collections::BTreeMap<u32, (u32, String)> {
    let mut found = std::collections::BTreeMap::new();
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return found;
    };
    let mut scanned = 0usize;
    for process in processes.flatten() {
        let Some(pid) = process
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(files) = std::fs::read_dir(process.path().join("fd")) else {
            continue;
        };
        for file in files.flatten() {
            scanned += 1;
            if scanned > MAX_FILES_SCANNED || found.len() == inodes.len() {
                return found;
            }
            let Some(inode) = std::fs::read_link(file.path())
                .ok()
                .as_deref()
                .and_then(|link| link.to_str())
                .and_then(socket_inode)
            else {
                continue;
            };
            if inodes.contains(&inode) && !found.contains_key(&inode) {
                if let Ok(comm) = std::fs::read_to_string(process.path().join("comm")) {
                    found.insert(inode, (pid, comm.trim_end().to_owned()));
                }
            }
        }
    }
    found
}

/// `socket:[1234]` → 1234.
fn socket_inode(link: &str) -> Option<u32> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Equal addresses, an IPv4 one and its IPv4-mapped IPv6 form included.
fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

/// The kernel's TCP handshake counters now, since boot: (`ListenOverflows`,
/// times a full accept queue here turned a handshake away; `TCPSynRetrans`,
/// SYNs and SYN-ACKs sent again for want of an answer).
pub fn handshake_counters() -> (Option<u64>, Option<u64>) {
    let Ok(text) = std::fs::read_to_string("/proc/net/netstat") else {
        return (None, None);
    };
    (
        netstat_counter(&text, "TcpExt", "ListenOverflows"),
        netstat_counter(&text, "TcpExt", "TCPSynRetrans"),
    )
}

/// One counter of `/proc/net/netstat`: each group is two lines, the names
/// and then the values, both starting with `Group:`.
fn netstat_counter(text: &str, group: &str, name: &str) -> Option<u64> {
    let prefix = format!("{group}:");
    let mut lines = text.lines().filter(|l| l.starts_with(&prefix));
    let names = lines.next()?;
    let values = lines.next()?;
    let at = names.split_whitespace().position(|n| n == name)?;
    values.split_whitespace().nth(at)?.parse().ok()
}

#[cfg(test)]
pub(super) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_listener_of_a_target() {
        let listening: Vec<Listening> = [
            ("0.0.0.0:22", 128),
            ("127.0.0.1:8080", 511),
            ("[::]:9000", 100),
            ("0.0.0.0:7000", 4096),
            ("0.0.0.0:7000", 1024),
            ("127.0.0.2:6000", 64),
        ]
        .iter()
        .enumerate()
        .map(|(i, (a, backlog))| Listening {
            address: addr(a),
            backlog: *backlog,
            queued: 0,
            inode: i as u32,
        })
        .collect();
        // (target, expected (address, backlog, sockets, inode))
        let cases = [
            ("127.0.0.1:8080", Some(("127.0.0.1:8080", 511, 1, 1))),
            ("127.0.0.1:9000", Some(("[::]:9000", 100, 1, 2))),
            ("[::1]:9000", Some(("[::]:9000", 100, 1, 2))),
            ("127.0.0.1:7000", Some(("0.0.0.0:7000", 1024, 2, 4))),
            ("127.0.0.1:6000", None),
            ("127.0.0.1:1", None),
        ];
        for (target, expected) in cases {
            let got = pick_listener(addr(target), &listening)
                .map(|(l, inode)| (l.address, l.backlog, l.sockets, inode));
            let expected = expected.map(|(a, b, n, i)| (a.to_owned(), b, n, i));
            assert_eq!(got, expected, "{target}");
        }
    }

    #[test]
    fn a_socket_link_names_its_inode() {
        assert_eq!(socket_inode("socket:[1234]"), Some(1234));
        assert_eq!(socket_inode("pipe:[1234]"), None);
        assert_eq!(socket_inode("socket:[12x]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
    }

    #[test]
    fn a_netstat_counter_by_name() {
        let text = "TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows ListenDrops\n\
                    TcpExt: 0 0 17 19\n\
                    IpExt: InNoRoutes ListenOverflows\n\
                    IpExt: 5 99\n";
        assert_eq!(netstat_counter(text, "TcpExt", "ListenOverflows"), Some(17));
        assert_eq!(netstat_counter(text, "TcpExt", "ListenDrops"), Some(19));
        assert_eq!(netstat_counter(text, "IpExt", "ListenOverflows"), Some(99));
        assert_eq!(netstat_counter(text, "TcpExt", "Missing"), None);
        assert_eq!(
            netstat_counter("TcpExt: ListenOverflows\n", "TcpExt", "ListenOverflows"),
            None
        );
        assert_eq!(
            netstat_counter(
                "TcpExt: ListenOverflows\nTcpExt: x\n",
                "TcpExt",
                "ListenOverflows"
            ),
            None
        );
    }

    /// A socket listening on 127.0.0.1 with `backlog`, and its address.
    #[cfg(target_os = "linux")]
    pub(super) fn listening_with(backlog: i32) -> (socket2::Socket, SocketAddr) {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.bind(&addr("127.0.0.1:0").into()).unwrap();
        socket.listen(backlog).unwrap();
        let bound = socket.local_addr().unwrap().as_socket().unwrap();
        (socket, bound)
    }

    /// The kernel is asked for real: a listener this test opens with a
    /// backlog of 7 is found with it.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_kernel_reports_a_listeners_backlog() {
        let (socket, bound) = listening_with(7);
        let found = target_listener(bound).unwrap();
        assert_eq!(
            (found.address, found.backlog, found.sockets),
            (bound.to_string(), 7, 1)
        );
        drop(socket);
        assert_eq!(target_listener(bound), None);
        let (overflows, syn_retransmits) = handshake_counters();
        assert!(overflows.is_some() && syn_retransmits.is_some());
    }
}
