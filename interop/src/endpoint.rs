//! The QUIC interop runner's client contract, and plexus's own HTTP-level cases.
//!
//! The runner starts the client with `ROLE=client`, a `TESTCASE`, the URLs to fetch in
//! `REQUESTS` (space-separated), the directory to write them to in `DOWNLOADS`, and
//! `SSLKEYLOGFILE` / `QLOGDIR` for the key log and qlog files; the client exits 0 when it
//! fetched everything, 127 for a test case it does not support, anything else on failure.
//! Every case but `http3` speaks HTTP/0.9 over QUIC (ALPN `hq-interop`, [`crate::hq`]);
//! `http3` and the HTTP-level cases go through plexus. Two extensions, for the local
//! matrix: `PLEXUS_PROTOCOL` (`hq`, `h3`, `h2`, `h1`, `h2c`, `auto`) picks the protocol
//! of any case, and `PLEXUS_CA` names a PEM file of roots to verify the server against
//! (without it, as the runner's self-signed servers need, any certificate is accepted).

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::future::join_all;
use http::Uri;

use crate::hq::{self, HqClient};

/// What the endpoint is asked to do, from its environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `TESTCASE`.
    pub testcase: String,
    /// `REQUESTS`.
    pub requests: Vec<Uri>,
    /// `DOWNLOADS` (default `/downloads`).
    pub downloads: PathBuf,
    /// `QLOGDIR`.
    pub qlog_dir: Option<PathBuf>,
    /// `PLEXUS_PROTOCOL`, or the case's own.
    pub protocol: Protocol,
    /// `PLEXUS_CA`.
    pub ca: Option<PathBuf>,
    /// `PLEXUS_POST_BODY`: the file `post-echo` sends (default: 100 KiB of its own).
    pub post_body: Option<PathBuf>,
}

/// The protocol a case runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/0.9 over QUIC, ALPN `hq-interop` (quinn directly).
    Hq,
    /// HTTP/3 only (plexus).
    H3,
    /// HTTP/2 by ALPN over TLS (plexus).
    H2,
    /// HTTP/1.1: ALPN offers only `http/1.1` (plexus).
    H1,
    /// HTTP/2 over cleartext TCP by prior knowledge (plexus).
    H2c,
    /// plexus's defaults: h2 or HTTP/1.1 by ALPN, HTTP/3 once Alt-Svc offers it.
    Auto,
}

impl Protocol {
    /// Parses `PLEXUS_PROTOCOL`.
    pub fn parse(s: &str) -> Option<Protocol> {
        Some(match s {
            "hq" | "hq-interop" => Protocol::Hq,
            "h3" => Protocol::H3,
            "h2" => Protocol::H2,
            "h1" | "http/1.1" => Protocol::H1,
            "h2c" => Protocol::H2c,
            "auto" => Protocol::Auto,
            _ => return None,
        })
    }
}

/// How a case uses connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Every URL at once, on one connection.
    OneConnection,
    /// One connection per URL: one after the other, or all at once when `at_once`.
    ConnectionPerRequest { at_once: bool },
    /// One URL after the other, on one connection (kept alive).
    Sequential,
    /// The first URL on one connection; the rest on a second that resumes the session
    /// (in 0-RTT when `early`).
    Resume { early: bool },
    /// POST a body to every URL; the response is written as the download.
    Echo,
    /// The first URL alone (its response carries `Alt-Svc`), then the rest.
    AltSvc,
    /// Every URL, 8 at a time, carrying on past failures: the server stops gracefully
    /// while they run. Each URL ends either downloaded or with an error printed.
    BestEffort,
}

/// The case's shape and its default protocol; `None` for a case this client does not
/// know.
fn case(testcase: &str) -> Option<(Shape, Protocol)> {
    Some(match testcase {
        "handshake" | "transfer" | "multiplexing" | "retry" | "chacha20" | "ipv6" | "keyupdate"
        | "blackhole" | "transferloss" | "rebind-port" | "rebind-addr" => {
            (Shape::OneConnection, Protocol::Hq)
        }
        "multiconnect" => (Shape::ConnectionPerRequest { at_once: false }, Protocol::Hq),
        // Handshakes at 30 % loss take seconds each (timeouts back off from 1 s): they
        // run side by side.
        "handshakeloss" => (Shape::ConnectionPerRequest { at_once: true }, Protocol::Hq),
        "resumption" => (Shape::Resume { early: false }, Protocol::Hq),
        "zerortt" => (Shape::Resume { early: true }, Protocol::Hq),
        "http3" => (Shape::OneConnection, Protocol::H3),
        "h1-fallback" => (Shape::Sequential, Protocol::H1),
        "h2c" => (Shape::OneConnection, Protocol::H2c),
        "post-echo" => (Shape::Echo, Protocol::Auto),
        "alt-svc" => (Shape::AltSvc, Protocol::Auto),
        "goaway" => (Shape::BestEffort, Protocol::Auto),
        _ => return None,
    })
}

/// How a run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Everything fetched (or, for `goaway`, every URL accounted for).
    Done,
    /// The case (or its protocol) is not supported; exit 127.
    Unsupported(String),
}

impl Settings {
    /// Reads the runner's variables (and the two `PLEXUS_` extensions).
    pub fn from_env() -> Result<Settings, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let testcase = var("TESTCASE").ok_or("TESTCASE is not set")?;
        let requests = var("REQUESTS")
            .unwrap_or_default()
            .split_whitespace()
            .map(|u| {
                u.parse::<Uri>()
                    .map_err(|e| format!("bad URL {u:?} in REQUESTS: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let protocol = match var("PLEXUS_PROTOCOL") {
            Some(p) => {
                Protocol::parse(&p).ok_or_else(|| format!("unknown PLEXUS_PROTOCOL {p:?}"))?
            }
            None => case(&testcase).map_or(Protocol::Hq, |(_, p)| p),
        };
        Ok(Settings {
            testcase,
            requests,
            downloads: var("DOWNLOADS").map_or_else(|| PathBuf::from("/downloads"), PathBuf::from),
            qlog_dir: var("QLOGDIR").map(PathBuf::from),
            protocol,
            ca: var("PLEXUS_CA").map(PathBuf::from),
            post_body: var("PLEXUS_POST_BODY").map(PathBuf::from),
        })
    }
}

/// Runs the case.
pub async fn run(settings: &Settings) -> io::Result<Outcome> {
    let Some((shape, _)) = case(&settings.testcase) else {
        return Ok(Outcome::Unsupported(format!(
            "test case {:?} is not supported",
            settings.testcase
        )));
    };
    if settings.requests.is_empty() {
        return Err(io::Error::other("REQUESTS names no URL"));
    }
    std::fs::create_dir_all(&settings.downloads)?;
    match settings.protocol {
        Protocol::Hq => run_hq(settings, shape).await,
        _ => crate::plexus_cases::run(settings, shape).await,
    }
}

async fn run_hq(settings: &Settings, shape: Shape) -> io::Result<Outcome> {
    if matches!(shape, Shape::Echo | Shape::AltSvc | Shape::BestEffort) {
        return Ok(Outcome::Unsupported(format!(
            "{} is an HTTP-level case; HTTP/0.9 has no methods, bodies or headers",
            settings.testcase
        )));
    }
    let chacha20 = settings.testcase == "chacha20";
    let mut tls = crate::tls::client_config(hq::ALPN, settings.ca.as_deref(), chacha20)?;
    // `resumption` is about a resumed handshake alone: no early data offered.
    tls.enable_early_data = settings.testcase != "resumption";
    let client = HqClient::new(tls, settings.qlog_dir.clone())?;
    let (server, name) = server_of(&settings.requests[0]).await?;
    let key_update = settings.testcase == "keyupdate";
    let urls = &settings.requests;
    match shape {
        Shape::OneConnection => {
            let conn = client.connect(server, &name).await?;
            fetch_all(&conn.connection, urls, &settings.downloads, key_update).await?;
            conn.close().await;
        }
        Shape::Sequential => {
            let conn = client.connect(server, &name).await?;
            for url in urls {
                fetch_all(
                    &conn.connection,
                    std::slice::from_ref(url),
                    &settings.downloads,
                    false,
                )
                .await?;
            }
            conn.close().await;
        }
        Shape::ConnectionPerRequest { at_once } => {
            let one = |url: &Uri| {
                let (client, name, downloads) = (&client, &name, &settings.downloads);
                let url = url.clone();
                async move {
                    let conn = client.connect(server, name).await?;
                    fetch_all(&conn.connection, &[url], downloads, false).await?;
                    conn.close().await;
                    io::Result::Ok(())
                }
            };
            if at_once {
                for result in join_all(urls.iter().map(one)).await {
                    result?;
                }
            } else {
                for url in urls {
                    one(url).await?;
                }
            }
        }
        Shape::Resume { early } => {
            let first = client.connect(server, &name).await?;
            fetch_all(&first.connection, &urls[..1], &settings.downloads, false).await?;
            // The session ticket comes after the handshake; by the end of a response it
            // has arrived, but give a slow server a moment.
            tokio::time::sleep(Duration::from_millis(50)).await;
            first.close().await;
            let mut second = if early {
                client.connect_early(server, &name).await?
            } else {
                client.connect(server, &name).await?
            };
            fetch_all(&second.connection, &urls[1..], &settings.downloads, false).await?;
            if let Some(accepted) = second.zero_rtt.take() {
                let accepted = accepted.await;
                tracing::info!(accepted, "0-RTT");
            }
            second.close().await;
        }
        Shape::Echo | Shape::AltSvc | Shape::BestEffort => unreachable!("refused above"),
    }
    Ok(Outcome::Done)
}

async fn fetch_all(
    connection: &quinn::Connection,
    urls: &[Uri],
    downloads: &Path,
    key_update: bool,
) -> io::Result<()> {
    let fetches = urls.iter().enumerate().map(|(i, url)| {
        let path = url.path().to_string();
        let dest = download_path(downloads, url);
        // Only the first request forces the key update.
        async move { hq::fetch(connection, &path, &dest, key_update && i == 0).await }
    });
    for result in join_all(fetches).await {
        result?;
    }
    Ok(())
}

/// Where the file for `url` goes: its path below `downloads`.
pub fn download_path(downloads: &Path, url: &Uri) -> PathBuf {
    downloads.join(url.path().trim_start_matches('/'))
}

/// The server's address and TLS name from a URL (an IPv6 literal loses its brackets).
async fn server_of(url: &Uri) -> io::Result<(SocketAddr, String)> {
    let host = url
        .host()
        .ok_or_else(|| io::Error::other(format!("{url} has no host")))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url.port_u16().unwrap_or(443);
    let addr = tokio::net::lookup_host((host.as_str(), port))
        .await?
        .next()
        .ok_or_else(|| io::Error::other(format!("{host} has no address")))?;
    Ok((addr, host))
}
