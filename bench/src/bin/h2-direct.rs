//! `h2-direct`: the "no framework" baseline — GETs straight on the h2 crate over one TLS
//! connection, `-m` streams at once, on a current-thread runtime. Prints one JSON object
//! (`requests`, `ok`, `elapsed_s`, `rps`, `bytes`).
//!
//! Usage: h2-direct -n N -m M --cacert CA.pem https://localhost:PORT/PATH

use std::sync::Arc;
use std::time::Instant;

use plexus_bench::{Budget, LoadArgs, Tally};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

fn main() {
    let args = LoadArgs::parse("h2-direct");
    plexus_bench::run_main("h2-direct", run(args));
}

async fn run(args: LoadArgs) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let (host, port) = args.host_port();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(plexus_bench::roots(&args.ca)?)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let started = Instant::now();
    let tcp = TcpStream::connect((host.as_str(), port)).await?;
    tcp.set_nodelay(true)?;
    let stream = TlsConnector::from(Arc::new(tls))
        .connect(ServerName::try_from(host.clone())?, tcp)
        .await?;
    // The same windows as plexus's defaults (4 MiB a stream, 16 MiB the connection).
    let (sender, connection) = h2::client::Builder::new()
        .initial_window_size(4 << 20)
        .initial_connection_window_size(16 << 20)
        .handshake::<_, bytes::Bytes>(stream)
        .await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let budget = Budget::new(args.n);
    let tally = plexus_bench::run_loops(args.m, || {
        let (mut sender, budget, uri) = (sender.clone(), budget.clone(), args.url.clone());
        async move {
            let mut tally = Tally::default();
            while budget.take() {
                sender = sender.ready().await?;
                let request = http::Request::get(uri.clone()).body(())?;
                let (response, _) = sender.send_request(request, true)?;
                let response = response.await?;
                let ok_status = response.status().is_success();
                let mut body = response.into_body();
                while let Some(chunk) = body.data().await {
                    let chunk = chunk?;
                    tally.bytes += chunk.len() as u64;
                    let _ = body.flow_control().release_capacity(chunk.len());
                }
                tally.ok += u64::from(ok_status);
            }
            Ok(tally)
        }
    })
    .await?;
    Ok(plexus_bench::report(
        args.n,
        tally,
        started.elapsed().as_secs_f64(),
    ))
}
