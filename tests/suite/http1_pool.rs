//! HTTP/1.1 keep-alive pool: reuse, the pool limit, and the server's reuse rules.

use std::time::Duration;

use plexus_testkit::TestServer;
use plexus_tests::{client, concurrent_gets, init_tracing};

/// Test 4: 1,000 sequential requests over one HTTP/1.1 connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_requests_reuse_one_connection() {
    init_tracing();
    let server = TestServer::builder()
        .http1_only()
        .start()
        .await
        .expect("server starts");
    let client = client();
    for i in 0..1000 {
        let r = client
            .get(server.url("/"))
            .header("x-request-id", i.to_string())
            .send()
            .await
            .expect("request succeeds");
        assert_eq!(r.version(), http::Version::HTTP_11);
        assert_eq!(r.bytes().await.expect("body").len(), 13);
    }
    let stats = server.stats();
    assert_eq!(stats.tcp_connections, 1, "{stats:?}");
    assert_eq!(stats.requests, 1000);
    assert_eq!(stats.connections[0].requests, 1000);
}

/// Test 4: 100 concurrent requests use at most the pool limit (6) of connections, after
/// one single-flight connect found out the origin speaks HTTP/1.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_stay_within_the_pool_limit() {
    init_tracing();
    let server = TestServer::builder()
        .http1_only()
        .start()
        .await
        .expect("server starts");
    let client = client();
    concurrent_gets(&client, &server.url("/delay/10"), 100)
        .await
        .expect("every request succeeds");
    let stats = server.stats();
    assert!(stats.tcp_connections <= 6, "{stats:?}");
    assert!(
        stats.tcp_connections >= 2,
        "the pool grew once HTTP/1.1 was known"
    );
    assert!(stats.peak_open_connections <= 6);
    assert!(stats.connections.iter().all(|c| c.peak_streams == 1));
    assert_eq!(stats.requests, 100);
}

/// Test 4: `Connection: close` after every 10th response costs no failed request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_close_every_tenth_response_loses_nothing() {
    init_tracing();
    let server = TestServer::builder()
        .http1_only()
        .close_every(10)
        .start()
        .await
        .expect("server starts");
    let client = client();
    for _ in 0..200 {
        let r = client
            .get(server.url("/"))
            .send()
            .await
            .expect("request succeeds");
        assert!(
            r.record().retries.is_empty(),
            "no request needed a retry: {:?}",
            r.record().retries
        );
        r.bytes().await.expect("body");
    }
    let records = concurrent_gets(&client, &server.url("/delay/2"), 300)
        .await
        .expect("every concurrent request succeeds");
    let retried = records.iter().filter(|r| !r.retries.is_empty()).count();
    let stats = server.stats();
    assert_eq!(
        stats.requests, 500,
        "each request processed once: {stats:?}"
    );
    assert!(stats.duplicate_request_ids.is_empty());
    assert!(
        stats.connections.iter().all(|c| c.requests <= 10),
        "{stats:?}"
    );
    assert!(stats.tcp_connections >= 50);
    assert_eq!(retried, 0, "the client saw every close coming");
}

/// Test 4: `Keep-Alive: timeout=1` costs no failed request: the client retires idle
/// connections before the server closes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_timeout_is_honoured() {
    init_tracing();
    let server = TestServer::builder()
        .http1_only()
        .keep_alive_timeout(Duration::from_secs(1))
        .start()
        .await
        .expect("server starts");
    let client = client();
    let mut retries = 0;
    for (round, pause_ms) in [900u64, 950, 1000, 1050, 600].into_iter().enumerate() {
        let records = concurrent_gets(&client, &server.url("/"), 10)
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        retries += records.iter().map(|r| r.retries.len()).sum::<usize>();
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
    }
    let stats = server.stats();
    assert_eq!(stats.requests, 50, "{stats:?}");
    assert_eq!(
        retries, 0,
        "no request was sent into a connection the server closed"
    );
    // Pauses longer than the client's idle limit (750 ms) forced fresh connections.
    assert!(stats.tcp_connections >= 5, "{stats:?}");
}

/// Responses without a body (HEAD, 204) leave the connection reusable even when the
/// caller never reads them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_empty_bodies_keep_the_connection() {
    init_tracing();
    let server = TestServer::builder()
        .http1_only()
        .start()
        .await
        .expect("server starts");
    let client = client();
    for path in ["/status/204", "/", "/status/204"] {
        let r = client.head(server.url(path)).send().await.expect("HEAD");
        assert!(r.status().is_success());
        drop(r);
        let r = client
            .get(server.url("/status/204"))
            .send()
            .await
            .expect("204");
        assert_eq!(r.status(), 204);
        drop(r);
    }
    assert_eq!(server.stats().tcp_connections, 1);
}
