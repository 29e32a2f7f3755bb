//! This machine's own limits and the kernel's memory, as a load run saw
//! them: what the run needed against what the machine had (checked before
//! it starts, so a run that cannot fit says so with the setting to change),
//! and what the kernel itself held per TCP socket while the connections
//! were open. Both are the machine's, never the target's.

use serde::{Deserialize, Serialize};

/// A resource of this machine a run can run out of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MachineResource {
    /// Files open system-wide (`fs.file-max`; `ENFILE` when reached).
    FileMax,
    /// Files one process may open (the open-file hard limit; `EMFILE`).
    OpenFiles,
    /// Local ports towards one server address, times source addresses.
    EphemeralPorts,
    /// Memory (`MemAvailable`) for both ends' user space and the kernel's
    /// per-socket structures.
    Memory,
    /// The kernel's TCP buffer memory (`net.ipv4.tcp_mem`, pages).
    TcpMem,
    /// The listen queue of a server (`net.core.somaxconn` caps it).
    AcceptBacklog,
}

impl MachineResource {
    /// For people: `fs.file-max`.
    pub fn as_str(self) -> &'static str {
        match self {
            MachineResource::FileMax => "fs.file-max",
            MachineResource::OpenFiles => "open-file limit per process",
            MachineResource::EphemeralPorts => "ephemeral ports",
            MachineResource::Memory => "memory",
            MachineResource::TcpMem => "net.ipv4.tcp_mem",
            MachineResource::AcceptBacklog => "accept backlog",
        }
    }
}

/// One resource the run needs more of than this machine has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineShortfall {
    /// Which.
    pub resource: MachineResource,
    /// How much the run needs, in the resource's own unit (files, ports,
    /// bytes, pages, queued connections).
    pub needed: u64,
    /// How much this machine has of it now.
    pub available: u64,
    /// About how many of the run's connections fit under it.
    pub fits_connections: u64,
    /// The setting to change, as a command (`sysctl -w fs.file-max=…`).
    pub setting: String,
    /// The check in words.
    pub detail: String,
}

/// What this machine offered when the run started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineLimits {
    /// `fs.file-max`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_max: Option<u64>,
    /// Files open system-wide at the start (`fs.file-nr`, first field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_open: Option<u64>,
    /// `net.ipv4.ip_local_port_range`: ports per source address and
    /// server address.
    pub ephemeral_ports: u64,
    /// Source addresses the connections come from (1 when the system picks).
    pub source_addresses: u64,
    /// `MemAvailable` of `/proc/meminfo`, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_available_bytes: Option<u64>,
    /// `net.ipv4.tcp_mem` (min, pressure, max), in pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_mem_pages: Option<[u64; 3]>,
    /// `net.core.somaxconn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub somaxconn: Option<u64>,
    /// Whether the target is on this machine (a loopback address): then
    /// its sockets and memory count against this machine too.
    #[serde(default)]
    pub target_here: bool,
    /// The target's listening socket, when it is on this machine and the
    /// kernel said: its accept backlog is the queue a burst waits in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_listener: Option<TargetListener>,
    /// What the run needs more of than the machine has (empty: it fits).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shortfalls: Vec<MachineShortfall>,
}

/// The listening socket of a server on this machine, as the kernel holds
/// it (`ss -ltn`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetListener {
    /// The address it is bound to (`0.0.0.0:8080`, `[::]:8080`).
    pub address: String,
    /// Its accept backlog: what the server passed to `listen()`, capped by
    /// `net.core.somaxconn` as it was then (`ss -ltn` Send-Q). With several
    /// sockets on the port, the shortest.
    pub backlog: u64,
    /// How many listening sockets share the port (`SO_REUSEPORT`), each
    /// with its own queue.
    pub sockets: u64,
    /// The process holding it (as `ss -ltnp` finds it), when this one may
    /// look: another user's needs root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// That process's program name (`/proc/PID/comm`: `haproxy`, `node`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
}

/// Where the listen backlog is set, for the servers users run most, with
/// `n` as the value (`2000`, or `N` when no number is known): the one list
/// the check before a run and the load findings both quote.
pub fn listen_backlog_settings(n: &str) -> String {
    format!(
        "npm ws: new WebSocketServer({{ port, backlog: {n} }}); Node: server.listen({{ port, backlog: {n} }}); python-websockets: serve(..., backlog={n}); nginx: listen ... backlog={n};"
    )
}

/// The listen queues on this machine sampled during a run: which had
/// connections waiting, and which filled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenQueueWatch {
    /// Samples taken.
    pub samples: u64,
    /// How often, in milliseconds.
    pub every_ms: u64,
    /// The listeners seen with connections waiting, those seen (nearly) full first
    /// (at most [`ListenQueueWatch::MAX_QUEUES`]); empty when none was.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queues: Vec<SampledListenQueue>,
}

impl ListenQueueWatch {
    /// Queues kept: the busiest.
    pub const MAX_QUEUES: usize = 16;
}

/// A listener seen with connections waiting in its accept queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampledListenQueue {
    /// The address it is bound to.
    pub address: String,
    /// Its accept backlog.
    pub backlog: u64,
    /// The most connections seen waiting in it.
    pub peak_queued: u64,
    /// Samples that found it full or nearly: waiting connections at 90%
    /// of its backlog or more. A queue drained in batches (asyncio) can
    /// overflow between samples and be caught only nearly full.
    pub near_full_samples: u64,
    /// The process holding it, when this one may look.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// That process's program name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
}

/// The kernel's memory at one moment, machine-wide: slab (socket, inode,
/// file and epoll structures) and TCP buffers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelSample {
    /// `Slab` of `/proc/meminfo`, in bytes.
    pub slab_bytes: u64,
    /// `SUnreclaim`: the part of the slab the kernel cannot drop under
    /// pressure (socket structures are there).
    pub slab_unreclaimable_bytes: u64,
    /// TCP sockets in use (`/proc/net/sockstat` `TCP: inuse`).
    pub tcp_sockets: u64,
    /// TCP buffer memory (`TCP: mem`, pages, times the page size).
    pub tcp_buffer_bytes: u64,
    /// `TcpExtListenOverflows` of `/proc/net/netstat`, since boot: times a
    /// full accept queue on this machine turned a handshake away.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_overflows: Option<u64>,
    /// `TcpExtTCPSynRetrans`, since boot: SYNs (and SYN-ACKs) this machine
    /// sent again because no answer came in time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syn_retransmits: Option<u64>,
}

/// Fewer new sockets than this since the start, and a per-socket figure is
/// the noise of the rest of the machine.
const MIN_SOCKETS_FOR_SHARE: u64 = 100;

impl KernelSample {
    /// What the kernel holds per TCP socket: the growth of slab and TCP
    /// buffers since `start`, over the sockets added since (both ends'
    /// when the target is on this machine). `None` when too few were added
    /// to tell, or the kernel shrank (other work on the machine freed more
    /// than the sockets took).
    pub fn bytes_per_socket_since(&self, start: &KernelSample) -> Option<u64> {
        let sockets = self.tcp_sockets.checked_sub(start.tcp_sockets)?;
        if sockets < MIN_SOCKETS_FOR_SHARE {
            return None;
        }
        let slab = self.slab_bytes.checked_sub(start.slab_bytes)?;
        let buffers = self.tcp_buffer_bytes.saturating_sub(start.tcp_buffer_bytes);
        Some((slab + buffers) / sockets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernels_share_is_growth_over_new_sockets() {
        let start = KernelSample {
            slab_bytes: 1_000_000_000,
            slab_unreclaimable_bytes: 100_000_000,
            tcp_sockets: 2,
            tcp_buffer_bytes: 400_000,
            listen_overflows: None,
            syn_retransmits: None,
        };
        let held = KernelSample {
            slab_bytes: 1_000_000_000 + 16_000 * 3_700,
            slab_unreclaimable_bytes: 150_000_000,
            tcp_sockets: 16_002,
            tcp_buffer_bytes: 400_000 + 16_000 * 100,
            listen_overflows: Some(3),
            syn_retransmits: Some(5),
        };
        assert_eq!(held.bytes_per_socket_since(&start), Some(3_800));
        let few = KernelSample {
            tcp_sockets: 50,
            ..held
        };
        assert_eq!(few.bytes_per_socket_since(&start), None);
        let shrunk = KernelSample {
            slab_bytes: 1,
            ..held
        };
        assert_eq!(shrunk.bytes_per_socket_since(&start), None);
    }
}
