//! Key material the TLS client is given: a client certificate for servers
//! that ask for one (`--cert`/`--key`, mutual TLS), and the key log that
//! lets Wireshark read a capture (`SSLKEYLOGFILE`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rustls::client::ResolvesClientCert;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::KeyLog;

use super::tls_setup_error::TlsSetupError;

/// A client certificate chain and its private key, checked to belong
/// together when loaded.
#[derive(Debug, Clone)]
pub struct ClientIdentity {
    key: Arc<CertifiedKey>,
}

impl ClientIdentity {
    /// Loads the PEM certificate chain of `cert` and the PEM private key of
    /// `key` (PKCS#8, PKCS#1 or SEC1), and checks the key is the
    /// certificate's.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsSetupError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| TlsSetupError::Read {
                path: path.display().to_string(),
                source,
            })
        };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(cert)?)
            .filter_map(Result::ok)
            .collect();
        if chain.is_empty() {
            return Err(TlsSetupError::NoCertificate {
                path: cert.display().to_string(),
            });
        }
        // `from_pem_slice` takes the first key of any of the three kinds.
        let private = PrivateKeyDer::from_pem_slice(&read(key)?).map_err(|e| {
            TlsSetupError::NoPrivateKey {
                path: key.display().to_string(),
                why: e.to_string(),
            }
        })?;
        let provider = rustls::crypto::ring::default_provider();
        let certified = CertifiedKey::from_der(chain, private, &provider).map_err(|e| {
            TlsSetupError::KeyNotUsable {
                cert: cert.display().to_string(),
                key: key.display().to_string(),
                why: key_problem(&e),
            }
        })?;
        Ok(ClientIdentity {
            key: Arc::new(certified),
        })
    }

    /// What rustls answers a server's certificate request with.
    pub(crate) fn resolver(&self) -> Arc<dyn ResolvesClientCert> {
        Arc::new(SingleCertAndKey::from(self.key.as_ref().clone()))
    }
}

/// A key/certificate problem in words (never the key itself).
fn key_problem(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InconsistentKeys(_) => {
            "the private key does not belong to the certificate".to_owned()
        }
        rustls::Error::General(_) => {
            "the private key's algorithm is not supported (RSA, ECDSA P-256/P-384 and Ed25519 are)"
                .to_owned()
        }
        other => other.to_string(),
    }
}

/// Writes TLS secrets to a file in the NSS key log format, as curl and
/// browsers do with `SSLKEYLOGFILE`.
///
/// Written here rather than with rustls' `KeyLogFile`: that one reads the
/// environment itself (the library leaves the environment to its caller)
/// and only logs a warning when the file cannot be opened, where a user who
/// asked for a key log should be told at once.
pub struct KeyLogWriter {
    file: Mutex<std::fs::File>,
}

impl KeyLogWriter {
    /// Opens `path` for appending (created if missing).
    pub fn open(path: &Path) -> Result<Self, TlsSetupError> {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map_err(|source| TlsSetupError::KeyLog {
                path: path.display().to_string(),
                source,
            })?;
        Ok(KeyLogWriter {
            file: Mutex::new(file),
        })
    }
}

impl std::fmt::Debug for KeyLogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secrets: there are none kept here, only the file.
        f.debug_struct("KeyLogWriter").finish_non_exhaustive()
    }
}

impl KeyLog for KeyLogWriter {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        let line = nss_line(label, client_random, secret);
        // One write per line under the lock keeps concurrent handshakes'
        // lines whole. A failed write loses that line only; the connection
        // goes on, as with curl.
        if let Ok(mut file) = self.file.lock() {
            let _ = file.write_all(line.as_bytes());
        }
    }
}

/// `LABEL <client random in hex> <secret in hex>\n`.
fn nss_line(label: &str, client_random: &[u8], secret: &[u8]) -> String {
    let mut line =
        String::with_capacity(label.len() + 2 * (client_random.len() + secret.len()) + 3);
    line.push_str(label);
    for (i, part) in [client_random, secret].into_iter().enumerate() {
        line.push(' ');
        for byte in part {
            let _ = write!(line, "{byte:02x}");
        }
        if i == 1 {
            line.push('\n');
        }
    }
    line
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::nss_line;

    #[test]
    fn lines_are_in_the_nss_key_log_format() {
        assert_eq!(
            nss_line("CLIENT_RANDOM", &[0, 0xab], &[0x10]),
            "CLIENT_RANDOM 00ab 10\n"
        );
    }
}
