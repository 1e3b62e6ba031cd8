//! The faults a test server injects by configuration (per server, counted server-wide or
//! per connection). Faults a single request asks for are routes (`/abort/N`,
//! `/stall/MS`, see [`crate::routes`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::fault_io::FaultSwitch;

/// What a server was asked to get wrong.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FaultPlan {
    /// Refuse every k-th stream, counted over the whole server: h2 `RST_STREAM
    /// (REFUSED_STREAM)`, h3 `H3_REQUEST_REJECTED`. Not processed.
    pub(crate) refuse_every: Option<u64>,
    /// On each connection, the request after the n-th turns the connection into a black
    /// hole: nothing more is read or written, PINGs go unanswered. Not processed.
    pub(crate) black_hole_after: Option<u64>,
    /// HTTP/1.1: on each connection, the request after the n-th is read and the
    /// connection closed without an answer, as when a server's idle timer fires just as
    /// the client reuses the connection. Not processed.
    pub(crate) close_on_reuse_after: Option<u64>,
}

/// A [`FaultPlan`] with its server-wide counters.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    pub(crate) plan: FaultPlan,
    streams: AtomicU64,
}

impl Faults {
    pub(crate) fn new(plan: FaultPlan) -> Faults {
        Faults {
            plan,
            streams: AtomicU64::new(0),
        }
    }

    /// Counts a new stream; true when it is one to refuse.
    pub(crate) fn refuse_next(&self) -> bool {
        let Some(k) = self.plan.refuse_every.filter(|k| *k > 0) else {
            return false;
        };
        let n = self.streams.fetch_add(1, Ordering::Relaxed) + 1;
        n % k == 0
    }

    /// Whether the `n`-th request of a connection (1-based) falls into the black hole.
    pub(crate) fn black_hole(&self, n: u64) -> bool {
        self.plan.black_hole_after.is_some_and(|after| n > after)
    }

    /// Whether the `n`-th request of an HTTP/1.1 connection meets a closing connection.
    pub(crate) fn close_on_reuse(&self, n: u64) -> bool {
        self.plan
            .close_on_reuse_after
            .is_some_and(|after| n > after)
    }
}

/// What one connection's serving code needs to inject faults.
#[derive(Debug, Clone)]
pub(crate) struct ConnFaults {
    pub(crate) faults: Arc<Faults>,
    pub(crate) switch: Arc<FaultSwitch>,
}
