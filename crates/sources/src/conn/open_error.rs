//! Why opening a connection failed, by the step that failed.
//!
//! Each step of [`super::open`] (name resolution, TCP connect, the forward
//! proxy's tunnel, TLS, HTTP/2, the upgrade) returns an [`OpenError`]; the
//! record's end is written from it in one place ([`super::open`]), as
//! quinn's `ConnectionError` is produced in one place and read everywhere.
//! The error converts into the [`ConnectionEnd`] the report has always
//! carried, so the JSON does not depend on which step produced it.

use wsdoctor_evidence::{ConnectionEnd, TlsFailureKind, Transport};

/// Why a connection could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The host name (of the target, or of the forward proxy) did not
    /// resolve, or the resolver did not answer within the connect budget.
    #[error("name resolution of {host} failed: {error}")]
    NameResolution {
        /// The name we tried to resolve.
        host: String,
        /// The resolver's answer.
        error: String,
    },
    /// TCP did not connect (refused, timed out, no route, or a local limit
    /// such as file descriptors): one of the connect ends of
    /// [`ConnectionEnd`].
    #[error("connect failed: {}", .0.describe())]
    Connect(ConnectionEnd),
    /// The forward proxy refused or broke the tunnel: one of the proxy ends
    /// of [`ConnectionEnd`] (or the SOCKS proxy's own name resolution).
    #[error("proxy tunnel failed: {}", .0.describe())]
    Proxy(ConnectionEnd),
    /// The TLS handshake failed or could not be set up.
    #[error("TLS failed: {error}")]
    Tls {
        /// What broke.
        failure: TlsFailureKind,
        /// What happened, in words.
        error: String,
    },
    /// The HTTP/2 connection or its extended CONNECT (RFC 8441) failed
    /// before an answer could be judged.
    #[error("HTTP/2 failed: {error}")]
    Http2 {
        /// What happened, in words.
        error: String,
    },
    /// The upgrade exchange failed: the server refused, answered something
    /// invalid, or the connection ended before a complete answer (over
    /// HTTP/1.1 or over an HTTP/2 stream).
    #[error("upgrade failed: {}", .0.describe())]
    Upgrade(ConnectionEnd),
    /// No complete answer to the upgrade before the handshake budget ran out.
    #[error("no upgrade answer within {after_ms} ms")]
    Deadline {
        /// The budget that passed.
        after_ms: u64,
    },
}

impl OpenError {
    /// The connection closed before a complete answer: the upgrade step's
    /// transport end.
    pub(crate) fn aborted(bytes_received: usize, transport: Transport) -> Self {
        OpenError::Upgrade(ConnectionEnd::HandshakeAborted {
            bytes_received,
            transport,
        })
    }

    /// The handshake budget of `timeout` ran out.
    pub(crate) fn deadline(timeout: std::time::Duration) -> Self {
        OpenError::Deadline {
            after_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

impl From<OpenError> for ConnectionEnd {
    fn from(error: OpenError) -> Self {
        match error {
            OpenError::NameResolution { host, error } => ConnectionEnd::DnsFailed { host, error },
            OpenError::Connect(end) | OpenError::Proxy(end) | OpenError::Upgrade(end) => end,
            OpenError::Tls { failure, error } => ConnectionEnd::TlsFailed { failure, error },
            OpenError::Http2 { error } => ConnectionEnd::Io { error },
            OpenError::Deadline { after_ms } => ConnectionEnd::HandshakeTimedOut { after_ms },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::OpenError;
    use wsdoctor_evidence::{ConnectionEnd, TlsFailureKind};

    #[test]
    fn each_step_keeps_the_end_the_report_always_had() {
        let cases = [
            (
                OpenError::NameResolution {
                    host: "h".into(),
                    error: "e".into(),
                },
                ConnectionEnd::DnsFailed {
                    host: "h".into(),
                    error: "e".into(),
                },
            ),
            (
                OpenError::Tls {
                    failure: TlsFailureKind::Expired,
                    error: "e".into(),
                },
                ConnectionEnd::TlsFailed {
                    failure: TlsFailureKind::Expired,
                    error: "e".into(),
                },
            ),
            (
                OpenError::Http2 { error: "e".into() },
                ConnectionEnd::Io { error: "e".into() },
            ),
            (
                OpenError::Deadline { after_ms: 7 },
                ConnectionEnd::HandshakeTimedOut { after_ms: 7 },
            ),
            (
                OpenError::Upgrade(ConnectionEnd::HandshakeRejected { status: 403 }),
                ConnectionEnd::HandshakeRejected { status: 403 },
            ),
        ];
        for (error, end) in cases {
            assert_eq!(ConnectionEnd::from(error), end);
        }
    }
}
