//! Helpers shared by the full-stack tests.

use std::time::Duration;

pub mod heap;
pub mod soak;

use plexus::{Certificate, Client, ClientBuilder};
use plexus_testkit::test_certs;

/// A client builder that trusts the test CA.
pub fn client_builder() -> ClientBuilder {
    let ca =
        Certificate::from_pem(test_certs().ca_pem.as_bytes()).expect("the test CA is valid PEM");
    Client::builder()
        .add_root_certificate(ca)
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
}

/// A client that trusts the test CA, with every other default.
pub fn client() -> Client {
    client_builder().build().expect("test client builds")
}

/// Asserts that `client` still gets a 200 from `url` (after an error it must survive).
pub async fn assert_still_usable(client: &Client, url: &str) {
    let response = client.get(url).send().await.expect("still usable");
    assert_eq!(response.status(), 200, "{url}");
}

/// Logs to the test's output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Sends `n` GETs to `url` at once (each with `x-request-id: i`) and waits for every body.
/// Returns the responses' records, or the first error.
pub async fn concurrent_gets(
    client: &Client,
    url: &str,
    n: usize,
) -> Result<Vec<plexus::RequestRecord>, plexus::Error> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let client = client.clone();
            let url = url.to_string();
            tokio::spawn(async move {
                let response = client
                    .get(url)
                    .header("x-request-id", i.to_string())
                    .send()
                    .await?;
                let record = response.record().clone();
                response.bytes().await?;
                Ok::<_, plexus::Error>(record)
            })
        })
        .collect();
    let mut records = Vec::with_capacity(n);
    for t in tasks {
        records.push(t.await.expect("request task does not panic")?);
    }
    Ok(records)
}

/// Sends `total` GETs to `url`, at most `parallel` in flight, and checks each response is
/// `200` with the 13-byte hello body. Returns the records of every request.
pub async fn gets_in_parallel(
    client: &Client,
    url: &str,
    total: usize,
    parallel: usize,
) -> Result<Vec<plexus::RequestRecord>, String> {
    use futures_util::stream::{self, StreamExt};
    let results: Vec<Result<plexus::RequestRecord, String>> = stream::iter(0..total)
        .map(|i| {
            let client = client.clone();
            let url = url.to_string();
            async move {
                let response = client
                    .get(url)
                    .header("x-request-id", i.to_string())
                    .send()
                    .await
                    .map_err(|e| format!("request {i}: {e}"))?;
                if response.status() != 200 {
                    return Err(format!("request {i}: status {}", response.status()));
                }
                let record = response.record().clone();
                let body = response
                    .bytes()
                    .await
                    .map_err(|e| format!("request {i}: {e}"))?;
                if body.as_ref() != plexus_testkit::routes::HELLO {
                    return Err(format!("request {i}: unexpected body {body:?}"));
                }
                Ok(record)
            }
        })
        .buffer_unordered(parallel)
        .collect()
        .await;
    results.into_iter().collect()
}
