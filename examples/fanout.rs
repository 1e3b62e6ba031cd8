//! Fetch many URLs with bounded concurrency over one shared client, and summarise per
//! origin: protocol, connections, responses, errors, p50 and p99.
//! `cargo run -p plexus-examples --example fanout [FILE|-] [--concurrency N]`: URLs one
//! per line from FILE, or stdin with `-`; with neither, 500 URLs on two embedded demo
//! servers. A progress bar shows on a terminal.

use std::io::{BufRead, IsTerminal};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut source = None;
    let mut concurrency = 50;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--concurrency" => concurrency = args.next().ok_or("--concurrency N")?.parse()?,
            other => source = Some(other.to_string()),
        }
    }
    let mut demo = Vec::new();
    let urls: Vec<String> = match source.as_deref() {
        Some("-") => read_lines(std::io::stdin().lock())?,
        Some(file) => read_lines(std::io::BufReader::new(std::fs::File::open(file)?))?,
        None => {
            for _ in 0..2 {
                demo.push(plexus_examples::demo_server().await?);
            }
            (0..500)
                .map(|i| demo[i % 2].url(&format!("/delay/{}", i % 20)))
                .collect()
        }
    };
    let client = plexus_examples::demo_client_builder()?.build()?;
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(urls.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let summaries = plexus_examples::fanout(&client, urls, concurrency, || bar.inc(1)).await;
    bar.finish_and_clear();
    println!(
        "{:<32} {:<10} {:>5} {:>9} {:>6} {:>9} {:>9}",
        "origin", "protocol", "conns", "responses", "errors", "p50", "p99"
    );
    for s in summaries {
        let errors: u64 = s.errors.values().sum();
        println!(
            "{:<32} {:<10} {:>5} {:>9} {:>6} {:>9.1?} {:>9.1?}",
            s.origin,
            s.protocols.join(","),
            s.connections,
            s.responses,
            errors,
            s.p50,
            s.p99
        );
        for (kind, n) in &s.errors {
            println!("    {n} x {kind}");
        }
    }
    Ok(())
}

fn read_lines(input: impl BufRead) -> std::io::Result<Vec<String>> {
    let mut urls = Vec::new();
    for line in input.lines() {
        let line = line?;
        let line = line.trim();
        if !line.is_empty() && !line.starts_with('#') {
            urls.push(line.to_string());
        }
    }
    Ok(urls)
}
