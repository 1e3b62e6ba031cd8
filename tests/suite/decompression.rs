//! Compressed responses: asked for with `Accept-Encoding`, decoded as they stream (gzip,
//! brotli, zstd, deflate), left alone when the caller asks for an encoding itself, and
//! refused when they decode to far more than was sent.

use plexus::ErrorKind;
use plexus_testkit::peers::{self, NginxOptions, COMPRESSIBLE_PATH};
use plexus_testkit::routes::pattern_byte;
use plexus_testkit::TestServer;
use plexus_tests::{assert_still_usable, client, client_builder, init_tracing};

fn pattern(len: u64) -> Vec<u8> {
    (0..len).map(pattern_byte).collect()
}

/// The request head as the server saw it (`/inspect`).
async fn request_head(client: &plexus::Client, server: &TestServer) -> String {
    client
        .get(server.url("/inspect"))
        .send()
        .await
        .expect("response")
        .text()
        .await
        .expect("body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_encoding_is_asked_for_and_decoded() {
    init_tracing();
    let server = TestServer::builder().start().await.expect("server starts");
    let client = client();
    let seen = request_head(&client, &server).await;
    assert!(
        seen.contains("accept-encoding: gzip, br, zstd, deflate\n"),
        "{seen}"
    );
    for encoding in ["gzip", "br", "zstd", "deflate"] {
        let response = client
            .get(server.url(&format!("/encoded/{encoding}/300000")))
            .send()
            .await
            .expect("response");
        assert!(
            response.headers().get("content-encoding").is_none(),
            "{encoding}"
        );
        assert!(
            response.headers().get("content-length").is_none(),
            "{encoding}"
        );
        let body = response.bytes().await.expect("decoded body");
        assert!(
            body[..] == pattern(300_000)[..],
            "{encoding}: {} bytes",
            body.len()
        );
    }
    assert_eq!(server.stats().tcp_connections, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_who_ask_themselves_get_the_encoded_bytes() {
    init_tracing();
    let server = TestServer::builder().start().await.expect("server starts");
    let response = client()
        .get(server.url("/encoded/gzip/1000"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("response");
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let body = response.bytes().await.expect("body");
    assert_eq!(body[..2], [0x1f, 0x8b], "gzip's magic number");

    let plain = client_builder().no_decompression().build().expect("client");
    let seen = request_head(&plain, &server).await;
    assert!(!seen.contains("accept-encoding"), "{seen}");

    // A default `Accept-Encoding` is the caller's own too: sent as it is, and the body
    // left encoded.
    let own_default = client_builder()
        .default_header("accept-encoding", "gzip")
        .build()
        .expect("client");
    let seen = request_head(&own_default, &server).await;
    assert!(
        seen.contains("accept-encoding: gzip\n") && !seen.contains("zstd"),
        "{seen}"
    );
    let response = own_default
        .get(server.url("/encoded/gzip/1000"))
        .send()
        .await
        .expect("response");
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let body = response.bytes().await.expect("body");
    assert_eq!(body[..2], [0x1f, 0x8b], "gzip's magic number");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decompression_bomb_is_refused_and_limits_count_decoded_bytes() {
    init_tracing();
    let server = TestServer::builder().start().await.expect("server starts");
    let client = client();
    // 20 MB of zeros, about 20 KB gzipped: far over 250 times the bytes read.
    let bomb = server.url("/bomb/gzip/20000000");
    let refused = client
        .get(&bomb)
        .send()
        .await
        .expect("response head")
        .bytes()
        .await
        .expect_err("a bomb");
    assert_eq!(refused.kind(), ErrorKind::TooLarge);
    assert!(
        refused.to_string().contains("decompression bomb"),
        "{refused}"
    );

    // With the guard off, the same body decodes whole.
    let trusting = client_builder()
        .decompression_ratio_limit(None)
        .build()
        .expect("client");
    let body = trusting
        .get(&bomb)
        .send()
        .await
        .expect("response")
        .bytes()
        .await
        .expect("decoded");
    assert_eq!(body.len(), 20_000_000);
    assert!(body.iter().all(|b| *b == 0));

    // The body size limit applies to what the caller reads: decoded bytes.
    let limited = client_builder()
        .max_response_body_size(100_000)
        .build()
        .expect("client");
    let too_large = limited
        .get(server.url("/encoded/gzip/200000"))
        .send()
        .await
        .expect("response head")
        .bytes()
        .await
        .expect_err("over the limit once decoded");
    assert_eq!(too_large.kind(), ErrorKind::TooLarge);

    assert_still_usable(&client, &server.url("/")).await;
}

/// nginx gzips, Caddy prefers zstd: both decoded to the file on disk, and each shown to
/// have compressed by a request that asks for the encoding itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_and_caddy_bodies_are_decoded() {
    init_tracing();
    let text = peers::compressible_text();
    let nginx = peers::nginx(NginxOptions::default())
        .await
        .expect("nginx starts");
    let caddy = peers::caddy().await.expect("caddy starts");
    let client = client();
    for (peer, encoding, magic) in [
        (&nginx, "gzip", &[0x1f_u8, 0x8b][..]),
        (&caddy, "zstd", &[0x28, 0xb5, 0x2f, 0xfd][..]),
    ] {
        let url = peer.url(COMPRESSIBLE_PATH);
        let decoded = client
            .get(&url)
            .send()
            .await
            .expect("response")
            .bytes()
            .await
            .expect("body");
        assert!(
            decoded[..] == text[..],
            "{encoding}: {} bytes",
            decoded.len()
        );
        let raw = client
            .get(&url)
            .header("accept-encoding", encoding)
            .send()
            .await
            .expect("response");
        assert_eq!(raw.headers()["content-encoding"], encoding);
        let raw = raw.bytes().await.expect("body");
        assert!(raw.starts_with(magic), "{encoding}");
        assert!(
            raw.len() < text.len() / 5,
            "{encoding}: {} bytes",
            raw.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_decode_is_a_decode_error() {
    init_tracing();
    let server = TestServer::builder().start().await.expect("server starts");
    let client = client();
    for encoding in ["gzip", "br", "zstd", "deflate"] {
        let error = client
            .get(server.url(&format!("/corrupt/{encoding}/5000")))
            .send()
            .await
            .expect("response head")
            .bytes()
            .await
            .expect_err("not encoded");
        assert_eq!(error.kind(), ErrorKind::Decode, "{encoding}: {error}");
    }
    assert_still_usable(&client, &server.url("/")).await;
}
