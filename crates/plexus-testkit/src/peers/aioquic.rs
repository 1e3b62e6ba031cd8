//! aioquic's example HTTP/3 server (`examples/http3_server.py` from the aioquic sdist on
//! PyPI; the wheel does not ship it), serving the peers' ASGI app over h3 and HTTP/0.9
//! (`hq-interop`) on 127.0.0.1 and ::1. It runs under a small wrapper
//! (`aioquic_server.py`) that adds Retry, ChaCha20-only, a small MAX_STREAMS, and a log
//! line per completed handshake (resumed? early data accepted?) and per key update.

use std::io;

use super::{
    asgi_app, free_port, launch, parse_asgi_log, python_venv, workdir, Launch, Peer, PeerLog, Probe,
};

/// aioquic settings for a test.
#[derive(Debug, Clone, Copy, Default)]
pub struct AioquicOptions {
    /// Send a Retry to every new connection (address validation).
    pub retry: bool,
    /// Accept only TLS_CHACHA20_POLY1305_SHA256.
    pub chacha20_only: bool,
    /// The bidirectional streams a client may open at once (aioquic's default is 128).
    pub max_streams: Option<u32>,
}

/// Starts aioquic's HTTP/3 server on a fresh UDP port with default settings.
pub async fn aioquic() -> io::Result<Peer> {
    aioquic_with(AioquicOptions::default()).await
}

/// Starts aioquic's HTTP/3 server on a fresh UDP port.
pub async fn aioquic_with(opts: AioquicOptions) -> io::Result<Peer> {
    super::on_fresh_ports(|| aioquic_with_once(opts)).await
}

async fn aioquic_with_once(opts: AioquicOptions) -> io::Result<Peer> {
    let venv = python_venv()?;
    let examples = venv.join("aioquic-examples");
    if !examples.join("http3_server.py").is_file() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{}/http3_server.py is missing: run ./scripts/test",
                examples.display()
            ),
        ));
    }
    let (dir, certs, www) = workdir()?;
    let port = free_port()?;
    let log = dir.path().join("access.log");
    let wrapper = dir.path().join("aioquic_server.py");
    std::fs::write(&wrapper, include_str!("aioquic_server.py"))?;
    let mut env = asgi_app(dir.path(), &www, &log)?;
    for (key, value) in env.iter_mut() {
        if key == "PYTHONPATH" {
            *value = format!("{value}:{}", examples.display());
        }
    }
    env.push(("PLEXUS_HANDSHAKE_LOG".into(), log.display().to_string()));
    let mut args = vec![
        wrapper.display().to_string(),
        "--certificate".into(),
        certs.cert.display().to_string(),
        "--private-key".into(),
        certs.key.display().to_string(),
        "--host".into(),
        "127.0.0.1".into(),
        "--host".into(),
        "::1".into(),
        "--port".into(),
        port.to_string(),
    ];
    if opts.retry {
        args.push("--retry".into());
    }
    if opts.chacha20_only {
        args.push("--chacha20-only".into());
    }
    if let Some(n) = opts.max_streams {
        args.extend(["--max-streams".into(), n.to_string()]);
    }
    args.push("plexus_app:app".into());
    launch(Launch {
        name: "aioquic",
        program: venv.join("bin/python"),
        args,
        dir,
        port,
        ip: super::LOOPBACK,
        cleartext_port: None,
        log,
        stdout_to_log: false,
        parse,
        probe: Probe::H3,
        env,
    })
    .await
}

/// The ASGI log, plus the wrapper's handshake and key-update lines (the readiness
/// probe's handshake left out).
fn parse(text: &str) -> PeerLog {
    let mut log = parse_asgi_log(text);
    let handshakes: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("handshake "))
        .skip(1)
        .collect();
    let count = |flag: &str| handshakes.iter().filter(|l| l.contains(flag)).count() as u64;
    log.handshakes = Some(handshakes.len() as u64);
    log.resumed = Some(count("resumed=1"));
    log.early_data_accepted = Some(count("early_data=1"));
    log.retries = Some(text.lines().filter(|l| l.starts_with("retry sent")).count() as u64);
    log.key_updates = Some(
        text.lines()
            .filter(|l| l.starts_with("key_update "))
            .count() as u64,
    );
    log
}
