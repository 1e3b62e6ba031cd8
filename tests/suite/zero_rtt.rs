//! 0-RTT: a connection to an origin seen before resumes and sends replay-safe requests in
//! early data; other requests wait for the handshake; rejected early data is re-sent.

use std::time::Duration;

use plexus::Http3Mode;
use plexus_testkit::{TestServer, UdpDelayLine};
use plexus_tests::{client_builder, init_tracing};

fn client() -> plexus::Client {
    client_builder()
        .http3(Http3Mode::Only)
        // Each request below opens a new connection.
        .pool_idle_timeout(Duration::from_millis(50))
        .build()
        .expect("client builds")
}

/// A path with a 40 ms round trip in front of the server's QUIC side, so that a request
/// can be sent before the handshake ends, as on a real network (on bare loopback the
/// handshake is over before the first request is written). Returns the URL base.
async fn through_delay_line(server: &TestServer) -> (UdpDelayLine, String) {
    let line = UdpDelayLine::start(server.addr(), Duration::from_millis(40))
        .await
        .expect("UDP delay line");
    let base = format!("https://localhost:{}", line.port());
    (line, base)
}

async fn fresh_connection() {
    tokio::time::sleep(Duration::from_millis(250)).await;
}

/// Issue 3, test 5: the second connection sends its GET in early data (the server saw
/// it before the handshake ended); a POST never goes early; an idempotent one may.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_safe_requests_go_in_early_data() {
    init_tracing();
    let server = TestServer::builder()
        .h3()
        .start()
        .await
        .expect("server starts");
    let (_line, base) = through_delay_line(&server).await;
    let url = |path: &str| format!("{base}{path}");
    let client = client();

    let first = client.get(url("/first")).send().await.expect("first");
    assert!(!first.record().early_data);
    first.bytes().await.expect("body");
    assert!(server.stats().early_requests.is_empty());

    fresh_connection().await;
    let second = client.get(url("/second")).send().await.expect("second");
    assert!(!second.record().reused, "a new connection");
    assert!(second
        .record()
        .connection
        .tls
        .as_ref()
        .is_some_and(|t| t.resumed));
    assert!(
        second.record().early_data,
        "sent in 0-RTT: {:?}",
        second.record()
    );
    second.bytes().await.expect("body");
    assert_eq!(server.stats().early_requests, vec!["GET /second"]);

    fresh_connection().await;
    let post = client
        .post(url("/echo"))
        .body("x")
        .send()
        .await
        .expect("POST");
    assert!(!post.record().early_data, "a POST waits for the handshake");
    assert_eq!(post.text().await.expect("body"), "x");

    fresh_connection().await;
    let marked = client
        .post(url("/upload"))
        .body("y")
        .idempotent()
        .send()
        .await
        .expect("idempotent POST");
    assert!(
        marked.record().early_data,
        "marked idempotent: 0-RTT allowed"
    );
    marked.bytes().await.expect("body");

    let early = server.stats().early_requests;
    assert_eq!(
        early,
        vec!["GET /second", "POST /upload"],
        "the server's view"
    );
    assert!(!early.iter().any(|r| r == "POST /echo"));
    assert_eq!(server.stats().quic_connections, 4);
}

/// Issue 3, test 5: with the server rejecting early data, the GET still succeeds, and is
/// processed exactly once (never from the rejected early data).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_early_data_is_sent_again() {
    init_tracing();
    let server = TestServer::builder()
        .reject_0rtt()
        .start()
        .await
        .expect("server starts");
    let (_line, base) = through_delay_line(&server).await;
    let client = client();
    let first = client.get(format!("{base}/")).send().await.expect("first");
    first.bytes().await.expect("body");

    fresh_connection().await;
    let again = client
        .get(format!("{base}/again"))
        .header("x-request-id", "again")
        .send()
        .await
        .expect("the GET succeeds");
    let record = again.record().clone();
    again.bytes().await.expect("body");
    assert!(!record.early_data);
    assert_eq!(record.retries.len(), 1, "{:?}", record.retries);
    assert_eq!(record.retries[0].kind(), plexus::ErrorKind::Refused);
    let stats = server.stats();
    assert!(
        stats.early_requests.is_empty(),
        "nothing was processed from early data"
    );
    assert_eq!(stats.distinct_request_ids, 1);
    assert!(stats.duplicate_request_ids.is_empty());
    assert_eq!(stats.requests, 2);

    // The origin is not asked for 0-RTT again.
    fresh_connection().await;
    let third = client
        .get(format!("{base}/third"))
        .send()
        .await
        .expect("third");
    assert!(third.record().retries.is_empty());
    third.bytes().await.expect("body");
}
