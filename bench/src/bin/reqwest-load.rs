//! `reqwest-load`: the same loop as `h2-direct` on reqwest — `-c` clients (each its own
//! pool) with `-m` requests at once each, over HTTP/1.1 (`--h1`), h2 (`--h2`, by ALPN) or
//! HTTP/3 (`--h3`, reqwest's unstable feature, prior knowledge), on a current-thread
//! runtime. Prints one JSON object.
//!
//! `--warm`: each client first sends one request, outside the count and the clock, so that
//! its pool holds a connection whose protocol it knows. Without it, over h2, every request
//! that finds the pool empty opens a connection of its own until the first handshake ends:
//! `m` connections per client rather than one.
//!
//! Usage: reqwest-load -n N -c C -m M --h1|--h2|--h3 [--warm] --cacert CA.pem URL

use std::time::Instant;

use plexus_bench::{Budget, LoadArgs, Proto, Tally};

fn main() {
    let args = LoadArgs::parse("reqwest-load");
    plexus_bench::run_main("reqwest-load", run(args));
}

fn client(args: &LoadArgs) -> Result<reqwest::Client, Box<dyn std::error::Error>> {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&args.ca)?)?;
    let builder = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca);
    let builder = match args.proto {
        Proto::H1 => builder.http1_only(),
        Proto::H2 => builder,
        Proto::H3 => builder.http3_prior_knowledge(),
    };
    Ok(builder.build()?)
}

async fn run(args: LoadArgs) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let version = match args.proto {
        Proto::H1 => http::Version::HTTP_11,
        Proto::H2 => http::Version::HTTP_2,
        Proto::H3 => http::Version::HTTP_3,
    };
    let clients = (0..args.c)
        .map(|_| client(&args))
        .collect::<Result<Vec<_>, _>>()?;
    let url = args.url.to_string();
    if args.warm {
        for client in &clients {
            let response = client.get(&url).version(version).send().await?;
            response.bytes().await?;
        }
    }
    let budget = Budget::new(args.n);
    let started = Instant::now();
    // Loop i runs on client i mod c: -m loops on each.
    let mut next = 0;
    let tally = plexus_bench::run_loops(args.c * args.m, || {
        let client = clients[next % clients.len()].clone();
        next += 1;
        let (budget, url) = (budget.clone(), url.clone());
        async move {
            let mut tally = Tally::default();
            while budget.take() {
                let mut response = client.get(&url).version(version).send().await?;
                let ok = response.status().is_success() && response.version() == version;
                while let Some(chunk) = response.chunk().await? {
                    tally.bytes += chunk.len() as u64;
                }
                tally.ok += u64::from(ok);
            }
            Ok(tally)
        }
    })
    .await?;
    Ok(plexus_bench::report(
        args.n,
        tally,
        started.elapsed().as_secs_f64(),
    ))
}
