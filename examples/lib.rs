//! Examples and benchmark commands for plexus; see the `[[example]]`s of this package.
//! What the fetchers share, kept here so that tests can run it: the embedded demo server
//! they use when given no URL, the fan-out loop with its per-origin summary, and the
//! crawler.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use plexus::{Certificate, Client, ClientBuilder};
use plexus_testkit::{test_certs, TestServer};

mod crawler;

pub use crawler::{crawl, CrawlReport};

/// A client builder that trusts the embedded demo server's certificate (and the usual
/// web roots).
pub fn demo_client_builder() -> Result<ClientBuilder, plexus::Error> {
    Ok(Client::builder()
        .add_root_certificate(Certificate::from_pem(test_certs().ca_pem.as_bytes())?))
}

/// The embedded demo server: an in-process h2 / HTTP/1.1 server on loopback with the
/// routes of [`plexus_testkit::routes`].
pub async fn demo_server() -> std::io::Result<TestServer> {
    TestServer::builder().start().await
}

/// The URL given as the program's first argument, or else `demo_path` on a demo server
/// started here (returned too: it stops when dropped).
pub async fn url_or_demo(demo_path: &str) -> std::io::Result<(String, Option<TestServer>)> {
    match std::env::args().nth(1) {
        Some(url) => Ok((url, None)),
        None => {
            let server = demo_server().await?;
            Ok((server.url(demo_path), Some(server)))
        }
    }
}

/// What one origin's share of a fan-out came to.
#[derive(Debug, Clone, PartialEq)]
pub struct OriginSummary {
    /// `scheme://host:port`, or the URL itself when it names no valid origin.
    pub origin: String,
    /// The protocols its responses came over (`HTTP/2`, ...).
    pub protocols: Vec<String>,
    /// Connections the client opened to it.
    pub connections: u64,
    /// Requests that got a response.
    pub responses: u64,
    /// Requests that ended in an error, by error kind.
    pub errors: BTreeMap<String, u64>,
    /// Median and 99th percentile time to the whole body.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
}

/// Fetches every URL with at most `concurrency` in flight over the one shared `client`,
/// reading each body to its end; `on_done` runs after each. Returns a summary per origin,
/// in the order of their first URL.
pub async fn fanout(
    client: &Client,
    urls: Vec<String>,
    concurrency: usize,
    on_done: impl Fn(),
) -> Vec<OriginSummary> {
    let outcomes: Vec<(String, FetchOutcome)> = futures_util::stream::iter(urls)
        .map(|url| async move {
            let started = Instant::now();
            let result = async {
                let response = client.get(url.as_str()).send().await?;
                let protocol = format!("{:?}", response.version());
                response.bytes().await?;
                Ok((protocol, started.elapsed()))
            }
            .await;
            (url, result)
        })
        .buffer_unordered(concurrency.max(1))
        .inspect(|_| on_done())
        .collect()
        .await;
    let mut order: Vec<String> = Vec::new();
    let mut by_origin: BTreeMap<String, (OriginSummary, Vec<Duration>)> = BTreeMap::new();
    for (url, result) in outcomes {
        let origin = origin_of(&url);
        let (summary, times) = by_origin.entry(origin.clone()).or_insert_with(|| {
            order.push(origin.clone());
            (
                OriginSummary {
                    origin: origin.clone(),
                    protocols: Vec::new(),
                    connections: 0,
                    responses: 0,
                    errors: BTreeMap::new(),
                    p50: Duration::ZERO,
                    p99: Duration::ZERO,
                },
                Vec::new(),
            )
        });
        match result {
            Ok((protocol, took)) => {
                summary.responses += 1;
                times.push(took);
                if !summary.protocols.contains(&protocol) {
                    summary.protocols.push(protocol);
                }
            }
            Err(e) => *summary.errors.entry(format!("{:?}", e.kind())).or_default() += 1,
        }
    }
    let snapshots = client.snapshot();
    order
        .into_iter()
        .filter_map(|origin| by_origin.remove(&origin))
        .map(|(mut summary, mut times)| {
            times.sort();
            summary.p50 = percentile(&times, 50);
            summary.p99 = percentile(&times, 99);
            summary.connections = snapshots
                .iter()
                .filter(|s| s.origin.to_string() == summary.origin)
                .map(|s| s.connections_opened)
                .sum();
            summary
        })
        .collect()
}

/// A fetch's protocol and time to the whole body, or its error.
type FetchOutcome = Result<(String, Duration), plexus::Error>;

fn origin_of(url: &str) -> String {
    url.parse::<http::Uri>()
        .ok()
        .and_then(|u| plexus::Origin::from_uri(&u).ok())
        .map_or_else(|| url.to_string(), |o| o.to_string())
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (sorted.len() * p).div_ceil(100).clamp(1, sorted.len());
    sorted[rank - 1]
}
