//! The `Connection` boundary between the scheduler and the transports.
//!
//! A transport (TCP+TLS with h2 or HTTP/1.1, QUIC with h3) hands the scheduler a
//! [`Connection`]: a cheap, cloneable sender handle. The socket itself belongs to a driver
//! task the transport spawned; the handle and the driver share the connection's state,
//! capacity and close cause.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};

use crate::body::Body;
use crate::error::Error;
use crate::origin::Origin;

/// The HTTP version a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// HTTP/1.1 (one request at a time per connection, kept alive between requests).
    Http1,
    /// HTTP/2 over TCP (TLS with ALPN `h2`, or cleartext h2c by prior knowledge).
    Http2,
    /// HTTP/3 over QUIC.
    Http3,
}

impl Protocol {
    /// True when the protocol carries many requests at once as streams.
    pub fn is_multiplexed(self) -> bool {
        !matches!(self, Protocol::Http1)
    }

    /// The [`http::Version`] of responses on this protocol.
    pub fn version(self) -> http::Version {
        match self {
            Protocol::Http1 => http::Version::HTTP_11,
            Protocol::Http2 => http::Version::HTTP_2,
            Protocol::Http3 => http::Version::HTTP_3,
        }
    }

    /// Short lower-case name as used in statistics: `h1`, `h2`, `h3`.
    pub fn short_name(self) -> &'static str {
        match self {
            Protocol::Http1 => "h1",
            Protocol::Http2 => "h2",
            Protocol::Http3 => "h3",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Http1 => "HTTP/1.1",
            Protocol::Http2 => "HTTP/2",
            Protocol::Http3 => "HTTP/3",
        })
    }
}

/// A process-unique connection number, for logs and statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(u64);

impl ConnectionId {
    /// The next unused id.
    pub fn next() -> ConnectionId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ConnectionId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The id as a number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What a response body knows of the stream that carried it. (Kept in the body rather
/// than in the response's extensions: an extension costs allocations on every request.)
pub trait StreamFacts {
    /// The h2 or h3 stream id; `None` over HTTP/1.1.
    fn stream_id(&self) -> Option<u64> {
        None
    }

    /// Whether the request went out in 0-RTT early data that the server accepted.
    fn early_data(&self) -> bool {
        false
    }
}

/// How many requests a connection carries now and how many its peer allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// Requests (streams) currently open on the connection.
    pub in_flight: usize,
    /// The most requests the peer allows at once right now: 1 for HTTP/1.1, the peer's
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` for h2, the QUIC stream credit for h3.
    pub max_concurrent: usize,
    /// False while `max_concurrent` is an assumption made before the peer announced its
    /// limit (h2 before the server's SETTINGS arrive). A scheduler should not open extra
    /// connections on the strength of a provisional limit.
    pub limit_known: bool,
}

impl Capacity {
    /// Streams that may still be opened.
    pub fn available(&self) -> usize {
        self.max_concurrent.saturating_sub(self.in_flight)
    }
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionState {
    /// Accepts new requests (within its capacity).
    Ready,
    /// Takes no new requests; those in flight finish (after GOAWAY, `Connection: close`,
    /// an exhausted keep-alive budget, or a local graceful close).
    Draining,
    /// Gone. [`Connection::close_cause`] says why.
    Closed,
}

/// TLS parameters of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// Negotiated version, e.g. `TLSv1.3`.
    pub version: String,
    /// Negotiated cipher suite.
    pub cipher_suite: String,
    /// True when the handshake resumed an earlier session.
    pub resumed: bool,
}

/// When each step of connection set-up finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectTimings {
    /// Set-up began (before name resolution).
    pub started: Instant,
    /// The host name was resolved (curl's `time_namelookup`, counted from `started`).
    pub resolved: Instant,
    /// The transport connection was established (TCP connected, or the QUIC handshake
    /// completed).
    pub connected: Instant,
    /// The TLS handshake finished (`None` for cleartext).
    pub tls_done: Option<Instant>,
}

impl ConnectTimings {
    /// When the connection was ready for its first request.
    pub fn ready(&self) -> Instant {
        self.tls_done.unwrap_or(self.connected)
    }

    /// Total set-up time.
    pub fn total(&self) -> Duration {
        self.ready().duration_since(self.started)
    }
}

/// How a connection came to be when QUIC and TCP were raced for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Race {
    /// The protocol of the connection that was ready first.
    pub winner: Protocol,
    /// How long QUIC had to itself before TCP was started too.
    pub head_start: Duration,
    /// From the start of the race until the winner was ready.
    pub won_after: Duration,
    /// What became of the other attempt.
    pub loser: String,
}

/// Facts about one connection, fixed once it is set up.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// Process-unique id.
    pub id: ConnectionId,
    /// The origin the connection serves.
    pub origin: Origin,
    /// The negotiated protocol.
    pub protocol: Protocol,
    /// The peer's address.
    pub remote_addr: SocketAddr,
    /// Our address.
    pub local_addr: Option<SocketAddr>,
    /// The ALPN protocol the server selected, if any.
    pub alpn: Option<String>,
    /// TLS details (`None` for cleartext).
    pub tls: Option<TlsInfo>,
    /// How long set-up took, step by step.
    pub timings: ConnectTimings,
    /// How QUIC and TCP were raced for it, if they were.
    pub race: Option<Race>,
    /// The proxy the connection is tunnelled through (`host:port`), if any; then
    /// `remote_addr` is the proxy's address.
    pub proxy: Option<String>,
}

/// A request that failed at a connection, with the request handed back when it was never
/// written (so that even a streaming body can be sent elsewhere).
pub struct SendError {
    error: Error,
    request: Option<Box<Request<Body>>>,
}

impl SendError {
    /// A failure that consumed the request.
    pub fn new(error: Error) -> SendError {
        SendError {
            error,
            request: None,
        }
    }

    /// A failure before anything was written; the request comes back for another try.
    pub fn unsent(error: Error, request: Request<Body>) -> SendError {
        SendError {
            error,
            request: Some(Box::new(request)),
        }
    }

    /// What happened.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The error, and the untouched request when the transport did not consume it.
    pub fn into_parts(self) -> (Error, Option<Request<Body>>) {
        (self.error, self.request.map(|r| *r))
    }
}

impl fmt::Debug for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError")
            .field("error", &self.error)
            .field("request_returned", &self.request.is_some())
            .finish()
    }
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Error {
        e.error
    }
}

/// One connection to an origin, as the scheduler sees it: send a request, get a response
/// with a streaming body; know the capacity, the state and why it closed.
///
/// Implementations are cheap `Clone` handles; the socket is owned by a driver task.
///
/// # Errors
///
/// [`Connection::send_request`] reports, through [`Error::delivery`](crate::Error::delivery),
/// whether the request was not sent at all, refused unprocessed by the peer, or may have
/// been processed. A request that was not written comes back through [`SendError::into_parts`].
///
/// # Cancellation
///
/// Dropping the future returned by `send_request`, or the response body, cancels the
/// request (h2: `RST_STREAM(CANCEL)`; HTTP/1.1: the connection is closed, since it cannot
/// be reused mid-message).
pub trait Connection: Clone + Send + Sync + 'static {
    /// The streaming response body.
    type ResponseBody: http_body::Body<Data = Bytes, Error = Error>
        + StreamFacts
        + Send
        + Unpin
        + 'static;

    /// Facts fixed at set-up: id, origin, protocol, addresses, TLS, timings.
    fn info(&self) -> &Arc<ConnectionInfo>;

    /// Sends a request and resolves to the response head; the body streams after.
    ///
    /// The request URI must be absolute (`https://host/path`). The caller (the scheduler)
    /// must not send more requests at once than [`Connection::capacity`] allows.
    fn send_request(
        &self,
        request: Request<Body>,
    ) -> impl Future<Output = Result<Response<Self::ResponseBody>, SendError>> + Send + 'static;

    /// How many header fields [`send_request`](Connection::send_request) adds to a
    /// request's map (HTTP/1.1: `Host`), so that a caller building the map can leave room
    /// for them. Default: none.
    fn added_headers(&self) -> usize {
        0
    }

    /// Requests in flight and the peer's current limit.
    fn capacity(&self) -> Capacity;

    /// Ready, draining or closed.
    fn state(&self) -> ConnectionState;

    /// Why the connection closed (or began draining), shared by every request that was on
    /// it. `None` while it is ready.
    fn close_cause(&self) -> Option<Error>;

    /// Whether the connection went through draining (a `GOAWAY`, `Connection: close`, a
    /// graceful close) rather than straight from ready to closed. Default: false.
    fn drained(&self) -> bool {
        false
    }

    /// Resolves once the state or the peer's limit (`capacity().max_concurrent`) has changed
    /// after this call returned (`in_flight` changes alone do not wake it). Call it,
    /// then read [`state`](Connection::state) / [`capacity`](Connection::capacity), then
    /// await it: no change can slip between.
    fn changed(&self) -> impl Future<Output = ()> + Send + 'static;

    /// How long the peer promised to keep this connection open while idle (HTTP/1.1
    /// `Keep-Alive: timeout=N`), already shortened by a safety margin so that the client
    /// closes first. `None` when the peer said nothing.
    fn idle_timeout_hint(&self) -> Option<Duration> {
        None
    }

    /// Begins a graceful close: no new requests; those in flight finish; then the
    /// connection closes.
    fn close(&self);
}
