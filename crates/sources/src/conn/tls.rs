//! TLS for `wss://`: verified by default against the system's roots (with
//! the bundled Mozilla roots as a fallback for minimal containers), plus any
//! `--ca-cert`; `--insecure` turns verification off and says so in the record.

use std::io;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use wsdoctor_evidence::{ConnectionRecord, TlsFailureKind, TlsInfo};

use super::tls_keys::{ClientIdentity, KeyLogWriter};
pub use super::tls_setup_error::TlsSetupError;
use super::tls_verify::{CertProblem, GivenOrWebpki};
use super::{micros_since, ConnectOptions, OpenError};

/// TLS settings.
///
/// # Defaults
/// Verify the server against the system trust store; no extra CA; verification on.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Extra trusted certificates (from `--ca-cert`).
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// Skip certificate verification (`--insecure`).
    pub insecure: bool,
    /// The client certificate for servers that ask for one (`--cert`/`--key`).
    pub client_identity: Option<ClientIdentity>,
    /// Where to write the TLS secrets (`SSLKEYLOGFILE`); shared by every
    /// connection of a run.
    pub key_log: Option<Arc<KeyLogWriter>>,
}

impl TlsOptions {
    /// Adds the PEM certificates of `path` as trusted roots.
    pub fn add_ca_file(&mut self, path: &Path) -> Result<(), TlsSetupError> {
        let shown = path.display().to_string();
        let pem = std::fs::read(path).map_err(|source| TlsSetupError::Read {
            path: shown.clone(),
            source,
        })?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .filter_map(Result::ok)
            .collect();
        if certs.is_empty() {
            return Err(TlsSetupError::NoCertificate { path: shown });
        }
        self.extra_roots.extend(certs);
        Ok(())
    }

    /// Answers a server's certificate request with the PEM chain of `cert`
    /// and the PEM key of `key` (checked to belong together).
    pub fn set_client_certificate(&mut self, cert: &Path, key: &Path) -> Result<(), TlsSetupError> {
        self.client_identity = Some(ClientIdentity::from_pem_files(cert, key)?);
        Ok(())
    }

    /// Writes the TLS secrets of every connection to `path` in the NSS key
    /// log format (what `SSLKEYLOGFILE` names).
    pub fn log_keys_to(&mut self, path: &Path) -> Result<(), TlsSetupError> {
        self.key_log = Some(Arc::new(KeyLogWriter::open(path)?));
        Ok(())
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// The system's trust store (webpki's roots where the system has none),
/// read once per process: `load` opens thousands of TLS connections, and
/// reading and parsing /etc/ssl/certs for each cost more than the
/// handshake itself.
fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        let (added, _ignored) = roots.add_parsable_certificates(native.certs);
        if added == 0 {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        roots
    })
}

fn client_config(options: &TlsOptions, offer_h2: bool) -> Result<ClientConfig, rustls::Error> {
    let builder =
        ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let verified = if options.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider())))
    } else {
        let mut roots = system_roots().clone();
        roots.add_parsable_certificates(options.extra_roots.iter().cloned());
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        let verifier = GivenOrWebpki::new(webpki, options.extra_roots.clone());
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
    };
    let mut config = match &options.client_identity {
        Some(identity) => verified.with_client_cert_resolver(identity.resolver()),
        None => verified.with_no_client_auth(),
    };
    if let Some(key_log) = &options.key_log {
        config.key_log = key_log.clone();
    }
    // By default we speak the HTTP/1.1 upgrade, and offering h2 would invite
    // RFC 8441 instead; with `--http2` we offer both, in a browser's order.
    config.alpn_protocols = if offer_h2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(config)
}

/// Runs the TLS handshake over `tcp`. Returns why on failure.
pub(crate) async fn wrap(
    tcp: TcpStream,
    options: &ConnectOptions,
    deadline: tokio::time::Instant,
    origin: Instant,
    record: &mut ConnectionRecord,
) -> Result<TlsStream<TcpStream>, OpenError> {
    let fail = |failure, error: String| OpenError::Tls { failure, error };
    let offer_h2 = options.http == super::HttpVersion::Http2;
    let config = client_config(&options.tls, offer_h2)
        .map_err(|e| fail(TlsFailureKind::Other, e.to_string()))?;
    let name = ServerName::try_from(options.target.host.clone())
        .map_err(|e| fail(TlsFailureKind::Other, format!("invalid server name: {e}")))?;
    let connect = TlsConnector::from(Arc::new(config)).connect(name, tcp);
    match tokio::time::timeout_at(deadline, connect).await {
        Ok(Ok(stream)) => {
            record.phases.tls_done_us = Some(micros_since(origin, Instant::now()));
            let (_, conn) = stream.get_ref();
            record.tls = Some(TlsInfo {
                version: conn
                    .protocol_version()
                    .map_or_else(|| "unknown".to_owned(), |v| format!("{v:?}")),
                cipher: conn
                    .negotiated_cipher_suite()
                    .map_or_else(|| "unknown".to_owned(), |c| format!("{:?}", c.suite())),
                alpn: conn
                    .alpn_protocol()
                    .map(|p| String::from_utf8_lossy(p).into_owned()),
                verified: !options.tls.insecure,
                client_certificate: options.tls.client_identity.is_some(),
            });
            Ok(stream)
        }
        Ok(Err(e)) => {
            let (failure, text) = classify_tls_error(&e);
            Err(fail(failure, text))
        }
        Err(_) => Err(fail(
            TlsFailureKind::Other,
            "no TLS answer before the handshake timeout".to_owned(),
        )),
    }
}

/// A TLS alert that arrived after our side of the handshake was done, in
/// place of the answer to the upgrade: TLS 1.3 servers refuse a missing or
/// unwanted client certificate this way (`certificate_required`), once the
/// client has already sent its Finished. It is a TLS failure, not an
/// aborted upgrade.
pub(crate) fn alert_after_handshake(e: &io::Error) -> Option<OpenError> {
    let tls = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    if !matches!(tls, rustls::Error::AlertReceived(_)) {
        return None;
    }
    let (failure, error) = classify_tls_error(e);
    Some(OpenError::Tls { failure, error })
}

/// Classifies a TLS handshake error from the typed rustls error inside the
/// io::Error that tokio-rustls returns, never from its text, and says it in
/// words (the certificate's own problems come described by the verifier).
pub(crate) fn classify_tls_error(e: &io::Error) -> (TlsFailureKind, String) {
    let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return (
            TlsFailureKind::Other,
            format!("connection ended during the TLS handshake: {e}"),
        );
    };
    if let rustls::Error::InvalidCertificate(CertificateError::Other(other)) = tls {
        let inner: &(dyn std::error::Error + 'static) = &*other.0;
        if let Some(problem) = inner.downcast_ref::<CertProblem>() {
            return (problem.kind, problem.words.clone());
        }
    }
    let kind = match tls {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                TlsFailureKind::UntrustedCertificate
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsFailureKind::HostnameMismatch
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => TlsFailureKind::Expired,
            _ => TlsFailureKind::UntrustedCertificate,
        },
        rustls::Error::AlertReceived(_) => TlsFailureKind::AlertReceived,
        rustls::Error::PeerIncompatible(_) => TlsFailureKind::Protocol,
        rustls::Error::InvalidMessage(_) => TlsFailureKind::NotTls,
        _ => TlsFailureKind::Other,
    };
    let words = match tls {
        rustls::Error::AlertReceived(alert) => {
            format!(
                "the server ended the TLS handshake with the alert {} ({}){}",
                alert_name(*alert),
                u8::from(*alert),
                alert_meaning(*alert)
            )
        }
        rustls::Error::PeerIncompatible(_) => {
            "the server offers no TLS version (1.2 or 1.3) or cipher suite this client supports"
                .to_owned()
        }
        rustls::Error::InvalidMessage(_) => {
            "the server's answer is not TLS: the port speaks something else (plain HTTP?)"
                .to_owned()
        }
        rustls::Error::PeerMisbehaved(_) => {
            "the server broke the TLS protocol during the handshake (a TLS-inspecting middlebox or a broken TLS stack answers for it)".to_owned()
        }
        rustls::Error::InappropriateMessage { .. }
        | rustls::Error::InappropriateHandshakeMessage { .. } => {
            "the server sent a TLS message out of order during the handshake".to_owned()
        }
        rustls::Error::NoCertificatesPresented => {
            "the server presented no certificate".to_owned()
        }
        rustls::Error::NoApplicationProtocol => {
            "the server accepts none of the ALPN protocols offered (http/1.1, and h2 with --http2)".to_owned()
        }
        rustls::Error::DecryptError | rustls::Error::PeerSentOversizedRecord => {
            "the server's TLS records could not be read (corrupted on the way, or not TLS)".to_owned()
        }
        // rustls' Display of the rest (rare: local setup errors).
        other => other.to_string(),
    };
    (kind, words)
}

/// An alert's name as RFC 8446 spells it (`handshake_failure`), from the
/// enum's variant name (rustls keeps no table of the spellings).
fn alert_name(alert: rustls::AlertDescription) -> String {
    let camel = format!("{alert:?}");
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        }
    }
    // rustls spells one variant the British way; the RFC does not.
    out.replace("unrecognised", "unrecognized")
}

/// What the common alerts usually mean for a client.
fn alert_meaning(alert: rustls::AlertDescription) -> &'static str {
    use rustls::AlertDescription as A;
    match alert {
        A::HandshakeFailure => ": no cipher suite or TLS version in common, or the server wants a client certificate",
        A::UnrecognisedName => ": the server serves no site under the name this client sent (SNI); use the host name the server knows",
        A::ProtocolVersion => ": the server does not accept TLS 1.2 or 1.3 as offered",
        A::CertificateRequired | A::BadCertificate => ": the server requires a client certificate (mutual TLS)",
        A::NoApplicationProtocol => ": the server accepts none of the ALPN protocols offered",
        A::AccessDenied => ": the server refused this client",
        _ => "",
    }
}

/// `--insecure`: accepts any certificate but still checks handshake signatures,
/// so the connection is encrypted, just not authenticated.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::alert_name;
    use rustls::AlertDescription;

    #[test]
    fn alerts_are_named_as_the_rfc_spells_them() {
        assert_eq!(
            alert_name(AlertDescription::HandshakeFailure),
            "handshake_failure"
        );
        assert_eq!(
            alert_name(AlertDescription::UnrecognisedName),
            "unrecognized_name"
        );
        assert_eq!(
            alert_name(AlertDescription::CertificateRequired),
            "certificate_required"
        );
    }
}
