//! A UDP proxy that adds latency, for QUIC: every datagram is delivered half a round trip
//! after it arrived, in order, in each direction — a [`UdpRelay`] with nothing but a
//! delay.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::impairment::Impairment;
use crate::udp_relay::UdpRelay;

/// A running UDP delay line; stops when dropped.
#[derive(Debug)]
pub struct UdpDelayLine {
    relay: UdpRelay,
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
        let front = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let relay = UdpRelay::start_on(front, target, Impairment::round_trip(rtt)).await?;
        Ok(UdpDelayLine { relay })
    }

    /// The port clients send to.
    pub fn port(&self) -> u16 {
        self.relay.port()
    }
}
