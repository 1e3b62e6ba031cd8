//! `h3-direct`: the "no framework" baseline for HTTP/3 — GETs straight on h3 + h3-quinn +
//! quinn over one QUIC connection, `-m` streams at once, on a current-thread runtime, with
//! plexus's windows (4 MiB a stream, 16 MiB the connection). Prints one JSON object.
//!
//! Usage: h3-direct -n N -m M --cacert CA.pem https://localhost:PORT/PATH

use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::Instant;

use bytes::Buf;
use plexus_bench::{Budget, LoadArgs, Tally};

fn main() {
    let args = LoadArgs::parse("h3-direct");
    plexus_bench::run_main("h3-direct", run(args));
}

async fn run(args: LoadArgs) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let (host, port) = args.host_port();
    let addr = (host.as_str(), port)
        .to_socket_addrs()?
        .next()
        .ok_or("no address")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(plexus_bench::roots(&args.ca)?)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h3".to_vec()];
    let mut transport = quinn::TransportConfig::default();
    transport
        .stream_receive_window((4u32 << 20).into())
        .receive_window((16u32 << 20).into());
    let mut config = quinn::ClientConfig::new(Arc::new(
        quinn::crypto::rustls::QuicClientConfig::try_from(tls)?,
    ));
    config.transport_config(Arc::new(transport));
    let bind: std::net::SocketAddr = if addr.is_ipv6() {
        "[::]:0".parse()?
    } else {
        "0.0.0.0:0".parse()?
    };
    let mut endpoint = quinn::Endpoint::client(bind)?;
    endpoint.set_default_client_config(config);
    let started = Instant::now();
    let quic = endpoint.connect(addr, &host)?.await?;
    let (mut driver, sender) = h3::client::new(h3_quinn::Connection::new(quic)).await?;
    tokio::spawn(async move {
        let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
    });
    let budget = Budget::new(args.n);
    let tally = plexus_bench::run_loops(args.m, || {
        let (mut sender, budget, uri) = (sender.clone(), budget.clone(), args.url.clone());
        async move {
            let mut tally = Tally::default();
            while budget.take() {
                let request = http::Request::get(uri.clone()).body(())?;
                let mut stream = sender.send_request(request).await?;
                stream.finish().await?;
                let response = stream.recv_response().await?;
                while let Some(chunk) = stream.recv_data().await? {
                    tally.bytes += chunk.remaining() as u64;
                }
                tally.ok += u64::from(response.status().is_success());
            }
            Ok(tally)
        }
    })
    .await?;
    let elapsed = started.elapsed().as_secs_f64();
    endpoint.close(0u32.into(), b"done");
    Ok(plexus_bench::report(args.n, tally, elapsed))
}
