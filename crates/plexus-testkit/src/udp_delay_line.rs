//! A UDP proxy that adds latency, for QUIC: every datagram is delivered half a round trip
//! after it arrived, in order, in each direction. One upstream socket per client address,
//! so each client looks like a distinct peer to the server.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant;

/// A running UDP delay line; stops when dropped.
#[derive(Debug)]
pub struct UdpDelayLine {
    addr: SocketAddr,
    task: AbortHandle,
}

impl UdpDelayLine {
    /// Forwards datagrams sent to the returned port to `target` and back, with `rtt` of
    /// round-trip latency.
    pub async fn start(target: SocketAddr, rtt: Duration) -> io::Result<UdpDelayLine> {
        UdpDelayLine::start_on(0, target, rtt).await
    }

    /// Like [`start`](Self::start), on a given UDP port of 127.0.0.1 (0 for a fresh one):
    /// for example the port number of a TCP-only server, so that the origin's QUIC goes
    /// elsewhere than its TCP.
    pub async fn start_on(
        port: u16,
        target: SocketAddr,
        rtt: Duration,
    ) -> io::Result<UdpDelayLine> {
        let front = Arc::new(UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).await?);
        let addr = front.local_addr()?;
        let one_way = rtt / 2;
        let task = tokio::spawn(async move {
            let mut flows: HashMap<SocketAddr, mpsc::UnboundedSender<(Instant, Bytes)>> =
                HashMap::new();
            let mut buf = vec![0u8; 65_536];
            loop {
                let Ok((n, client)) = front.recv_from(&mut buf).await else {
                    return;
                };
                let due = Instant::now() + one_way;
                let datagram = Bytes::copy_from_slice(&buf[..n]);
                if let Some(tx) = flows.get(&client) {
                    if tx.send((due, datagram.clone())).is_ok() {
                        continue;
                    }
                }
                let Ok(tx) = open_flow(Arc::clone(&front), client, target, one_way).await else {
                    continue;
                };
                let _ = tx.send((due, datagram));
                flows.insert(client, tx);
            }
        });
        Ok(UdpDelayLine {
            addr,
            task: task.abort_handle(),
        })
    }

    /// The port clients send to.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for UdpDelayLine {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An upstream socket for one client, with a delayed writer each way.
async fn open_flow(
    front: Arc<UdpSocket>,
    client: SocketAddr,
    target: SocketAddr,
    one_way: Duration,
) -> io::Result<mpsc::UnboundedSender<(Instant, Bytes)>> {
    let upstream = Arc::new(UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?);
    upstream.connect(target).await?;
    let (to_server, mut outbound) = mpsc::unbounded_channel::<(Instant, Bytes)>();
    let (to_client, mut inbound) = mpsc::unbounded_channel::<(Instant, Bytes)>();
    let up = Arc::clone(&upstream);
    tokio::spawn(async move {
        while let Some((due, d)) = outbound.recv().await {
            tokio::time::sleep_until(due).await;
            let _ = up.send(&d).await;
        }
    });
    let up = Arc::clone(&upstream);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok(n) = up.recv(&mut buf).await {
            let due = Instant::now() + one_way;
            if to_client
                .send((due, Bytes::copy_from_slice(&buf[..n])))
                .is_err()
            {
                return;
            }
        }
    });
    tokio::spawn(async move {
        while let Some((due, d)) = inbound.recv().await {
            tokio::time::sleep_until(due).await;
            let _ = front.send_to(&d, client).await;
        }
    });
    Ok(to_server)
}
