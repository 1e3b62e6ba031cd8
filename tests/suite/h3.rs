//! HTTP/3: the same scheduling as h2, over QUIC.

use bytes::Bytes;
use plexus::{Body, Http3Mode, Protocol};
use plexus_testkit::routes::pattern_byte;
use plexus_testkit::TestServer;
use plexus_tests::{client_builder, concurrent_gets, init_tracing};

fn h3_client() -> plexus::Client {
    client_builder()
        .http3(Http3Mode::Only)
        .build()
        .expect("client builds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_over_h3() {
    init_tracing();
    let server = TestServer::builder()
        .h3()
        .start()
        .await
        .expect("server starts");
    let client = h3_client();
    let r = client
        .get(server.url("/"))
        .send()
        .await
        .expect("request over h3");
    assert_eq!(r.version(), http::Version::HTTP_3);
    assert_eq!(r.record().connection.protocol, Protocol::Http3);
    assert_eq!(r.record().connection.alpn.as_deref(), Some("h3"));
    assert_eq!(r.text().await.expect("body"), "Hello, World!");
    let stats = server.stats();
    assert_eq!(stats.quic_connections, 1);
    assert_eq!(stats.tcp_connections, 0);
}

/// Issue 3, test 1: 1,000 concurrent GETs over exactly one QUIC connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_gets_share_one_quic_connection() {
    init_tracing();
    let server = TestServer::builder()
        .h3()
        .start()
        .await
        .expect("server starts");
    let records = concurrent_gets(&h3_client(), &server.url("/delay/20"), 1000)
        .await
        .expect("every request succeeds");
    assert!(records
        .iter()
        .all(|r| r.connection.protocol == Protocol::Http3));
    let stats = server.stats();
    assert_eq!(stats.quic_connections, 1, "{stats:?}");
    assert_eq!(stats.connections_of("h3"), 1);
    assert_eq!(stats.requests, 1000);
    assert_eq!(stats.distinct_request_ids, 1000);
    assert!(stats.peak_streams >= 100, "multiplexed: {stats:?}");
}

/// Issue 3, test 2: the peer's MAX_STREAMS = 8 with 500 concurrent requests: all
/// succeed, never more than 8 streams at once on the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_stream_credit_is_respected() {
    init_tracing();
    let server = TestServer::builder()
        .h3_max_streams(8)
        .start()
        .await
        .expect("server starts");
    let client = h3_client();
    concurrent_gets(&client, &server.url("/delay/5"), 500)
        .await
        .expect("every request succeeds");
    let stats = server.stats();
    assert_eq!(stats.quic_connections, 1, "{stats:?}");
    assert_eq!(stats.requests, 500);
    assert!(stats.peak_streams <= 8, "{stats:?}");
    assert!(stats.peak_streams >= 4, "the credit was used: {stats:?}");
    let snapshot = &client.snapshot()[0];
    assert!(
        snapshot.peak_in_flight <= 8,
        "the scheduler kept to the credit: {snapshot:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h3_over_ipv6_loopback() {
    init_tracing();
    let server = TestServer::builder()
        .ipv6()
        .h3()
        .start()
        .await
        .expect("server on ::1");
    let r = h3_client()
        .get(server.ip_url("/"))
        .send()
        .await
        .expect("h3 over IPv6");
    assert_eq!(r.version(), http::Version::HTTP_3);
    assert!(r.record().connection.remote_addr.is_ipv6());
    assert_eq!(server.stats().quic_connections, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h3_bodies_both_ways() {
    init_tracing();
    let server = TestServer::builder()
        .h3()
        .start()
        .await
        .expect("server starts");
    let client = h3_client();
    const N: u64 = 10_000_019;
    let mut r = client
        .get(server.url(&format!("/bytes/{N}")))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.content_length(), Some(N));
    let mut offset = 0u64;
    while let Some(chunk) = r.chunk().await.expect("chunk") {
        assert!(chunk
            .iter()
            .enumerate()
            .all(|(i, b)| *b == pattern_byte(offset + i as u64)));
        offset += chunk.len() as u64;
    }
    assert_eq!(offset, N);
    let chunks = (0..64).map(|i| Ok::<_, std::io::Error>(Bytes::from(vec![i as u8; 4096])));
    let r = client
        .post(server.url("/upload"))
        .body(Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .expect("upload");
    assert_eq!(r.text().await.expect("body"), "received 262144 bytes");
    let r = client
        .post(server.url("/echo"))
        .body("ping")
        .send()
        .await
        .expect("echo");
    assert_eq!(r.text().await.expect("body"), "ping");
}

/// Issue 3, test 6: the h3 server sends GOAWAY after 100 requests with 300 in flight:
/// all 300 succeed, none is processed twice, and new requests go to fresh connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h3_goaway_mid_flight_loses_nothing() {
    init_tracing();
    let server = TestServer::builder()
        .h3_goaway_after(100)
        .start()
        .await
        .expect("server starts");
    let records = concurrent_gets(&h3_client(), &server.url("/delay/20"), 300)
        .await
        .expect("every request succeeds");
    let stats = server.stats();
    assert_eq!(stats.requests, 300, "{stats:?}");
    assert_eq!(stats.distinct_request_ids, 300);
    assert!(stats.duplicate_request_ids.is_empty(), "{stats:?}");
    assert!(stats.quic_connections >= 3, "{stats:?}");
    assert!(
        stats.connections.iter().all(|c| c.requests <= 101),
        "{stats:?}"
    );
    let retried = records.iter().filter(|r| !r.retries.is_empty()).count();
    assert!(retried > 0, "requests beyond the GOAWAY were re-sent");
    let unsafe_retries: Vec<_> = records
        .iter()
        .flat_map(|r| &r.retries)
        .filter(|e| e.delivery() == plexus::Delivery::MaybeProcessed)
        .collect();
    assert!(
        unsafe_retries.is_empty(),
        "only unprocessed requests were re-sent: {unsafe_retries:?}"
    );
}

/// A server that sends GOAWAY, answers the requests below it and closes the connection
/// without resetting the streams above it: the client learns from the GOAWAY's stream id
/// alone that those requests were not processed, so even POSTs go out again. Every one of
/// the 300 POSTs is processed exactly once; none fails for want of that knowledge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h3_goaway_then_close_retries_the_unprocessed_posts() {
    init_tracing();
    let server = TestServer::builder()
        .h3_goaway_then_close_after(100)
        .start()
        .await
        .expect("server starts");
    let client = h3_client();
    let tasks: Vec<_> = (0..300)
        .map(|i| {
            let client = client.clone();
            let url = server.url("/echo");
            tokio::spawn(async move {
                let response = client
                    .post(url)
                    .header("x-request-id", i.to_string())
                    .body(format!("post {i}"))
                    .send()
                    .await?;
                let record = response.record().clone();
                let body = response.text().await?;
                assert_eq!(body, format!("post {i}"));
                Ok::<_, plexus::Error>(record)
            })
        })
        .collect();
    let mut records = Vec::new();
    let mut failed = Vec::new();
    for t in tasks {
        match t.await.expect("request task does not panic") {
            Ok(r) => records.push(r),
            Err(e) => failed.push(e),
        }
    }
    let stats = server.stats();
    // A POST the client gave up on was one the server may have processed; the server
    // processed every POST exactly once, so none was abandoned unprocessed.
    assert!(
        failed
            .iter()
            .all(|e| e.delivery() == plexus::Delivery::MaybeProcessed),
        "{failed:?}"
    );
    assert_eq!(stats.requests, 300, "{stats:?} {failed:?}");
    assert_eq!(stats.distinct_request_ids, 300);
    assert!(stats.duplicate_request_ids.is_empty(), "{stats:?}");
    let beyond_goaway = records
        .iter()
        .flat_map(|r| &r.retries)
        .filter(|e| {
            e.delivery() == plexus::Delivery::Unprocessed
                && e.kind() == plexus::ErrorKind::ConnectionClosed
        })
        .count();
    assert!(
        beyond_goaway > 0,
        "POSTs above the GOAWAY were re-sent as unprocessed: {records:?}"
    );
}

/// CONNECTION_CLOSE reaches every pending request with the server's reason: a pending
/// POST fails with it; a pending GET (replay-safe, on a reused connection) is re-sent and
/// its record keeps the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_close_reason_reaches_pending_requests() {
    init_tracing();
    let server = TestServer::builder()
        .h3()
        .start()
        .await
        .expect("server starts");
    let client = h3_client();
    client
        .get(server.url("/"))
        .send()
        .await
        .expect("warm-up")
        .bytes()
        .await
        .expect("body");
    let post = tokio::spawn({
        let (client, url) = (client.clone(), server.url("/delay/3000"));
        async move { client.post(url).body("x").send().await.map(|r| r.status()) }
    });
    let get = tokio::spawn({
        let (client, url) = (client.clone(), server.url("/delay/100"));
        async move { client.get(url).send().await.map(|r| r.record().clone()) }
    });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    // A POST: not replay-safe, so it is not re-sent to close the next connection too.
    let _ = client.post(server.url("/close")).send().await;

    let err = post
        .await
        .expect("task")
        .expect_err("the POST may have been processed");
    assert_eq!(err.kind(), plexus::ErrorKind::ConnectionClosed, "{err}");
    assert!(err.to_string().contains("test server closing"), "{err}");
    let record = get
        .await
        .expect("task")
        .expect("the GET is re-sent and succeeds");
    assert_eq!(record.retries.len(), 1, "{record:?}");
    assert!(
        record.retries[0]
            .to_string()
            .contains("test server closing"),
        "{record:?}"
    );
}

/// QUIC keep-alive keeps a pooled connection alive past the idle timeout; without it the
/// connection idles out, the pool notices, and the next request opens a new one (no
/// request fails either way).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_keeps_pooled_quic_connections() {
    init_tracing();
    for (keep_alive, expected_connections) in [(Some(100), 1), (None, 2)] {
        let server = TestServer::builder()
            .h3()
            .start()
            .await
            .expect("server starts");
        let client = client_builder()
            .http3(Http3Mode::Only)
            .quic_idle_timeout(std::time::Duration::from_millis(500))
            .quic_keep_alive_interval(keep_alive.map(std::time::Duration::from_millis))
            .build()
            .expect("client");
        let first = client.get(server.url("/")).send().await.expect("first");
        first.bytes().await.expect("body");
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let second = client
            .get(server.url("/"))
            .send()
            .await
            .expect("after idling");
        assert_eq!(
            second.record().reused,
            keep_alive.is_some(),
            "keep-alive {keep_alive:?}"
        );
        second.bytes().await.expect("body");
        assert_eq!(server.stats().quic_connections, expected_connections);
    }
}

/// The HTTP/3 policy per request: a client that follows Alt-Svc by default sends one
/// request over HTTP/3 only, and the next over TCP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http3_mode_per_request() {
    init_tracing();
    let server = TestServer::builder()
        .h3()
        .start()
        .await
        .expect("server starts");
    let client = client_builder().build().expect("client");
    let r = client
        .get(server.url("/"))
        .http3(Http3Mode::Only)
        .send()
        .await
        .expect("h3 request");
    assert_eq!(r.version(), http::Version::HTTP_3);
    let r = client
        .get(server.url("/"))
        .send()
        .await
        .expect("default request");
    assert_eq!(r.version(), http::Version::HTTP_2);
    let stats = server.stats();
    assert_eq!((stats.quic_connections, stats.tcp_connections), (1, 1));
}
