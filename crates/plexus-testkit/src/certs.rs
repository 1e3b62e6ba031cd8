//! Test certificates made with rcgen: a CA, and server certificates it signs.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A server certificate chain and key, and the CA that a client must trust for it.
#[derive(Debug, Clone)]
pub struct TestCerts {
    /// The CA certificate (PEM) to give the client (`--cacert`, `add_root_certificate`).
    pub ca_pem: String,
    /// The server certificate (PEM).
    pub cert_pem: String,
    /// The server's private key (PKCS#8 PEM).
    pub key_pem: String,
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

/// The names every default test certificate is valid for.
pub const TEST_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

impl TestCerts {
    /// A fresh CA and a server certificate it signs for `names`.
    pub fn signed_for(names: &[&str]) -> TestCerts {
        let (ca_pem, issuer) = new_ca();
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_string()).collect::<Vec<_>>())
                .expect("test names are valid");
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or("test"));
        params.use_authority_key_identifier_extension = true;
        params.key_usages.push(KeyUsagePurpose::DigitalSignature);
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ServerAuth);
        let key = KeyPair::generate().expect("key generation");
        let cert = params.signed_by(&key, &issuer).expect("signing");
        TestCerts::from_parts(ca_pem, &cert, &key)
    }

    /// A self-signed server certificate (no CA a client could trust except itself).
    pub fn self_signed() -> TestCerts {
        let params = CertificateParams::new(
            TEST_NAMES
                .iter()
                .map(|n| (*n).to_string())
                .collect::<Vec<_>>(),
        )
        .expect("test names are valid");
        let key = KeyPair::generate().expect("key generation");
        let cert = params.self_signed(&key).expect("self-signing");
        TestCerts::from_parts(cert.pem(), &cert, &key)
    }

    fn from_parts(ca_pem: String, cert: &rcgen::Certificate, key: &KeyPair) -> TestCerts {
        TestCerts {
            ca_pem,
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }

    /// A rustls server configuration with these certificates and the given ALPN list.
    pub fn server_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
        self.server_config_with_versions(alpn, rustls::DEFAULT_VERSIONS)
    }

    /// A rustls server configuration offering only the given TLS versions.
    pub fn server_config_with_versions(
        &self,
        alpn: &[&[u8]],
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .expect("ring supports TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_single_cert(
                vec![self.cert_der.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
            )
            .expect("the test key matches its certificate");
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }

    /// Writes `ca.pem`, `cert.pem` and `key.pem` into `dir`; returns their paths.
    pub fn write_to(&self, dir: &Path) -> io::Result<CertFiles> {
        let files = CertFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        std::fs::write(&files.ca, &self.ca_pem)?;
        std::fs::write(&files.cert, &self.cert_pem)?;
        std::fs::write(&files.key, &self.key_pem)?;
        Ok(files)
    }
}

/// Paths of certificate files written by [`TestCerts::write_to`].
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// The CA certificate.
    pub ca: PathBuf,
    /// The server certificate.
    pub cert: PathBuf,
    /// The server key.
    pub key: PathBuf,
}

/// The process-wide test certificates, valid for `localhost`, `127.0.0.1` and `::1`.
pub fn test_certs() -> &'static TestCerts {
    static CERTS: OnceLock<TestCerts> = OnceLock::new();
    CERTS.get_or_init(|| TestCerts::signed_for(&TEST_NAMES))
}

fn new_ca() -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("no names is valid");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "plexus test CA");
    params.key_usages.push(KeyUsagePurpose::KeyCertSign);
    params.key_usages.push(KeyUsagePurpose::DigitalSignature);
    params.key_usages.push(KeyUsagePurpose::CrlSign);
    let key = KeyPair::generate().expect("key generation");
    let cert = params.self_signed(&key).expect("self-signing the CA");
    (cert.pem(), Issuer::new(params, key))
}
