//! The request body type every transport accepts.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use http_body::{Frame, SizeHint};

use crate::error::{BoxError, Error, ErrorKind};

type DynBody = Pin<Box<dyn http_body::Body<Data = Bytes, Error = BoxError> + Send + 'static>>;

/// A request body: empty, a buffer in memory, or a stream.
///
/// Empty and in-memory bodies can be cloned ([`Body::try_clone`]), which is what lets the
/// scheduler re-send a request the server did not process. A streaming body is sent once;
/// it can be re-sent only when the transport hands it back untouched (the request was
/// never written).
pub struct Body {
    kind: Kind,
}

enum Kind {
    Empty,
    Full(Bytes),
    Stream(DynBody),
}

impl Body {
    /// A body with no bytes.
    pub fn empty() -> Body {
        Body { kind: Kind::Empty }
    }

    /// A body whose bytes are all in memory.
    pub fn full(bytes: impl Into<Bytes>) -> Body {
        let bytes = bytes.into();
        if bytes.is_empty() {
            Body::empty()
        } else {
            Body {
                kind: Kind::Full(bytes),
            }
        }
    }

    /// A streaming body from any [`http_body::Body`].
    pub fn wrap<B>(body: B) -> Body
    where
        B: http_body::Body + Send + 'static,
        B::Data: Into<Bytes>,
        B::Error: Into<BoxError>,
    {
        Body {
            kind: Kind::Stream(Box::pin(MapBody { inner: body })),
        }
    }

    /// A streaming body from a [`Stream`] of chunks. Its length is unknown, so HTTP/1.1
    /// sends it chunked.
    pub fn wrap_stream<S, B, E>(stream: S) -> Body
    where
        S: Stream<Item = Result<B, E>> + Send + 'static,
        B: Into<Bytes>,
        E: Into<BoxError>,
    {
        Body {
            kind: Kind::Stream(Box::pin(StreamBody { inner: stream })),
        }
    }

    /// A copy of this body, if it can be sent again (empty and in-memory bodies).
    pub fn try_clone(&self) -> Option<Body> {
        match &self.kind {
            Kind::Empty => Some(Body::empty()),
            Kind::Full(b) => Some(Body {
                kind: Kind::Full(b.clone()),
            }),
            Kind::Stream(_) => None,
        }
    }

    /// The bytes of an in-memory body.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match &self.kind {
            Kind::Empty => Some(&[]),
            Kind::Full(b) => Some(b),
            Kind::Stream(_) => None,
        }
    }

    /// The exact length, when known in advance.
    pub fn content_length(&self) -> Option<u64> {
        http_body::Body::size_hint(self).exact()
    }
}

impl Default for Body {
    fn default() -> Body {
        Body::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Empty => f.write_str("Body::Empty"),
            Kind::Full(b) => write!(f, "Body::Full({} bytes)", b.len()),
            Kind::Stream(_) => f.write_str("Body::Stream"),
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        match &mut this.kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(_) => {
                let Kind::Full(bytes) = std::mem::replace(&mut this.kind, Kind::Empty) else {
                    unreachable!("matched Full just above")
                };
                Poll::Ready(Some(Ok(Frame::data(bytes))))
            }
            Kind::Stream(body) => body.as_mut().poll_frame(cx).map_err(|e| {
                Error::new(ErrorKind::RequestBody)
                    .with_message("the request body's source failed")
                    .with_source(e)
            }),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Full(_) => false,
            Kind::Stream(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Full(b) => SizeHint::with_exact(b.len() as u64),
            Kind::Stream(b) => b.size_hint(),
        }
    }
}

macro_rules! body_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Body {
            fn from(v: $t) -> Body {
                Body::full(v)
            }
        }
    )*};
}
body_from!(Bytes, Vec<u8>, String, &'static str, &'static [u8]);

impl From<()> for Body {
    fn from(_: ()) -> Body {
        Body::empty()
    }
}

pin_project_lite::pin_project! {
    struct MapBody<B> {
        #[pin]
        inner: B,
    }
}

impl<B> http_body::Body for MapBody<B>
where
    B: http_body::Body,
    B::Data: Into<Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.project().inner.poll_frame(cx).map(|opt| {
            opt.map(|res| {
                res.map(|frame| frame.map_data(Into::into))
                    .map_err(Into::into)
            })
        })
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

pin_project_lite::pin_project! {
    struct StreamBody<S> {
        #[pin]
        inner: S,
    }
}

impl<S, B, E> http_body::Body for StreamBody<S>
where
    S: Stream<Item = Result<B, E>>,
    B: Into<Bytes>,
    E: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.project()
            .inner
            .poll_next(cx)
            .map(|opt| opt.map(|res| res.map(|b| Frame::data(b.into())).map_err(Into::into)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;

    fn poll_all(mut body: Body) -> Result<Vec<u8>, Error> {
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut out = Vec::new();
        loop {
            match Pin::new(&mut body).poll_frame(&mut cx) {
                Poll::Ready(Some(frame)) => {
                    if let Ok(data) = frame?.into_data() {
                        out.extend_from_slice(&data);
                    }
                }
                Poll::Ready(None) => return Ok(out),
                Poll::Pending => panic!("in-memory bodies are always ready"),
            }
        }
    }

    #[test]
    fn full_bodies_clone_and_stream_once() -> Result<(), Error> {
        let body = Body::from("hello");
        assert_eq!(body.content_length(), Some(5));
        let copy = body.try_clone().expect("in-memory bodies clone");
        assert_eq!(poll_all(body)?, b"hello");
        assert_eq!(poll_all(copy)?, b"hello");
        assert!(Body::empty().is_end_stream());
        Ok(())
    }

    #[test]
    fn streams_do_not_clone_and_report_source_errors() {
        let chunks: Vec<Result<&'static str, std::io::Error>> =
            vec![Ok("a"), Err(std::io::Error::other("disk gone"))];
        let body = Body::wrap_stream(futures_util::stream::iter(chunks));
        assert!(body.try_clone().is_none());
        assert_eq!(body.content_length(), None);
        let err = poll_all(body).expect_err("the stream fails");
        assert_eq!(err.kind(), ErrorKind::RequestBody);
    }
}
