//! In-process test servers on loopback that count what they see.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;
use tokio_rustls::TlsAcceptor;

use crate::certs::{test_certs, TestCerts};
use crate::fault_io::{FaultSwitch, Faulty};
use crate::faults::{ConnFaults, FaultPlan, Faults};
use crate::h1_server::{self, H1Options};
use crate::h2_server::{self, H2Options};
use crate::h3_server::{self, H3Options};
use crate::stats::{Counters, Stats};

/// Which protocols a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Speaks {
    /// TLS: ALPN `h2` and `http/1.1`, as the client prefers. Cleartext: HTTP/1.1, or h2c
    /// when the client opens with the h2 preface.
    Both,
    /// HTTP/1.1 only (TLS ALPN `http/1.1`).
    Http1,
    /// HTTP/2 only (TLS ALPN `h2`; h2c by prior knowledge on cleartext).
    Http2,
}

/// Configures a [`TestServer`]. Defaults: TLS with the process-wide test certificates,
/// ALPN `h2, http/1.1`, 127.0.0.1, no stream limit, no faults.
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    tls: bool,
    tls12_only: bool,
    speaks: Speaks,
    ip: IpAddr,
    certs: Option<TestCerts>,
    h2: H2Options,
    h1: H1Options,
    h3: Option<H3Options>,
    alt_svc: bool,
    faults: FaultPlan,
}

impl ServerBuilder {
    fn new() -> ServerBuilder {
        ServerBuilder {
            tls: true,
            tls12_only: false,
            speaks: Speaks::Both,
            ip: Ipv4Addr::LOCALHOST.into(),
            certs: None,
            h2: H2Options {
                max_concurrent_streams: None,
                goaway_after: None,
                goaway_abort: false,
                stream_window: 4 * 1024 * 1024,
                connection_window: 16 * 1024 * 1024,
                alt_svc: None,
            },
            h1: H1Options::default(),
            h3: None,
            alt_svc: false,
            faults: FaultPlan::default(),
        }
    }

    /// Speak HTTP/2 only (ALPN `h2`).
    pub fn h2_only(mut self) -> Self {
        self.speaks = Speaks::Http2;
        self
    }

    /// Speak HTTP/1.1 only (ALPN `http/1.1`).
    pub fn http1_only(mut self) -> Self {
        self.speaks = Speaks::Http1;
        self
    }

    /// No TLS: HTTP/1.1, and h2c when the client starts with the HTTP/2 preface.
    pub fn cleartext(mut self) -> Self {
        self.tls = false;
        self
    }

    /// Offer TLS 1.2 only.
    pub fn tls12_only(mut self) -> Self {
        self.tls12_only = true;
        self
    }

    /// Listen on `::1` instead of `127.0.0.1`.
    pub fn ipv6(mut self) -> Self {
        self.ip = Ipv6Addr::LOCALHOST.into();
        self
    }

    /// Listen on this address (a test host's address in a network namespace, say) instead
    /// of `127.0.0.1`.
    pub fn bind_ip(mut self, ip: IpAddr) -> Self {
        self.ip = ip;
        self
    }

    /// Serve these certificates instead of the process-wide test certificates.
    pub fn certs(mut self, certs: TestCerts) -> Self {
        self.certs = Some(certs);
        self
    }

    /// h2 `SETTINGS_MAX_CONCURRENT_STREAMS`.
    pub fn max_concurrent_streams(mut self, n: u32) -> Self {
        self.h2.max_concurrent_streams = Some(n);
        self
    }

    /// After `n` streams on a connection, send GOAWAY with the n-th stream's id as last
    /// stream id; streams above it are refused unprocessed; the connection closes once
    /// the n processed streams are done and the client leaves.
    pub fn goaway_after(mut self, n: u64) -> Self {
        self.h2.goaway_after = Some(n.max(1));
        self
    }

    /// Fault (h2): every connection sends `GOAWAY(0, NO_ERROR)` as soon as it is set up
    /// — a server shutting down that still accepts connections — and refuses every
    /// stream unprocessed.
    pub fn goaway_at_once(mut self) -> Self {
        self.h2.goaway_after = Some(0);
        self
    }

    /// The server's h2 receive windows (default 4 MiB per stream, 16 MiB per connection).
    pub fn h2_windows(mut self, stream: u32, connection: u32) -> Self {
        self.h2.stream_window = stream;
        self.h2.connection_window = connection;
        self
    }

    /// HTTP/1.1: send `Connection: close` on every `n`-th response of a connection.
    pub fn close_every(mut self, n: u64) -> Self {
        self.h1.close_every = Some(n);
        self
    }

    /// HTTP/1.1: announce `Keep-Alive: timeout=N` and close connections idle that long.
    pub fn keep_alive_timeout(mut self, limit: Duration) -> Self {
        self.h1.keep_alive_timeout = Some(limit);
        self
    }

    /// HTTP/1.1: announce `Keep-Alive: max=R` (requests remaining) and close the
    /// connection after `n` requests without sending `Connection: close`.
    pub fn keep_alive_max(mut self, n: u64) -> Self {
        self.h1.keep_alive_max = Some(n);
        self
    }

    /// Also serve HTTP/3 over QUIC on the UDP port with the same number as the TCP port.
    pub fn h3(mut self) -> Self {
        self.h3.get_or_insert_with(H3Options::default);
        self
    }

    /// HTTP/3: the client's bidirectional stream credit (QUIC `MAX_STREAMS`). Default
    /// 1000.
    pub fn h3_max_streams(mut self, n: u32) -> Self {
        self.h3.get_or_insert_with(H3Options::default).max_streams = n;
        self
    }

    /// HTTP/3: send GOAWAY after `n` requests on a connection; later streams are rejected
    /// unprocessed.
    pub fn h3_goaway_after(mut self, n: u64) -> Self {
        self.h3.get_or_insert_with(H3Options::default).goaway_after = Some(n.max(1));
        self
    }

    /// HTTP/3: send GOAWAY after `n` requests on a connection, answer those, then close the
    /// connection — without resetting the streams opened after the GOAWAY, which the client
    /// learns were not processed only from the GOAWAY's stream id.
    pub fn h3_goaway_then_close_after(mut self, n: u64) -> Self {
        let h3 = self.h3.get_or_insert_with(H3Options::default);
        h3.goaway_after = Some(n.max(1));
        h3.goaway_then_close = true;
        self
    }

    /// HTTP/3: reject 0-RTT early data (the handshake still succeeds).
    pub fn reject_0rtt(mut self) -> Self {
        self.h3.get_or_insert_with(H3Options::default).reject_0rtt = true;
        self
    }

    /// Advertise the HTTP/3 side in an `Alt-Svc: h3=":PORT"; ma=86400` header on every
    /// HTTP/1.1 and h2 response (implies [`h3`](Self::h3)).
    pub fn alt_svc(mut self) -> Self {
        self.alt_svc = true;
        self.h3()
    }

    /// Send this `Alt-Svc` header value with every HTTP/1.1 and h2 response (for
    /// alternatives elsewhere, or broken ones).
    pub fn alt_svc_header(mut self, value: &str) -> Self {
        if let Ok(v) = http::HeaderValue::from_str(value) {
            self.h1.alt_svc = Some(v.clone());
            self.h2.alt_svc = Some(v);
        }
        self
    }

    /// Fault: refuse every `k`-th stream, counted over the whole server (h2
    /// `RST_STREAM(REFUSED_STREAM)`, h3 `H3_REQUEST_REJECTED`); refused requests are not
    /// processed.
    pub fn refuse_every(mut self, k: u64) -> Self {
        self.faults.refuse_every = Some(k);
        self
    }

    /// Fault (HTTP/1.1, h2): after `n` requests on a connection the connection turns into a
    /// black hole — nothing read or written again, PINGs unanswered — and later requests
    /// on it are never processed. h2: 20 ms after the n-th response, idle or not;
    /// HTTP/1.1: when the next request arrives.
    pub fn black_hole_after(mut self, n: u64) -> Self {
        self.faults.black_hole_after = Some(n);
        self
    }

    /// Fault (h2): when the `n`-th request of a connection arrives, send GOAWAY with
    /// `INTERNAL_ERROR` naming it as the last stream (later streams are refused
    /// unprocessed), and kill the connection 30 ms later, whatever is still in flight.
    pub fn goaway_error_after(mut self, n: u64) -> Self {
        self.h2.goaway_after = Some(n.max(1));
        self.h2.goaway_abort = true;
        self
    }

    /// Fault (HTTP/1.1): after `n` requests on a connection, read the next one and close
    /// the connection without answering or processing it — the server's idle timer firing
    /// just as the client reuses the connection.
    pub fn close_on_reuse_after(mut self, n: u64) -> Self {
        self.faults.close_on_reuse_after = Some(n);
        self
    }

    /// Binds a fresh port and starts serving.
    pub async fn start(mut self) -> io::Result<TestServer> {
        let ip = self.ip;
        let (listener, quic) = bind(ip, self.h3.as_ref(), self.certs.as_ref()).await?;
        let addr = listener.local_addr()?;
        if self.alt_svc {
            let value = http::HeaderValue::from_str(&format!("h3=\":{}\"; ma=86400", addr.port()))
                .map_err(std::io::Error::other)?;
            self.h1.alt_svc = Some(value.clone());
            self.h2.alt_svc = Some(value);
        }
        let counters = Arc::new(Counters::default());
        let faults = Arc::new(Faults::new(self.faults));
        let tasks: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let acceptor = self.tls.then(|| {
            let alpn: &[&[u8]] = match self.speaks {
                Speaks::Both => &[b"h2", b"http/1.1"],
                Speaks::Http1 => &[b"http/1.1"],
                Speaks::Http2 => &[b"h2"],
            };
            let certs = self.certs.as_ref().unwrap_or_else(|| test_certs());
            let versions: &[&'static rustls::SupportedProtocolVersion] = if self.tls12_only {
                &[&rustls::version::TLS12]
            } else {
                rustls::DEFAULT_VERSIONS
            };
            TlsAcceptor::from(certs.server_config_with_versions(alpn, versions))
        });
        let tls = self.tls;
        let config = Arc::new(self);
        let accept = {
            let counters = Arc::clone(&counters);
            let faults = Arc::clone(&faults);
            let tasks = Arc::clone(&tasks);
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let task = tokio::spawn(serve_connection(
                        stream,
                        acceptor.clone(),
                        Arc::clone(&config),
                        Arc::clone(&counters),
                        Arc::clone(&faults),
                    ));
                    if let Ok(mut t) = tasks.lock() {
                        t.retain(|h| !h.is_finished());
                        t.push(task.abort_handle());
                    }
                }
            })
        };
        let quic = quic.map(|(endpoint, opts)| {
            let task = tokio::spawn(h3_server::serve(
                endpoint.clone(),
                opts,
                Arc::clone(&counters),
                Arc::clone(&faults),
            ));
            QuicSide {
                endpoint,
                task: task.abort_handle(),
            }
        });
        Ok(TestServer {
            addr,
            tls,
            counters,
            tasks,
            accept: accept.abort_handle(),
            quic,
        })
    }
}

/// A TCP listener on a fresh port and, when asked for, the QUIC endpoint on the UDP port
/// with the same number (tries a few TCP ports until that UDP port is free too).
async fn bind(
    ip: IpAddr,
    h3: Option<&H3Options>,
    certs: Option<&TestCerts>,
) -> io::Result<(TcpListener, Option<(quinn::Endpoint, H3Options)>)> {
    let Some(opts) = h3 else {
        return Ok((TcpListener::bind(SocketAddr::new(ip, 0)).await?, None));
    };
    let certs = certs.unwrap_or_else(|| test_certs());
    let mut last = None;
    for _ in 0..20 {
        let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await?;
        match h3_server::bind(listener.local_addr()?, certs, opts) {
            Ok(endpoint) => return Ok((listener, Some((endpoint, opts.clone())))),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no port free for both TCP and UDP")))
}

async fn serve_connection(
    stream: TcpStream,
    acceptor: Option<TlsAcceptor>,
    config: Arc<ServerBuilder>,
    counters: Arc<Counters>,
    faults: Arc<Faults>,
) {
    let _open = counters.tcp_accepted();
    let switch = Arc::new(FaultSwitch::default());
    let h2c_preface = acceptor.is_none()
        && match config.speaks {
            Speaks::Http2 => true,
            Speaks::Http1 => false,
            Speaks::Both => starts_with_h2_preface(&stream).await,
        };
    let stream = Faulty::new(stream, Arc::clone(&switch));
    match acceptor {
        Some(acceptor) => {
            let tls = match acceptor.accept(stream).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(error = %e, "test server TLS handshake failed");
                    return;
                }
            };
            counters.tls_handshake_done();
            let h2 = match config.speaks {
                Speaks::Http2 => true,
                Speaks::Http1 => false,
                Speaks::Both => tls.get_ref().1.alpn_protocol() == Some(b"h2"),
            };
            let fault = ConnFaults { faults, switch };
            if h2 {
                h2_server::serve(tls, config.h2.clone(), counters, fault).await;
            } else {
                h1_server::serve(tls, config.h1.clone(), counters, fault).await;
            }
        }
        None => {
            let fault = ConnFaults { faults, switch };
            if h2c_preface {
                h2_server::serve(stream, config.h2.clone(), counters, fault).await;
            } else {
                h1_server::serve(stream, config.h1.clone(), counters, fault).await;
            }
        }
    }
}

/// Peeks at the first bytes of a cleartext connection: the h2 preface starts with `PRI `.
async fn starts_with_h2_preface(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 4];
    for _ in 0..100 {
        match stream.peek(&mut buf).await {
            Ok(n) if n >= 4 => return &buf == b"PRI ",
            Ok(0) | Err(_) => return false,
            Ok(_) => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
    false
}

/// A running test server. Stopped (every connection aborted) when dropped.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    tls: bool,
    counters: Arc<Counters>,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
    quic: Option<QuicSide>,
}

#[derive(Debug)]
struct QuicSide {
    endpoint: quinn::Endpoint,
    task: AbortHandle,
}

impl TestServer {
    /// A builder with the defaults.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::new()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The URL of `path` on this server, with host `localhost` (which the test
    /// certificates cover, and which makes rustls send SNI).
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://localhost:{}{path}", self.addr.port())
    }

    /// The URL of `path` with the IP address as host (`https://127.0.0.1:PORT/...` or
    /// `https://[::1]:PORT/...`).
    pub fn ip_url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        match self.addr.ip() {
            IpAddr::V6(ip) => format!("{scheme}://[{ip}]:{}{path}", self.addr.port()),
            IpAddr::V4(ip) => format!("{scheme}://{ip}:{}{path}", self.addr.port()),
        }
    }

    /// What the server has seen so far.
    pub fn stats(&self) -> Stats {
        self.counters.snapshot()
    }

    /// How many times each `x-request-id` was processed since the last call, and forgets
    /// them: a long run keeps its own tally and the server's stays small. (`/flaky/K`
    /// counts from what is left, so take them only when no such request is in flight.)
    pub fn take_request_ids(&self) -> HashMap<String, u32> {
        self.counters.take_request_ids()
    }

    /// Stops the way a killed process does, in a fixed order: first the listener is gone
    /// (this waits, up to 2 s, until a TCP connect to the port is refused), then every
    /// connection is aborted. [`stop`](Self::stop) aborts both at once, so a client that
    /// reconnects quickly may still reach the closing listener's backlog.
    pub async fn vanish(&self) {
        self.accept.abort();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while tokio::time::Instant::now() < deadline && TcpStream::connect(self.addr).await.is_ok()
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.stop();
    }

    /// Stops accepting and aborts every connection.
    pub fn stop(&self) {
        self.accept.abort();
        if let Some(q) = &self.quic {
            q.task.abort();
            q.endpoint.close(0u32.into(), b"test server stopped");
        }
        if let Ok(tasks) = self.tasks.lock() {
            for t in tasks.iter() {
                t.abort();
            }
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}
