//! `ClientBuilder`: every setting of a [`Client`](crate::Client) with its default.

use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use plexus_core::{Error, ErrorKind};
use plexus_quic::QuicConfig;
use plexus_sched::{PoolConfig, RetryPolicy};
use plexus_tcp::{HttpVersionPolicy, TcpConfig};

use crate::client::Client;
use crate::status_retry::StatusRetry;
use crate::tls::{Certificate, TlsOptions};
use crate::transport::Http3Mode;

/// Configures and builds a [`Client`].
///
/// | setting | default |
/// |---|---|
/// | [`connect_timeout`](Self::connect_timeout) (DNS + TCP + TLS) | 10 s |
/// | [`timeout`](Self::timeout) (whole request, body included) | none |
/// | [`read_timeout`](Self::read_timeout) (no response body bytes for this long) | 60 s |
/// | [`max_response_header_size`](Self::max_response_header_size) | 64 KiB (HTTP/1.1), 256 KiB (h2 / h3 field section) |
/// | [`max_response_headers`](Self::max_response_headers) (HTTP/1.1) | 100 |
/// | [`max_response_body_size`](Self::max_response_body_size) | none |
/// | [`pool_idle_timeout`](Self::pool_idle_timeout) | 90 s |
/// | [`max_connections_per_origin`](Self::max_connections_per_origin) (h2) | 1 |
/// | [`http1_max_connections_per_origin`](Self::http1_max_connections_per_origin) | 6 |
/// | [`queue_timeout`](Self::queue_timeout) | 60 s |
/// | [`max_queued_per_origin`](Self::max_queued_per_origin) | 100,000 |
/// | [`retry_policy`](Self::retry_policy) | [`RetryPolicy::default`] |
/// | [`retry_status`](Self::retry_status) (429/502/503/504) | off |
/// | HTTP versions | ALPN `h2, http/1.1` on TLS; HTTP/1.1 on cleartext |
/// | h2 windows | 4 MiB per stream, 16 MiB per connection |
/// | h2 streams before the server's SETTINGS arrive | 1 |
/// | [`http2_keep_alive_interval`](Self::http2_keep_alive_interval) / [`timeout`](Self::http2_keep_alive_timeout) | 30 s / 10 s |
/// | [`happy_eyeballs_delay`](Self::happy_eyeballs_delay) | 250 ms |
/// | [`http3`](Self::http3) | [`Http3Mode::AltSvc`]: h3 when the origin advertised it |
/// | [`http3_race_delay`](Self::http3_race_delay) (QUIC's head start over TCP) | 300 ms |
/// | [`http3_broken_backoff`](Self::http3_broken_backoff) | 5 min, doubling, ≤ 48 h |
/// | [`alt_svc_file`](Self::alt_svc_file) | none (memory only) |
/// | [`quic_idle_timeout`](Self::quic_idle_timeout) / keep-alive | 30 s / 10 s |
/// | TLS | 1.3 and 1.2, certificates verified against Mozilla's roots |
/// | headers | `user-agent: plexus/VERSION` (no `Accept`: its absence means `*/*`, RFC 9110 §12.5.1) |
/// | cookies (feature `cookies`) | none; `cookie_store(true)` keeps a jar |
/// | [`proxy`](Self::proxy) | from `HTTPS_PROXY`, `http_proxy`, `ALL_PROXY`, `NO_PROXY` |
#[derive(Debug)]
pub struct ClientBuilder {
    pub(crate) tcp: TcpConfig,
    pub(crate) quic: QuicConfig,
    pub(crate) http3: Http3Mode,
    pub(crate) http3_race_delay: Duration,
    pub(crate) http3_broken_backoff: Duration,
    pub(crate) alt_svc_file: Option<std::path::PathBuf>,
    pub(crate) pool: PoolConfig,
    pub(crate) version_policy: HttpVersionPolicy,
    pub(crate) tls: TlsOptions,
    pub(crate) timeout: Option<Duration>,
    pub(crate) read_timeout: Option<Duration>,
    pub(crate) max_response_body_size: Option<u64>,
    pub(crate) status_retry: Option<StatusRetry>,
    pub(crate) redirect: crate::redirect::Policy,
    pub(crate) decoders: crate::decode::Decoders,
    /// `None`: the proxies the environment names.
    pub(crate) proxies: Option<Vec<crate::Proxy>>,
    #[cfg(feature = "cookies")]
    pub(crate) cookies: Option<std::sync::Arc<crate::cookie::Jar>>,
    error: Option<Error>,
}

impl Default for ClientBuilder {
    fn default() -> ClientBuilder {
        let mut default_headers = HeaderMap::new();
        default_headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("plexus/", env!("CARGO_PKG_VERSION"))),
        );
        ClientBuilder {
            tcp: TcpConfig::default(),
            quic: QuicConfig::default(),
            http3: Http3Mode::default(),
            http3_race_delay: Duration::from_millis(300),
            http3_broken_backoff: Duration::from_secs(300),
            alt_svc_file: None,
            // The pools add the default headers to each attempt.
            pool: PoolConfig {
                default_headers,
                ..PoolConfig::default()
            },
            version_policy: HttpVersionPolicy::Negotiate,
            tls: TlsOptions::default(),
            timeout: None,
            read_timeout: Some(Duration::from_secs(60)),
            max_response_body_size: None,
            status_retry: None,
            redirect: crate::redirect::Policy::default(),
            decoders: crate::decode::Decoders::default(),
            proxies: None,
            #[cfg(feature = "cookies")]
            cookies: None,
            error: None,
        }
    }
}

impl ClientBuilder {
    /// A builder with every default.
    pub fn new() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Builds the client. Must be called within a Tokio runtime, which the client's
    /// connection tasks run on.
    pub fn build(self) -> Result<Client, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        Client::from_builder(self)
    }

    /// Limit on connection set-up (DNS, TCP, TLS). `None` waits as long as the OS does.
    pub fn connect_timeout(mut self, limit: impl Into<Option<Duration>>) -> Self {
        self.tcp.connect_timeout = limit.into();
        if let Some(l) = self.tcp.connect_timeout {
            self.quic.connect_timeout = l;
        }
        self
    }

    /// Deadline for each whole request, from `send` to the end of the response body,
    /// whatever progress is made. Per-request [`RequestBuilder::timeout`] overrides it.
    ///
    /// [`RequestBuilder::timeout`]: crate::RequestBuilder::timeout
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// Longest wait for the next bytes of a response body (a stalled body fails with
    /// [`ErrorKind::BodyStalled`]), however long the whole transfer takes; `None` waits
    /// forever. A wait is counted from when the body is read and has nothing: time the
    /// caller spends elsewhere between reads does not count. Default 60 s; raise it for
    /// event streams with sparse heartbeats.
    pub fn read_timeout(mut self, limit: impl Into<Option<Duration>>) -> Self {
        self.read_timeout = limit.into();
        self
    }

    /// Largest response head accepted: bytes of the HTTP/1.1 status line and headers,
    /// the h2 header list (`SETTINGS_MAX_HEADER_LIST_SIZE`) and the h3 field section
    /// (`SETTINGS_MAX_FIELD_SECTION_SIZE`). A larger head fails the request with
    /// [`ErrorKind::TooLarge`] (HTTP/1.1, h3) or [`ErrorKind::Protocol`] (h2, whose
    /// library does not tell an oversized head from a malformed one). Default: 64 KiB
    /// for HTTP/1.1, 256 KiB for h2 and h3 (whose sizes count header overhead).
    ///
    /// It is also the longest HTTP/3 frame other than DATA accepted from the server (at
    /// least 16 KiB): the h3 library buffers a frame until it is whole, so a longer one
    /// is refused at its header ([`ErrorKind::Protocol`]) rather than held.
    pub fn max_response_header_size(mut self, bytes: u32) -> Self {
        self.tcp.h1.max_header_size = bytes as usize;
        self.tcp.h2.max_header_list_size = bytes;
        self.quic.max_field_section_size = u64::from(bytes);
        self
    }

    /// Most headers in an HTTP/1.1 response (default 100, hyper's own limit: any other
    /// makes hyper allocate a table of that size for every response); more fail the request with
    /// [`ErrorKind::TooLarge`]. h2 and h3 limit the header list by size instead.
    pub fn max_response_headers(mut self, n: usize) -> Self {
        self.tcp.h1.max_headers = n;
        self
    }

    /// Largest response body accepted (default: no limit). A `Content-Length` above it
    /// fails the request at once; a body that grows past it fails while being read. Both
    /// with [`ErrorKind::TooLarge`], and the stream or connection is let go.
    pub fn max_response_body_size(mut self, bytes: u64) -> Self {
        self.max_response_body_size = Some(bytes);
        self
    }

    /// How long an idle connection stays pooled (`None`: until the server closes it).
    pub fn pool_idle_timeout(mut self, limit: impl Into<Option<Duration>>) -> Self {
        self.pool.idle_timeout = limit.into();
        self
    }

    /// Most HTTP/2 connections per origin. With 1 (the default), requests beyond the
    /// server's stream limit queue; above 1 they spill over to more connections.
    pub fn max_connections_per_origin(mut self, n: usize) -> Self {
        self.pool.max_connections_per_origin = n.max(1);
        self
    }

    /// Most HTTP/1.1 keep-alive connections per origin.
    pub fn http1_max_connections_per_origin(mut self, n: usize) -> Self {
        self.pool.http1_max_connections_per_origin = n.max(1);
        self
    }

    /// How long a request may wait for a free connection or stream.
    pub fn queue_timeout(mut self, limit: impl Into<Option<Duration>>) -> Self {
        self.pool.queue_timeout = limit.into();
        self
    }

    /// Most requests waiting per origin before new ones fail with
    /// [`ErrorKind::QueueFull`].
    pub fn max_queued_per_origin(mut self, n: usize) -> Self {
        self.pool.max_queue = n;
        self
    }

    /// When requests that failed at a connection are re-sent.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.pool.retry = policy;
        self
    }

    /// Re-send replay-safe requests answered with 429, 502, 503 or 504, after a back-off
    /// and within a retry budget (see [`StatusRetry`]). Off by default, as in curl
    /// (`--retry`) and urllib3.
    pub fn retry_status(mut self, policy: StatusRetry) -> Self {
        self.status_retry = Some(policy);
        self
    }

    /// Which redirects to follow (see [`redirect::Policy`](crate::redirect::Policy));
    /// by default up to 10.
    pub fn redirect(mut self, policy: crate::redirect::Policy) -> Self {
        self.redirect = policy;
        self
    }

    /// Ask for gzip (`Accept-Encoding`) and decode gzip bodies. On by default when the
    /// `gzip` feature is (as reqwest); a request that sets its own `Accept-Encoding` or a
    /// `Range` gets no automatic decoding.
    #[cfg(feature = "gzip")]
    pub fn gzip(mut self, on: bool) -> Self {
        self.decoders.gzip = on;
        self
    }

    /// Ask for and decode brotli (`br`); on by default with the `brotli` feature.
    #[cfg(feature = "brotli")]
    pub fn brotli(mut self, on: bool) -> Self {
        self.decoders.brotli = on;
        self
    }

    /// Ask for and decode zstd; on by default with the `zstd` feature.
    #[cfg(feature = "zstd")]
    pub fn zstd(mut self, on: bool) -> Self {
        self.decoders.zstd = on;
        self
    }

    /// Ask for and decode deflate (zlib); on by default with the `deflate` feature.
    #[cfg(feature = "deflate")]
    pub fn deflate(mut self, on: bool) -> Self {
        self.decoders.deflate = on;
        self
    }

    /// No automatic decompression at all, whatever features are on (`curl` without
    /// `--compressed`).
    pub fn no_decompression(mut self) -> Self {
        self.decoders = crate::decode::Decoders {
            max_ratio: self.decoders.max_ratio,
            ..crate::decode::Decoders::none()
        };
        self
    }

    /// The decompression bomb guard: past the first MiB, a decoded body may be at most
    /// `ratio` times the bytes read for it, else it fails with
    /// [`ErrorKind::TooLarge`](crate::ErrorKind::TooLarge). Default 250; `None` turns the
    /// guard off (`max_response_body_size` still bounds the decoded bytes).
    pub fn decompression_ratio_limit(mut self, ratio: Option<u32>) -> Self {
        self.decoders.max_ratio = ratio;
        self
    }

    /// Speak HTTP/1.1 only (ALPN `http/1.1`, no HTTP/3 even when advertised), like
    /// curl's `--http1.1`.
    pub fn http1_only(mut self) -> Self {
        self.version_policy = HttpVersionPolicy::Http1Only;
        self.http3 = Http3Mode::Off;
        self
    }

    /// Speak HTTP/2 without negotiation: h2c on `http://`, ALPN `h2` only on `https://`,
    /// no HTTP/3, like curl's `--http2-prior-knowledge`.
    pub fn http2_prior_knowledge(mut self) -> Self {
        self.version_policy = HttpVersionPolicy::Http2PriorKnowledge;
        self.http3 = Http3Mode::Off;
        self
    }

    /// Sends connections through `proxy` (HTTP `CONNECT` tunnels; see [`Proxy`]). Called
    /// more than once, the first proxy that covers an origin carries it. Naming a proxy
    /// turns off the proxies of the environment (`HTTPS_PROXY` and the like), which are
    /// used by default.
    ///
    /// [`Proxy`]: crate::Proxy
    pub fn proxy(mut self, proxy: crate::Proxy) -> Self {
        self.proxies.get_or_insert_with(Vec::new).push(proxy);
        self
    }

    /// Calls `f` with every [`PoolEvent`] of the client's pools: connection opened (with
    /// how a QUIC/TCP race went), connect failed, draining (after a server's `GOAWAY` or
    /// the client's decision), closed (with its [`CloseReason`] and the requests it
    /// carried), and retry (with the error that caused it). For exporting to a metrics
    /// system; [`Client::snapshot`](crate::Client::snapshot) gives the counts at a moment.
    /// `f` runs inline on the pool's tasks: it must be quick and must not block.
    ///
    /// [`PoolEvent`]: crate::PoolEvent
    /// [`CloseReason`]: crate::CloseReason
    pub fn on_pool_event(mut self, f: impl Fn(&crate::PoolEvent) + Send + Sync + 'static) -> Self {
        self.pool.events = Some(crate::EventHook::new(f));
        self
    }

    /// Keeps cookies in a jar of the client's own (`true`), or none (`false`, the
    /// default): the `Set-Cookie`s of responses are stored and sent back to the hosts
    /// they belong to. See [`cookie`](crate::cookie). Feature `cookies`.
    #[cfg(feature = "cookies")]
    pub fn cookie_store(mut self, enable: bool) -> Self {
        self.cookies = enable.then(|| std::sync::Arc::new(crate::cookie::Jar::new()));
        self
    }

    /// Keeps cookies in `jar`, which other clients (or the caller) may share. Feature
    /// `cookies`.
    #[cfg(feature = "cookies")]
    pub fn cookie_provider(mut self, jar: std::sync::Arc<crate::cookie::Jar>) -> Self {
        self.cookies = Some(jar);
        self
    }

    /// No proxy at all: every connection goes direct, whatever the environment says.
    pub fn no_proxy(mut self) -> Self {
        self.proxies = Some(Vec::new());
        self
    }

    /// When to speak HTTP/3 (default [`Http3Mode::AltSvc`]).
    pub fn http3(mut self, mode: Http3Mode) -> Self {
        self.http3 = mode;
        self
    }

    /// How long QUIC gets to itself before TCP is started too, when the two are raced
    /// (default 300 ms: Chromium waits 1.5x the smoothed RTT, 300 ms when it knows none;
    /// curl waits 100-200 ms; a longer head start keeps fewer spare TCP handshakes, a
    /// shorter one costs less when UDP is blocked).
    pub fn http3_race_delay(mut self, delay: Duration) -> Self {
        self.http3_race_delay = delay;
        self
    }

    /// How long HTTP/3 stays off for an origin after its QUIC failed; doubles with each
    /// further failure, at most 48 hours (default 5 minutes).
    pub fn http3_broken_backoff(mut self, first: Duration) -> Self {
        self.http3_broken_backoff = first;
        self
    }

    /// Keep the Alt-Svc cache in `file` (curl's alt-svc format): read at build, written
    /// on every change, so that a restarted process goes to HTTP/3 at once.
    pub fn alt_svc_file(mut self, file: impl Into<std::path::PathBuf>) -> Self {
        self.alt_svc_file = Some(file.into());
        self
    }

    /// QUIC idle timeout: a connection without traffic for this long closes (default
    /// 30 s).
    pub fn quic_idle_timeout(mut self, limit: Duration) -> Self {
        self.quic.idle_timeout = limit;
        self
    }

    /// QUIC keep-alive: PING after this long without traffic (default 10 s; `None`
    /// disables).
    pub fn quic_keep_alive_interval(mut self, interval: impl Into<Option<Duration>>) -> Self {
        self.quic.keep_alive_interval = interval.into();
        self
    }

    /// Write a qlog file (quinn's events, JSON-SEQ) for every QUIC connection into `dir`,
    /// named `plexus-PID-N-HOST.sqlog` (feature `qlog`).
    #[cfg(feature = "qlog")]
    pub fn quic_qlog_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.quic.qlog_dir = Some(dir.into());
        self
    }

    /// Send replay-safe requests (GET, HEAD, OPTIONS, TRACE, PUT, DELETE, with an
    /// `Idempotency-Key`, or marked `.idempotent()`) in QUIC 0-RTT early data when a
    /// session ticket allows it (default: on). Off, every
    /// request waits for the handshake; a resumed session still saves the certificate.
    pub fn http3_zero_rtt(mut self, enabled: bool) -> Self {
        self.quic.zero_rtt = enabled;
        self
    }

    /// HTTP/2 per-stream receive window (default 4 MiB).
    pub fn http2_initial_stream_window_size(mut self, bytes: u32) -> Self {
        self.tcp.h2.stream_window = bytes;
        self
    }

    /// HTTP/2 connection receive window (default 16 MiB).
    pub fn http2_initial_connection_window_size(mut self, bytes: u32) -> Self {
        self.tcp.h2.connection_window = bytes;
        self
    }

    /// Largest HTTP/2 frame the server may send (default 64 KiB).
    pub fn http2_max_frame_size(mut self, bytes: u32) -> Self {
        self.tcp.h2.max_frame_size = bytes;
        self
    }

    /// HTTP/2 health check: PING the server when nothing has been read from it for this
    /// long, idle or not (default 30 s; `None` disables). Unlike hyper and Go, on by
    /// default: a silently dead connection is otherwise handed out forever.
    pub fn http2_keep_alive_interval(mut self, interval: impl Into<Option<Duration>>) -> Self {
        self.tcp.h2.keep_alive_interval = interval.into();
        self
    }

    /// How long a health PING may go unanswered before its connection is retired (default
    /// 10 s). Requests in flight on it fail with [`ErrorKind::ConnectionClosed`] (and are
    /// re-sent when the retry policy allows); new requests wait for the PING's answer, and
    /// go to a new connection if it never comes.
    pub fn http2_keep_alive_timeout(mut self, limit: Duration) -> Self {
        self.tcp.h2.keep_alive_timeout = limit;
        self
    }

    /// How long one address gets before the next is tried in parallel (default 250 ms).
    pub fn happy_eyeballs_delay(mut self, delay: Duration) -> Self {
        self.tcp.happy_eyeballs_delay = delay;
        self
    }

    /// Trusts `cert` as a root CA, in addition to the built-in roots.
    pub fn add_root_certificate(mut self, cert: Certificate) -> Self {
        self.tls.extra_roots.push(cert);
        self
    }

    /// Whether Mozilla's root store is trusted (default true).
    pub fn tls_built_in_root_certs(mut self, enabled: bool) -> Self {
        self.tls.built_in_roots = enabled;
        self
    }

    /// **Disables certificate and host-name verification.** Any server can then
    /// impersonate any other; use only against test servers you control.
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.tls.accept_invalid_certs = accept;
        self
    }

    /// Replaces the `User-Agent` header sent by default.
    pub fn user_agent(mut self, value: impl TryInto<HeaderValue>) -> Self {
        match value.try_into() {
            Ok(v) => {
                self.pool.default_headers.insert(USER_AGENT, v);
            }
            Err(_) => self.fail("invalid User-Agent value"),
        }
        self
    }

    /// Adds a header sent with every request (the request's own value wins).
    pub fn default_header(
        mut self,
        name: impl TryInto<HeaderName>,
        value: impl TryInto<HeaderValue>,
    ) -> Self {
        match (name.try_into(), value.try_into()) {
            (Ok(n), Ok(v)) => {
                self.pool.default_headers.insert(n, v);
            }
            _ => self.fail("invalid default header"),
        }
        self
    }

    /// Stops sending a header by default (`user-agent`, or one added before):
    /// as curl's `-H 'Name:'`.
    pub fn without_default_header(mut self, name: impl TryInto<HeaderName>) -> Self {
        match name.try_into() {
            Ok(n) => {
                self.pool.default_headers.remove(n);
            }
            Err(_) => self.fail("invalid header name"),
        }
        self
    }

    /// Adds every header of `headers` to those sent with every request, replacing the
    /// default of the same name (`user-agent`); a request's own value wins.
    pub fn default_headers(mut self, headers: HeaderMap) -> Self {
        let mut last = None;
        for (name, value) in headers {
            // A name is given once for all its values.
            let name = match name {
                Some(n) => {
                    self.pool.default_headers.remove(&n);
                    last = Some(n.clone());
                    n
                }
                None => match &last {
                    Some(n) => n.clone(),
                    None => continue,
                },
            };
            self.pool.default_headers.append(name, value);
        }
        self
    }

    fn fail(&mut self, msg: &'static str) {
        if self.error.is_none() {
            self.error = Some(Error::new(ErrorKind::InvalidRequest).with_message(msg));
        }
    }
}
