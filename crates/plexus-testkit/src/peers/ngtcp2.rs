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
    PeerLog {
        requests: (paths.len() - probes) as u64,
        connections: handshakes.saturating_sub(probes),
        max_requests_per_connection: 0,
        protocols: vec!["HTTP/3".into()],
        handshakes: Some(handshakes.saturating_sub(probes) as u64),
        ..PeerLog::default()
    }
}
