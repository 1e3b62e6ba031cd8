//! The `Client` surface: request forms, streaming bodies, cleartext and h2c, timeouts,
//! the idle pool, IPv6.

use std::time::Duration;

use bytes::Bytes;
use plexus::{Body, Client, ErrorKind, Protocol};
use plexus_testkit::routes::pattern_byte;
use plexus_testkit::TestServer;
use plexus_tests::{assert_still_usable, client, client_builder, init_tracing};

#[test]
fn client_is_cheap_to_share() {
    fn assert_traits<T: Clone + Send + Sync + 'static>() {}
    assert_traits::<Client>();
    assert_traits::<plexus::Error>();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_arrive_byte_for_byte_over_h1_and_h2() {
    init_tracing();
    let server = TestServer::builder().start().await.expect("server starts");
    const N: u64 = 10_000_003;
    for client in [
        client(),
        client_builder().http1_only().build().expect("client"),
    ] {
        let mut response = client
            .get(server.url(&format!("/bytes/{N}")))
            .send()
            .await
            .expect("response");
        assert_eq!(response.content_length(), Some(N));
        let mut offset = 0u64;
        while let Some(chunk) = response.chunk().await.expect("chunk") {
            for (i, b) in chunk.iter().enumerate() {
                assert_eq!(
                    *b,
                    pattern_byte(offset + i as u64),
                    "byte {}",
                    offset + i as u64
                );
            }
            offset += chunk.len() as u64;
        }
        assert_eq!(offset, N);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_made_http_requests_and_streaming_uploads() {
    init_tracing();
    let server = TestServer::builder().start().await.expect("server starts");
    for client in [
        client(),
        client_builder().http1_only().build().expect("client"),
    ] {
        let request = http::Request::post(server.url("/echo"))
            .header("content-type", "text/plain")
            .body("ping")
            .expect("request builds");
        let response = client.request(request).await.expect("response");
        assert_eq!(response.text().await.expect("body"), "ping");

        // A body produced on the fly, of unknown length (chunked on HTTP/1.1).
        let chunks = (0..64).map(|i| Ok::<_, std::io::Error>(Bytes::from(vec![i as u8; 4096])));
        let response = client
            .post(server.url("/upload"))
            .body(Body::wrap_stream(futures_util::stream::iter(chunks)))
            .send()
            .await
            .expect("upload");
        assert_eq!(
            response.text().await.expect("body"),
            "received 262144 bytes"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleartext_speaks_http1_unless_h2_prior_knowledge() {
    init_tracing();
    let server = TestServer::builder()
        .cleartext()
        .start()
        .await
        .expect("server starts");
    let r = client().get(server.url("/")).send().await.expect("http://");
    assert_eq!(r.version(), http::Version::HTTP_11);
    assert!(r.record().connection.tls.is_none());
    let h2c = client_builder()
        .http2_prior_knowledge()
        .build()
        .expect("client");
    let records = plexus_tests::concurrent_gets(&h2c, &server.url("/delay/10"), 50)
        .await
        .expect("h2c requests");
    assert!(records
        .iter()
        .all(|r| r.connection.protocol == Protocol::Http2));
    let stats = server.stats();
    assert_eq!(stats.connections_of("h1"), 1);
    assert_eq!(stats.connections_of("h2"), 1, "{stats:?}");
    assert_eq!(stats.tls_handshakes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_loopback() {
    init_tracing();
    let server = TestServer::builder()
        .ipv6()
        .start()
        .await
        .expect("server on ::1");
    let url = server.ip_url("/");
    assert!(url.starts_with("https://[::1]:"), "{url}");
    let r = client().get(&url).send().await.expect("request over IPv6");
    assert!(r.record().connection.remote_addr.is_ipv6());
    assert_eq!(r.text().await.expect("body"), "Hello, World!");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_timeout_covers_head_and_body() {
    init_tracing();
    let server = TestServer::builder().start().await.expect("server starts");
    let client = client();
    let err = client
        .get(server.url("/delay/3000"))
        .timeout(Duration::from_millis(200))
        .send()
        .await
        .expect_err("too slow");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.is_timeout());
    // The deadline also bounds reading the body.
    let mut slow_body = client
        .get(server.url("/bytes/100000000"))
        .timeout(Duration::from_millis(300))
        .send()
        .await
        .expect("head arrives in time");
    let err = loop {
        match slow_body.chunk().await {
            Ok(Some(_)) => tokio::time::sleep(Duration::from_millis(50)).await,
            Ok(None) => panic!("the body cannot finish within 300 ms at this pace"),
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    drop(slow_body);
    assert_still_usable(&client, &server.url("/")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_timeout_when_no_stream_frees_up() {
    init_tracing();
    let server = TestServer::builder()
        .max_concurrent_streams(1)
        .start()
        .await
        .expect("server starts");
    let client = client_builder()
        .queue_timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    // Learn the limit first, so the second request really has to queue.
    client
        .get(server.url("/"))
        .send()
        .await
        .expect("first")
        .bytes()
        .await
        .expect("body");
    let slow = tokio::spawn({
        let client = client.clone();
        let url = server.url("/delay/2000");
        async move { client.get(url).send().await.map(|_| ()) }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let err = client
        .get(server.url("/"))
        .send()
        .await
        .expect_err("no free stream");
    assert_eq!(err.kind(), ErrorKind::QueueTimeout, "{err}");
    slow.await
        .expect("task")
        .expect("the slow request succeeds");
    assert_eq!(
        server.stats().requests,
        2,
        "the timed-out request was never sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_retired_after_the_pool_idle_timeout() {
    init_tracing();
    let server = TestServer::builder().start().await.expect("server starts");
    let client = client_builder()
        .pool_idle_timeout(Duration::from_millis(200))
        .build()
        .expect("client");
    client
        .get(server.url("/"))
        .send()
        .await
        .expect("first")
        .bytes()
        .await
        .expect("body");
    client
        .get(server.url("/"))
        .send()
        .await
        .expect("reused")
        .bytes()
        .await
        .expect("body");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        client.snapshot()[0].connections.len(),
        0,
        "the idle connection was closed"
    );
    let r = client
        .get(server.url("/"))
        .send()
        .await
        .expect("after idling");
    assert!(!r.record().reused);
    assert_eq!(server.stats().tcp_connections, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_max_is_honoured() {
    init_tracing();
    let server = TestServer::builder()
        .http1_only()
        .keep_alive_max(5)
        .start()
        .await
        .expect("server starts");
    let client = client();
    for _ in 0..23 {
        let r = client
            .get(server.url("/"))
            .send()
            .await
            .expect("request succeeds");
        assert!(r.record().retries.is_empty(), "{:?}", r.record().retries);
        r.bytes().await.expect("body");
    }
    let stats = server.stats();
    assert_eq!(stats.requests, 23);
    assert_eq!(stats.tcp_connections, 5, "{stats:?}");
    assert!(stats.connections.iter().all(|c| c.requests <= 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls12_and_tls13_and_session_resumption() {
    init_tracing();
    let tls12 = TestServer::builder()
        .tls12_only()
        .start()
        .await
        .expect("server starts");
    let client = client();
    let r = client
        .get(tls12.url("/"))
        .send()
        .await
        .expect("TLS 1.2 works");
    let tls = r.record().connection.tls.clone().expect("TLS info");
    assert_eq!(tls.version, "TLSv1.2");
    assert_eq!(r.version(), http::Version::HTTP_2);

    // TLS 1.3, and a second connection of the same client resumes the session.
    let server = TestServer::builder().start().await.expect("server starts");
    let client = client_builder()
        .pool_idle_timeout(Duration::from_millis(50))
        .build()
        .expect("client");
    let first = client.get(server.url("/")).send().await.expect("first");
    let info = first.record().connection.tls.clone().expect("TLS info");
    assert_eq!(info.version, "TLSv1.3");
    assert!(!info.resumed);
    first.bytes().await.expect("body");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = client.get(server.url("/")).send().await.expect("second");
    assert!(!second.record().reused, "the idle connection was retired");
    let info = second.record().connection.tls.clone().expect("TLS info");
    assert!(
        info.resumed,
        "the second handshake resumed the session: {info:?}"
    );
    assert_eq!(server.stats().tls_handshakes, 2);
}

/// One origin spelled three ways (host case, the default port written out) is one pool
/// and one connection; `http` and `https` to the same host and port are two origins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spellings_of_one_origin_share_its_connection() {
    init_tracing();
    let server = TestServer::builder().start().await.expect("server starts");
    let port = server.addr().port();
    let client = client();
    for url in [
        format!("https://localhost:{port}/"),
        format!("https://LOCALHOST:{port}/"),
        format!("https://LocalHost:{port}/bytes/5"),
        format!("https://localhost:{port}/"),
    ] {
        let response = client.get(&url).send().await.expect("response");
        assert_eq!(response.status(), 200, "{url}");
        response.bytes().await.expect("body");
    }
    let stats = server.stats();
    assert_eq!(stats.tcp_connections, 1, "{stats:?}");
    assert_eq!(stats.requests, 4);
    let snapshot = client.snapshot();
    assert_eq!(snapshot.len(), 1, "{snapshot:?}");
    assert_eq!(snapshot[0].connections_opened, 1);

    // The same host and port over cleartext is another origin (and fails against a TLS
    // port), without disturbing the first.
    let cleartext = client.get(format!("http://localhost:{port}/")).send().await;
    assert!(cleartext.is_err(), "cleartext to a TLS port");
    assert_eq!(client.snapshot().len(), 2);
    let again = client
        .get(format!("https://LOCALHOST:{port}/"))
        .send()
        .await
        .expect("response");
    assert_eq!(again.status(), 200);
    let https: Vec<_> = client
        .snapshot()
        .into_iter()
        .filter(|s| s.origin.scheme().as_str() == "https")
        .collect();
    assert_eq!(https.len(), 1);
    assert_eq!(https[0].connections_opened, 1, "{https:?}");
    assert_eq!(server.stats().requests, 5);
}
