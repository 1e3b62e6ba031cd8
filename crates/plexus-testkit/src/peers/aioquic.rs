//! aioquic's example HTTP/3 server (`examples/http3_server.py` from the aioquic sdist on
//! PyPI; the wheel does not ship it), serving the peers' ASGI app.

use std::io;

use super::{
    asgi_app, free_port, launch, parse_asgi_log, python_venv, workdir, Launch, Peer, Probe,
};

/// Starts aioquic's HTTP/3 server on a fresh UDP port.
pub async fn aioquic() -> io::Result<Peer> {
    let venv = python_venv()?;
    let server = venv.join("aioquic-examples/http3_server.py");
    if !server.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} is missing: run ./scripts/test", server.display()),
        ));
    }
    let (dir, certs, www) = workdir()?;
    let port = free_port()?;
    let log = dir.path().join("access.log");
    let env = asgi_app(dir.path(), &www, &log)?;
    launch(Launch {
        name: "aioquic",
        program: venv.join("bin/python"),
        args: vec![
            server.display().to_string(),
            "--certificate".into(),
            certs.cert.display().to_string(),
            "--private-key".into(),
            certs.key.display().to_string(),
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
            "plexus_app:app".into(),
        ],
        dir,
        port,
        log,
        stdout_to_log: false,
        parse: parse_asgi_log,
        probe: Probe::H3,
        env,
    })
    .await
}
