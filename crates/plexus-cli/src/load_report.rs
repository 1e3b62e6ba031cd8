//! What `plexus load` counts — per request loop, merged at the end — and how it reports:
//! an h2load-like text report, one JSON object, and a progress line on a terminal.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use plexus::{ConnectTimings, Response};

/// Microseconds, 1 µs to 10 min, three significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// The run's two histograms, shared by every request loop. A loop buffers its samples
/// and records them here a batch at a time: one histogram per loop would cost each
/// ~240 KiB of counters (100 loops: 48 MiB, and cache misses on every record).
pub(crate) struct Histograms {
    latency: Histogram<u64>,
    first_byte: Histogram<u64>,
}

impl Histograms {
    pub(crate) fn shared() -> Arc<Mutex<Histograms>> {
        Arc::new(Mutex::new(Histograms {
            latency: histogram(),
            first_byte: histogram(),
        }))
    }
}

/// Samples a loop keeps before recording them into the shared histograms.
const BATCH: usize = 1024;

/// One request loop's tallies (and, merged, the run's).
pub(crate) struct Tally {
    histograms: Arc<Mutex<Histograms>>,
    /// (latency, first byte) in microseconds, not yet recorded.
    pending: Vec<(u64, u64)>,
    statuses: BTreeMap<u16, u64>,
    errors: BTreeMap<String, u64>,
    bytes: u64,
    retried: u64,
    /// Set-up timings of every connection a response came over.
    connections: HashMap<plexus::ConnectionId, ConnectTimings>,
    /// The connection of the last response (most come over the same one as the last).
    last_connection: Option<plexus::ConnectionId>,
    protocols: BTreeSet<String>,
}

impl Tally {
    pub(crate) fn new(histograms: Arc<Mutex<Histograms>>) -> Tally {
        Tally {
            histograms,
            // Grown as samples come (to BATCH at most): with ten thousand loops of a few
            // requests each, a full batch each would cost more than the requests.
            pending: Vec::new(),
            statuses: BTreeMap::new(),
            errors: BTreeMap::new(),
            bytes: 0,
            retried: 0,
            connections: HashMap::new(),
            last_connection: None,
            protocols: BTreeSet::new(),
        }
    }

    /// A response whose body (`bytes` long) was read whole `took` after the request
    /// started.
    pub(crate) fn response(&mut self, response: &Response, bytes: u64, took: Duration) {
        let record = response.record();
        self.pending
            .push((micros(took), micros(record.time_starttransfer())));
        if self.pending.len() >= BATCH {
            self.flush();
        }
        *self.statuses.entry(response.status().as_u16()).or_default() += 1;
        self.bytes += bytes;
        if record.attempts > 1 {
            self.retried += 1;
        }
        let info = &record.connection;
        if self.last_connection == Some(info.id) {
            return;
        }
        self.last_connection = Some(info.id);
        if let std::collections::hash_map::Entry::Vacant(new) = self.connections.entry(info.id) {
            new.insert(info.timings);
            self.protocols.insert(info.protocol.to_string());
        }
    }

    /// A request that ended in an error instead of a response.
    pub(crate) fn error(&mut self, e: &plexus::Error) {
        *self
            .errors
            .entry(crate::stats::kind_name(e.kind()))
            .or_default() += 1;
    }

    /// Records the buffered samples into the shared histograms.
    fn flush(&mut self) {
        let mut h = self.histograms.lock().expect("histograms");
        for (latency, first_byte) in self.pending.drain(..) {
            let _ = h.latency.record(latency);
            let _ = h.first_byte.record(first_byte);
        }
    }

    pub(crate) fn merge(&mut self, mut other: Tally) {
        other.flush();
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        for (kind, n) in other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
        self.bytes += other.bytes;
        self.retried += other.retried;
        self.connections.extend(other.connections);
        self.protocols.extend(other.protocols);
    }

    /// The run's figures.
    pub(crate) fn summary(mut self, elapsed: Duration) -> Summary {
        self.flush();
        let (latency, first_byte) = {
            let h = self.histograms.lock().expect("histograms");
            (h.latency.clone(), h.first_byte.clone())
        };
        let responses: u64 = self.statuses.values().sum();
        let errors: u64 = self.errors.values().sum();
        let ok = self
            .statuses
            .iter()
            .filter(|(s, _)| **s < 400)
            .map(|(_, n)| n)
            .sum();
        let mut connect = histogram();
        let mut tls = histogram();
        for t in self.connections.values() {
            let _ = connect.record(micros(t.connected.duration_since(t.started)));
            // Over QUIC the handshake is the transport's: no separate TLS time.
            match t.tls_done.map(|done| done.duration_since(t.connected)) {
                Some(d) if !d.is_zero() => {
                    let _ = tls.record(micros(d));
                }
                _ => {}
            }
        }
        Summary {
            requests: responses + errors,
            ok,
            errors,
            statuses: self.statuses,
            errors_by_kind: self.errors,
            elapsed,
            bytes: self.bytes,
            retried: self.retried,
            connections: self.connections.len(),
            protocols: self.protocols.into_iter().collect(),
            latency,
            first_byte,
            connect,
            tls,
        }
    }
}

/// The run's figures.
pub(crate) struct Summary {
    /// Requests that ended, with a response or an error.
    pub(crate) requests: u64,
    /// Responses with a status below 400.
    pub(crate) ok: u64,
    /// Requests that ended in an error (no response).
    pub(crate) errors: u64,
    statuses: BTreeMap<u16, u64>,
    errors_by_kind: BTreeMap<String, u64>,
    elapsed: Duration,
    bytes: u64,
    retried: u64,
    connections: usize,
    protocols: Vec<String>,
    latency: Histogram<u64>,
    first_byte: Histogram<u64>,
    connect: Histogram<u64>,
    tls: Histogram<u64>,
}

fn spread(h: &Histogram<u64>) -> serde_json::Value {
    if h.is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::json!({
        "min": h.min(),
        "mean": h.mean().round() as u64,
        "p50": h.value_at_quantile(0.50),
        "p90": h.value_at_quantile(0.90),
        "p99": h.value_at_quantile(0.99),
        "max": h.max(),
    })
}

/// `1.23ms`, `456us`, `2.50s`.
fn human(us: u64) -> String {
    match us {
        0..=9_999 => format!("{us}us"),
        10_000..=999_999 => format!("{:.2}ms", us as f64 / 1000.0),
        _ => format!("{:.2}s", us as f64 / 1_000_000.0),
    }
}

impl Summary {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// One JSON object for machines.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let statuses: serde_json::Map<String, serde_json::Value> = self
            .statuses
            .iter()
            .map(|(s, n)| (s.to_string(), (*n).into()))
            .collect();
        serde_json::json!({
            "requests": self.requests,
            "ok": self.ok,
            "errors": self.errors,
            "errors_by_kind": self.errors_by_kind,
            "status": statuses,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "rps": self.rps(),
            "bytes": self.bytes,
            "retried": self.retried,
            "connections": self.connections,
            "protocols": self.protocols,
            "latency_us": spread(&self.latency),
            "first_byte_us": spread(&self.first_byte),
            "connect_us": spread(&self.connect),
            "tls_us": spread(&self.tls),
        })
    }

    /// The report for people.
    pub(crate) fn report(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let mut out = format!(
            "finished in {:.2}s, {:.1} req/s, {:.2} MB/s\n",
            secs,
            self.rps(),
            self.bytes as f64 / secs / 1e6
        );
        out += &format!(
            "requests: {} total, {} ok, {} errors, {} retried\n",
            self.requests, self.ok, self.errors, self.retried
        );
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        out += &format!("status codes: {}\n", or_none(&statuses));
        let errors: Vec<String> = self
            .errors_by_kind
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        out += &format!("errors: {}\n", or_none(&errors));
        out += &format!("traffic: {} bytes of bodies\n", self.bytes);
        out += &format!(
            "connections: {} opened ({})\n",
            self.connections,
            or_none(&self.protocols)
        );
        out += &format!(
            "{:<14}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}\n",
            "", "min", "mean", "p50", "p90", "p99", "max"
        );
        for (name, h) in [
            ("latency", &self.latency),
            ("first byte", &self.first_byte),
            ("connect", &self.connect),
            ("TLS", &self.tls),
        ] {
            if h.is_empty() {
                continue;
            }
            out += &format!(
                "{name:<14}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}\n",
                human(h.min()),
                human(h.mean().round() as u64),
                human(h.value_at_quantile(0.5)),
                human(h.value_at_quantile(0.9)),
                human(h.value_at_quantile(0.99)),
                human(h.max())
            );
        }
        out
    }
}

fn or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// A progress line on stderr, redrawn four times a second.
pub(crate) struct Progress {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    /// Starts drawing `finished` against `total` requests or `duration`.
    pub(crate) fn start(
        finished: Arc<AtomicU64>,
        total: Option<u64>,
        duration: Option<Duration>,
    ) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let task = tokio::spawn(async move {
            let started = Instant::now();
            while !stopping.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let done = finished.load(Ordering::Relaxed);
                let elapsed = started.elapsed();
                let fraction = match (total, duration) {
                    (Some(n), _) => done as f64 / n.max(1) as f64,
                    (None, Some(d)) => elapsed.as_secs_f64() / d.as_secs_f64().max(1e-9),
                    _ => 0.0,
                }
                .min(1.0);
                let filled = (fraction * 30.0) as usize;
                let mut err = std::io::stderr();
                let _ = write!(
                    err,
                    "\r[{}{}] {:>3.0}% {done} requests, {:.0} req/s ",
                    "#".repeat(filled),
                    ".".repeat(30 - filled),
                    fraction * 100.0,
                    done as f64 / elapsed.as_secs_f64().max(1e-9)
                );
                let _ = err.flush();
            }
        });
        Progress { stop, task }
    }

    /// Stops and clears the line.
    pub(crate) fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.abort();
        eprint!("\r{:70}\r", "");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_and_human_units() {
        let mut h = histogram();
        for us in [100, 200, 300, 400, 50_000] {
            h.record(us).expect("in range");
        }
        let s = spread(&h);
        assert_eq!(s["min"], 100);
        assert_eq!(s["p50"], 300);
        assert!(s["max"].as_u64().expect("max") >= 50_000);
        assert_eq!(human(999), "999us");
        assert_eq!(human(12_340), "12.34ms");
        assert_eq!(human(2_500_000), "2.50s");
        assert_eq!(spread(&histogram()), serde_json::Value::Null);
    }
}
