//! What users of reqwest expect on a request and a response: JSON, forms, query strings,
//! Bearer and Basic credentials, default headers and the user agent — checked by what
//! the server received.

use plexus::ErrorKind;
use plexus_testkit::TestServer;
use plexus_tests::{client, client_builder, init_tracing};
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Order {
    id: u64,
    items: Vec<String>,
    note: Option<String>,
}

async fn text(response: plexus::Response) -> String {
    assert_eq!(response.status(), 200);
    response.text().await.expect("body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_goes_out_and_comes_back() {
    init_tracing();
    let server = TestServer::builder().start().await.expect("server starts");
    let client = client();
    let order = Order {
        id: 7,
        items: vec!["tea".into(), "cake \"large\"".into()],
        note: None,
    };
    let echoed: Order = client
        .post(server.url("/echo"))
        .json(&order)
        .send()
        .await
        .expect("response")
        .json()
        .await
        .expect("the same JSON back");
    assert_eq!(echoed, order);
    let seen = text(
        client
            .post(server.url("/inspect"))
            .json(&order)
            .send()
            .await
            .expect("response"),
    )
    .await;
    assert!(seen.contains("content-type: application/json\n"), "{seen}");
    let body = serde_json::to_vec(&order).expect("json");
    assert!(
        seen.contains(&format!("body: {} bytes", body.len())),
        "{seen}"
    );

    // Not JSON, or not this JSON: a decode error, and the client carries on.
    let not_json = client
        .get(server.url("/"))
        .send()
        .await
        .expect("response")
        .json::<Order>()
        .await
        .expect_err("Hello, World! is no JSON");
    assert_eq!(not_json.kind(), ErrorKind::Decode);
    assert_eq!(
        text(client.get(server.url("/")).send().await.expect("response")).await,
        "Hello, World!"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_and_queries_are_url_encoded() {
    init_tracing();
    let server = TestServer::builder().start().await.expect("server starts");
    let client = client();
    let form = [("name", "Zoë & co"), ("q", "a+b=c")];
    let echoed = text(
        client
            .post(server.url("/echo"))
            .form(&form)
            .send()
            .await
            .expect("response"),
    )
    .await;
    assert_eq!(echoed, "name=Zo%C3%AB+%26+co&q=a%2Bb%3Dc");
    let seen = text(
        client
            .post(server.url("/inspect"))
            .form(&form)
            .send()
            .await
            .expect("response"),
    )
    .await;
    assert!(
        seen.contains("content-type: application/x-www-form-urlencoded\n"),
        "{seen}"
    );
    // A query is added after the URL's own.
    let response = client
        .get(server.url("/inspect?page=2"))
        .query(&[("sort", "new first"), ("tag", "ä")])
        .send()
        .await
        .expect("response");
    assert_eq!(
        response.url().query(),
        Some("page=2&sort=new+first&tag=%C3%A4")
    );
    let seen = text(response).await;
    assert!(
        seen.starts_with("GET /inspect?page=2&sort=new+first&tag=%C3%A4\n"),
        "{seen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_and_basic_credentials_reach_the_server() {
    init_tracing();
    let server = TestServer::builder().start().await.expect("server starts");
    let client = client();
    let seen = text(
        client
            .get(server.url("/inspect"))
            .bearer_auth("t0k.en")
            .send()
            .await
            .expect("response"),
    )
    .await;
    assert!(seen.contains("authorization: Bearer t0k.en\n"), "{seen}");
    for (password, encoded) in [(Some("pw"), "dXNlcjpwdw=="), (None, "dXNlcjo=")] {
        let seen = text(
            client
                .get(server.url("/inspect"))
                .basic_auth("user", password)
                .send()
                .await
                .expect("response"),
        )
        .await;
        assert!(
            seen.contains(&format!("authorization: Basic {encoded}\n")),
            "{seen}"
        );
    }
    // A token that cannot be a header value is an error before anything is sent.
    let bad = client
        .get(server.url("/inspect"))
        .bearer_auth("line\nbreak")
        .send()
        .await
        .expect_err("invalid");
    assert_eq!(bad.kind(), ErrorKind::InvalidRequest);
    assert_eq!(server.stats().requests, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_headers_and_the_user_agent_reach_the_server() {
    init_tracing();
    let server = TestServer::builder().start().await.expect("server starts");
    let seen = |client: plexus::Client, own: Option<(&'static str, &'static str)>| {
        let url = server.url("/inspect");
        async move {
            let mut request = client.get(url);
            if let Some((n, v)) = own {
                request = request.header(n, v);
            }
            text(request.send().await.expect("response")).await
        }
    };
    let plain = seen(client(), None).await;
    assert!(
        plain.contains(concat!(
            "user-agent: plexus/",
            env!("CARGO_PKG_VERSION"),
            "\n"
        )) && !plain.contains("accept:"),
        "{plain}"
    );
    let mut extra = plexus::http::HeaderMap::new();
    extra.insert("accept", "application/json".parse().expect("value"));
    extra.append("x-team", "a".parse().expect("value"));
    extra.append("x-team", "b".parse().expect("value"));
    let custom = client_builder()
        .user_agent("fanout-service/2.1")
        .default_header("x-tenant", "blue")
        .default_headers(extra)
        .build()
        .expect("client");
    let got = seen(custom.clone(), None).await;
    for line in [
        "user-agent: fanout-service/2.1\n",
        "x-tenant: blue\n",
        "accept: application/json\n",
        "x-team: a\n",
        "x-team: b\n",
    ] {
        assert!(got.contains(line), "{line:?} in {got}");
    }
    assert!(!got.contains("accept: */*"), "{got}");
    // The request's own value wins.
    let own = seen(custom, Some(("x-tenant", "red"))).await;
    assert!(
        own.contains("x-tenant: red\n") && !own.contains("x-tenant: blue"),
        "{own}"
    );
    // Beside a header of the request's own, a default keeps every one of its values.
    assert!(
        own.contains("x-team: a\n") && own.contains("x-team: b\n"),
        "{own}"
    );
    let bad = client_builder().user_agent("bad\nagent").build();
    assert_eq!(
        bad.map(|_| ()).map_err(|e| e.kind()),
        Err(ErrorKind::InvalidRequest)
    );
}
