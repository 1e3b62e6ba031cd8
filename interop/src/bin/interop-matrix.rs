//! `interop-matrix`: runs the interop cases against the third-party servers and prints
//! the matrix; `--out DIR` also writes `matrix.json` and `matrix.md` there. Exits 1 when
//! any cell failed (an unsupported cell is not a failure).
//!
//! With `--serve PEER`, starts that server with the test files and runs until
//! interrupted (what `interop/peers/PEER` does); `--impair CASE` also puts the relay of
//! an impaired case (`transferloss`, `handshakeloss`, `blackhole`, `rebind-port`,
//! `rebind-addr`) in front of its UDP port, and prints the relay's port.
//!
//! Usage: interop-matrix [--cases a,b] [--peers x,y] [--out DIR] | --serve PEER [--impair CASE]

use std::path::PathBuf;

use plexus_interop::matrix::{self, Verdict};

fn main() {
    let mut cases = Vec::new();
    let mut peers = Vec::new();
    let mut out: Option<PathBuf> = None;
    let mut serve: Option<String> = None;
    let mut impair: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        match arg.as_str() {
            "--cases" => cases = split(&value()),
            "--peers" => peers = split(&value()),
            "--out" => out = Some(PathBuf::from(value())),
            "--serve" => serve = Some(value()),
            "--impair" => impair = Some(value()),
            "-h" | "--help" => {
                println!(
                    "usage: interop-matrix [--cases a,b] [--peers x,y] [--out DIR] | --serve PEER [--impair CASE]"
                );
                return;
            }
            other => {
                eprintln!("interop-matrix: unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let code = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => match serve {
            Some(peer) => rt.block_on(serve_peer(&peer, impair.as_deref())),
            None => rt.block_on(run(&cases, &peers, out)),
        },
        Err(e) => {
            eprintln!("interop-matrix: {e}");
            2
        }
    };
    std::process::exit(code);
}

fn split(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

async fn run(cases: &[String], peers: &[String], out: Option<PathBuf>) -> i32 {
    let endpoint = match std::env::current_exe() {
        Ok(exe) => exe.with_file_name("plexus-interop"),
        Err(e) => {
            eprintln!("interop-matrix: {e}");
            return 2;
        }
    };
    let dir = match tempfile::Builder::new().prefix("plexus-matrix-").tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("interop-matrix: {e}");
            return 2;
        }
    };
    let fixture = match matrix::fixture(dir.path(), endpoint) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("interop-matrix: cannot write the test files: {e}");
            return 2;
        }
    };
    let outcomes = matrix::run(&fixture, cases, peers, |o| {
        let (mark, detail) = match &o.verdict {
            Verdict::Passed(d) => ("passed", d),
            Verdict::Failed(d) => ("FAILED", d),
            Verdict::Unsupported(d) => ("unsupported", d),
        };
        eprintln!("{:<13} {:<10} {mark}: {detail}", o.case, o.peer);
    })
    .await;
    println!("\n{}", matrix::table(&outcomes));
    if let Some(out) = out {
        let date = std::process::Command::new("date")
            .arg("-u")
            .arg("+%Y-%m-%d")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let written = std::fs::create_dir_all(&out)
            .and_then(|()| {
                std::fs::write(
                    out.join("matrix.json"),
                    serde_json::to_string_pretty(&matrix::to_json(&outcomes)).unwrap_or_default(),
                )
            })
            .and_then(|()| {
                std::fs::write(
                    out.join("matrix.md"),
                    matrix::markdown(&outcomes, &date, &matrix::versions()),
                )
            });
        if let Err(e) = written {
            eprintln!("interop-matrix: cannot write {}: {e}", out.display());
            return 2;
        }
    }
    let failed = outcomes
        .iter()
        .any(|o| matches!(o.verdict, Verdict::Failed(_)));
    i32::from(failed)
}

/// Starts `peer` with the test files, prints where it is, and stops it on Ctrl-C or
/// SIGTERM.
async fn serve_peer(peer: &str, impair: Option<&str>) -> i32 {
    let dir = match tempfile::Builder::new()
        .prefix("plexus-peer-files-")
        .tempdir()
    {
        Ok(d) => d,
        Err(e) => {
            eprintln!("interop-matrix: {e}");
            return 2;
        }
    };
    let served = async {
        let fixture = matrix::fixture(dir.path(), PathBuf::new())?;
        let peer = matrix::start_peer(peer, matrix::plan::ServerSettings::default()).await?;
        matrix::link_files(&fixture.files, &peer.www())?;
        println!(
            "{} pid={} tls_port={} cleartext_port={} www={} ca={}",
            peer.name(),
            peer.pid().map_or_else(|| "?".into(), |p| p.to_string()),
            peer.port(),
            peer.cleartext_port()
                .map_or_else(|| "-".into(), |p| p.to_string()),
            peer.www().display(),
            fixture.ca.display(),
        );
        let relay = match impair {
            Some(case) => {
                let (impairment, _) = matrix::plan::impairment(case).ok_or_else(|| {
                    std::io::Error::other(format!("{case} is not an impaired case"))
                })?;
                let target = std::net::SocketAddr::from(([127, 0, 0, 1], peer.port()));
                let relay = plexus_testkit::UdpRelay::start(target, impairment).await?;
                println!("relay_port={} (UDP, 127.0.0.1, as {case})", relay.port());
                Some(relay)
            }
            None => None,
        };
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        if let Some(relay) = relay {
            println!("{:?}", relay.stats());
        }
        peer.stop().await;
        Ok::<(), std::io::Error>(())
    };
    match served.await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("interop-matrix: {e}");
            1
        }
    }
}
