//! A raw HTTP/3 server (quinn, no h3 crate) that attacks the client's memory with frames
//! whose announced length is far over any limit: an HTTP/3 frame must be whole before it
//! can be decoded, so a client that buffers frames as they come holds all of it. The
//! server streams the payload until [`HOSTILE_BYTES`] are out or the client stops it,
//! counting what it wrote and the error codes the client answered with.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::AbortHandle;

use crate::certs::test_certs;
use crate::HOSTILE_BYTES;

/// What the server does wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum H3Hostility {
    /// Answers each request with a HEADERS frame announcing 1 GiB of field section.
    OversizedHeaders,
    /// Answers each request with a frame of a reserved (unknown) type announcing 1 GiB;
    /// a client must skip unknown frames, but need not hold them.
    OversizedUnknownFrame,
    /// Sends, on its control stream after SETTINGS, a frame of a reserved type announcing
    /// 1 GiB; requests are never answered.
    OversizedControlFrame,
}

/// The hostile server; stops when dropped.
#[derive(Debug)]
pub struct HostileH3Server {
    addr: SocketAddr,
    seen: Arc<Seen>,
    accept: AbortHandle,
}

#[derive(Debug, Default)]
struct Seen {
    connections: AtomicU64,
    requests: AtomicU64,
    writers: AtomicU64,
    writers_done: AtomicU64,
    most_written: AtomicU64,
    stop_codes: Mutex<Vec<u64>>,
    close_codes: Mutex<Vec<u64>>,
}

/// The announced length of every hostile frame: 1 GiB.
const ANNOUNCED: u64 = 1 << 30;
/// HTTP/3 frame types (RFC 9114 §7.2) and the control stream type (§6.2.1).
const HEADERS: u64 = 0x01;
const SETTINGS: u64 = 0x04;
const RESERVED: u64 = 0x21;
const CONTROL_STREAM: u64 = 0x00;

impl HostileH3Server {
    /// Binds a fresh UDP port on 127.0.0.1 (ALPN `h3`, the test certificate).
    pub async fn start(hostility: H3Hostility) -> io::Result<HostileH3Server> {
        let tls = (*test_certs().server_config_with_versions(&[b"h3"], &[&rustls::version::TLS13]))
            .clone();
        let crypto =
            quinn::crypto::rustls::QuicServerConfig::try_from(tls).map_err(io::Error::other)?;
        let config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        let endpoint = quinn::Endpoint::server(config, (Ipv4Addr::LOCALHOST, 0).into())?;
        let addr = endpoint.local_addr()?;
        let seen = Arc::new(Seen::default());
        let shared = Arc::clone(&seen);
        let accept = tokio::spawn(async move {
            while let Some(incoming) = endpoint.accept().await {
                let seen = Arc::clone(&shared);
                tokio::spawn(async move {
                    if let Ok(conn) = incoming.await {
                        seen.connections.fetch_add(1, Ordering::Relaxed);
                        serve(conn, hostility, seen).await;
                    }
                });
            }
        })
        .abort_handle();
        Ok(HostileH3Server { addr, seen, accept })
    }

    /// `https://localhost:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    /// QUIC connections accepted.
    pub fn connections(&self) -> u64 {
        self.seen.connections.load(Ordering::Relaxed)
    }

    /// Request streams accepted.
    pub fn requests(&self) -> u64 {
        self.seen.requests.load(Ordering::Relaxed)
    }

    /// The most bytes written on any one stream.
    pub fn most_bytes_written(&self) -> u64 {
        self.seen.most_written.load(Ordering::Relaxed)
    }

    /// Error codes of the client's STOP_SENDING on the hostile streams.
    pub fn stop_codes(&self) -> Vec<u64> {
        self.seen.stop_codes.lock().expect("codes").clone()
    }

    /// Application error codes the client closed connections with.
    pub fn close_codes(&self) -> Vec<u64> {
        self.seen.close_codes.lock().expect("codes").clone()
    }

    /// Waits (up to 20 s) until every hostile stream has written all it had to offer or
    /// was stopped; false on time-out.
    pub async fn done_writing(&self) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let started = self.seen.writers.load(Ordering::Relaxed);
            if started > 0 && self.seen.writers_done.load(Ordering::Relaxed) == started {
                return true;
            }
            if tokio::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for HostileH3Server {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn serve(conn: quinn::Connection, hostility: H3Hostility, seen: Arc<Seen>) {
    let Ok(mut control) = conn.open_uni().await else {
        return;
    };
    let mut opening = varint(CONTROL_STREAM);
    opening.extend(frame_header(SETTINGS, 0));
    if control.write_all(&opening).await.is_err() {
        return;
    }
    // Kept open for the life of the connection, as RFC 9114 §6.2.1 asks.
    let held = conn.clone();
    let flood_control =
        (hostility == H3Hostility::OversizedControlFrame).then(|| Arc::clone(&seen));
    tokio::spawn(async move {
        if let Some(seen) = flood_control {
            flood(&mut control, RESERVED, seen).await;
        }
        held.closed().await;
    });
    let watch = conn.clone();
    let closes = Arc::clone(&seen);
    tokio::spawn(async move {
        if let quinn::ConnectionError::ApplicationClosed(close) = watch.closed().await {
            closes
                .close_codes
                .lock()
                .expect("codes")
                .push(close.error_code.into_inner());
        }
    });
    while let Ok((mut send, mut recv)) = conn.accept_bi().await {
        seen.requests.fetch_add(1, Ordering::Relaxed);
        let seen = Arc::clone(&seen);
        let held = conn.clone();
        tokio::spawn(async move {
            // The request itself is of no interest.
            let _ = recv.read_to_end(64 * 1024).await;
            match hostility {
                H3Hostility::OversizedHeaders => flood(&mut send, HEADERS, seen).await,
                H3Hostility::OversizedUnknownFrame => flood(&mut send, RESERVED, seen).await,
                H3Hostility::OversizedControlFrame => {}
            }
            // Never finished: the frame was never complete, or no answer began.
            held.closed().await;
        });
    }
}

/// Writes a frame header of `kind` announcing [`ANNOUNCED`] bytes, then zeros until
/// [`HOSTILE_BYTES`] are out or the client stops the stream.
async fn flood(send: &mut quinn::SendStream, kind: u64, seen: Arc<Seen>) {
    seen.writers.fetch_add(1, Ordering::Relaxed);
    let header = frame_header(kind, ANNOUNCED);
    let zeros = vec![0u8; 16 * 1024];
    let mut written = 0u64;
    let mut next: &[u8] = &header;
    let stopped = loop {
        if written >= HOSTILE_BYTES {
            break None;
        }
        match send.write_all(next).await {
            Ok(()) => {}
            Err(quinn::WriteError::Stopped(code)) => break Some(code.into_inner()),
            Err(_) => break None,
        }
        written += next.len() as u64;
        seen.most_written.fetch_max(written, Ordering::Relaxed);
        next = &zeros;
    };
    if let Some(code) = stopped {
        seen.stop_codes.lock().expect("codes").push(code);
    }
    seen.writers_done.fetch_add(1, Ordering::Relaxed);
}

fn frame_header(kind: u64, len: u64) -> Vec<u8> {
    let mut out = varint(kind);
    out.extend(varint(len));
    out
}

/// A QUIC variable-length integer (RFC 9000 §16).
fn varint(v: u64) -> Vec<u8> {
    match v {
        0..=63 => vec![v as u8],
        64..=16_383 => (v as u16 | 0x4000).to_be_bytes().to_vec(),
        16_384..=1_073_741_823 => (v as u32 | 0x8000_0000).to_be_bytes().to_vec(),
        _ => (v | 0xc000_0000_0000_0000).to_be_bytes().to_vec(),
    }
}
