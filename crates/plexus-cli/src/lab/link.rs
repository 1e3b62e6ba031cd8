//! A userspace delay line between two network namespaces: a TUN device in each, and a
//! relay that holds every IP packet for a set one-way delay (and drops a share of them,
//! if asked) before writing it into the other device. TCP, TLS and QUIC handshakes all
//! see real round trips — the kernel here has no `netem`.

use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use super::netns::NetNs;

/// The client's address, in the client namespace.
pub(crate) const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// The server's address, in the server namespace.
pub(crate) const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const DEVICE: &str = "plexlab0";
/// Large enough for any packet a TUN device without offloads hands over (MTU 1500).
const MAX_PACKET: usize = 65_536;

/// Two namespaces joined by the delaying relay.
#[derive(Debug)]
pub(crate) struct TunLink {
    client: NetNs,
    server: NetNs,
    counters: Arc<[Direction; 2]>,
}

/// What one direction of the relay did.
#[derive(Debug, Default)]
struct Direction {
    packets: AtomicU64,
    bytes: AtomicU64,
    dropped: AtomicU64,
}

/// What the relay did, per direction.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub(crate) struct LinkStats {
    /// Packets delivered client → server.
    pub(crate) up_packets: u64,
    /// Bytes delivered client → server.
    pub(crate) up_bytes: u64,
    /// Packets delivered server → client.
    pub(crate) down_packets: u64,
    /// Bytes delivered server → client.
    pub(crate) down_bytes: u64,
    /// Packets dropped (both directions).
    pub(crate) dropped: u64,
}

impl TunLink {
    /// Creates the namespaces `TAG-c` and `TAG-s`, a TUN device in each (10.77.0.1/24 and
    /// 10.77.0.2/24), and starts the relay: each packet is held `one_way`, and dropped with
    /// probability `loss` (0.0 to 1.0).
    pub(crate) fn start(tag: &str, one_way: Duration, loss: f64) -> Result<TunLink, String> {
        let client = NetNs::create(&format!("{tag}-c"))?;
        let server = NetNs::create(&format!("{tag}-s"))?;
        let client_dev = open_device(&client, CLIENT_IP)?;
        let server_dev = open_device(&server, SERVER_IP)?;
        let counters: Arc<[Direction; 2]> = Arc::default();
        let (client_reader, client_writer) = client_dev.split();
        let (server_reader, server_writer) = server_dev.split();
        relay(
            client_reader,
            server_writer,
            one_way,
            loss,
            Arc::clone(&counters),
            0,
        )?;
        relay(
            server_reader,
            client_writer,
            one_way,
            loss,
            Arc::clone(&counters),
            1,
        )?;
        Ok(TunLink {
            client,
            server,
            counters,
        })
    }

    /// The namespace the client runs in.
    pub(crate) fn client_ns(&self) -> &NetNs {
        &self.client
    }

    /// The namespace the servers run in.
    pub(crate) fn server_ns(&self) -> &NetNs {
        &self.server
    }

    /// What the relay has done so far.
    pub(crate) fn stats(&self) -> LinkStats {
        let [up, down] = &*self.counters;
        LinkStats {
            up_packets: up.packets.load(Ordering::Relaxed),
            up_bytes: up.bytes.load(Ordering::Relaxed),
            down_packets: down.packets.load(Ordering::Relaxed),
            down_bytes: down.bytes.load(Ordering::Relaxed),
            dropped: up.dropped.load(Ordering::Relaxed) + down.dropped.load(Ordering::Relaxed),
        }
    }
}

/// Creates the TUN device inside `ns` (from a thread that enters it) and gives it `ip`.
fn open_device(ns: &NetNs, ip: Ipv4Addr) -> Result<tun::Device, String> {
    let device = thread::scope(|s| {
        s.spawn(|| {
            ns.enter()?;
            let mut config = tun::Configuration::default();
            config.tun_name(DEVICE).layer(tun::Layer::L3).mtu(1500);
            tun::create(&config).map_err(|e| format!("TUN device in {}: {e}", ns.name()))
        })
        .join()
        .map_err(|_| "the TUN set-up thread panicked".to_string())?
    })?;
    ns.ip(&["addr", "add", &format!("{ip}/24"), "dev", DEVICE])?;
    ns.ip(&["link", "set", DEVICE, "up"])?;
    Ok(device)
}

/// Sleeps until shortly before `at`, then spins: a thread's wake-up from sleep is late by
/// tens of microseconds, which would add to every packet's delay.
fn wait_until(at: Instant) {
    const SPIN: Duration = Duration::from_micros(150);
    let now = Instant::now();
    if at > now + SPIN {
        thread::sleep(at - now - SPIN);
    }
    while Instant::now() < at {
        std::hint::spin_loop();
    }
}

/// One direction: a reader thread stamps each packet with its due time and queues it; a
/// writer thread writes it into the other device when it is due. The delay is the same
/// for every packet, so the queue stays in order.
fn relay(
    mut from: tun::Reader,
    mut to: tun::Writer,
    one_way: Duration,
    loss: f64,
    counters: Arc<[Direction; 2]>,
    direction: usize,
) -> Result<(), String> {
    let (queue, due) = mpsc::channel::<(Instant, Vec<u8>)>();
    let spawn_error = |e: std::io::Error| format!("relay thread: {e}");
    let counters_w = Arc::clone(&counters);
    thread::Builder::new()
        .name("lab-relay-read".into())
        .spawn(move || {
            let mut buf = vec![0u8; MAX_PACKET];
            let mut rng = fastrand::Rng::new();
            while let Ok(n) = from.read(&mut buf) {
                if loss > 0.0 && rng.f64() < loss {
                    counters[direction].dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                if queue
                    .send((Instant::now() + one_way, buf[..n].to_vec()))
                    .is_err()
                {
                    break;
                }
            }
        })
        .map_err(spawn_error)?;
    thread::Builder::new()
        .name("lab-relay-write".into())
        .spawn(move || {
            let counters = counters_w;
            // The default 50 µs timer slack would add to every packet's delay.
            let _ = nix::sys::prctl::set_timerslack(1);
            while let Ok((at, packet)) = due.recv() {
                wait_until(at);
                if to.write_all(&packet).is_err() {
                    break;
                }
                let d = &counters[direction];
                d.packets.fetch_add(1, Ordering::Relaxed);
                d.bytes.fetch_add(packet.len() as u64, Ordering::Relaxed);
            }
        })
        .map_err(spawn_error)?;
    Ok(())
}
