//! The stream id in the server's HTTP/3 GOAWAY.
//!
//! RFC 9114 §5.2: a request on a stream at or above the id in a GOAWAY the server sent was
//! not processed, and may go out again on another connection whatever its method. A
//! server that sent GOAWAY may close the connection before its resets of those streams
//! reach the client; without the id, such a request reads as "maybe processed". The h3
//! crate keeps the id to itself, so the transport h3 runs on
//! ([`WatchedQuic`](crate::transport::WatchedQuic)) reads it from the server's control
//! stream as it passes and records it here.

use std::sync::atomic::{AtomicU64, Ordering};

/// The lowest stream id the server has named in a GOAWAY, if it sent one.
#[derive(Debug)]
pub(crate) struct GoawaySeen(AtomicU64);

impl Default for GoawaySeen {
    fn default() -> GoawaySeen {
        GoawaySeen(AtomicU64::new(u64::MAX))
    }
}

impl GoawaySeen {
    pub(crate) fn record(&self, id: u64) {
        tracing::debug!(last = id, "the server sent GOAWAY");
        self.0.fetch_min(id, Ordering::AcqRel);
    }

    /// The GOAWAY's stream id, if the server sent one.
    pub(crate) fn id(&self) -> Option<u64> {
        match self.0.load(Ordering::Acquire) {
            u64::MAX => None,
            id => Some(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_keeps_the_lowest_id() {
        let seen = GoawaySeen::default();
        assert_eq!(seen.id(), None);
        seen.record(40);
        seen.record(100);
        assert_eq!(seen.id(), Some(40));
    }
}
