//! The long soak: `cargo run --release -p plexus-tests --bin soak -- [--requests N]
//! [--seed S] [--concurrency C]` (defaults: 100,000 requests, seed 1, 64 in flight).
//! Prints the ledger; exits 1 when an invariant broke.

use plexus_tests::soak::{self, SoakConfig};

fn main() {
    let mut config = SoakConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .and_then(|v| v.replace('_', "").parse::<u64>().ok());
        match (flag.as_str(), value) {
            ("--requests", Some(n)) => config.requests = n as usize,
            ("--seed", Some(s)) => config.seed = s,
            ("--concurrency", Some(c)) => config.concurrency = (c as usize).max(1),
            _ => {
                eprintln!("usage: soak [--requests N] [--seed S] [--concurrency C]");
                std::process::exit(2);
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let ledger = match runtime.block_on(soak::run(&config)) {
        Ok(ledger) => ledger,
        Err(e) => {
            eprintln!("soak: {e}");
            std::process::exit(2);
        }
    };
    print!("{ledger}");
    if !ledger.violations.is_empty() {
        std::process::exit(1);
    }
}
