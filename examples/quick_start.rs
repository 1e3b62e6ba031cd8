//! The README's quick start, runnable offline: a local h2 server stands in for a remote
//! API. `cargo run -p plexus-examples --example quick_start`
use std::time::Duration;

use plexus::{Certificate, Client};
use plexus_testkit::{test_certs, TestServer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = TestServer::builder().start().await?;

    // One client for the whole program: it owns the connections.
    let client = Client::builder()
        .add_root_certificate(Certificate::from_pem(test_certs().ca_pem.as_bytes())?)
        .timeout(Duration::from_secs(10))
        .build()?;

    // A simple GET.
    let response = client.get(server.url("/")).send().await?;
    println!("{} {:?}", response.status(), response.version());
    println!("body: {}", response.text().await?);

    // 100 requests at once: streams of one HTTP/2 connection.
    let requests = (0..100).map(|i| {
        let client = client.clone();
        let url = server.url(&format!("/delay/{}", i % 10));
        async move { client.get(url).send().await?.bytes().await }
    });
    let bodies = futures_util::future::try_join_all(requests).await?;
    println!("{} responses", bodies.len());

    let snapshot = &client.snapshot()[0];
    println!(
        "{}: {} connection(s) opened, at most {} requests in flight at once",
        snapshot.origin, snapshot.connections_opened, snapshot.peak_in_flight
    );
    println!(
        "server side: {} TCP connection(s)",
        server.stats().tcp_connections
    );
    Ok(())
}
