//! Test 8: bad input gets a clear, typed error, and the client stays usable.

use std::time::Duration;

use plexus::ErrorKind;
use plexus_testkit::{TestCerts, TestServer};
use plexus_tests::{client, client_builder, init_tracing};
use tokio::io::AsyncReadExt;

async fn still_works(client: &plexus::Client, server: &TestServer) {
    let r = client
        .get(server.url("/"))
        .send()
        .await
        .expect("the client is still usable");
    assert_eq!(r.text().await.expect("body"), "Hello, World!");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_urls_and_schemes() {
    init_tracing();
    let good = TestServer::builder().start().await.expect("server starts");
    let client = client();
    for (url, kind) in [
        ("http://exa mple.com/", ErrorKind::InvalidUrl),
        ("not a url", ErrorKind::InvalidUrl),
        ("/just/a/path", ErrorKind::InvalidUrl),
        ("http://", ErrorKind::InvalidUrl),
        ("https://[::1/", ErrorKind::InvalidUrl),
        ("ftp://localhost/file", ErrorKind::UnsupportedScheme),
        ("ws://localhost/socket", ErrorKind::UnsupportedScheme),
    ] {
        let err = client.get(url).send().await.expect_err(url);
        assert_eq!(err.kind(), kind, "{url}: {err}");
        assert!(err.is_builder(), "{url}");
        assert!(!err.to_string().is_empty());
    }
    let err = client
        .get(good.url("/"))
        .header("bad header", "x")
        .send()
        .await
        .expect_err("invalid header name");
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    still_works(&client, &good).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused() {
    init_tracing();
    let good = TestServer::builder().start().await.expect("server starts");
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("ephemeral port")
        .port();
    let client = client();
    let err = client
        .get(format!("https://127.0.0.1:{closed_port}/"))
        .send()
        .await
        .expect_err("nothing listens there");
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    assert!(err.is_connect());
    assert!(err.origin().is_some_and(|o| o.port() == closed_port));
    still_works(&client, &good).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_for_the_wrong_host() {
    init_tracing();
    let certs = TestCerts::signed_for(&["wrong.example"]);
    // Trust the wrong server's CA too, so that only the host name can fail.
    let ca = plexus::Certificate::from_pem(certs.ca_pem.as_bytes()).expect("pem");
    let wrong = TestServer::builder()
        .certs(certs)
        .start()
        .await
        .expect("starts");
    let good = TestServer::builder().start().await.expect("server starts");
    let client = client_builder()
        .add_root_certificate(ca)
        .build()
        .expect("builds");
    let err = client
        .get(wrong.url("/"))
        .send()
        .await
        .expect_err("wrong host");
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(err.is_tls());
    assert!(
        err.to_string().contains("not valid for this host name"),
        "{err}"
    );
    assert_eq!(wrong.stats().requests, 0);
    still_works(&client, &good).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_signed_certificate_without_a_trusted_ca() {
    init_tracing();
    let self_signed = TestServer::builder()
        .certs(TestCerts::self_signed())
        .start()
        .await
        .expect("server starts");
    let good = TestServer::builder().start().await.expect("server starts");
    let client = client();
    let err = client
        .get(self_signed.url("/"))
        .send()
        .await
        .expect_err("untrusted");
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(
        err.to_string().contains("not signed by a trusted CA"),
        "{err}"
    );
    still_works(&client, &good).await;
    // The loudly named opt-out accepts it.
    let reckless = client_builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("builds");
    let r = reckless
        .get(self_signed.url("/"))
        .send()
        .await
        .expect("accepted");
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_that_closes_before_responding() {
    init_tracing();
    let good = TestServer::builder().start().await.expect("server starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let accepted = tokio::spawn(async move {
        let mut served = 0;
        while let Ok((mut stream, _)) = listener.accept().await {
            // Read the request head, then hang up without a response.
            let mut buf = [0u8; 4096];
            let _ = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
            drop(stream);
            served += 1;
            if served == 2 {
                return served;
            }
        }
        served
    });
    let client = client();
    for _ in 0..2 {
        let err = client
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .expect_err("no response");
        assert_eq!(err.kind(), ErrorKind::ConnectionClosed, "{err}");
        assert_eq!(
            err.attempts(),
            1,
            "a fresh connection is not retried: {err}"
        );
    }
    assert_eq!(accepted.await.expect("listener task"), 2);
    still_works(&client, &good).await;
}

/// The h2 and h3 test servers send `Hello, World!` even for HEAD, as a broken server
/// might: the response still has no content (RFC 9110 §9.3.2), and the connection stays
/// usable. HTTP/1.1 frames it as no content by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_responses_have_no_content_whatever_the_server_sends() {
    init_tracing();
    let server = TestServer::builder()
        .h3()
        .start()
        .await
        .expect("server starts");
    let client = client();
    for (mode, version) in [
        (plexus::Http3Mode::Off, http::Version::HTTP_2),
        (plexus::Http3Mode::Only, http::Version::HTTP_3),
    ] {
        for _ in 0..3 {
            let r = client
                .head(server.url("/"))
                .http3(mode)
                .send()
                .await
                .expect("HEAD answered");
            assert_eq!((r.status().as_u16(), r.version()), (200, version));
            assert!(r.bytes().await.expect("body").is_empty(), "{version:?}");
        }
    }
    let stats = server.stats();
    assert_eq!(stats.requests, 6);
    assert_eq!((stats.tcp_connections, stats.quic_connections), (1, 1));
    still_works(&client, &server).await;
}

/// Found by the URL fuzz target: the `http` crate keeps an empty path for a URL with a
/// fragment and no path (`https://host:port#top`), which made an empty HTTP/1.1 request
/// target. The fragment is never sent, and the target is `/`, over every protocol.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fragment_without_a_path_requests_the_root() {
    init_tracing();
    let h1 = TestServer::builder()
        .http1_only()
        .start()
        .await
        .expect("server starts");
    let h2 = TestServer::builder()
        .h2_only()
        .start()
        .await
        .expect("server starts");
    let client = client();
    for server in [&h1, &h2] {
        for suffix in ["#top", "?#top", "#"] {
            let url = format!("https://localhost:{}{suffix}", server.port());
            let r = client.get(&url).send().await.expect(&url);
            assert_eq!(r.status(), 200, "{url}");
            assert_eq!(r.text().await.expect("body"), "Hello, World!", "{url}");
        }
    }
    assert_eq!((h1.stats().requests, h2.stats().requests), (3, 3));
}
