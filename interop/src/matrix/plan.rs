//! Which case runs against which peer, how (server settings, protocol, files), and what
//! the server's log and the key log must show afterwards — or why the pair is
//! unsupported.

use std::time::Duration;

use plexus_testkit::{Blackhole, Impairment, Loss, Rebind};

use crate::endpoint::Protocol;
use crate::files;

/// The peers, in the order of the matrix's columns.
pub const PEERS: [&str; 6] = [
    "aioquic",
    "ngtcp2",
    "caddy",
    "nginx",
    "nghttpd",
    "hypercorn",
];

/// The cases, in the order of the matrix's rows.
pub const CASES: [&str; 21] = [
    "handshake",
    "transfer",
    "multiplexing",
    "http3",
    "chacha20",
    "retry",
    "resumption",
    "zerortt",
    "keyupdate",
    "ipv6",
    "multiconnect",
    "transferloss",
    "handshakeloss",
    "blackhole",
    "rebind-port",
    "rebind-addr",
    "h1-fallback",
    "h2c",
    "alt-svc",
    "post-echo",
    "goaway",
];

/// The stream limit servers get for `multiplexing`, so that the client must wait for
/// stream credit (QUIC MAX_STREAMS, h2 SETTINGS_MAX_CONCURRENT_STREAMS).
pub const SMALL_STREAM_LIMIT: u32 = 32;

/// How the server is started for a case.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerSettings {
    /// Every new QUIC connection must answer a Retry.
    pub retry: bool,
    /// Only TLS_CHACHA20_POLY1305_SHA256.
    pub chacha20_only: bool,
    /// [`SMALL_STREAM_LIMIT`] streams at once.
    pub few_streams: bool,
    /// The cleartext (h2c) port is the one to use.
    pub cleartext: bool,
    /// For a server that listens on one address: ::1 rather than 127.0.0.1.
    pub ipv6_only: bool,
}

/// What the logs must show after a case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expect {
    /// Connections the server saw (and TLS handshakes in the key log, for TLS cases).
    pub connections: usize,
    /// Handshakes the server reports as resumed, at least.
    pub resumed: u64,
    /// Handshakes whose 0-RTT the server accepted, at least (and offered in the key log).
    pub early_data: u64,
    /// The server must accept no early data.
    pub no_early_data: bool,
    /// The server applied a key update.
    pub key_update: bool,
    /// The server sent a Retry for every connection.
    pub retry: bool,
    /// The protocols the server's log names (normalized: `HTTP/2`, `HTTP/3`, `HTTP/1.1`,
    /// `HTTP/0.9`), exactly.
    pub protocols: Vec<&'static str>,
    /// Requests came from ::1.
    pub ipv6: bool,
    /// The server's count of streams open at once stays within this, where it keeps one.
    pub max_streams: Option<usize>,
    /// What the relay's counters must show it did to the traffic.
    pub relay_hit: Option<RelayHit>,
    /// `goaway`: the endpoint's own account (an `ok` or `error` line per URL) is checked
    /// against the server's log instead of counting connections.
    pub graceful_stop: bool,
}

/// A server stopped gracefully in the middle of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GracefulStop {
    /// The signal that stops the server gracefully (`QUIT` for nginx, `TERM` otherwise).
    pub signal: &'static str,
    /// Sent once the server's log shows this many requests.
    pub after_requests: u64,
}

/// How many files `goaway` asks for, and after how many answered the server is stopped.
pub const GOAWAY_FILES: usize = 200;
const GOAWAY_AFTER: u64 = 40;

/// What an impairing relay must have done while the case ran, or the case proved nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayHit {
    /// Dropped datagrams at random.
    Loss,
    /// Dropped datagrams while the link was down.
    Blackhole,
    /// Moved the client's address, and the server then sent to the new one.
    Rebinding,
}

/// How many connections `handshakeloss` opens (the runner's 50 take minutes with quinn's
/// 1 s first timeout at 30 % loss; 10 show the same thing).
pub const HANDSHAKELOSS_CONNECTIONS: usize = 10;

/// The runner's link for its impaired cases: 15 ms each way, 10 Mbit/s, a queue of 25
/// full-size packets.
fn runner_link() -> Impairment {
    Impairment {
        delay: Duration::from_millis(15),
        bandwidth: Some(10_000_000),
        queue_bytes: 25 * 1500,
        ..Impairment::default()
    }
}

/// The relay for an impaired case, and what it must be seen to do; `None` for a case
/// with an unimpaired path.
pub fn impairment(case: &str) -> Option<(Impairment, RelayHit)> {
    let link = runner_link();
    Some(match case {
        // The runner's rates: 2 % each way for a transfer; 30 % for handshakes, at most 3
        // in a row.
        "transferloss" => (
            Impairment {
                loss: Some(Loss::independent(2)),
                ..link
            },
            RelayHit::Loss,
        ),
        // The endpoint runs these handshakes side by side: without a bottleneck, so that
        // they do not crowd one queue (the runner's run one after the other).
        "handshakeloss" => (
            Impairment {
                loss: Some(Loss::capped(30, 3)),
                bandwidth: None,
                ..link
            },
            RelayHit::Loss,
        ),
        // Up 1.3 s, down 0.9 s, at 5 Mbit/s: the 2 MiB transfer (over 3 s) crosses at
        // least one dark period. (The runner's 5 s up / 2 s down suit its 10 MiB.) Not a
        // period of 2 s: a sender's timeouts double from about 1 s, so its probes would
        // all fall into dark periods and the connection idle out.
        "blackhole" => (
            Impairment {
                bandwidth: Some(5_000_000),
                blackhole: Some(Blackhole {
                    up: Duration::from_millis(1300),
                    down: Duration::from_millis(900),
                }),
                ..link
            },
            RelayHit::Blackhole,
        ),
        "rebind-port" | "rebind-addr" => (
            Impairment {
                rebind: Some(Rebind {
                    every: Duration::from_millis(400),
                    address: case == "rebind-addr",
                }),
                ..link
            },
            RelayHit::Rebinding,
        ),
        _ => return None,
    })
}

/// A runnable (case, peer) pair.
#[derive(Debug, Clone)]
pub struct Plan {
    /// How to start the server.
    pub server: ServerSettings,
    /// `PLEXUS_PROTOCOL`.
    pub protocol: Protocol,
    /// The files to fetch (paths below the document root), or `["echo"]` for `post-echo`.
    pub paths: Vec<String>,
    /// The URL's host: `127.0.0.1`, `localhost` or `[::1]`.
    pub host: &'static str,
    /// An impairing UDP relay between the endpoint and the server, which the URLs name.
    pub relay: Option<Impairment>,
    /// A TCP delay line of this round trip between the endpoint and the server, which the
    /// URLs name.
    pub tcp_rtt: Option<Duration>,
    /// Stop the server gracefully while the endpoint runs.
    pub stop: Option<GracefulStop>,
    /// What must hold afterwards.
    pub expect: Expect,
}

/// Why a pair does not run.
pub type Unsupported = &'static str;

fn paths(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The plan for `case` against `peer`.
pub fn plan(case: &str, peer: &str) -> Result<Plan, Unsupported> {
    let quic_only = matches!(peer, "aioquic" | "ngtcp2");
    let has_h3 = matches!(peer, "aioquic" | "ngtcp2" | "caddy" | "hypercorn");
    // aioquic speaks HTTP/0.9 (hq-interop), the runner's protocol; ngtcp2's Debian build
    // only h3, so the QUIC cases go over h3 through plexus; the TCP servers run them over
    // h2 through plexus.
    let quic_protocol = match peer {
        "aioquic" => Protocol::Hq,
        "ngtcp2" => Protocol::H3,
        _ => Protocol::H2,
    };
    let proto_name = match quic_protocol {
        Protocol::Hq => "HTTP/0.9",
        Protocol::H3 => "HTTP/3",
        _ => "HTTP/2",
    };
    let host = if peer == "caddy" {
        "localhost"
    } else {
        "127.0.0.1"
    };
    let one = |names: &[&str]| Plan {
        server: ServerSettings::default(),
        protocol: quic_protocol,
        paths: paths(names),
        host,
        relay: None,
        tcp_rtt: None,
        stop: None,
        expect: Expect {
            connections: 1,
            protocols: vec![proto_name],
            ..Expect::default()
        },
    };
    let mut p = match case {
        "handshake" => one(&["1k.bin"]),
        "transfer" => one(&["2m.bin", "3m.bin", "5m.bin"]),
        "multiplexing" => {
            if peer == "hypercorn" {
                return Err("Hypercorn ends a connection after 1,000 requests (keep_alive_max_requests), so 1,999 files take two; plexus then carries on over a new one");
            }
            // Caddy keeps its own limit (Go's 250 streams).
            let mut p = one(&[]);
            p.paths = (0..files::MULTIPLEX_FILES)
                .map(files::multiplex_path)
                .collect();
            p.server.few_streams = true;
            if peer == "nghttpd" {
                p.expect.max_streams = Some(SMALL_STREAM_LIMIT as usize);
            }
            p
        }
        "http3" => {
            if !has_h3 {
                return Err("TCP only: the server has no HTTP/3");
            }
            let mut p = one(&["5k.bin", "10k.bin", "500k.bin"]);
            p.protocol = Protocol::H3;
            p.expect.protocols = vec!["HTTP/3"];
            p
        }
        "chacha20" => {
            if peer != "aioquic" {
                return Err(if quic_only {
                    "over h3 (ngtcp2 has no hq-interop) the case needs plexus to restrict cipher suites, which it does not offer"
                } else {
                    "a QUIC case of the runner's: TCP servers are not restricted to one cipher suite here"
                });
            }
            let mut p = one(&["1k.bin"]);
            p.server.chacha20_only = true;
            p
        }
        "retry" => {
            if !quic_only {
                return Err("a QUIC case: TCP has no Retry");
            }
            let mut p = one(&["1k.bin"]);
            p.server.retry = true;
            p.expect.retry = true;
            p
        }
        "resumption" | "zerortt" => {
            if !quic_only {
                return Err("a QUIC case: the server's log does not show whether a handshake resumed or took early data");
            }
            let mut p = one(&["1k.bin", "5k.bin", "10k.bin"]);
            p.expect.connections = 2;
            p.expect.resumed = 1;
            p.expect.early_data = u64::from(case == "zerortt");
            p.expect.no_early_data = case == "resumption";
            p
        }
        "keyupdate" => {
            if peer != "aioquic" {
                return Err(if quic_only {
                    "over h3 the case needs plexus to force a key update, which it does not offer"
                } else {
                    "a QUIC case: TLS over TCP has its own key update, not forced here"
                });
            }
            // A small file, on purpose: quinn also updates keys on its own after its first
            // 10 to 1,000 packets (at random), which a large download reaches; a 5 KiB one
            // takes a handful, so the update the server sees is the one the endpoint forced.
            let mut p = one(&["5k.bin"]);
            p.expect.key_update = true;
            p
        }
        "ipv6" => {
            let mut p = one(&["1k.bin", "5k.bin"]);
            // These two listen on one address: here, ::1.
            p.server.ipv6_only = matches!(peer, "nghttpd" | "ngtcp2");
            p.host = "[::1]";
            p.expect.ipv6 = true;
            p
        }
        "multiconnect" => {
            let mut p = one(&["1k.bin", "5k.bin", "10k.bin"]);
            p.expect.connections = 3;
            p
        }
        "transferloss" | "handshakeloss" | "blackhole" | "rebind-port" | "rebind-addr" => {
            if !has_h3 {
                return Err(
                    "a QUIC case (the relay impairs UDP): TCP only, the server has no HTTP/3",
                );
            }
            if peer == "caddy" && case.starts_with("rebind") {
                return Err("Caddy 2.6's QUIC stack (quic-go 0.31) does not follow a client to a new address: the connection idles out, while the other three QUIC servers carry on");
            }
            let mut p = if case == "handshakeloss" {
                let mut p = one(&[]);
                p.paths = (0..HANDSHAKELOSS_CONNECTIONS)
                    .map(files::multiplex_path)
                    .collect();
                p.expect.connections = HANDSHAKELOSS_CONNECTIONS;
                p
            } else {
                one(&["2m.bin"])
            };
            if !quic_only {
                p.protocol = Protocol::H3;
                p.expect.protocols = vec!["HTTP/3"];
            }
            // The relay listens on 127.0.0.1 only.
            p.host = "127.0.0.1";
            let (relay, hit) = impairment(case).ok_or("unknown case")?;
            p.relay = Some(relay);
            p.expect.relay_hit = Some(hit);
            p
        }
        "h1-fallback" => {
            if quic_only || peer == "nghttpd" {
                return Err("the server speaks no HTTP/1.1 over TLS");
            }
            // One after the other: keep-alive carries them all on one connection.
            let mut p = one(&["1k.bin", "500k.bin", "2m.bin"]);
            p.protocol = Protocol::H1;
            p.expect.protocols = vec!["HTTP/1.1"];
            p
        }
        "h2c" => {
            if quic_only {
                return Err("QUIC only: the server has no TCP port");
            }
            let mut p = one(&["1k.bin", "500k.bin", "2m.bin"]);
            p.protocol = Protocol::H2c;
            p.server.cleartext = true;
            p.expect.protocols = vec!["HTTP/2"];
            p
        }
        "alt-svc" => {
            if !matches!(peer, "hypercorn" | "caddy") {
                return Err(if quic_only {
                    "QUIC only: there is no TCP origin to discover HTTP/3 from"
                } else {
                    "TCP only: the server has no HTTP/3 to advertise"
                });
            }
            let mut p = one(&["1k.bin", "5k.bin", "10k.bin", "500k.bin"]);
            p.protocol = Protocol::Auto;
            p.expect.connections = 2;
            p.expect.protocols = vec!["HTTP/2", "HTTP/3"];
            p
        }
        "post-echo" => {
            if !matches!(peer, "aioquic" | "hypercorn") {
                return Err("the server has no echo endpoint (it serves static files only)");
            }
            let mut p = one(&["echo"]);
            if peer == "aioquic" {
                p.protocol = Protocol::H3;
                p.expect.protocols = vec!["HTTP/3"];
            }
            p
        }
        "goaway" => {
            let signal = match peer {
                "nginx" => "QUIT",
                "caddy" | "hypercorn" => "TERM",
                "nghttpd" => return Err("nghttpd has no graceful stop: a signal ends it at once"),
                _ => return Err("QUIC only, and the server has no graceful stop: a signal ends it at once, without an HTTP/3 GOAWAY"),
            };
            // Over h2, through a 40 ms delay line, so that the run is still going when the
            // stop comes.
            let mut p = one(&[]);
            p.paths = (0..GOAWAY_FILES).map(files::multiplex_path).collect();
            p.protocol = Protocol::H2;
            p.host = "127.0.0.1";
            p.tcp_rtt = Some(Duration::from_millis(40));
            p.stop = Some(GracefulStop {
                signal,
                after_requests: GOAWAY_AFTER,
            });
            p.expect = Expect {
                protocols: vec!["HTTP/2"],
                graceful_stop: true,
                ..Expect::default()
            };
            p
        }
        _ => return Err("unknown case"),
    };
    if p.protocol == Protocol::H2c {
        p.host = "127.0.0.1";
    }
    Ok(p)
}
