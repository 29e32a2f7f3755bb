//! How many bytes the kernel still holds for one of our TCP sockets.
//!
//! When the peer stops reading, the bytes we wrote sit in our kernel's send
//! queue: the peer's receive window is closed, so nothing is acknowledged.
//! Our own write queue may be empty by then (the kernel took everything), so
//! only the kernel can say "the peer is not reading". Linux shows each
//! socket's queues in `/proc/net/tcp` and `/proc/net/tcp6` (`tx_queue` is
//! `write_seq - snd_una`: bytes written and not yet acknowledged); the
//! socket is found by its inode, read from `/proc/self/fd`. Reading two text
//! files needs no `unsafe` (a `TCP_INFO` getsockopt would), and `ss` reads
//! the same numbers. Elsewhere than Linux the answer is `None`: unknown,
//! never "empty".
//!
//! One socket's answer reads the whole table, fine for a probe; the hold
//! pool's close-all, which may hold a million sockets, reads the table once
//! for all of them ([`unacknowledged_by_inode`]).

use std::collections::HashMap;
use std::io::BufRead as _;
use std::os::fd::AsRawFd;

/// A socket's kernel queues, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelQueues {
    /// Written by us, not yet acknowledged by the peer.
    pub unacknowledged: u64,
    /// Received from the peer, not yet read by us.
    pub unread: u64,
}

/// The kernel's queues of `socket`, or `None` when they cannot be read
/// (not Linux, `/proc` not mounted, the socket already gone).
pub fn kernel_queues(socket: &impl AsRawFd) -> Option<KernelQueues> {
    let inode = inode_of(socket)?;
    TABLES.iter().find_map(|table| {
        let text = std::fs::read_to_string(table).ok()?;
        queues_in_table(&text, inode)
    })
}

/// The kernel's TCP tables: IPv4, IPv6.
const TABLES: [&str; 2] = ["/proc/net/tcp", "/proc/net/tcp6"];

/// The inode of a socket, from its `/proc/self/fd` link (one `readlink`),
/// or `None` when it cannot be read.
pub fn inode_of(socket: &impl AsRawFd) -> Option<u64> {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", socket.as_raw_fd())).ok()?;
    socket_inode(link.to_str()?)
}

/// Every TCP socket of the machine's network namespace (both tables) that
/// holds unacknowledged bytes, by inode: one pass over the tables, for any
/// number of sockets. A table lists every TCP socket of the namespace
/// (about 150 bytes each: 150 MB at a million), so it is read line by line,
/// never whole, and only sockets with bytes held are kept: each of those
/// costs the kernel at least a buffer of its own, so the map stays a small
/// fraction of what the kernel already spends on them. `None` when neither
/// table could be read (not Linux, no `/proc`).
///
/// Past [`MAX_TABLE_ROWS`] sockets the tables are not read at all (`None`):
/// the kernel builds each row on demand, ~1.5 µs of system time apiece
/// (0.43 s for 280,000 rows here), and every process of a `--procs` load
/// would pay it at once, at a million sockets for minutes of CPU during
/// the close. The count comes from `/proc/net/sockstat`, one short line.
pub fn unacknowledged_by_inode() -> Option<HashMap<u64, u64>> {
    if tcp_sockets().is_none_or(|rows| rows > MAX_TABLE_ROWS) {
        return None;
    }
    let mut held = HashMap::new();
    let mut read_any = false;
    for table in TABLES {
        let Ok(file) = std::fs::File::open(table) else {
            continue;
        };
        read_any = true;
        // The first line is the header, which does not parse as a row.
        for line in std::io::BufReader::new(file).lines() {
            let Ok(line) = line else { break };
            if let Some((inode, queues)) = parse_row(&line) {
                if queues.unacknowledged > 0 {
                    held.insert(inode, queues.unacknowledged);
                }
            }
        }
    }
    read_any.then_some(held)
}

/// The most TCP sockets (the tables' rows, `TIME_WAIT` included) for which
/// [`unacknowledged_by_inode`] reads the tables: about 0.3 s of the
/// kernel's time.
pub const MAX_TABLE_ROWS: u64 = 200_000;

/// TCP sockets of the namespace, `TIME_WAIT` included (the tables list
/// those too), from `/proc/net/sockstat`'s `TCP: inuse N … tw M` line.
fn tcp_sockets() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/sockstat").ok()?;
    sockets_in_sockstat(&text)
}

fn sockets_in_sockstat(text: &str) -> Option<u64> {
    Some(sockstat_tcp_field(text, "inuse")? + sockstat_tcp_field(text, "tw").unwrap_or(0))
}

/// One number of `/proc/net/sockstat`'s `TCP:` line (`inuse`, `tw`, `mem`…),
/// or `None` when the line or the field is missing.
pub fn sockstat_tcp_field(sockstat: &str, name: &str) -> Option<u64> {
    let line = sockstat.lines().find(|l| l.starts_with("TCP:"))?;
    let mut words = line.split_whitespace();
    words.find(|w| *w == name)?;
    words.next()?.parse().ok()
}

/// The inode of a `/proc/self/fd` link to a socket: `socket:[12345]`.
fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Finds the row of `inode` in a `/proc/net/tcp{,6}` table and reads its
/// `tx_queue:rx_queue` column (hexadecimal). Rows that do not parse are
/// skipped: the format is the kernel's, and a row we cannot read is not ours.
fn queues_in_table(table: &str, inode: u64) -> Option<KernelQueues> {
    table
        .lines()
        .skip(1)
        .filter_map(parse_row)
        .find_map(|(row_inode, queues)| (row_inode == inode).then_some(queues))
}

/// One row of a `/proc/net/tcp{,6}` table: its inode and queues.
fn parse_row(row: &str) -> Option<(u64, KernelQueues)> {
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode …
    let mut columns = row.split_whitespace();
    let (tx, rx) = columns.nth(4)?.split_once(':')?;
    let inode = columns.nth(4)?.parse::<u64>().ok()?;
    let queues = KernelQueues {
        unacknowledged: u64::from_str_radix(tx, 16).ok()?,
        unread: u64::from_str_radix(rx, 16).ok()?,
    };
    Some((inode, queues))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TABLE: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:A1B2 0100007F:1F90 01 0001F4A0:00000010 01:00000014 00000000  1000        0 777 3 0000000000000000 20 4 30 10 -1
   2: garbage row
";

    #[test]
    fn a_row_is_found_by_its_inode_and_its_queues_read_as_hex() {
        assert_eq!(
            queues_in_table(TABLE, 777),
            Some(KernelQueues {
                unacknowledged: 0x1F4A0,
                unread: 0x10
            })
        );
        assert_eq!(
            queues_in_table(TABLE, 4242),
            Some(KernelQueues {
                unacknowledged: 0,
                unread: 0
            })
        );
    }

    #[test]
    fn sockstat_counts_sockets_in_use_and_in_time_wait() {
        let text = "sockets: used 9\nTCP: inuse 200021 orphan 0 tw 80854 alloc 200023 mem 433\nUDP: inuse 1 mem 0\n";
        assert_eq!(sockets_in_sockstat(text), Some(280_875));
        assert_eq!(sockets_in_sockstat("TCP: inuse 7 orphan 0\n"), Some(7));
        assert_eq!(sockets_in_sockstat("UDP: inuse 1\n"), None);
        assert_eq!(sockets_in_sockstat("TCP: inuse lots\n"), None);
    }

    #[test]
    fn an_unknown_inode_or_a_bad_table_is_none() {
        assert_eq!(queues_in_table(TABLE, 1), None);
        assert_eq!(queues_in_table("", 777), None);
        assert_eq!(queues_in_table("header\n 0: a b c zz:yy", 777), None);
    }

    #[test]
    fn socket_links_are_read_and_other_links_are_not() {
        assert_eq!(socket_inode("socket:[12345]"), Some(12345));
        assert_eq!(socket_inode("pipe:[12345]"), None);
        assert_eq!(socket_inode("socket:[]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
    }

    /// A real socket whose peer never reads: what we write stays queued in
    /// our kernel once the peer's receive buffer is full.
    #[cfg(target_os = "linux")]
    #[test]
    fn bytes_a_silent_peer_does_not_read_stay_in_our_send_queue() {
        use std::io::Write;
        use std::net::{TcpListener, TcpStream};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut ours = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (theirs, _) = listener.accept().unwrap();
        assert_eq!(kernel_queues(&ours).map(|q| q.unacknowledged), Some(0));
        ours.set_nonblocking(true).unwrap();
        let chunk = [0u8; 64 * 1024];
        let mut written = 0usize;
        // Bounded: loopback buffers are a few MiB at most.
        for _ in 0..4096 {
            match ours.write(&chunk) {
                Ok(n) => written += n,
                Err(_) => break,
            }
        }
        let queued = kernel_queues(&ours).unwrap().unacknowledged;
        assert!(queued > 0, "wrote {written} bytes, none queued");
        // The whole-table read finds the same socket, and not the idle one.
        let table = unacknowledged_by_inode().unwrap();
        assert!(table.get(&inode_of(&ours).unwrap()).is_some_and(|q| *q > 0));
        assert_eq!(table.get(&inode_of(&theirs).unwrap()), None);
    }
}
