//! `plexus-bench`: runs every contender against the same server, alternating them run by
//! run (A B C A B C ...), and prints per row the median rate with its min–max, the ratio
//! to the reference's median from the same run, client CPU time per request, peak RSS,
//! the connections the server accepted (min–max over the runs) and the server's CPU time
//! per request — client and server share the machine's two cores.
//!
//! Servers, one per protocol, the same for every contender: nghttpd (one worker thread)
//! for h2, nginx (one worker) for HTTP/1.1, and plexus-testkit's h3 server (h3 + quinn,
//! one thread) for HTTP/3; all TLS on loopback.
//!
//! Contenders: h2load (`--h1` for HTTP/1.1; the reference for h1 and h2), `h2-direct` and
//! `h3-direct` (clients written straight on h2, and on h3 + quinn: the "no framework"
//! baselines; `h3-direct` is the reference for h3), `reqwest-load` (reqwest 0.12, h3 with
//! its unstable feature; over h2 also "warm": one request per client before the clock, so
//! that its pool holds the one connection the row asks for) and `plexus load`.
//!
//! `--instructions` instead counts user-space instructions per request with callgrind,
//! at concurrency 1 on one connection, start-up cancelled by differencing two run lengths.
//! It also counts `plexus load -H 'User-Agent:' -H 'Accept:'`: the request the direct
//! clients send, without plexus's two default headers (HTTP/3's QPACK encoder in h3 0.0.8
//! Huffman-codes every literal value, a byte at a time, on every request).
//!
//! Usage: plexus-bench [--rounds R] [--quick] [--rows 'TEXT;TEXT...'] [--instructions]
//! (`--rows` keeps the rows whose name contains one of the texts.)
//! (`bench/run` builds what it needs and calls it.)

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// One measured run.
#[derive(Debug, Clone, Copy)]
struct Sample {
    rps: f64,
    /// Client CPU (user + system) per request, in microseconds.
    cpu_us: f64,
    /// Peak resident set, KiB.
    rss_kib: u64,
    /// Server CPU per request, in microseconds.
    server_cpu_us: f64,
    /// Connections the server accepted from the client during the run.
    connections: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    H1,
    H2,
    H3,
}

/// A row: one workload, every contender of its protocol.
struct Row {
    name: &'static str,
    proto: Proto,
    body: Body,
    n: u64,
    c: u64,
    m: u64,
    /// reqwest and plexus run as one client with `c * m` requests at once, its pool
    /// choosing the connections (h2load still opens `c` of `m` streams).
    one_client: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Small,
    OneMib,
    HundredMib,
}

impl Body {
    fn bytes(self) -> f64 {
        match self {
            Body::Small => 13.0,
            Body::OneMib => 1_048_576.0,
            Body::HundredMib => 104_857_600.0,
        }
    }
}

macro_rules! rows {
    ($($name:literal $proto:ident $body:ident n $n:literal c $c:literal m $m:literal
        $(one_client $one:literal)?;)*) => {
        &[$(Row {
            name: $name,
            proto: Proto::$proto,
            body: Body::$body,
            n: $n,
            c: $c,
            m: $m,
            one_client: false $(|| $one)?,
        }),*]
    };
}

const ROWS: &[Row] = rows! {
    "h1 small, c1" H1 Small n 20000 c 1 m 1;
    "h1 small, c10" H1 Small n 50000 c 10 m 1;
    "h1 small, 100 at once, one client" H1 Small n 50000 c 100 m 1 one_client true;
    "h2 small, c1 m1" H2 Small n 20000 c 1 m 1;
    "h2 small, c1 m10" H2 Small n 50000 c 1 m 10;
    "h2 small, c1 m100" H2 Small n 50000 c 1 m 100;
    "h2 small, c10 m10" H2 Small n 50000 c 10 m 10;
    "h3 small, c1 m1" H3 Small n 20000 c 1 m 1;
    "h3 small, c1 m10" H3 Small n 50000 c 1 m 10;
    "h3 small, c1 m100" H3 Small n 50000 c 1 m 100;
    "h3 small, c10 m10" H3 Small n 50000 c 10 m 10;
    "h1 1 MiB, c1" H1 OneMib n 300 c 1 m 1;
    "h1 1 MiB, c10" H1 OneMib n 300 c 10 m 1;
    "h2 1 MiB, c1 m1" H2 OneMib n 300 c 1 m 1;
    "h2 1 MiB, c1 m10" H2 OneMib n 300 c 1 m 10;
    "h3 1 MiB, c1 m1" H3 OneMib n 300 c 1 m 1;
    "h3 1 MiB, c1 m10" H3 OneMib n 300 c 1 m 10;
    "h1 100 MiB, c1" H1 HundredMib n 3 c 1 m 1;
    "h1 100 MiB, c10" H1 HundredMib n 10 c 10 m 1;
    "h2 100 MiB, c1 m1" H2 HundredMib n 3 c 1 m 1;
    "h2 100 MiB, c1 m10" H2 HundredMib n 10 c 1 m 10;
    "h3 100 MiB, c1 m1" H3 HundredMib n 3 c 1 m 1;
    "h3 100 MiB, c1 m10" H3 HundredMib n 10 c 1 m 10;
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Contender {
    H2load,
    H2Direct,
    H3Direct,
    Reqwest,
    /// reqwest after one request per client outside the count, so that its pool holds a
    /// connection (rows with more than one request at once; over h2, a cold reqwest
    /// opens one connection per request until ALPN is known).
    ReqwestWarm,
    Plexus,
    /// plexus without its default `User-Agent`, sending what the direct clients send
    /// (instruction counts only).
    PlexusBare,
}

impl Contender {
    fn name(self) -> &'static str {
        match self {
            Contender::H2load => "h2load",
            Contender::H2Direct => "h2 crate, direct",
            Contender::H3Direct => "h3 + quinn, direct",
            Contender::Reqwest => "reqwest",
            Contender::ReqwestWarm => "reqwest, warm pool",
            Contender::Plexus => "plexus",
            Contender::PlexusBare => "plexus, no default headers",
        }
    }

    /// Whether the contender has a run of its own on `row`: a warm reqwest differs from a
    /// cold one only where more than one request is in flight at the start.
    fn runs_on(self, row: &Row) -> bool {
        self != Contender::ReqwestWarm || row.c * row.m > 1
    }

    /// Who runs on `proto`, the reference first.
    fn for_proto(proto: Proto) -> &'static [Contender] {
        match proto {
            Proto::H1 => &[Contender::H2load, Contender::Reqwest, Contender::Plexus],
            Proto::H2 => &[
                Contender::H2load,
                Contender::H2Direct,
                Contender::Reqwest,
                Contender::ReqwestWarm,
                Contender::Plexus,
            ],
            Proto::H3 => &[Contender::H3Direct, Contender::Reqwest, Contender::Plexus],
        }
    }
}

/// A running server, killed on drop.
struct Server {
    port: u16,
    /// The CA the server's certificate is signed by.
    ca: PathBuf,
    pid: u32,
    child: Option<Child>,
    /// nginx runs under the testkit's peer, which owns its process and directory.
    _peer: Option<plexus_testkit::peers::Peer>,
    /// Where the count of connections it accepted comes from.
    accepts: Accepts,
}

/// How a server's accepted connections are counted: on the server's side, whatever the
/// client says.
enum Accepts {
    /// The kernel's count of TCP connections accepted (`PassiveOpens` in
    /// `/proc/net/snmp`). It covers the whole network namespace: `bench/run` gives the
    /// bench one of its own when it can, so that only the bench's loopback traffic counts.
    Tcp,
    /// The h3 server answers a line on its stdin with the QUIC connections it accepted.
    Asked(
        std::cell::RefCell<(
            std::process::ChildStdin,
            std::io::BufReader<std::process::ChildStdout>,
        )>,
    ),
}

impl Server {
    /// Connections the server has accepted since it started (TCP: since the namespace
    /// began).
    fn accepted(&self) -> Result<u64, String> {
        match &self.accepts {
            Accepts::Tcp => tcp_passive_opens(),
            Accepts::Asked(pipes) => {
                use std::io::{BufRead, Write};
                let mut pipes = pipes.borrow_mut();
                let (ask, answer) = &mut *pipes;
                let mut line = String::new();
                writeln!(ask, "connections")
                    .and_then(|()| ask.flush())
                    .and_then(|()| answer.read_line(&mut line))
                    .map_err(|e| format!("h3-server: {e}"))?;
                line.trim()
                    .parse()
                    .map_err(|_| format!("h3-server answered {line:?}"))
            }
        }
    }
}

/// TCP connections accepted in this network namespace (`Tcp: ... PassiveOpens` in
/// `/proc/net/snmp`: a line of names, then a line of values).
fn tcp_passive_opens() -> Result<u64, String> {
    let snmp =
        std::fs::read_to_string("/proc/net/snmp").map_err(|e| format!("/proc/net/snmp: {e}"))?;
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (names, values) = (tcp.next().unwrap_or(""), tcp.next().unwrap_or(""));
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "PassiveOpens")
        .and_then(|(_, v)| v.parse().ok())
        .ok_or_else(|| "no TCP PassiveOpens in /proc/net/snmp".to_string())
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct Tools {
    plexus: PathBuf,
    bin_dir: PathBuf,
    h1: Server,
    h2: Server,
    h3: Server,
}

impl Tools {
    fn server(&self, proto: Proto) -> &Server {
        match proto {
            Proto::H1 => &self.h1,
            Proto::H2 => &self.h2,
            Proto::H3 => &self.h3,
        }
    }

    fn path(proto: Proto, body: Body) -> &'static str {
        match (proto, body) {
            (Proto::H3, Body::Small) => "/",
            (Proto::H3, Body::OneMib) => "/bytes/1048576",
            (Proto::H3, Body::HundredMib) => "/bytes/104857600",
            (_, Body::Small) => "/small.txt",
            (_, Body::OneMib) => "/1mib.bin",
            (_, Body::HundredMib) => "/100mib.bin",
        }
    }
}

struct Options {
    rounds: usize,
    quick: bool,
    only: Vec<String>,
    instructions: bool,
}

fn main() {
    let mut opts = Options {
        rounds: 5,
        quick: false,
        only: Vec::new(),
        instructions: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--rounds" => opts.rounds = it.next().and_then(|v| v.parse().ok()).unwrap_or(5),
            "--quick" => opts.quick = true,
            "--instructions" => opts.instructions = true,
            "--rows" => {
                opts.only = it
                    .next()
                    .unwrap_or_default()
                    .split(';')
                    .map(String::from)
                    .collect()
            }
            other => {
                eprintln!("plexus-bench: unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    if opts.quick {
        opts.rounds = opts.rounds.min(3);
    }
    if let Err(e) = run(&opts) {
        eprintln!("plexus-bench: {e}");
        std::process::exit(1);
    }
}

fn run(opts: &Options) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let certs = plexus_testkit::test_certs()
        .write_to(dir.path())
        .map_err(|e| e.to_string())?;
    let www = dir.path().join("www");
    write_files(&www)?;
    let here = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin_dir = here
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let tools = Tools {
        plexus: workspace_release(&here, "plexus"),
        h2: start_nghttpd(&www, &certs)?,
        h1: start_nginx(&runtime, &certs.ca)?,
        h3: start_h3_server(&bin_dir, &dir.path().join("h3-ca.pem"))?,
        bin_dir,
    };
    if opts.instructions {
        return count_instructions(&tools);
    }
    measure_all(&tools, opts)
}

/// The files nghttpd serves (nginx gets its own copies in its document root).
fn write_files(www: &Path) -> Result<(), String> {
    std::fs::create_dir_all(www).map_err(|e| e.to_string())?;
    std::fs::write(www.join("small.txt"), b"Hello, world!").map_err(|e| e.to_string())?;
    std::fs::write(www.join("1mib.bin"), vec![7u8; 1 << 20]).map_err(|e| e.to_string())?;
    std::fs::write(www.join("100mib.bin"), vec![7u8; 100 << 20]).map_err(|e| e.to_string())?;
    Ok(())
}

fn start_nghttpd(www: &Path, certs: &plexus_testkit::CertFiles) -> Result<Server, String> {
    let port = plexus_testkit::peers::free_port().map_err(|e| e.to_string())?;
    let child = Command::new("nghttpd")
        .args(["-n", "1", "-a", "127.0.0.1", "-d"])
        .arg(www)
        .arg(port.to_string())
        .arg(&certs.key)
        .arg(&certs.cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start nghttpd: {e}"))?;
    std::thread::sleep(Duration::from_millis(500));
    Ok(Server {
        port,
        ca: certs.ca.clone(),
        pid: child.id(),
        child: Some(child),
        _peer: None,
        accepts: Accepts::Tcp,
    })
}

/// nginx with this process's test certificates (whose CA is at `ca`).
fn start_nginx(runtime: &tokio::runtime::Runtime, ca: &Path) -> Result<Server, String> {
    let opts = plexus_testkit::peers::NginxOptions {
        keepalive_requests: 10_000_000,
        ..Default::default()
    };
    let peer = runtime
        .block_on(plexus_testkit::peers::nginx(opts))
        .map_err(|e| format!("cannot start nginx: {e}"))?;
    write_files(&peer.www())?;
    Ok(Server {
        port: peer.port(),
        ca: ca.to_path_buf(),
        pid: peer.pid().ok_or("nginx has no pid")?,
        child: None,
        _peer: Some(peer),
        accepts: Accepts::Tcp,
    })
}

/// The h3 server, in a process of its own (its certificates are its own: it writes their
/// CA to `ca`).
fn start_h3_server(bin_dir: &Path, ca: &Path) -> Result<Server, String> {
    let mut child = Command::new(bin_dir.join("h3-server"))
        .arg(ca)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start h3-server: {e}"))?;
    let (Some(ask), Some(out)) = (child.stdin.take(), child.stdout.take()) else {
        return Err("h3-server has no pipes".into());
    };
    let mut answer = std::io::BufReader::new(out);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut answer, &mut line).map_err(|e| e.to_string())?;
    let port = line
        .trim()
        .parse()
        .map_err(|_| format!("h3-server printed no port: {line:?}"))?;
    Ok(Server {
        port,
        ca: ca.to_path_buf(),
        pid: child.id(),
        child: Some(child),
        _peer: None,
        accepts: Accepts::Asked(std::cell::RefCell::new((ask, answer))),
    })
}

/// The main workspace's release binary `name` (bench/target/release/.. -> target/release).
fn workspace_release(bench_exe: &Path, name: &str) -> PathBuf {
    bench_exe
        .ancestors()
        .nth(4)
        .map(|root| root.join("target/release").join(name))
        .unwrap_or_else(|| PathBuf::from(name))
}

fn measure_all(tools: &Tools, opts: &Options) -> Result<(), String> {
    if std::env::var_os("PLEXUS_BENCH_OWN_NETNS").is_none() {
        eprintln!(
            "plexus-bench: not in a network namespace of its own (bench/run gives it one as \
             root): other TCP connections on this machine may add to the HTTP/1.1 and h2 \
             rows' connection counts"
        );
    }
    println!(
        "| row | contender | req/s median (min–max) | MB/s | ratio to reference | client CPU/req | peak RSS | conns | server CPU/req |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for row in ROWS {
        if !opts.only.is_empty() && !opts.only.iter().any(|o| row.name.contains(o.as_str())) {
            continue;
        }
        let n = if opts.quick {
            (row.n / 5).max(3)
        } else {
            row.n
        };
        let contenders: Vec<Contender> = Contender::for_proto(row.proto)
            .iter()
            .copied()
            .filter(|c| c.runs_on(row))
            .collect();
        let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); contenders.len()];
        for _ in 0..opts.rounds {
            for (i, c) in contenders.iter().enumerate() {
                samples[i].push(measure(*c, tools, row, n)?);
            }
        }
        let reference = median(&samples[0].iter().map(|s| s.rps).collect::<Vec<_>>());
        for (i, c) in contenders.iter().enumerate() {
            let rps: Vec<f64> = samples[i].iter().map(|s| s.rps).collect();
            let cpu: Vec<f64> = samples[i].iter().map(|s| s.cpu_us).collect();
            let server: Vec<f64> = samples[i].iter().map(|s| s.server_cpu_us).collect();
            let rss = samples[i].iter().map(|s| s.rss_kib).max().unwrap_or(0);
            let (fewest, most) = samples[i].iter().fold((u64::MAX, 0), |(lo, hi), s| {
                (lo.min(s.connections), hi.max(s.connections))
            });
            let conns = if fewest == most {
                most.to_string()
            } else {
                format!("{fewest}–{most}")
            };
            let m = median(&rps);
            println!(
                "| {} | {} | {} ({}–{}) | {} | {:.2}x | {:.1} µs | {} KiB | {} | {:.1} µs |",
                row.name,
                c.name(),
                rate(m),
                rate(rps.iter().copied().fold(f64::INFINITY, f64::min)),
                rate(rps.iter().copied().fold(0.0, f64::max)),
                if row.body == Body::Small {
                    "–".to_string()
                } else {
                    format!("{:.0}", m * row.body.bytes() / 1e6)
                },
                m / reference,
                median(&cpu),
                rss,
                conns,
                median(&server)
            );
        }
    }
    Ok(())
}

/// A rate in requests a second: whole numbers, but a decimal for the few-a-second rates of
/// the 100 MiB rows.
fn rate(x: f64) -> String {
    if x < 100.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.0}")
    }
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        0.0
    } else {
        v[v.len() / 2]
    }
}

/// The command line that runs `contender` on `row` with `n` requests.
fn command(c: Contender, tools: &Tools, row: &Row, n: u64, wrapper: &[&str]) -> Command {
    let server = tools.server(row.proto);
    let (port, ca) = (server.port, &server.ca);
    let url = format!(
        "https://localhost:{port}{}",
        Tools::path(row.proto, row.body)
    );
    let (n_s, c_s, m_s) = (n.to_string(), row.c.to_string(), row.m.to_string());
    // reqwest and plexus as clients: `c` of `m` loops each, or one of `c * m`.
    let (clients, loops) = if row.one_client {
        ("1".to_string(), (row.c * row.m).to_string())
    } else {
        (c_s.clone(), m_s.clone())
    };
    let proto_flag = match row.proto {
        Proto::H1 => "--h1",
        Proto::H2 => "--h2",
        Proto::H3 => "--h3",
    };
    let mut cmd = Command::new(wrapper[0]);
    cmd.args(&wrapper[1..]);
    match c {
        Contender::H2load => {
            cmd.arg("h2load");
            if row.proto == Proto::H1 {
                cmd.arg("--h1");
            }
            cmd.args(["-n", &n_s, "-c", &c_s, "-m", &m_s])
                .arg(url.replace("localhost", "127.0.0.1"));
        }
        Contender::H2Direct | Contender::H3Direct => {
            let bin = if c == Contender::H2Direct {
                "h2-direct"
            } else {
                "h3-direct"
            };
            // One connection only: c connections of m streams each become one of c*m.
            let streams = (row.c * row.m).to_string();
            cmd.arg(tools.bin_dir.join(bin))
                .args(["-n", &n_s, "-m", &streams, "--cacert"])
                .arg(ca)
                .arg(&url);
        }
        Contender::Reqwest | Contender::ReqwestWarm => {
            cmd.arg(tools.bin_dir.join("reqwest-load"))
                .args(["-n", &n_s, "-c", &clients, "-m", &loops, proto_flag]);
            if c == Contender::ReqwestWarm {
                cmd.arg("--warm");
            }
            cmd.arg("--cacert").arg(ca).arg(&url);
        }
        Contender::Plexus | Contender::PlexusBare => {
            cmd.arg(&tools.plexus)
                .args(["load", "--json", proto_flag])
                .args(["-n", &n_s, "-c", &clients, "-m", &loops, "--cacert"])
                .arg(ca);
            if row.one_client {
                cmd.arg("--pooled");
            }
            if c == Contender::PlexusBare {
                cmd.args(["-H", "User-Agent:"]);
            }
            cmd.arg(&url);
        }
    }
    cmd
}

/// One run of `contender` on `row` with `n` requests, under GNU time.
fn measure(c: Contender, tools: &Tools, row: &Row, n: u64) -> Result<Sample, String> {
    let server = tools.server(row.proto);
    let server_pid = server.pid;
    let mut cmd = command(
        c,
        tools,
        row,
        n,
        &["/usr/bin/time", "-f", "BENCH-TIME %U %S %M"],
    );
    let accepted_before = server.accepted()?;
    let server_before = cpu_ticks(server_pid);
    let out = cmd.output().map_err(|e| format!("{}: {e}", c.name()))?;
    let server_after = cpu_ticks(server_pid);
    let connections = server.accepted()? - accepted_before;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!(
            "{} failed on {}: {stdout}{stderr}",
            c.name(),
            row.name
        ));
    }
    let (rps, claimed) = match c {
        Contender::H2load => {
            let rps = stdout
                .lines()
                .find_map(|l| l.strip_prefix("finished in "))
                .and_then(|l| l.split(", ").nth(1))
                .and_then(|r| r.trim_end_matches(" req/s").parse().ok());
            let failed = stdout
                .lines()
                .find_map(|l| l.strip_prefix("requests: "))
                .and_then(|l| l.split(", ").find_map(|f| f.strip_suffix(" failed")))
                .and_then(|f| f.trim().parse::<u64>().ok());
            if failed != Some(0) {
                return Err(format!("h2load had failures on {}: {stdout}", row.name));
            }
            (rps, None)
        }
        _ => {
            let json = serde_json::from_str::<serde_json::Value>(stdout.trim()).ok();
            let ok = json.as_ref().and_then(|j| j["ok"].as_u64());
            if ok != Some(n) {
                return Err(format!(
                    "{} answered {ok:?} of {n} on {}: {stdout}",
                    c.name(),
                    row.name
                ));
            }
            let rps = json.as_ref().and_then(|j| j["rps"].as_f64());
            let conns = json.as_ref().and_then(|j| j["connections"].as_u64());
            (rps, conns)
        }
    };
    let rps = rps.ok_or_else(|| format!("{}: no rate in its output: {stdout}", c.name()))?;
    if let Some(said) = claimed.filter(|&said| said != connections) {
        eprintln!(
            "plexus-bench: {} on {} says it opened {said} connections; the server accepted {connections}",
            c.name(),
            row.name
        );
    }
    let time = stderr
        .lines()
        .find_map(|l| l.strip_prefix("BENCH-TIME "))
        .ok_or_else(|| format!("{}: no GNU time line: {stderr}", c.name()))?;
    let f: Vec<f64> = time
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    let (user, sys, rss) = (f[0], f[1], f[2]);
    let ticks = server_after.saturating_sub(server_before) as f64;
    Ok(Sample {
        rps,
        cpu_us: (user + sys) * 1e6 / n as f64,
        rss_kib: rss as u64,
        server_cpu_us: ticks * 1e6 / 100.0 / n as f64,
        connections,
    })
}

/// The process's user + system CPU in clock ticks (100 a second here).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime) are the 12th and 13th after the name.
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(11) + get(12)
}

/// Instructions per request at concurrency 1 (small GETs, one connection, one stream),
/// from callgrind: the difference between runs of `LONG` and `SHORT` requests, divided by
/// their difference, so start-up and the handshake cancel out.
fn count_instructions(tools: &Tools) -> Result<(), String> {
    const SHORT: u64 = 1000;
    const LONG: u64 = 3000;
    println!("| protocol | contender | instructions per request | ratio to reference |");
    println!("|---|---|---|---|");
    for proto in [Proto::H1, Proto::H2, Proto::H3] {
        let row = Row {
            name: "instructions",
            proto,
            body: Body::Small,
            n: 0,
            c: 1,
            m: 1,
            one_client: false,
        };
        let mut reference = None;
        let contenders = Contender::for_proto(proto)
            .iter()
            .copied()
            .filter(|c| c.runs_on(&row))
            .chain([Contender::PlexusBare]);
        for c in contenders {
            let short = callgrind_total(c, tools, &row, SHORT)?;
            let long = callgrind_total(c, tools, &row, LONG)?;
            let per = long.saturating_sub(short) as f64 / (LONG - SHORT) as f64;
            let base = *reference.get_or_insert(per);
            println!(
                "| {:?} | {} | {:.0} | {:.2}x |",
                proto,
                c.name(),
                per,
                per / base
            );
        }
    }
    Ok(())
}

/// Instructions callgrind counted for one run (every thread).
fn callgrind_total(c: Contender, tools: &Tools, row: &Row, n: u64) -> Result<u64, String> {
    let out_file = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    let out_arg = format!("--callgrind-out-file={}", out_file.path().display());
    let mut cmd = command(
        c,
        tools,
        row,
        n,
        &["valgrind", "--tool=callgrind", &out_arg],
    );
    let out = cmd.output().map_err(|e| format!("valgrind: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("{} under callgrind failed: {stderr}", c.name()));
    }
    stderr
        .lines()
        .filter_map(|l| l.split_once("Collected : ").map(|(_, n)| n.trim()))
        .filter_map(|n| n.parse::<u64>().ok())
        .reduce(|a, b| a + b)
        .ok_or_else(|| format!("{}: no callgrind total in {stderr}", c.name()))
}
