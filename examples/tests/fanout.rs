//! The fan-out loop behind `examples/fanout.rs`: bounded concurrency over one shared
//! client, one connection per origin (counted by the servers), errors kept by kind.

use plexus_examples::{demo_client_builder, demo_server, fanout};
use std::sync::atomic::{AtomicUsize, Ordering};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_summarises_each_origin() {
    let first = demo_server().await.expect("server");
    let second = demo_server().await.expect("server");
    // A port with nothing listening, and a URL that names no origin.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut urls: Vec<String> = (0..120)
        .map(|i| first.url(&format!("/delay/{}", i % 5)))
        .collect();
    urls.extend((0..30).map(|_| second.url("/")));
    urls.push(format!("https://127.0.0.1:{closed}/"));
    urls.push("not a url".to_string());
    let client = demo_client_builder()
        .expect("builder")
        .build()
        .expect("client");
    let done = AtomicUsize::new(0);
    let summaries = fanout(&client, urls, 16, || {
        done.fetch_add(1, Ordering::Relaxed);
    })
    .await;
    assert_eq!(done.load(Ordering::Relaxed), 152);
    assert_eq!(summaries.len(), 4, "{summaries:#?}");
    let of = |origin: &str| {
        summaries
            .iter()
            .find(|s| s.origin == origin)
            .unwrap_or_else(|| panic!("{origin} in {summaries:#?}"))
    };
    let a = of(&format!("https://localhost:{}", first.addr().port()));
    assert_eq!((a.responses, a.connections), (120, 1), "{a:?}");
    assert_eq!(a.protocols, ["HTTP/2.0"]);
    assert!(a.p50 <= a.p99 && !a.p99.is_zero(), "{a:?}");
    let b = of(&format!("https://localhost:{}", second.addr().port()));
    assert_eq!((b.responses, b.connections), (30, 1), "{b:?}");
    assert!(a.errors.is_empty() && b.errors.is_empty());
    assert_eq!(first.stats().tcp_connections, 1);
    assert_eq!(first.stats().requests, 120);
    assert!(first.stats().peak_streams <= 16, "the loop's bound held");
    let refused = of(&format!("https://127.0.0.1:{closed}"));
    assert_eq!(refused.errors.get("Connect"), Some(&1), "{refused:?}");
    let invalid = of("not a url");
    assert_eq!(invalid.errors.get("InvalidUrl"), Some(&1), "{invalid:?}");
}
