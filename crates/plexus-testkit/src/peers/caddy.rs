//! Caddy (Debian `caddy`, 2.6): h2 and HTTP/1.1 by ALPN on its TLS port, h3 on the same
//! UDP port (advertised in `Alt-Svc`), HTTP/1.1 and h2c on a cleartext port, a JSON access
//! log (with request headers, so `x-request-id`s are counted); a graceful stop (SIGTERM)
//! waits at most 5 s for requests in flight.
//!
//! Two Caddyfile details matter. The sites have no host name (`https://:PORT`): a site
//! named by host logs only requests whose `Host` names that host *and port*, so requests
//! through a relay on another port would go unlogged. And h2c needs a global `servers`
//! block naming the cleartext listener's address (`servers 127.0.0.1:PORT { protocols h1
//! h2c }`); without it Caddy answers the h2 preface as HTTP/1.1.

use std::io;

use super::{free_port, launch, summarize, workdir, Launch, Peer, PeerLog};

/// Starts Caddy serving the document root over TLS on a fresh port.
pub async fn caddy() -> io::Result<Peer> {
    super::on_fresh_ports(caddy_once).await
}

async fn caddy_once() -> io::Result<Peer> {
    let program = super::find_binary("caddy", "caddy")?;
    let (dir, certs, www) = workdir()?;
    let port = free_port()?;
    let http_port = free_port()?;
    let log = dir.path().join("access.log");
    let config = format!(
        r#"{{
	admin off
	grace_period 5s
	auto_https disable_redirects
	http_port {http_port}
	https_port {port}
	storage file_system {data}
	servers {{
		log_credentials
	}}
	servers 127.0.0.1:{http_port} {{
		protocols h1 h2c
		log_credentials
	}}
}}

(site) {{
	bind 127.0.0.1 [::1]
	root * {www}
	@compressible path /compressible.txt
	encode @compressible zstd gzip
	@setcookie path /set-cookie.txt
	header @setcookie Set-Cookie "peer=caddy; Path=/"
	file_server
	log {{
		output file {log}
		format json
	}}
}}

https://:{port} {{
	import site
	tls {cert} {key}
}}

http://:{http_port} {{
	import site
}}
"#,
        data = dir.path().join("data").display(),
        cert = certs.cert.display(),
        key = certs.key.display(),
        www = www.display(),
        log = log.display(),
    );
    let caddyfile = dir.path().join("Caddyfile");
    std::fs::write(&caddyfile, config)?;
    launch(Launch {
        name: "caddy",
        program,
        args: vec![
            "run".into(),
            "--config".into(),
            caddyfile.display().to_string(),
            "--adapter".into(),
            "caddyfile".into(),
        ],
        dir,
        port,
        ip: super::LOOPBACK,
        cleartext_port: Some(http_port),
        log,
        stdout_to_log: false,
        parse,
        probe: super::Probe::H2,
        env: Vec::new(),
    })
    .await
}

/// One JSON object per request; a connection is the client's (address, port) pair.
fn parse(text: &str) -> PeerLog {
    let lines: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let mut log = summarize(lines.iter().map(|v| {
        let r = &v["request"];
        let conn = format!(
            "{}:{}",
            r["remote_ip"].as_str().unwrap_or_default(),
            r["remote_port"].as_str().unwrap_or_default()
        );
        let proto = r["proto"].as_str().unwrap_or_default().to_string();
        let uri = r["uri"].as_str().unwrap_or_default();
        // Borrowing from the parsed value would outlive it; the paths we care about are
        // static.
        let path = if uri == super::READY_PATH {
            super::READY_PATH
        } else {
            ""
        };
        (conn, proto, path)
    }));
    // Caddy logs request headers under Go's canonical names.
    let ids = lines
        .iter()
        .filter_map(|v| v["request"]["headers"]["X-Request-Id"][0].as_str());
    log.duplicate_request_ids = super::duplicates(ids);
    // Logged whole thanks to `log_credentials` (Caddy redacts them otherwise).
    log.cookies = lines
        .iter()
        .filter(|v| v["request"]["uri"].as_str() != Some(super::READY_PATH))
        .map(|v| {
            v["request"]["headers"]["Cookie"]
                .as_array()
                .map(|values| {
                    values
                        .iter()
                        .filter_map(|c| c.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default()
        })
        .collect();
    log
}
