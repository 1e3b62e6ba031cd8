//! `plexus demo`: the seeds' lesson, measured live on embedded servers.
//!
//! Each scenario gets fresh servers (an h2 one and an HTTP/1.1-only one, both TLS) behind
//! a delay line that gives loopback a realistic round-trip time; the connection and
//! handshake counts in the table are the servers' own.

use std::time::Duration;

use plexus::Client;
use plexus_testkit::{test_certs, DelayLine, Stats, TestServer, UdpDelayLine};

use crate::scenario::{self, fmt, Kind, Reuse, Samples, Site};

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

struct Row {
    scenario: &'static str,
    kind: Kind,
    samples: Samples,
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
            "new connection per request, HTTP/1.1",
            Kind::Http1,
            n,
            rtt,
            Reuse::NewClientEachTime,
        )
        .await?,
        sequential(
            "new connection per request, HTTP/2",
            Kind::Http2,
            n,
            rtt,
            Reuse::NewClientEachTime,
        )
        .await?,
        sequential(
            "new connection per request, HTTP/3",
            Kind::Http3,
            n,
            rtt,
            Reuse::NewClientEachTime,
        )
        .await?,
        sequential(
            "new connection per request, HTTP/3 0-RTT",
            Kind::Http3,
            n,
            rtt,
            Reuse::ResumeEachTime,
        )
        .await?,
        sequential(
            "sequential, HTTP/1.1 keep-alive",
            Kind::Http1,
            n,
            rtt,
            Reuse::KeepAlive,
        )
        .await?,
        sequential(
            "sequential, HTTP/2 (one connection)",
            Kind::Http2,
            n,
            rtt,
            Reuse::KeepAlive,
        )
        .await?,
        sequential(
            "sequential, HTTP/3 (one connection)",
            Kind::Http3,
            n,
            rtt,
            Reuse::KeepAlive,
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
        concurrent("concurrent, HTTP/3 multiplexed", Kind::Http3, m, rtt).await?,
    ];
    print_table(&rows);

    let per_request = |r: &Row| r.samples.total.as_secs_f64() / r.samples.requests() as f64;
    let (h1_cold, h2_cold, h3_cold, h3_0rtt) = (&rows[0], &rows[1], &rows[2], &rows[3]);
    let (h1_warm, h2_warm, h3_warm) = (&rows[4], &rows[5], &rows[6]);
    println!();
    println!(
        "Keep-alive: {:.1}x less time per request than a new HTTP/1.1 connection each time \
         ({} vs {} connections opened).",
        per_request(h1_cold) / per_request(h1_warm),
        h1_warm.samples.connections,
        h1_cold.samples.connections
    );
    println!(
        "Cold connections: HTTP/3 median {} vs HTTP/2 {} (QUIC sets up transport and TLS in \
         one round trip; TCP+TLS 1.3 takes two).",
        fmt(h3_cold.samples.median()),
        fmt(h2_cold.samples.median())
    );
    println!(
        "A new HTTP/3 connection resumed with 0-RTT: median {}, about as fast as a warm \
         connection (HTTP/2 {}, HTTP/3 {}).",
        fmt(h3_0rtt.samples.median()),
        fmt(h2_warm.samples.median()),
        fmt(h3_warm.samples.median())
    );
    let (pool, mux2, mux3) = (&rows[7], &rows[8], &rows[9]);
    println!(
        "{m} concurrent requests: the HTTP/1.1 pool of {} connections took {}, HTTP/2 on {} \
         connection {} ({:.1}x faster), HTTP/3 on {} connection {}.",
        pool.samples.connections,
        fmt(pool.samples.total),
        mux2.samples.connections,
        fmt(mux2.samples.total),
        pool.samples.total.as_secs_f64() / mux2.samples.total.as_secs_f64().max(1e-9),
        mux3.samples.connections,
        fmt(mux3.samples.total),
    );
    Ok(())
}

struct Setup {
    server: TestServer,
    kind: Kind,
    tcp_line: Option<DelayLine>,
    udp_line: Option<UdpDelayLine>,
}

impl Setup {
    async fn start(kind: Kind, rtt: Duration) -> Result<Setup, String> {
        let builder = TestServer::builder();
        let builder = match kind {
            Kind::Http1 => builder.http1_only(),
            Kind::Http2 => builder.h2_only(),
            Kind::Http3 => builder.h3(),
        };
        let server = builder.start().await.map_err(|e| format!("server: {e}"))?;
        let line_error = |e: std::io::Error| format!("delay line: {e}");
        let (tcp_line, udp_line) = match kind {
            Kind::Http3 => (
                None,
                Some(
                    UdpDelayLine::start(server.addr(), rtt)
                        .await
                        .map_err(line_error)?,
                ),
            ),
            _ => (
                Some(
                    DelayLine::start(server.addr(), rtt)
                        .await
                        .map_err(line_error)?,
                ),
                None,
            ),
        };
        Ok(Setup {
            server,
            kind,
            tcp_line,
            udp_line,
        })
    }
}

impl Site for Setup {
    fn url(&self) -> String {
        let port = match (&self.tcp_line, &self.udp_line) {
            (Some(l), _) => l.port(),
            (None, Some(l)) => l.port(),
            (None, None) => self.server.port(),
        };
        format!("https://localhost:{port}/")
    }

    fn client(&self, reuse: Reuse) -> Result<Client, String> {
        scenario::client_for(self.kind, reuse, &test_certs().ca_pem)
    }

    fn stats(&self) -> Stats {
        self.server.stats()
    }
}

async fn sequential(
    scenario: &'static str,
    kind: Kind,
    n: usize,
    rtt: Duration,
    reuse: Reuse,
) -> Result<Row, String> {
    let setup = Setup::start(kind, rtt).await?;
    let samples = scenario::sequential(&setup, n, reuse).await?;
    Ok(Row {
        scenario,
        kind,
        samples,
    })
}

async fn concurrent(
    scenario: &'static str,
    kind: Kind,
    m: usize,
    rtt: Duration,
) -> Result<Row, String> {
    let setup = Setup::start(kind, rtt).await?;
    let samples = scenario::concurrent(&setup, m).await?;
    Ok(Row {
        scenario,
        kind,
        samples,
    })
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<44} {:>5} {:>5} {:>6} {:>7} {:>9} {:>9} {:>9}",
        "scenario", "proto", "reqs", "conns", "TLS hs", "median", "p99", "total"
    );
    println!("{}", "-".repeat(44 + 6 + 6 + 7 + 8 + 10 + 10 + 10));
    for r in rows {
        let s = &r.samples;
        println!(
            "{:<44} {:>5} {:>5} {:>6} {:>7} {:>9} {:>9} {:>9}",
            r.scenario,
            r.kind.label(),
            s.requests(),
            s.connections,
            s.handshakes,
            fmt(s.median()),
            fmt(s.quantile(0.99)),
            fmt(s.total)
        );
    }
}
