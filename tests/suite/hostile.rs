//! Peers that attack the client's memory: a response head that never ends (HTTP/1.1
//! header lines, HTTP/2 CONTINUATION frames), HTTP/2 DATA past the client's window, an
//! oversized SETTINGS frame, a flood of SETTINGS. Each server offers far more than any
//! limit ([`HOSTILE_BYTES`]); the client must give up with a typed error (or, for the
//! flood, keep up without piling anything up), take no more than its limits plus the
//! kernel's socket buffers — counted by the server — keep its heap bounded, and stay
//! usable.

use plexus::Http3Mode;
use plexus::{Client, ErrorKind};
use plexus_testkit::{
    H2Hostility, H3Hostility, HostileH2Server, HostileH3Server, MalformedServer, TestServer,
    HOSTILE_BYTES,
};
use plexus_tests::{client_builder, heap, init_tracing};

/// What a client may have taken from a hostile server: its own limits (4 MiB stream
/// window, 256 KiB of header list) plus what loopback sockets buffer (the receive buffer
/// here grows to 32 MiB) — a quarter of what the server offers.
const MOST_TAKEN: u64 = HOSTILE_BYTES / 4;
/// Live heap the process may have grown by while under attack.
const MOST_HEAP_GROWTH: usize = 32 * 1024 * 1024;

/// HTTP/2 error codes (RFC 9113 §7).
const FLOW_CONTROL_ERROR: u32 = 0x3;
const FRAME_SIZE_ERROR: u32 = 0x6;
const ENHANCE_YOUR_CALM: u32 = 0xb;
/// HTTP/3 error code (RFC 9114 §8.1).
const H3_EXCESSIVE_LOAD: u64 = 0x107;

fn h2_client() -> Client {
    client_builder()
        .http2_prior_knowledge()
        .build()
        .expect("client")
}

/// The live heap at the start of a test, to compare the process's peak with.
struct HeapWatch(usize);

impl HeapWatch {
    fn start() -> HeapWatch {
        HeapWatch(heap::live_bytes())
    }

    /// Asserts the heap never grew by more than [`MOST_HEAP_GROWTH`] — when the test has
    /// its process to itself, as under cargo-nextest.
    fn assert_bounded(&self, what: &str) {
        let growth = heap::peak_bytes().saturating_sub(self.0);
        let checked = heap::own_process();
        eprintln!(
            "{what}: peak heap growth {} KiB (checked: {checked})",
            growth / 1024
        );
        if checked {
            assert!(
                growth < MOST_HEAP_GROWTH,
                "{what}: heap grew by {growth} bytes"
            );
        }
    }
}

/// The client is still fine: a request to a well-behaved h2c server succeeds.
async fn still_usable(client: &Client) {
    let server = TestServer::builder()
        .cleartext()
        .start()
        .await
        .expect("server");
    let r = client.get(server.url("/")).send().await.expect("usable");
    assert_eq!(r.status(), 200);
}

/// Sends a GET to a server with `hostility`; gives the error it ended in, having checked
/// the client is still usable. A response body is read only once the server has finished
/// writing: until then the client holds what it received, up to its window.
async fn hostile(hostility: H2Hostility) -> (HostileH2Server, plexus::Error) {
    let server = HostileH2Server::start(hostility).await.expect("server");
    let client = h2_client();
    let response = client.get(server.url("/")).send().await;
    assert!(
        server.done_writing().await,
        "{hostility:?}: the server is still writing"
    );
    let error = match response {
        Ok(response) => response.bytes().await.expect_err("the body fails"),
        Err(error) => error,
    };
    eprintln!(
        "{hostility:?}: {error} (kind {:?}, {} attempts); server: {} connections, {} requests, \
         {} KiB written at most, GOAWAY {:?}, RST_STREAM {:?}",
        error.kind(),
        error.attempts(),
        server.connections(),
        server.requests(),
        server.most_bytes_written() / 1024,
        server.goaway_codes(),
        server.reset_codes(),
    );
    still_usable(&client).await;
    (server, error)
}

/// The client took little of what the server offered before it hung up.
fn assert_cut_off(server: &HostileH2Server) {
    assert!(
        server.most_bytes_written() < MOST_TAKEN,
        "the client took {} bytes",
        server.most_bytes_written()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_h2_header_block_is_cut_off() {
    init_tracing();
    let watch = HeapWatch::start();
    let (server, error) = hostile(H2Hostility::EndlessContinuation).await;
    assert_eq!(error.kind(), ErrorKind::Protocol, "{error}");
    // The h2 crate counts CONTINUATION frames against the header list limit.
    assert_eq!(server.goaway_codes(), [ENHANCE_YOUR_CALM]);
    assert_eq!(error.attempts(), 1, "a response had begun: {error}");
    assert_cut_off(&server);
    watch.assert_bounded("endless CONTINUATION");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_data_past_the_window_is_a_flow_control_error() {
    init_tracing();
    let watch = HeapWatch::start();
    let (server, error) = hostile(H2Hostility::DataPastWindow).await;
    assert_eq!(error.kind(), ErrorKind::Protocol, "{error}");
    // A stream error: the stream is reset, and whatever the server goes on sending on it
    // is counted against the connection's window and dropped (so the server may well
    // get all of its bytes out; the heap is what must not grow).
    assert_eq!(server.reset_codes(), [FLOW_CONTROL_ERROR]);
    assert_eq!(error.attempts(), 1, "a response had begun: {error}");
    watch.assert_bounded("DATA past the window");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_h2_settings_frame_is_a_frame_size_error() {
    init_tracing();
    let watch = HeapWatch::start();
    let (server, error) = hostile(H2Hostility::OversizedSettingsFrame).await;
    assert_eq!(error.kind(), ErrorKind::Protocol, "{error}");
    // Each connection dies at the frame's header, before or just after the request
    // went out; new connections are tried within the retry policy's bound for requests
    // that were not sent.
    let codes = server.goaway_codes();
    assert!(
        !codes.is_empty() && codes.iter().all(|c| *c == FRAME_SIZE_ERROR),
        "{codes:?}"
    );
    assert!(
        server.connections() <= 10,
        "{} connections",
        server.connections()
    );
    assert_cut_off(&server);
    watch.assert_bounded("oversized SETTINGS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2_settings_flood_is_acknowledged_without_piling_up() {
    init_tracing();
    let watch = HeapWatch::start();
    // 4,000 frames of 16 KiB: 64 MiB of SETTINGS before the answer.
    let frames = 4_000;
    let server = HostileH2Server::start(H2Hostility::SettingsFlood(frames))
        .await
        .expect("server");
    let client = h2_client();
    let response = client.get(server.url("/")).send().await.expect("answered");
    assert_eq!(response.text().await.expect("body"), "ok");
    // Every SETTINGS frame was acknowledged (the first one and the flood), in order,
    // before the answer after them was read.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while server.settings_acks() <= u64::from(frames) && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(server.settings_acks(), u64::from(frames) + 1);
    assert_eq!(server.connections(), 1);
    watch.assert_bounded("SETTINGS flood");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_http1_head_is_cut_off() {
    init_tracing();
    let watch = HeapWatch::start();
    let server = MalformedServer::start().await.expect("server");
    let client = client_builder().build().expect("client");
    let error = client
        .get(server.url("/endless-headers"))
        .send()
        .await
        .expect_err("no head ends");
    eprintln!(
        "endless HTTP/1.1 head: {error}; {} KiB written",
        server.most_bytes_written() / 1024
    );
    assert_eq!(error.kind(), ErrorKind::TooLarge, "{error}");
    assert_eq!(error.attempts(), 1, "{error}");
    assert_eq!(server.requests(), 1);
    assert!(server.most_bytes_written() < MOST_TAKEN);
    let r = client.get(server.url("/ok")).send().await.expect("usable");
    assert_eq!(r.text().await.expect("body"), "ok");
    watch.assert_bounded("endless HTTP/1.1 head");
}

/// Sends a GET over h3 to a server with `hostility` (20 s deadline); gives the error it
/// ended in, once the server is done writing.
async fn hostile_h3(hostility: H3Hostility) -> (HostileH3Server, plexus::Error) {
    let server = HostileH3Server::start(hostility).await.expect("server");
    let client = client_builder()
        .http3(Http3Mode::Only)
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("client");
    let error = client
        .get(server.url("/"))
        .send()
        .await
        .expect_err("no response");
    assert!(
        server.done_writing().await,
        "{hostility:?}: the server is still writing"
    );
    eprintln!(
        "{hostility:?}: {error} (kind {:?}, {} attempts); server: {} connections, {} requests, \
         {} KiB written at most, STOP_SENDING {:?}, CONNECTION_CLOSE {:?}",
        error.kind(),
        error.attempts(),
        server.connections(),
        server.requests(),
        server.most_bytes_written() / 1024,
        server.stop_codes(),
        server.close_codes(),
    );
    assert!(
        server.most_bytes_written() < MOST_TAKEN,
        "{hostility:?}: the client took {} bytes",
        server.most_bytes_written()
    );
    let h3 = TestServer::builder().h3().start().await.expect("server");
    let r = client.get(h3.url("/")).send().await.expect("usable");
    assert_eq!(r.status(), 200);
    (server, error)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_h3_headers_frame_is_refused() {
    init_tracing();
    let watch = HeapWatch::start();
    let (server, error) = hostile_h3(H3Hostility::OversizedHeaders).await;
    assert_eq!(error.kind(), ErrorKind::Protocol, "{error}");
    // The stream is refused at the frame's header; the connection lives on.
    assert_eq!(server.stop_codes(), [H3_EXCESSIVE_LOAD]);
    assert!(server.close_codes().is_empty());
    watch.assert_bounded("oversized h3 HEADERS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_unknown_h3_frame_is_refused() {
    init_tracing();
    let watch = HeapWatch::start();
    let (server, error) = hostile_h3(H3Hostility::OversizedUnknownFrame).await;
    assert_eq!(error.kind(), ErrorKind::Protocol, "{error}");
    assert_eq!(server.stop_codes(), [H3_EXCESSIVE_LOAD]);
    watch.assert_bounded("oversized unknown h3 frame");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_h3_control_frame_is_refused() {
    init_tracing();
    let watch = HeapWatch::start();
    let (server, error) = hostile_h3(H3Hostility::OversizedControlFrame).await;
    assert_eq!(error.kind(), ErrorKind::Protocol, "{error}");
    // The control stream cannot be refused alone: the connection is closed, and the
    // request is not tried again on another, whether or not it was sent before.
    assert_eq!(error.attempts(), 1, "{error}");
    assert_eq!(server.close_codes(), [H3_EXCESSIVE_LOAD]);
    watch.assert_bounded("oversized h3 control frame");
}
