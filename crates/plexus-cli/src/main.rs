//! `plexus`: fetch URLs over one multiplexing client (`plexus get`), load-test a server
//! (`plexus load`), or watch connection reuse and multiplexing pay off on local servers
//! (`plexus demo`) and across a real delayed path between network namespaces (`plexus lab`).
#![forbid(unsafe_code)]

use std::error::Error as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod demo;
mod get;
#[cfg(target_os = "linux")]
mod lab;
mod load;
mod load_report;
mod request_args;
mod scenario;
mod stats;
mod write_out;

/// An HTTP/2 and HTTP/1.1 client that keeps connections alive and multiplexes requests.
#[derive(Parser, Debug)]
#[command(name = "plexus", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Fetch URLs (curl-like). Exit codes follow curl's: 3 bad URL, 6 DNS, 7 connect,
    /// 28 time-out, 35 TLS, 52 connection closed, 16 HTTP/2 or protocol error.
    Get(Box<get::GetArgs>),
    /// Start local servers and show, measured live, what connection reuse and
    /// multiplexing save.
    Demo(demo::DemoArgs),
    /// Load-test a URL (h2load-style): -n requests or a -D duration over -c connections with
    /// -m streams each; latency percentiles, statuses, errors, connections.
    Load(Box<load::LoadArgs>),
    /// Rerun the seeds' experiment across a real delayed path: two network namespaces
    /// joined by a TUN relay (root only); prints round trips and draws an SVG chart.
    #[cfg(target_os = "linux")]
    Lab(lab::LabArgs),
}

fn main() -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let cli = Cli::parse();
    // The lab runs its own runtimes, one per network namespace.
    #[cfg(target_os = "linux")]
    if let Command::Lab(args) = cli.command {
        return ExitCode::from(u8::try_from(lab::run(args)).unwrap_or(1));
    }
    // `load` measures the client: a current-thread runtime unless asked otherwise (on two
    // cores a multi-threaded one costs more CPU per request than it gains).
    let mut builder = match &cli.command {
        Command::Load(args) if args.threads <= 1 => tokio::runtime::Builder::new_current_thread(),
        Command::Load(args) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(args.threads);
            b
        }
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("plexus: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Get(args) => get::run(*args).await,
            Command::Demo(args) => demo::run(args).await,
            Command::Load(args) => load::run(*args).await,
            #[cfg(target_os = "linux")]
            Command::Lab(_) => unreachable!("the lab ran before the runtime started"),
        }
    });
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// An error and its causes on one line.
pub(crate) fn error_chain(e: &plexus::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// curl's exit code for an error of this kind.
pub(crate) fn exit_code(e: &plexus::Error) -> i32 {
    use plexus::ErrorKind as K;
    match e.kind() {
        K::InvalidUrl => 3,
        K::UnsupportedScheme => 1,
        K::Dns => 6,
        K::Connect => 7,
        K::ConnectTimeout | K::Timeout | K::QueueTimeout => 28,
        K::Tls => 35,
        K::ConnectionClosed => 52,
        K::RequestBody => 26,
        K::InvalidRequest => 2,
        K::Redirect => 47,
        K::Proxy => 56,
        _ => 16,
    }
}
