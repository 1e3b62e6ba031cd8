//! # plexus
//!
//! An async HTTP client built around one idea: a request should cost one round trip.
//! Connection set-up (DNS, TCP, TLS) is paid once per origin; after that, every request
//! rides on the same long-lived connection — as a stream of an HTTP/3 (QUIC) or HTTP/2
//! connection, or on a kept-alive HTTP/1.1 connection when the server speaks nothing newer.
//! HTTP/3 is used once an origin advertises it in `Alt-Svc` (see [`Http3Mode`]): QUIC is
//! raced against TCP, a broken QUIC path is remembered, and replay-safe requests of a
//! resumed connection go in 0-RTT.
//!
//! ```no_run
//! # async fn run() -> Result<(), plexus::Error> {
//! // One client for the whole process: it owns the connections.
//! let client = plexus::Client::builder()
//!     .timeout(std::time::Duration::from_secs(30))
//!     .build()?;
//!
//! // A thousand concurrent requests to one origin travel as streams of one h2
//! // connection (within the server's MAX_CONCURRENT_STREAMS; the rest wait their turn).
//! let requests = (0..1000).map(|i| {
//!     let client = client.clone();
//!     async move { client.get(format!("https://example.com/item/{i}")).send().await?.bytes().await }
//! });
//! let bodies = futures_util::future::try_join_all(requests).await?;
//! # Ok(()) }
//! ```
//!
//! ## One client per process
//!
//! A [`Client`] owns the connections, the TLS session cache, the Alt-Svc cache and a
//! scheduler per origin. Build one at start-up and clone it (an `Arc`) wherever requests
//! are made; a client per request pays DNS, TCP and TLS every time, which is exactly what
//! plexus exists to avoid.
//!
//! ## Protocol selection
//!
//! | origin | protocol |
//! |---|---|
//! | `https`, server offers h2 by ALPN | HTTP/2: one connection, requests as streams |
//! | `https`, server picks `http/1.1` | HTTP/1.1 keep-alive, a pool of up to 6 connections |
//! | `https`, `Alt-Svc: h3` seen (or [`Http3Mode::PriorKnowledge`]) | HTTP/3 raced against TCP; TCP if QUIC fails |
//! | `http` | HTTP/1.1, or h2c with [`ClientBuilder::http2_prior_knowledge`] |
//!
//! [`ClientBuilder::http1_only`] and [`Http3Mode::Only`] pin one protocol;
//! [`RequestBuilder::http3`] chooses per request.
//!
//! ## Retries
//!
//! A request is sent again, on another connection, only when that cannot do harm:
//!
//! - it never left the client, or the server said it did not process it (h2
//!   `REFUSED_STREAM`, a stream above a GOAWAY's last stream id, HTTP/3 GOAWAY): any
//!   method, even a POST;
//! - the connection closed before any response on a reused HTTP/1.1 connection (the
//!   server had just timed it out): replay-safe requests only (GET, HEAD, PUT, DELETE,
//!   OPTIONS, TRACE, an `Idempotency-Key`, or [`RequestBuilder::idempotent`]).
//!
//! Statuses (429, 502, 503, 504) are retried only with
//! [`ClientBuilder::retry_status`], within a budget. [`RequestRecord::retries`] lists every
//! retry and its reason; [`Error::attempts`] counts them when the request fails.
//!
//! ## What happens to a request
//!
//! 1. The URL's origin (scheme, host, port) picks a scheduler.
//! 2. The scheduler gives the request a free stream on a ready connection, or queues it
//!    (FIFO, bounded, with a queue timeout), opening a connection if none can take it:
//!    one while the origin's protocol is unknown, then up to the per-origin limits.
//! 3. A new connection is QUIC (HTTP/3) if the origin offered it and it is not marked
//!    broken, raced against TCP; a TCP connection tries every address of the host (IPv6
//!    and IPv4 raced), does a TLS 1.3/1.2 handshake offering ALPN `h2, http/1.1`, and
//!    speaks what the server picked.
//! 4. If the connection fails under the request before the server processed it (refused
//!    stream, GOAWAY, a kept-alive connection the server had just closed), the request is
//!    re-sent per the [`RetryPolicy`]; the response's [`RequestRecord`] lists the retries.
//! 5. A redirect (301, 302, 303, 307, 308 with a `Location`) is followed per the
//!    [`redirect::Policy`] — up to 10 by default — as a new request from step 1;
//!    [`Response::url`] is where the chain ended.
//!
//! ## Errors
//!
//! Every failure is a [`plexus::Error`](Error) with an [`ErrorKind`], predicates
//! ([`is_timeout`](Error::is_timeout), [`is_connect`](Error::is_connect),
//! [`is_tls`](Error::is_tls), [`is_retryable`](Error::is_retryable)), the origin and
//! protocol, and the number of attempts. The client stays usable after any error.
//!
//! ## Cancellation
//!
//! Dropping a `send()` future cancels the request: taken out of the queue if it was
//! waiting; its stream reset if it was in flight (an HTTP/1.1 connection is closed, since
//! it cannot be reused mid-message). Dropping a [`Response`] or its body frees the stream.
//!
//! ## Middleware
//!
//! With the `tower` feature (on by default), [`Client`] is a
//! `tower::Service<http::Request<Body>>`: tower's layers (timeouts, rate and concurrency
//! limits, retries) wrap it like any other service.
//!
//! ## Proxies, cookies, metrics
//!
//! Connections go through the proxies the environment names (`HTTPS_PROXY`, `http_proxy`,
//! `ALL_PROXY`, minus `NO_PROXY`) or those given to [`ClientBuilder::proxy`], as `CONNECT`
//! tunnels (HTTP/3 does not go through a proxy; see [`Proxy`]). With the `cookies`
//! feature, a `cookie::Jar` keeps what servers set. [`Client::snapshot`] counts
//! connections and streams per origin at a moment; [`ClientBuilder::on_pool_event`] tells
//! each [`PoolEvent`] as it happens, for export to a metrics system.
//!
//! ## Defaults
//!
//! | setting | default |
//! |---|---|
//! | connect timeout (DNS, TCP, TLS) | 10 s |
//! | request timeout | none |
//! | read timeout (no body bytes) | 60 s |
//! | idle connection kept | 90 s |
//! | connections per origin | 1 HTTP/2, 6 HTTP/1.1 |
//! | queue per origin | 100,000 requests, 60 s wait |
//! | redirects | up to 10 ([`redirect::Policy`]) |
//! | decompression | what the `gzip`, `brotli`, `zstd`, `deflate` features enable (all off by default) |
//! | HTTP/3 | after `Alt-Svc` ([`Http3Mode::AltSvc`]), 0-RTT for replay-safe requests |
//! | headers | `user-agent: plexus/VERSION`, `accept: */*` |
//! | proxies | from the environment |
//! | cookies | none (feature `cookies`: `ClientBuilder::cookie_store`) |
//!
//! See [`ClientBuilder`] for every setting.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod alt_svc_cache;
mod alt_svc_file;
mod basic_auth;
mod builder;
mod client;
mod connect;
#[cfg(feature = "cookies")]
pub mod cookie;
mod decode;
mod follow;
mod h3_broken;
mod proxy;
pub mod redirect;
mod request;
mod response;
#[cfg(feature = "tower")]
mod service;
mod session_store;
mod status_retry;
mod tls;
mod transport;

pub use builder::ClientBuilder;
pub use client::Client;
pub use plexus_core::{
    Body, ConnectTimings, ConnectionId, ConnectionInfo, Delivery, Error, ErrorKind, Idempotent,
    Origin, Protocol, RequestRecord, TlsInfo,
};
pub use plexus_sched::{
    CloseReason, ConnectionSnapshot, EventHook, OriginSnapshot, PoolEvent, RetryPolicy,
};
pub use proxy::{NoProxy, Proxy};
pub use request::{IntoUri, RequestBuilder};
pub use response::{Response, ResponseBody};
pub use status_retry::StatusRetry;
pub use tls::{AcceptAnyCertificate, Certificate};
pub use transport::Http3Mode;

/// Re-exported for building requests and reading responses.
pub use http;
