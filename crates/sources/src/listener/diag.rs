//! The kernel's list of listening sockets, over `NETLINK_SOCK_DIAG` (what
//! `ss -ltn` reads), through the rust-netlink crates. One socket answers
//! any number of dumps: the sampler asks every 5 ms, and opening a netlink
//! socket for each would cost more than the dump.

use std::net::SocketAddr;

use super::Listening;

/// How long the kernel may take to answer the dump; it answers in
/// microseconds, so this only bounds a kernel that never does.
const ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Datagrams read from one dump at most: a machine with many thousands of
/// listening sockets is cut short (and its answer is `None`) rather than
/// read without end.
const MAX_DATAGRAMS: usize = 4096;

/// Room for one datagram of a dump: the kernel fills at most 32 KiB.
const DATAGRAM_ROOM: usize = 64 * 1024;

/// A netlink socket for sock_diag dumps, and the buffer its answers land in.
#[derive(Debug)]
pub(crate) struct SockDiag {
    #[cfg(target_os = "linux")]
    socket: netlink_sys::Socket,
    #[cfg(target_os = "linux")]
    buffer: Vec<u8>,
}

#[cfg(target_os = "linux")]
impl SockDiag {
    /// `None` when the kernel will not open one (no sock_diag).
    pub(crate) fn open() -> Option<SockDiag> {
        use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket};
        let mut socket = Socket::new(NETLINK_SOCK_DIAG).ok()?;
        socket.bind_auto().ok()?;
        socket2::SockRef::from(&socket)
            .set_read_timeout(Some(ANSWER_TIMEOUT))
            .ok()?;
        Some(SockDiag {
            socket,
            buffer: Vec::with_capacity(DATAGRAM_ROOM),
        })
    }

    /// Every TCP socket in LISTEN, IPv4 and IPv6: a listener on `[::]`
    /// takes IPv4 connections too (unless IPV6_V6ONLY). `None` when the
    /// IPv4 dump fails; an IPv6 one that fails adds nothing.
    pub(crate) fn listening_both(&mut self) -> Option<Vec<Listening>> {
        let mut all = self.listening(libc::AF_INET as u8)?;
        all.extend(self.listening(libc::AF_INET6 as u8).unwrap_or_default());
        Some(all)
    }

    /// Every TCP socket of `family` in LISTEN, with its backlog (the
    /// kernel's `idiag_wqueue` for a listener) and its waiting connections
    /// (`idiag_rqueue`).
    fn listening(&mut self, family: u8) -> Option<Vec<Listening>> {
        use netlink_packet_core::{
            NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
        };
        use netlink_packet_sock_diag::constants::IPPROTO_TCP;
        use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
        use netlink_packet_sock_diag::SockDiagMessage;

        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        let socket_id = if i32::from(family) == libc::AF_INET6 {
            SocketId::new_v6()
        } else {
            SocketId::new_v4()
        };
        let mut request = NetlinkMessage::new(
            header,
            SockDiagMessage::InetRequest(InetRequest {
                family,
                protocol: IPPROTO_TCP,
                extensions: ExtensionFlags::empty(),
                states: StateFlags::LISTEN,
                socket_id,
            })
            .into(),
        );
        request.finalize();
        let mut bytes = vec![0; request.buffer_len()];
        request.serialize(&mut bytes);
        self.socket
            .send_to(&bytes, &netlink_sys::SocketAddr::new(0, 0), 0)
            .ok()?;
        let mut found = Vec::new();
        for _ in 0..MAX_DATAGRAMS {
            self.buffer.clear();
            self.socket.recv(&mut self.buffer, 0).ok()?;
            let mut rest = self.buffer.as_slice();
            while !rest.is_empty() {
                let message = NetlinkMessage::<SockDiagMessage>::deserialize(rest).ok()?;
                let length = message.header.length as usize;
                match message.payload {
                    NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                        let id = &r.header.socket_id;
                        found.push(Listening {
                            address: SocketAddr::new(id.source_address, id.source_port),
                            backlog: u64::from(r.header.send_queue),
                            queued: u64::from(r.header.recv_queue),
                            inode: r.header.inode,
                        });
                    }
                    NetlinkPayload::Done(_) => return Some(found),
                    NetlinkPayload::Error(_) => return None,
                    _ => {}
                }
                if length == 0 || length > rest.len() {
                    return None;
                }
                rest = &rest[length..];
            }
        }
        None
    }
}

#[cfg(not(target_os = "linux"))]
impl SockDiag {
    pub(crate) fn open() -> Option<SockDiag> {
        None
    }

    pub(crate) fn listening_both(&mut self) -> Option<Vec<Listening>> {
        None
    }
}
