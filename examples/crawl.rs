//! Crawl one origin: follow the links of its HTML pages at a fixed concurrency over one
//! shared client, each page once, and show multiplexing at work — how many pages, over
//! how many connections, with how many requests in flight at once.
//! `cargo run -p plexus-examples --example crawl [URL] [--concurrency N] [--max-pages N]`;
//! with no URL it crawls a 200-page site on the embedded demo server (20 ms a page).

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut start = None;
    let mut concurrency = 16;
    let mut max_pages = 1000;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--concurrency" => concurrency = args.next().ok_or("--concurrency N")?.parse()?,
            "--max-pages" => max_pages = args.next().ok_or("--max-pages N")?.parse()?,
            other => start = Some(other.to_string()),
        }
    }
    let demo = match start {
        Some(_) => None,
        None => Some(plexus_examples::demo_server().await?),
    };
    let start = match (&start, &demo) {
        (Some(url), _) => url.clone(),
        (None, Some(server)) => server.url("/site/200/0"),
        (None, None) => unreachable!("a demo server runs when no URL is given"),
    };
    // One client per process: every page of the origin goes over its one h2 connection.
    let client = plexus_examples::demo_client_builder()?.build()?;
    let r = plexus_examples::crawl(&client, &start, concurrency, max_pages).await?;
    println!(
        "crawled {} pages ({} bytes) from {} in {:.0?} over {} connection(s), {}, \
         peak {} requests in flight; {} off-site links not followed",
        r.pages,
        r.bytes,
        r.origin,
        r.elapsed,
        r.connections,
        r.protocols.join(","),
        r.peak_in_flight,
        r.offsite_links
    );
    for (kind, n) in &r.errors {
        println!("    {n} x {kind}");
    }
    Ok(())
}
