//! Redirects: followed per the policy, methods and bodies per the status, credentials kept
//! to their origin, loops and long chains refused — counted on the servers.

use plexus::redirect::Policy;
use plexus::{Body, ErrorKind};
use plexus_testkit::peers::{self, NginxOptions};
use plexus_testkit::TestServer;
use plexus_tests::{assert_still_usable, client, client_builder, init_tracing};

/// `/inspect`'s answer: the method and target line, then `name: value` lines, then the
/// body length.
async fn inspected(response: plexus::Response) -> String {
    assert_eq!(response.status(), 200, "{:?}", response.url());
    String::from_utf8(response.bytes().await.expect("body").to_vec()).expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_is_followed_over_one_connection_and_reported() {
    init_tracing();
    for http1 in [false, true] {
        let server = TestServer::builder().start().await.expect("server starts");
        let client = if http1 {
            client_builder().http1_only().build().expect("client")
        } else {
            client()
        };
        let start = server.url("/redirect/301?to=/redirect/302?to=/redirect/307?to=/inspect");
        let response = client.get(&start).send().await.expect("response");
        let chain: Vec<String> = response.redirects().iter().map(|u| u.to_string()).collect();
        assert_eq!(
            chain,
            [
                start.clone(),
                server.url("/redirect/302?to=/redirect/307?to=/inspect"),
                server.url("/redirect/307?to=/inspect"),
            ],
            "http1 {http1}"
        );
        assert_eq!(response.url().to_string(), server.url("/inspect"));
        assert!(inspected(response).await.starts_with("GET /inspect\n"));
        let stats = server.stats();
        assert_eq!(stats.requests, 4, "{stats:?}");
        // Each redirect's body was read, so even HTTP/1.1 kept its one connection.
        assert_eq!(stats.tcp_connections, 1, "http1 {http1}: {stats:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_and_bodies_follow_the_status() {
    init_tracing();
    let server = TestServer::builder().start().await.expect("server starts");
    let client = client();
    for (status, method, body) in [
        (301, "GET", 0),
        (302, "GET", 0),
        (303, "GET", 0),
        (307, "POST", 5),
        (308, "POST", 5),
    ] {
        let response = client
            .post(server.url(&format!("/redirect/{status}?to=/inspect")))
            .header("content-type", "text/plain")
            .body("hello")
            .send()
            .await
            .expect("response");
        let seen = inspected(response).await;
        assert!(
            seen.starts_with(&format!("{method} /inspect\n")),
            "{status}: {seen}"
        );
        assert!(
            seen.contains(&format!("body: {body} bytes")),
            "{status}: {seen}"
        );
        assert_eq!(
            seen.contains("content-type: text/plain"),
            body > 0,
            "{status}: {seen}"
        );
    }
    // A streamed body cannot be sent twice: the 307 itself is the answer.
    let stream = Body::wrap_stream(futures_util::stream::iter([Ok::<_, std::io::Error>(
        bytes::Bytes::from_static(b"streamed"),
    )]));
    let response = client
        .post(server.url("/redirect/307?to=/inspect"))
        .body(stream)
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 307);
    assert!(response.redirects().is_empty());
    assert_eq!(
        server.stats().requests,
        5 * 2 + 1,
        "no /inspect after the 307"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_stay_with_their_origin() {
    init_tracing();
    let first = TestServer::builder().start().await.expect("server starts");
    let second = TestServer::builder().start().await.expect("server starts");
    let client = client();
    let send = |url: String| {
        client
            .get(url)
            .header("authorization", "Bearer secret")
            .header("cookie", "session=1")
            .header("x-trace", "kept")
            .send()
    };
    // Within the origin: everything kept.
    let same = send(first.url("/redirect/302?to=/inspect"))
        .await
        .expect("response");
    let seen = inspected(same).await;
    assert!(seen.contains("authorization: Bearer secret"), "{seen}");
    assert!(seen.contains("cookie: session=1"), "{seen}");
    // To another origin (another port): the credentials are dropped, the rest kept.
    let elsewhere = second.url("/inspect");
    let other = send(first.url(&format!("/redirect/302?to={elsewhere}")))
        .await
        .expect("response");
    assert_eq!(other.url().to_string(), elsewhere);
    let seen = inspected(other).await;
    assert!(!seen.contains("authorization"), "{seen}");
    assert!(!seen.contains("cookie"), "{seen}");
    assert!(seen.contains("x-trace: kept"), "{seen}");
    assert_eq!(second.stats().requests, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loops_and_long_chains_are_errors_and_the_client_carries_on() {
    init_tracing();
    let server = TestServer::builder().start().await.expect("server starts");
    let client = client_builder()
        .redirect(Policy::limited(2))
        .build()
        .expect("client");

    // `/redirect/302` without a target points at itself.
    let looped = client
        .get(server.url("/redirect/302"))
        .send()
        .await
        .expect_err("a loop");
    assert_eq!(looped.kind(), ErrorKind::Redirect);
    assert!(looped.to_string().contains("loop"), "{looped}");
    assert_eq!(
        server.stats().requests,
        1,
        "the loop was seen before a second request"
    );

    let long = server.url("/redirect/302?to=/redirect/302?to=/redirect/302?to=/inspect");
    let too_many = client.get(&long).send().await.expect_err("three redirects");
    assert_eq!(too_many.kind(), ErrorKind::Redirect);
    assert!(
        too_many.to_string().contains("too many redirects"),
        "{too_many}"
    );
    assert_eq!(server.stats().requests, 1 + 3);

    // Per request, the limit can be lifted or following turned off.
    let followed = client
        .get(&long)
        .redirect(Policy::limited(3))
        .send()
        .await
        .expect("three redirects allowed");
    assert_eq!(followed.redirects().len(), 3);
    inspected(followed).await;
    let unfollowed = client
        .get(&long)
        .redirect(Policy::none())
        .send()
        .await
        .expect("the redirect itself");
    assert_eq!(unfollowed.status(), 302);
    assert_eq!(
        unfollowed.headers()["location"],
        "/redirect/302?to=/redirect/302?to=/inspect"
    );
    assert_eq!(server.stats().requests, 1 + 3 + 4 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_location_elsewhere_than_http_is_a_typed_error() {
    init_tracing();
    let server = TestServer::builder().start().await.expect("server starts");
    let client = client();
    let ftp = client
        .get(server.url("/redirect/302?to=ftp://localhost/file"))
        .send()
        .await
        .expect_err("ftp");
    assert_eq!(ftp.kind(), ErrorKind::UnsupportedScheme);
    let hostless = client
        .get(server.url("/redirect/302?to=https:///nowhere"))
        .send()
        .await
        .expect_err("no host");
    assert_eq!(hostless.kind(), ErrorKind::InvalidUrl);
    assert_still_usable(&client, &server.url("/")).await;
}

/// nginx's own redirects: `/moved` answers 301 to `/moved-again`, which answers 308 to
/// `/hello.txt`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_redirects_are_followed() {
    init_tracing();
    let nginx = peers::nginx(NginxOptions::default())
        .await
        .expect("nginx starts");
    let response = client()
        .get(nginx.url("/moved"))
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    assert_eq!(response.redirects().len(), 2, "{:?}", response.redirects());
    assert_eq!(response.url().path(), "/hello.txt");
    assert_eq!(
        &response.bytes().await.expect("body")[..],
        plexus_testkit::routes::HELLO
    );
    let log = nginx.settled_log().await;
    assert_eq!(log.requests, 3, "{log:?}");
    assert_eq!(log.connections, 1, "{log:?}");
}
