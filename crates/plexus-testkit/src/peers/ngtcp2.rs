//! ngtcp2's example HTTP/3 server (Debian `ngtcp2-server`, GnuTLS build: `gtlsserver`).

use std::io;
use std::net::{IpAddr, Ipv6Addr};

use super::{free_port, launch, workdir, Launch, Peer, PeerLog, Probe};

/// ngtcp2 settings for a test.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ngtcp2Options {
    /// Validate every new client's address with a Retry (`-V`).
    pub retry: bool,
    /// Accept only TLS_CHACHA20_POLY1305_SHA256.
    pub chacha20_only: bool,
    /// The bidirectional streams a client may open at once (ngtcp2's default is 100).
    pub max_streams: Option<u32>,
    /// Listen on ::1 instead of 127.0.0.1 (the server listens on one address).
    pub ipv6: bool,
}

/// Starts ngtcp2's server on a fresh UDP port with default settings.
pub async fn ngtcp2() -> io::Result<Peer> {
    ngtcp2_with(Ngtcp2Options::default()).await
}

/// Starts ngtcp2's server on a fresh UDP port of 127.0.0.1 (or ::1).
pub async fn ngtcp2_with(opts: Ngtcp2Options) -> io::Result<Peer> {
    super::on_fresh_ports(|| ngtcp2_with_once(opts)).await
}

async fn ngtcp2_with_once(opts: Ngtcp2Options) -> io::Result<Peer> {
    let program = super::find_binary("gtlsserver", "ngtcp2-server")?;
    let (dir, certs, www) = workdir()?;
    let port = free_port()?;
    // Its debug output (handshakes, request headers) goes to stderr.
    let log = dir.path().join("stderr.log");
    let mut args = vec![
        "-d".into(),
        www.display().to_string(),
        "--no-quic-dump".into(),
        "--no-http-dump".into(),
    ];
    if opts.retry {
        args.push("-V".into());
    }
    if opts.chacha20_only {
        args.push("--ciphers=NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+CHACHA20-POLY1305".into());
    }
    if let Some(n) = opts.max_streams {
        args.push(format!("--max-streams-bidi={n}"));
    }
    // One address: the server binds the first that getaddrinfo gives for a name.
    let ip = if opts.ipv6 {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    } else {
        super::LOOPBACK
    };
    args.extend([
        ip.to_string(),
        port.to_string(),
        certs.key.display().to_string(),
        certs.cert.display().to_string(),
    ]);
    launch(Launch {
        name: "ngtcp2",
        program,
        args,
        dir,
        ip,
        port,
        cleartext_port: None,
        log,
        stdout_to_log: false,
        parse,
        probe: Probe::H3,
        env: Vec::new(),
    })
    .await
}

/// Connections: one "handshake has completed" line each; requests: one `:path:` line
/// each (the readiness probe's connection and request left out).
fn parse(text: &str) -> PeerLog {
    let handshakes = text.matches("QUIC handshake has completed").count();
    let paths: Vec<&str> = text
        .lines()
        .filter_map(|l| {
            l.split_once("[:path: ")
                .map(|(_, p)| p.trim_end_matches(']'))
        })
        .collect();
    let probes = paths.iter().filter(|p| **p == super::READY_PATH).count();
    let tls = tls_evidence(text);
    PeerLog {
        requests: (paths.len() - probes) as u64,
        connections: handshakes.saturating_sub(probes),
        max_requests_per_connection: 0,
        protocols: vec!["HTTP/3".into()],
        handshakes: Some(handshakes.saturating_sub(probes) as u64),
        resumed: Some(tls.resumed),
        retries: Some(text.matches("Sending Retry packet to").count() as u64),
        early_data_accepted: Some(tls.early_data),
        ..PeerLog::default()
    }
}

/// What the server's frame log shows of each connection's TLS handshake.
#[derive(Debug, Default, PartialEq, Eq)]
struct TlsEvidence {
    /// Connections whose handshake flight was under half the longest one: no
    /// certificate was sent, the session was resumed. (The readiness probe always makes
    /// a full handshake first, so the largest is one with the certificate.)
    resumed: u64,
    /// Connections on which the server read STREAM frames from 0-RTT packets: it
    /// accepted early data.
    early_data: u64,
}

/// Reads ngtcp2's debug lines: `I<time> 0x<connection id> frm tx <pkn> Handshake
/// CRYPTO(0x06) offset=.. len=N` for what the server sent in the Handshake space, and
/// `frm rx <pkn> 0RTT STREAM(..)` for early data it processed.
fn tls_evidence(text: &str) -> TlsEvidence {
    use std::collections::{BTreeMap, BTreeSet};
    let mut flight: BTreeMap<&str, u64> = BTreeMap::new();
    let mut early: BTreeSet<&str> = BTreeSet::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(_time), Some(conn), Some("frm"), Some(dir)) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            continue;
        };
        let _pkn = words.next();
        let space = words.next();
        let frame = words.next().unwrap_or_default();
        match (dir, space) {
            ("tx", Some("Handshake")) if frame.starts_with("CRYPTO") => {
                // The flight's length is where its furthest frame ends: retransmissions
                // (under loss) resend the same offsets.
                let number = |key: &str| {
                    line.split_once(key)
                        .and_then(|(_, rest)| rest.split_whitespace().next())
                        .and_then(|n| n.parse::<u64>().ok())
                        .unwrap_or(0)
                };
                let end = number("offset=") + number("len=");
                let longest = flight.entry(conn).or_default();
                *longest = (*longest).max(end);
            }
            ("rx", Some("0RTT")) if frame.starts_with("STREAM") => {
                early.insert(conn);
            }
            _ => {}
        }
    }
    let largest = flight.values().copied().max().unwrap_or(0);
    TlsEvidence {
        resumed: flight.values().filter(|n| **n * 2 < largest).count() as u64,
        early_data: early.len() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_flight_is_a_resumption_and_0rtt_streams_are_early_data() {
        let log = "\
I00000001 0xaa frm tx 0 Handshake CRYPTO(0x06) offset=0 len=705
I00000001 0xbb pkt rx pkn=0 dcid=0x3c version=0x00000001 type=0RTT len=543
I00000001 0xbb frm rx 0 0RTT STREAM(0x0a) id=0x2 fin=0 offset=0 len=31 uni=1
I00000001 0xbb frm rx 0 0RTT PADDING(0x00) len=484
I00000001 0xbb frm tx 0 Handshake CRYPTO(0x06) offset=0 len=191
I00000001 0xcc frm tx 0 Handshake CRYPTO(0x06) offset=0 len=600
I00000001 0xcc frm tx 1 Handshake CRYPTO(0x06) offset=600 len=105
I00000001 0xdd frm tx 0 Handshake CRYPTO(0x06) offset=0 len=705
I00000001 0xdd frm tx 1 Handshake CRYPTO(0x06) offset=0 len=705
I00000001 0xdd frm tx 2 Handshake CRYPTO(0x06) offset=0 len=705
";
        assert_eq!(
            tls_evidence(log),
            TlsEvidence {
                resumed: 1,
                early_data: 1
            }
        );
    }
}
