//! HTTP/0.9 over QUIC (ALPN `hq-interop`), the QUIC interop runner's file-transfer
//! protocol: one bidirectional stream per file, the client sends `GET /path\r\n` and
//! finishes its side, the server sends the file and finishes. plexus speaks HTTP, not
//! HTTP/0.9, so the endpoint drives quinn directly here; `http3` goes through plexus.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use quinn::crypto::rustls::QuicClientConfig;
use tokio::io::AsyncWriteExt;

/// The ALPN of HTTP/0.9 in the interop runner.
pub const ALPN: &[u8] = b"hq-interop";

/// How long a connection may go without hearing from the server: aioquic's default, twice
/// quinn's. At `handshakeloss`'s 30 % loss the HANDSHAKE_DONE frame can be lost several
/// times; until it arrives the client may not reset its probe backoff (RFC 9002, 6.2.1),
/// so its probes go out 8 and then 16 s apart, and now and then both they and the
/// server's own probes are lost for 30 s (seen in about one run in ten, and twice in a
/// row in CI).
pub(crate) const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// How long a connection waits, after last hearing from the server, before it sends a
/// PING. A longer idle timeout is not enough: the server's own (Caddy's 30 s) caps what
/// the two agree on, and at `handshakeloss`'s 30 % loss a connection can wedge with its
/// HANDSHAKE_DONE and the response lost while the client's backed-off probes go 8 and
/// 16 s apart — 31 s without a packet in one CI run, which idled a Caddy connection out.
/// quinn sends one PING per silence, and each answer to one arms the next, so at 1 s
/// the peers hear from each other every second or so until the server's retransmission
/// gets through, and the acknowledgements reset both sides' probe backoff.
pub(crate) const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(1);

/// Opens QUIC connections for HTTP/0.9, each from its own UDP socket (so a server's log
/// tells them apart by port), sharing one TLS session store (so the second resumes).
pub struct HqClient {
    crypto: Arc<QuicClientConfig>,
    qlog_dir: Option<PathBuf>,
    opened: AtomicUsize,
}

/// A connection and the endpoint (socket) it runs on.
pub struct HqConnection {
    /// The QUIC connection.
    pub connection: quinn::Connection,
    endpoint: quinn::Endpoint,
    /// For a 0-RTT connection: whether the server accepted the early data (resolves once
    /// the handshake is done).
    pub zero_rtt: Option<quinn::ZeroRttAccepted>,
}

impl std::fmt::Debug for HqClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HqClient")
            .field("qlog_dir", &self.qlog_dir)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for HqConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HqConnection")
            .field("remote", &self.connection.remote_address())
            .finish_non_exhaustive()
    }
}

impl HqClient {
    /// A client with the TLS configuration `tls` (see [`crate::tls::client_config`]),
    /// writing one qlog file per connection into `qlog_dir` when given.
    pub fn new(tls: rustls::ClientConfig, qlog_dir: Option<PathBuf>) -> io::Result<HqClient> {
        let crypto = QuicClientConfig::with_initial(Arc::new(tls), crate::tls::initial_suite()?)
            .map_err(io::Error::other)?;
        if let Some(dir) = &qlog_dir {
            std::fs::create_dir_all(dir)?;
        }
        Ok(HqClient {
            crypto: Arc::new(crypto),
            qlog_dir,
            opened: AtomicUsize::new(0),
        })
    }

    fn config(&self) -> io::Result<quinn::ClientConfig> {
        let n = self.opened.fetch_add(1, Ordering::Relaxed);
        let mut transport = quinn::TransportConfig::default();
        transport.max_idle_timeout(Some(
            IDLE_TIMEOUT
                .try_into()
                .map_err(|_| io::Error::other("idle timeout out of range"))?,
        ));
        transport.keep_alive_interval(Some(KEEP_ALIVE));
        if let Some(dir) = &self.qlog_dir {
            let file = std::fs::File::create(dir.join(format!("client-{n}.sqlog")))?;
            let mut qlog = quinn::QlogConfig::default();
            qlog.writer(Box::new(file))
                .title(Some(format!("plexus-interop connection {n}")));
            transport.qlog_stream(qlog.into_stream());
        }
        let mut config = quinn::ClientConfig::new(Arc::clone(&self.crypto) as _);
        config.transport_config(Arc::new(transport));
        Ok(config)
    }

    fn connecting(
        &self,
        server: SocketAddr,
        name: &str,
    ) -> io::Result<(quinn::Endpoint, quinn::Connecting)> {
        let local: SocketAddr = if server.is_ipv6() {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        };
        let endpoint = quinn::Endpoint::client(local)?;
        let connecting = endpoint
            .connect_with(self.config()?, server, name)
            .map_err(io::Error::other)?;
        Ok((endpoint, connecting))
    }

    /// A new connection to `server` (TLS name `name`), after a full handshake.
    pub async fn connect(&self, server: SocketAddr, name: &str) -> io::Result<HqConnection> {
        let (endpoint, connecting) = self.connecting(server, name)?;
        let connection = connecting.await.map_err(io::Error::other)?;
        Ok(HqConnection {
            connection,
            endpoint,
            zero_rtt: None,
        })
    }

    /// A new connection that can carry requests at once in 0-RTT, if a session ticket
    /// allows it; otherwise after the handshake.
    pub async fn connect_early(&self, server: SocketAddr, name: &str) -> io::Result<HqConnection> {
        let (endpoint, connecting) = self.connecting(server, name)?;
        match connecting.into_0rtt() {
            Ok((connection, accepted)) => Ok(HqConnection {
                connection,
                endpoint,
                zero_rtt: Some(accepted),
            }),
            Err(connecting) => {
                tracing::warn!("no session ticket for 0-RTT; waiting for the handshake");
                let connection = connecting.await.map_err(io::Error::other)?;
                Ok(HqConnection {
                    connection,
                    endpoint,
                    zero_rtt: None,
                })
            }
        }
    }
}

impl HqConnection {
    /// Closes the connection and waits until the server has been told.
    pub async fn close(self) {
        self.connection.close(0u32.into(), b"done");
        self.endpoint.wait_idle().await;
    }
}

/// Fetches `path` over `connection` into `dest`; returns the bytes received. With
/// `key_update`, forces a QUIC key update once the first bytes of the file have arrived
/// (the handshake is confirmed by then). A request sent in 0-RTT that the server
/// rejected is sent again.
pub async fn fetch(
    connection: &quinn::Connection,
    path: &str,
    dest: &Path,
    key_update: bool,
) -> io::Result<u64> {
    loop {
        match fetch_once(connection, path, dest, key_update).await {
            Err(FetchError::ZeroRttRejected) => continue,
            Err(FetchError::Io(e)) => {
                // quinn's stream errors say only "connection lost": add why.
                let why = connection
                    .close_reason()
                    .map_or_else(String::new, |r| format!(" ({r})"));
                return Err(io::Error::new(e.kind(), format!("{path}: {e}{why}")));
            }
            Ok(n) => return Ok(n),
        }
    }
}

enum FetchError {
    ZeroRttRejected,
    Io(io::Error),
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for FetchError {
    fn from(e: E) -> FetchError {
        let e: Box<dyn std::error::Error + Send + Sync> = Box::new(e);
        let rejected = e
            .downcast_ref::<quinn::WriteError>()
            .is_some_and(|w| matches!(w, quinn::WriteError::ZeroRttRejected))
            || e.downcast_ref::<quinn::ReadError>()
                .is_some_and(|r| matches!(r, quinn::ReadError::ZeroRttRejected));
        if rejected {
            FetchError::ZeroRttRejected
        } else {
            FetchError::Io(io::Error::other(e))
        }
    }
}

async fn fetch_once(
    connection: &quinn::Connection,
    path: &str,
    dest: &Path,
    key_update: bool,
) -> Result<u64, FetchError> {
    let (mut send, mut recv) = connection.open_bi().await?;
    send.write_all(format!("GET {path}\r\n").as_bytes()).await?;
    send.finish()?;
    if let Some(parent) = dest.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    let mut file = tokio::fs::File::create(dest).await?;
    let mut total = 0u64;
    let mut updated = !key_update;
    while let Some(chunk) = recv.read_chunk(64 * 1024, true).await? {
        if !updated {
            connection.force_key_update();
            updated = true;
        }
        total += chunk.bytes.len() as u64;
        file.write_all(&chunk.bytes).await?;
    }
    file.flush().await?;
    Ok(total)
}
