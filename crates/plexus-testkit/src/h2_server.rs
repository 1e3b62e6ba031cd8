//! The h2 side of a test server (TLS with ALPN `h2`, or h2c by prior knowledge).

use std::future::poll_fn;
use std::sync::Arc;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{RecvStream, SendStream};
use http::{Request, Response, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::faults::ConnFaults;
use crate::goaway_tap::{GoawayControl, GoawayTap};
use crate::routes::{self, Route, HELLO, STALL_AT};
use crate::stats::{Counters, InFlight};

/// h2 settings of a test server.
#[derive(Debug, Clone)]
pub(crate) struct H2Options {
    pub(crate) max_concurrent_streams: Option<u32>,
    pub(crate) goaway_after: Option<u64>,
    /// The GOAWAY carries `INTERNAL_ERROR`, and the connection is killed shortly after.
    pub(crate) goaway_abort: bool,
    pub(crate) stream_window: u32,
    pub(crate) connection_window: u32,
    /// An `Alt-Svc` header value to send with every response.
    pub(crate) alt_svc: Option<http::HeaderValue>,
}

pub(crate) async fn serve<IO>(io: IO, opts: H2Options, counters: Arc<Counters>, fault: ConnFaults)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match opts.goaway_after {
        Some(n) => {
            let control = Arc::new(GoawayControl::default());
            let tap = GoawayTap::new(io, Arc::clone(&control));
            serve_conn(tap, &opts, counters, Some((n, control)), fault).await;
        }
        None => serve_conn(io, &opts, counters, None, fault).await,
    }
}

async fn serve_conn<IO>(
    io: IO,
    opts: &H2Options,
    counters: Arc<Counters>,
    goaway: Option<(u64, Arc<GoawayControl>)>,
    fault: ConnFaults,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = h2::server::Builder::new();
    builder
        .initial_window_size(opts.stream_window)
        .initial_connection_window_size(opts.connection_window)
        .max_frame_size(64 * 1024);
    if let Some(n) = opts.max_concurrent_streams {
        builder.max_concurrent_streams(n);
    }
    let mut conn = match builder.handshake::<_, Bytes>(io).await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "h2 server handshake failed");
            return;
        }
    };
    if let Some((0, control)) = &goaway {
        control.inject(0);
    }
    let conn_counters = counters.connection("h2");
    let mut accepted = 0u64;
    while let Some(next) = conn.accept().await {
        let Ok((request, mut respond)) = next else {
            break;
        };
        let stream_id = respond.stream_id().as_u32();
        if fault.faults.refuse_next() {
            counters.refused();
            respond.send_reset(h2::Reason::REFUSED_STREAM);
            continue;
        }
        accepted += 1;
        if fault.faults.black_hole(accepted) {
            tracing::debug!(stream_id, "test server: connection turns into a black hole");
            fault.switch.freeze();
            let _keep = (request, respond, conn);
            return std::future::pending().await;
        }
        if let Some((limit, control)) = &goaway {
            if accepted > *limit {
                // Above the injected GOAWAY's last stream id: not processed.
                counters.refused();
                respond.send_reset(h2::Reason::REFUSED_STREAM);
                continue;
            }
            if accepted == *limit && opts.goaway_abort {
                control.inject_with_error(stream_id, u32::from(h2::Reason::INTERNAL_ERROR));
                let switch = Arc::clone(&fault.switch);
                tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
                    tracing::debug!(
                        "test server: killing the connection after GOAWAY(INTERNAL_ERROR)"
                    );
                    switch.kill();
                });
            } else if accepted == *limit {
                control.inject(stream_id);
            }
        }
        let guard = counters.begin(&conn_counters, stream_id);
        let handler = tokio::spawn(handle(
            request,
            respond,
            guard,
            opts.alt_svc.clone(),
            fault.clone(),
        ));
        if fault.faults.plan.black_hole_after == Some(accepted) {
            // Once the last request it serves is answered, the connection goes silent,
            // idle or not.
            let switch = Arc::clone(&fault.switch);
            tokio::spawn(async move {
                let _ = handler.await;
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                tracing::debug!("test server: h2 connection turns into a black hole");
                switch.freeze();
            });
        }
    }
}

async fn handle(
    request: Request<RecvStream>,
    respond: SendResponse<Bytes>,
    guard: InFlight,
    alt_svc: Option<http::HeaderValue>,
    fault: ConnFaults,
) {
    let mut respond = Responder {
        inner: respond,
        alt_svc,
    };
    let id = routes::request_id(request.headers());
    guard.counters().processed(guard.conn(), id.as_deref());
    let seen = id
        .as_deref()
        .map_or(0, |id| guard.counters().times_processed(id));
    // The stream stops counting as in flight just before the frame that ends it is
    // queued: after that the client may see the end and open its next stream at once.
    let mut done = Some(guard);
    let (parts, mut body) = request.into_parts();
    let result = match Route::parse(parts.uri.path()) {
        Route::Hello => reply(
            &mut respond,
            StatusCode::OK,
            Bytes::from_static(HELLO),
            &mut done,
        ),
        Route::Delay(d) => {
            tokio::time::sleep(d).await;
            reply(
                &mut respond,
                StatusCode::OK,
                Bytes::from_static(HELLO),
                &mut done,
            )
        }
        Route::Bytes(n) => send_pattern(&mut respond, n, &mut done).await,
        Route::Echo => echo(&mut respond, &mut body, &mut done).await,
        Route::Upload => {
            let n = drain(&mut body).await;
            let text = Bytes::from(format!("received {n} bytes"));
            reply(&mut respond, StatusCode::OK, text, &mut done)
        }
        Route::Status(s) => reply(
            &mut respond,
            StatusCode::from_u16(s).unwrap_or(StatusCode::OK),
            Bytes::new(),
            &mut done,
        ),
        Route::Abort(n) => abort(&mut respond, n, &fault, &mut done).await,
        Route::Stall(d) => stall(&mut respond, d, &mut done).await,
        Route::Flaky(k) => {
            let (status, body) = if seen <= k {
                (StatusCode::SERVICE_UNAVAILABLE, Bytes::new())
            } else {
                (StatusCode::OK, Bytes::from_static(HELLO))
            };
            reply(&mut respond, status, body, &mut done)
        }
        Route::Busy(secs) => {
            let mut h = head(StatusCode::TOO_MANY_REQUESTS, Some(0));
            h.headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
            done.take();
            respond.send_response(h, true).map(|_| ())
        }
        Route::Headers(count, size) => {
            let mut h = head(StatusCode::OK, Some(0));
            routes::add_many_headers(h.headers_mut(), count, size);
            done.take();
            respond.send_response(h, true).map(|_| ())
        }
        Route::Redirect(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::FOUND);
            let mut h = head(status, Some(routes::REDIRECT_BODY.len() as u64));
            h.headers_mut()
                .insert(http::header::LOCATION, routes::redirect_target(&parts.uri));
            match respond.send_response(h, false) {
                Ok(mut stream) => {
                    done.take();
                    stream.send_data(Bytes::from_static(routes::REDIRECT_BODY), true)
                }
                Err(e) => Err(e),
            }
        }
        Route::Encoded {
            encoding,
            len,
            body,
        } => {
            let body = routes::encoded_body(encoding, len, body).await;
            let mut h = head(StatusCode::OK, Some(body.len() as u64));
            h.headers_mut().insert(
                http::header::CONTENT_ENCODING,
                http::HeaderValue::from_static(encoding.name()),
            );
            match respond.send_response(h, false) {
                Ok(mut stream) => {
                    done.take();
                    stream.send_data(body, true)
                }
                Err(e) => Err(e),
            }
        }
        Route::SetCookie => {
            let mut h = head(StatusCode::OK, Some(0));
            *h.status_mut() = routes::set_cookie_answer(&parts.uri, h.headers_mut());
            done.take();
            respond.send_response(h, true).map(|_| ())
        }
        Route::Site { pages, page } => {
            tokio::time::sleep(routes::SITE_PAGE_DELAY).await;
            let html = routes::site_page(pages, page);
            let mut h = head(StatusCode::OK, Some(html.len() as u64));
            h.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/html; charset=utf-8"),
            );
            match respond.send_response(h, false) {
                Ok(mut stream) => {
                    done.take();
                    stream.send_data(html, true)
                }
                Err(e) => Err(e),
            }
        }
        Route::Inspect => {
            let n = drain(&mut body).await;
            let text = routes::inspect(&parts.method, &parts.uri, &parts.headers, n);
            reply(&mut respond, StatusCode::OK, text, &mut done)
        }
        Route::Close | Route::NotFound => {
            reply(&mut respond, StatusCode::NOT_FOUND, Bytes::new(), &mut done)
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "h2 test handler could not finish");
    }
}

/// The response side of a stream, adding the server's `Alt-Svc` to every response head.
struct Responder {
    inner: SendResponse<Bytes>,
    alt_svc: Option<http::HeaderValue>,
}

impl Responder {
    fn send_response(
        &mut self,
        mut head: Response<()>,
        end_of_stream: bool,
    ) -> Result<SendStream<Bytes>, h2::Error> {
        if let Some(v) = &self.alt_svc {
            head.headers_mut().insert("alt-svc", v.clone());
        }
        self.inner.send_response(head, end_of_stream)
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

fn reply(
    respond: &mut Responder,
    status: StatusCode,
    body: Bytes,
    done: &mut Option<InFlight>,
) -> Result<(), h2::Error> {
    let len = body.len() as u64;
    if body.is_empty() {
        done.take();
        respond.send_response(head(status, Some(len)), true)?;
        return Ok(());
    }
    let mut stream = respond.send_response(head(status, Some(len)), false)?;
    done.take();
    stream.send_data(body, true)
}

async fn send_pattern(
    respond: &mut Responder,
    n: u64,
    done: &mut Option<InFlight>,
) -> Result<(), h2::Error> {
    if n == 0 {
        return reply(respond, StatusCode::OK, Bytes::new(), done);
    }
    let mut stream = respond.send_response(head(StatusCode::OK, Some(n)), false)?;
    let mut sent = 0u64;
    while sent < n {
        let len = (n - sent).min(routes::CHUNK as u64) as usize;
        let last = sent + len as u64 == n;
        send_flow_controlled(&mut stream, routes::pattern(sent, len), last, done).await?;
        sent += len as u64;
    }
    Ok(())
}

/// `/abort/N`: announces N + 1 bytes, sends N, then kills the connection.
async fn abort(
    respond: &mut Responder,
    n: u64,
    fault: &ConnFaults,
    done: &mut Option<InFlight>,
) -> Result<(), h2::Error> {
    let mut stream = respond.send_response(head(StatusCode::OK, Some(n + 1)), false)?;
    if n > 0 {
        send_flow_controlled(&mut stream, routes::pattern(0, n as usize), false, done).await?;
    }
    // Let the bytes reach the socket before it dies.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    done.take();
    fault.switch.kill();
    // One more frame wakes the connection to write, which then fails.
    stream.send_data(Bytes::from_static(b"x"), false)
}

/// `/stall/MS`: the first bytes of `Hello, World!`, a pause, the rest.
async fn stall(
    respond: &mut Responder,
    pause: std::time::Duration,
    done: &mut Option<InFlight>,
) -> Result<(), h2::Error> {
    let len = Some(HELLO.len() as u64);
    let mut stream = respond.send_response(head(StatusCode::OK, len), false)?;
    stream.send_data(Bytes::from_static(&HELLO[..STALL_AT]), false)?;
    tokio::time::sleep(pause).await;
    done.take();
    stream.send_data(Bytes::from_static(&HELLO[STALL_AT..]), true)
}

async fn echo(
    respond: &mut Responder,
    body: &mut RecvStream,
    done: &mut Option<InFlight>,
) -> Result<(), h2::Error> {
    let mut stream = respond.send_response(head(StatusCode::OK, None), false)?;
    while let Some(chunk) = poll_fn(|cx| body.poll_data(cx)).await {
        let chunk = chunk?;
        let n = chunk.len();
        send_flow_controlled(&mut stream, chunk, false, &mut None).await?;
        let _ = body.flow_control().release_capacity(n);
    }
    done.take();
    stream.send_data(Bytes::new(), true)
}

async fn drain(body: &mut RecvStream) -> u64 {
    let mut n = 0u64;
    while let Some(Ok(chunk)) = poll_fn(|cx| body.poll_data(cx)).await {
        n += chunk.len() as u64;
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    n
}

/// Sends `data` as the peer's flow-control window allows, never buffering more than that.
/// With `end_of_stream`, `done` is released just before the last frame is queued.
async fn send_flow_controlled(
    stream: &mut SendStream<Bytes>,
    mut data: Bytes,
    end_of_stream: bool,
    done: &mut Option<InFlight>,
) -> Result<(), h2::Error> {
    while !data.is_empty() {
        stream.reserve_capacity(data.len());
        let granted = match poll_fn(|cx| stream.poll_capacity(cx)).await {
            Some(r) => r?,
            None => return Err(h2::Error::from(h2::Reason::CANCEL)),
        };
        if granted == 0 {
            continue;
        }
        let chunk = data.split_to(granted.min(data.len()));
        let last = end_of_stream && data.is_empty();
        if last {
            done.take();
        }
        stream.send_data(chunk, last)?;
    }
    Ok(())
}
