//! `h2-direct`: the "no framework" baseline — GETs straight on the h2 crate over one TLS
//! connection, `-m` streams at once, on a current-thread runtime. Prints one JSON object
//! (`requests`, `ok`, `elapsed_s`, `rps`, `bytes`).
//!
//! Usage: h2-direct -n N -m M --cacert CA.pem https://localhost:PORT/PATH

use std::sync::Arc;
use std::time::Instant;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

struct Args {
    n: u64,
    m: u64,
    ca: String,
    url: http::Uri,
}

fn args() -> Result<Args, String> {
    let mut n = 1000;
    let mut m = 1;
    let mut ca = None;
    let mut url = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "-n" => n = value()?.parse().map_err(|e| format!("-n: {e}"))?,
            "-m" => m = value()?.parse().map_err(|e| format!("-m: {e}"))?,
            "--cacert" => ca = Some(value()?),
            u => url = Some(u.parse().map_err(|e| format!("{u}: {e}"))?),
        }
    }
    Ok(Args {
        n,
        m,
        ca: ca.ok_or("--cacert is required")?,
        url: url.ok_or("a URL is required")?,
    })
}

fn main() {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("h2-direct: {e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match rt.block_on(run(args)) {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("h2-direct: {e}");
            std::process::exit(1);
        }
    }
}

async fn run(args: Args) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let host = args.url.host().ok_or("no host")?.to_string();
    let port = args.url.port_u16().unwrap_or(443);
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&args.ca)? {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
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
    let issued = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut loops = tokio::task::JoinSet::new();
    for _ in 0..args.m {
        let (mut sender, issued, uri) = (sender.clone(), Arc::clone(&issued), args.url.clone());
        let n = args.n;
        loops.spawn(async move {
            let (mut ok, mut bytes) = (0u64, 0u64);
            while issued.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                sender = sender.ready().await?;
                let request = http::Request::get(uri.clone()).body(())?;
                let (response, _) = sender.send_request(request, true)?;
                let response = response.await?;
                let ok_status = response.status().is_success();
                let mut body = response.into_body();
                while let Some(chunk) = body.data().await {
                    let chunk = chunk?;
                    bytes += chunk.len() as u64;
                    let _ = body.flow_control().release_capacity(chunk.len());
                }
                ok += u64::from(ok_status);
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((ok, bytes))
        });
    }
    let (mut ok, mut bytes) = (0, 0);
    while let Some(done) = loops.join_next().await {
        let (o, b) = done?.map_err(|e| e.to_string())?;
        ok += o;
        bytes += b;
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(serde_json::json!({
        "requests": args.n,
        "ok": ok,
        "bytes": bytes,
        "elapsed_s": elapsed,
        "rps": args.n as f64 / elapsed,
    }))
}
