//! The smallest correct program: one shared `Client`, a GET, the status and the body.
//! `cargo run -p plexus-examples --example fetch [URL]`; with no URL it fetches from the
//! embedded demo server.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (url, _demo) = plexus_examples::url_or_demo("/").await?;
    // One client per process (cheap to clone): it owns the connections.
    let client = plexus_examples::demo_client_builder()?.build()?;
    let response = client.get(&url).send().await?;
    println!("{} {:?}", response.status(), response.version());
    println!("{}", response.text().await?);
    Ok(())
}
