//! An HTTP `CONNECT` proxy on loopback: reads a `CONNECT host:port` request, checks
//! `Proxy-Authorization` when credentials are set, opens the TCP tunnel and relays bytes
//! both ways, counting on its side what a test asserts (tunnels opened, their targets,
//! requests refused). It can speak TLS itself (an `https://` proxy), and can be told to
//! answer every `CONNECT` with canned bytes, as a broken or hostile proxy would.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;
use tokio_rustls::TlsAcceptor;

use crate::certs::test_certs;

/// What a [`ConnectProxy`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// `CONNECT` targets of the tunnels opened, in order (`host:port`).
    pub tunnels: Vec<String>,
    /// `CONNECT` requests answered 407 (missing or wrong credentials).
    pub auth_refused: u64,
    /// Connections accepted (tunnels or not).
    pub connections: u64,
}

/// Settings of a [`ConnectProxy`].
#[derive(Debug, Clone, Default)]
pub struct ConnectProxyBuilder {
    credentials: Option<(String, String)>,
    tls: bool,
    canned_answer: Option<Vec<u8>>,
}

impl ConnectProxyBuilder {
    /// Demands `Proxy-Authorization: Basic` with these credentials (407 otherwise).
    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        self.credentials = Some((user.into(), password.into()));
        self
    }

    /// Speaks TLS (the test certificates, valid for `localhost` and 127.0.0.1).
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Answers every `CONNECT` with `bytes` and then closes, opening no tunnel.
    pub fn canned_answer(mut self, bytes: &[u8]) -> Self {
        self.canned_answer = Some(bytes.to_vec());
        self
    }

    /// Starts the proxy on a fresh port of 127.0.0.1.
    pub async fn start(self) -> io::Result<ConnectProxy> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(Mutex::new(ProxyStats::default()));
        let tls_enabled = self.tls;
        let tls = self
            .tls
            .then(|| TlsAcceptor::from(test_certs().server_config(&[b"http/1.1"])));
        let settings = Arc::new(self);
        let counts = Arc::clone(&stats);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let _ = client.set_nodelay(true);
                if let Ok(mut s) = counts.lock() {
                    s.connections += 1;
                }
                let settings = Arc::clone(&settings);
                let counts = Arc::clone(&counts);
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(client).await {
                                serve(stream, &settings, &counts).await;
                            }
                        }
                        None => serve(client, &settings, &counts).await,
                    }
                });
            }
        });
        Ok(ConnectProxy {
            addr,
            tls: tls_enabled,
            stats,
            accept: accept.abort_handle(),
        })
    }
}

/// A running `CONNECT` proxy; stops when dropped.
#[derive(Debug)]
pub struct ConnectProxy {
    addr: SocketAddr,
    tls: bool,
    stats: Arc<Mutex<ProxyStats>>,
    accept: AbortHandle,
}

impl ConnectProxy {
    /// A proxy with the default settings: cleartext, no credentials, tunnels to anywhere.
    pub async fn start() -> io::Result<ConnectProxy> {
        ConnectProxy::builder().start().await
    }

    /// Settings for a proxy.
    pub fn builder() -> ConnectProxyBuilder {
        ConnectProxyBuilder::default()
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy's URL: `http://127.0.0.1:PORT` (or `https://localhost:PORT` for TLS).
    pub fn url(&self) -> String {
        if self.tls {
            format!("https://localhost:{}", self.addr.port())
        } else {
            format!("http://{}", self.addr)
        }
    }

    /// What the proxy did so far.
    pub fn stats(&self) -> ProxyStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn serve<S>(mut client: S, settings: &ConnectProxyBuilder, stats: &Mutex<ProxyStats>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Some(head) = read_head(&mut client).await else {
        return;
    };
    if let Some(answer) = &settings.canned_answer {
        let _ = client.write_all(answer).await;
        let _ = client.shutdown().await;
        return;
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some("CONNECT"), Some(target)) = (parts.next(), parts.next()) else {
        let _ = client
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            .await;
        return;
    };
    if let Some((user, password)) = &settings.credentials {
        use base64::Engine as _;
        let expected = format!(
            "basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        let authorized = lines.any(|line| {
            line.split_once(':').is_some_and(|(name, value)| {
                name.eq_ignore_ascii_case("proxy-authorization")
                    && value.trim().eq_ignore_ascii_case(&expected)
            })
        });
        if !authorized {
            if let Ok(mut s) = stats.lock() {
                s.auth_refused += 1;
            }
            let _ = client
                .write_all(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                      Proxy-Authenticate: Basic realm=\"plexus-testkit\"\r\n\
                      Content-Length: 0\r\n\r\n",
                )
                .await;
            return;
        }
    }
    let Ok(mut upstream) = TcpStream::connect(target).await else {
        let _ = client
            .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            .await;
        return;
    };
    let _ = upstream.set_nodelay(true);
    if let Ok(mut s) = stats.lock() {
        s.tunnels.push(target.to_string());
    }
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await
        .is_err()
    {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

/// The request head, read byte by byte so that nothing past it is consumed (at most
/// 16 KiB).
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 {
            return None;
        }
        head.push(stream.read_u8().await.ok()?);
    }
    Some(head)
}
