//! The crawler behind `examples/crawl.rs`, against the demo server's generated site: every
//! page fetched exactly once (counted by the server), links off the origin not followed,
//! h2 multiplexing the pages over one connection, HTTP/1.1 spreading them over its pool.

use plexus_examples::{crawl, demo_client_builder};
use plexus_testkit::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_once_over_one_multiplexed_connection() {
    let server = TestServer::builder().start().await.expect("server");
    let client = demo_client_builder()
        .expect("builder")
        .build()
        .expect("client");
    let report = crawl(&client, &server.url("/site/120/0"), 12, 1000)
        .await
        .expect("crawl");
    let stats = server.stats();
    assert_eq!(report.pages, 120, "{report:#?}");
    assert_eq!(stats.requests, 120, "each page once: {stats:?}");
    assert!(stats.duplicate_request_ids.is_empty());
    assert_eq!(report.offsite_links, 120);
    assert!(report.errors.is_empty(), "{report:#?}");
    assert_eq!((report.connections, stats.tcp_connections), (1, 1));
    assert_eq!(report.protocols, ["HTTP/2.0"]);
    assert!(
        stats.peak_streams > 1 && stats.peak_streams <= 12,
        "pages multiplexed, at most the concurrency: {stats:?}"
    );

    // Bounded: at most max_pages.
    let capped = crawl(&client, &server.url("/site/120/0"), 12, 30)
        .await
        .expect("crawl");
    assert_eq!(capped.pages, 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http1_the_pages_spread_over_the_keep_alive_pool() {
    let server = TestServer::builder()
        .http1_only()
        .start()
        .await
        .expect("server");
    let client = demo_client_builder()
        .expect("builder")
        .build()
        .expect("client");
    let report = crawl(&client, &server.url("/site/60/0"), 12, 1000)
        .await
        .expect("crawl");
    let stats = server.stats();
    assert_eq!((report.pages, stats.requests), (60, 60), "{report:#?}");
    assert_eq!(report.protocols, ["HTTP/1.1"]);
    assert!(
        (2..=6).contains(&stats.tcp_connections),
        "the pool's six at most: {stats:?}"
    );
    assert_eq!(report.connections, stats.tcp_connections);
}
