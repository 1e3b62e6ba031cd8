//! ngtcp2's example HTTP/3 server (Debian `ngtcp2-server`, GnuTLS build: `gtlsserver`).

use std::io;

use super::{free_port, launch, workdir, Launch, Peer, PeerLog, Probe};

/// Starts ngtcp2's server on a fresh UDP port.
pub async fn ngtcp2() -> io::Result<Peer> {
    let program = super::find_binary("gtlsserver", "ngtcp2-server")?;
    let (dir, certs, www) = workdir()?;
    let port = free_port()?;
    // Its debug output (handshakes, request headers) goes to stderr.
    let log = dir.path().join("stderr.log");
    launch(Launch {
        name: "ngtcp2",
        program,
        args: vec![
            "-d".into(),
            www.display().to_string(),
            "--no-quic-dump".into(),
            "--no-http-dump".into(),
            "127.0.0.1".into(),
            port.to_string(),
            certs.key.display().to_string(),
            certs.cert.display().to_string(),
        ],
        dir,
        port,
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
        peak_streams: None,
        resets_sent: None,
        duplicate_request_ids: Vec::new(),
    }
}
