//! Certificate verification for `wss://`, as curl, Node and Python do it:
//! the webpki path check against the trusted roots, except that a server
//! certificate byte-identical to one the user passed with `--ca-cert` is
//! accepted once its name and validity period check out (OpenSSL's `req
//! -x509` makes `CA:TRUE` certificates, which webpki refuses as a server's
//! own: `CaUsedAsEndEntity`). Every refusal carries a [`CertProblem`]: the
//! certificate described and what is wrong with it, in words.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_name, WebPkiServerVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};
use wsdoctor_evidence::TlsFailureKind;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
use x509_parser::time::ASN1Time;

/// What is wrong with the server's certificate, in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertProblem {
    /// The class of the failure.
    pub(crate) kind: TlsFailureKind,
    /// Which certificate and what is wrong with it.
    pub(crate) words: String,
}

impl fmt::Display for CertProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.words)
    }
}

impl std::error::Error for CertProblem {}

fn refuse(kind: TlsFailureKind, words: String) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(CertProblem {
        kind,
        words,
    }))))
}

/// The facts of a certificate people recognise it by.
struct Described {
    subject: String,
    issuer: String,
    names: Vec<String>,
    not_before: String,
    not_after: String,
    is_ca: bool,
    self_signed: bool,
    valid_at_now: Option<bool>,
}

fn describe(der: &[u8], now: UnixTime) -> Option<Described> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let names = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some((*d).to_owned()),
                    GeneralName::IPAddress(b) => ip_of(b).map(|ip| ip.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let date = |t: &ASN1Time| t.to_datetime().date().to_string();
    let validity = cert.validity();
    let valid_at_now = i64::try_from(now.as_secs())
        .ok()
        .and_then(|s| ASN1Time::from_timestamp(s).ok())
        .map(|t| cert.validity().is_valid_at(t));
    Some(Described {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        names,
        not_before: date(&validity.not_before),
        not_after: date(&validity.not_after),
        is_ca: cert.is_ca(),
        self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
        valid_at_now,
    })
}

fn ip_of(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

impl Described {
    /// `the server's certificate "CN=localhost" (issued by "CN=localhost",
    /// self-signed, for localhost, 127.0.0.1, valid 2026-12-06 to 2027-01-05)`
    fn line(&self) -> String {
        let mut facts = Vec::new();
        if self.self_signed {
            facts.push("self-signed".to_owned());
        } else {
            facts.push(format!("issued by \"{}\"", self.issuer));
        }
        if self.is_ca {
            facts.push("marked CA:TRUE".to_owned());
        }
        if self.names.is_empty() {
            facts.push("no subject alternative names".to_owned());
        } else {
            facts.push(format!("for {}", self.names.join(", ")));
        }
        facts.push(format!("valid {} to {}", self.not_before, self.not_after));
        format!(
            "the server's certificate \"{}\" ({})",
            self.subject,
            facts.join(", ")
        )
    }
}

/// The webpki verifier, plus the certificates given with `--ca-cert`.
#[derive(Debug)]
pub(crate) struct GivenOrWebpki {
    webpki: Arc<WebPkiServerVerifier>,
    given: Vec<CertificateDer<'static>>,
}

impl GivenOrWebpki {
    pub(crate) fn new(
        webpki: Arc<WebPkiServerVerifier>,
        given: Vec<CertificateDer<'static>>,
    ) -> Self {
        GivenOrWebpki { webpki, given }
    }

    /// What to say about a certificate the path check refused.
    fn explain(
        &self,
        error: &rustls::Error,
        end_entity: &CertificateDer<'_>,
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Option<CertProblem> {
        let rustls::Error::InvalidCertificate(cert_error) = error else {
            return None;
        };
        let d = describe(end_entity, now)?;
        let it = d.line();
        let name = server_name.to_str();
        let given = self.given.len();
        let given_words = match given {
            0 => String::new(),
            1 => ", nor issued by the certificate given with --ca-cert".to_owned(),
            n => format!(", nor issued by any of the {n} certificates given with --ca-cert"),
        };
        let (kind, words) = match cert_error {
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => (
                TlsFailureKind::HostnameMismatch,
                format!("{it} does not name {name}, the host in the URL"),
            ),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => (
                TlsFailureKind::Expired,
                format!("{it} has expired: it was valid until {}", d.not_after),
            ),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => (
                TlsFailureKind::Expired,
                format!("{it} is not valid yet: it is valid from {}", d.not_before),
            ),
            CertificateError::UnknownIssuer if d.self_signed => (
                TlsFailureKind::UntrustedCertificate,
                format!(
                    "{it} is self-signed and is not one of this machine's trusted roots{}",
                    if given > 0 { ", nor the certificate given with --ca-cert (compare the two files)" } else { "" }
                ),
            ),
            CertificateError::UnknownIssuer => (
                TlsFailureKind::UntrustedCertificate,
                format!(
                    "{it} does not lead to a trusted root: \"{}\" is not one of this machine's trusted roots{given_words}, and the server sent no intermediate that leads to one",
                    d.issuer
                ),
            ),
            CertificateError::BadSignature => (
                TlsFailureKind::UntrustedCertificate,
                format!(
                    "{it} carries a signature that the key of \"{}\" as trusted here does not verify: a different CA of the same name is trusted here, or the certificate is damaged",
                    d.issuer
                ),
            ),
            // webpki's own errors (CaUsedAsEndEntity, …) come as Other.
            _ if d.is_ca && d.self_signed => (
                TlsFailureKind::UntrustedCertificate,
                format!(
                    "{it} is a self-signed CA certificate serving as the server's own; it is accepted only when given itself with --ca-cert{}",
                    if given > 0 { ", and the certificate given is a different one" } else { "" }
                ),
            ),
            _ if d.is_ca => (
                TlsFailureKind::UntrustedCertificate,
                format!("{it} is a CA certificate (basicConstraints CA:TRUE) serving as the server's own"),
            ),
            _ => (
                TlsFailureKind::UntrustedCertificate,
                format!("{it} was refused: {}", cert_error_words(cert_error)),
            ),
        };
        Some(CertProblem { kind, words })
    }

    /// A certificate the user gave with `--ca-cert`, served as it is: its
    /// name and validity period still have to fit.
    fn check_given(
        &self,
        end_entity: &CertificateDer<'_>,
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        let parsed = ParsedCertificate::try_from(end_entity)?;
        let d = describe(end_entity, now);
        let it = d
            .as_ref()
            .map_or_else(|| "the server's certificate".to_owned(), Described::line);
        if verify_server_name(&parsed, server_name).is_err() {
            return Err(refuse(
                TlsFailureKind::HostnameMismatch,
                format!(
                    "{it} is the one given with --ca-cert, but it does not name {}, the host in the URL",
                    server_name.to_str()
                ),
            ));
        }
        match d {
            Some(d) if d.valid_at_now == Some(false) => Err(refuse(
                TlsFailureKind::Expired,
                format!(
                    "{it} is the one given with --ca-cert, but it is valid only from {} to {}",
                    d.not_before, d.not_after
                ),
            )),
            Some(_) => Ok(()),
            None => Err(refuse(
                TlsFailureKind::UntrustedCertificate,
                "the server's certificate is the one given with --ca-cert, but it cannot be read as X.509".to_owned(),
            )),
        }
    }
}

/// rustls' certificate errors in words, for the ones [`GivenOrWebpki::explain`]
/// has no sentence of its own for.
fn cert_error_words(e: &CertificateError) -> String {
    match e {
        CertificateError::BadEncoding => "it is not valid DER".to_owned(),
        CertificateError::Revoked => "it is revoked".to_owned(),
        CertificateError::UnhandledCriticalExtension => {
            "it has a critical extension this client does not know".to_owned()
        }
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "it is not issued for TLS servers (extended key usage)".to_owned()
        }
        CertificateError::UnsupportedSignatureAlgorithmContext { .. }
        | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "it is signed with an algorithm this client does not support".to_owned()
        }
        // rustls' Display (never Debug) for the rest; webpki's own error
        // names are single words like `CaUsedAsEndEntity`.
        other => other.to_string(),
    }
}

impl ServerCertVerifier for GivenOrWebpki {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.given.iter().any(|g| g.as_ref() == end_entity.as_ref()) {
            self.check_given(end_entity, server_name, now)?;
            return Ok(ServerCertVerified::assertion());
        }
        self.webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map_err(|e| match self.explain(&e, end_entity, server_name, now) {
                Some(p) => refuse(p.kind, p.words),
                None => e,
            })
    }

    // Signatures are checked as the standard verifier checks them: only
    // the choice of certificate differs.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}
