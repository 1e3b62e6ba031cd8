//! Third-party HTTP servers (Caddy, nghttpd, nginx) started for a test: installed from
//! Debian by the project's test command, configured in a temporary directory, listening
//! on fresh loopback ports with the repo's own test certificates, checked ready by really
//! fetching a file, and stopped when the [`Peer`] is dropped.
//!
//! Each serves `hello.txt` (13 bytes) from its document root. What the server did is read
//! back from its own log ([`PeerLog`]): requests, connections, per-connection counts,
//! protocols, and for nghttpd the streams in flight and resets.

use std::io;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tokio::process::{Child, Command};

use crate::certs::{test_certs, CertFiles};

mod aioquic;
mod caddy;
mod hypercorn;
mod nghttpd;
mod nginx;
mod ngtcp2;
mod probe;
mod tinyproxy;

pub use aioquic::{aioquic, aioquic_with, AioquicOptions};
pub use caddy::caddy;
pub use hypercorn::hypercorn;
pub use nghttpd::{nghttpd, nghttpd_with, NghttpdOptions};
pub use nginx::{nginx, NginxOptions};
pub use ngtcp2::{ngtcp2, ngtcp2_with, Ngtcp2Options};
pub use tinyproxy::{tinyproxy, ProxyPeer};

/// How a peer is checked ready.
#[derive(Debug, Clone, Copy)]
enum Probe {
    /// An h2 GET over TLS on the TCP port.
    H2,
    /// An h2 GET by prior knowledge over cleartext TCP on the cleartext port.
    H2c,
    /// An h3 GET over QUIC on the UDP port.
    H3,
}

/// The path every peer serves: 13 bytes, `Hello, World!`.
pub const HELLO_PATH: &str = "/hello.txt";
/// A 10 MiB file of [`crate::routes::pattern_byte`]s every peer serves.
pub const TEN_MIB_PATH: &str = "/10mib.bin";
/// 127.0.0.1, where peers are checked unless they listen on ::1 only.
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The path the readiness probe fetches; excluded from [`PeerLog`] counts.
const READY_PATH: &str = "/__ready.txt";

/// What a peer's log says it did (readiness probes excluded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerLog {
    /// Requests handled.
    pub requests: u64,
    /// Connections that carried them.
    pub connections: usize,
    /// The most requests one connection carried.
    pub max_requests_per_connection: u64,
    /// Protocols seen, as the server names them (`HTTP/2.0`, `HTTP/1.1`).
    pub protocols: Vec<String>,
    /// The most streams open at once on one connection (nghttpd only).
    pub peak_streams: Option<usize>,
    /// RST_STREAM frames the server sent (nghttpd only).
    pub resets_sent: Option<u64>,
    /// `x-request-id`s logged more than once (nginx and Caddy).
    pub duplicate_request_ids: Vec<String>,
    /// Per request, in log order, the `Cookie` header it carried, empty for none
    /// (Caddy only).
    pub cookies: Vec<String>,
    /// The client addresses requests came from (without ports), where the log has them.
    pub client_hosts: Vec<String>,
    /// QUIC handshakes the server completed (aioquic, ngtcp2).
    pub handshakes: Option<u64>,
    /// Of those, the ones that resumed a TLS session (aioquic).
    pub resumed: Option<u64>,
    /// Of those, the ones whose 0-RTT early data the server accepted (aioquic).
    pub early_data_accepted: Option<u64>,
    /// QUIC key updates (aioquic; either side's, as the server applied them).
    pub key_updates: Option<u64>,
    /// Retry packets the server sent (aioquic and ngtcp2).
    pub retries: Option<u64>,
    /// Request body bytes the server received in DATA frames (nghttpd only).
    pub data_received: Option<u64>,
    /// WINDOW_UPDATE frames the server sent (nghttpd only).
    pub window_updates_sent: Option<u64>,
}

/// A running third-party server.
#[derive(Debug)]
pub struct Peer {
    name: &'static str,
    child: Child,
    ip: IpAddr,
    port: u16,
    cleartext_port: Option<u16>,
    log: PathBuf,
    parse: fn(&str) -> PeerLog,
    dir: TempDir,
}

impl Peer {
    /// The address the server was checked on (127.0.0.1, or ::1 for one that listens
    /// there only).
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// The server's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The TLS port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cleartext (h2c / HTTP/1.1) port, for a server started with one.
    pub fn cleartext_port(&self) -> Option<u16> {
        self.cleartext_port
    }

    /// The document root: files put here are served (every peer reads them per request).
    pub fn www(&self) -> PathBuf {
        self.dir.path().join("www")
    }

    /// The server's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// `https://localhost:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    /// The working directory (configuration, logs, document root).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What the server's log says so far.
    pub fn log(&self) -> PeerLog {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        (self.parse)(&text)
    }

    /// What the log says once it has stopped changing: servers write a request's log line
    /// after its response has gone out, so the last lines may trail the last response.
    /// Waits until two reads 100 ms apart agree (at most 5 s).
    pub async fn settled_log(&self) -> PeerLog {
        self.log_of(0).await
    }

    /// Like [`settled_log`](Self::settled_log), after first waiting (up to 5 s) for the
    /// log to show `requests` requests: a server may log a request a while after the
    /// client has its response (Caddy logs an HTTP/3 response once its stream is done).
    pub async fn log_of(&self, requests: u64) -> PeerLog {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.log().requests < requests && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut last = self.log();
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = self.log();
            if now == last || Instant::now() > deadline {
                return now;
            }
            last = now;
        }
    }

    /// Sends the server a signal by name (`QUIT`, `TERM`, ...): nginx stops gracefully
    /// on `QUIT`, Caddy on `TERM`.
    pub fn signal(&self, name: &str) -> io::Result<()> {
        let pid = self
            .child
            .id()
            .ok_or_else(|| io::Error::other(format!("{} has exited", self.name)))?;
        let status = std::process::Command::new("kill")
            .args([format!("-{name}"), pid.to_string()])
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!("kill -{name} {pid} failed")))
        }
    }

    /// Waits (at most `limit`) for the server to exit by itself; true if it did.
    pub async fn exited_within(&mut self, limit: Duration) -> bool {
        tokio::time::timeout(limit, self.child.wait()).await.is_ok()
    }

    /// Stops the server and waits for it to exit.
    pub async fn stop(mut self) {
        self.kill_group();
        let _ = self.child.kill().await;
    }

    /// Kills the server's whole process group: servers that fork workers (Hypercorn's
    /// multiprocessing workers) would otherwise outlive it, holding its sockets.
    fn kill_group(&self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.kill_group();
        let _ = self.child.start_kill();
    }
}

/// What a peer module needs to start one.
struct Launch {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
    dir: TempDir,
    /// Where the readiness probe connects.
    ip: IpAddr,
    port: u16,
    cleartext_port: Option<u16>,
    log: PathBuf,
    stdout_to_log: bool,
    parse: fn(&str) -> PeerLog,
    probe: Probe,
    env: Vec<(String, String)>,
}

async fn launch(l: Launch) -> io::Result<Peer> {
    let stdout = if l.stdout_to_log {
        Stdio::from(std::fs::File::create(&l.log)?)
    } else {
        Stdio::from(std::fs::File::create(l.dir.path().join("stdout.log"))?)
    };
    let stderr = Stdio::from(std::fs::File::create(l.dir.path().join("stderr.log"))?);
    let child = Command::new(&l.program)
        .args(&l.args)
        .current_dir(l.dir.path())
        .env("HOME", l.dir.path())
        .env("XDG_DATA_HOME", l.dir.path().join("data"))
        .env("XDG_CONFIG_HOME", l.dir.path().join("config"))
        .envs(l.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .kill_on_drop(true)
        // A group of its own, so that its workers are stopped with it.
        .process_group(0)
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot start {}: {e}", l.name)))?;
    let mut peer = Peer {
        name: l.name,
        child,
        ip: l.ip,
        port: l.port,
        cleartext_port: l.cleartext_port,
        log: l.log,
        parse: l.parse,
        dir: l.dir,
    };
    wait_ready(&mut peer, l.probe).await?;
    Ok(peer)
}

/// Waits until the peer serves [`READY_PATH`] over h2, or fails with its stderr.
async fn wait_ready(peer: &mut Peer, probe: Probe) -> io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last_error = None;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = peer.child.try_wait() {
            let stderr = stderr_tail(peer.dir());
            let kind = if stderr
                .to_ascii_lowercase()
                .contains("address already in use")
            {
                io::ErrorKind::AddrInUse
            } else {
                io::ErrorKind::Other
            };
            return Err(io::Error::new(
                kind,
                format!(
                    "{} exited ({status}) before it was ready: {stderr}",
                    peer.name
                ),
            ));
        }
        let ready = match probe {
            Probe::H2 => probe::fetch_h2((peer.ip, peer.port).into(), READY_PATH).await,
            Probe::H2c => {
                let port = peer.cleartext_port.unwrap_or(peer.port);
                probe::fetch_h2c((peer.ip, port).into(), READY_PATH).await
            }
            Probe::H3 => probe::fetch_h3((peer.ip, peer.port).into(), READY_PATH).await,
        };
        match ready {
            Ok(()) => return Ok(()),
            Err(e) => last_error = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(io::Error::other(format!(
        "{} not ready within 15 s: {:?}; stderr: {}",
        peer.name,
        last_error,
        stderr_tail(peer.dir())
    )))
}

fn stderr_tail(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
    let start = text.len().saturating_sub(2000);
    text.get(start..).unwrap_or_default().to_string()
}

/// A port nothing listens on right now, over TCP or UDP (peers that speak HTTP/3 bind
/// both).
pub fn free_port() -> io::Result<u16> {
    for _ in 0..20 {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        if std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no port free for both TCP and UDP in 20 tries",
    ))
}

/// Starts a peer with `start`, again on fresh ports (three tries in all) when it could
/// not bind its port: another process took it between [`free_port`] and the peer's own
/// bind, which a busy test run makes likely for UDP.
async fn on_fresh_ports<F, Fut>(start: F) -> io::Result<Peer>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = io::Result<Peer>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match start().await {
            Err(e) if tries < 3 && e.kind() == io::ErrorKind::AddrInUse => {
                tracing::debug!(error = %e, "peer could not bind its port; trying fresh ports");
            }
            other => return other,
        }
    }
}

/// Finds `name` on `PATH` or in the system binary directories.
pub fn find_binary(name: &str, debian_package: &str) -> io::Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "`{name}` is not installed: run ./scripts/test, which installs it \
                     (apt-get install {debian_package})"
                ),
            )
        })
}

/// The Python virtual environment `./scripts/test` makes for the Python peers (aioquic,
/// Hypercorn): `$PLEXUS_PEERS_VENV`, or `~/.cache/plexus/peers-venv`.
pub fn python_venv() -> io::Result<PathBuf> {
    let venv = std::env::var_os("PLEXUS_PEERS_VENV")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/plexus/peers-venv"))
        })
        .ok_or_else(|| io::Error::other("neither PLEXUS_PEERS_VENV nor HOME is set"))?;
    if venv.join("bin/python").is_file() {
        Ok(venv)
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "no Python peers environment at {}: run ./scripts/test, which makes it \
                 (aioquic, hypercorn from PyPI)",
                venv.display()
            ),
        ))
    }
}

/// Writes the ASGI app the Python peers serve into `dir`; returns the environment it
/// reads (document root, access log).
fn asgi_app(dir: &Path, www: &Path, log: &Path) -> io::Result<Vec<(String, String)>> {
    std::fs::write(dir.join("plexus_app.py"), include_str!("asgi_app.py"))?;
    Ok(vec![
        ("PLEXUS_WWW".into(), www.display().to_string()),
        ("PLEXUS_ACCESS_LOG".into(), log.display().to_string()),
        ("PYTHONPATH".into(), dir.display().to_string()),
        ("PYTHONUNBUFFERED".into(), "1".into()),
    ])
}

/// Parses the ASGI app's log: `client_host:client_port http_version method path` (lines
/// the aioquic wrapper adds there, `handshake ...` and `key_update ...`, are skipped).
fn parse_asgi_log(text: &str) -> PeerLog {
    let records = text.lines().filter_map(|line| {
        if line.starts_with("handshake ") || line.starts_with("key_update ") {
            return None;
        }
        let mut f = line.split_whitespace();
        let conn = f.next()?.to_string();
        let proto = format!("HTTP/{}", f.next()?);
        let _method = f.next()?;
        let path = if f.next()? == READY_PATH {
            READY_PATH
        } else {
            ""
        };
        Some((conn, proto, path))
    });
    summarize(records)
}

/// A fresh working directory with the test certificates and a document root.
/// A file Caddy serves with `Set-Cookie: peer=caddy; Path=/`.
pub const SET_COOKIE_PATH: &str = "/set-cookie.txt";

/// A text file the peers that compress (nginx: gzip; Caddy: zstd and gzip) send encoded
/// when asked; no other file is.
pub const COMPRESSIBLE_PATH: &str = "/compressible.txt";

/// The content of [`COMPRESSIBLE_PATH`]: 64 KiB of numbered lines.
pub fn compressible_text() -> Vec<u8> {
    let mut text = String::new();
    let mut i = 0;
    while text.len() < 64 * 1024 {
        text.push_str(&format!(
            "line {i}: the quick brown fox jumps over the lazy dog\n"
        ));
        i += 1;
    }
    text.into_bytes()
}

fn workdir() -> io::Result<(TempDir, CertFiles, PathBuf)> {
    let dir = tempfile::Builder::new().prefix("plexus-peer-").tempdir()?;
    let certs = test_certs().write_to(dir.path())?;
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www)?;
    std::fs::write(www.join("hello.txt"), crate::routes::HELLO)?;
    let ten_mib: Vec<u8> = (0..10 * 1024 * 1024u64)
        .map(crate::routes::pattern_byte)
        .collect();
    std::fs::write(www.join("10mib.bin"), ten_mib)?;
    std::fs::write(www.join("__ready.txt"), b"ready")?;
    std::fs::write(
        www.join(SET_COOKIE_PATH.trim_start_matches('/')),
        b"cookie set",
    )?;
    std::fs::write(
        www.join(COMPRESSIBLE_PATH.trim_start_matches('/')),
        compressible_text(),
    )?;
    for sub in ["data", "config", "tmp"] {
        std::fs::create_dir_all(dir.path().join(sub))?;
    }
    Ok((dir, certs, www))
}

/// The request ids that appear more than once.
fn duplicates<'a>(ids: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut seen = std::collections::BTreeMap::<&str, u32>::new();
    for id in ids {
        *seen.entry(id).or_default() += 1;
    }
    seen.into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(id, _)| id.to_string())
        .collect()
}

/// Counts requests and connections from `(connection key, protocol, path)` records (a key
/// starts with the client's `ADDR:PORT`), leaving out the readiness probe.
fn summarize<'a>(records: impl Iterator<Item = (String, String, &'a str)>) -> PeerLog {
    use std::collections::BTreeMap;
    let mut per_conn: BTreeMap<String, u64> = BTreeMap::new();
    let mut protocols: Vec<String> = Vec::new();
    let mut hosts = std::collections::BTreeSet::new();
    let mut requests = 0;
    for (conn, protocol, path) in records {
        if path == READY_PATH {
            continue;
        }
        requests += 1;
        if let Some((host, _port)) = conn.rsplit_once(':') {
            hosts.insert(
                host.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
            );
        }
        *per_conn.entry(conn).or_default() += 1;
        if !protocols.contains(&protocol) {
            protocols.push(protocol);
        }
    }
    protocols.sort();
    PeerLog {
        requests,
        connections: per_conn.len(),
        max_requests_per_connection: per_conn.values().copied().max().unwrap_or(0),
        protocols,
        client_hosts: hosts.into_iter().collect(),
        ..PeerLog::default()
    }
}
