//! Sets up a TCP connection to an origin: resolve, connect (Happy Eyeballs), TLS with ALPN,
//! then HTTP/2 or HTTP/1.1 as the server chose.

use std::sync::Arc;
use std::time::{Duration, Instant};

use plexus_core::{
    ConnectTimings, ConnectionId, ConnectionInfo, Error, ErrorKind, Origin, Protocol, TlsInfo,
};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tracing::Instrument;

use crate::h1::{self, H1Settings};
use crate::h2::{self, H2Settings};
use crate::happy_eyeballs;
use crate::io::MaybeTls;
use crate::tunnel::{self, ProxyEndpoint};
use crate::TcpConnection;

/// Which HTTP versions to speak over TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HttpVersionPolicy {
    /// TLS: offer ALPN `h2, http/1.1` and speak what the server picks (HTTP/1.1 when it
    /// picks nothing). Cleartext: HTTP/1.1. The default.
    #[default]
    Negotiate,
    /// HTTP/1.1 only (ALPN `http/1.1`).
    Http1Only,
    /// HTTP/2 without negotiation: h2c on cleartext, ALPN `h2` only on TLS.
    Http2PriorKnowledge,
}

/// Settings of the TCP transport. Every field has a documented default.
#[derive(Debug, Clone)]
pub struct TcpConfig {
    /// How long connection set-up (DNS, TCP, TLS, protocol preface) may take.
    /// Default: 10 s.
    pub connect_timeout: Option<Duration>,
    /// Happy Eyeballs stagger: how long an address gets before the next one is tried too.
    /// Default: 250 ms (RFC 8305's recommended Connection Attempt Delay).
    pub happy_eyeballs_delay: Duration,
    /// HTTP/2 settings (windows sized for bulk transfer: 4 MiB per stream, 16 MiB per
    /// connection, frames up to 64 KiB).
    pub h2: H2Settings,
    /// HTTP/1.1 settings.
    pub h1: H1Settings,
}

impl Default for TcpConfig {
    fn default() -> TcpConfig {
        TcpConfig {
            connect_timeout: Some(Duration::from_secs(10)),
            happy_eyeballs_delay: Duration::from_millis(250),
            h2: H2Settings::default(),
            h1: H1Settings::default(),
        }
    }
}

/// Opens [`TcpConnection`]s. Holds one TLS configuration per ALPN offer, all sharing one
/// session cache so that a second connection to a host resumes the TLS session.
#[derive(Clone)]
pub struct TcpConnector {
    config: Arc<TcpConfig>,
    tls_negotiate: Option<TlsConnector>,
    tls_h1: Option<TlsConnector>,
    tls_h2: Option<TlsConnector>,
}

impl std::fmt::Debug for TcpConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpConnector")
            .field("config", &self.config)
            .field("tls", &self.tls_negotiate.is_some())
            .finish()
    }
}

impl TcpConnector {
    /// A connector with `config`; `tls` is the base TLS configuration (roots, verification,
    /// session cache). Its ALPN list is replaced per [`HttpVersionPolicy`]. Without `tls`,
    /// only `http://` origins can be reached.
    pub fn new(config: TcpConfig, tls: Option<Arc<rustls::ClientConfig>>) -> TcpConnector {
        let with_alpn = |alpn: &[&[u8]]| {
            tls.as_ref().map(|base| {
                let mut c = (**base).clone();
                c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
                TlsConnector::from(Arc::new(c))
            })
        };
        TcpConnector {
            tls_negotiate: with_alpn(&[b"h2", b"http/1.1"]),
            tls_h1: with_alpn(&[b"http/1.1"]),
            tls_h2: with_alpn(&[b"h2"]),
            config: Arc::new(config),
        }
    }

    /// The transport settings.
    pub fn config(&self) -> &TcpConfig {
        &self.config
    }

    /// Sets up a connection to `origin`, bounded by the connect timeout.
    pub async fn connect(
        &self,
        origin: &Origin,
        policy: HttpVersionPolicy,
    ) -> Result<TcpConnection, Error> {
        self.connect_via(origin, policy, None).await
    }

    /// Sets up a connection to `origin`, through a `CONNECT` tunnel of `proxy` when one
    /// is given, bounded by the connect timeout (which then covers the tunnel too).
    pub async fn connect_via(
        &self,
        origin: &Origin,
        policy: HttpVersionPolicy,
        proxy: Option<&ProxyEndpoint>,
    ) -> Result<TcpConnection, Error> {
        let span = tracing::debug_span!("connect", %origin, proxy = proxy.map(|p| p.authority()));
        let attempt = self.connect_inner(origin, policy, proxy).instrument(span);
        let result = match self.config.connect_timeout {
            Some(limit) => match tokio::time::timeout(limit, attempt).await {
                Ok(r) => r,
                Err(_) => Err(Error::new(ErrorKind::ConnectTimeout)
                    .with_message(format!("no connection within {limit:?}"))),
            },
            None => attempt.await,
        };
        result.map_err(|e| e.with_origin(origin))
    }

    async fn connect_inner(
        &self,
        origin: &Origin,
        policy: HttpVersionPolicy,
        proxy: Option<&ProxyEndpoint>,
    ) -> Result<TcpConnection, Error> {
        let started = Instant::now();
        let (host, port) = match proxy {
            Some(p) => (p.host.as_str(), p.port),
            None => (origin.host(), origin.port()),
        };
        let in_proxy = |e: Error| match proxy {
            Some(p) => {
                let what = e.message().unwrap_or_default().to_string();
                e.with_message(format!("proxy {}: {what}", p.authority()))
            }
            None => e,
        };
        let addrs = happy_eyeballs::resolve(host, port)
            .await
            .map_err(in_proxy)?;
        let resolved = Instant::now();
        let tcp = happy_eyeballs::connect(&addrs, self.config.happy_eyeballs_delay)
            .await
            .map_err(in_proxy)?;
        let remote_addr = tcp
            .peer_addr()
            .map_err(|e| Error::new(ErrorKind::Connect).with_source(e))?;
        let local_addr = tcp.local_addr().ok();

        let io = match proxy {
            Some(p) => {
                let mut io = if p.tls {
                    let (stream, _, _) = tls_over(self.tls_h1.as_ref(), &p.host, tcp)
                        .await
                        .map_err(in_proxy)?;
                    MaybeTls::Tls(Box::new(stream))
                } else {
                    MaybeTls::Plain(tcp)
                };
                tunnel::establish(&mut io, p, origin).await?;
                io
            }
            None => MaybeTls::Plain(tcp),
        };
        let connected = Instant::now();

        let (io, alpn, tls, tls_done) = if origin.is_tls() {
            let connector = match policy {
                HttpVersionPolicy::Negotiate => &self.tls_negotiate,
                HttpVersionPolicy::Http1Only => &self.tls_h1,
                HttpVersionPolicy::Http2PriorKnowledge => &self.tls_h2,
            };
            let (io, alpn, info) = match io {
                MaybeTls::Plain(tcp) => {
                    let (s, alpn, info) = tls_over(connector.as_ref(), origin.host(), tcp).await?;
                    (MaybeTls::Tls(Box::new(s)), alpn, info)
                }
                tunnel => {
                    let (s, alpn, info) =
                        tls_over(connector.as_ref(), origin.host(), tunnel).await?;
                    (MaybeTls::Nested(Box::new(s)), alpn, info)
                }
            };
            (io, alpn, Some(info), Some(Instant::now()))
        } else {
            (io, None, None, None)
        };

        let protocol = match (policy, alpn.as_deref()) {
            (HttpVersionPolicy::Http2PriorKnowledge, _) | (_, Some("h2")) => Protocol::Http2,
            _ => Protocol::Http1,
        };
        let info = ConnectionInfo {
            id: ConnectionId::next(),
            origin: origin.clone(),
            protocol,
            remote_addr,
            local_addr,
            alpn,
            tls,
            timings: ConnectTimings {
                started,
                resolved,
                connected,
                tls_done,
            },
            race: None,
            proxy: proxy.map(ProxyEndpoint::authority),
        };
        tracing::debug!(
            conn = %info.id,
            %remote_addr,
            alpn = ?info.alpn,
            %protocol,
            setup_ms = info.timings.total().as_secs_f64() * 1e3,
            "connected"
        );
        match protocol {
            Protocol::Http2 => Ok(TcpConnection::from(
                h2::handshake(io, info, &self.config.h2).await?,
            )),
            _ => Ok(TcpConnection::from(
                h1::handshake(io, info, &self.config.h1).await?,
            )),
        }
    }
}

/// A TLS handshake with `host` over `io`: the stream, the ALPN protocol the server
/// picked, and the session's facts.
async fn tls_over<S>(
    connector: Option<&TlsConnector>,
    host: &str,
    io: S,
) -> Result<(TlsStream<S>, Option<String>, TlsInfo), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let connector = connector
        .ok_or_else(|| Error::new(ErrorKind::Tls).with_message("no TLS configuration for https"))?;
    let name = ServerName::try_from(host.to_string()).map_err(|e| {
        Error::new(ErrorKind::InvalidUrl)
            .with_message(format!("`{host}` is not a valid TLS server name"))
            .with_source(e)
    })?;
    let stream = connector
        .connect(name, io)
        .await
        .map_err(crate::classify::tls_handshake)?;
    let (_, session) = stream.get_ref();
    let alpn = session
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let info = tls_info(session);
    Ok((stream, alpn, info))
}

fn tls_info(session: &rustls::ClientConnection) -> TlsInfo {
    let version = match session.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
        Some(v) => format!("{v:?}"),
        None => "unknown".to_string(),
    };
    TlsInfo {
        version,
        cipher_suite: session
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()))
            .unwrap_or_default(),
        resumed: matches!(
            session.handshake_kind(),
            Some(rustls::HandshakeKind::Resumed)
        ),
    }
}
