//! TLS configuration: root certificates, verification, session resumption.
//!
//! Certificate and host-name verification are on by default, against Mozilla's root
//! store (webpki-roots) plus any CA added with
//! [`ClientBuilder::add_root_certificate`](crate::ClientBuilder::add_root_certificate).
//! TLS 1.3 and 1.2 are offered; sessions are cached in memory (256 entries) and shared by
//! every connection of a client, so a second connection to a host resumes. When the
//! `SSLKEYLOGFILE` environment variable names a file, session keys are logged to it (for
//! Wireshark), as curl and browsers do.

use std::fmt;
use std::sync::Arc;

use plexus_core::{Error, ErrorKind};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;

/// A trusted root (CA) certificate.
#[derive(Clone)]
pub struct Certificate {
    der: CertificateDer<'static>,
}

impl Certificate {
    /// The first certificate of a PEM document.
    pub fn from_pem(pem: &[u8]) -> Result<Certificate, Error> {
        Certificate::from_pem_bundle(pem)?
            .into_iter()
            .next()
            .ok_or_else(|| bad_cert("no certificate found in the PEM data"))
    }

    /// Every certificate of a PEM document (a CA bundle).
    pub fn from_pem_bundle(pem: &[u8]) -> Result<Vec<Certificate>, Error> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .map(|c| c.map(|der| Certificate { der }))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad_cert("invalid PEM certificate").with_source(e))?;
        if certs.is_empty() {
            return Err(bad_cert("no certificate found in the PEM data"));
        }
        Ok(certs)
    }

    /// A DER-encoded certificate.
    pub fn from_der(der: &[u8]) -> Result<Certificate, Error> {
        Ok(Certificate {
            der: CertificateDer::from(der.to_vec()),
        })
    }
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Certificate({} bytes)", self.der.len())
    }
}

fn bad_cert(msg: &'static str) -> Error {
    Error::new(ErrorKind::Tls).with_message(msg)
}

/// What the TLS configuration is built from.
#[derive(Debug, Clone)]
pub(crate) struct TlsOptions {
    pub(crate) extra_roots: Vec<Certificate>,
    pub(crate) built_in_roots: bool,
    pub(crate) accept_invalid_certs: bool,
}

impl Default for TlsOptions {
    fn default() -> TlsOptions {
        TlsOptions {
            extra_roots: Vec::new(),
            built_in_roots: true,
            accept_invalid_certs: false,
        }
    }
}

/// Builds the client's base TLS configuration (ALPN is set per connection kind).
pub(crate) fn client_config(opts: &TlsOptions) -> Result<Arc<rustls::ClientConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| Error::new(ErrorKind::Tls).with_source(e))?;
    let mut config = if opts.accept_invalid_certs {
        tracing::warn!("TLS certificate verification is DISABLED (danger_accept_invalid_certs)");
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate::new(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        if opts.built_in_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for cert in &opts.extra_roots {
            roots.add(cert.der.clone()).map_err(|e| {
                Error::new(ErrorKind::Tls)
                    .with_message("a root certificate could not be added")
                    .with_source(e)
            })?;
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.key_log = Arc::new(rustls::KeyLogFile::new());
    config.resumption =
        rustls::client::Resumption::store(crate::session_store::SessionStore::new());
    Ok(Arc::new(config))
}

/// A rustls verifier that accepts any server certificate, still checking that the
/// handshake is signed by the key in the certificate presented: what
/// [`ClientBuilder::danger_accept_invalid_certs`](crate::ClientBuilder::danger_accept_invalid_certs)
/// installs, public for tools that build their own rustls configuration (test harnesses
/// against self-signed servers). Never use it against a server you do not control.
#[derive(Debug)]
pub struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl AcceptAnyCertificate {
    /// A verifier checking handshake signatures with `provider`'s algorithms.
    pub fn new(provider: Arc<CryptoProvider>) -> AcceptAnyCertificate {
        AcceptAnyCertificate { provider }
    }
}

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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
