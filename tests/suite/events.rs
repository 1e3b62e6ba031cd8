//! The pool event hook: every connection the server accepted is an `opened` event, every
//! GOAWAY a `draining` one, every refused stream a `retry`, and each connection's end a
//! `closed` with its reason and the requests it carried — checked against the servers'
//! own counts.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plexus::{CloseReason, ErrorKind, Http3Mode, PoolEvent, Protocol};
use plexus_testkit::{peers, TestServer};
use plexus_tests::{client_builder, init_tracing};

type Log = Arc<Mutex<Vec<PoolEvent>>>;

/// A client builder whose pool events land in the returned log.
fn recording() -> (plexus::ClientBuilder, Log) {
    let log: Log = Arc::default();
    let sink = Arc::clone(&log);
    let builder = client_builder().on_pool_event(move |e| {
        sink.lock().expect("log").push(e.clone());
    });
    (builder, log)
}

/// Waits (at most 5 s) until `done` holds for the log; returns the log.
async fn until(log: &Log, done: impl Fn(&[PoolEvent]) -> bool) -> Vec<PoolEvent> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let events = log.lock().expect("log").clone();
        if done(&events) || Instant::now() > deadline {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `n` GETs of `/hello`, one after the other, each body read.
async fn get_one_by_one(client: &plexus::Client, server: &TestServer, n: usize) {
    for i in 0..n {
        let r = client
            .get(server.url(&format!("/hello?i={i}")))
            .send()
            .await
            .expect("response");
        r.bytes().await.expect("body");
    }
}

fn opened(events: &[PoolEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, PoolEvent::ConnectionOpened { .. }))
        .count()
}

fn closed(events: &[PoolEvent]) -> Vec<(&CloseReason, u64)> {
    events
        .iter()
        .filter_map(|e| match e {
            PoolEvent::ConnectionClosed {
                reason, requests, ..
            } => Some((reason, *requests)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goaway_rotation_is_told_as_opened_draining_and_closed() {
    init_tracing();
    let server = TestServer::builder()
        .goaway_after(5)
        .start()
        .await
        .expect("server");
    let (builder, log) = recording();
    let client = builder.build().expect("client");
    get_one_by_one(&client, &server, 12).await;
    let stats = server.stats();
    assert_eq!(stats.tcp_connections, 3, "{stats:?}");
    let events = until(&log, |e| closed(e).len() >= 2).await;
    assert_eq!(opened(&events) as u64, stats.tcp_connections, "{events:#?}");
    let draining: Vec<bool> = events
        .iter()
        .filter_map(|e| match e {
            PoolEvent::ConnectionDraining { by_server, .. } => Some(*by_server),
            _ => None,
        })
        .collect();
    assert_eq!(draining, [true, true], "{events:#?}");
    let ends = closed(&events);
    assert_eq!(ends.len(), 2, "{events:#?}");
    let served: Vec<u64> = stats.connections.iter().map(|c| c.requests).collect();
    for (i, (reason, requests)) in ends.into_iter().enumerate() {
        assert!(matches!(reason, CloseReason::Drained), "{reason:?}");
        assert_eq!(requests, served[i], "server counts {served:?}");
    }
    // Dropping the client closes the last connection.
    drop(client);
    let events = until(&log, |e| closed(e).len() >= 3).await;
    let last = closed(&events);
    assert!(
        matches!(last.get(2), Some((CloseReason::ClientClosed, n)) if *n == served[2]),
        "{last:?}, server counts {served:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_streams_are_retries_and_idle_connections_close_with_their_reason() {
    init_tracing();
    let server = TestServer::builder()
        .refuse_every(3)
        .start()
        .await
        .expect("server");
    let (builder, log) = recording();
    let client = builder
        .pool_idle_timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    get_one_by_one(&client, &server, 9).await;
    let refused = server.stats().refused_streams;
    assert!(refused >= 3, "{:?}", server.stats());
    let events = until(&log, |e| !closed(e).is_empty()).await;
    let retries: Vec<ErrorKind> = events
        .iter()
        .filter_map(|e| match e {
            PoolEvent::Retry { error, attempt, .. } => {
                assert_eq!(*attempt, 1);
                Some(error.kind())
            }
            _ => None,
        })
        .collect();
    assert_eq!(retries.len() as u64, refused, "{events:#?}");
    assert!(
        retries.iter().all(|k| *k == ErrorKind::Refused),
        "{retries:?}"
    );
    let ends = closed(&events);
    assert!(
        matches!(ends.as_slice(), [(CloseReason::IdleTimeout, 9)]),
        "{ends:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_connects_and_race_outcomes_are_told() {
    init_tracing();
    let (builder, log) = recording();
    let client = builder
        .http3(Http3Mode::PriorKnowledge)
        .build()
        .expect("client");
    let port = peers::free_port().expect("port");
    let e = client
        .get(format!("http://127.0.0.1:{port}/"))
        .send()
        .await
        .expect_err("nothing listens");
    assert_eq!(e.kind(), ErrorKind::Connect);

    let server = TestServer::builder().h3().start().await.expect("server");
    let r = client
        .get(server.url("/hello"))
        .send()
        .await
        .expect("response");
    r.bytes().await.expect("body");
    let events = until(&log, |e| opened(e) == 1).await;
    let failures: Vec<ErrorKind> = events
        .iter()
        .filter_map(|e| match e {
            PoolEvent::ConnectFailed { error, .. } => Some(error.kind()),
            _ => None,
        })
        .collect();
    assert_eq!(failures, [ErrorKind::Connect]);
    let race = events.iter().find_map(|e| match e {
        PoolEvent::ConnectionOpened { info } => Some(info.race.clone()),
        _ => None,
    });
    let race = race.flatten().expect("the connection was raced");
    assert_eq!(race.winner, Protocol::Http3, "{race:?}");
    assert_eq!(server.stats().quic_connections, 1);
}

/// nginx ending each connection after 10 requests (GOAWAY over h2, `Connection: close`
/// over HTTP/1.1): as many `opened` events as nginx logged connections, a server-side
/// `draining` and a `drained` close for each connection it ended, and the responses the
/// events count add up to the requests nginx logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_rotations_are_told_as_they_happen() {
    init_tracing();
    for http1 in [false, true] {
        let nginx = peers::nginx(peers::NginxOptions {
            keepalive_requests: 10,
            ..peers::NginxOptions::default()
        })
        .await
        .expect("nginx starts");
        let (builder, log) = recording();
        let builder = if http1 { builder.http1_only() } else { builder };
        let client = builder.build().expect("client");
        for _ in 0..35 {
            let r = client
                .get(nginx.url(peers::HELLO_PATH))
                .send()
                .await
                .expect("response");
            r.bytes().await.expect("body");
        }
        let served = nginx.log_of(35).await;
        assert_eq!(served.requests, 35, "{served:?}");
        drop(client);
        let events = until(&log, |e| closed(e).len() == opened(e)).await;
        assert_eq!(
            opened(&events),
            served.connections,
            "http1 {http1}: {events:#?}"
        );
        let by_server = events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    PoolEvent::ConnectionDraining {
                        by_server: true,
                        ..
                    }
                )
            })
            .count();
        let ends = closed(&events);
        let drained = ends
            .iter()
            .filter(|(r, _)| matches!(r, CloseReason::Drained))
            .count();
        // Connections 1-3 carried 10 each and were ended by nginx; the fourth was open
        // when the client was dropped.
        assert_eq!((by_server, drained), (3, 3), "http1 {http1}: {events:#?}");
        assert_eq!(ends.iter().map(|(_, n)| n).sum::<u64>(), 35, "{ends:?}");
    }
}
