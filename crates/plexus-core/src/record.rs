//! What happened to one request: which connection carried it, whether that connection was
//! new, how many attempts it took and why it was retried, and when each step finished.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::connection::ConnectionInfo;
use crate::error::Error;

/// The record of one request, in its response's extensions (`Response::record` in
/// plexus): the timing breakdown curl's `-w` prints, and what reqwest does not tell.
///
/// | what | where |
/// |---|---|
/// | DNS | [`time_namelookup`](RequestRecord::time_namelookup) |
/// | TCP (or QUIC) connect | [`time_connect`](RequestRecord::time_connect) |
/// | TLS | [`time_appconnect`](RequestRecord::time_appconnect) |
/// | queue wait (no stream or connection free) | [`time_queued`](RequestRecord::time_queued) |
/// | request handed to the connection | [`time_pretransfer`](RequestRecord::time_pretransfer) |
/// | time to first byte | [`time_starttransfer`](RequestRecord::time_starttransfer) |
/// | protocol, addresses, TLS version, ALPN | [`connection`](RequestRecord::connection) |
/// | new or reused connection | [`reused`](RequestRecord::reused) |
/// | 0-RTT | [`early_data`](RequestRecord::early_data) |
/// | retries and why | [`attempts`](RequestRecord::attempts), [`retries`](RequestRecord::retries) |
///
/// Every time counts from [`started`](RequestRecord::started), when the client was handed
/// the request; the set-up steps are zero on a reused connection. The total depends on
/// when the caller finishes reading the body, so it is the caller's to take.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// The URL requested (absolute, as the caller gave it).
    pub url: http::Uri,
    /// The connection that carried the final attempt.
    pub connection: Arc<ConnectionInfo>,
    /// False when this request was the first on its connection (it paid, or waited for,
    /// the set-up); true when the connection had carried requests before.
    pub reused: bool,
    /// Attempts made, including the one that succeeded.
    pub attempts: u32,
    /// The error behind each retry, in order.
    pub retries: Vec<Error>,
    /// The request was handed to the client.
    pub started: Instant,
    /// The final attempt was handed to its connection.
    pub dispatched: Instant,
    /// The response head arrived.
    pub headers_received: Instant,
    /// The h2/h3 stream id of the final attempt (`None` for HTTP/1.1).
    pub stream_id: Option<u64>,
    /// The final attempt was sent in TLS 1.3 / QUIC 0-RTT early data (and accepted).
    pub early_data: bool,
}

impl RequestRecord {
    /// Time from start until the host name was resolved (curl's `time_namelookup`); zero
    /// for a reused connection.
    pub fn time_namelookup(&self) -> Duration {
        if self.reused {
            Duration::ZERO
        } else {
            self.since_start(self.connection.timings.resolved)
        }
    }

    /// Time from start until the transport connection was up (curl's `time_connect`);
    /// zero for a reused connection.
    pub fn time_connect(&self) -> Duration {
        if self.reused {
            Duration::ZERO
        } else {
            self.since_start(self.connection.timings.connected)
        }
    }

    /// Time from start until TLS was done (curl's `time_appconnect`); zero for a reused
    /// or cleartext connection.
    pub fn time_appconnect(&self) -> Duration {
        match (self.reused, self.connection.timings.tls_done) {
            (false, Some(t)) => self.since_start(t),
            _ => Duration::ZERO,
        }
    }

    /// Time from start until the response head arrived (curl's `time_starttransfer`).
    pub fn time_starttransfer(&self) -> Duration {
        self.since_start(self.headers_received)
    }

    /// Time from start until the request was handed to its connection (curl's
    /// `time_pretransfer`): connection set-up, or the wait for a free stream, included.
    pub fn time_pretransfer(&self) -> Duration {
        self.since_start(self.dispatched)
    }

    /// Time spent waiting for a connection or a free stream: all of
    /// [`time_pretransfer`](RequestRecord::time_pretransfer) but this connection's own
    /// set-up when the request opened it.
    pub fn time_queued(&self) -> Duration {
        let setup = if self.reused {
            Duration::ZERO
        } else {
            let t = &self.connection.timings;
            t.ready()
                .saturating_duration_since(t.started.max(self.started))
        };
        self.time_pretransfer().saturating_sub(setup)
    }

    fn since_start(&self, t: Instant) -> Duration {
        t.saturating_duration_since(self.started)
    }
}

/// Marks a request as safe to replay although its method is not (a POST the caller knows
/// to be idempotent): put it in the request's extensions. Replay-safe requests may be
/// re-sent after a connection failure and (with HTTP/3) sent in 0-RTT early data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Idempotent;

/// True when sending `request` twice cannot do harm: GET, HEAD, OPTIONS, TRACE, PUT,
/// DELETE (RFC 9110 §9.2.2), a request with an `Idempotency-Key` header, or one marked
/// [`Idempotent`].
pub fn is_replay_safe<B>(request: &http::Request<B>) -> bool {
    use http::Method;
    matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    ) || request.headers().contains_key("idempotency-key")
        || request.extensions().get::<Idempotent>().is_some()
}
