//! HTTP/1.1 keep-alive connections on hyper's `client::conn::http1`.
//!
//! One request at a time. After each response the connection's future is read off the
//! response: `Connection: close`, HTTP/1.0 without keep-alive, or an exhausted
//! `Keep-Alive: max=N` budget drain it (no new request is sent on it); `Keep-Alive:
//! timeout=N` becomes the idle limit the pool honours, shortened so the client closes
//! first. A request that hyper hands back unsent comes back to the scheduler intact.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use http::{HeaderValue, Request, Response};
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use plexus_core::{
    Body, ConnectionInfo, ConnectionState, Delivery, Error, ErrorKind, SendError, StreamFacts,
};
use tracing::Instrument;

use crate::classify;
use crate::io::MaybeTls;
use crate::keep_alive;
use plexus_core::{ConnectionShared as Shared, InFlight};

/// HTTP/1.1 settings of the client side.
#[derive(Debug, Clone)]
pub struct H1Settings {
    /// Largest response head (status line and headers) accepted, in bytes.
    pub max_header_size: usize,
    /// Most response headers accepted.
    pub max_headers: usize,
}

/// hyper's own limit on response headers. hyper parses into a fixed array of this many
/// slots; any other limit makes it allocate and fill a vector of that size for every
/// response (about 2,000 instructions), so this one is the default and is not passed on.
const HYPER_MAX_HEADERS: usize = 100;

impl Default for H1Settings {
    fn default() -> H1Settings {
        H1Settings {
            max_header_size: 64 * 1024,
            max_headers: HYPER_MAX_HEADERS,
        }
    }
}

/// A handle to one HTTP/1.1 connection.
#[derive(Debug, Clone)]
pub(crate) struct H1Connection {
    pub(crate) shared: Arc<Shared>,
    inner: Arc<H1Inner>,
}

#[derive(Debug)]
struct H1Inner {
    sender: Mutex<http1::SendRequest<Body>>,
    /// Requests the server still takes on this connection (from `Keep-Alive: max`).
    remaining: Mutex<Option<u32>>,
    /// The `Host` header of every request, made once.
    host: HeaderValue,
    /// Set when hyper's connection task has ended.
    driver_end: Arc<DriverEnd>,
}

/// The end of hyper's connection task, which a request waiting for its response hears of.
///
/// hyper answers every request its dispatcher took, with a response or an error, before
/// the task ends. A request handed over in the very moment the dispatcher shuts down (the
/// server closed an idle connection just as the request was sent on it) can instead be
/// left in hyper's queue behind a receiver that has already emptied it: tokio's channel
/// counts the message in before the close and stores it after the drain (tokio issue
/// 7714 describes the same window for permits). Its answer never comes, and without this
/// the request would wait out its whole timeout.
#[derive(Debug, Default)]
struct DriverEnd {
    ended: AtomicBool,
    /// The one request waiting for a response (HTTP/1.1 carries one at a time).
    waiter: AtomicWaker,
}

impl DriverEnd {
    fn end(&self) {
        self.ended.store(true, Ordering::Release);
        self.waiter.wake();
    }

    /// Waits for `response`; `None` if hyper's task ended without answering it (then the
    /// request was never taken off the queue, so never written).
    async fn answer<F: Future>(&self, response: F) -> Option<F::Output> {
        let mut response = std::pin::pin!(response);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(r) = response.as_mut().poll(cx) {
                return Poll::Ready(Some(r));
            }
            self.waiter.register(cx.waker());
            if !self.ended.load(Ordering::Acquire) {
                return Poll::Pending;
            }
            // The task is gone: any answer it was going to give is in the channel now.
            Poll::Ready(match response.as_mut().poll(cx) {
                Poll::Ready(r) => Some(r),
                Poll::Pending => None,
            })
        })
        .await
    }
}

/// Runs the HTTP/1.1 handshake (nothing on the wire) and spawns the connection's driver.
pub(crate) async fn handshake(
    io: MaybeTls,
    info: ConnectionInfo,
    settings: &H1Settings,
) -> Result<H1Connection, Error> {
    let host = plexus_core::target::host_header(&info.origin)?;
    let mut builder = http1::Builder::new();
    builder.max_buf_size(settings.max_header_size.max(8192));
    if settings.max_headers != HYPER_MAX_HEADERS {
        builder.max_headers(settings.max_headers);
    }
    let (sender, conn) = builder
        .handshake::<_, Body>(TokioIo::new(io))
        .await
        .map_err(|e| Error::new(ErrorKind::Protocol).with_source(e))?;
    let shared = Shared::new(info, 1);
    shared.set_max_concurrent(1, true);
    let span = tracing::debug_span!(
        "connection",
        id = shared.info().id.get(),
        origin = %shared.info().origin,
        protocol = "h1",
    );
    let driver_shared = Arc::clone(&shared);
    let driver_end = Arc::new(DriverEnd::default());
    let ended = Arc::clone(&driver_end);
    tokio::spawn(
        async move {
            let end = conn.await;
            ended.end();
            if end.is_ok() {
                // A clean end falls between two messages: the server said
                // `Connection: close` or let an idle connection go. That is HTTP/1.1's
                // graceful close, its GOAWAY: the connection drained.
                driver_shared.advance(ConnectionState::Draining, || {
                    Error::new(ErrorKind::ConnectionClosed)
                        .with_message("the server closed the connection between responses")
                });
            }
            driver_shared.advance(ConnectionState::Closed, || match end {
                Ok(()) => Error::new(ErrorKind::ConnectionClosed)
                    .with_message("the connection was closed"),
                Err(e) => Error::new(ErrorKind::ConnectionClosed)
                    .with_message(e.to_string())
                    .with_source(e),
            });
        }
        .instrument(span),
    );
    Ok(H1Connection {
        shared,
        inner: Arc::new(H1Inner {
            sender: Mutex::new(sender),
            remaining: Mutex::new(None),
            host,
            driver_end,
        }),
    })
}

impl H1Connection {
    pub(crate) fn send_request(
        &self,
        request: Request<Body>,
    ) -> impl Future<Output = Result<Response<H1Body>, SendError>> + Send + 'static {
        let shared = Arc::clone(&self.shared);
        let inner = Arc::clone(&self.inner);
        async move {
            if shared.state() != ConnectionState::Ready {
                return Err(SendError::unsent(shared.unavailable(), request));
            }
            // hyper takes the next request only once its dispatcher has finished the
            // previous response and asked for more; wait for that (or for the close).
            let ready = std::future::poll_fn(|cx| match inner.sender.lock() {
                Ok(mut sender) => sender.poll_ready(cx),
                Err(_) => Poll::Ready(Ok(())),
            })
            .await;
            if let Err(e) = ready {
                let error = classify::hyper(e, &shared);
                shared.advance(ConnectionState::Closed, || error.clone());
                return Err(SendError::unsent(shared.unavailable(), request));
            }
            let (mut parts, body) = request.into_parts();
            let absolute = parts.uri.clone();
            plexus_core::target::to_http1(&inner.host, &mut parts);
            let client_closes = plexus_core::keep_alive::has_connection_close(&parts.headers);
            let request = Request::from_parts(parts, body);
            let in_flight = shared.in_flight_guard();
            let sent = match inner.sender.lock() {
                Ok(mut sender) => sender.try_send_request(request),
                Err(_) => {
                    return Err(SendError::new(
                        Error::new(ErrorKind::ConnectionClosed).with_message("connection poisoned"),
                    ))
                }
            };
            if client_closes {
                // The caller asked for this to be the last request on the connection.
                shared.advance(ConnectionState::Draining, || {
                    Error::new(ErrorKind::ConnectionClosed)
                        .with_message("the request asked for Connection: close")
                });
            }
            let answer = inner.driver_end.answer(sent).await;
            let response = match answer {
                Some(Ok(r)) => r,
                None => {
                    shared.advance(ConnectionState::Closed, || {
                        Error::new(ErrorKind::ConnectionClosed)
                            .with_message("the connection closed before the request was taken")
                    });
                    return Err(SendError::new(shared.unavailable()));
                }
                Some(Err(mut e)) => {
                    let unsent = e.take_message();
                    let error = classify::hyper(e.into_error(), &shared);
                    shared.advance(ConnectionState::Closed, || error.clone());
                    return Err(match unsent {
                        Some(mut request) => {
                            *request.uri_mut() = absolute;
                            SendError::unsent(error.with_delivery(Delivery::NotSent), request)
                        }
                        None => SendError::new(error),
                    });
                }
            };
            apply_reuse_rules(&shared, &inner, &response);
            let (head, incoming) = response.into_parts();
            // A body that is already complete (HEAD, 204, 304, `Content-Length: 0`) leaves
            // the connection reusable even if it is never read.
            let in_flight = (!incoming.is_end_stream()).then_some(in_flight);
            Ok(Response::from_parts(
                head,
                H1Body {
                    incoming,
                    in_flight,
                },
            ))
        }
    }
}

fn apply_reuse_rules(shared: &Shared, inner: &H1Inner, response: &Response<Incoming>) {
    let reuse = keep_alive::reuse_after(response.version(), response.headers());
    if reuse.idle_limit.is_some() {
        shared.set_idle_hint(reuse.idle_limit);
    }
    let budget_spent = match inner.remaining.lock() {
        Ok(mut remaining) => {
            if let Some(max) = reuse.remaining {
                *remaining = Some(max);
            } else if let Some(r) = remaining.as_mut() {
                *r = r.saturating_sub(1);
            }
            *remaining == Some(0)
        }
        Err(_) => true,
    };
    if reuse.closing || budget_spent {
        shared.advance(ConnectionState::Draining, || {
            Error::new(ErrorKind::ConnectionClosed)
                .with_message("the server ends the connection after this response")
        });
    }
}

/// The body of an HTTP/1.1 response. A body dropped before its end leaves the connection
/// unusable (the rest of the message is still on the wire), so the connection is closed.
#[derive(Debug)]
pub struct H1Body {
    incoming: Incoming,
    in_flight: Option<InFlight>,
}

/// HTTP/1.1 has no streams.
impl StreamFacts for H1Body {}

impl Drop for H1Body {
    fn drop(&mut self) {
        if let Some(g) = self.in_flight.take() {
            g.shared().advance(ConnectionState::Draining, || {
                Error::new(ErrorKind::ConnectionClosed)
                    .with_message("a response body was dropped before its end")
            });
        }
    }
}

impl http_body::Body for H1Body {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(None) => {
                this.in_flight = None;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(frame))) => {
                if this.incoming.is_end_stream() {
                    this.in_flight = None;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                let error = match this.in_flight.take() {
                    Some(g) => {
                        let error = classify::hyper(e, g.shared());
                        g.shared()
                            .advance(ConnectionState::Closed, || error.clone());
                        error
                    }
                    None => Error::new(ErrorKind::ConnectionClosed).with_source(e),
                };
                Poll::Ready(Some(Err(error.with_delivery(Delivery::MaybeProcessed))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Bounds a test that would otherwise hang on the bug it looks for.
    async fn within<F: Future>(f: F) -> F::Output {
        tokio::time::timeout(Duration::from_secs(5), f)
            .await
            .expect("the wait ended")
    }

    #[tokio::test]
    async fn an_answer_that_comes_is_returned() {
        let end = DriverEnd::default();
        assert_eq!(within(end.answer(async { 7 })).await, Some(7));
    }

    #[tokio::test]
    async fn an_answer_the_ended_task_never_gives_is_given_up() {
        let end = Arc::new(DriverEnd::default());
        let waiting = tokio::spawn({
            let end = Arc::clone(&end);
            async move { end.answer(std::future::pending::<()>()).await }
        });
        // Let the request register before the task ends, as in the race.
        tokio::task::yield_now().await;
        end.end();
        assert_eq!(within(waiting).await.expect("no panic"), None);
    }

    /// A response future that the other side answers, and whose task then ends, just
    /// after it was first polled and found pending: the interleaving in which the
    /// answer and the end arrive between the request's two looks.
    struct AnsweredAfterFirstPoll {
        rx: tokio::sync::oneshot::Receiver<u8>,
        answer: Option<(tokio::sync::oneshot::Sender<u8>, Arc<DriverEnd>)>,
    }

    impl Future for AnsweredAfterFirstPoll {
        type Output = Result<u8, tokio::sync::oneshot::error::RecvError>;

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            let polled = Pin::new(&mut self.rx).poll(cx);
            if let Some((tx, end)) = self.answer.take() {
                tx.send(5).expect("the request waits");
                end.end();
            }
            polled
        }
    }

    #[tokio::test]
    async fn an_answer_given_as_the_task_ends_is_kept() {
        let end = Arc::new(DriverEnd::default());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let response = AnsweredAfterFirstPoll {
            rx,
            answer: Some((tx, Arc::clone(&end))),
        };
        assert_eq!(within(end.answer(response)).await, Some(Ok(5)));
    }
}
