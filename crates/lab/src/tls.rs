//! TLS material for `wss://`.
//!
//! The server config is built with an explicit ring provider so that the lab
//! never depends on (or fights over) the process-wide default provider, which
//! other parts of wsdoctor or a test binary may install differently.

use std::fmt;
use std::sync::Arc;

use rustls::crypto::ring;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

use crate::LabError;

/// A certificate chain and its private key, used to serve `wss://`.
pub struct LabTls {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl LabTls {
    /// Makes a fresh self-signed certificate valid for `names` (DNS names, or
    /// IP addresses, which become IP subject alternative names).
    ///
    /// Returns the TLS material and the certificate in PEM form, which is
    /// what a client must trust to connect.
    pub fn self_signed(names: &[&str]) -> Result<(LabTls, String), LabError> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let certified = rcgen::generate_simple_self_signed(names)?;
        let pem = certified.cert.pem();
        let key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
        let tls = LabTls {
            chain: vec![certified.cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(key),
        };
        Ok((tls, pem))
    }

    /// Uses an existing certificate chain (leaf first) and private key.
    pub fn new(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> LabTls {
        LabTls { chain, key }
    }

    /// Reads a PEM certificate chain (leaf first) and a PEM private key
    /// (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem(chain_pem: &str, key_pem: &str) -> Result<LabTls, LabError> {
        let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| LabError::Pem(format!("certificate chain: {e}")))?;
        if chain.is_empty() {
            return Err(LabError::Pem("no certificate in the chain PEM".to_owned()));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| LabError::Pem(format!("private key: {e}")))?;
        Ok(LabTls { chain, key })
    }

    /// Builds the acceptor used for every connection of one server.
    pub(crate) fn acceptor(&self) -> Result<TlsAcceptor, LabError> {
        // No ALPN list: rustls then ignores what the client offers, which is
        // what most WebSocket servers do, instead of rejecting h2-only offers.
        let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())?;
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

impl Clone for LabTls {
    fn clone(&self) -> Self {
        LabTls {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl fmt::Debug for LabTls {
    // The key stays out of logs and panic messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LabTls")
            .field("chain_len", &self.chain.len())
            .field("key", &"<private>")
            .finish()
    }
}
