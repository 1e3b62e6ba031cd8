//! Limits against broken or hostile servers: each ends the request with its typed error,
//! and the client goes on working.

use std::time::Duration;

use plexus::{ClientBuilder, ErrorKind, Http3Mode};
use plexus_testkit::TestServer;
use plexus_tests::{client_builder, init_tracing};

/// One server per protocol, each with the client settings that reach it.
async fn servers() -> Vec<(&'static str, TestServer, fn(ClientBuilder) -> ClientBuilder)> {
    let h1 = TestServer::builder().http1_only().start().await;
    let h2 = TestServer::builder().h2_only().start().await;
    let h3 = TestServer::builder().h3().start().await;
    vec![
        ("h1", h1.expect("h1 server"), |b| b),
        ("h2", h2.expect("h2 server"), |b| b),
        ("h3", h3.expect("h3 server"), |b| b.http3(Http3Mode::Only)),
    ]
}

async fn hello(client: &plexus::Client, url: &str) {
    let body = client
        .get(url)
        .send()
        .await
        .expect("the client still works")
        .bytes()
        .await
        .expect("body");
    assert_eq!(body.as_ref(), plexus_testkit::routes::HELLO);
}

#[tokio::test]
async fn a_stalled_body_fails_with_body_stalled() {
    init_tracing();
    for (name, server, setup) in servers().await {
        let client = setup(client_builder().read_timeout(Duration::from_millis(300)))
            .build()
            .expect("client");
        // A short pause is within the read timeout.
        hello(&client, &server.url("/stall/50")).await;
        let response = client
            .get(server.url("/stall/5000"))
            .send()
            .await
            .expect("the head arrives");
        let error = response.bytes().await.expect_err("the body stalls");
        assert_eq!(error.kind(), ErrorKind::BodyStalled, "{name}: {error}");
        assert!(error.is_timeout());
        hello(&client, &server.url("/")).await;
        assert_eq!(server.stats().requests, 3, "{name}: nothing re-sent");
    }
}

#[tokio::test]
async fn body_size_limit_by_content_length_and_while_reading() {
    init_tracing();
    for (name, server, setup) in servers().await {
        let client = setup(client_builder().max_response_body_size(1000))
            .build()
            .expect("client");
        let error = client
            .get(server.url("/bytes/5000"))
            .send()
            .await
            .expect_err("Content-Length over the limit");
        assert_eq!(error.kind(), ErrorKind::TooLarge, "{name}: {error}");
        // An echo: with the request's Content-Length (HTTP/1.1) the head is refused;
        // without one (h2, h3) the limit trips while reading.
        let echoed = async {
            client
                .post(server.url("/echo"))
                .body(vec![b'a'; 5000])
                .send()
                .await?
                .bytes()
                .await
        };
        let error = echoed.await.expect_err("body over the limit");
        assert_eq!(error.kind(), ErrorKind::TooLarge, "{name}: {error}");
        let small = client
            .post(server.url("/echo"))
            .body(vec![b'a'; 1000])
            .send()
            .await
            .expect("at the limit")
            .bytes()
            .await
            .expect("at the limit is fine");
        assert_eq!(small.len(), 1000);
        hello(&client, &server.url("/")).await;
    }
}

#[tokio::test]
async fn oversized_response_heads_are_refused() {
    init_tracing();
    for (name, server, setup) in servers().await {
        let client = setup(client_builder().max_response_header_size(16 * 1024))
            .build()
            .expect("client");
        // 40 headers of 1 KiB: about 40 KiB of head.
        let error = client
            .get(server.url("/headers/40/1024"))
            .send()
            .await
            .expect_err("head over the limit");
        match name {
            // The h2 crate resets an oversized head as it does a malformed one.
            "h2" => assert_eq!(error.kind(), ErrorKind::Protocol, "{error}"),
            // The h3 server honours the client's SETTINGS_MAX_FIELD_SECTION_SIZE and gives
            // up on the response (closing its connection) rather than send it.
            "h3" => assert_eq!(error.kind(), ErrorKind::ConnectionClosed, "{error}"),
            _ => assert_eq!(error.kind(), ErrorKind::TooLarge, "{error}"),
        }
        // Just under it passes.
        client
            .get(server.url("/headers/8/1024"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: 8 KiB of headers: {e}"));
        hello(&client, &server.url("/")).await;
    }
    // HTTP/1.1 also counts headers.
    let server = TestServer::builder()
        .http1_only()
        .start()
        .await
        .expect("server");
    let client = client_builder()
        .max_response_headers(50)
        .build()
        .expect("client");
    let error = client
        .get(server.url("/headers/100/1"))
        .send()
        .await
        .expect_err("too many headers");
    assert_eq!(error.kind(), ErrorKind::TooLarge, "{error}");
    hello(&client, &server.url("/")).await;
    // The default is hyper's own limit, 100 headers.
    let client = client_builder().build().expect("client");
    client
        .get(server.url("/headers/90/1"))
        .send()
        .await
        .expect("90 headers are within the default");
    let error = client
        .get(server.url("/headers/101/1"))
        .send()
        .await
        .expect_err("101 headers are over the default");
    assert_eq!(error.kind(), ErrorKind::TooLarge, "{error}");
    hello(&client, &server.url("/")).await;
}
