//! The `--stats-json` summary of a `plexus get` run.

use std::collections::BTreeMap;
use std::time::Duration;

use plexus::OriginSnapshot;
use serde::Serialize;

use crate::get::{StatusCounts, Transfer};

/// Counts gathered while transfers finish.
#[derive(Debug, Default)]
pub(crate) struct RunStats {
    requests: u64,
    ok: u64,
    errors: BTreeMap<String, u64>,
    status: StatusCounts,
    retries: u64,
    bytes: u64,
}

#[derive(Serialize)]
struct Summary<'a> {
    requests: u64,
    ok: u64,
    errors: &'a BTreeMap<String, u64>,
    status: BTreeMap<String, u64>,
    retries: u64,
    bytes_downloaded: u64,
    elapsed_s: f64,
    connections_opened: u64,
    peak_streams_in_flight: usize,
    origins: Vec<OriginSummary>,
}

#[derive(Serialize)]
struct OriginSummary {
    origin: String,
    connections_opened: BTreeMap<String, u64>,
    peak_streams_in_flight: usize,
    open_connections: Vec<ConnectionSummary>,
}

#[derive(Serialize)]
struct ConnectionSummary {
    id: u64,
    protocol: String,
    requests_served: u64,
}

impl RunStats {
    pub(crate) fn record(&mut self, t: &Transfer) {
        self.requests += 1;
        self.retries += t.vars.num_retries as u64;
        self.bytes += t.vars.size_download;
        match &t.error {
            None => {
                self.ok += 1;
                *self.status.entry(t.vars.response_code).or_default() += 1;
            }
            Some(e) => *self.errors.entry(kind_name(e.kind())).or_default() += 1,
        }
    }

    pub(crate) fn to_json(&self, elapsed: Duration, origins: &[OriginSnapshot]) -> String {
        let summary = Summary {
            requests: self.requests,
            ok: self.ok,
            errors: &self.errors,
            status: self
                .status
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            retries: self.retries,
            bytes_downloaded: self.bytes,
            elapsed_s: elapsed.as_secs_f64(),
            connections_opened: origins.iter().map(|o| o.connections_opened).sum(),
            peak_streams_in_flight: origins.iter().map(|o| o.peak_in_flight).max().unwrap_or(0),
            origins: origins
                .iter()
                .map(|o| OriginSummary {
                    origin: o.origin.to_string(),
                    connections_opened: o
                        .opened_by_protocol
                        .iter()
                        .map(|(p, n)| (p.short_name().to_string(), *n))
                        .collect(),
                    peak_streams_in_flight: o.peak_in_flight,
                    open_connections: o
                        .connections
                        .iter()
                        .map(|c| ConnectionSummary {
                            id: c.id,
                            protocol: c.protocol.short_name().to_string(),
                            requests_served: c.requests_served,
                        })
                        .collect(),
                })
                .collect(),
        };
        serde_json::to_string_pretty(&summary).unwrap_or_else(|_| "{}".to_string())
    }
}

/// `ConnectTimeout` -> `connect_timeout`.
pub(crate) fn kind_name(kind: plexus::ErrorKind) -> String {
    let debug = format!("{kind:?}");
    let mut out = String::new();
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn kind_names_are_snake_case() {
        assert_eq!(
            super::kind_name(plexus::ErrorKind::ConnectTimeout),
            "connect_timeout"
        );
        assert_eq!(super::kind_name(plexus::ErrorKind::Tls), "tls");
    }
}
