//! Why TLS could not be set up before connecting: a CA, client
//! certificate, key or key log file that cannot be used. Its own module
//! because both the TLS client (`tls`) and the key material it is given
//! (`tls_keys`) report it.

use std::io;

/// Why TLS could not be set up before connecting.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// The CA file could not be read.
    #[error("cannot read CA certificate file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: io::Error,
    },
    /// The CA or client certificate file holds no PEM certificate.
    #[error("{path} contains no PEM certificate (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate {
        /// The file.
        path: String,
    },
    /// The key file holds no PEM private key of a known kind.
    #[error("{path} contains no PEM private key (PKCS#8, PKCS#1 or SEC1, e.g. -----BEGIN PRIVATE KEY-----): {why}")]
    NoPrivateKey {
        /// The file.
        path: String,
        /// What the PEM reader said.
        why: String,
    },
    /// The key cannot be used with the certificate.
    #[error("cannot use the key {key} with the certificate {cert}: {why}")]
    KeyNotUsable {
        /// The certificate file.
        cert: String,
        /// The key file.
        key: String,
        /// Why, in words.
        why: String,
    },
    /// The key log file cannot be opened for appending.
    #[error("cannot write the TLS key log {path} (SSLKEYLOGFILE): {source}")]
    KeyLog {
        /// The file.
        path: String,
        /// The I/O error.
        source: io::Error,
    },
}
