//! Point-in-time counts of an origin's scheduler, for observability.

use plexus_core::{ConnectionState, Origin, Protocol};

/// One origin's scheduler at a moment. Fields may be added (the type is
/// `#[non_exhaustive]`); those here keep their meaning.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OriginSnapshot {
    /// The origin.
    pub origin: Origin,
    /// Connections in the pool now (ready or draining).
    pub connections: Vec<ConnectionSnapshot>,
    /// Connects under way.
    pub connecting: usize,
    /// Requests waiting for a stream.
    pub queued: usize,
    /// Connections opened since the pool was created.
    pub connections_opened: u64,
    /// Connections opened since the pool was created, by protocol.
    pub opened_by_protocol: Vec<(Protocol, u64)>,
    /// Requests holding a stream now (sent, response body not finished).
    pub in_flight: usize,
    /// The most requests that held a stream at once.
    pub peak_in_flight: usize,
}

impl OriginSnapshot {
    /// Open connections speaking `protocol`.
    pub fn open(&self, protocol: Protocol) -> usize {
        self.connections
            .iter()
            .filter(|c| c.protocol == protocol)
            .count()
    }
}

/// One connection at a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionSnapshot {
    /// The connection id (as in logs and `ConnectionInfo::id`).
    pub id: u64,
    /// Its protocol.
    pub protocol: Protocol,
    /// Ready or draining.
    pub state: ConnectionState,
    /// Requests on it now.
    pub in_flight: usize,
    /// The peer's current limit.
    pub max_concurrent: usize,
    /// Requests it has carried.
    pub requests_served: u64,
}
