//! How a connection of a load ramp ended, as the ramp counts it: why an
//! attempt failed ([`FailureKind`]) and how the path dropped an open
//! connection ([`DropKind`]). Both are views of a [`ConnectionEnd`] (the
//! model of an end), coarse enough to count by; they serialize to the
//! strings the JSON report has always carried (`http-503`, `reset`,
//! `local-file-descriptors`, `close-1001`), so the rules match on the enum
//! and never parse the string back.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{ConnectionEnd, LocalResource, Side, Transport};

/// Why an attempt of a ramp did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// `dns`: the name did not resolve.
    Dns,
    /// `refused`: the TCP connect was refused.
    Refused,
    /// `connect-timeout`: the TCP connect got no answer in time.
    ConnectTimeout,
    /// `local-file-descriptors`, `local-system-file-descriptors`,
    /// `local-ephemeral-ports`, `local-socket-memory`: the generator's own
    /// machine ran out.
    Local(LocalResource),
    /// `tls`: the TLS handshake failed.
    Tls,
    /// `handshake-timeout`: no 101 in time.
    HandshakeTimeout,
    /// `reset-before-101`, `eof-before-101`, …: the transport went away
    /// during the upgrade.
    BeforeUpgrade(Transport),
    /// `http-503`: the upgrade was answered with this status.
    Http(u16),
    /// `invalid-101`: a 101 that is not a valid WebSocket upgrade.
    Invalid101,
    /// `proxy-407`: the forward proxy answered CONNECT with this status.
    ProxyStatus(u16),
    /// `proxy-refused`: the forward proxy refused without a status.
    ProxyRefused,
    /// `proxy-failed`: the forward proxy's tunnel failed otherwise.
    ProxyFailed,
    /// `pending-at-end`: the run ended with the attempt still waiting.
    PendingAtEnd,
    /// `connect-error`: any other error before the upgrade.
    ConnectError,
}

impl FailureKind {
    /// The generator's own resource that ran out, when that was the failure.
    pub fn local_resource(self) -> Option<LocalResource> {
        match self {
            FailureKind::Local(resource) => Some(resource),
            _ => None,
        }
    }

    /// True when the forward proxy (not the target) refused or failed.
    pub fn is_proxy(self) -> bool {
        matches!(
            self,
            FailureKind::ProxyStatus(_) | FailureKind::ProxyRefused | FailureKind::ProxyFailed
        )
    }
}

impl From<&ConnectionEnd> for FailureKind {
    /// The failure kind of an end before the 101.
    fn from(end: &ConnectionEnd) -> Self {
        match end {
            ConnectionEnd::DnsFailed { .. } => FailureKind::Dns,
            ConnectionEnd::ConnectRefused { .. } => FailureKind::Refused,
            ConnectionEnd::ConnectTimedOut { .. } => FailureKind::ConnectTimeout,
            ConnectionEnd::LocalLimit { resource, .. } => FailureKind::Local(*resource),
            ConnectionEnd::TlsFailed { .. } => FailureKind::Tls,
            ConnectionEnd::HandshakeTimedOut { .. } => FailureKind::HandshakeTimeout,
            ConnectionEnd::HandshakeAborted { transport, .. } => {
                FailureKind::BeforeUpgrade(*transport)
            }
            ConnectionEnd::HandshakeRejected { status } => FailureKind::Http(*status),
            ConnectionEnd::HandshakeInvalid { .. } => FailureKind::Invalid101,
            ConnectionEnd::ProxyRefused {
                status: Some(status),
                ..
            } => FailureKind::ProxyStatus(*status),
            ConnectionEnd::ProxyRefused { .. } => FailureKind::ProxyRefused,
            ConnectionEnd::ProxyFailed { .. } => FailureKind::ProxyFailed,
            _ => FailureKind::ConnectError,
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureKind::Dns => f.write_str("dns"),
            FailureKind::Refused => f.write_str("refused"),
            FailureKind::ConnectTimeout => f.write_str("connect-timeout"),
            FailureKind::Local(resource) => {
                write!(f, "local-{}", resource.id())
            }
            FailureKind::Tls => f.write_str("tls"),
            FailureKind::HandshakeTimeout => f.write_str("handshake-timeout"),
            FailureKind::BeforeUpgrade(t) => write!(f, "{}-before-101", t.as_str()),
            FailureKind::Http(status) => write!(f, "http-{status}"),
            FailureKind::Invalid101 => f.write_str("invalid-101"),
            FailureKind::ProxyStatus(status) => write!(f, "proxy-{status}"),
            FailureKind::ProxyRefused => f.write_str("proxy-refused"),
            FailureKind::ProxyFailed => f.write_str("proxy-failed"),
            FailureKind::PendingAtEnd => f.write_str("pending-at-end"),
            FailureKind::ConnectError => f.write_str("connect-error"),
        }
    }
}

/// A word that names no failure or drop kind (a report of another version).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a kind of failure or drop wsdoctor records")]
pub struct UnknownEndKind(pub String);

fn unknown(text: &str) -> UnknownEndKind {
    UnknownEndKind(crate::escape_peer(text))
}

fn transport(text: &str) -> Option<Transport> {
    [
        Transport::Reset,
        Transport::Eof,
        Transport::HalfOpen,
        Transport::Tls,
    ]
    .into_iter()
    .find(|t| t.as_str() == text)
}

fn status(text: &str) -> Option<u16> {
    text.parse().ok().filter(|s| (100..=999).contains(s))
}

impl FromStr for FailureKind {
    type Err = UnknownEndKind;

    fn from_str(text: &str) -> Result<Self, UnknownEndKind> {
        let local = [
            LocalResource::FileDescriptors,
            LocalResource::SystemFileDescriptors,
            LocalResource::EphemeralPorts,
            LocalResource::Memory,
        ]
        .into_iter()
        .map(FailureKind::Local);
        let fixed = [
            FailureKind::Dns,
            FailureKind::Refused,
            FailureKind::ConnectTimeout,
            FailureKind::Tls,
            FailureKind::HandshakeTimeout,
            FailureKind::Invalid101,
            FailureKind::ProxyRefused,
            FailureKind::ProxyFailed,
            FailureKind::PendingAtEnd,
            FailureKind::ConnectError,
        ];
        if let Some(kind) = fixed
            .into_iter()
            .chain(local)
            .find(|k| k.to_string() == text)
        {
            return Ok(kind);
        }
        if let Some(t) = text.strip_suffix("-before-101").and_then(transport) {
            return Ok(FailureKind::BeforeUpgrade(t));
        }
        if let Some(s) = text.strip_prefix("http-").and_then(status) {
            return Ok(FailureKind::Http(s));
        }
        if let Some(s) = text.strip_prefix("proxy-").and_then(status) {
            return Ok(FailureKind::ProxyStatus(s));
        }
        Err(unknown(text))
    }
}

/// How the path ended an open connection of a ramp (ends we chose are not
/// drops).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropKind {
    /// `close-1001`: the server sent a close frame with this code (1005
    /// when it carried none, as RFC 6455 names that).
    Close(u16),
    /// `peer-stopped-reading`: the server took none of our bytes for the
    /// write timeout (a slow consumer).
    PeerStoppedReading,
    /// `reset`, `eof`, `half-open`, `tls`: the transport went away.
    Transport(Transport),
    /// `protocol`: any other end (a protocol error).
    Protocol,
}

impl DropKind {
    /// How the path ended `end`, or `None` when we ended it (our close, the
    /// run's deadline).
    pub fn of(end: &ConnectionEnd) -> Option<DropKind> {
        match end {
            ConnectionEnd::CloseHandshake {
                initiator: Side::Local,
                ..
            }
            | ConnectionEnd::LocalDeadline { .. } => None,
            ConnectionEnd::CloseHandshake { code, .. } => {
                Some(DropKind::Close(code.unwrap_or(NO_STATUS)))
            }
            ConnectionEnd::PeerStoppedReading { .. } => Some(DropKind::PeerStoppedReading),
            other => Some(
                other
                    .transport()
                    .map_or(DropKind::Protocol, DropKind::Transport),
            ),
        }
    }
}

/// The close code RFC 6455 reserves for "no status code was present".
const NO_STATUS: u16 = 1005;

impl fmt::Display for DropKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropKind::Close(code) => write!(f, "close-{code}"),
            DropKind::PeerStoppedReading => f.write_str("peer-stopped-reading"),
            DropKind::Transport(t) => f.write_str(t.as_str()),
            DropKind::Protocol => f.write_str("protocol"),
        }
    }
}

impl FromStr for DropKind {
    type Err = UnknownEndKind;

    fn from_str(text: &str) -> Result<Self, UnknownEndKind> {
        match text {
            "peer-stopped-reading" => Ok(DropKind::PeerStoppedReading),
            "protocol" => Ok(DropKind::Protocol),
            _ => {
                if let Some(t) = transport(text) {
                    return Ok(DropKind::Transport(t));
                }
                text.strip_prefix("close-")
                    .and_then(|c| c.parse().ok())
                    .map(DropKind::Close)
                    .ok_or_else(|| unknown(text))
            }
        }
    }
}

/// Order, serialization and parsing by the contract's spelling: the kinds
/// are keys of the report's `failures` and `drops` maps, whose keys have
/// always been sorted as strings, and the JSON must not change.
macro_rules! by_spelling {
    ($kind:ty) => {
        impl Ord for $kind {
            fn cmp(&self, other: &Self) -> Ordering {
                self.to_string().cmp(&other.to_string())
            }
        }

        impl PartialOrd for $kind {
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }

        impl Serialize for $kind {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $kind {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

by_spelling!(FailureKind);
by_spelling!(DropKind);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_spelling() {
        let failures = [
            FailureKind::Dns,
            FailureKind::Refused,
            FailureKind::ConnectTimeout,
            FailureKind::Local(LocalResource::FileDescriptors),
            FailureKind::Local(LocalResource::EphemeralPorts),
            FailureKind::Local(LocalResource::Memory),
            FailureKind::Tls,
            FailureKind::HandshakeTimeout,
            FailureKind::BeforeUpgrade(Transport::HalfOpen),
            FailureKind::Http(503),
            FailureKind::Invalid101,
            FailureKind::ProxyStatus(407),
            FailureKind::ProxyRefused,
            FailureKind::ProxyFailed,
            FailureKind::PendingAtEnd,
            FailureKind::ConnectError,
            FailureKind::Local(LocalResource::SystemFileDescriptors),
        ];
        for kind in failures {
            assert_eq!(kind.to_string().parse::<FailureKind>(), Ok(kind), "{kind}");
        }
        let spelled: Vec<String> = failures[3..10].iter().map(ToString::to_string).collect();
        assert_eq!(
            spelled,
            [
                "local-file-descriptors",
                "local-ephemeral-ports",
                "local-socket-memory",
                "tls",
                "handshake-timeout",
                "half-open-before-101",
                "http-503"
            ]
        );
        // ENFILE is the machine's file table, EMFILE the process's limit.
        assert_eq!(failures[16].to_string(), "local-system-file-descriptors");
        for kind in [
            DropKind::Close(1001),
            DropKind::PeerStoppedReading,
            DropKind::Transport(Transport::Eof),
            DropKind::Protocol,
        ] {
            assert_eq!(kind.to_string().parse::<DropKind>(), Ok(kind), "{kind}");
        }
        assert!("http-abc".parse::<FailureKind>().is_err());
        assert!("close-".parse::<DropKind>().is_err());
    }

    #[test]
    fn maps_keep_the_order_and_json_of_strings() {
        use std::collections::BTreeMap;
        let mut map = BTreeMap::new();
        for (kind, n) in [
            (FailureKind::Refused, 1u64),
            (FailureKind::Http(503), 2),
            (FailureKind::ConnectTimeout, 3),
        ] {
            map.insert(kind, n);
        }
        let json = serde_json::to_string(&map).unwrap_or_default();
        assert_eq!(json, r#"{"connect-timeout":3,"http-503":2,"refused":1}"#);
        let back: Result<BTreeMap<FailureKind, u64>, _> = serde_json::from_str(&json);
        assert_eq!(back.ok(), Some(map));
    }
}
