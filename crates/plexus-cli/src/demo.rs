//! `plexus demo`: the seeds' lesson, measured live on embedded servers.
//!
//! Each scenario gets fresh servers (an h2 one and an HTTP/1.1-only one, both TLS) behind
//! a delay line that gives loopback a realistic round-trip time; the connection and
//! handshake counts in the table are the servers' own.

use std::time::{Duration, Instant};

use plexus::{Certificate, Client};
use plexus_testkit::{test_certs, DelayLine, Stats, TestServer};

/// Arguments of `plexus demo`.
#[derive(clap::Args, Debug)]
pub(crate) struct DemoArgs {
    /// Sequential requests per sequential scenario.
    #[arg(long, default_value_t = 20, value_name = "N")]
    requests: usize,
    /// Requests sent at once in the concurrent scenarios.
    #[arg(long, default_value_t = 100, value_name = "M")]
    concurrent: usize,
    /// Simulated round-trip time in milliseconds (0 for bare loopback).
    #[arg(long, default_value_t = 20, value_name = "MS")]
    rtt_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Http1,
    Http2,
}

struct Row {
    scenario: &'static str,
    protocol: &'static str,
    requests: usize,
    connections: u64,
    handshakes: u64,
    median: Duration,
    p99: Duration,
    total: Duration,
}

/// Runs the demo; returns the exit code.
pub(crate) async fn run(args: DemoArgs) -> i32 {
    match run_inner(&args).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("plexus demo: {e}");
            1
        }
    }
}

async fn run_inner(args: &DemoArgs) -> Result<(), String> {
    let rtt = Duration::from_millis(args.rtt_ms);
    let n = args.requests.max(1);
    let m = args.concurrent.max(1);
    println!(
        "plexus demo: {n} sequential and {m} concurrent GETs (13-byte body) over a simulated \
         {} ms round trip",
        args.rtt_ms
    );
    println!("(embedded TLS servers on loopback behind a delay line; connections and TLS handshakes are counted by the servers)\n");

    let rows = vec![
        sequential(
            "sequential, new connection per request",
            Kind::Http1,
            n,
            rtt,
            true,
        )
        .await?,
        sequential(
            "sequential, HTTP/1.1 keep-alive",
            Kind::Http1,
            n,
            rtt,
            false,
        )
        .await?,
        sequential(
            "sequential, HTTP/2 (one connection)",
            Kind::Http2,
            n,
            rtt,
            false,
        )
        .await?,
        concurrent(
            "concurrent, HTTP/1.1 pool (6 connections)",
            Kind::Http1,
            m,
            rtt,
        )
        .await?,
        concurrent("concurrent, HTTP/2 multiplexed", Kind::Http2, m, rtt).await?,
    ];
    print_table(&rows);

    let per_request = |r: &Row| r.total.as_secs_f64() / r.requests as f64;
    let (cold, warm, h2) = (&rows[0], &rows[1], &rows[2]);
    println!();
    println!(
        "Keep-alive: {:.1}x less time per request than a new connection each time \
         ({} vs {} connections opened).",
        per_request(cold) / per_request(warm),
        warm.connections,
        cold.connections
    );
    println!(
        "HTTP/2 sequential: {:.1}x less than a new connection each time, on {} connection.",
        per_request(cold) / per_request(h2),
        h2.connections
    );
    let (pool, mux) = (&rows[3], &rows[4]);
    println!(
        "{m} concurrent requests: HTTP/2 multiplexed on {} connection took {}, the HTTP/1.1 \
         pool of {} connections took {} ({:.1}x).",
        mux.connections,
        fmt(mux.total),
        pool.connections,
        fmt(pool.total),
        pool.total.as_secs_f64() / mux.total.as_secs_f64().max(1e-9)
    );
    Ok(())
}

struct Setup {
    server: TestServer,
    line: DelayLine,
}

impl Setup {
    async fn start(kind: Kind, rtt: Duration) -> Result<Setup, String> {
        let builder = TestServer::builder();
        let builder = match kind {
            Kind::Http1 => builder.http1_only(),
            Kind::Http2 => builder.h2_only(),
        };
        let server = builder.start().await.map_err(|e| format!("server: {e}"))?;
        let line = DelayLine::start(server.addr(), rtt)
            .await
            .map_err(|e| format!("delay line: {e}"))?;
        Ok(Setup { server, line })
    }

    fn url(&self) -> String {
        format!("https://localhost:{}/", self.line.port())
    }

    fn stats(&self) -> Stats {
        self.server.stats()
    }
}

fn client() -> Result<Client, String> {
    let ca = Certificate::from_pem(test_certs().ca_pem.as_bytes()).map_err(|e| e.to_string())?;
    Client::builder()
        .add_root_certificate(ca)
        .build()
        .map_err(|e| e.to_string())
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

async fn sequential(
    scenario: &'static str,
    kind: Kind,
    n: usize,
    rtt: Duration,
    new_connection_each_time: bool,
) -> Result<Row, String> {
    let setup = Setup::start(kind, rtt).await?;
    let url = setup.url();
    let shared = client()?;
    let mut latencies = Vec::with_capacity(n);
    let started = Instant::now();
    for _ in 0..n {
        let t0 = Instant::now();
        if new_connection_each_time {
            // What code without a long-lived client does: a client (and a connection,
            // and a full TLS handshake) per request.
            get(&client()?, &url).await?;
        } else {
            get(&shared, &url).await?;
        }
        latencies.push(t0.elapsed());
    }
    Ok(row(
        scenario,
        kind,
        latencies,
        started.elapsed(),
        &setup.stats(),
    ))
}

async fn concurrent(
    scenario: &'static str,
    kind: Kind,
    m: usize,
    rtt: Duration,
) -> Result<Row, String> {
    let setup = Setup::start(kind, rtt).await?;
    let url = setup.url();
    let client = client()?;
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
    Ok(row(
        scenario,
        kind,
        latencies,
        started.elapsed(),
        &setup.stats(),
    ))
}

fn row(
    scenario: &'static str,
    kind: Kind,
    mut latencies: Vec<Duration>,
    total: Duration,
    stats: &Stats,
) -> Row {
    latencies.sort();
    let pick = |q: f64| {
        let i = ((latencies.len() as f64 - 1.0) * q).round() as usize;
        latencies.get(i).copied().unwrap_or_default()
    };
    Row {
        scenario,
        protocol: match kind {
            Kind::Http1 => "h1",
            Kind::Http2 => "h2",
        },
        requests: latencies.len(),
        connections: stats.tcp_connections,
        handshakes: stats.tls_handshakes,
        median: pick(0.5),
        p99: pick(0.99),
        total,
    }
}

fn fmt(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1e3)
    } else {
        format!("{ms:.1} ms")
    }
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<44} {:>5} {:>5} {:>6} {:>7} {:>9} {:>9} {:>9}",
        "scenario", "proto", "reqs", "conns", "TLS hs", "median", "p99", "total"
    );
    println!("{}", "-".repeat(44 + 6 + 6 + 7 + 8 + 10 + 10 + 10));
    for r in rows {
        println!(
            "{:<44} {:>5} {:>5} {:>6} {:>7} {:>9} {:>9} {:>9}",
            r.scenario,
            r.protocol,
            r.requests,
            r.connections,
            r.handshakes,
            fmt(r.median),
            fmt(r.p99),
            fmt(r.total)
        );
    }
}
