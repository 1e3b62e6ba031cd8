//! `plexus lab`: the seeds' experiment across a real, delayed network path.
//!
//! Two network namespaces (client and server) are joined by TUN devices and a relay that
//! holds every packet for a set one-way delay ([`link`]), so TCP, TLS and QUIC handshakes
//! pay real round trips. The in-process test servers run in the server namespace
//! ([`servers`]); the client runs in the other. Each scenario's time is printed in
//! milliseconds and in round trips next to what the protocols allow, and drawn as an SVG
//! chart ([`chart`]). Needs root (namespaces, TUN devices).

use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use plexus::Client;
use plexus_testkit::{Stats, TestCerts, TestServer};

use crate::scenario::{self, fmt, Kind, Reuse, Samples, Site};

mod chart;
mod link;
mod netns;
mod servers;

use link::{LinkStats, TunLink, SERVER_IP};
use servers::{ServerHost, ServerSpec};

/// Arguments of `plexus lab`.
#[derive(clap::Args, Debug)]
pub(crate) struct LabArgs {
    /// One-way delay of the link in milliseconds (the round trip is twice this).
    #[arg(long, default_value_t = 15, value_name = "MS")]
    one_way_ms: u64,
    /// Share of packets the link drops, in percent, each direction.
    #[arg(long, default_value_t = 0.0, value_name = "PERCENT")]
    loss: f64,
    /// Sequential requests per sequential scenario.
    #[arg(long, default_value_t = 20, value_name = "N")]
    requests: usize,
    /// Requests sent at once in the concurrent scenarios.
    #[arg(long, default_value_t = 100, value_name = "M")]
    concurrent: usize,
    /// Where to draw the chart (SVG).
    #[arg(long, default_value = "plexus-lab.svg", value_name = "FILE")]
    chart: PathBuf,
    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Exit with status 1 when a sequential scenario misses its bar (expected round trips
    /// within 1 ms + 5%), or HTTP/2 is slower than HTTP/1.1 on a warm connection.
    #[arg(long)]
    check: bool,
    /// Run only the scenarios whose name contains this text (e.g. "HTTP/3").
    #[arg(long, value_name = "TEXT")]
    only: Option<String>,
}

/// How a scenario uses the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Sequential(Reuse),
    Concurrent,
}

/// One scenario of the lab.
#[derive(Debug, Clone, Copy)]
struct Plan {
    name: &'static str,
    kind: Kind,
    tls12: bool,
    mode: Mode,
}

const PLANS: [Plan; 11] = [
    Plan {
        name: "new connection per request, HTTP/1.1, TLS 1.2",
        kind: Kind::Http1,
        tls12: true,
        mode: Mode::Sequential(Reuse::NewClientEachTime),
    },
    Plan {
        name: "new connection per request, HTTP/1.1, TLS 1.3",
        kind: Kind::Http1,
        tls12: false,
        mode: Mode::Sequential(Reuse::NewClientEachTime),
    },
    Plan {
        name: "new connection per request, HTTP/2",
        kind: Kind::Http2,
        tls12: false,
        mode: Mode::Sequential(Reuse::NewClientEachTime),
    },
    Plan {
        name: "new connection per request, HTTP/3",
        kind: Kind::Http3,
        tls12: false,
        mode: Mode::Sequential(Reuse::NewClientEachTime),
    },
    Plan {
        name: "new connection per request, HTTP/3 0-RTT",
        kind: Kind::Http3,
        tls12: false,
        mode: Mode::Sequential(Reuse::ResumeEachTime),
    },
    Plan {
        name: "sequential, HTTP/1.1 keep-alive",
        kind: Kind::Http1,
        tls12: false,
        mode: Mode::Sequential(Reuse::KeepAlive),
    },
    Plan {
        name: "sequential, HTTP/2 (one connection)",
        kind: Kind::Http2,
        tls12: false,
        mode: Mode::Sequential(Reuse::KeepAlive),
    },
    Plan {
        name: "sequential, HTTP/3 (one connection)",
        kind: Kind::Http3,
        tls12: false,
        mode: Mode::Sequential(Reuse::KeepAlive),
    },
    Plan {
        name: "concurrent, HTTP/1.1 pool of 6",
        kind: Kind::Http1,
        tls12: false,
        mode: Mode::Concurrent,
    },
    Plan {
        name: "concurrent, HTTP/2 multiplexed",
        kind: Kind::Http2,
        tls12: false,
        mode: Mode::Concurrent,
    },
    Plan {
        name: "concurrent, HTTP/3 multiplexed",
        kind: Kind::Http3,
        tls12: false,
        mode: Mode::Concurrent,
    },
];

/// The HTTP/1.1 pool size per origin (plexus's default, and the browsers').
const H1_POOL: usize = 6;

impl Plan {
    /// Round trips the protocols need: per request (median) for sequential scenarios,
    /// for the whole batch of `m` for concurrent ones, from a cold client — under plexus's
    /// connection policy, which the concurrent rows pay for on purpose:
    /// * one connect at a time until ALPN tells HTTP/1.1 from h2 (no burst of handshakes
    ///   to a server that would have multiplexed them), then the rest of the HTTP/1.1 pool
    ///   at once, while the first connection already serves;
    /// * one h2 stream until the server's SETTINGS arrive (a round trip after the
    ///   client's Finished), so a server with a small stream limit never refuses a stream;
    ///   QUIC's stream limit comes with the handshake.
    fn expected_rtts(&self, m: usize) -> f64 {
        // Set-up before the first request can go: TCP's handshake and TLS (1 RTT for
        // 1.3, 2 for 1.2), or QUIC's combined handshake.
        let setup = match (self.kind, self.tls12) {
            (Kind::Http3, _) => 1.0,
            (_, true) => 3.0,
            (_, false) => 2.0,
        };
        match self.mode {
            Mode::Sequential(Reuse::KeepAlive) => 1.0,
            Mode::Sequential(Reuse::NewClientEachTime) => setup + 1.0,
            // 0-RTT: the request travels with the handshake.
            Mode::Sequential(Reuse::ResumeEachTime) => 1.0,
            Mode::Concurrent => match self.kind {
                Kind::Http1 => h1_pool_rtts(setup, m),
                // The first request rides with the client's Finished; the rest wait for
                // the server's SETTINGS.
                Kind::Http2 => setup + 2.0,
                Kind::Http3 => setup + 1.0,
            },
        }
    }

    fn tls_label(&self) -> &'static str {
        match (self.kind, self.tls12) {
            (Kind::Http3, _) => "QUIC",
            (_, true) => "1.2",
            (_, false) => "1.3",
        }
    }
}

/// When the last of `m` requests is answered on a cold HTTP/1.1 pool, in round trips: the
/// first connection is ready after `setup` and answers one request per round trip; the
/// other five start when it is ready and join `setup` later.
fn h1_pool_rtts(setup: f64, m: usize) -> f64 {
    let mut t = setup;
    let mut answered = 0;
    while answered < m {
        t += 1.0;
        answered += 1;
        if t > 2.0 * setup {
            answered += H1_POOL - 1;
        }
    }
    t
}

/// A scenario's result.
#[derive(Debug, Clone, serde::Serialize)]
struct Measured {
    /// The scenario it measured (for finding rows; not written out).
    #[serde(skip)]
    plan: Plan,
    scenario: &'static str,
    protocol: &'static str,
    tls: &'static str,
    /// `sequential` (the time is a request's median) or `concurrent` (the whole batch).
    mode: &'static str,
    requests: usize,
    connections: u64,
    handshakes: u64,
    median_ms: f64,
    p99_ms: f64,
    total_ms: f64,
    /// The time compared with the expectation: the median request (sequential) or the
    /// whole batch (concurrent).
    measured_ms: f64,
    rtts: f64,
    expected_rtts: f64,
    /// Sequential scenarios: the time is within 1 ms + 5% of the expected round trips.
    meets_bar: Option<bool>,
}

/// The whole lab run, as `--json` writes it.
#[derive(Debug, serde::Serialize)]
struct Report {
    one_way_ms: u64,
    rtt_ms: f64,
    /// The round trip measured with bare TCP handshakes across the link (the fastest of
    /// five).
    path_rtt_ms: f64,
    loss_percent: f64,
    link: LinkStats,
    rows: Vec<Measured>,
    /// HTTP/2 on a warm connection is no slower than HTTP/1.1 keep-alive (within 0.5 ms).
    h2_not_slower_than_h1: bool,
}

/// Runs the lab; returns the exit code.
pub(crate) fn run(args: LabArgs) -> i32 {
    match run_inner(&args) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("plexus lab: {e}");
            2
        }
    }
}

/// Runs the scenarios; `Ok(false)` when `--check` found a missed bar.
fn run_inner(args: &LabArgs) -> Result<bool, String> {
    let one_way = Duration::from_millis(args.one_way_ms);
    let rtt = 2.0 * one_way.as_secs_f64() * 1e3;
    let loss = (args.loss / 100.0).clamp(0.0, 1.0);
    let tag = format!("plexlab{}", std::process::id());
    let link = TunLink::start(&tag, one_way, loss)?;
    let certs = TestCerts::signed_for(&[&SERVER_IP.to_string()]);
    let host = ServerHost::start(link.server_ns(), certs.clone())?;
    println!(
        "plexus lab: two network namespaces joined by a TUN relay, {} ms each way ({rtt:.0} ms \
         round trip), {}% loss; servers at {SERVER_IP} counting connections and handshakes\n",
        args.one_way_ms, args.loss
    );
    let (path_rtt, rows) = thread::scope(|s| {
        s.spawn(|| {
            link.client_ns().enter()?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("client runtime: {e}"))?;
            runtime.block_on(client_side(args, &host, &certs.ca_pem, rtt))
        })
        .join()
        .map_err(|_| "the client thread panicked".to_string())?
    })?;
    let h2_not_slower_than_h1 = {
        let warm = |kind: Kind| {
            rows.iter()
                .find(|r| r.plan.kind == kind && r.plan.mode == Mode::Sequential(Reuse::KeepAlive))
                .map(|r| r.median_ms)
        };
        match (warm(Kind::Http2), warm(Kind::Http1)) {
            (Some(h2), Some(h1)) => h2 <= h1 + 0.5,
            _ => false,
        }
    };
    let report = Report {
        one_way_ms: args.one_way_ms,
        rtt_ms: rtt,
        path_rtt_ms: path_rtt.as_secs_f64() * 1e3,
        loss_percent: args.loss,
        link: link.stats(),
        rows,
        h2_not_slower_than_h1,
    };
    print_report(&report);
    chart::draw(&args.chart, &report_chart(&report)).map_err(|e| format!("chart: {e}"))?;
    println!("\nchart: {}", args.chart.display());
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let all_met = report.rows.iter().all(|r| r.meets_bar != Some(false));
    Ok(!args.check || (all_met && report.h2_not_slower_than_h1))
}

/// The client namespace's side: calibrate the path, then run every plan.
async fn client_side(
    args: &LabArgs,
    host: &ServerHost,
    ca_pem: &str,
    rtt_ms: f64,
) -> Result<(Duration, Vec<Measured>), String> {
    let path_rtt = tcp_round_trip(host).await?;
    let (n, m) = (args.requests.max(1), args.concurrent.max(1));
    let mut rows = Vec::with_capacity(PLANS.len());
    let chosen = PLANS.iter().filter(|p| {
        args.only
            .as_deref()
            .is_none_or(|text| p.name.contains(text))
    });
    for &plan in chosen {
        let server = host
            .server(ServerSpec {
                kind: plan.kind,
                tls12: plan.tls12,
            })
            .await?;
        let site = LabSite {
            server,
            kind: plan.kind,
            ca_pem,
        };
        let samples = match plan.mode {
            Mode::Sequential(reuse) => scenario::sequential(&site, n, reuse).await?,
            Mode::Concurrent => scenario::concurrent(&site, m).await?,
        };
        rows.push(measured(&plan, &samples, m, rtt_ms));
        eprint!(".");
    }
    eprintln!();
    Ok((path_rtt, rows))
}

/// The fastest of five bare TCP handshakes with a server across the link: one round trip.
async fn tcp_round_trip(host: &ServerHost) -> Result<Duration, String> {
    let server = host
        .server(ServerSpec {
            kind: Kind::Http1,
            tls12: false,
        })
        .await?;
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let t0 = Instant::now();
        let stream = tokio::net::TcpStream::connect(server.addr())
            .await
            .map_err(|e| format!("TCP connect to {}: {e}", server.addr()))?;
        best = best.min(t0.elapsed());
        drop(stream);
    }
    Ok(best)
}

fn measured(plan: &Plan, samples: &Samples, m: usize, rtt_ms: f64) -> Measured {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (mode, measured_ms) = match plan.mode {
        Mode::Sequential(_) => ("sequential", ms(samples.median())),
        Mode::Concurrent => ("concurrent", ms(samples.total)),
    };
    let expected_rtts = plan.expected_rtts(m);
    let expected_ms = expected_rtts * rtt_ms;
    let meets_bar = matches!(plan.mode, Mode::Sequential(_))
        .then(|| (measured_ms - expected_ms).abs() <= 1.0 + 0.05 * expected_ms);
    Measured {
        plan: *plan,
        scenario: plan.name,
        protocol: plan.kind.label(),
        tls: plan.tls_label(),
        mode,
        requests: samples.requests(),
        connections: samples.connections,
        handshakes: samples.handshakes,
        median_ms: ms(samples.median()),
        p99_ms: ms(samples.quantile(0.99)),
        total_ms: ms(samples.total),
        measured_ms,
        rtts: measured_ms / rtt_ms,
        expected_rtts,
        meets_bar,
    }
}

/// A test server in the server namespace, reached across the link.
struct LabSite<'a> {
    server: TestServer,
    kind: Kind,
    ca_pem: &'a str,
}

impl Site for LabSite<'_> {
    fn url(&self) -> String {
        format!("https://{SERVER_IP}:{}/", self.server.port())
    }

    fn client(&self, reuse: Reuse) -> Result<Client, String> {
        scenario::client_for(self.kind, reuse, self.ca_pem)
    }

    fn stats(&self) -> Stats {
        self.server.stats()
    }
}

fn print_report(report: &Report) {
    println!(
        "path round trip (bare TCP handshake): {:.2} ms\n",
        report.path_rtt_ms
    );
    println!(
        "{:<46} {:>5} {:>4} {:>5} {:>5} {:>4} {:>10} {:>6} {:>8} {:>5}",
        "scenario", "proto", "TLS", "reqs", "conns", "hs", "time", "RTTs", "expected", "bar"
    );
    println!("{}", "-".repeat(46 + 6 + 5 + 6 + 6 + 5 + 11 + 7 + 9 + 6));
    for r in &report.rows {
        let bar = match r.meets_bar {
            Some(true) => "ok",
            Some(false) => "MISS",
            None => "-",
        };
        println!(
            "{:<46} {:>5} {:>4} {:>5} {:>5} {:>4} {:>10} {:>6.2} {:>8} {:>5}",
            r.scenario,
            r.protocol,
            r.tls,
            r.requests,
            r.connections,
            r.handshakes,
            fmt(Duration::from_secs_f64(r.measured_ms / 1e3)),
            r.rtts,
            r.expected_rtts,
            bar
        );
    }
    println!(
        "\ntime: the median request (sequential) or the whole batch from a cold client \
         (concurrent); RTTs: that time over the nominal {:.0} ms round trip; bar: within \
         1 ms + 5% of the expected round trips.",
        report.rtt_ms
    );
    println!(
        "HTTP/2 on a warm connection {} HTTP/1.1 keep-alive.",
        if report.h2_not_slower_than_h1 {
            "is no slower than"
        } else {
            "is SLOWER than"
        }
    );
    let l = &report.link;
    println!(
        "link: {} packets ({} bytes) up, {} packets ({} bytes) down, {} dropped",
        l.up_packets, l.up_bytes, l.down_packets, l.down_bytes, l.dropped
    );
}

fn report_chart(report: &Report) -> chart::Chart {
    chart::Chart {
        title: format!(
            "plexus lab: {:.0} ms round trip, {} sequential / {} concurrent requests",
            report.rtt_ms,
            report.rows.first().map(|r| r.requests).unwrap_or(0),
            report.rows.last().map(|r| r.requests).unwrap_or(0),
        ),
        x_desc: format!("round trips ({:.0} ms each)", report.rtt_ms),
        bars: report
            .rows
            .iter()
            .map(|r| chart::Bar {
                label: match r.tls {
                    _ if r.scenario.contains("TLS") => r.scenario.to_string(),
                    "QUIC" => format!("{} (QUIC)", r.scenario),
                    tls => format!("{} (TLS {tls})", r.scenario),
                },
                value: fmt(Duration::from_secs_f64(r.measured_ms / 1e3)),
                measured_rtts: r.rtts,
                expected_rtts: r.expected_rtts,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(name: &str) -> Plan {
        *PLANS
            .iter()
            .find(|p| p.name == name)
            .expect("a plan of that name")
    }

    #[test]
    fn sequential_expectations_follow_the_handshakes() {
        let m = 100;
        let cold12 = plan("new connection per request, HTTP/1.1, TLS 1.2");
        let cold13 = plan("new connection per request, HTTP/1.1, TLS 1.3");
        assert_eq!(cold12.expected_rtts(m), 4.0);
        assert_eq!(cold13.expected_rtts(m), 3.0);
        assert_eq!(
            plan("new connection per request, HTTP/3").expected_rtts(m),
            2.0
        );
        assert_eq!(
            plan("new connection per request, HTTP/3 0-RTT").expected_rtts(m),
            1.0
        );
        assert_eq!(
            plan("sequential, HTTP/2 (one connection)").expected_rtts(m),
            1.0
        );
    }

    #[test]
    fn a_cold_http1_pool_fills_after_the_first_connection() {
        // Ready at 2; answers at 3 and 4; from 5 on six connections answer a round trip.
        assert_eq!(h1_pool_rtts(2.0, 1), 3.0);
        assert_eq!(h1_pool_rtts(2.0, 2), 4.0);
        assert_eq!(h1_pool_rtts(2.0, 8), 5.0);
        assert_eq!(h1_pool_rtts(2.0, 20), 7.0);
        assert_eq!(h1_pool_rtts(2.0, 100), 21.0);
        assert_eq!(
            plan("concurrent, HTTP/2 multiplexed").expected_rtts(20),
            4.0
        );
        assert_eq!(
            plan("concurrent, HTTP/3 multiplexed").expected_rtts(20),
            2.0
        );
    }
}
