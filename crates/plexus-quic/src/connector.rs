//! Sets up QUIC connections: one quinn endpoint (UDP socket) per address family, shared
//! by every connection of a client; TLS 1.3 with ALPN `h3`; then HTTP/3.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plexus_core::{Error, ErrorKind, Origin};
use quinn::crypto::rustls::QuicClientConfig;

use crate::connection::{self, PathFailureHook, QuicConnection};
use crate::peer_params::{PeerParams, TappedConfig};
use crate::udp_pacing::{BurstGauge, PacedUdp};

/// Settings of the QUIC transport. Every field has a documented default.
#[derive(Debug, Clone)]
pub struct QuicConfig {
    /// How long the QUIC handshake may take before the attempt fails (an unanswered
    /// QUIC handshake otherwise waits for the idle timeout). Default: 10 s.
    pub connect_timeout: Duration,
    /// A connection with no traffic for this long is closed (QUIC `max_idle_timeout`).
    /// Default: 30 s.
    pub idle_timeout: Duration,
    /// PINGs are sent after this long without traffic, so that a pooled connection
    /// does not idle out (the pool's own idle timeout decides when to let it go), and a
    /// dead path is noticed within the idle timeout. Default: 10 s.
    pub keep_alive_interval: Option<Duration>,
    /// How much a server may send on one stream before the client acknowledges it.
    /// Default: 4 MiB, as for h2.
    pub stream_receive_window: u32,
    /// The connection-level receive window. Default: 16 MiB.
    pub receive_window: u32,
    /// Never open more streams than this on one connection, whatever the peer allows.
    pub max_concurrent_streams: usize,
    /// Send replay-safe requests in 0-RTT early data when a session ticket allows it.
    /// Default: true. Requests that are not replay-safe always wait for the handshake.
    pub zero_rtt: bool,
    /// `SETTINGS_MAX_FIELD_SECTION_SIZE`: the largest response header section accepted.
    /// Default: 256 KiB, as for h2.
    pub max_field_section_size: u64,
    /// Write a qlog file (JSON-SEQ, quinn's events) per connection into this directory.
    /// Default: none.
    #[cfg(feature = "qlog")]
    pub qlog_dir: Option<std::path::PathBuf>,
}

impl Default for QuicConfig {
    fn default() -> QuicConfig {
        QuicConfig {
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            keep_alive_interval: Some(Duration::from_secs(10)),
            stream_receive_window: 4 * 1024 * 1024,
            receive_window: 16 * 1024 * 1024,
            max_concurrent_streams: usize::MAX,
            zero_rtt: true,
            max_field_section_size: 256 * 1024,
            #[cfg(feature = "qlog")]
            qlog_dir: None,
        }
    }
}

/// quinn's transport settings from `config`.
fn transport_config(config: &QuicConfig) -> Result<quinn::TransportConfig, Error> {
    let mut transport = quinn::TransportConfig::default();
    let idle = quinn::IdleTimeout::try_from(config.idle_timeout).map_err(|e| {
        Error::new(ErrorKind::InvalidRequest)
            .with_message("QUIC idle timeout out of range")
            .with_source(e)
    })?;
    transport
        .max_idle_timeout(Some(idle))
        .keep_alive_interval(config.keep_alive_interval)
        .stream_receive_window(config.stream_receive_window.into())
        .receive_window(config.receive_window.into())
        .send_window(u64::from(config.receive_window));
    Ok(transport)
}

/// Opens [`QuicConnection`]s.
#[derive(Clone)]
pub struct QuicConnector {
    config: Arc<QuicConfig>,
    crypto: Arc<QuicClientConfig>,
    transport: Arc<quinn::TransportConfig>,
    endpoints: Arc<Endpoints>,
    /// Origins that rejected 0-RTT: early data is not attempted with them again.
    rejected_early: Arc<Mutex<HashSet<Origin>>>,
    on_path_failure: Option<PathFailureHook>,
}

impl std::fmt::Debug for QuicConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuicConnector")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl QuicConnector {
    /// A connector with `config`. `tls` is the client's base TLS configuration (roots,
    /// verification, session store): its ALPN becomes `h3`, and since the configuration
    /// is cloned, QUIC and TLS-over-TCP share one session store.
    pub fn new(config: QuicConfig, tls: &rustls::ClientConfig) -> Result<QuicConnector, Error> {
        let mut tls = tls.clone();
        tls.alpn_protocols = vec![b"h3".to_vec()];
        // Without 0-RTT, the ClientHello does not offer early data at all.
        tls.enable_early_data = config.zero_rtt;
        let crypto = QuicClientConfig::try_from(tls).map_err(|e| {
            Error::new(ErrorKind::Tls)
                .with_message("the TLS configuration cannot be used for QUIC")
                .with_source(e)
        })?;
        let transport = transport_config(&config)?;
        Ok(QuicConnector {
            config: Arc::new(config),
            crypto: Arc::new(crypto),
            transport: Arc::new(transport),
            endpoints: Arc::new(Endpoints::default()),
            rejected_early: Arc::default(),
            on_path_failure: None,
        })
    }

    /// Calls `hook` with the origin whenever a connection's network path fails (it goes
    /// silent until the idle timeout, or breaks at the transport level) — at once, before
    /// the requests that were on it fail.
    pub fn on_path_failure(mut self, hook: PathFailureHook) -> QuicConnector {
        self.on_path_failure = Some(hook);
        self
    }

    /// The transport settings.
    pub fn config(&self) -> &QuicConfig {
        &self.config
    }

    /// The transport configuration of a new connection to `origin`: the shared one, or
    /// with a qlog directory, one of its own that writes `plexus-PID-N-HOST.sqlog` (N
    /// counts the process's connections, so that several clients may share a directory).
    fn transport_for(&self, origin: &Origin) -> Result<Arc<quinn::TransportConfig>, Error> {
        #[cfg(feature = "qlog")]
        if let Some(dir) = &self.config.qlog_dir {
            static QLOGS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = QLOGS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = dir.join(format!(
                "plexus-{}-{n}-{}.sqlog",
                std::process::id(),
                origin.host()
            ));
            let file = std::fs::File::create(&path).map_err(|e| {
                Error::new(ErrorKind::InvalidRequest)
                    .with_message(format!("cannot write the qlog file {}", path.display()))
                    .with_source(e)
            })?;
            let mut qlog = quinn::QlogConfig::default();
            qlog.writer(Box::new(file))
                .title(Some(format!("plexus connection {n} to {origin}")));
            let mut transport = transport_config(&self.config)?;
            transport.qlog_stream(qlog.into_stream());
            return Ok(Arc::new(transport));
        }
        let _ = origin;
        Ok(Arc::clone(&self.transport))
    }

    /// Sets up a QUIC connection to `origin` and HTTP/3 on it, within the connect
    /// timeout.
    pub async fn connect(&self, origin: &Origin) -> Result<QuicConnection, Error> {
        self.connect_via(origin, None).await
    }

    /// Like [`connect`](Self::connect), but to an alternative service (`Alt-Svc`) at
    /// `via` = (host, port): the packets go there, the TLS handshake still proves the
    /// origin's name (RFC 7838 §2.1).
    pub async fn connect_via(
        &self,
        origin: &Origin,
        via: Option<(&str, u16)>,
    ) -> Result<QuicConnection, Error> {
        let attempt = self.connect_inner(origin, via);
        match tokio::time::timeout(self.config.connect_timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(Error::new(ErrorKind::ConnectTimeout)
                .with_message(format!(
                    "no QUIC handshake within {:?}",
                    self.config.connect_timeout
                ))
                .with_protocol(plexus_core::Protocol::Http3)),
        }
        .map_err(|e| e.with_origin(origin))
    }

    async fn connect_inner(
        &self,
        origin: &Origin,
        via: Option<(&str, u16)>,
    ) -> Result<QuicConnection, Error> {
        let started = Instant::now();
        let (host, port) = via.unwrap_or((origin.host(), origin.port()));
        let addr = resolve(host, port).await?;
        let resolved = Instant::now();
        let (endpoint, bursts) = self.endpoints.for_addr(addr)?;
        let params = Arc::new(PeerParams::default());
        let crypto: Arc<dyn quinn::crypto::ClientConfig> = Arc::new(TappedConfig {
            inner: Arc::clone(&self.crypto) as Arc<dyn quinn::crypto::ClientConfig>,
            params: Arc::clone(&params),
        });
        let mut client_config = quinn::ClientConfig::new(crypto);
        client_config.transport_config(self.transport_for(origin)?);
        let connecting = endpoint
            .connect_with(client_config, addr, origin.host())
            .map_err(|e| {
                Error::new(ErrorKind::Connect)
                    .with_message(format!("cannot start a QUIC connection to {addr}"))
                    .with_source(e)
            })?;
        let try_early = self.config.zero_rtt
            && !self
                .rejected_early
                .lock()
                .map(|r| r.contains(origin))
                .unwrap_or(true);
        let (conn, early) = if try_early {
            match connecting.into_0rtt() {
                Ok((conn, accepted)) => (conn, Some(accepted)),
                Err(connecting) => (connecting.await.map_err(connection::handshake_error)?, None),
            }
        } else {
            (connecting.await.map_err(connection::handshake_error)?, None)
        };
        tracing::debug!(%origin, early_data = early.is_some(), "QUIC handshake under way");
        let early = early.map(|accepted| connection::EarlyDataOutcome {
            accepted,
            rejected_by: Arc::clone(&self.rejected_early),
        });
        connection::establish(
            conn,
            origin,
            (started, resolved),
            params,
            &self.config,
            early,
            connection::Watchers {
                path_failure: self.on_path_failure.clone(),
                bursts,
            },
        )
        .await
    }
}

/// The first address of `host` (IP literals as they are).
async fn resolve(host: &str, port: u16) -> Result<SocketAddr, Error> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    tokio::net::lookup_host((bare, port))
        .await
        .map_err(|e| {
            Error::new(ErrorKind::Dns)
                .with_message(format!("`{bare}`: {e}"))
                .with_source(e)
        })?
        .next()
        .ok_or_else(|| {
            Error::new(ErrorKind::Dns).with_message(format!("`{bare}` has no addresses"))
        })
}

/// One client endpoint (UDP socket) per address family, made when first needed, with the
/// gauge its receive pacing reads.
#[derive(Default)]
struct Endpoints {
    v4: Mutex<Option<(quinn::Endpoint, Arc<BurstGauge>)>>,
    v6: Mutex<Option<(quinn::Endpoint, Arc<BurstGauge>)>>,
}

impl Endpoints {
    fn for_addr(&self, addr: SocketAddr) -> Result<(quinn::Endpoint, Arc<BurstGauge>), Error> {
        let (slot, bind) = match addr.ip() {
            IpAddr::V4(_) => (&self.v4, SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))),
            IpAddr::V6(_) => (&self.v6, SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))),
        };
        let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((endpoint, gauge)) = slot.as_ref() {
            return Ok((endpoint.clone(), Arc::clone(gauge)));
        }
        let gauge = Arc::new(BurstGauge::default());
        let endpoint = paced_endpoint(bind, Arc::clone(&gauge)).map_err(|e| {
            Error::new(ErrorKind::Connect)
                .with_message(format!("cannot open a UDP socket on {bind}"))
                .with_source(e)
        })?;
        *slot = Some((endpoint.clone(), Arc::clone(&gauge)));
        Ok((endpoint, gauge))
    }
}

/// A client endpoint on a UDP socket bound to `bind`, its receives paced by `gauge`.
fn paced_endpoint(bind: SocketAddr, gauge: Arc<BurstGauge>) -> std::io::Result<quinn::Endpoint> {
    let runtime: Arc<dyn quinn::Runtime> = Arc::new(quinn::TokioRuntime);
    let socket = runtime.wrap_udp_socket(std::net::UdpSocket::bind(bind)?)?;
    let socket = Arc::new(PacedUdp::new(socket, gauge));
    quinn::Endpoint::new_with_abstract_socket(
        quinn::EndpointConfig::default(),
        None,
        socket,
        runtime,
    )
}
