//! A download that never sits whole in memory: the body goes to a file chunk by chunk.
//! `cargo run -p plexus-examples --example stream_download [URL] [FILE]`; with no URL,
//! 100 MiB from the embedded demo server, written to a temporary file.

use tokio::io::AsyncWriteExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (url, _demo) = plexus_examples::url_or_demo("/bytes/104857600").await?;
    let path = match std::env::args().nth(2) {
        Some(p) => std::path::PathBuf::from(p),
        None => std::env::temp_dir().join(format!("plexus-download-{}", std::process::id())),
    };
    let client = plexus_examples::demo_client_builder()?.build()?;
    let mut response = client.get(&url).send().await?;
    let mut file = tokio::fs::File::create(&path).await?;
    let (mut bytes, mut chunks, mut largest) = (0u64, 0u64, 0usize);
    while let Some(chunk) = response.chunk().await? {
        file.write_all(&chunk).await?;
        bytes += chunk.len() as u64;
        chunks += 1;
        largest = largest.max(chunk.len());
    }
    file.flush().await?;
    println!(
        "{} bytes to {} in {chunks} chunks, the largest {largest} bytes",
        bytes,
        path.display()
    );
    if std::env::args().nth(2).is_none() {
        tokio::fs::remove_file(&path).await?;
    }
    Ok(())
}
