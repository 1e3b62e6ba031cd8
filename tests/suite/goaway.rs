//! GOAWAY: the connection drains, unprocessed streams are re-sent on a new connection.

use plexus_testkit::TestServer;
use plexus_tests::{assert_still_usable, client, concurrent_gets, init_tracing};

/// Test 5: GOAWAY after 100 streams with 300 requests in flight: all 300 succeed; the
/// streams above each GOAWAY's last stream id are re-sent on a new connection, and no
/// request is processed twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goaway_mid_flight_loses_nothing() {
    init_tracing();
    let server = TestServer::builder()
        .goaway_after(100)
        .start()
        .await
        .expect("server starts");
    let client = client();
    let records = concurrent_gets(&client, &server.url("/delay/20"), 300)
        .await
        .expect("every request succeeds");
    let stats = server.stats();
    assert_eq!(stats.requests, 300, "{stats:?}");
    assert_eq!(stats.distinct_request_ids, 300);
    assert!(stats.duplicate_request_ids.is_empty(), "{stats:?}");
    assert!(stats.tcp_connections >= 3, "{stats:?}");
    assert!(stats.connections.iter().all(|c| c.requests <= 100));
    let retried = records.iter().filter(|r| !r.retries.is_empty()).count();
    assert!(
        retried > 0 && stats.refused_streams > 0,
        "streams above the last stream id were refused and re-sent ({retried} retried, {} refused)",
        stats.refused_streams
    );
    // Only requests the server did not process were re-sent: refused above the last
    // stream id, or never sent because the connection was already going away.
    let unsafe_retries: Vec<_> = records
        .iter()
        .flat_map(|r| &r.retries)
        .filter(|e| e.delivery() == plexus::Delivery::MaybeProcessed)
        .collect();
    assert!(unsafe_retries.is_empty(), "{unsafe_retries:?}");
}

/// A server that sends GOAWAY(0) on every connection as it opens (shutting down, still
/// accepting): the request ends in a typed error, not sent, after a bounded number of
/// connections — it does not loop through new connections until a deadline — and the
/// client carries on with other origins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_turning_every_connection_away_does_not_loop_a_request() {
    init_tracing();
    let server = TestServer::builder()
        .goaway_at_once()
        .start()
        .await
        .expect("server starts");
    let client = client();
    let outcome = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        client.get(server.url("/")).send(),
    )
    .await
    .expect("the request ends on its own, without a deadline");
    let error = outcome.expect_err("every connection turns the request away");
    let stats = server.stats();
    eprintln!("{error} (kind {:?}); server: {stats:?}", error.kind());
    // Refused above the GOAWAY's last stream id, or turned away before it went out.
    assert!(
        matches!(
            error.kind(),
            plexus::ErrorKind::Refused | plexus::ErrorKind::ConnectionClosed
        ),
        "{error}"
    );
    assert_ne!(
        error.delivery(),
        plexus::Delivery::MaybeProcessed,
        "{error}"
    );
    assert_eq!(stats.requests, 0, "{stats:?}");
    // The default policy allows 10 fruitless attempts; each may meet a new connection.
    assert!(
        (2..=12).contains(&stats.tcp_connections),
        "{} connections",
        stats.tcp_connections
    );
    let healthy = TestServer::builder().start().await.expect("server starts");
    assert_still_usable(&client, &healthy.url("/")).await;
}
