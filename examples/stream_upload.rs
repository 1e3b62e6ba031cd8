//! An upload that never sits whole in memory: the body is a stream of chunks made (or
//! read) as they are sent. `cargo run -p plexus-examples --example stream_upload [URL]
//! [FILE]`; with no URL, 100 MiB generated on the fly to the embedded demo server, which
//! answers with the byte count it received.

use futures_util::StreamExt;
use plexus::Body;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (url, _demo) = plexus_examples::url_or_demo("/upload").await?;
    let body = match std::env::args().nth(2) {
        Some(path) => {
            let file = tokio::fs::File::open(path).await?;
            Body::wrap_stream(tokio_util::io::ReaderStream::new(file))
        }
        None => {
            // 1,600 chunks of 64 KiB, each made only when the connection can take it.
            let chunks = futures_util::stream::iter(0..1600u32)
                .map(|i| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![(i % 251) as u8; 65536])));
            Body::wrap_stream(chunks)
        }
    };
    let client = plexus_examples::demo_client_builder()?.build()?;
    let response = client.put(&url).body(body).send().await?;
    println!("{}: {}", response.status(), response.text().await?);
    Ok(())
}
