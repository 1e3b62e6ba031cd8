//! HTTP/3 over an impaired path: the UDP relay of plexus-testkit loses datagrams in
//! bursts, goes dark now and then, and moves the client to new ports, between plexus
//! and the in-process h3 server. Every body arrives whole over the one connection the
//! server saw, and the relay's own counters show that the impairment hit the traffic.

use std::time::Duration;

use futures_util::future::join_all;
use plexus::Http3Mode;
use plexus_testkit::{Blackhole, Impairment, Loss, Rebind, RelayStats, TestServer, UdpRelay};
use plexus_tests::{client_builder, init_tracing};

const BODY: usize = 512 * 1024;
const REQUESTS: usize = 4;

/// Fetches `REQUESTS` bodies of `BODY` bytes at once over h3 through a relay impairing the
/// path as `impairment` says; returns what the relay did. Asserts every body whole and
/// one QUIC connection on the server.
async fn fetch_through(impairment: Impairment) -> RelayStats {
    let server = TestServer::builder().h3().start().await.expect("server");
    let relay = UdpRelay::start(server.addr(), impairment)
        .await
        .expect("relay");
    let client = client_builder()
        .http3(Http3Mode::Only)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let url = format!("https://localhost:{}/bytes/{BODY}", relay.port());
    let bodies = join_all((0..REQUESTS).map(|_| {
        let (client, url) = (client.clone(), url.clone());
        async move { client.get(&url).send().await?.bytes().await }
    }))
    .await;
    for body in bodies {
        assert_eq!(body.expect("every request succeeds").len(), BODY);
    }
    let stats = server.stats();
    assert_eq!(stats.quic_connections, 1, "{stats:?}");
    assert_eq!(stats.requests, REQUESTS as u64, "{stats:?}");
    let relayed = relay.stats();
    println!("{relayed:?}");
    relayed
}

fn path() -> Impairment {
    Impairment {
        delay: Duration::from_millis(5),
        bandwidth: Some(50_000_000),
        ..Impairment::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h3_bodies_survive_burst_loss() {
    init_tracing();
    let relay = fetch_through(Impairment {
        loss: Some(Loss::bursts(3, 4)),
        ..path()
    })
    .await;
    assert!(relay.lost > 10, "{relay:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h3_bodies_survive_dark_periods() {
    init_tracing();
    let relay = fetch_through(Impairment {
        // 2 MiB at 10 Mbit/s take well over a second: at least two dark periods.
        bandwidth: Some(10_000_000),
        blackhole: Some(Blackhole {
            up: Duration::from_millis(300),
            down: Duration::from_millis(250),
        }),
        ..path()
    })
    .await;
    assert!(relay.blackholed > 0, "{relay:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h3_follows_the_client_across_nat_rebindings() {
    init_tracing();
    let relay = fetch_through(Impairment {
        bandwidth: Some(10_000_000),
        rebind: Some(Rebind {
            every: Duration::from_millis(200),
            address: true,
        }),
        ..path()
    })
    .await;
    assert!(relay.rebinds >= 2, "{relay:?}");
    assert!(relay.from_server_after_rebind > 0, "{relay:?}");
}
