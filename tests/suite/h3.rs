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
