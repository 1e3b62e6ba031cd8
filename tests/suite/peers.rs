//! Test 7: plexus against real third-party servers (installed by ./scripts/test), 1,000
//! GETs with 100 in parallel each, counted from the servers' own logs.

use plexus::{Http3Mode, Protocol};
use plexus_testkit::peers::{self, NginxOptions, HELLO_PATH};
use plexus_tests::{client, client_builder, gets_in_parallel, init_tracing};

const TOTAL: usize = 1000;
const PARALLEL: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_h2_one_connection() {
    init_tracing();
    let caddy = peers::caddy().await.expect("caddy starts");
    // Caddy advertises HTTP/3; this test is about h2 by ALPN.
    let client = client_builder()
        .http3(Http3Mode::Off)
        .build()
        .expect("client");
    let records = gets_in_parallel(&client, &caddy.url(HELLO_PATH), TOTAL, PARALLEL)
        .await
        .expect("no request failed");
    assert!(records
        .iter()
        .all(|r| r.connection.protocol == Protocol::Http2));
    let log = caddy.settled_log().await;
    assert_eq!(log.requests, TOTAL as u64, "{log:?}");
    assert_eq!(log.connections, 1, "{log:?}");
    assert_eq!(log.protocols, vec!["HTTP/2.0"]);
}

/// Issue 3, test 7: the Alt-Svc path: the first request over h2 learns the peer's
/// `Alt-Svc: h3`, the following ones go over HTTP/3 (both counted in the peer's log).
async fn alt_svc_upgrades_to_h3(peer: &peers::Peer, later: usize, protocols: [&str; 2]) {
    let client = client();
    let first = client
        .get(peer.url(HELLO_PATH))
        .send()
        .await
        .expect("first request");
    assert_eq!(first.version(), http::Version::HTTP_2);
    assert!(
        first.headers().contains_key("alt-svc"),
        "{:?}",
        first.headers()
    );
    first.bytes().await.expect("body");
    let records = gets_in_parallel(&client, &peer.url(HELLO_PATH), later, PARALLEL)
        .await
        .expect("no request failed");
    assert!(records
        .iter()
        .all(|r| r.connection.protocol == Protocol::Http3));
    let log = peer.settled_log().await;
    assert_eq!(log.requests, later as u64 + 1, "{}: {log:?}", peer.name());
    assert_eq!(log.protocols, protocols, "{}: {log:?}", peer.name());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_alt_svc_upgrades_to_h3() {
    init_tracing();
    let caddy = peers::caddy().await.expect("caddy starts");
    alt_svc_upgrades_to_h3(&caddy, 500, ["HTTP/2.0", "HTTP/3.0"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_http1_by_alpn() {
    init_tracing();
    let caddy = peers::caddy().await.expect("caddy starts");
    let client = client_builder().http1_only().build().expect("client");
    let records = gets_in_parallel(&client, &caddy.url(HELLO_PATH), TOTAL, PARALLEL)
        .await
        .expect("no request failed");
    assert!(records
        .iter()
        .all(|r| r.connection.protocol == Protocol::Http1));
    let log = caddy.settled_log().await;
    assert_eq!(log.requests, TOTAL as u64, "{log:?}");
    assert!(log.connections <= 6, "the pool limit: {log:?}");
    assert_eq!(log.protocols, vec!["HTTP/1.1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nghttpd_with_four_streams() {
    init_tracing();
    let nghttpd = peers::nghttpd(4).await.expect("nghttpd starts");
    gets_in_parallel(&client(), &nghttpd.url(HELLO_PATH), TOTAL, PARALLEL)
        .await
        .expect("no request failed");
    let log = nghttpd.settled_log().await;
    assert_eq!(log.requests, TOTAL as u64, "{log:?}");
    assert_eq!(log.connections, 1, "{log:?}");
    let peak = log.peak_streams.expect("nghttpd counts streams");
    assert!(
        (2..=4).contains(&peak),
        "at most 4 streams, and more than 1: {log:?}"
    );
    assert_eq!(log.resets_sent, Some(0), "no stream refused: {log:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_h2_one_connection() {
    init_tracing();
    let nginx = peers::nginx(NginxOptions::default())
        .await
        .expect("nginx starts");
    gets_in_parallel(&client(), &nginx.url(HELLO_PATH), TOTAL, PARALLEL)
        .await
        .expect("no request failed");
    let log = nginx.settled_log().await;
    assert_eq!(log.requests, TOTAL as u64, "{log:?}");
    assert_eq!(log.connections, 1, "{log:?}");
    assert_eq!(log.protocols, vec!["HTTP/2.0"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_h2_keepalive_requests_goaway() {
    init_tracing();
    let nginx = peers::nginx(NginxOptions {
        keepalive_requests: 50,
        ..NginxOptions::default()
    })
    .await
    .expect("nginx starts");
    let records = gets_in_parallel(&client(), &nginx.url(HELLO_PATH), TOTAL, PARALLEL)
        .await
        .expect("no request failed");
    let log = nginx.settled_log().await;
    // nginx logs each request it processed: exactly 1,000 means none was lost and none
    // processed twice, although nginx ended a connection every 50 requests.
    assert_eq!(log.requests, TOTAL as u64, "{log:?}");
    assert!(log.max_requests_per_connection <= 50, "{log:?}");
    assert!(log.connections >= TOTAL / 50, "{log:?}");
    let retried = records.iter().filter(|r| !r.retries.is_empty()).count();
    let most = records.iter().map(|r| r.attempts).max().unwrap_or(0);
    println!(
        "nginx h2 keepalive_requests 50: {log:?}, {retried} requests retried, at most {most} attempts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_http1_keepalive_requests_close() {
    init_tracing();
    let nginx = peers::nginx(NginxOptions {
        keepalive_requests: 50,
        ..NginxOptions::default()
    })
    .await
    .expect("nginx starts");
    let client = client_builder().http1_only().build().expect("client");
    gets_in_parallel(&client, &nginx.url(HELLO_PATH), TOTAL, PARALLEL)
        .await
        .expect("no request failed");
    let log = nginx.settled_log().await;
    assert_eq!(log.requests, TOTAL as u64, "{log:?}");
    assert!(log.max_requests_per_connection <= 50, "{log:?}");
    assert!(log.connections >= TOTAL / 50, "{log:?}");
    assert_eq!(log.protocols, vec!["HTTP/1.1"]);
}

/// Issue 3, test 7: a third-party HTTP/3 server serves 500 GETs (100 in parallel) and a
/// 10 MiB file with the right bytes, over h3 on one connection, counted from its log.
async fn h3_peer_serves(peer: &peers::Peer) {
    let client = client_builder()
        .http3(Http3Mode::Only)
        .build()
        .expect("client");
    let records = gets_in_parallel(&client, &peer.url(HELLO_PATH), 500, PARALLEL)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", peer.name()));
    assert!(records
        .iter()
        .all(|r| r.connection.protocol == Protocol::Http3));
    let mut big = client
        .get(peer.url(peers::TEN_MIB_PATH))
        .send()
        .await
        .expect("10 MiB over h3");
    assert_eq!(big.version(), http::Version::HTTP_3);
    let mut offset = 0u64;
    while let Some(chunk) = big.chunk().await.expect("chunk") {
        assert!(
            chunk
                .iter()
                .enumerate()
                .all(|(i, b)| *b == plexus_testkit::routes::pattern_byte(offset + i as u64)),
            "{}: wrong bytes near offset {offset}",
            peer.name()
        );
        offset += chunk.len() as u64;
    }
    assert_eq!(offset, 10 * 1024 * 1024);
    let log = peer.settled_log().await;
    assert_eq!(log.requests, 501, "{}: {log:?}", peer.name());
    assert_eq!(log.connections, 1, "{}: {log:?}", peer.name());
    assert!(
        log.protocols.iter().all(|p| p.starts_with("HTTP/3")),
        "{log:?}"
    );
    assert_eq!(client.snapshot()[0].connections_opened, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aioquic_h3() {
    init_tracing();
    h3_peer_serves(&peers::aioquic().await.expect("aioquic starts")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ngtcp2_h3() {
    init_tracing();
    h3_peer_serves(&peers::ngtcp2().await.expect("ngtcp2 starts")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hypercorn_h3() {
    init_tracing();
    h3_peer_serves(&peers::hypercorn().await.expect("hypercorn starts")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_h3() {
    init_tracing();
    h3_peer_serves(&peers::caddy().await.expect("caddy starts")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hypercorn_alt_svc_upgrades_to_h3() {
    init_tracing();
    let hypercorn = peers::hypercorn().await.expect("hypercorn starts");
    alt_svc_upgrades_to_h3(&hypercorn, 200, ["HTTP/2", "HTTP/3"]).await;
}

/// Uploads into nghttpd's small receive windows (`-w 14 -W 15`: 16 KiB per stream, 32 KiB
/// per connection): eight 300 KiB POSTs at once wait for its WINDOW_UPDATEs and arrive
/// whole, counted from the DATA frames the server logged.
///
/// A GET goes first, so that the server's SETTINGS have been processed. Without it, the
/// first POST may fill the default 64 KiB stream window before the client has read the
/// server's smaller SETTINGS_INITIAL_WINDOW_SIZE, which RFC 9113 §6.9.2 allows, and
/// nghttp2 1.52 resets that stream with FLOW_CONTROL_ERROR (seen here one run in three).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nghttpd_small_windows_take_whole_uploads() {
    init_tracing();
    const BODY: usize = 300 * 1024;
    const POSTS: usize = 8;
    let nghttpd = peers::nghttpd_with(peers::NghttpdOptions {
        window_bits: Some(14),
        connection_window_bits: Some(15),
        ..peers::NghttpdOptions::default()
    })
    .await
    .expect("nghttpd starts");
    let client = client();
    let url = nghttpd.url(HELLO_PATH);
    let first = client.get(&url).send().await.expect("the first GET");
    assert_eq!(first.status(), 200);
    first.bytes().await.expect("its body");
    let posts = (0..POSTS).map(|i| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let response = client.post(&url).body(vec![i as u8; BODY]).send().await?;
            assert_eq!(response.status(), 200);
            response.bytes().await
        }
    });
    for result in futures_util::future::join_all(posts).await {
        result.expect("every upload succeeds");
    }
    let log = nghttpd.settled_log().await;
    assert_eq!(log.requests, POSTS as u64 + 1, "{log:?}");
    assert_eq!(log.connections, 1, "{log:?}");
    assert_eq!(log.data_received, Some((POSTS * BODY) as u64), "{log:?}");
    // Each stream's 300 KiB passed through a 16 KiB window many times over.
    let updates = log.window_updates_sent.expect("nghttpd logs frames");
    assert!(updates >= (POSTS * BODY / (32 * 1024)) as u64, "{log:?}");
}
