use plexus::Protocol;
use plexus_testkit::TestServer;
use plexus_tests::{client, init_tracing};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_get_returns_the_body_over_h2() {
    init_tracing();
    let server = TestServer::builder().start().await.expect("server starts");
    let client = client();
    let response = client
        .get(server.url("/"))
        .send()
        .await
        .expect("request succeeds");
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.record().connection.protocol, Protocol::Http2);
    assert!(!response.record().reused);
    assert_eq!(response.text().await.expect("body"), "Hello, World!");
    let again = client
        .get(server.url("/bytes/100000"))
        .send()
        .await
        .expect("second");
    assert!(again.record().reused);
    let body = again.bytes().await.expect("body");
    assert_eq!(body.len(), 100_000);
    let stats = server.stats();
    assert_eq!(stats.tcp_connections, 1);
    assert_eq!(stats.requests, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_get_over_alpn_http11() {
    init_tracing();
    let server = TestServer::builder()
        .http1_only()
        .start()
        .await
        .expect("server starts");
    let client = client();
    for _ in 0..3 {
        let response = client
            .get(server.url("/"))
            .send()
            .await
            .expect("request succeeds");
        assert_eq!(response.version(), http::Version::HTTP_11);
        assert_eq!(response.text().await.expect("body"), "Hello, World!");
    }
    assert_eq!(server.stats().tcp_connections, 1);
}
