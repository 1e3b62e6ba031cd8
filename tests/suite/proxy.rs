//! Proxies: connections tunnelled with `CONNECT` through the testkit's proxy and through
//! tinyproxy, h2 still multiplexed inside one tunnel, credentials, `NO_PROXY`, HTTP/3
//! kept off the proxied path, and broken proxies turned into typed errors — counted on
//! the proxies and on the servers.

use futures_util::future::join_all;
use plexus::{ErrorKind, Http3Mode, NoProxy, Protocol, Proxy};
use plexus_testkit::{peers, ConnectProxy, TestServer};
use plexus_tests::{client_builder, init_tracing};

fn proxied(proxy: Proxy) -> plexus::Client {
    client_builder().proxy(proxy).build().expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_multiplexes_many_requests_through_one_tunnel() {
    init_tracing();
    let server = TestServer::builder().start().await.expect("server");
    let proxy = ConnectProxy::start().await.expect("proxy");
    let client = proxied(Proxy::all(&proxy.url()).expect("proxy url"));
    let responses =
        join_all((0..40).map(|i| client.get(server.url(&format!("/delay/50?i={i}"))).send())).await;
    for r in responses {
        let r = r.expect("response");
        assert_eq!(r.status(), 200);
        let info = &r.record().connection;
        assert_eq!(info.protocol, Protocol::Http2);
        assert_eq!(
            info.proxy.as_deref(),
            Some(proxy.addr().to_string().as_str())
        );
        assert_eq!(info.remote_addr, proxy.addr());
    }
    let stats = server.stats();
    assert_eq!(stats.requests, 40, "{stats:?}");
    assert_eq!(stats.tcp_connections, 1, "{stats:?}");
    assert!(
        stats.peak_streams > 1,
        "streams were multiplexed: {stats:?}"
    );
    assert_eq!(
        proxy.stats().tunnels,
        [format!("localhost:{}", server.port())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tinyproxy_carries_h2_and_http1_origins_with_credentials() {
    init_tracing();
    let proxy = peers::tinyproxy(Some(("alice", "s3cret")))
        .await
        .expect("tinyproxy");
    let url = proxy.url().replace("http://", "http://alice:s3cret@");
    let client = proxied(Proxy::all(&url).expect("proxy url"));

    let tls = TestServer::builder().start().await.expect("server");
    let plain = TestServer::builder()
        .cleartext()
        .start()
        .await
        .expect("server");
    let h2 =
        join_all((0..20).map(|i| client.get(tls.url(&format!("/delay/20?i={i}"))).send())).await;
    for r in h2 {
        let r = r.expect("h2 response through tinyproxy");
        assert_eq!(r.record().connection.protocol, Protocol::Http2);
        r.bytes().await.expect("body");
    }
    for i in 0..5 {
        let r = client
            .get(plain.url(&format!("/hello?i={i}")))
            .send()
            .await
            .expect("HTTP/1.1 response through tinyproxy");
        assert_eq!(r.record().connection.protocol, Protocol::Http1);
        r.bytes().await.expect("body");
    }
    let (tls_stats, plain_stats) = (tls.stats(), plain.stats());
    assert_eq!(
        (tls_stats.requests, tls_stats.tcp_connections),
        (20, 1),
        "{tls_stats:?}"
    );
    // Keep-alive through the tunnel: one connection for the five.
    assert_eq!(
        (plain_stats.requests, plain_stats.tcp_connections),
        (5, 1),
        "{plain_stats:?}"
    );
    let mut tunnels = proxy.connect_requests();
    tunnels.sort();
    let mut expected = vec![
        format!("localhost:{}", tls.port()),
        format!("localhost:{}", plain.port()),
    ];
    expected.sort();
    assert_eq!(tunnels, expected);

    // Wrong credentials: a typed error, the origin never reached.
    let wrong = proxied(
        Proxy::all(&proxy.url())
            .expect("proxy url")
            .basic_auth("alice", "wrong"),
    );
    let e = wrong
        .get(tls.url("/hello"))
        .send()
        .await
        .expect_err("refused");
    assert_eq!(e.kind(), ErrorKind::Proxy, "{e}");
    assert!(e.to_string().contains("refused the credentials"), "{e}");
    assert_eq!(tls.stats().tcp_connections, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_proxy_wraps_the_origins_tls_in_its_own() {
    init_tracing();
    let server = TestServer::builder().start().await.expect("server");
    let plain = TestServer::builder()
        .cleartext()
        .start()
        .await
        .expect("server");
    let proxy = ConnectProxy::builder()
        .tls()
        .basic_auth("bob", "pw")
        .start()
        .await
        .expect("proxy");
    assert!(proxy.url().starts_with("https://"));
    let client = proxied(
        Proxy::all(&proxy.url())
            .expect("proxy url")
            .basic_auth("bob", "pw"),
    );
    for url in [server.url("/hello"), plain.url("/hello")] {
        let r = client
            .get(&url)
            .send()
            .await
            .expect("response via https proxy");
        assert_eq!(r.status(), 200, "{url}");
        r.bytes().await.expect("body");
    }
    assert_eq!(proxy.stats().tunnels.len(), 2, "{:?}", proxy.stats());
    assert_eq!(server.stats().tls_handshakes, 1);
    assert_eq!(plain.stats().requests, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_credentials_and_broken_proxies_are_proxy_errors() {
    init_tracing();
    let server = TestServer::builder().start().await.expect("server");
    let guarded = ConnectProxy::builder()
        .basic_auth("carol", "pw")
        .start()
        .await
        .expect("proxy");
    let e = proxied(Proxy::all(&guarded.url()).expect("url"))
        .get(server.url("/hello"))
        .send()
        .await
        .expect_err("no credentials");
    assert_eq!(e.kind(), ErrorKind::Proxy);
    assert!(e.to_string().contains("wants credentials"), "{e}");
    assert_eq!(guarded.stats().auth_refused, 1);

    for answer in [
        &b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\n\r\nunexpected bytes",
        b"220 smtp.example ESMTP\r\n\r\n",
        b"",
    ] {
        let broken = ConnectProxy::builder()
            .canned_answer(answer)
            .start()
            .await
            .expect("proxy");
        let e = proxied(Proxy::all(&broken.url()).expect("url"))
            .get(server.url("/hello"))
            .send()
            .await
            .expect_err("broken proxy");
        assert_eq!(e.kind(), ErrorKind::Proxy, "{answer:?}: {e}");
    }
    // A proxy that is not there: a connect error that names the proxy.
    let port = peers::free_port().expect("port");
    let e = proxied(Proxy::all(&format!("http://127.0.0.1:{port}")).expect("url"))
        .get(server.url("/hello"))
        .send()
        .await
        .expect_err("no proxy listening");
    assert_eq!(e.kind(), ErrorKind::Connect, "{e}");
    assert!(
        e.to_string().contains(&format!("proxy 127.0.0.1:{port}")),
        "{e}"
    );
    assert_eq!(
        server.stats().tcp_connections,
        0,
        "the origin was never reached"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_proxy_hosts_go_direct_and_h3_stays_off_the_proxied_path() {
    init_tracing();
    let server = TestServer::builder()
        .h3()
        .alt_svc()
        .start()
        .await
        .expect("server");
    let proxy = ConnectProxy::start().await.expect("proxy");
    let client = client_builder()
        .proxy(
            Proxy::https(&proxy.url())
                .expect("url")
                .no_proxy(NoProxy::from_list("localhost")),
        )
        .http3(Http3Mode::PriorKnowledge)
        .build()
        .expect("client");
    // 127.0.0.1 is proxied: TCP only, although h3 is asked for by prior knowledge.
    for _ in 0..3 {
        let r = client
            .get(server.ip_url("/hello"))
            .send()
            .await
            .expect("proxied");
        assert_eq!(r.record().connection.protocol, Protocol::Http2);
        r.bytes().await.expect("body");
    }
    assert_eq!(proxy.stats().tunnels.len(), 1);
    assert_eq!(server.stats().quic_connections, 0);
    // localhost is on the NO_PROXY list: direct, and free to race QUIC.
    let r = client
        .get(server.url("/hello"))
        .send()
        .await
        .expect("direct");
    assert!(r.record().connection.proxy.is_none());
    assert_eq!(proxy.stats().tunnels.len(), 1, "no new tunnel");
}
