//! Status-based retries (opt-in): 429/502/503/504 re-sent for replay-safe requests,
//! with back-off, `Retry-After` and a retry budget, counted on the server.

use std::time::{Duration, Instant};

use plexus::{ErrorKind, StatusRetry};
use plexus_testkit::TestServer;
use plexus_tests::{client_builder, init_tracing};

fn quick(retries: u32) -> StatusRetry {
    StatusRetry {
        base_delay: Duration::from_millis(5),
        ..StatusRetry::retries(retries)
    }
}

#[tokio::test]
async fn a_replay_safe_request_is_retried_until_it_succeeds() {
    init_tracing();
    for server in [
        TestServer::builder().h2_only().start().await,
        TestServer::builder().http1_only().start().await,
    ] {
        let server = server.expect("server");
        let client = client_builder()
            .retry_status(quick(3))
            .build()
            .expect("client");
        let response = client
            .get(server.url("/flaky/2"))
            .header("x-request-id", "g")
            .send()
            .await
            .expect("response");
        assert_eq!(response.status(), 200);
        let record = response.record().clone();
        assert_eq!(record.attempts, 3);
        assert_eq!(record.retries.len(), 2);
        assert!(record
            .retries
            .iter()
            .all(|e| e.kind() == ErrorKind::RetryableStatus));
        assert_eq!(response.text().await.expect("body"), "Hello, World!");
        // A POST is not replay-safe: the 503 is the answer.
        let post = client
            .post(server.url("/flaky/2"))
            .header("x-request-id", "p")
            .body("x")
            .send()
            .await
            .expect("response");
        assert_eq!(post.status(), 503);
        assert_eq!(post.record().attempts, 1);
        // A POST with an Idempotency-Key is.
        let keyed = client
            .post(server.url("/flaky/1"))
            .header("x-request-id", "k")
            .header("idempotency-key", "k")
            .body("x")
            .send()
            .await
            .expect("response");
        assert_eq!(keyed.status(), 200);
        assert_eq!(server.stats().requests, 3 + 1 + 2);
    }
}

#[tokio::test]
async fn retries_are_bounded_and_off_by_default() {
    init_tracing();
    let server = TestServer::builder().start().await.expect("server");
    let client = client_builder()
        .retry_status(quick(2))
        .build()
        .expect("client");
    let response = client
        .get(server.url("/status/503"))
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 503, "the last answer is returned");
    assert_eq!(response.record().attempts, 3);
    assert_eq!(server.stats().requests, 3);
    // Without the policy, a 503 is just a response.
    let plain = plexus_tests::client();
    let response = plain
        .get(server.url("/status/503"))
        .send()
        .await
        .expect("response");
    assert_eq!(response.record().attempts, 1);
    assert_eq!(server.stats().requests, 4);
}

#[tokio::test]
async fn retry_after_is_honoured_or_too_long_to_wait() {
    init_tracing();
    let server = TestServer::builder().start().await.expect("server");
    let client = client_builder()
        .retry_status(quick(1))
        .build()
        .expect("client");
    let started = Instant::now();
    let response = client
        .get(server.url("/busy/1"))
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 429);
    assert_eq!(response.record().attempts, 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited as Retry-After asked"
    );
    // Longer than max_retry_after (60 s): not waited for, not retried.
    let response = client
        .get(server.url("/busy/3600"))
        .send()
        .await
        .expect("response");
    assert_eq!(response.record().attempts, 1);
    assert_eq!(server.stats().requests, 3);
}

#[tokio::test]
async fn the_retry_budget_caps_amplification() {
    init_tracing();
    let server = TestServer::builder().start().await.expect("server");
    let policy = StatusRetry {
        budget_reserve: 2.0,
        budget_ratio: 0.0,
        ..quick(3)
    };
    let client = client_builder()
        .retry_status(policy)
        .build()
        .expect("client");
    for _ in 0..5 {
        let response = client
            .get(server.url("/status/503"))
            .send()
            .await
            .expect("response");
        assert_eq!(response.status(), 503);
    }
    assert_eq!(
        server.stats().requests,
        5 + 2,
        "five requests, two retries from the budget's reserve"
    );
}
