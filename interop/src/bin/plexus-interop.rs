//! `plexus-interop`: the QUIC interop runner's client endpoint (see
//! `plexus_interop::endpoint`). Exit status: 0 done, 1 failed, 127 unsupported.

use plexus_interop::endpoint::{self, Outcome, Settings};

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let code = match std::env::var("ROLE").as_deref() {
        Ok("client") | Err(_) => run(),
        Ok(role) => {
            eprintln!("plexus-interop: role {role:?} is not supported (client only)");
            127
        }
    };
    std::process::exit(code);
}

fn run() -> i32 {
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("plexus-interop: {e}");
            return 1;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("plexus-interop: no runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(endpoint::run(&settings)) {
        Ok(Outcome::Done) => 0,
        Ok(Outcome::Unsupported(why)) => {
            eprintln!("plexus-interop: {why}");
            127
        }
        Err(e) => {
            eprintln!("plexus-interop: {}: {e}", settings.testcase);
            1
        }
    }
}
