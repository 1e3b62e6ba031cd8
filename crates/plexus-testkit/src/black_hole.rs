//! A UDP port that swallows every datagram and answers none, counting what arrives: a
//! network path where QUIC is blocked.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::task::AbortHandle;

/// A running black hole; closed when dropped.
#[derive(Debug)]
pub struct UdpBlackHole {
    addr: SocketAddr,
    received: Arc<AtomicU64>,
    task: AbortHandle,
}

impl UdpBlackHole {
    /// Binds a fresh UDP port on 127.0.0.1.
    pub async fn bind() -> io::Result<UdpBlackHole> {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = socket.local_addr()?;
        let received = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&received);
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            while socket.recv_from(&mut buf).await.is_ok() {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
        Ok(UdpBlackHole {
            addr,
            received,
            task: task.abort_handle(),
        })
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Datagrams swallowed so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

impl Drop for UdpBlackHole {
    fn drop(&mut self) {
        self.task.abort();
    }
}
