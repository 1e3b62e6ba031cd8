//! nginx (Debian `nginx`): h2 and HTTP/1.1 by ALPN on one TLS port; `keepalive_requests`
//! and `http2_max_concurrent_streams` configurable; a log line per request with the
//! client's address and port. A second, cleartext port speaks h2c by prior knowledge.
//! `/moved` redirects (301) to `/moved-again`, which redirects (308) to `/hello.txt`.

use std::io;

use super::{free_port, launch, summarize, workdir, Launch, Peer, PeerLog};

/// nginx settings for a test.
#[derive(Debug, Clone, Copy)]
pub struct NginxOptions {
    /// Requests per connection before nginx ends it (GOAWAY on h2, `Connection: close` on
    /// HTTP/1.1). nginx's default is 1000.
    pub keepalive_requests: u32,
    /// h2 streams per connection (nginx's default is 128).
    pub http2_max_concurrent_streams: u32,
    /// Seconds an idle keep-alive connection (HTTP/1.1 or h2) stays open; nginx's
    /// default is 75. Not announced in a `Keep-Alive` header, as nginx does by default.
    pub keepalive_timeout_s: u32,
}

impl Default for NginxOptions {
    fn default() -> NginxOptions {
        NginxOptions {
            keepalive_requests: 10_000,
            http2_max_concurrent_streams: 128,
            keepalive_timeout_s: 75,
        }
    }
}

/// Starts nginx (one process, no daemon) serving the document root over TLS.
pub async fn nginx(opts: NginxOptions) -> io::Result<Peer> {
    super::on_fresh_ports(|| nginx_once(opts)).await
}

async fn nginx_once(opts: NginxOptions) -> io::Result<Peer> {
    let program = super::find_binary("nginx", "nginx")?;
    let (dir, certs, www) = workdir()?;
    let port = free_port()?;
    let h2c_port = free_port()?;
    let log = dir.path().join("access.log");
    let d = dir.path().display().to_string();
    let config = format!(
        r#"daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    log_format plexus '$remote_addr:$remote_port/$connection $connection_requests $server_protocol $status $uri $request_method $http_x_request_id';
    access_log {log} plexus;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    keepalive_requests {kr};
    keepalive_timeout {kt}s;
    http2_max_concurrent_streams {streams};
    server {{
        listen 127.0.0.1:{port} ssl http2;
        listen [::1]:{port} ssl http2;
        listen 127.0.0.1:{h2c_port} http2;
        listen [::1]:{h2c_port} http2;
        server_name localhost;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {www};
        # Two redirects in a row, for the client's redirect tests.
        location = /moved {{ return 301 /moved-again; }}
        location = /moved-again {{ return 308 /hello.txt; }}
        # The one file sent compressed, to a client that asks.
        location = /compressible.txt {{
            gzip on;
            gzip_types text/plain;
            gzip_min_length 1;
        }}
    }}
}}
"#,
        log = log.display(),
        kr = opts.keepalive_requests,
        kt = opts.keepalive_timeout_s,
        streams = opts.http2_max_concurrent_streams,
        cert = certs.cert.display(),
        key = certs.key.display(),
        www = www.display(),
    );
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, config)?;
    launch(Launch {
        name: "nginx",
        program,
        args: vec![
            "-c".into(),
            conf.display().to_string(),
            "-p".into(),
            d.clone(),
            "-e".into(),
            format!("{d}/error.log"),
        ],
        dir,
        port,
        ip: super::LOOPBACK,
        cleartext_port: Some(h2c_port),
        log,
        stdout_to_log: false,
        parse,
        probe: super::Probe::H2,
        env: Vec::new(),
    })
    .await
}

/// `client-address:port requests protocol status uri method request-id` per line.
fn parse(text: &str) -> PeerLog {
    let mut log = summarize(records(text));
    let ids = text
        .lines()
        .filter_map(|line| line.split_whitespace().nth(6))
        .filter(|id| *id != "-");
    log.duplicate_request_ids = super::duplicates(ids);
    log
}

fn records(text: &str) -> impl Iterator<Item = (String, String, &'static str)> + '_ {
    text.lines().filter_map(|line| {
        let mut f = line.split_whitespace();
        // `ADDR:PORT/SERIAL`: nginx's connection serial number tells apart two connections
        // from one client port (a busy client reuses ports within seconds).
        let conn = f.next()?.to_string();
        let _requests_on_conn = f.next()?;
        let proto = f.next()?.to_string();
        let _status = f.next()?;
        let uri = f.next()?;
        let path = if uri == super::READY_PATH {
            super::READY_PATH
        } else {
            ""
        };
        Some((conn, proto, path))
    })
}
