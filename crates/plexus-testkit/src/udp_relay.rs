//! A UDP relay between QUIC clients and a server that impairs the path as an
//! [`Impairment`] says — delay, a bottleneck, loss in bursts, blackhole periods, NAT
//! rebinding — and counts what it did, so a test can tell that the impairment really hit
//! the traffic.
//!
//! Each client address gets its own upstream socket (a "flow"), so each client looks like
//! a distinct peer to the server. The two directions are two [`Link`]s shared by every
//! flow, like one bottleneck; each direction delivers in the order it admitted.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::impairment::{Dropped, Impairment, Link};

/// What a relay has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Datagrams passed on toward the server.
    pub to_server: u64,
    /// Datagrams passed on toward clients.
    pub to_client: u64,
    /// Datagrams dropped by random loss.
    pub lost: u64,
    /// Datagrams dropped while the link was down.
    pub blackholed: u64,
    /// Datagrams dropped by the bottleneck's full queue.
    pub queue_full: u64,
    /// Upstream sockets moved to a new port or address.
    pub rebinds: u64,
    /// Datagrams the server sent to a moved socket: it followed the client to its new
    /// address.
    pub from_server_after_rebind: u64,
    /// Flows (client addresses) seen.
    pub flows: u64,
}

#[derive(Debug, Default)]
struct Counters {
    to_server: AtomicU64,
    to_client: AtomicU64,
    lost: AtomicU64,
    blackholed: AtomicU64,
    queue_full: AtomicU64,
    rebinds: AtomicU64,
    from_server_after_rebind: AtomicU64,
    flows: AtomicU64,
}

impl Counters {
    fn dropped(&self, why: Dropped) {
        let counter = match why {
            Dropped::Lost => &self.lost,
            Dropped::Blackholed => &self.blackholed,
            Dropped::QueueFull => &self.queue_full,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A datagram on its way, with when it leaves the link.
struct InFlight {
    due: Instant,
    datagram: Bytes,
    /// Toward the server: the flow whose current socket sends it; toward a client: its
    /// address.
    to: Destination,
}

enum Destination {
    Server(Arc<Flow>),
    Client(SocketAddr),
}

/// One client's upstream socket, which rebinding replaces.
struct Flow {
    client: SocketAddr,
    socket: Mutex<Arc<UdpSocket>>,
    reader: Mutex<Option<AbortHandle>>,
}

impl Flow {
    fn socket(&self) -> Arc<UdpSocket> {
        Arc::clone(&self.socket.lock().expect("flow socket"))
    }
}

/// Everything the relay's tasks share.
struct Shared {
    target: SocketAddr,
    to_server_link: Mutex<Link>,
    to_client_link: Mutex<Link>,
    to_server: mpsc::UnboundedSender<InFlight>,
    to_client: mpsc::UnboundedSender<InFlight>,
    flows: Mutex<HashMap<SocketAddr, Arc<Flow>>>,
    counters: Counters,
    tasks: Mutex<Vec<AbortHandle>>,
}

impl Shared {
    fn keep(&self, task: AbortHandle) {
        self.tasks.lock().expect("relay tasks").push(task);
    }

    /// Puts `datagram` through the link toward `to` and queues it for delivery when
    /// due, unless the link drops it; false once the relay is stopping.
    fn forward(&self, datagram: &[u8], to: Destination) -> bool {
        let (link, queue) = match to {
            Destination::Server(_) => (&self.to_server_link, &self.to_server),
            Destination::Client(_) => (&self.to_client_link, &self.to_client),
        };
        let due = match link
            .lock()
            .expect("link")
            .admit(Instant::now(), datagram.len())
        {
            Ok(due) => due,
            Err(why) => {
                self.counters.dropped(why);
                return true;
            }
        };
        queue
            .send(InFlight {
                due,
                datagram: Bytes::copy_from_slice(datagram),
                to,
            })
            .is_ok()
    }
}

/// A running relay; stops (every task and socket) when dropped.
pub struct UdpRelay {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for UdpRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpRelay")
            .field("addr", &self.addr)
            .field("target", &self.shared.target)
            .field("stats", &self.stats())
            .finish()
    }
}

impl UdpRelay {
    /// A relay on a fresh port of the loopback address of `target`'s family.
    pub async fn start(target: SocketAddr, impairment: Impairment) -> io::Result<UdpRelay> {
        let front = SocketAddr::new(loopback_like(target.ip()), 0);
        UdpRelay::start_on(front, target, impairment).await
    }

    /// A relay that clients reach at `front` (port 0 for a fresh one).
    pub async fn start_on(
        front: SocketAddr,
        target: SocketAddr,
        impairment: Impairment,
    ) -> io::Result<UdpRelay> {
        let front = Arc::new(UdpSocket::bind(front).await?);
        let addr = front.local_addr()?;
        let epoch = Instant::now();
        let (to_server, outbound) = mpsc::unbounded_channel();
        let (to_client, inbound) = mpsc::unbounded_channel();
        let rebind = impairment.rebind;
        let shared = Arc::new(Shared {
            target,
            to_server_link: Mutex::new(Link::new(impairment.clone(), epoch, 1)),
            to_client_link: Mutex::new(Link::new(impairment, epoch, 2)),
            to_server,
            to_client,
            flows: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            tasks: Mutex::new(Vec::new()),
        });
        let tasks = [
            tokio::spawn(receive_from_clients(
                Arc::clone(&front),
                Arc::clone(&shared),
            )),
            tokio::spawn(deliver(outbound, Arc::clone(&front), Arc::clone(&shared))),
            tokio::spawn(deliver(inbound, Arc::clone(&front), Arc::clone(&shared))),
        ];
        for t in tasks {
            shared.keep(t.abort_handle());
        }
        if let Some(rebind) = rebind {
            let task = tokio::spawn(rebind_now_and_then(
                Arc::clone(&shared),
                rebind.every,
                rebind.address,
            ));
            shared.keep(task.abort_handle());
        }
        Ok(UdpRelay { addr, shared })
    }

    /// Where clients send.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port clients send to.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// What the relay has done so far.
    pub fn stats(&self) -> RelayStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RelayStats {
            to_server: get(&c.to_server),
            to_client: get(&c.to_client),
            lost: get(&c.lost),
            blackholed: get(&c.blackholed),
            queue_full: get(&c.queue_full),
            rebinds: get(&c.rebinds),
            from_server_after_rebind: get(&c.from_server_after_rebind),
            flows: get(&c.flows),
        }
    }
}

impl Drop for UdpRelay {
    fn drop(&mut self) {
        for t in self.shared.tasks.lock().expect("relay tasks").drain(..) {
            t.abort();
        }
        for flow in self.shared.flows.lock().expect("flows").values() {
            if let Some(r) = flow.reader.lock().expect("reader").take() {
                r.abort();
            }
        }
    }
}

fn loopback_like(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

async fn receive_from_clients(front: Arc<UdpSocket>, shared: Arc<Shared>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let Ok((n, client)) = front.recv_from(&mut buf).await else {
            return;
        };
        let existing = shared.flows.lock().expect("flows").get(&client).cloned();
        let flow = match existing {
            Some(flow) => flow,
            None => match open_flow(&shared, client).await {
                Ok(flow) => flow,
                Err(e) => {
                    tracing::warn!(%client, "relay: no upstream socket: {e}");
                    continue;
                }
            },
        };
        shared.forward(&buf[..n], Destination::Server(flow));
    }
}

/// Sends each datagram when it is due, in order.
async fn deliver(
    mut queue: mpsc::UnboundedReceiver<InFlight>,
    front: Arc<UdpSocket>,
    shared: Arc<Shared>,
) {
    let c = &shared.counters;
    while let Some(d) = queue.recv().await {
        tokio::time::sleep_until(d.due).await;
        let (sent, counter) = match d.to {
            Destination::Server(flow) => (flow.socket().send(&d.datagram).await, &c.to_server),
            Destination::Client(client) => (front.send_to(&d.datagram, client).await, &c.to_client),
        };
        if sent.is_ok() {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn open_flow(shared: &Arc<Shared>, client: SocketAddr) -> io::Result<Arc<Flow>> {
    let socket = upstream_socket(shared.target, loopback_like(shared.target.ip())).await?;
    let flow = Arc::new(Flow {
        client,
        socket: Mutex::new(Arc::clone(&socket)),
        reader: Mutex::new(None),
    });
    let reader = tokio::spawn(receive_from_server(
        socket,
        Arc::clone(shared),
        client,
        false,
    ));
    *flow.reader.lock().expect("reader") = Some(reader.abort_handle());
    shared
        .flows
        .lock()
        .expect("flows")
        .insert(client, Arc::clone(&flow));
    shared.counters.flows.fetch_add(1, Ordering::Relaxed);
    Ok(flow)
}

async fn upstream_socket(target: SocketAddr, local: IpAddr) -> io::Result<Arc<UdpSocket>> {
    let socket = UdpSocket::bind(SocketAddr::new(local, 0)).await?;
    socket.connect(target).await?;
    Ok(Arc::new(socket))
}

async fn receive_from_server(
    socket: Arc<UdpSocket>,
    shared: Arc<Shared>,
    client: SocketAddr,
    rebound: bool,
) {
    let mut buf = vec![0u8; 65_536];
    while let Ok(n) = socket.recv(&mut buf).await {
        if rebound {
            shared
                .counters
                .from_server_after_rebind
                .fetch_add(1, Ordering::Relaxed);
        }
        if !shared.forward(&buf[..n], Destination::Client(client)) {
            return;
        }
    }
}

/// Every `every`, moves each flow's upstream socket to a new port (and, with `address`,
/// to the other of 127.0.0.1 / 127.0.0.2); what the server sends to the old one is lost,
/// as behind a NAT that forgot the mapping.
async fn rebind_now_and_then(shared: Arc<Shared>, every: std::time::Duration, address: bool) {
    let mut generation = 0u64;
    loop {
        tokio::time::sleep(every).await;
        generation += 1;
        let local = match shared.target.ip() {
            IpAddr::V4(_) if address && generation % 2 == 1 => {
                IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))
            }
            other => loopback_like(other),
        };
        let flows: Vec<Arc<Flow>> = shared
            .flows
            .lock()
            .expect("flows")
            .values()
            .cloned()
            .collect();
        for flow in flows {
            let Ok(socket) = upstream_socket(shared.target, local).await else {
                continue;
            };
            let reader = tokio::spawn(receive_from_server(
                Arc::clone(&socket),
                Arc::clone(&shared),
                flow.client,
                true,
            ));
            *flow.socket.lock().expect("flow socket") = socket;
            if let Some(old) = flow
                .reader
                .lock()
                .expect("reader")
                .replace(reader.abort_handle())
            {
                old.abort();
            }
            shared.counters.rebinds.fetch_add(1, Ordering::Relaxed);
        }
    }
}
