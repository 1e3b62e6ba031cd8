//! A response body that holds its stream's lease until the body ends.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};
use plexus_core::{Connection, Error};

use crate::pool::Lease;

/// The body of a scheduled response. While it is being read, its stream counts against
/// the connection's capacity; the stream is freed for the next request when the body
/// ends, fails, or is dropped.
pub struct LeasedBody<C: Connection> {
    /// `None` once abandoned.
    inner: Option<C::ResponseBody>,
    lease: Option<Lease<C>>,
}

impl<C: Connection> LeasedBody<C> {
    pub(crate) fn new(inner: C::ResponseBody, lease: Lease<C>) -> LeasedBody<C> {
        let lease = (!inner.is_end_stream()).then_some(lease);
        LeasedBody {
            inner: Some(inner),
            lease,
        }
    }

    /// Gives up on the rest of the body (a limit was hit): the transport body is dropped
    /// first — h2 and h3 reset the stream, HTTP/1.1 retires the connection, whose rest
    /// of the message is still on the wire — then the stream's lease. The body then
    /// reads as ended.
    pub fn release(&mut self) {
        self.inner = None;
        self.lease = None;
    }
}

// The body never pins its fields: both are moved freely.
impl<C: Connection> Unpin for LeasedBody<C> {}

impl<C: Connection> fmt::Debug for LeasedBody<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeasedBody")
            .field("holds_stream", &self.lease.is_some())
            .finish()
    }
}

impl<C: Connection> http_body::Body for LeasedBody<C> {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(&mut *inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => this.lease = None,
            Poll::Ready(Some(Ok(_))) if inner.is_end_stream() => this.lease = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint())
    }
}
