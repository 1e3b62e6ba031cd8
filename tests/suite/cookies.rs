//! Cookies (feature `cookies`): what a server sets comes back to it, across connections,
//! protocols and redirect hops, and to no other host — read back on the server with
//! `/inspect`, and in Caddy's access log.

use std::sync::Arc;

use plexus::cookie::Jar;
use plexus_testkit::{peers, TestServer};
use plexus_tests::{client, client_builder, init_tracing};

/// The cookies of the `cookie:` line `/inspect` saw, sorted (a jar's order is its own),
/// if any.
async fn cookie_seen(client: &plexus::Client, url: &str) -> Option<String> {
    let response = client.get(url).send().await.expect("response");
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("body");
    text.lines()
        .find_map(|l| l.strip_prefix("cookie: "))
        .map(|line| {
            let mut pairs: Vec<&str> = line.split("; ").collect();
            pairs.sort();
            pairs.join("; ")
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_cookies_come_back_to_their_host_only() {
    init_tracing();
    let server = TestServer::builder().start().await.expect("server");
    let jar = Arc::new(Jar::new());
    let with_jar = client_builder()
        .cookie_provider(Arc::clone(&jar))
        .build()
        .expect("client");
    let set = with_jar
        .get(server.url("/set-cookie?session=abc;%20Path=/;%20HttpOnly&lang=en;%20Path=/"))
        .send()
        .await
        .expect("response");
    assert_eq!(set.status(), 200);
    assert_eq!(
        cookie_seen(&with_jar, &server.url("/inspect"))
            .await
            .as_deref(),
        Some("lang=en; session=abc")
    );
    // The jar is shared: a second client sends them too, over HTTP/1.1.
    let second = client_builder()
        .http1_only()
        .cookie_provider(Arc::clone(&jar))
        .build()
        .expect("client");
    assert_eq!(
        cookie_seen(&second, &server.url("/inspect"))
            .await
            .as_deref(),
        Some("lang=en; session=abc")
    );
    // Another host (127.0.0.1 is not localhost) gets none; a client without a jar none.
    assert_eq!(
        cookie_seen(&with_jar, &server.ip_url("/inspect")).await,
        None
    );
    assert_eq!(cookie_seen(&client(), &server.url("/inspect")).await, None);
    // A request's own Cookie header wins.
    let own = with_jar
        .get(server.url("/inspect"))
        .header("cookie", "mine=1")
        .send()
        .await
        .expect("response")
        .text()
        .await
        .expect("body");
    assert!(own.contains("cookie: mine=1\n"), "{own}");
    // Max-Age=0 deletes.
    with_jar
        .get(server.url("/set-cookie?lang=;%20Path=/;%20Max-Age=0"))
        .send()
        .await
        .expect("response");
    assert_eq!(
        cookie_seen(&with_jar, &server.url("/inspect"))
            .await
            .as_deref(),
        Some("session=abc")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_that_sets_a_cookie_sends_it_on_the_next_hop() {
    init_tracing();
    let server = TestServer::builder().start().await.expect("server");
    let client = client_builder().cookie_store(true).build().expect("client");
    // A login: the 302 sets the session and sends the client on.
    let login = server.url("/set-cookie?session=xyz;%20Path=/&location=/inspect");
    let response = client.get(&login).send().await.expect("response");
    assert_eq!(response.redirects().len(), 1);
    let text = response.text().await.expect("body");
    assert!(text.contains("cookie: session=xyz\n"), "{text}");
    // Cookies are per host, not per port: the session of the TLS server on localhost
    // goes to this cleartext one too; and so does the Secure cookie, as loopback counts
    // as a secure context (as in browsers; the jar's unit test has Secure withheld from
    // http:// to another host).
    let plain = TestServer::builder()
        .cleartext()
        .start()
        .await
        .expect("server");
    client
        .get(plain.url("/set-cookie?s=1;%20Secure;%20Path=/&p=2;%20Path=/"))
        .send()
        .await
        .expect("response");
    assert_eq!(
        cookie_seen(&client, &plain.url("/inspect"))
            .await
            .as_deref(),
        Some("p=2; s=1; session=xyz")
    );
    assert_eq!(server.stats().requests, 2);
}

/// Caddy sets a cookie on one file; the client sends it with every later request to
/// Caddy, over h2 (then h3, after Caddy's Alt-Svc) and over HTTP/1.1, and with none
/// before — as Caddy's own log shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddys_cookie_comes_back_to_caddy() {
    init_tracing();
    let caddy = peers::caddy().await.expect("caddy starts");
    let jar = Arc::new(Jar::new());
    for http1 in [false, true] {
        let builder = client_builder().cookie_provider(Arc::clone(&jar));
        let client = if http1 { builder.http1_only() } else { builder }
            .build()
            .expect("client");
        for path in [peers::HELLO_PATH, peers::SET_COOKIE_PATH, peers::HELLO_PATH] {
            let r = client.get(caddy.url(path)).send().await.expect("response");
            assert_eq!(r.status(), 200, "{path}");
            r.bytes().await.expect("body");
        }
    }
    let log = caddy.log_of(6).await;
    // h2 moves to h3 once Caddy's Alt-Svc is heard: the jar serves every protocol.
    assert!(
        log.protocols.contains(&"HTTP/1.1".to_string()) && log.protocols.len() >= 2,
        "{log:?}"
    );
    assert_eq!(
        log.cookies,
        [
            "",
            "",
            "peer=caddy",
            "peer=caddy",
            "peer=caddy",
            "peer=caddy"
        ],
        "{log:?}"
    );
}
