//! HTTP/2 multiplexing: one connection, the peer's stream limit respected, spill-over.

use plexus_testkit::TestServer;
use plexus_tests::{client, client_builder, concurrent_gets, init_tracing};

/// Test 1: 1,000 concurrent GETs to an h2 origin complete over exactly one TCP connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_gets_share_one_connection() {
    init_tracing();
    let server = TestServer::builder().start().await.expect("server starts");
    let client = client();
    let records = concurrent_gets(&client, &server.url("/delay/20"), 1000)
        .await
        .expect("every request succeeds");
    assert_eq!(records.len(), 1000);
    let stats = server.stats();
    assert_eq!(stats.tcp_connections, 1, "{stats:?}");
    assert_eq!(stats.connections_of("h2"), 1);
    assert_eq!(stats.requests, 1000);
    assert_eq!(stats.distinct_request_ids, 1000);
    assert!(
        stats.peak_streams >= 100,
        "requests were multiplexed, not serialised: peak {}",
        stats.peak_streams
    );
    assert!(stats.connections.iter().all(|c| c.stream_ids_dense()));
}

/// Test 2: MAX_CONCURRENT_STREAMS = 8 and 500 concurrent requests: all succeed over one
/// connection, and the server never has more than 8 streams at once — none refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_stream_limit_is_never_exceeded() {
    init_tracing();
    let server = TestServer::builder()
        .max_concurrent_streams(8)
        .start()
        .await
        .expect("server starts");
    let client = client();
    concurrent_gets(&client, &server.url("/delay/5"), 500)
        .await
        .expect("every request succeeds");
    let stats = server.stats();
    assert_eq!(stats.tcp_connections, 1, "{stats:?}");
    assert_eq!(stats.requests, 500);
    assert!(stats.peak_streams <= 8, "{stats:?}");
    assert!(stats.peak_streams >= 4, "the limit was used: {stats:?}");
    // A stream beyond the limit would have been refused by the server's h2 layer before
    // reaching a handler, leaving a gap in the stream ids.
    assert!(
        stats.connections.iter().all(|c| c.stream_ids_dense()),
        "{stats:?}"
    );
    assert_eq!(stats.connections[0].streams, 500);
}

/// Test 2, spill-over: with `max_connections_per_origin(4)`, at most 4 connections and at
/// most 8 streams on each (32 in all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spill_over_stays_within_connection_and_stream_limits() {
    init_tracing();
    let server = TestServer::builder()
        .max_concurrent_streams(8)
        .start()
        .await
        .expect("server starts");
    let client = client_builder()
        .max_connections_per_origin(4)
        .build()
        .expect("client builds");
    concurrent_gets(&client, &server.url("/delay/5"), 500)
        .await
        .expect("every request succeeds");
    let stats = server.stats();
    assert!(stats.tcp_connections <= 4, "{stats:?}");
    assert!(
        stats.tcp_connections >= 2,
        "requests spilled over: {stats:?}"
    );
    assert!(stats.peak_streams <= 32, "{stats:?}");
    assert!(
        stats.peak_streams > 8,
        "more than one connection carried streams at once"
    );
    assert!(
        stats.connections.iter().all(|c| c.peak_streams <= 8),
        "{stats:?}"
    );
    assert!(
        stats.connections.iter().all(|c| c.stream_ids_dense()),
        "{stats:?}"
    );
    assert_eq!(stats.requests, 500);
}

/// Test 3: 200 concurrent requests to a cold h2 origin cost exactly one TLS handshake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_origin_gets_one_tls_handshake() {
    init_tracing();
    let server = TestServer::builder().start().await.expect("server starts");
    let client = client();
    let records = concurrent_gets(&client, &server.url("/"), 200)
        .await
        .expect("every request succeeds");
    let stats = server.stats();
    assert_eq!(stats.tls_handshakes, 1, "{stats:?}");
    assert_eq!(stats.tcp_connections, 1);
    assert_eq!(records.iter().filter(|r| !r.reused).count(), 1);
    let snapshot = client.snapshot();
    assert_eq!(snapshot.len(), 1);
    assert_eq!(snapshot[0].connections_opened, 1);
}
