//! A TCP proxy that adds latency: every chunk is delivered half a round trip after it was
//! read, in order, in each direction, so that a loopback server behaves like one across a
//! network with that round-trip time (and unlimited bandwidth).
//!
//! A userspace proxy cannot delay the kernel's TCP handshake, so the first bytes the
//! client sends are held back one extra round trip instead: the time to the first
//! response is then what it would be over a real link.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant;

/// A running delay line; stops when dropped.
#[derive(Debug)]
pub struct DelayLine {
    addr: SocketAddr,
    accept: AbortHandle,
}

impl DelayLine {
    /// Forwards connections made to the returned address to `target`, with `rtt` of
    /// round-trip latency.
    pub async fn start(target: SocketAddr, rtt: Duration) -> io::Result<DelayLine> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(target).await {
                        let _ = client.set_nodelay(true);
                        let _ = server.set_nodelay(true);
                        relay(client, server, rtt).await;
                    }
                });
            }
        });
        Ok(DelayLine {
            addr,
            accept: accept.abort_handle(),
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for DelayLine {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn relay(client: TcpStream, server: TcpStream, rtt: Duration) {
    let one_way = rtt / 2;
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    // The client's first flight waits one more round trip: the handshake it skipped.
    let upstream = pipe(cr, sw, one_way, rtt);
    let downstream = pipe(sr, cw, one_way, Duration::ZERO);
    tokio::join!(upstream, downstream);
}

async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    delay: Duration,
    first_extra: Duration,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Bytes)>();
    let reader = async move {
        let mut extra = first_extra;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let due = Instant::now() + delay + extra;
                    extra = Duration::ZERO;
                    if tx.send((due, Bytes::copy_from_slice(&buf[..n]))).is_err() {
                        break;
                    }
                }
            }
        }
    };
    let writer = async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}
