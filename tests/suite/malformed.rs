//! Broken HTTP/1.1 responses from a raw server: each ends the request with a typed error
//! (never a retry, since a response had begun), and the client stays usable.

use plexus::ErrorKind;
use plexus_testkit::MalformedServer;
use plexus_tests::{client, init_tracing};

async fn ok(client: &plexus::Client, server: &MalformedServer) {
    let r = client
        .get(server.url("/ok"))
        .send()
        .await
        .expect("the client is still usable");
    assert_eq!(r.text().await.expect("body"), "ok");
}

/// What a GET of `path` ends in: the error kind, at the head or in the body.
async fn outcome(client: &plexus::Client, url: String) -> Result<bytes::Bytes, plexus::Error> {
    client.get(url).send().await?.bytes().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_responses_end_in_typed_errors() {
    init_tracing();
    let server = MalformedServer::start().await.expect("server starts");
    let client = client();
    ok(&client, &server).await;
    for (path, kind) in [
        ("/bad-status-line", ErrorKind::Protocol),
        ("/bad-header-bytes", ErrorKind::Protocol),
        ("/not-http", ErrorKind::Protocol),
        ("/short-body", ErrorKind::ConnectionClosed),
        ("/truncated-chunked", ErrorKind::ConnectionClosed),
        ("/bad-chunk-size", ErrorKind::Protocol),
    ] {
        let before = server.requests();
        let err = outcome(&client, server.url(path)).await.expect_err(path);
        assert_eq!(err.kind(), kind, "{path}: {err}");
        assert_eq!(err.attempts(), 1, "{path}: not retried: {err}");
        assert_eq!(server.requests() - before, 1, "{path}: sent once");
        ok(&client, &server).await;
    }
}

/// A body longer than its `Content-Length`: the declared bytes are the response, and the
/// extra bytes never pass for the next response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_past_the_content_length_do_not_poison_the_next_response() {
    init_tracing();
    let server = MalformedServer::start().await.expect("server starts");
    let client = client();
    let body = outcome(&client, server.url("/long-body"))
        .await
        .expect("the declared body");
    assert_eq!(body.as_ref(), b"ok");
    for _ in 0..3 {
        ok(&client, &server).await;
    }
    // The poisoned connection was not used again: the three GETs went on a new one, each
    // sent once.
    assert_eq!((server.connections(), server.requests()), (2, 4));
}
