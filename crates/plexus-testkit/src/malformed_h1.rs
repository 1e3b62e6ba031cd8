//! A raw HTTP/1.1 server on cleartext TCP that answers with broken responses, chosen by
//! path — what no well-behaved server library will send:
//!
//! | path | response |
//! |---|---|
//! | `/ok` | `200` with a 2-byte body; the connection stays open |
//! | `/bad-status-line` | `HTTP/1.1 2x0 OK`, then the connection closes |
//! | `/bad-header-bytes` | a header name with a space in it |
//! | `/not-http` | an SSH banner instead of a status line |
//! | `/short-body` | `Content-Length: 100` and 10 bytes, then the connection closes |
//! | `/truncated-chunked` | a chunked body whose last chunk never comes; the connection closes |
//! | `/bad-chunk-size` | a chunk size that is not hex |
//! | `/long-body` | `Content-Length: 2` followed by more bytes than that; the connection stays open |
//! | `/endless-headers` | a status line, then header lines until [`HOSTILE_BYTES`] are out or the client hangs up |
//!
//! Every request head read is counted, so a test can tell a request was not sent twice;
//! so are the bytes written on a connection, so a test can tell where a client stopped
//! reading an endless head.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use crate::HOSTILE_BYTES;

/// The broken-response server; stops when dropped.
#[derive(Debug)]
pub struct MalformedServer {
    addr: SocketAddr,
    counts: Arc<Counts>,
    accept: AbortHandle,
}

#[derive(Debug, Default)]
struct Counts {
    requests: AtomicU64,
    connections: AtomicU64,
    most_written: AtomicU64,
}

/// What to do after a response is written.
enum After {
    KeepOpen,
    Close,
}

fn response(path: &str) -> (&'static [u8], After) {
    match path {
        "/ok" => (
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
            After::KeepOpen,
        ),
        "/bad-status-line" => (
            b"HTTP/1.1 2x0 OK\r\ncontent-length: 2\r\n\r\nok",
            After::Close,
        ),
        "/bad-header-bytes" => (
            b"HTTP/1.1 200 OK\r\nbad header: x\r\ncontent-length: 2\r\n\r\nok",
            After::Close,
        ),
        "/not-http" => (b"SSH-2.0-OpenSSH_9.2\r\n", After::Close),
        "/short-body" => (
            b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789",
            After::Close,
        ),
        "/truncated-chunked" => (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n",
            After::Close,
        ),
        "/bad-chunk-size" => (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
            After::Close,
        ),
        "/long-body" => (
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA BYTES",
            After::KeepOpen,
        ),
        _ => (
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            After::KeepOpen,
        ),
    }
}

impl MalformedServer {
    /// Binds a fresh port on 127.0.0.1 and starts serving.
    pub async fn start() -> io::Result<MalformedServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let counts = Arc::new(Counts::default());
        let shared = Arc::clone(&counts);
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                shared.connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(serve(stream, Arc::clone(&shared)));
            }
        })
        .abort_handle();
        Ok(MalformedServer {
            addr,
            counts,
            accept,
        })
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Request heads read so far.
    pub fn requests(&self) -> u64 {
        self.counts.requests.load(Ordering::Relaxed)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.counts.connections.load(Ordering::Relaxed)
    }

    /// The most bytes written on any one connection.
    pub fn most_bytes_written(&self) -> u64 {
        self.counts.most_written.load(Ordering::Relaxed)
    }
}

impl Drop for MalformedServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Reads request heads (bodies are not expected) and answers each by its path.
async fn serve(mut stream: TcpStream, counts: Arc<Counts>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) if buf.len() + n > 64 * 1024 => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end + 4);
        counts.requests.fetch_add(1, Ordering::Relaxed);
        let path = head.split_whitespace().nth(1).unwrap_or("/");
        if path == "/endless-headers" {
            endless_headers(&mut stream, &counts).await;
            return;
        }
        let (bytes, after) = response(path);
        if stream.write_all(bytes).await.is_err() {
            return;
        }
        counts
            .most_written
            .fetch_max(bytes.len() as u64, Ordering::Relaxed);
        if let After::Close = after {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

/// A status line and then header lines, 16 KiB at a time, until [`HOSTILE_BYTES`] are out
/// or the client hangs up; the connection is then held open until the client closes it.
async fn endless_headers(stream: &mut TcpStream, counts: &Counts) {
    let line = b"x-junk: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let chunk = line.repeat(16 * 1024 / line.len());
    let mut written = 0u64;
    let mut next: &[u8] = b"HTTP/1.1 200 OK\r\n";
    while written < HOSTILE_BYTES {
        if stream.write_all(next).await.is_err() {
            return;
        }
        written += next.len() as u64;
        counts.most_written.fetch_max(written, Ordering::Relaxed);
        next = &chunk;
    }
    let mut sink = [0u8; 1024];
    while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
}
