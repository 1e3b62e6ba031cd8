//! plexus full-stack tests: real clients against real servers on loopback, asserting on
//! what the servers counted.

mod alt_svc;
mod bad_input;
mod client;
mod cookies;
mod decompression;
mod events;
mod faults;
mod goaway;
mod h3;
mod hostile;
mod http1_pool;
mod impaired_quic;
mod limits;
mod malformed;
mod multiplexing;
mod peer_faults;
mod peers;
mod proxy;
mod redirects;
mod request_helpers;
mod smoke;
mod soak;
mod status_retry;
mod tower_layers;
mod zero_rtt;
