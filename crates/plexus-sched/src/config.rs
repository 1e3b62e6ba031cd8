//! Scheduler settings, each with its default.

use std::time::Duration;

/// Per-origin scheduling and pooling settings.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Most HTTP/2 (and later HTTP/3) connections per origin. Default: 1 — one
    /// long-lived connection carries every request as a stream, and requests beyond the
    /// peer's `MAX_CONCURRENT_STREAMS` wait in the queue. Above 1, requests spill over to
    /// additional connections, never exceeding any peer's limit.
    pub max_connections_per_origin: usize,
    /// Most HTTP/1.1 connections per origin (the keep-alive pool). Default: 6, as in
    /// browsers.
    pub http1_max_connections_per_origin: usize,
    /// How long an unused connection stays pooled. Default: 90 s (as Go's
    /// `IdleConnTimeout`). A server's `Keep-Alive: timeout=N` shortens it for that
    /// connection.
    pub idle_timeout: Option<Duration>,
    /// Most requests waiting for a stream per origin; more fail with
    /// `ErrorKind::QueueFull`. Default: 100,000.
    pub max_queue: usize,
    /// How long a request may wait for a connection or stream before it fails with
    /// `ErrorKind::QueueTimeout`. Default: 60 s.
    pub queue_timeout: Option<Duration>,
    /// When failed requests are re-sent.
    pub retry: RetryPolicy,
    /// Told of every [`PoolEvent`](crate::PoolEvent). Default: none.
    pub events: Option<crate::EventHook>,
    /// Headers every request carries unless it has its own of the same name (a
    /// client's `User-Agent`). Default: none. They are added to each attempt as it is
    /// sent, so the copy of the request kept for a retry does not carry them.
    pub default_headers: http::HeaderMap,
}

impl Default for PoolConfig {
    fn default() -> PoolConfig {
        PoolConfig {
            max_connections_per_origin: 1,
            http1_max_connections_per_origin: 6,
            idle_timeout: Some(Duration::from_secs(90)),
            max_queue: 100_000,
            queue_timeout: Some(Duration::from_secs(60)),
            retry: RetryPolicy::default(),
            events: None,
            default_headers: http::HeaderMap::new(),
        }
    }
}

/// When a request that failed at a connection is sent again (on another connection when
/// the first is going away).
///
/// * **Always, whatever the method**: the request was not sent at all, or the server
///   provably did not process it (h2 `REFUSED_STREAM`, h3 `H3_REQUEST_REJECTED`, a
///   stream above an h2 GOAWAY's last stream id or at or above an h3 GOAWAY's id, a
///   connection that was draining or closed when the request reached it).
///   Such a failure while the origin keeps answering other requests is the server
///   rotating its connections (nginx's `keepalive_requests` ends one every N requests
///   and refuses what is above its GOAWAY) and costs nothing; failures while no response
///   arrives from the origin count, up to `max_unprocessed_attempts` — a peer that serves
///   nothing cannot loop a request forever. No request makes more than 100 attempts.
///   The exception: a request that was not sent because its connection died of a
///   protocol violation by the server (an oversized control frame, a malformed SETTINGS)
///   is not sent again, as another connection to that server would most likely die the
///   same way.
/// * **Only when replay-safe** (GET, HEAD, OPTIONS, TRACE, PUT, DELETE, or a request
///   carrying an `Idempotency-Key` header), while fewer than `max_attempts` attempts were
///   made: a reused connection closed before any response arrived (the stale keep-alive
///   race); a connection whose handshake failed after the request went out in 0-RTT.
/// * **Never**: once a response head has arrived, or when the body cannot be re-sent (a
///   streaming body the transport already consumed).
///
/// Every retry is recorded in the response's `RequestRecord::retries` and logged at
/// `debug`; a final error reports the attempts made.
///
/// Responses are never retried here; re-sending on a status (429, 502, 503, 504) is the
/// separate, opt-in `StatusRetry` of the `plexus` client.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts allowed for requests the server may have processed. Default: 3.
    pub max_attempts: u32,
    /// Failures of the "not processed" kind allowed while no response arrives from the
    /// origin. Default: 10.
    pub max_unprocessed_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            max_unprocessed_attempts: 10,
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn never() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 1,
            max_unprocessed_attempts: 1,
        }
    }
}
