//! How a connection ended: one value, like quinn's `ConnectionError`.
//!
//! Classified in wsdoctor's own stream wrapper from what the socket and the
//! frame decoder reported (EOF, `ECONNRESET`, a close frame, a missing pong),
//! never by reading library error strings.

use serde::{Deserialize, Serialize};

/// Which end of the connection did something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// wsdoctor itself.
    Local,
    /// The peer (the server when wsdoctor is the client).
    Remote,
}

/// What broke in a TLS handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsFailureKind {
    /// The chain does not lead to a trusted root (self-signed, private CA, missing intermediate).
    UntrustedCertificate,
    /// The certificate is valid but not for this host name.
    HostnameMismatch,
    /// The certificate has expired or is not yet valid.
    Expired,
    /// No common protocol version or cipher suite.
    Protocol,
    /// The server sent a TLS alert.
    AlertReceived,
    /// The peer does not speak TLS at all (e.g. `wss://` to a plain-HTTP port).
    NotTls,
    /// Anything else.
    Other,
}

/// A resource of the machine running wsdoctor (not of the target).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LocalResource {
    /// The process's open-file limit (`EMFILE`, `ulimit -n`).
    FileDescriptors,
    /// The whole machine's file table (`ENFILE`, `fs.file-max`): every
    /// process's open files count against it.
    SystemFileDescriptors,
    /// No free local port for this destination (`EADDRNOTAVAIL`).
    EphemeralPorts,
    /// The kernel could not allocate socket memory (`ENOBUFS`, `ENOMEM`).
    Memory,
}

impl LocalResource {
    /// For people: `file descriptors`.
    pub fn as_str(self) -> &'static str {
        match self {
            LocalResource::FileDescriptors | LocalResource::SystemFileDescriptors => {
                "file descriptors"
            }
            LocalResource::EphemeralPorts => "ephemeral ports",
            LocalResource::Memory => "socket memory",
        }
    }

    /// One word for each, as load's failure kinds spell it after `local-`
    /// (`file-descriptors`, `system-file-descriptors`, …).
    pub fn id(self) -> &'static str {
        match self {
            LocalResource::FileDescriptors => "file-descriptors",
            LocalResource::SystemFileDescriptors => "system-file-descriptors",
            LocalResource::EphemeralPorts => "ephemeral-ports",
            LocalResource::Memory => "socket-memory",
        }
    }

    /// The resource an OS error names, if it is one of ours.
    pub fn from_os_error(code: i32) -> Option<LocalResource> {
        // Linux errno values; these are stable ABI.
        match code {
            23 => Some(LocalResource::SystemFileDescriptors), // ENFILE
            24 => Some(LocalResource::FileDescriptors),       // EMFILE
            99 => Some(LocalResource::EphemeralPorts),        // EADDRNOTAVAIL
            12 | 105 => Some(LocalResource::Memory),          // ENOMEM, ENOBUFS
            _ => None,
        }
    }
}

/// How the transport went away, in the contract's `transport` vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// TCP RST.
    Reset,
    /// TCP FIN (clean end of stream) without a close frame.
    Eof,
    /// Nothing came back: the path silently forgot the connection.
    HalfOpen,
    /// The TLS layer failed after the connection was open.
    Tls,
}

impl Transport {
    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Reset => "reset",
            Transport::Eof => "eof",
            Transport::HalfOpen => "half-open",
            Transport::Tls => "tls",
        }
    }
}

/// How a connection attempt or an open connection ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ConnectionEnd {
    /// The host name did not resolve. Usually a typo, an internal name used
    /// from outside, or a resolver that cannot be reached.
    DnsFailed {
        /// The name we tried to resolve.
        host: String,
        /// The resolver's answer.
        error: String,
    },
    /// The peer answered the SYN with RST: nothing listens on that port, or a
    /// firewall rejects actively.
    ConnectRefused {
        /// The address we dialled.
        addr: String,
    },
    /// No answer to the SYN before the connect timeout: a firewall drops
    /// packets, the host is down, or the address is wrong.
    ConnectTimedOut {
        /// The address we dialled.
        addr: String,
        /// The timeout that passed.
        after_ms: u64,
    },
    /// This machine ran out of something (file descriptors, local ports):
    /// a limit of wsdoctor's host, never of the target.
    LocalLimit {
        /// What ran out.
        resource: LocalResource,
        /// The operating system's error.
        error: String,
    },
    /// Connecting failed otherwise (network unreachable, no route).
    ConnectFailed {
        /// The address we dialled.
        addr: String,
        /// The operating system's error.
        error: String,
    },
    /// The TLS handshake failed.
    TlsFailed {
        /// What broke.
        failure: TlsFailureKind,
        /// rustls' description.
        error: String,
    },
    /// The connection opened but no complete response head arrived in time.
    /// Usually a proxy waiting for a backend, or a server that does not speak HTTP.
    HandshakeTimedOut {
        /// The timeout that passed.
        after_ms: u64,
    },
    /// The connection closed before a complete response head arrived.
    HandshakeAborted {
        /// Bytes of the response received before the end.
        bytes_received: usize,
        /// How the transport ended.
        transport: Transport,
    },
    /// The server answered the upgrade with a status other than 101; the
    /// handshake record has the headers and body.
    HandshakeRejected {
        /// The HTTP status.
        status: u16,
    },
    /// A 101 came back but is not a valid WebSocket handshake.
    HandshakeInvalid {
        /// What is wrong with it.
        problems: Vec<super::HandshakeProblem>,
    },
    /// The WebSocket closing handshake: a close frame was sent and perhaps answered.
    CloseHandshake {
        /// Status code of the first close frame (None: a close frame without a code, 1005).
        code: Option<u16>,
        /// Reason text of that frame (peer-controlled when the initiator is remote).
        reason: String,
        /// Who sent the first close frame.
        initiator: Side,
        /// Whether the other side answered with its own close frame.
        answered: bool,
    },
    /// The peer closed TCP (FIN) without a close frame. Usually an idle timer
    /// in a proxy or load balancer, or a server process that exited.
    FinWithoutClose {
        /// True when the FIN arrived in the middle of a frame.
        mid_frame: bool,
    },
    /// The connection was reset (RST) without a close frame: a proxy killing
    /// the flow, a load balancer that forgot it, or a server using SO_LINGER 0.
    Reset,
    /// Our ping went unanswered past the pong timeout: the path is half-open
    /// (a NAT or load balancer forgot the flow) or the peer stopped reading.
    HalfOpen {
        /// How long our oldest unanswered ping had waited.
        ping_unanswered_ms: u64,
    },
    /// TLS failed after the connection was open (bad record, alert).
    TlsError {
        /// rustls' description.
        error: String,
    },
    /// The peer broke RFC 6455; `rule` names what it did.
    ProtocolViolation {
        /// The rule that was broken, in words.
        rule: String,
    },
    /// The peer stopped reading: the socket took none of our bytes for
    /// `blocked_ms` while `queued_bytes` waited to be sent (pongs, echoes,
    /// messages). One side could not keep up (`slow-consumer`): a hung or
    /// overloaded peer, or a client that never reads. We stopped reading it
    /// meanwhile, so the queue stayed bounded, then ended the connection.
    PeerStoppedReading {
        /// Bytes waiting to be sent when we gave up.
        queued_bytes: u64,
        /// How long the socket had refused every byte.
        blocked_ms: u64,
    },
    /// A deadline of our own passed (e.g. the peer never answered our close frame).
    LocalDeadline {
        /// Which deadline.
        what: String,
    },
    /// Another I/O error on the socket.
    Io {
        /// The operating system's error.
        error: String,
    },
    /// The forward proxy answered our tunnel request with a refusal. For HTTP
    /// CONNECT: 407 (credentials missing or wrong), 403 (the proxy's policy
    /// blocks this host or port; many corporate proxies allow CONNECT only
    /// to 443), 502/504 (the proxy could not reach the target). For SOCKS5:
    /// the reply code of RFC 1928 §6 (0x02 not allowed by ruleset, 0x04 host
    /// unreachable, 0x05 refused by the target), no acceptable
    /// authentication method, or rejected credentials (RFC 1929).
    ProxyRefused {
        /// The proxy URL, redacted.
        proxy: String,
        /// The proxy's answer in one line (peer-controlled).
        answer: String,
        /// The HTTP status of a CONNECT refusal.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
    },
    /// The forward proxy accepted TCP but the tunnel failed otherwise: it
    /// closed or stalled before answering, or answered something that is
    /// not HTTP or SOCKS5 (often the wrong port, or a TLS-only proxy).
    ProxyFailed {
        /// The proxy URL, redacted.
        proxy: String,
        /// What went wrong.
        error: String,
    },
}

impl ConnectionEnd {
    /// The contract's `transport` for ends without a close frame.
    pub fn transport(&self) -> Option<Transport> {
        match self {
            ConnectionEnd::FinWithoutClose { .. } => Some(Transport::Eof),
            ConnectionEnd::Reset => Some(Transport::Reset),
            ConnectionEnd::HalfOpen { .. } => Some(Transport::HalfOpen),
            ConnectionEnd::TlsError { .. } => Some(Transport::Tls),
            _ => None,
        }
    }

    /// True when the WebSocket connection was never established.
    pub fn before_open(&self) -> bool {
        matches!(
            self,
            ConnectionEnd::DnsFailed { .. }
                | ConnectionEnd::ConnectRefused { .. }
                | ConnectionEnd::ConnectTimedOut { .. }
                | ConnectionEnd::ConnectFailed { .. }
                | ConnectionEnd::LocalLimit { .. }
                | ConnectionEnd::TlsFailed { .. }
                | ConnectionEnd::HandshakeTimedOut { .. }
                | ConnectionEnd::HandshakeAborted { .. }
                | ConnectionEnd::HandshakeRejected { .. }
                | ConnectionEnd::HandshakeInvalid { .. }
                | ConnectionEnd::ProxyRefused { .. }
                | ConnectionEnd::ProxyFailed { .. }
        )
    }

    /// One line for people, e.g. `TCP FIN without a close frame`.
    pub fn describe(&self) -> String {
        use crate::escape_peer;
        match self {
            ConnectionEnd::DnsFailed { host, error } => {
                format!(
                    "DNS lookup of {} failed: {}",
                    escape_peer(host),
                    escape_peer(error)
                )
            }
            ConnectionEnd::ConnectRefused { addr } => {
                format!("connection to {addr} refused (RST to our SYN)")
            }
            ConnectionEnd::ConnectTimedOut { addr, after_ms } => {
                format!("no answer from {addr} within {after_ms} ms (SYN timed out)")
            }
            ConnectionEnd::ConnectFailed { addr, error } => {
                format!("connecting to {addr} failed: {error}")
            }
            ConnectionEnd::LocalLimit { resource, error } => {
                format!("this machine ran out of {}: {error}", resource.as_str())
            }
            ConnectionEnd::TlsFailed { error, .. } => {
                format!("TLS handshake failed: {}", escape_peer(error))
            }
            ConnectionEnd::HandshakeTimedOut { after_ms } => {
                format!("no HTTP response to the upgrade request within {after_ms} ms")
            }
            ConnectionEnd::HandshakeAborted {
                bytes_received,
                transport,
            } => format!(
                "connection ended ({}) after {bytes_received} bytes, before a full HTTP response",
                transport.as_str()
            ),
            ConnectionEnd::HandshakeRejected { status } => {
                format!("upgrade answered with HTTP {status}, not 101")
            }
            ConnectionEnd::HandshakeInvalid { problems } => {
                format!(
                    "101 response is not a valid WebSocket handshake ({} problem(s))",
                    problems.len()
                )
            }
            ConnectionEnd::CloseHandshake {
                code,
                reason,
                initiator,
                answered,
            } => {
                let code =
                    code.map_or_else(|| "without a code (1005)".to_owned(), |c| c.to_string());
                let reason = if reason.is_empty() {
                    String::new()
                } else {
                    format!(" \"{}\"", escape_peer(reason))
                };
                match (initiator, answered) {
                    (Side::Local, true) => {
                        format!("we sent close frame {code}{reason}; the peer answered")
                    }
                    (Side::Local, false) => {
                        format!("we sent close frame {code}{reason}; the peer never answered")
                    }
                    (Side::Remote, true) => {
                        format!("the peer sent close frame {code}{reason}; we answered")
                    }
                    (Side::Remote, false) => {
                        format!("the peer sent close frame {code}{reason}; we did not answer")
                    }
                }
            }
            ConnectionEnd::FinWithoutClose { mid_frame: false } => {
                "TCP FIN without a close frame".to_owned()
            }
            ConnectionEnd::FinWithoutClose { mid_frame: true } => {
                "TCP FIN in the middle of a frame, without a close frame".to_owned()
            }
            ConnectionEnd::Reset => "TCP RST without a close frame".to_owned(),
            ConnectionEnd::HalfOpen { ping_unanswered_ms } => {
                format!("half-open: our ping went unanswered for {ping_unanswered_ms} ms")
            }
            ConnectionEnd::TlsError { error } => {
                format!("TLS error on the open connection: {}", escape_peer(error))
            }
            ConnectionEnd::ProtocolViolation { rule } => {
                format!("protocol violation by the peer: {}", escape_peer(rule))
            }
            ConnectionEnd::PeerStoppedReading {
                queued_bytes,
                blocked_ms,
            } => format!(
                "the peer stopped reading: {queued_bytes} bytes waited to be sent and the socket \
                 took none for {blocked_ms} ms"
            ),
            ConnectionEnd::LocalDeadline { what } => format!("our own deadline passed: {what}"),
            ConnectionEnd::Io { error } => format!("socket error: {}", escape_peer(error)),
            ConnectionEnd::ProxyRefused { proxy, answer, .. } => format!(
                "the forward proxy {} refused the tunnel: {}",
                escape_peer(proxy),
                escape_peer(answer)
            ),
            ConnectionEnd::ProxyFailed { proxy, error } => format!(
                "the tunnel through the forward proxy {} failed: {}",
                escape_peer(proxy),
                escape_peer(error)
            ),
        }
    }
}

/// The end of a connection with the clocks that explain it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndRecord {
    /// How it ended.
    pub end: ConnectionEnd,
    /// When, in µs since the attempt started.
    pub at_us: u64,
    /// How long the WebSocket had been open (since the 101), if it opened.
    pub open_for_us: Option<u64>,
    /// Time since the last byte-carrying frame from the peer (idle clock).
    pub since_last_inbound_us: Option<u64>,
    /// Time since the last pong from the peer.
    pub since_last_pong_us: Option<u64>,
    /// Time since the last frame we sent.
    pub since_last_outbound_us: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::LocalResource;

    #[test]
    fn the_system_file_table_and_the_process_limit_are_told_apart() {
        assert_eq!(
            LocalResource::from_os_error(23),
            Some(LocalResource::SystemFileDescriptors)
        );
        assert_eq!(
            LocalResource::from_os_error(24),
            Some(LocalResource::FileDescriptors)
        );
        assert_eq!(LocalResource::from_os_error(111), None);
        let json = serde_json::to_string(&LocalResource::SystemFileDescriptors).unwrap_or_default();
        assert_eq!(json, "\"system-file-descriptors\"");
    }
}
