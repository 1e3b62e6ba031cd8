//! # plexus-testkit
//!
//! Real servers for plexus's tests, started in-process on loopback, each counting on the
//! server side what a test asserts: TCP connections, TLS handshakes, h2 streams in
//! flight (per connection and in all), requests processed, and request ids processed
//! more than once.
//!
//! * [`TestServer`]: TLS with ALPN `h2, http/1.1` (or one of them), or cleartext
//!   HTTP/1.1 + h2c; configurable `MAX_CONCURRENT_STREAMS`, GOAWAY after N streams,
//!   HTTP/1.1 `Connection: close` every N responses and `Keep-Alive: timeout=N`.
//! * [`TestCerts`]: a CA and server certificates made with rcgen.
//! * [`DelayLine`] and [`UdpDelayLine`]: proxies that add round-trip latency to TCP and
//!   to UDP (QUIC), for demos, benchmarks and 0-RTT tests.
//! * [`UdpRelay`]: a UDP relay that impairs the path as an [`Impairment`] says (delay,
//!   bottleneck, loss in bursts, blackhole periods, NAT rebinding) and counts what it did.
//! * [`ConnectProxy`]: an HTTP `CONNECT` proxy (cleartext or TLS, with or without
//!   credentials, or answering with canned bytes) that counts the tunnels it opened.
//! * [`routes`]: the paths every server answers.
//! * [`peers`]: third-party servers (Caddy, nghttpd, nginx) on fresh ports.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod black_hole;
mod certs;
mod connect_proxy;
mod delay_line;
mod fault_io;
mod faults;
mod goaway_tap;
mod h1_server;
mod h2_server;
mod h3_server;
mod hostile_h2;
mod hostile_h3;
mod impairment;
mod malformed_h1;
pub mod peers;
pub mod routes;
mod server;
mod stats;
mod udp_delay_line;
mod udp_relay;

pub use black_hole::UdpBlackHole;
pub use certs::{test_certs, CertFiles, TestCerts, TEST_NAMES};
pub use connect_proxy::{ConnectProxy, ConnectProxyBuilder, ProxyStats};
pub use delay_line::DelayLine;
pub use hostile_h2::{H2Hostility, HostileH2Server, HOSTILE_BYTES};
pub use hostile_h3::{H3Hostility, HostileH3Server};
pub use impairment::{Blackhole, Impairment, Loss, Rebind};
pub use malformed_h1::MalformedServer;
pub use server::{ServerBuilder, TestServer};
pub use stats::{ConnStats, Stats};
pub use udp_delay_line::UdpDelayLine;
pub use udp_relay::{RelayStats, UdpRelay};
