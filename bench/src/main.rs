//! `plexus-bench`: runs every contender against the same server (nghttpd with one worker
//! thread, over TLS on loopback), alternating them run by run (A B C A B C ...), and prints
//! per row the median rate with its min–max, the ratio to h2load's median from the same
//! run, client CPU time per request, peak RSS, and the server's CPU time per request —
//! client and server share the machine's two cores.
//!
//! Usage: plexus-bench [--rounds R] [--quick] [--rows NAME,...]
//! (`bench/run` builds what it needs and calls it.)

use std::path::{Path, PathBuf};
use std::process::Command;
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
}

/// A row: one workload, every contender.
struct Row {
    name: &'static str,
    path: &'static str,
    n: u64,
    c: u64,
    m: u64,
}

const ROWS: &[Row] = &[
    Row {
        name: "h2 small, c1 m1",
        path: "/small.txt",
        n: 20_000,
        c: 1,
        m: 1,
    },
    Row {
        name: "h2 small, c1 m10",
        path: "/small.txt",
        n: 50_000,
        c: 1,
        m: 10,
    },
    Row {
        name: "h2 small, c1 m100",
        path: "/small.txt",
        n: 50_000,
        c: 1,
        m: 100,
    },
    Row {
        name: "h2 small, c10 m10",
        path: "/small.txt",
        n: 50_000,
        c: 10,
        m: 10,
    },
    Row {
        name: "h2 1 MiB, c1 m1",
        path: "/1mib.bin",
        n: 300,
        c: 1,
        m: 1,
    },
    Row {
        name: "h2 1 MiB, c1 m10",
        path: "/1mib.bin",
        n: 300,
        c: 1,
        m: 10,
    },
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Contender {
    H2load,
    H2Direct,
    Plexus,
}

impl Contender {
    fn name(self) -> &'static str {
        match self {
            Contender::H2load => "h2load",
            Contender::H2Direct => "h2 crate, direct",
            Contender::Plexus => "plexus",
        }
    }
}

struct Tools {
    plexus: PathBuf,
    h2_direct: PathBuf,
    ca: PathBuf,
    port: u16,
}

fn main() {
    let mut rounds = 5;
    let mut quick = false;
    let mut only: Vec<String> = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--rounds" => rounds = it.next().and_then(|v| v.parse().ok()).unwrap_or(5),
            "--quick" => quick = true,
            "--rows" => {
                only = it
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .map(String::from)
                    .collect()
            }
            other => {
                eprintln!("plexus-bench: unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    if quick {
        rounds = rounds.min(3);
    }
    if let Err(e) = run(rounds, quick, &only) {
        eprintln!("plexus-bench: {e}");
        std::process::exit(1);
    }
}

fn run(rounds: usize, quick: bool, only: &[String]) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let certs = plexus_testkit::test_certs()
        .write_to(dir.path())
        .map_err(|e| e.to_string())?;
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www).map_err(|e| e.to_string())?;
    std::fs::write(www.join("small.txt"), b"Hello, world!").map_err(|e| e.to_string())?;
    std::fs::write(www.join("1mib.bin"), vec![7u8; 1 << 20]).map_err(|e| e.to_string())?;
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &plexus_testkit::test_certs().ca_pem).map_err(|e| e.to_string())?;
    let port = plexus_testkit::peers::free_port().map_err(|e| e.to_string())?;
    let mut server = Command::new("nghttpd")
        .args(["-n", "1", "-a", "127.0.0.1", "-d"])
        .arg(&www)
        .arg(port.to_string())
        .arg(&certs.key)
        .arg(&certs.cert)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start nghttpd: {e}"))?;
    std::thread::sleep(Duration::from_millis(500));
    let here = std::env::current_exe().map_err(|e| e.to_string())?;
    let tools = Tools {
        plexus: workspace_release(&here, "plexus"),
        h2_direct: here.with_file_name("h2-direct"),
        ca,
        port,
    };
    let result = measure_all(&tools, server.id(), rounds, quick, only);
    let _ = server.kill();
    let _ = server.wait();
    result
}

/// The main workspace's release binary `name` (bench/target/release/.. -> target/release).
fn workspace_release(bench_exe: &Path, name: &str) -> PathBuf {
    bench_exe
        .ancestors()
        .nth(4)
        .map(|root| root.join("target/release").join(name))
        .unwrap_or_else(|| PathBuf::from(name))
}

fn measure_all(
    tools: &Tools,
    server_pid: u32,
    rounds: usize,
    quick: bool,
    only: &[String],
) -> Result<(), String> {
    let contenders = [Contender::H2load, Contender::H2Direct, Contender::Plexus];
    println!(
        "| row | contender | req/s median (min–max) | ratio to h2load | client CPU/req | peak RSS | server CPU/req |"
    );
    println!("|---|---|---|---|---|---|---|");
    for row in ROWS {
        if !only.is_empty() && !only.iter().any(|o| row.name.contains(o.as_str())) {
            continue;
        }
        let n = if quick { (row.n / 5).max(100) } else { row.n };
        let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); contenders.len()];
        for _ in 0..rounds {
            for (i, c) in contenders.iter().enumerate() {
                samples[i].push(measure(*c, tools, row, n, server_pid)?);
            }
        }
        let reference = median(&samples[0].iter().map(|s| s.rps).collect::<Vec<_>>());
        for (i, c) in contenders.iter().enumerate() {
            let rps: Vec<f64> = samples[i].iter().map(|s| s.rps).collect();
            let cpu: Vec<f64> = samples[i].iter().map(|s| s.cpu_us).collect();
            let server: Vec<f64> = samples[i].iter().map(|s| s.server_cpu_us).collect();
            let rss = samples[i].iter().map(|s| s.rss_kib).max().unwrap_or(0);
            let m = median(&rps);
            println!(
                "| {} | {} | {:.0} ({:.0}–{:.0}) | {:.2}x | {:.1} µs | {} KiB | {:.1} µs |",
                row.name,
                c.name(),
                m,
                rps.iter().copied().fold(f64::INFINITY, f64::min),
                rps.iter().copied().fold(0.0, f64::max),
                m / reference,
                median(&cpu),
                rss,
                median(&server)
            );
        }
    }
    Ok(())
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

/// One run of `contender` on `row` with `n` requests, under GNU time.
fn measure(
    c: Contender,
    tools: &Tools,
    row: &Row,
    n: u64,
    server_pid: u32,
) -> Result<Sample, String> {
    let url = format!("https://localhost:{}{}", tools.port, row.path);
    let (n_s, c_s, m_s) = (n.to_string(), row.c.to_string(), row.m.to_string());
    let mut cmd = Command::new("/usr/bin/time");
    cmd.args(["-f", "BENCH-TIME %U %S %M"]);
    match c {
        Contender::H2load => {
            cmd.arg("h2load")
                .args(["-n", &n_s, "-c", &c_s, "-m", &m_s])
                .arg(url.replace("localhost", "127.0.0.1"));
        }
        Contender::H2Direct => {
            if row.c != 1 {
                // One connection only: c connections of m streams each become one of c*m.
                let streams = (row.c * row.m).to_string();
                cmd.arg(&tools.h2_direct).args(["-n", &n_s, "-m", &streams]);
            } else {
                cmd.arg(&tools.h2_direct).args(["-n", &n_s, "-m", &m_s]);
            }
            cmd.arg("--cacert").arg(&tools.ca).arg(&url);
        }
        Contender::Plexus => {
            cmd.arg(&tools.plexus)
                .args(["load", "--json", "--h2", "-n", &n_s, "-c", &c_s, "-m", &m_s])
                .arg("--cacert")
                .arg(&tools.ca)
                .arg(&url);
        }
    }
    let server_before = cpu_ticks(server_pid);
    let out = cmd.output().map_err(|e| format!("{}: {e}", c.name()))?;
    let server_after = cpu_ticks(server_pid);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("{} failed on {}: {stderr}", c.name(), row.name));
    }
    let rps = match c {
        Contender::H2load => stdout
            .lines()
            .find_map(|l| l.strip_prefix("finished in "))
            .and_then(|l| l.split(", ").nth(1))
            .and_then(|r| r.trim_end_matches(" req/s").parse().ok()),
        _ => serde_json::from_str::<serde_json::Value>(stdout.trim())
            .ok()
            .and_then(|j| j["rps"].as_f64()),
    }
    .ok_or_else(|| format!("{}: no rate in its output: {stdout}", c.name()))?;
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
