//! The smallest correct program: one shared `Client`, a GET, the status and the body.
//! `cargo run -p plexus-examples --example fetch [URL]`; with no URL it fetches from the
//! embedded demo server.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let demo;
    let url = match std::env::args().nth(1) {
        Some(url) => url,
        None => {
            demo = plexus_examples::demo_server().await?;
            demo.url("/")
        }
    };
    // One client per process (cheap to clone): it owns the connections.
    let client = plexus_examples::demo_client_builder()?.build()?;
    let response = client.get(&url).send().await?;
    println!("{} {:?}", response.status(), response.version());
    println!("{}", response.text().await?);
    Ok(())
}
