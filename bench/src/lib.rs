//! What the bench's own clients (`h2-direct`, `h3-direct`, `reqwest-load`) share: their
//! command line, their trust store, the request budget their loops draw from, and their
//! one-object JSON report (`requests`, `ok`, `bytes`, `elapsed_s`, `rps`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// The protocol a client is asked to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    H1,
    H2,
    H3,
}

/// `-n N -c C -m M [--h1|--h2|--h3] [--warm] --cacert CA.pem URL`.
#[derive(Debug, Clone)]
pub struct LoadArgs {
    /// Requests in all.
    pub n: u64,
    /// Connections (clients, for reqwest).
    pub c: u64,
    /// Requests at once per connection.
    pub m: u64,
    pub proto: Proto,
    /// Each client sends one request before the clock starts, so that its pool holds a
    /// connection (reqwest only).
    pub warm: bool,
    pub ca: String,
    pub url: http::Uri,
}

impl LoadArgs {
    /// Parses the command line; on a mistake prints it and exits with status 2.
    pub fn parse(tool: &str) -> LoadArgs {
        match LoadArgs::try_parse() {
            Ok(a) => a,
            Err(e) => {
                eprintln!("{tool}: {e}");
                std::process::exit(2);
            }
        }
    }

    fn try_parse() -> Result<LoadArgs, String> {
        let (mut n, mut c, mut m, mut proto, mut warm) = (1000, 1, 1, Proto::H2, false);
        let (mut ca, mut url) = (None, None);
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            let mut value = || it.next().ok_or(format!("{a} needs a value"));
            match a.as_str() {
                "-n" => n = value()?.parse().map_err(|e| format!("-n: {e}"))?,
                "-c" => c = value()?.parse().map_err(|e| format!("-c: {e}"))?,
                "-m" => m = value()?.parse().map_err(|e| format!("-m: {e}"))?,
                "--h1" => proto = Proto::H1,
                "--h2" => proto = Proto::H2,
                "--h3" => proto = Proto::H3,
                "--warm" => warm = true,
                "--cacert" => ca = Some(value()?),
                u => url = Some(u.parse().map_err(|e| format!("{u}: {e}"))?),
            }
        }
        Ok(LoadArgs {
            n,
            c: c.max(1),
            m: m.max(1),
            proto,
            warm,
            ca: ca.ok_or("--cacert is required")?,
            url: url.ok_or("a URL is required")?,
        })
    }

    /// The URL's host and port.
    pub fn host_port(&self) -> (String, u16) {
        let host = self.url.host().unwrap_or("localhost").to_string();
        (host, self.url.port_u16().unwrap_or(443))
    }
}

/// The roots in the PEM file `ca`.
pub fn roots(ca: &str) -> Result<rustls::RootCertStore, Box<dyn std::error::Error>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca)? {
        roots.add(cert?)?;
    }
    Ok(roots)
}

/// The requests left to send, shared by a client's loops.
#[derive(Debug, Clone)]
pub struct Budget {
    issued: Arc<AtomicU64>,
    total: u64,
}

impl Budget {
    pub fn new(total: u64) -> Budget {
        Budget {
            issued: Arc::default(),
            total,
        }
    }

    /// Takes one request from the budget; false when it is spent.
    pub fn take(&self) -> bool {
        self.issued.fetch_add(1, Ordering::Relaxed) < self.total
    }
}

/// What a loop counted.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tally {
    pub ok: u64,
    pub bytes: u64,
}

impl Tally {
    pub fn add(&mut self, other: Tally) {
        self.ok += other.ok;
        self.bytes += other.bytes;
    }
}

/// What a request loop fails with.
pub type LoopError = Box<dyn std::error::Error + Send + Sync>;

/// Runs `count` request loops made by `make` as tasks on the current runtime; sums their
/// tallies.
pub async fn run_loops<F, Fut>(count: u64, mut make: F) -> Result<Tally, Box<dyn std::error::Error>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Tally, LoopError>> + Send + 'static,
{
    let mut loops = tokio::task::JoinSet::new();
    for _ in 0..count {
        loops.spawn(make());
    }
    let mut tally = Tally::default();
    while let Some(done) = loops.join_next().await {
        tally.add(done?.map_err(|e| e.to_string())?);
    }
    Ok(tally)
}

/// The JSON object every bench client prints.
pub fn report(n: u64, tally: Tally, elapsed_s: f64) -> serde_json::Value {
    serde_json::json!({
        "requests": n,
        "ok": tally.ok,
        "bytes": tally.bytes,
        "elapsed_s": elapsed_s,
        "rps": n as f64 / elapsed_s,
    })
}

/// Runs `main` on a current-thread runtime, prints its report, exits 1 on an error.
pub fn run_main<F>(tool: &str, main: F)
where
    F: std::future::Future<Output = Result<serde_json::Value, Box<dyn std::error::Error>>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match rt.block_on(main) {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("{tool}: {e}");
            std::process::exit(1);
        }
    }
}
