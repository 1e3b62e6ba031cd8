//! A response body of one of two types, for a connection that speaks two protocols.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};

use crate::{Error, StreamFacts};

/// The response body of whichever of two protocols carried the request.
#[derive(Debug)]
pub enum EitherBody<L, R> {
    /// The first protocol's body.
    Left(L),
    /// The second protocol's body.
    Right(R),
}

impl<L, R> HttpBody for EitherBody<L, R>
where
    L: HttpBody<Data = Bytes, Error = Error> + Unpin,
    R: HttpBody<Data = Bytes, Error = Error> + Unpin,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match self.get_mut() {
            EitherBody::Left(b) => Pin::new(b).poll_frame(cx),
            EitherBody::Right(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            EitherBody::Left(b) => b.is_end_stream(),
            EitherBody::Right(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            EitherBody::Left(b) => b.size_hint(),
            EitherBody::Right(b) => b.size_hint(),
        }
    }
}

impl<L: StreamFacts, R: StreamFacts> StreamFacts for EitherBody<L, R> {
    fn stream_id(&self) -> Option<u64> {
        match self {
            EitherBody::Left(b) => b.stream_id(),
            EitherBody::Right(b) => b.stream_id(),
        }
    }

    fn early_data(&self) -> bool {
        match self {
            EitherBody::Left(b) => b.early_data(),
            EitherBody::Right(b) => b.early_data(),
        }
    }
}
