//! The cases that run through plexus itself: `http3`, and every case when
//! `PLEXUS_PROTOCOL` names an HTTP protocol (h3, h2, HTTP/1.1, h2c, or plexus's defaults).

use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use http::Uri;
use plexus::{Certificate, Client, Http3Mode};
use tokio::io::AsyncWriteExt;

use crate::endpoint::{download_path, Outcome, Protocol, Settings, Shape};

/// The body `post-echo` sends when `PLEXUS_POST_BODY` names none.
pub(crate) const DEFAULT_POST_BODY_SIZE: usize = 100 * 1024;

pub(crate) async fn run(settings: &Settings, shape: Shape) -> io::Result<Outcome> {
    if let Some(reason) = unsupported(&settings.testcase) {
        return Ok(Outcome::Unsupported(reason.to_string()));
    }
    let urls = &settings.requests;
    let downloads = settings.downloads.as_path();
    match shape {
        Shape::OneConnection => {
            let client = client(settings, None, true)?;
            fetch_all(&client, urls, downloads, None).await?;
        }
        Shape::Sequential => {
            let client = client(settings, None, true)?;
            for url in urls {
                fetch(&client, url, downloads, None).await?;
            }
        }
        Shape::ConnectionPerRequest { at_once } => {
            // A client of its own for each: a new pool, a new connection, a full handshake.
            let one = |url: &Uri| {
                let url = url.clone();
                async move {
                    let client = client(settings, None, true)?;
                    fetch(&client, &url, downloads, None).await
                }
            };
            if at_once {
                for result in futures_util::future::join_all(urls.iter().map(one)).await {
                    result?;
                }
            } else {
                for url in urls {
                    one(url).await?;
                }
            }
        }
        Shape::Resume { early } => {
            // Connections that idle for a millisecond are closed, so the second request
            // opens a new connection, which resumes the first one's session (over h3 in
            // 0-RTT when `early`: plexus sends replay-safe requests early whenever it can).
            let client = client(settings, Some(Duration::from_millis(1)), early)?;
            fetch(&client, &urls[0], downloads, None).await?;
            tokio::time::sleep(Duration::from_millis(100)).await;
            fetch_all(&client, &urls[1..], downloads, None).await?;
        }
        Shape::Echo => {
            let body = match &settings.post_body {
                Some(file) => std::fs::read(file)?,
                None => crate::files::content("post-echo", DEFAULT_POST_BODY_SIZE),
            };
            let client = client(settings, None, true)?;
            fetch_all(&client, urls, downloads, Some(&body)).await?;
        }
        Shape::AltSvc => {
            let client = client(settings, None, true)?;
            fetch(&client, &urls[0], downloads, None).await?;
            fetch_all(&client, &urls[1..], downloads, None).await?;
        }
        Shape::BestEffort => {
            let client = client(settings, None, true)?;
            best_effort(&client, urls, downloads).await;
        }
    }
    Ok(Outcome::Done)
}

/// Why plexus cannot run a case, if it cannot.
fn unsupported(testcase: &str) -> Option<&'static str> {
    match testcase {
        "chacha20" => Some("plexus offers no choice of TLS cipher suites (rustls's defaults)"),
        "keyupdate" => Some("plexus does not force QUIC key updates (quinn does them when due)"),
        _ => None,
    }
}

fn client(settings: &Settings, idle: Option<Duration>, zero_rtt: bool) -> io::Result<Client> {
    // The runner's cases are about finishing, not speed: a handshake at 30 % loss may
    // take longer than plexus's default 10 s, and its QUIC connection may hear nothing
    // for longer than quinn's 30 s idle timeout (the HTTP/0.9 client's reason, which holds
    // as well for the HTTP/3 client that Caddy gets), and frequent PINGs keep a wedged
    // connection from idling out at the server's shorter limit (see `hq::KEEP_ALIVE`).
    let mut builder = Client::builder()
        .timeout(Duration::from_secs(80))
        .connect_timeout(Duration::from_secs(60))
        .quic_idle_timeout(crate::hq::IDLE_TIMEOUT)
        .quic_keep_alive_interval(crate::hq::KEEP_ALIVE)
        .http3_zero_rtt(zero_rtt);
    builder = match &settings.ca {
        Some(ca) => {
            let pem = std::fs::read(ca)?;
            builder.add_root_certificate(Certificate::from_pem(&pem).map_err(io::Error::other)?)
        }
        None => builder.danger_accept_invalid_certs(true),
    };
    builder = match settings.protocol {
        Protocol::H3 | Protocol::Hq => builder.http3(Http3Mode::Only),
        Protocol::H2 => builder.http3(Http3Mode::Off),
        Protocol::H1 => builder.http1_only().http3(Http3Mode::Off),
        Protocol::H2c => builder.http2_prior_knowledge(),
        Protocol::Auto => builder.http3(Http3Mode::AltSvc),
    };
    if let Some(idle) = idle {
        builder = builder.pool_idle_timeout(idle);
    }
    if let Some(dir) = &settings.qlog_dir {
        std::fs::create_dir_all(dir)?;
        builder = builder.quic_qlog_dir(dir);
    }
    builder.build().map_err(io::Error::other)
}

/// Fetches every URL at once.
async fn fetch_all(
    client: &Client,
    urls: &[Uri],
    downloads: &Path,
    body: Option<&[u8]>,
) -> io::Result<()> {
    let results: Vec<io::Result<()>> = stream::iter(urls)
        .map(|url| fetch(client, url, downloads, body))
        .buffer_unordered(usize::MAX)
        .collect()
        .await;
    results.into_iter().collect()
}

/// GETs `url` (or POSTs `body` to it) and writes the response body to its download
/// path; a status other than 200 is an error.
async fn fetch(
    client: &Client,
    url: &Uri,
    downloads: &Path,
    body: Option<&[u8]>,
) -> io::Result<()> {
    let request = match body {
        Some(body) => client.post(url.clone()).body(body.to_vec()),
        None => client.get(url.clone()),
    };
    let mut response = request
        .send()
        .await
        .map_err(|e| io::Error::other(format!("{url}: {:?}: {e}", e.kind())))?;
    if response.status() != http::StatusCode::OK {
        return Err(io::Error::other(format!(
            "{url}: status {}",
            response.status()
        )));
    }
    tracing::debug!(%url, version = ?response.version(), "response");
    let dest = download_path(downloads, url);
    if let Some(parent) = dest.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    let mut file = tokio::fs::File::create(&dest).await?;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| io::Error::other(format!("{url}: {:?}: {e}", e.kind())))?
    {
        file.write_all(&chunk).await?;
    }
    file.flush().await
}

/// Fetches every URL, 8 at a time, printing one line per URL to stdout: `ok PATH` or
/// `error PATH KIND message`. A URL that failed leaves no file behind.
async fn best_effort(client: &Client, urls: &[Uri], downloads: &Path) {
    stream::iter(urls)
        .for_each_concurrent(8, |url| async move {
            let line = match fetch(client, url, downloads, None).await {
                Ok(()) => format!("ok {}", url.path()),
                Err(e) => {
                    let _ = std::fs::remove_file(download_path(downloads, url));
                    format!("error {} {e}", url.path())
                }
            };
            // A closed stdout must not end the run.
            let _ = writeln!(std::io::stdout(), "{line}");
        })
        .await;
}
