//! Alt-Svc discovery of HTTP/3, racing QUIC against TCP, and remembering broken h3.

use std::time::Duration;

use plexus::Protocol;
use plexus_testkit::{TestServer, UdpBlackHole};
use plexus_tests::{client_builder, concurrent_gets, init_tracing};

/// Issue 3, test 3: the first request goes over h2 and learns `Alt-Svc: h3=":PORT"`; the
/// following requests go over h3 (counted by the server), none failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alt_svc_upgrades_to_h3() {
    init_tracing();
    let server = TestServer::builder()
        .alt_svc()
        .start()
        .await
        .expect("server starts");
    let client = client_builder().build().expect("client");
    let first = client
        .get(server.url("/"))
        .send()
        .await
        .expect("first request");
    assert_eq!(first.version(), http::Version::HTTP_2);
    assert!(first.headers().contains_key("alt-svc"));
    first.bytes().await.expect("body");

    let records = concurrent_gets(&client, &server.url("/delay/5"), 50)
        .await
        .expect("every request succeeds");
    assert!(
        records
            .iter()
            .all(|r| r.connection.protocol == Protocol::Http3),
        "{:?}",
        records
            .iter()
            .map(|r| r.connection.protocol)
            .collect::<Vec<_>>()
    );
    let race = records[0]
        .connection
        .race
        .clone()
        .expect("QUIC and TCP were raced");
    assert_eq!(race.winner, Protocol::Http3, "{race:?}");

    let stats = server.stats();
    assert_eq!(stats.connections_of("h2"), 1, "{stats:?}");
    assert_eq!(stats.connections_of("h3"), 1, "{stats:?}");
    let h3_requests: u64 = stats
        .connections
        .iter()
        .filter(|c| c.protocol == "h3")
        .map(|c| c.requests)
        .sum();
    assert_eq!(h3_requests, 50);
    assert_eq!(stats.requests, 51);
}

/// Issue 3, test 4: Alt-Svc names a UDP port where QUIC goes nowhere. Every request
/// succeeds over TCP; the first does not wait for QUIC to give up (TCP starts after the
/// head start); and once QUIC has failed, later connections do not try it again.
async fn broken_h3(black_hole: Option<UdpBlackHole>) {
    init_tracing();
    let udp_port = match &black_hole {
        Some(b) => b.port(),
        None => std::net::UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("a free UDP port")
            .port(),
    };
    let server = TestServer::builder()
        .h2_only()
        .alt_svc_header(&format!("h3=\":{udp_port}\"; ma=3600"))
        .start()
        .await
        .expect("server starts");
    let quic_gives_up = Duration::from_millis(1500);
    let client = client_builder()
        .pool_idle_timeout(Duration::from_millis(100))
        .connect_timeout(quic_gives_up)
        .build()
        .expect("client");

    // Learn the (broken) alternative.
    let r = client
        .get(server.url("/"))
        .send()
        .await
        .expect("first request");
    assert_eq!(r.version(), http::Version::HTTP_2);
    r.bytes().await.expect("body");

    // The next connection races: TCP wins after QUIC's head start.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = client
        .get(server.url("/"))
        .send()
        .await
        .expect("raced request");
    assert_eq!(r.version(), http::Version::HTTP_2);
    let race = r.record().connection.race.clone().expect("raced");
    assert_eq!(race.winner, Protocol::Http2, "{race:?}");
    assert_eq!(race.head_start, Duration::from_millis(300));
    assert!(
        race.won_after < quic_gives_up,
        "TCP carried the request without waiting for QUIC to give up: {race:?}"
    );
    r.bytes().await.expect("body");

    // Once QUIC has given up, the origin's h3 is marked broken.
    tokio::time::sleep(quic_gives_up + Duration::from_millis(500)).await;
    let datagrams = black_hole.as_ref().map(UdpBlackHole::received);
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let r = client
            .get(server.url("/"))
            .send()
            .await
            .expect("later request");
        assert_eq!(r.version(), http::Version::HTTP_2);
        assert!(!r.record().reused, "each of these opened a new connection");
        assert!(
            r.record().connection.race.is_none(),
            "QUIC not tried: {:?}",
            r.record()
        );
        r.bytes().await.expect("body");
    }
    if let (Some(before), Some(b)) = (datagrams, &black_hole) {
        assert!(before > 0, "QUIC was tried once");
        assert_eq!(
            b.received(),
            before,
            "no QUIC packet after h3 was marked broken"
        );
    }
    assert_eq!(server.stats().requests, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alt_svc_to_a_closed_udp_port_falls_back_to_tcp() {
    broken_h3(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alt_svc_to_a_udp_black_hole_falls_back_to_tcp() {
    broken_h3(Some(UdpBlackHole::bind().await.expect("black hole"))).await;
}

/// A QUIC connection whose path goes silent mid-request: the request (a GET, on a reused
/// connection) is re-sent over TCP without surfacing an error, and the origin's HTTP/3 is
/// marked broken, so its next connections use TCP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_quic_path_moves_the_origin_to_tcp() {
    init_tracing();
    // The origin's TCP side (h2) and, on the same port number, a UDP path to another
    // server's HTTP/3 side.
    let tcp_side = TestServer::builder()
        .h2_only()
        .start()
        .await
        .expect("h2 server");
    let h3_side = TestServer::builder().h3().start().await.expect("h3 server");
    let path = plexus_testkit::UdpDelayLine::start_on(
        tcp_side.port(),
        h3_side.addr(),
        Duration::from_millis(2),
    )
    .await
    .expect("the UDP port matching the TCP one is free");
    let client = client_builder()
        .http3(plexus::Http3Mode::PriorKnowledge)
        .quic_idle_timeout(Duration::from_millis(800))
        .quic_keep_alive_interval(Duration::from_millis(200))
        .build()
        .expect("client");
    let url = tcp_side.url("/delay/1500");

    let first = client.get(tcp_side.url("/")).send().await.expect("first");
    assert_eq!(first.version(), http::Version::HTTP_3);
    first.bytes().await.expect("body");

    let pending = tokio::spawn({
        let client = client.clone();
        async move { client.get(url).send().await.map(|r| r.record().clone()) }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(path); // QUIC's path goes silent.

    let record = pending
        .await
        .expect("task")
        .expect("re-sent over TCP, no error surfaced");
    assert_eq!(record.connection.protocol, Protocol::Http2, "{record:?}");
    assert_eq!(record.retries.len(), 1, "{record:?}");
    assert!(
        record.retries[0].to_string().contains("idled out"),
        "{record:?}"
    );

    tokio::time::sleep(Duration::from_millis(200)).await;
    let later = client.get(tcp_side.url("/")).send().await.expect("later");
    assert_eq!(later.version(), http::Version::HTTP_2);
    assert!(
        later.record().connection.race.is_none(),
        "h3 is off for the origin now"
    );
    assert_eq!(tcp_side.stats().requests, 2);
}

/// A hostile `ma` (the largest number there is) must not break the client: the
/// alternative is remembered for at most a year, and the file written with it reads back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absurd_max_age_is_capped() {
    init_tracing();
    let server = TestServer::builder()
        .alt_svc_header("h3=\":1\"; ma=18446744073709551615; persist=1")
        .start()
        .await
        .expect("server starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("alt-svc.txt");
    let client = client_builder()
        .alt_svc_file(&file)
        .build()
        .expect("client");
    for _ in 0..2 {
        let r = client
            .get(server.url("/"))
            .http3(plexus::Http3Mode::Off)
            .send()
            .await
            .expect("the client survives the header");
        assert_eq!(r.text().await.expect("body"), "Hello, World!");
    }
    let text = std::fs::read_to_string(&file).expect("the alt-svc file is written");
    let line = text
        .lines()
        .find(|l| !l.starts_with('#'))
        .expect("one alternative");
    let year: i32 = line.split('"').nth(1).expect("a quoted expiry")[..4]
        .parse()
        .expect("a year");
    assert!((2026..=2100).contains(&year), "{line}");
}
