//! The HTTP/1.1 side of a test server, on hyper's server connection.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};

use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::faults::ConnFaults;
use crate::routes::{self, Route, HELLO, STALL_AT};
use crate::stats::{Counters, InFlight};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type ResponseBody = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// HTTP/1.1 settings of a test server.
#[derive(Debug, Clone, Default)]
pub(crate) struct H1Options {
    /// Send `Connection: close` on every n-th response of a connection.
    pub(crate) close_every: Option<u64>,
    /// Announce `Keep-Alive: timeout=N` and close connections idle that long.
    pub(crate) keep_alive_timeout: Option<Duration>,
    /// Announce `Keep-Alive: max=R` (requests remaining) and, after the M-th request,
    /// close the connection without a `Connection: close`, as a strict server may.
    pub(crate) keep_alive_max: Option<u64>,
    /// An `Alt-Svc` header value to send with every response.
    pub(crate) alt_svc: Option<HeaderValue>,
}

/// Per-connection state the idle watcher reads.
#[derive(Debug)]
struct Activity {
    served: AtomicU64,
    busy: AtomicUsize,
    last_done: Mutex<Instant>,
    /// Requests this connection takes before it closes (`Keep-Alive: max`).
    max: Option<u64>,
    /// Fired when the last allowed response has been sent in full.
    used_up: tokio::sync::Notify,
}

pub(crate) async fn serve<IO>(io: IO, opts: H1Options, counters: Arc<Counters>, fault: ConnFaults)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn_counters = counters.connection("h1");
    let activity = Arc::new(Activity {
        served: AtomicU64::new(0),
        busy: AtomicUsize::new(0),
        last_done: Mutex::new(Instant::now()),
        max: opts.keep_alive_max,
        used_up: tokio::sync::Notify::new(),
    });
    let svc = {
        let opts = opts.clone();
        let activity = Arc::clone(&activity);
        service_fn(move |req| {
            let guard = counters.begin(&conn_counters, 0);
            handle(
                req,
                opts.clone(),
                Arc::clone(&activity),
                guard,
                fault.clone(),
            )
        })
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    if opts.keep_alive_timeout.is_none() && opts.keep_alive_max.is_none() {
        let _ = conn.await;
        return;
    }
    let mut shutting_down = false;
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            () = activity.used_up.notified(), if !shutting_down => {
                // Closed right after the last allowed response, with no `Connection:
                // close` on it: only a client that read `Keep-Alive: max` knew.
                tracing::debug!("test server closing a connection that used up Keep-Alive: max");
                conn.as_mut().graceful_shutdown();
                shutting_down = true;
            }
            () = tokio::time::sleep(Duration::from_millis(20)), if !shutting_down => {
                // As real servers do, the keep-alive timeout runs between requests, not
                // before the first one.
                let idle = activity.busy.load(Ordering::Acquire) == 0
                    && activity.served.load(Ordering::Acquire) > 0;
                let idle_for = activity.last_done.lock().map(|t| t.elapsed()).unwrap_or_default();
                if idle && opts.keep_alive_timeout.is_some_and(|limit| idle_for >= limit) {
                    tracing::debug!(?idle_for, "test server closing idle keep-alive connection");
                    conn.as_mut().graceful_shutdown();
                    shutting_down = true;
                }
            }
        }
    }
}

async fn handle(
    request: Request<Incoming>,
    opts: H1Options,
    activity: Arc<Activity>,
    guard: InFlight,
    fault: ConnFaults,
) -> Result<Response<ResponseBody>, Infallible> {
    activity.busy.fetch_add(1, Ordering::AcqRel);
    let n = activity.served.fetch_add(1, Ordering::AcqRel) + 1;
    if fault.faults.black_hole(n) {
        tracing::debug!(
            n,
            "test server: HTTP/1.1 connection turns into a black hole"
        );
        fault.switch.freeze();
        return std::future::pending().await;
    }
    if fault.faults.close_on_reuse(n) {
        tracing::debug!(n, "test server: closing the connection the client reuses");
        fault.switch.kill();
        // Writing this head fails: the connection closes, nothing answered.
        return Ok(full(StatusCode::SERVICE_UNAVAILABLE, Bytes::new()));
    }
    let id = routes::request_id(request.headers());
    guard.counters().processed(guard.conn(), id.as_deref());
    let (parts, body) = request.into_parts();
    let mut response = match Route::parse(parts.uri.path()) {
        Route::Hello => full(StatusCode::OK, Bytes::from_static(HELLO)),
        Route::Delay(d) => {
            tokio::time::sleep(d).await;
            full(StatusCode::OK, Bytes::from_static(HELLO))
        }
        Route::Bytes(len) => pattern(len),
        Route::Echo => {
            let mut r = Response::new(body.map_err(|e| Box::new(e) as BoxError).boxed());
            *r.status_mut() = StatusCode::OK;
            r
        }
        Route::Upload => {
            let received = drain(body).await;
            full(
                StatusCode::OK,
                Bytes::from(format!("received {received} bytes")),
            )
        }
        Route::Status(s) => full(
            StatusCode::from_u16(s).unwrap_or(StatusCode::OK),
            Bytes::new(),
        ),
        Route::Abort(len) => abort(len, fault.clone()),
        Route::Stall(pause) => stall(pause),
        Route::Flaky(k) => {
            let seen = id
                .as_deref()
                .map_or(0, |id| guard.counters().times_processed(id));
            if seen <= k {
                full(StatusCode::SERVICE_UNAVAILABLE, Bytes::new())
            } else {
                full(StatusCode::OK, Bytes::from_static(HELLO))
            }
        }
        Route::Busy(secs) => {
            let mut r = full(StatusCode::TOO_MANY_REQUESTS, Bytes::new());
            r.headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
            r
        }
        Route::Headers(count, size) => {
            let mut r = full(StatusCode::OK, Bytes::from_static(HELLO));
            routes::add_many_headers(r.headers_mut(), count, size);
            r
        }
        Route::Redirect(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::FOUND);
            let mut r = full(status, Bytes::from_static(routes::REDIRECT_BODY));
            r.headers_mut()
                .insert(http::header::LOCATION, routes::redirect_target(&parts.uri));
            r
        }
        Route::Encoded {
            encoding,
            len,
            body,
        } => {
            let body = routes::encoded_body(encoding, len, body).await;
            let mut r = full(StatusCode::OK, body);
            r.headers_mut().insert(
                http::header::CONTENT_ENCODING,
                HeaderValue::from_static(encoding.name()),
            );
            r
        }
        Route::SetCookie => {
            let mut r = full(StatusCode::OK, Bytes::new());
            *r.status_mut() = routes::set_cookie_answer(&parts.uri, r.headers_mut());
            r
        }
        Route::Site { pages, page } => {
            tokio::time::sleep(routes::SITE_PAGE_DELAY).await;
            let mut r = full(StatusCode::OK, routes::site_page(pages, page));
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r
        }
        Route::Inspect => {
            let received = drain(body).await;
            full(
                StatusCode::OK,
                routes::inspect(&parts.method, &parts.uri, &parts.headers, received),
            )
        }
        Route::Close | Route::NotFound => full(StatusCode::NOT_FOUND, Bytes::new()),
    };
    if opts.close_every.is_some_and(|k| k > 0 && n % k == 0) {
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    let mut keep_alive = Vec::new();
    if let Some(t) = opts.keep_alive_timeout {
        keep_alive.push(format!("timeout={}", t.as_secs()));
    }
    if let Some(max) = opts.keep_alive_max {
        keep_alive.push(format!("max={}", max.saturating_sub(n)));
    }
    if !keep_alive.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&keep_alive.join(", ")) {
            response.headers_mut().insert("keep-alive", v);
        }
    }
    if let Some(v) = &opts.alt_svc {
        response.headers_mut().insert("alt-svc", v.clone());
    }
    let (head, body) = response.into_parts();
    let body = Tracked {
        inner: body,
        done: Some(Done {
            activity,
            _guard: guard,
        }),
    };
    Ok(Response::from_parts(head, body.boxed()))
}

fn full(status: StatusCode, body: Bytes) -> Response<ResponseBody> {
    let mut r = Response::new(Full::new(body).map_err(|e| match e {}).boxed());
    *r.status_mut() = status;
    r
}

fn pattern(len: u64) -> Response<ResponseBody> {
    let chunks = futures_util::stream::unfold(0u64, move |sent| async move {
        if sent >= len {
            return None;
        }
        let n = (len - sent).min(routes::CHUNK as u64) as usize;
        Some((
            Ok::<_, BoxError>(Frame::data(routes::pattern(sent, n))),
            sent + n as u64,
        ))
    });
    let mut r = Response::new(StreamBody::new(chunks).boxed());
    r.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(len));
    r
}

/// `/abort/N`: announces N + 1 bytes, sends N, then kills the connection.
fn abort(len: u64, fault: ConnFaults) -> Response<ResponseBody> {
    let chunks = futures_util::stream::unfold(0u8, move |step| {
        let fault = fault.clone();
        async move {
            match step {
                0 => Some((routes::pattern(0, len as usize), 1)),
                1 => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    fault.switch.kill();
                    // Writing this fails: the connection dies mid-body.
                    Some((Bytes::from_static(b"x"), 2))
                }
                _ => None,
            }
        }
    });
    let chunks = futures_util::StreamExt::map(chunks, |b| Ok::<_, BoxError>(Frame::data(b)));
    let mut r = Response::new(StreamBody::new(chunks).boxed());
    r.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(len + 1));
    r
}

/// `/stall/MS`: the first bytes of `Hello, World!`, a pause, the rest.
fn stall(pause: Duration) -> Response<ResponseBody> {
    let chunks = futures_util::stream::unfold(0u8, move |step| async move {
        match step {
            0 => Some((Bytes::from_static(&HELLO[..STALL_AT]), 1)),
            1 => {
                tokio::time::sleep(pause).await;
                Some((Bytes::from_static(&HELLO[STALL_AT..]), 2))
            }
            _ => None,
        }
    });
    let chunks = futures_util::StreamExt::map(chunks, |b| Ok::<_, BoxError>(Frame::data(b)));
    let mut r = Response::new(StreamBody::new(chunks).boxed());
    r.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(HELLO.len()));
    r
}

async fn drain(mut body: Incoming) -> u64 {
    let mut n = 0u64;
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            n += data.len() as u64;
        }
    }
    n
}

/// Marks the connection idle (for the keep-alive timer) when the response is done.
struct Done {
    activity: Arc<Activity>,
    _guard: InFlight,
}

impl Drop for Done {
    fn drop(&mut self) {
        let a = &self.activity;
        if let Ok(mut t) = a.last_done.lock() {
            *t = Instant::now();
        }
        a.busy.fetch_sub(1, Ordering::AcqRel);
        if a.max
            .is_some_and(|max| a.served.load(Ordering::Acquire) >= max)
        {
            a.used_up.notify_one();
        }
    }
}

struct Tracked {
    inner: ResponseBody,
    done: Option<Done>,
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            self.done = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
