//! Benchmark: one large download over HTTP/2 against the same over HTTP/1.1, on loopback,
//! in one run. HTTP/2's flow control throttles a stream to its receive window per round
//! trip; with the protocol's 64 KiB default a single h2 download is far slower than
//! HTTP/1.1 (hyper#1813). plexus opens 4 MiB stream / 16 MiB connection windows; this
//! prints how close that brings h2 to HTTP/1.1, and what the 64 KiB default would cost.
//!
//! `cargo run --release -p plexus-examples --example bulk_download [-- MIB RUNS]`
//! (default: 100 MiB, 5 runs per contender, alternated A B C A B C ...).

use std::time::{Duration, Instant};

use plexus::{Certificate, Client};
use plexus_testkit::{test_certs, TestServer};

struct Contender {
    name: &'static str,
    client: Client,
    url: String,
    times: Vec<Duration>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mib: u64 = args.next().map_or(Ok(100), |a| a.parse())?;
    let runs: usize = args.next().map_or(Ok(5), |a| a.parse())?;
    let bytes = mib * 1024 * 1024;

    // The servers get a runtime (and thread) of their own, the client another.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("server runtime");
        rt.block_on(async move {
            let h2 = TestServer::builder()
                .h2_only()
                .start()
                .await
                .expect("h2 server");
            let h1 = TestServer::builder()
                .http1_only()
                .start()
                .await
                .expect("h1 server");
            tx.send((h2.url(""), h1.url("")))
                .expect("main thread waits");
            std::future::pending::<()>().await;
            drop((h1, h2));
        });
    });
    let (h2_base, h1_base) = rx.recv()?;
    let path = format!("/bytes/{bytes}");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let ca = Certificate::from_pem(test_certs().ca_pem.as_bytes())?;
        let base = || Client::builder().add_root_certificate(ca.clone());
        let mut contenders = vec![
            Contender {
                name: "HTTP/1.1",
                client: base().http1_only().build()?,
                url: format!("{h1_base}{path}"),
                times: Vec::new(),
            },
            Contender {
                name: "HTTP/2, plexus windows (4 MiB / 16 MiB)",
                client: base().build()?,
                url: format!("{h2_base}{path}"),
                times: Vec::new(),
            },
            Contender {
                name: "HTTP/2, 64 KiB windows (protocol default)",
                client: base()
                    .http2_initial_stream_window_size(65_535)
                    .http2_initial_connection_window_size(65_535)
                    .build()?,
                url: format!("{h2_base}{path}"),
                times: Vec::new(),
            },
        ];
        println!("{mib} MiB download on loopback (TLS), {runs} runs each, contenders alternated");
        // Warm-up: connect each client once so runs measure transfer, not set-up.
        for c in &contenders {
            download(&c.client, &c.url.replace(&path, "/bytes/1024")).await?;
        }
        for _ in 0..runs {
            for c in &mut contenders {
                let t0 = Instant::now();
                let got = download(&c.client, &c.url).await?;
                c.times.push(t0.elapsed());
                assert_eq!(got, bytes, "{} delivered every byte", c.name);
            }
        }
        let reference = median(&contenders[0].times);
        println!(
            "{:<44} {:>10} {:>10} {:>10} {:>10} {:>8}",
            "contender", "median", "min", "max", "MiB/s", "vs h1"
        );
        for c in &contenders {
            let m = median(&c.times);
            println!(
                "{:<44} {:>10} {:>10} {:>10} {:>10.0} {:>7.2}x",
                c.name,
                fmt(m),
                fmt(*c.times.iter().min().unwrap_or(&m)),
                fmt(*c.times.iter().max().unwrap_or(&m)),
                mib as f64 / m.as_secs_f64(),
                m.as_secs_f64() / reference.as_secs_f64()
            );
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}

async fn download(client: &Client, url: &str) -> Result<u64, plexus::Error> {
    let mut response = client.get(url).send().await?;
    let mut n = 0u64;
    while let Some(chunk) = response.chunk().await? {
        n += chunk.len() as u64;
    }
    Ok(n)
}

fn median(times: &[Duration]) -> Duration {
    let mut t = times.to_vec();
    t.sort();
    t.get(t.len() / 2).copied().unwrap_or_default()
}

fn fmt(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}
