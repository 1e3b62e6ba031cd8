//! What a test server saw, counted on the server side.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Counters shared by a server's tasks.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    tcp_connections: AtomicU64,
    tls_handshakes: AtomicU64,
    open_connections: AtomicUsize,
    peak_open_connections: AtomicUsize,
    requests: AtomicU64,
    refused: AtomicU64,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
    connections: Mutex<Vec<Arc<ConnCounters>>>,
    request_ids: Mutex<HashMap<String, u32>>,
    quic_connections: AtomicU64,
    early_requests: Mutex<Vec<String>>,
}

/// Counters of one connection.
#[derive(Debug)]
pub(crate) struct ConnCounters {
    protocol: &'static str,
    requests: AtomicU64,
    streams: AtomicU64,
    max_stream_id: AtomicU32,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
}

impl Counters {
    pub(crate) fn tcp_accepted(self: &Arc<Self>) -> OpenConnection {
        self.tcp_connections.fetch_add(1, Ordering::Relaxed);
        let open = self.open_connections.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak_open_connections.fetch_max(open, Ordering::AcqRel);
        OpenConnection {
            counters: Arc::clone(self),
        }
    }

    /// A QUIC connection was accepted; counted as an open connection until dropped.
    pub(crate) fn quic_accepted(self: &Arc<Self>) -> OpenConnection {
        self.quic_connections.fetch_add(1, Ordering::Relaxed);
        let open = self.open_connections.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak_open_connections.fetch_max(open, Ordering::AcqRel);
        OpenConnection {
            counters: Arc::clone(self),
        }
    }

    /// A request arrived in 0-RTT early data.
    pub(crate) fn early_request(&self, method: &str, path: &str) {
        if let Ok(mut e) = self.early_requests.lock() {
            e.push(format!("{method} {path}"));
        }
    }

    pub(crate) fn tls_handshake_done(&self) {
        self.tls_handshakes.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn connection(&self, protocol: &'static str) -> Arc<ConnCounters> {
        let conn = Arc::new(ConnCounters {
            protocol,
            requests: AtomicU64::new(0),
            streams: AtomicU64::new(0),
            max_stream_id: AtomicU32::new(0),
            in_flight: AtomicUsize::new(0),
            peak_in_flight: AtomicUsize::new(0),
        });
        if let Ok(mut all) = self.connections.lock() {
            all.push(Arc::clone(&conn));
        }
        conn
    }

    /// A request (stream) begins on `conn`; the guard counts it until it is answered.
    pub(crate) fn begin(self: &Arc<Self>, conn: &Arc<ConnCounters>, stream_id: u32) -> InFlight {
        conn.streams.fetch_add(1, Ordering::Relaxed);
        conn.max_stream_id.fetch_max(stream_id, Ordering::Relaxed);
        let c = conn.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        conn.peak_in_flight.fetch_max(c, Ordering::AcqRel);
        let s = self.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak_in_flight.fetch_max(s, Ordering::AcqRel);
        InFlight {
            counters: Arc::clone(self),
            conn: Arc::clone(conn),
        }
    }

    /// A request was processed (its handler ran). `id` is its `x-request-id`, if any.
    pub(crate) fn processed(&self, conn: &ConnCounters, id: Option<&str>) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        conn.requests.fetch_add(1, Ordering::Relaxed);
        if let (Some(id), Ok(mut ids)) = (id, self.request_ids.lock()) {
            *ids.entry(id.to_string()).or_insert(0) += 1;
        }
    }

    /// How many times a request with `id` has been processed.
    pub(crate) fn times_processed(&self, id: &str) -> u32 {
        self.request_ids
            .lock()
            .map(|ids| ids.get(id).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// The processed request ids counted so far, handed over and forgotten.
    pub(crate) fn take_request_ids(&self) -> HashMap<String, u32> {
        self.request_ids
            .lock()
            .map(|mut ids| std::mem::take(&mut *ids))
            .unwrap_or_default()
    }

    /// A stream was refused without processing (fault injection).
    pub(crate) fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let connections = self
            .connections
            .lock()
            .map(|all| {
                all.iter()
                    .map(|c| ConnStats {
                        protocol: c.protocol,
                        requests: c.requests.load(Ordering::Relaxed),
                        streams: c.streams.load(Ordering::Relaxed),
                        max_stream_id: c.max_stream_id.load(Ordering::Relaxed),
                        peak_streams: c.peak_in_flight.load(Ordering::Relaxed),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let (distinct_request_ids, duplicate_request_ids) = self
            .request_ids
            .lock()
            .map(|ids| {
                let dups = ids
                    .iter()
                    .filter(|(_, n)| **n > 1)
                    .map(|(id, _)| id.clone())
                    .collect();
                (ids.len(), dups)
            })
            .unwrap_or_default();
        Stats {
            quic_connections: self.quic_connections.load(Ordering::Relaxed),
            early_requests: self
                .early_requests
                .lock()
                .map(|e| e.clone())
                .unwrap_or_default(),
            tcp_connections: self.tcp_connections.load(Ordering::Relaxed),
            tls_handshakes: self.tls_handshakes.load(Ordering::Relaxed),
            peak_open_connections: self.peak_open_connections.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            refused_streams: self.refused.load(Ordering::Relaxed),
            peak_streams: self.peak_in_flight.load(Ordering::Relaxed),
            connections,
            distinct_request_ids,
            duplicate_request_ids,
        }
    }
}

/// Counts an open TCP connection until dropped.
#[derive(Debug)]
pub(crate) struct OpenConnection {
    counters: Arc<Counters>,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.counters
            .open_connections
            .fetch_sub(1, Ordering::AcqRel);
    }
}

/// One request in flight on the server.
#[derive(Debug)]
pub(crate) struct InFlight {
    counters: Arc<Counters>,
    conn: Arc<ConnCounters>,
}

impl InFlight {
    pub(crate) fn conn(&self) -> &ConnCounters {
        &self.conn
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.conn.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.counters.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A test server's counts at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// TCP connections accepted.
    pub tcp_connections: u64,
    /// QUIC connections accepted.
    pub quic_connections: u64,
    /// Requests that arrived in 0-RTT early data, as `METHOD /path`.
    pub early_requests: Vec<String>,
    /// TLS handshakes completed.
    pub tls_handshakes: u64,
    /// The most TCP connections open at once.
    pub peak_open_connections: usize,
    /// Requests processed (handlers run), all connections together.
    pub requests: u64,
    /// Streams refused without processing by fault injection.
    pub refused_streams: u64,
    /// The most requests in progress at once, all connections together.
    pub peak_streams: usize,
    /// Per connection, in accept order.
    pub connections: Vec<ConnStats>,
    /// Distinct `x-request-id` values processed.
    pub distinct_request_ids: usize,
    /// `x-request-id` values processed more than once.
    pub duplicate_request_ids: Vec<String>,
}

impl Stats {
    /// Connections that spoke `protocol` (`"h1"`, `"h2"` or `"h3"`).
    pub fn connections_of(&self, protocol: &str) -> usize {
        self.connections
            .iter()
            .filter(|c| c.protocol == protocol)
            .count()
    }
}

/// What one connection carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnStats {
    /// `"h1"` or `"h2"`.
    pub protocol: &'static str,
    /// Requests processed on it.
    pub requests: u64,
    /// Streams (h2) or requests (h1) that reached the server's handler.
    pub streams: u64,
    /// The highest h2 stream id seen.
    pub max_stream_id: u32,
    /// The most requests in progress on it at once.
    pub peak_streams: usize,
}

impl ConnStats {
    /// True when every client stream id up to the highest one reached the handler: no
    /// stream was refused by the server's own limit (an h2 server refuses streams beyond
    /// its MAX_CONCURRENT_STREAMS before any handler sees them, leaving gaps).
    pub fn stream_ids_dense(&self) -> bool {
        self.protocol != "h2" || u64::from(self.max_stream_id).div_ceil(2) == self.streams
    }
}
