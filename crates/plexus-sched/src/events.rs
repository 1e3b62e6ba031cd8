//! What happens to a pool's connections and requests, told as it happens, for users who
//! export it to their metrics system (counters of connections opened and closed by
//! reason, GOAWAYs, race outcomes, retries by reason).

use std::fmt;
use std::sync::Arc;

use plexus_core::{ConnectionInfo, Error, Origin};

/// One thing that happened in a pool. Connection events carry the connection's
/// [`ConnectionInfo`]: its id, origin, protocol, addresses, TLS facts, set-up timings, how
/// a QUIC/TCP race went (`race`) and the proxy it goes through.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum PoolEvent {
    /// A connection was set up and joined the pool.
    ConnectionOpened {
        /// The connection.
        info: Arc<ConnectionInfo>,
    },
    /// A connection could not be set up (DNS, TCP, TLS, proxy, time-out, ...); the
    /// requests waiting for it are failed or wait for another.
    ConnectFailed {
        /// The origin.
        origin: Origin,
        /// Why.
        error: Error,
    },
    /// A connection stopped taking new requests; those on it finish. Told once, before
    /// the connection's [`ConnectionClosed`](PoolEvent::ConnectionClosed), also when it
    /// drained and closed between two looks of the pool.
    ConnectionDraining {
        /// The connection.
        info: Arc<ConnectionInfo>,
        /// True when the server asked for it (h2 or h3 `GOAWAY`, HTTP/1.1
        /// `Connection: close` or `Keep-Alive: max`); false when the client retired it
        /// (its idle time is up, the origin moved to HTTP/3, the pool was closed).
        by_server: bool,
    },
    /// A connection left the pool.
    ConnectionClosed {
        /// The connection.
        info: Arc<ConnectionInfo>,
        /// Why.
        reason: CloseReason,
        /// Requests it carried to a response.
        requests: u64,
    },
    /// A request failed on a connection before any response and is sent again, per the
    /// retry policy.
    Retry {
        /// The origin.
        origin: Origin,
        /// The attempt that failed (1 for the first).
        attempt: u32,
        /// How it failed.
        error: Error,
    },
}

/// Why a connection left the pool.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CloseReason {
    /// It was idle for the pool's idle timeout (or the server's `Keep-Alive` timeout).
    IdleTimeout,
    /// It drained and closed cleanly: after a `GOAWAY`, `Connection: close`, or a
    /// retirement by the client, its last request finished. An HTTP/1.1 connection that
    /// the server closed between responses (its keep-alive timeout) counts too: that is
    /// HTTP/1.1's graceful close.
    Drained,
    /// It closed without draining first: the server closed it, or it failed (reset,
    /// lost, protocol error, health check); the error says which.
    Error(Error),
    /// The client was dropped or its pools closed.
    ClientClosed,
}

/// A function that hears every [`PoolEvent`]. It runs on the pool's own tasks, inline:
/// it should be quick (bump a counter, send on a channel) and must not block.
#[derive(Clone)]
pub struct EventHook(Arc<dyn Fn(&PoolEvent) + Send + Sync>);

impl EventHook {
    /// A hook that calls `f`.
    pub fn new(f: impl Fn(&PoolEvent) + Send + Sync + 'static) -> EventHook {
        EventHook(Arc::new(f))
    }

    pub(crate) fn emit(&self, event: &PoolEvent) {
        (self.0)(event)
    }
}

impl fmt::Debug for EventHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventHook")
    }
}
