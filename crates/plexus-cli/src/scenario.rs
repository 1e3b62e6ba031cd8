//! The seeds' experiment as code: sequential requests (each on a new connection, or all on
//! one), and concurrent requests on one client — run against a [`Site`], a started server
//! that counts connections and handshakes. `plexus demo` runs them behind loopback delay
//! lines; `plexus lab` across two network namespaces joined by a delaying TUN relay.

use std::time::{Duration, Instant};

use plexus::{Certificate, Client, Http3Mode};
use plexus_testkit::Stats;

/// The protocol a scenario speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Http1,
    Http2,
    Http3,
}

impl Kind {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Kind::Http1 => "h1",
            Kind::Http2 => "h2",
            Kind::Http3 => "h3",
        }
    }
}

/// How a sequential scenario treats connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reuse {
    /// One long-lived connection.
    KeepAlive,
    /// A new client (and connection, and full handshake) for every request.
    NewClientEachTime,
    /// One client whose connection is retired after each request: every request opens a
    /// new connection, which resumes the TLS session (and sends in 0-RTT over QUIC).
    ResumeEachTime,
}

/// A started server the scenarios can reach.
pub(crate) trait Site {
    /// The URL to GET (a 13-byte body).
    fn url(&self) -> String;
    /// A client for this site, configured for `reuse`.
    fn client(&self, reuse: Reuse) -> Result<Client, String>;
    /// What the server has counted so far.
    fn stats(&self) -> Stats;
}

/// What one scenario measured.
#[derive(Debug, Clone)]
pub(crate) struct Samples {
    /// Each request's time, sorted.
    pub(crate) latencies: Vec<Duration>,
    /// Wall time of the whole scenario.
    pub(crate) total: Duration,
    /// Connections the server accepted (TCP or QUIC).
    pub(crate) connections: u64,
    /// Handshakes the server completed (TLS over TCP, or QUIC).
    pub(crate) handshakes: u64,
}

impl Samples {
    fn new(mut latencies: Vec<Duration>, total: Duration, stats: &Stats) -> Samples {
        latencies.sort();
        Samples {
            latencies,
            total,
            // A QUIC connection is one handshake (transport and TLS together).
            connections: stats.tcp_connections + stats.quic_connections,
            handshakes: stats.tls_handshakes + stats.quic_connections,
        }
    }

    /// The `q` quantile (0.0 to 1.0) of the request times.
    pub(crate) fn quantile(&self, q: f64) -> Duration {
        let i = ((self.latencies.len() as f64 - 1.0) * q).round() as usize;
        self.latencies.get(i).copied().unwrap_or_default()
    }

    pub(crate) fn median(&self) -> Duration {
        self.quantile(0.5)
    }

    pub(crate) fn requests(&self) -> usize {
        self.latencies.len()
    }
}

/// A client that trusts `ca_pem`, configured for `kind` and `reuse`: HTTP/3 only for
/// [`Kind::Http3`] (the other kinds' servers pick the protocol by ALPN), and a 1 ms idle
/// timeout when every request should open a new, resumed connection.
pub(crate) fn client_for(kind: Kind, reuse: Reuse, ca_pem: &str) -> Result<Client, String> {
    let ca = Certificate::from_pem(ca_pem.as_bytes()).map_err(|e| e.to_string())?;
    let mut builder = Client::builder().add_root_certificate(ca);
    if kind == Kind::Http3 {
        builder = builder.http3(Http3Mode::Only);
    }
    if reuse == Reuse::ResumeEachTime {
        builder = builder.pool_idle_timeout(Duration::from_millis(1));
    }
    builder.build().map_err(|e| e.to_string())
}

async fn get(client: &Client, url: &str) -> Result<(), String> {
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| crate::error_chain(&e))?;
    response.bytes().await.map_err(|e| crate::error_chain(&e))?;
    Ok(())
}

/// `n` requests one after another.
pub(crate) async fn sequential(site: &dyn Site, n: usize, reuse: Reuse) -> Result<Samples, String> {
    let url = site.url();
    let shared = site.client(reuse)?;
    let mut latencies = Vec::with_capacity(n);
    let started = Instant::now();
    for _ in 0..n {
        if reuse == Reuse::ResumeEachTime {
            // Let the connection go idle and be retired: the next request opens another.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // What code without a long-lived client does: a client (and a connection, and a
        // full handshake) per request. Building it is not part of the request's time.
        let fresh = match reuse {
            Reuse::NewClientEachTime => Some(site.client(reuse)?),
            _ => None,
        };
        let client = fresh.as_ref().unwrap_or(&shared);
        let t0 = Instant::now();
        get(client, &url).await?;
        latencies.push(t0.elapsed());
    }
    Ok(Samples::new(latencies, started.elapsed(), &site.stats()))
}

/// `m` requests at once on one client (and its pool), from cold.
pub(crate) async fn concurrent(site: &dyn Site, m: usize) -> Result<Samples, String> {
    let url = site.url();
    let client = site.client(Reuse::KeepAlive)?;
    let started = Instant::now();
    let tasks: Vec<_> = (0..m)
        .map(|_| {
            let client = client.clone();
            let url = url.clone();
            tokio::spawn(async move {
                let t0 = Instant::now();
                get(&client, &url).await.map(|()| t0.elapsed())
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(m);
    for t in tasks {
        latencies.push(t.await.map_err(|e| e.to_string())??);
    }
    Ok(Samples::new(latencies, started.elapsed(), &site.stats()))
}

/// A duration for a table: milliseconds below a second, seconds above.
pub(crate) fn fmt(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1e3)
    } else {
        format!("{ms:.1} ms")
    }
}
