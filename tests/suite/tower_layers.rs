//! The client as a tower `Service`: tower's own layers bound what reaches the server.

use std::time::Duration;

use plexus::Body;
use plexus_testkit::TestServer;
use plexus_tests::{client, init_tracing};
use tower::{Service, ServiceBuilder, ServiceExt};

fn get(url: &str) -> http::Request<Body> {
    http::Request::get(url)
        .body(Body::empty())
        .expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_limit_layer_bounds_the_streams_the_server_sees() {
    init_tracing();
    let server = TestServer::builder().start().await.expect("server starts");
    let service = ServiceBuilder::new().concurrency_limit(3).service(client());
    let url = server.url("/delay/20");
    let calls = (0..30).map(|_| {
        let mut service = service.clone();
        let request = get(&url);
        async move {
            let response: plexus::Response = service.ready().await?.call(request).await?;
            response.bytes().await
        }
    });
    let bodies = futures_util::future::try_join_all(calls)
        .await
        .expect("every request succeeds");
    assert!(bodies.iter().all(|b| &b[..] == b"Hello, World!"));
    let stats = server.stats();
    assert_eq!(stats.requests, 30, "{stats:?}");
    assert_eq!(stats.tcp_connections, 1, "{stats:?}");
    assert!(stats.peak_streams <= 3, "the layer's limit held: {stats:?}");
    assert!(
        stats.peak_streams >= 2,
        "requests still overlapped: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_layer_cancels_and_the_client_carries_on() {
    init_tracing();
    let server = TestServer::builder().start().await.expect("server starts");
    let client = client();
    let slow = ServiceBuilder::new()
        .timeout(Duration::from_millis(100))
        .service(client.clone())
        .oneshot(get(&server.url("/delay/2000")))
        .await
        .expect_err("too slow");
    assert!(
        slow.downcast_ref::<tower::timeout::error::Elapsed>()
            .is_some(),
        "{slow}"
    );
    let fine = client
        .clone()
        .oneshot(get(&server.url("/")))
        .await
        .expect("response");
    assert_eq!(fine.status(), 200);
    assert_eq!(
        server.stats().tcp_connections,
        1,
        "the cancelled stream left the connection usable"
    );
}
