//! TLS for the endpoint's own QUIC connections (HTTP/0.9): which roots to trust, which
//! cipher suites to offer, the key log.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// A TLS 1.3 client configuration for QUIC with `alpn`.
///
/// `ca` names a PEM file of roots to verify the server against; without one every
/// certificate is accepted (the interop runner's servers present self-signed ones). With
/// `chacha20_only`, TLS_CHACHA20_POLY1305_SHA256 is the only suite offered. Keys are
/// logged to `$SSLKEYLOGFILE` when it is set.
pub fn client_config(
    alpn: &[u8],
    ca: Option<&Path>,
    chacha20_only: bool,
) -> io::Result<rustls::ClientConfig> {
    let mut provider = rustls::crypto::ring::default_provider();
    if chacha20_only {
        provider.cipher_suites =
            vec![rustls::crypto::ring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256];
    }
    let provider = Arc::new(provider);
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(io::Error::other)?;
    let mut config = match ca {
        Some(ca) => {
            let pem = std::fs::read(ca)?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                roots
                    .add(cert.map_err(io::Error::other)?)
                    .map_err(io::Error::other)?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(plexus::AcceptAnyCertificate::new(provider)))
            .with_no_client_auth(),
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    config.enable_early_data = true;
    config.key_log = Arc::new(rustls::KeyLogFile::new());
    Ok(config)
}

/// The QUIC Initial packets' suite: always AES-128-GCM (RFC 9001 §5.2), whatever the
/// handshake negotiates.
pub fn initial_suite() -> io::Result<rustls::quic::Suite> {
    rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256
        .tls13()
        .and_then(|s| s.quic_suite())
        .ok_or_else(|| io::Error::other("ring has no QUIC suite for AES-128-GCM"))
}
