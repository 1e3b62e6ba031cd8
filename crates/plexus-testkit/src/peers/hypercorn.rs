//! Hypercorn (PyPI), serving the peers' ASGI app over HTTP/1.1 and h2 on its TLS port and
//! HTTP/3 on the same UDP port (`--quic-bind`), which it advertises in `Alt-Svc`, on
//! 127.0.0.1 and ::1; HTTP/1.1 and h2c on a cleartext port of 127.0.0.1.

use std::io;

use super::{
    asgi_app, free_port, launch, parse_asgi_log, python_venv, workdir, Launch, Peer, Probe,
};

/// Starts Hypercorn on a fresh port, TCP and UDP.
pub async fn hypercorn() -> io::Result<Peer> {
    super::on_fresh_ports(hypercorn_once).await
}

async fn hypercorn_once() -> io::Result<Peer> {
    let venv = python_venv()?;
    let (dir, certs, www) = workdir()?;
    let port = free_port()?;
    let log = dir.path().join("access.log");
    let env = asgi_app(dir.path(), &www, &log)?;
    let cleartext = free_port()?;
    launch(Launch {
        name: "hypercorn",
        program: venv.join("bin/python"),
        args: vec![
            "-m".into(),
            "hypercorn".into(),
            "--certfile".into(),
            certs.cert.display().to_string(),
            "--keyfile".into(),
            certs.key.display().to_string(),
            "--bind".into(),
            format!("127.0.0.1:{port}"),
            "--bind".into(),
            format!("[::1]:{port}"),
            "--quic-bind".into(),
            format!("127.0.0.1:{port}"),
            "--quic-bind".into(),
            format!("[::1]:{port}"),
            "--insecure-bind".into(),
            format!("127.0.0.1:{cleartext}"),
            "plexus_app:app".into(),
        ],
        dir,
        port,
        ip: super::LOOPBACK,
        cleartext_port: Some(cleartext),
        log,
        stdout_to_log: false,
        parse: parse_asgi_log,
        probe: Probe::H2,
        env,
    })
    .await
}
