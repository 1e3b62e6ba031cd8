//! The HTTP/3 side of a test server: quinn + h3 on the UDP port matching its TCP port.
//!
//! Counts QUIC connections and streams like the TCP side, limits the client's stream
//! credit (`max_concurrent_bidi_streams`), can send GOAWAY after N requests, can reject
//! 0-RTT, and records which requests arrived in 0-RTT: those accepted while the
//! connection was still handshaking (quinn's own definition of a 0-RTT stream on the
//! server). The handshake state is read in the task that accepts requests, before each
//! accept, so a request sent after the handshake is never counted as early data.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use h3::server::RequestStream;
use http::{Request, Response, StatusCode};

use crate::certs::TestCerts;
use crate::faults::Faults;
use crate::routes::{self, Route, HELLO, STALL_AT};
use crate::stats::{Counters, InFlight};

type Stream = RequestStream<h3_quinn::BidiStream<Bytes>, Bytes>;

/// HTTP/3 settings of a test server.
#[derive(Debug, Clone)]
pub(crate) struct H3Options {
    pub(crate) max_streams: u32,
    pub(crate) goaway_after: Option<u64>,
    /// After the GOAWAY: leave later streams alone (no reset) and close the connection
    /// once the accepted requests are answered.
    pub(crate) goaway_then_close: bool,
    pub(crate) reject_0rtt: bool,
}

impl Default for H3Options {
    fn default() -> H3Options {
        H3Options {
            max_streams: 1000,
            goaway_after: None,
            goaway_then_close: false,
            reject_0rtt: false,
        }
    }
}

/// Binds the QUIC endpoint on `addr` (UDP).
pub(crate) fn bind(
    addr: SocketAddr,
    certs: &TestCerts,
    opts: &H3Options,
) -> std::io::Result<quinn::Endpoint> {
    let mut tls =
        (*certs.server_config_with_versions(&[b"h3"], &[&rustls::version::TLS13])).clone();
    tls.max_early_data_size = u32::MAX;
    // rustls grants early data only with stateful resumption (RFC 8446 §8.1), so the
    // sessions live in the server's memory, not in stateless tickets.
    let sessions = rustls::server::ServerSessionMemoryCache::new(1024);
    tls.session_storage = if opts.reject_0rtt {
        // Tickets promise early data, but no session is ever found again: the client
        // tries 0-RTT and the server rejects it, as after a restart.
        Arc::new(ForgetfulSessions(sessions))
    } else {
        sessions
    };
    tls.send_tls13_tickets = 2;
    let crypto =
        quinn::crypto::rustls::QuicServerConfig::try_from(tls).map_err(std::io::Error::other)?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(opts.max_streams.into())
        .stream_receive_window((4u32 * 1024 * 1024).into())
        .receive_window((16u32 * 1024 * 1024).into());
    config.transport_config(Arc::new(transport));
    quinn::Endpoint::server(config, addr)
}

/// Stores sessions (so tickets are issued) but never finds one again.
#[derive(Debug)]
struct ForgetfulSessions(Arc<dyn rustls::server::StoresServerSessions>);

impl rustls::server::StoresServerSessions for ForgetfulSessions {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.0.put(key, value)
    }

    fn get(&self, _key: &[u8]) -> Option<Vec<u8>> {
        None
    }

    fn take(&self, _key: &[u8]) -> Option<Vec<u8>> {
        None
    }

    fn can_cache(&self) -> bool {
        self.0.can_cache()
    }
}

/// Accepts QUIC connections until the endpoint closes.
pub(crate) async fn serve(
    endpoint: quinn::Endpoint,
    opts: H3Options,
    counters: Arc<Counters>,
    faults: Arc<Faults>,
) {
    while let Some(incoming) = endpoint.accept().await {
        let opts = opts.clone();
        let counters = Arc::clone(&counters);
        let faults = Arc::clone(&faults);
        tokio::spawn(async move {
            let Ok(connecting) = incoming.accept() else {
                return;
            };
            // 0.5-RTT: streams the client sent in 0-RTT can be read at once.
            let (conn, handshake) = match connecting.into_0rtt() {
                Ok(pair) => pair,
                Err(_) => return,
            };
            serve_connection(conn, handshake, opts, counters, &faults).await;
        });
    }
}

async fn serve_connection(
    conn: quinn::Connection,
    handshake: quinn::ZeroRttAccepted,
    opts: H3Options,
    counters: Arc<Counters>,
    faults: &Faults,
) {
    let _open = counters.quic_accepted();
    let mut h3 = match h3::server::builder()
        .build::<_, Bytes>(h3_quinn::Connection::new(conn.clone()))
        .await
    {
        Ok(h) => h,
        Err(e) => {
            tracing::debug!(error = ?e, "h3 test server set-up failed");
            return;
        }
    };
    let conn_counters = counters.connection("h3");
    let mut handshake = Some(handshake);
    let mut accepted = 0u64;
    let mut handlers = Vec::new();
    // The stream id in our GOAWAY, once sent: requests at or above it are not processed.
    let mut goaway_id = None;
    loop {
        let resolver = match h3.accept().await {
            Ok(Some(r)) => r,
            Ok(None) | Err(_) => break,
        };
        // A request sent after the handshake reached us after quinn processed the
        // handshake's end, so the handshake reads as complete by now; one that reads as
        // incomplete came in 0-RTT.
        let early = !handshake_complete(&mut handshake);
        let Ok((request, mut stream)) = resolver.resolve_request().await else {
            continue;
        };
        if goaway_id.is_some_and(|id| stream.id().into_inner() >= id) || faults.refuse_next() {
            // h3 itself rejects only the streams above the id; RFC 9114 §5.2 leaves the
            // one at the id unprocessed too.
            stream.stop_sending(h3::error::Code::H3_REQUEST_REJECTED);
            stream.stop_stream(h3::error::Code::H3_REQUEST_REJECTED);
            counters.refused();
            continue;
        }
        accepted += 1;
        let stream_id = u32::try_from(stream.id().into_inner()).unwrap_or(u32::MAX);
        if early {
            counters.early_request(request.method().as_str(), request.uri().path());
        }
        let guard = counters.begin(&conn_counters, stream_id);
        let handler = tokio::spawn(handle(request, stream, guard, conn.clone()));
        if opts.goaway_then_close {
            handlers.push(handler);
        }
        if opts.goaway_after == Some(accepted) {
            // GOAWAY naming the next stream id (h3's count of one more request): requests
            // from there on are not processed.
            let _ = h3.shutdown(1).await;
            goaway_id = Some(stream_id_after(u64::from(stream_id)));
            if opts.goaway_then_close {
                close_after(&conn, handlers).await;
                return;
            }
        }
    }
}

/// The id of the next client-initiated bidirectional stream after `id`.
fn stream_id_after(id: u64) -> u64 {
    id + 4
}

/// Answers the accepted requests, then closes the connection (H3_NO_ERROR, RFC 9114
/// §5.2) without ever reading or resetting the streams the client opened after them. A
/// short settle first lets the client acknowledge the GOAWAY and the last responses, which
/// the close would otherwise discard.
async fn close_after(conn: &quinn::Connection, handlers: Vec<tokio::task::JoinHandle<()>>) {
    for h in handlers {
        let _ = h.await;
    }
    tokio::time::sleep(conn.rtt() * 4 + std::time::Duration::from_millis(25)).await;
    conn.close(
        h3::error::Code::H3_NO_ERROR
            .value()
            .try_into()
            .unwrap_or_default(),
        b"done",
    );
}

/// Whether the connection's handshake has completed (the future resolves then).
fn handshake_complete(handshake: &mut Option<quinn::ZeroRttAccepted>) -> bool {
    let Some(h) = handshake.as_mut() else {
        return true;
    };
    let waker = futures_util::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    if std::future::Future::poll(std::pin::Pin::new(h), &mut cx).is_ready() {
        *handshake = None;
        true
    } else {
        false
    }
}

async fn handle(
    request: Request<()>,
    mut stream: Stream,
    guard: InFlight,
    conn: quinn::Connection,
) {
    let id = routes::request_id(request.headers());
    guard.counters().processed(guard.conn(), id.as_deref());
    let mut done = Some(guard);
    let route = Route::parse(request.uri().path());
    if let Route::Delay(d) = route {
        tokio::time::sleep(d).await;
    }
    let result = match route {
        Route::Hello | Route::Delay(_) => {
            reply(
                &mut stream,
                StatusCode::OK,
                Bytes::from_static(HELLO),
                &mut done,
            )
            .await
        }
        Route::Bytes(n) => send_pattern(&mut stream, n, &mut done).await,
        Route::Echo => echo(&mut stream, &mut done).await,
        Route::Upload => {
            let n = drain(&mut stream).await;
            let text = Bytes::from(format!("received {n} bytes"));
            reply(&mut stream, StatusCode::OK, text, &mut done).await
        }
        Route::Status(s) => {
            let status = StatusCode::from_u16(s).unwrap_or(StatusCode::OK);
            reply(&mut stream, status, Bytes::new(), &mut done).await
        }
        Route::Abort(n) => {
            let len = Some(n + 1);
            match stream.send_response(head(StatusCode::OK, len)).await {
                Ok(()) if n > 0 => stream.send_data(routes::pattern(0, n as usize)).await,
                other => other,
            }
            .map(|()| {
                done.take();
                stream.stop_stream(h3::error::Code::H3_INTERNAL_ERROR);
            })
        }
        Route::Stall(pause) => stall(&mut stream, pause, &mut done).await,
        Route::Headers(count, size) => {
            let mut h = head(StatusCode::OK, Some(0));
            routes::add_many_headers(h.headers_mut(), count, size);
            done.take();
            match stream.send_response(h).await {
                Ok(()) => stream.finish().await,
                Err(e) => Err(e),
            }
        }
        Route::Close => {
            conn.close(0x100u32.into(), b"test server closing");
            Ok(())
        }
        Route::NotFound
        | Route::Flaky(_)
        | Route::Busy(_)
        | Route::Redirect(_)
        | Route::Inspect
        | Route::Site { .. }
        | Route::SetCookie
        | Route::Encoded { .. } => {
            reply(&mut stream, StatusCode::NOT_FOUND, Bytes::new(), &mut done).await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = ?e, "h3 test handler could not finish");
    }
}

fn head(status: StatusCode, len: Option<u64>) -> Response<()> {
    let mut r = Response::new(());
    *r.status_mut() = status;
    if let Some(len) = len {
        r.headers_mut()
            .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
    }
    r
}

async fn reply(
    stream: &mut Stream,
    status: StatusCode,
    body: Bytes,
    done: &mut Option<InFlight>,
) -> Result<(), h3::error::StreamError> {
    stream
        .send_response(head(status, Some(body.len() as u64)))
        .await?;
    if !body.is_empty() {
        stream.send_data(body).await?;
    }
    done.take();
    stream.finish().await
}

/// `/stall/MS`: the first bytes of `Hello, World!`, a pause, the rest.
async fn stall(
    stream: &mut Stream,
    pause: std::time::Duration,
    done: &mut Option<InFlight>,
) -> Result<(), h3::error::StreamError> {
    let len = Some(HELLO.len() as u64);
    stream.send_response(head(StatusCode::OK, len)).await?;
    stream
        .send_data(Bytes::from_static(&HELLO[..STALL_AT]))
        .await?;
    tokio::time::sleep(pause).await;
    stream
        .send_data(Bytes::from_static(&HELLO[STALL_AT..]))
        .await?;
    done.take();
    stream.finish().await
}

async fn send_pattern(
    stream: &mut Stream,
    n: u64,
    done: &mut Option<InFlight>,
) -> Result<(), h3::error::StreamError> {
    stream.send_response(head(StatusCode::OK, Some(n))).await?;
    let mut sent = 0u64;
    while sent < n {
        let len = (n - sent).min(routes::CHUNK as u64) as usize;
        stream.send_data(routes::pattern(sent, len)).await?;
        sent += len as u64;
    }
    done.take();
    stream.finish().await
}

async fn echo(
    stream: &mut Stream,
    done: &mut Option<InFlight>,
) -> Result<(), h3::error::StreamError> {
    stream.send_response(head(StatusCode::OK, None)).await?;
    while let Some(mut chunk) = stream.recv_data().await? {
        let bytes = chunk.copy_to_bytes(chunk.remaining());
        stream.send_data(bytes).await?;
    }
    done.take();
    stream.finish().await
}

async fn drain(stream: &mut Stream) -> u64 {
    let mut n = 0u64;
    while let Ok(Some(chunk)) = stream.recv_data().await {
        n += chunk.remaining() as u64;
    }
    n
}
