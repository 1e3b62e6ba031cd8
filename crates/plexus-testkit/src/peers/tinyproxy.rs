//! tinyproxy (Debian `tinyproxy`): a real HTTP proxy that plexus tunnels through with
//! `CONNECT`, listening on a fresh loopback port; the tunnels it opened are read back from
//! its own log.

use std::io;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tokio::process::{Child, Command};

use super::{find_binary, free_port};

/// A running tinyproxy; stopped when dropped.
#[derive(Debug)]
pub struct ProxyPeer {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: TempDir,
}

impl ProxyPeer {
    /// The proxy's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The `host:port` targets of the `CONNECT` requests the proxy's log shows, in order.
    pub fn connect_requests(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter_map(|line| line.split_once("): CONNECT ").map(|(_, rest)| rest))
            .filter_map(|rest| rest.split_whitespace().next())
            .map(str::to_string)
            .collect()
    }
}

/// Starts tinyproxy on 127.0.0.1, demanding `credentials` (Basic) when given, allowing
/// `CONNECT` to any port.
pub async fn tinyproxy(credentials: Option<(&str, &str)>) -> io::Result<ProxyPeer> {
    let program = find_binary("tinyproxy", "tinyproxy")?;
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let log = dir.path().join("tinyproxy.log");
    // No ConnectPort line: CONNECT is allowed to every port.
    let mut config = format!(
        "Port {port}\nListen 127.0.0.1\nTimeout 120\nMaxClients 200\nAllow 127.0.0.1\n\
         LogFile \"{}\"\nLogLevel Connect\nPidFile \"{}\"\n",
        log.display(),
        dir.path().join("tinyproxy.pid").display()
    );
    if let Some((user, password)) = credentials {
        config.push_str(&format!("BasicAuth {user} {password}\n"));
    }
    let conf = dir.path().join("tinyproxy.conf");
    std::fs::write(&conf, config)?;
    let stderr = Stdio::from(std::fs::File::create(dir.path().join("stderr.log"))?);
    let mut child = Command::new(program)
        .arg("-d")
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot start tinyproxy: {e}")))?;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let stderr = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
            return Err(io::Error::other(format!(
                "tinyproxy exited ({status}) before it was ready: {stderr}"
            )));
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        if Instant::now() > deadline {
            return Err(io::Error::other("tinyproxy did not listen within 15 s"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(ProxyPeer {
        child,
        port,
        log,
        _dir: dir,
    })
}

impl Drop for ProxyPeer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
