//! `Response`: status, headers, the record of how it was fetched, and a streaming body.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::transport::AnyConnection;
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode, Version};
use http_body::{Body as _, Frame, SizeHint};
use plexus_core::{Error, ErrorKind, RequestRecord};
use plexus_sched::{Delivered, LeasedBody};
use tokio::time::{Instant, Sleep};

/// A response whose head has arrived; its body streams.
pub struct Response {
    head: http::response::Parts,
    body: ResponseBody,
    record: Box<RequestRecord>,
    redirects: Vec<http::Uri>,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.head.status)
            .field("version", &self.head.version)
            .field("headers", &self.head.headers)
            .finish_non_exhaustive()
    }
}

/// The limits a response body is read under.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BodyLimits {
    /// When the whole request must be done, and the limit it came from.
    pub(crate) deadline: Option<(Instant, Duration)>,
    /// Longest wait for the next body bytes.
    pub(crate) read_timeout: Option<Duration>,
    /// Most body bytes accepted (decoded bytes, when the body is decoded).
    pub(crate) max_body: Option<u64>,
    /// The encodings to undo.
    pub(crate) decoders: crate::decode::Decoders,
}

impl Response {
    pub(crate) fn new(delivered: Delivered<AnyConnection>, limits: BodyLimits) -> Response {
        let Delivered { response, record } = delivered;
        let (mut head, wire) = response.into_parts();
        let inner = match limits.decoders.encoding_of(&head.headers) {
            Some(encoding) if !http_body::Body::is_end_stream(&wire) => {
                Source::Decoded(Box::new(crate::decode::Decoding::new(
                    wire,
                    encoding,
                    limits.decoders.max_ratio,
                    &mut head.headers,
                )))
            }
            _ => Source::Wire(wire),
        };
        let attempts = record.attempts;
        Response {
            head,
            record,
            body: ResponseBody {
                inner,
                deadline: limits
                    .deadline
                    .map(|(at, _)| Box::pin(tokio::time::sleep_until(at))),
                limit: limits.deadline.map(|(_, l)| l).unwrap_or_default(),
                stall: limits.read_timeout.map(StallWatch::new),
                max_body: limits.max_body,
                received: 0,
                attempts,
            },
            redirects: Vec::new(),
        }
    }

    /// The URL that answered: the request's, or where its redirects led.
    pub fn url(&self) -> &http::Uri {
        &self.record().url
    }

    /// The URLs that answered with a redirect before [`url`](Response::url), in order;
    /// empty when none was followed.
    pub fn redirects(&self) -> &[http::Uri] {
        &self.redirects
    }

    pub(crate) fn set_redirects(&mut self, redirects: Vec<http::Uri>) {
        self.redirects = redirects;
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.head.status
    }

    /// The HTTP version the response came over.
    pub fn version(&self) -> Version {
        self.head.version
    }

    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.head.headers
    }

    /// How the request was carried: connection (protocol, addresses, TLS, set-up
    /// timings), whether it was reused, attempts and retries, and when each step finished.
    pub fn record(&self) -> &RequestRecord {
        &self.record
    }

    pub(crate) fn record_mut(&mut self) -> &mut RequestRecord {
        &mut self.record
    }

    /// Sets the attempts made for this response (after status retries), which a body
    /// error reports too.
    pub(crate) fn set_attempts(&mut self, attempts: u32) {
        self.record_mut().attempts = attempts;
        self.body.attempts = attempts;
    }

    /// Lets go of a response that will be retried: a small body is read to its end, so
    /// that an HTTP/1.1 connection stays reusable; a large one is dropped.
    pub(crate) async fn discard(self) {
        const READ_UP_TO: u64 = 64 * 1024;
        if self.content_length().is_some_and(|n| n <= READ_UP_TO) {
            let _ = self.bytes().await;
        }
    }

    /// The `Content-Length`, if the server sent one.
    pub fn content_length(&self) -> Option<u64> {
        self.body.size_hint().exact()
    }

    /// The next chunk of the body; `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        loop {
            match poll_fn(|cx| Pin::new(&mut self.body).poll_frame(cx)).await {
                None => return Ok(None),
                Some(frame) => {
                    if let Ok(data) = frame?.into_data() {
                        return Ok(Some(data));
                    }
                }
            }
        }
    }

    /// The whole body.
    pub async fn bytes(mut self) -> Result<Bytes, Error> {
        let first = match self.chunk().await? {
            Some(c) => c,
            None => return Ok(Bytes::new()),
        };
        let Some(second) = self.chunk().await? else {
            return Ok(first);
        };
        let hint = usize::try_from(self.body.size_hint().lower()).unwrap_or(0);
        let mut all = BytesMut::with_capacity(first.len() + second.len() + hint);
        all.extend_from_slice(&first);
        all.extend_from_slice(&second);
        while let Some(c) = self.chunk().await? {
            all.extend_from_slice(&c);
        }
        Ok(all.freeze())
    }

    /// The whole body as text (invalid UTF-8 replaced).
    pub async fn text(self) -> Result<String, Error> {
        let bytes = self.bytes().await?;
        Ok(match String::from_utf8(bytes.to_vec()) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// The whole body, parsed as JSON into a `T`. A body that is not (or not that) JSON is
    /// an error of kind [`ErrorKind::Decode`].
    #[cfg(feature = "json")]
    pub async fn json<T: serde::de::DeserializeOwned>(self) -> Result<T, Error> {
        let bytes = self.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::new(ErrorKind::Decode)
                .with_message(format!("the response body is not the JSON expected: {e}"))
                .with_source(e)
        })
    }

    /// Splits into the head and a body implementing [`http_body::Body`].
    pub fn into_parts(self) -> (http::response::Parts, ResponseBody) {
        (self.head, self.body)
    }
}

/// A streaming response body. Its stream stays reserved on the connection until the body
/// ends or is dropped; the request deadline, if any, still applies.
pub struct ResponseBody {
    inner: Source,
    deadline: Option<Pin<Box<Sleep>>>,
    limit: Duration,
    stall: Option<StallWatch>,
    max_body: Option<u64>,
    received: u64,
    /// Attempts made for the request, reported by a body error.
    attempts: u32,
}

/// The read timeout: how long the body may wait for its next bytes. A wait begins when
/// the body is polled and has nothing (the reader's own pauses do not count); only then
/// is the clock read. Data ends the wait and reads no clock, so a small response whose
/// body came with its head reads none, and never touches the timer wheel. The timer is
/// made at the first wait and re-armed from the current wait's start when it fires,
/// rather than reset at every wait of a fast transfer.
struct StallWatch {
    after: Duration,
    /// When the current wait began; `None` while data flows.
    waiting_since: Option<Instant>,
    timer: Option<Pin<Box<Sleep>>>,
}

impl StallWatch {
    fn new(after: Duration) -> StallWatch {
        StallWatch {
            after,
            waiting_since: None,
            timer: None,
        }
    }

    /// Ready when the body has waited for the read timeout without data.
    fn poll_stalled(&mut self, cx: &mut Context<'_>) -> Poll<Duration> {
        let since = *self.waiting_since.get_or_insert_with(Instant::now);
        let due = since + self.after;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        while timer.as_mut().poll(cx).is_ready() {
            if due <= Instant::now() {
                return Poll::Ready(self.after);
            }
            timer.as_mut().reset(due);
        }
        Poll::Pending
    }
}

/// Where a body's bytes come from: the connection as they are, or through a decoder.
enum Source {
    Wire(LeasedBody<AnyConnection>),
    Decoded(Box<crate::decode::Decoding>),
    /// A decoded body let go of (its connection stream with it).
    Released,
}

impl Source {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match self {
            Source::Wire(b) => Pin::new(b).poll_frame(cx),
            Source::Decoded(d) => d.poll_frame(cx),
            Source::Released => Poll::Ready(None),
        }
    }

    pub(crate) fn release(&mut self) {
        match self {
            Source::Wire(b) => b.release(),
            Source::Decoded(_) => *self = Source::Released,
            Source::Released => {}
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Source::Wire(b) => b.is_end_stream(),
            Source::Decoded(d) => d.is_end_stream(),
            Source::Released => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Source::Wire(b) => b.size_hint(),
            // Known only once decoded.
            Source::Decoded(_) => SizeHint::default(),
            Source::Released => SizeHint::with_exact(0),
        }
    }
}

impl ResponseBody {
    /// Fails the body: the connection's stream is let go (h2/h3 reset it, HTTP/1.1 closes
    /// the connection), so a hostile peer cannot keep sending.
    fn fail(&mut self, error: Error) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.deadline = None;
        self.stall = None;
        self.inner.release();
        Poll::Ready(Some(Err(error.with_attempts(self.attempts))))
    }
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody").finish_non_exhaustive()
    }
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        if let Some(deadline) = this.deadline.as_mut() {
            if deadline.as_mut().poll(cx).is_ready() {
                let limit = this.limit;
                return this.fail(
                    Error::new(ErrorKind::Timeout)
                        .with_message(format!("response body not complete within {limit:?}")),
                );
            }
        }
        let polled = this.inner.poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                let len = frame.data_ref().map_or(0, |d| d.len() as u64);
                this.received += len;
                if let Some(max) = this.max_body.filter(|max| this.received > *max) {
                    return this.fail(
                        Error::new(ErrorKind::TooLarge).with_message(format!(
                            "response body larger than the {max}-byte limit"
                        )),
                    );
                }
                if let Some(watch) = this.stall.as_mut().filter(|_| len > 0) {
                    watch.waiting_since = None;
                }
            }
            Poll::Pending => {
                if let Some(Poll::Ready(after)) = this.stall.as_mut().map(|w| w.poll_stalled(cx)) {
                    return this.fail(
                        Error::new(ErrorKind::BodyStalled)
                            .with_message(format!("no response body bytes for {after:?}")),
                    );
                }
            }
            Poll::Ready(Some(Err(_))) => {
                this.stall = None;
                let attempts = this.attempts;
                return polled.map(|frame| frame.map(|r| r.map_err(|e| e.with_attempts(attempts))));
            }
            Poll::Ready(None) => this.stall = None,
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
