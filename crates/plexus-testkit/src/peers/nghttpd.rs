//! nghttpd (Debian `nghttp2-server`): h2 only, `-m` streams per connection; its verbose
//! frame log (`-v`) is read back to count streams in flight and resets on the server.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{IpAddr, Ipv6Addr};

use super::{free_port, launch, workdir, Launch, Peer, PeerLog};

/// nghttpd settings for a test.
#[derive(Debug, Clone, Copy)]
pub struct NghttpdOptions {
    /// Streams per connection (`-m`).
    pub max_concurrent_streams: u32,
    /// h2c by prior knowledge (`--no-tls`) instead of TLS (the port is then
    /// [`Peer::cleartext_port`] as well).
    pub cleartext: bool,
    /// Listen on ::1 instead of 127.0.0.1 (nghttpd listens on one address).
    pub ipv6: bool,
    /// The server's receive window per stream, 2^N-1 bytes (`-w`); nghttpd's default is
    /// 2^16-1.
    pub window_bits: Option<u32>,
    /// The server's receive window per connection, 2^N-1 bytes (`-W`).
    pub connection_window_bits: Option<u32>,
}

impl Default for NghttpdOptions {
    fn default() -> NghttpdOptions {
        NghttpdOptions {
            max_concurrent_streams: 100,
            cleartext: false,
            ipv6: false,
            window_bits: None,
            connection_window_bits: None,
        }
    }
}

/// Starts nghttpd over TLS on 127.0.0.1 with at most `max_concurrent_streams` streams per
/// connection.
pub async fn nghttpd(max_concurrent_streams: u32) -> io::Result<Peer> {
    nghttpd_with(NghttpdOptions {
        max_concurrent_streams,
        ..NghttpdOptions::default()
    })
    .await
}

/// Starts nghttpd as `opts` say, on a fresh port.
pub async fn nghttpd_with(opts: NghttpdOptions) -> io::Result<Peer> {
    super::on_fresh_ports(|| nghttpd_with_once(opts)).await
}

async fn nghttpd_with_once(opts: NghttpdOptions) -> io::Result<Peer> {
    let NghttpdOptions {
        max_concurrent_streams,
        cleartext,
        ipv6,
        window_bits,
        connection_window_bits,
    } = opts;
    let program = super::find_binary("nghttpd", "nghttp2-server")?;
    let (dir, certs, www) = workdir()?;
    let port = free_port()?;
    let log = dir.path().join("frames.log");
    let ip = if ipv6 {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    } else {
        super::LOOPBACK
    };
    let mut args = vec![
        // One address: nghttpd binds the first that getaddrinfo gives for a name.
        "-a".into(),
        ip.to_string(),
        "-d".into(),
        www.display().to_string(),
        "-m".into(),
        max_concurrent_streams.to_string(),
        "-v".into(),
        port.to_string(),
    ];
    if let Some(n) = window_bits {
        args.push(format!("--window-bits={n}"));
    }
    if let Some(n) = connection_window_bits {
        args.push(format!("--connection-window-bits={n}"));
    }
    if cleartext {
        args.push("--no-tls".into());
    } else {
        args.extend([
            certs.key.display().to_string(),
            certs.cert.display().to_string(),
        ]);
    }
    launch(Launch {
        name: "nghttpd",
        program,
        args,
        dir,
        ip,
        port,
        cleartext_port: cleartext.then_some(port),
        log,
        stdout_to_log: true,
        parse,
        probe: if cleartext {
            super::Probe::H2c
        } else {
            super::Probe::H2
        },
        env: Vec::new(),
    })
    .await
}

#[derive(Default)]
struct Conn {
    open: BTreeSet<u32>,
    peak: usize,
    requests: u64,
    probe: bool,
}

/// Follows every stream through the frame log: opened by the client's HEADERS, closed by
/// the server's END_STREAM or a reset in either direction.
fn parse(text: &str) -> PeerLog {
    let mut conns: BTreeMap<String, Conn> = BTreeMap::new();
    let mut resets_sent = 0;
    let mut data_received = 0;
    let mut window_updates_sent = 0;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("[id=") else {
            continue;
        };
        let Some((id, rest)) = rest.split_once(']') else {
            continue;
        };
        let conn = conns.entry(id.to_string()).or_default();
        if rest.contains(&format!(":path: {}", super::READY_PATH)) {
            conn.probe = true;
        }
        if rest.contains("recv DATA frame") && !conn.probe {
            data_received += u64::from(field(rest, "length=").unwrap_or(0));
        }
        if rest.contains("send WINDOW_UPDATE frame") && !conn.probe {
            window_updates_sent += 1;
        }
        let Some(stream) = field(rest, "stream_id=") else {
            continue;
        };
        let flags = field(rest, "flags=0x")
            .map_or(0, |f| u32::from_str_radix(&f.to_string(), 16).unwrap_or(0));
        if rest.contains("recv HEADERS frame") && stream % 2 == 1 && conn.open.insert(stream) {
            conn.requests += 1;
            conn.peak = conn.peak.max(conn.open.len());
        } else if (rest.contains("send DATA frame") || rest.contains("send HEADERS frame"))
            && flags & 0x1 != 0
        {
            conn.open.remove(&stream);
        } else if rest.contains("RST_STREAM frame") {
            if rest.contains("send RST_STREAM") {
                resets_sent += 1;
            }
            conn.open.remove(&stream);
        }
    }
    let real: Vec<&Conn> = conns
        .values()
        .filter(|c| !c.probe && c.requests > 0)
        .collect();
    PeerLog {
        requests: real.iter().map(|c| c.requests).sum(),
        connections: real.len(),
        max_requests_per_connection: real.iter().map(|c| c.requests).max().unwrap_or(0),
        protocols: if real.is_empty() {
            vec![]
        } else {
            vec!["HTTP/2.0".to_string()]
        },
        peak_streams: Some(real.iter().map(|c| c.peak).max().unwrap_or(0)),
        resets_sent: Some(resets_sent),
        data_received: Some(data_received),
        window_updates_sent: Some(window_updates_sent),
        ..PeerLog::default()
    }
}

/// The number after `key` in a frame line, e.g. `stream_id=13`.
fn field(line: &str, key: &str) -> Option<u32> {
    let start = line.find(key)? + key.len();
    let digits: String = line[start..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    if key.ends_with("0x") {
        u32::from_str_radix(&digits, 16).ok()
    } else {
        digits.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn follows_streams_through_the_frame_log() {
        let log = "\
[id=1] [  0.1] recv HEADERS frame <length=48, flags=0x25, stream_id=13>
[id=1] [  0.1] recv (stream_id=13) :path: /hello.txt
[id=1] [  0.1] recv HEADERS frame <length=48, flags=0x25, stream_id=15>
[id=1] [  0.1] send HEADERS frame <length=60, flags=0x04, stream_id=13>
[id=1] [  0.1] send DATA frame <length=13, flags=0x01, stream_id=13>
[id=1] [  0.1] send RST_STREAM frame <length=4, flags=0x00, stream_id=15>
[id=2] [  0.2] recv HEADERS frame <length=48, flags=0x25, stream_id=1>
[id=2] [  0.2] recv (stream_id=1) :path: /__ready.txt
";
        let p = super::parse(log);
        assert_eq!(p.requests, 2);
        assert_eq!(p.connections, 1);
        assert_eq!(p.peak_streams, Some(2));
        assert_eq!(p.resets_sent, Some(1));
    }
}
