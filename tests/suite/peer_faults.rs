//! Real servers rotating and closing connections under load: nginx with a small
//! `keepalive_requests` and a 1 s `keepalive_timeout`, and nginx stopped gracefully in the
//! middle of a run, and Caddy too. Counted from the servers' own logs.

use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use plexus::Client;
use plexus_testkit::peers::{self, NginxOptions, Peer, HELLO_PATH};
use plexus_tests::{client_builder, gets_in_parallel, init_tracing};

const BURSTS: usize = 5;
const PER_BURST: usize = 1000;
const PARALLEL: usize = 50;

/// 5,000 GETs, 50 in parallel, in five bursts separated by about nginx's idle timeout, so
/// that connections are ended both by `keepalive_requests` (every 10 requests) and by the
/// idle timer as the client comes back to them.
async fn rotating_nginx_loses_nothing(client: Client, protocol: &str) {
    let nginx = peers::nginx(NginxOptions {
        keepalive_requests: 10,
        keepalive_timeout_s: 1,
        ..NginxOptions::default()
    })
    .await
    .expect("nginx starts");
    let mut retried = 0;
    for burst in 0..BURSTS {
        if burst > 0 {
            tokio::time::sleep(Duration::from_millis(1000)).await;
        }
        let records = gets_in_parallel(&client, &nginx.url(HELLO_PATH), PER_BURST, PARALLEL)
            .await
            .unwrap_or_else(|e| panic!("{protocol}, burst {burst}: {e}"));
        retried += records.iter().filter(|r| !r.retries.is_empty()).count();
    }
    let log = nginx.settled_log().await;
    assert_eq!(log.requests, (BURSTS * PER_BURST) as u64, "{log:?}");
    assert_eq!(log.protocols, vec![protocol.to_string()]);
    assert!(log.max_requests_per_connection <= 10, "{log:?}");
    println!(
        "nginx {protocol} keepalive_requests 10, keepalive_timeout 1s: {} requests, {} \
         connections, {retried} requests retried",
        log.requests, log.connections
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_rotating_h2_connections_lose_nothing() {
    init_tracing();
    rotating_nginx_loses_nothing(plexus_tests::client(), "HTTP/2.0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_rotating_http1_connections_lose_nothing() {
    init_tracing();
    let client = client_builder().http1_only().build().expect("client");
    rotating_nginx_loses_nothing(client, "HTTP/1.1").await;
}

/// A server stopped gracefully (nginx: SIGQUIT, Caddy: SIGTERM) while GETs and POSTs are
/// in flight: every request ends in a response or a typed error, and no POST is processed
/// twice.
async fn graceful_stop_mid_run(client: Client, mut server: Peer, signal: &str) {
    let url = server.url(HELLO_PATH);
    // The stop comes after 200 answers, with 20 in flight; the 30 after it meet a server
    // that is going or gone.
    let total = 230;
    let outcomes = stream::iter(0..total)
        .map(|i| {
            let client = client.clone();
            let url = url.clone();
            async move {
                let request = if i % 2 == 0 {
                    client.get(&url)
                } else {
                    client.post(&url).body("x")
                };
                let sent = request
                    .header("x-request-id", format!("r{i}"))
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await;
                match sent {
                    Ok(r) => r.bytes().await.map(|_| ()),
                    Err(e) => Err(e),
                }
            }
        })
        .buffer_unordered(20);
    tokio::pin!(outcomes);
    let (mut ok, mut failed) = (0, 0);
    let mut kinds = Vec::new();
    while let Some(outcome) = outcomes.next().await {
        match outcome {
            Ok(()) => ok += 1,
            Err(e) => {
                failed += 1;
                kinds.push(e.kind());
            }
        }
        if ok + failed == 200 {
            server.signal(signal).expect("signal the server");
        }
    }
    assert_eq!(ok + failed, total, "every request accounted for");
    assert!(ok >= 200, "{ok} succeeded before and during the stop");
    assert!(
        server.exited_within(Duration::from_secs(10)).await,
        "{} stopped",
        server.name()
    );
    let log = server.log();
    assert!(log.requests >= 200, "{log:?}");
    let posts_twice: Vec<_> = log
        .duplicate_request_ids
        .iter()
        .filter(|id| id[1..].parse::<usize>().is_ok_and(|i| i % 2 == 1))
        .collect();
    assert!(
        posts_twice.is_empty(),
        "POSTs processed twice: {posts_twice:?}"
    );
    kinds.dedup();
    println!(
        "{} graceful stop: {ok} ok, {failed} failed ({kinds:?}), log {log:?}",
        server.name()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_graceful_stop_h2() {
    init_tracing();
    let client = client_builder()
        .connect_timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    let nginx = peers::nginx(NginxOptions::default())
        .await
        .expect("nginx starts");
    graceful_stop_mid_run(client, nginx, "QUIT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_graceful_stop_http1() {
    init_tracing();
    let client = client_builder()
        .http1_only()
        .connect_timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    let nginx = peers::nginx(NginxOptions::default())
        .await
        .expect("nginx starts");
    graceful_stop_mid_run(client, nginx, "QUIT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_graceful_stop_h2() {
    init_tracing();
    let client = client_builder()
        .connect_timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    let caddy = peers::caddy().await.expect("caddy starts");
    graceful_stop_mid_run(client, caddy, "TERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_graceful_stop_http1() {
    init_tracing();
    let client = client_builder()
        .http1_only()
        .connect_timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    let caddy = peers::caddy().await.expect("caddy starts");
    graceful_stop_mid_run(client, caddy, "TERM").await;
}
