//! Readiness probe: a real h2 GET over TLS that must answer 200.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::certs::test_certs;

/// A root store trusting the test CA.
fn test_roots() -> io::Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(test_certs().ca_pem.as_bytes()) {
        roots
            .add(cert.map_err(io::Error::other)?)
            .map_err(io::Error::other)?;
    }
    Ok(roots)
}

pub(crate) async fn fetch_h2(addr: SocketAddr, path: &str) -> io::Result<()> {
    let port = addr.port();
    let tcp = TcpStream::connect(addr).await?;
    let roots = test_roots()?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let name = ServerName::try_from("localhost").map_err(io::Error::other)?;
    let tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    get_h2(tls, port, path).await
}

pub(crate) async fn fetch_h2c(addr: SocketAddr, path: &str) -> io::Result<()> {
    let tcp = TcpStream::connect(addr).await?;
    get_h2(tcp, addr.port(), path).await
}

/// One h2 GET of `path` over `io`, which must answer 200.
async fn get_h2<T>(io: T, port: u16, path: &str) -> io::Result<()>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = h2::client::handshake(io).await.map_err(io::Error::other)?;
    let driver = tokio::spawn(conn);
    let request = http::Request::get(format!("https://localhost:{port}{path}"))
        .body(())
        .map_err(io::Error::other)?;
    let (response, _) = sender
        .send_request(request, true)
        .map_err(io::Error::other)?;
    let response = response.await.map_err(io::Error::other)?;
    let status = response.status();
    drop(sender);
    let mut body = response.into_body();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(io::Error::other)?;
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    driver.abort();
    if status == http::StatusCode::OK {
        Ok(())
    } else {
        Err(io::Error::other(format!("readiness probe got {status}")))
    }
}

/// A real h3 GET over QUIC that must answer 200 (for servers that speak only HTTP/3).
pub(crate) async fn fetch_h3(addr: SocketAddr, path: &str) -> io::Result<()> {
    let port = addr.port();
    let roots = test_roots()?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h3".to_vec()];
    let crypto =
        quinn::crypto::rustls::QuicClientConfig::try_from(tls).map_err(io::Error::other)?;
    let local: SocketAddr = if addr.is_ipv6() {
        (Ipv6Addr::LOCALHOST, 0).into()
    } else {
        (Ipv4Addr::LOCALHOST, 0).into()
    };
    let mut endpoint = quinn::Endpoint::client(local)?;
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
    let result = async {
        let conn = endpoint
            .connect(addr, "localhost")
            .map_err(io::Error::other)?
            .await
            .map_err(io::Error::other)?;
        let (mut driver, mut sender) = h3::client::new(h3_quinn::Connection::new(conn))
            .await
            .map_err(io::Error::other)?;
        let drive = tokio::spawn(async move {
            let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
        });
        let request = http::Request::get(format!("https://localhost:{port}{path}"))
            .body(())
            .map_err(io::Error::other)?;
        let mut stream = sender
            .send_request(request)
            .await
            .map_err(io::Error::other)?;
        stream.finish().await.map_err(io::Error::other)?;
        let response = stream.recv_response().await.map_err(io::Error::other)?;
        while stream
            .recv_data()
            .await
            .map_err(io::Error::other)?
            .is_some()
        {}
        drive.abort();
        if response.status() == http::StatusCode::OK {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "readiness probe got {}",
                response.status()
            )))
        }
    }
    .await;
    endpoint.close(0u32.into(), b"probe done");
    result
}
