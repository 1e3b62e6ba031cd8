//! Response bodies in `Content-Encoding` gzip, br, zstd or deflate, decoded as they stream,
//! with a guard against decompression bombs.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use http::header::{HeaderMap, HeaderValue, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH};
use http_body::{Body as _, Frame};
use plexus_core::{Error, ErrorKind};
use plexus_sched::LeasedBody;
use tokio::io::{AsyncRead, BufReader};
use tokio_util::io::StreamReader;

use crate::transport::AnyConnection;

/// Which encodings the client asks for and decodes, and the bomb guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decoders {
    pub(crate) gzip: bool,
    pub(crate) brotli: bool,
    pub(crate) zstd: bool,
    pub(crate) deflate: bool,
    /// Most decoded bytes per encoded byte, once past [`BOMB_FLOOR`] decoded bytes.
    pub(crate) max_ratio: Option<u32>,
}

/// Decoded bytes that never count against the ratio: small, highly compressible bodies
/// (a page of JSON zeros) are fine.
pub(crate) const BOMB_FLOOR: u64 = 1024 * 1024;

impl Default for Decoders {
    /// Every encoding whose cargo feature is on (as reqwest), at most 250 decoded bytes per
    /// encoded byte past the first MiB.
    fn default() -> Decoders {
        Decoders {
            gzip: cfg!(feature = "gzip"),
            brotli: cfg!(feature = "brotli"),
            zstd: cfg!(feature = "zstd"),
            deflate: cfg!(feature = "deflate"),
            max_ratio: Some(250),
        }
    }
}

/// A `Content-Encoding` the client can decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Gzip,
    Brotli,
    Zstd,
    Deflate,
}

impl Decoders {
    /// None at all.
    pub(crate) fn none() -> Decoders {
        Decoders {
            gzip: false,
            brotli: false,
            zstd: false,
            deflate: false,
            max_ratio: Some(250),
        }
    }

    /// The `Accept-Encoding` value naming the enabled decoders; `None` when none is.
    pub(crate) fn accept_encoding(&self) -> Option<HeaderValue> {
        let names = self.accepted();
        if names.is_empty() {
            return None;
        }
        HeaderValue::from_str(&names.join(", ")).ok()
    }

    /// At least one decoder is on: something was offered.
    fn any(&self) -> bool {
        self.gzip || self.brotli || self.zstd || self.deflate
    }

    fn accepted(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.gzip {
            names.push("gzip");
        }
        if self.brotli {
            names.push("br");
        }
        if self.zstd {
            names.push("zstd");
        }
        if self.deflate {
            names.push("deflate");
        }
        names
    }

    /// Adds `accept` (this set's [`accept_encoding`](Decoders::accept_encoding), made
    /// once per client) unless the caller set an `Accept-Encoding`, in the request or in
    /// the client's `defaults` (then the caller decodes), or asks for a range (offsets
    /// would be into the encoded body). Returns the decoders that apply to the response:
    /// none unless it was offered here.
    pub(crate) fn offer(
        &self,
        accept: Option<&HeaderValue>,
        headers: &mut HeaderMap,
        defaults: &HeaderMap,
    ) -> Decoders {
        let Some(accept) = accept else {
            return *self;
        };
        let set = |name| headers.contains_key(&name) || defaults.contains_key(&name);
        if set(ACCEPT_ENCODING) || set(http::header::RANGE) {
            return Decoders {
                max_ratio: self.max_ratio,
                ..Decoders::none()
            };
        }
        headers.insert(ACCEPT_ENCODING, accept.clone());
        *self
    }

    /// The encoding to undo for a response with `headers`, if it is one of ours (a single
    /// encoding; a chain such as `gzip, br` is left to the caller).
    pub(crate) fn encoding_of(&self, headers: &HeaderMap) -> Option<Encoding> {
        if !self.any() {
            // Nothing was offered (no decoder, or the caller set `Accept-Encoding`).
            return None;
        }
        let mut values = headers.get_all(CONTENT_ENCODING).iter();
        let value = values.next()?;
        if values.next().is_some() {
            return None;
        }
        let name = value.to_str().ok()?.trim();
        let enc = if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
            Encoding::Gzip
        } else if name.eq_ignore_ascii_case("br") {
            Encoding::Brotli
        } else if name.eq_ignore_ascii_case("zstd") {
            Encoding::Zstd
        } else if name.eq_ignore_ascii_case("deflate") {
            Encoding::Deflate
        } else {
            return None;
        };
        let on = match enc {
            Encoding::Gzip => self.gzip,
            Encoding::Brotli => self.brotli,
            Encoding::Zstd => self.zstd,
            Encoding::Deflate => self.deflate,
        };
        on.then_some(enc)
    }
}

/// The wire body as a stream of bytes for the decoder, counting what it reads.
struct Wire {
    inner: LeasedBody<AnyConnection>,
    read: Arc<AtomicU64>,
}

impl Stream for Wire {
    type Item = io::Result<Bytes>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<Bytes>>> {
        loop {
            return match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        self.read.fetch_add(data.len() as u64, Ordering::Relaxed);
                        Poll::Ready(Some(Ok(data)))
                    }
                    // Trailers: nothing to decode.
                    Err(_) => continue,
                },
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(io::Error::other(e)))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            };
        }
    }
}

/// A response body being decoded.
pub(crate) struct Decoding {
    reader: Pin<Box<dyn AsyncRead + Send>>,
    encoding: Encoding,
    /// Encoded bytes read from the wire so far.
    wire: Arc<AtomicU64>,
    decoded: u64,
    max_ratio: Option<u32>,
    buf: BytesMut,
    done: bool,
}

impl fmt::Debug for Decoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoding")
            .field("encoding", &self.encoding)
            .field("decoded", &self.decoded)
            .finish_non_exhaustive()
    }
}

const READ_SIZE: usize = 32 * 1024;

impl Decoding {
    /// Decodes `body`, and takes the headers that describe the encoded body off `headers`
    /// (as reqwest and browsers do: what the caller reads is the decoded body).
    pub(crate) fn new(
        body: LeasedBody<AnyConnection>,
        encoding: Encoding,
        max_ratio: Option<u32>,
        headers: &mut HeaderMap,
    ) -> Decoding {
        headers.remove(CONTENT_ENCODING);
        headers.remove(CONTENT_LENGTH);
        let wire = Arc::new(AtomicU64::new(0));
        let input = BufReader::new(StreamReader::new(Wire {
            inner: body,
            read: Arc::clone(&wire),
        }));
        let reader: Pin<Box<dyn AsyncRead + Send>> = match encoding {
            #[cfg(feature = "gzip")]
            Encoding::Gzip => Box::pin(async_compression::tokio::bufread::GzipDecoder::new(input)),
            #[cfg(feature = "brotli")]
            Encoding::Brotli => {
                Box::pin(async_compression::tokio::bufread::BrotliDecoder::new(input))
            }
            #[cfg(feature = "zstd")]
            Encoding::Zstd => Box::pin(async_compression::tokio::bufread::ZstdDecoder::new(input)),
            #[cfg(feature = "deflate")]
            Encoding::Deflate => {
                Box::pin(async_compression::tokio::bufread::ZlibDecoder::new(input))
            }
            #[allow(unreachable_patterns)]
            _ => Box::pin(input),
        };
        Decoding {
            reader,
            encoding,
            wire,
            decoded: 0,
            max_ratio,
            buf: BytesMut::new(),
            done: false,
        }
    }

    pub(crate) fn is_end_stream(&self) -> bool {
        self.done
    }

    pub(crate) fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.buf.capacity() < READ_SIZE {
            self.buf.reserve(READ_SIZE);
        }
        match tokio_util::io::poll_read_buf(self.reader.as_mut(), cx, &mut self.buf) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(0)) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Ok(n)) => {
                self.decoded += n as u64;
                if let Some(e) = self.bomb() {
                    self.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(Some(Ok(Frame::data(self.buf.split().freeze()))))
            }
            Poll::Ready(Err(e)) => {
                self.done = true;
                Poll::Ready(Some(Err(self.error(e))))
            }
        }
    }

    /// The error when the decoded body has outgrown the ratio to what was read.
    fn bomb(&self) -> Option<Error> {
        let ratio = u64::from(self.max_ratio?);
        let wire = self.wire.load(Ordering::Relaxed).max(1);
        (self.decoded > BOMB_FLOOR && self.decoded > wire.saturating_mul(ratio)).then(|| {
            Error::new(ErrorKind::TooLarge).with_message(format!(
                "the {:?} body decodes to over {ratio} times its size ({} bytes from {wire}): \
                 refused as a decompression bomb",
                self.encoding, self.decoded
            ))
        })
    }

    /// A read error: the transport's own error if that was it, else a decoding error.
    fn error(&self, e: io::Error) -> Error {
        match e.into_inner().map(|inner| inner.downcast::<Error>()) {
            Some(Ok(transport)) => *transport,
            Some(Err(other)) => Error::new(ErrorKind::Decode).with_message(format!(
                "the {:?} body does not decode: {other}",
                self.encoding
            )),
            None => Error::new(ErrorKind::Decode)
                .with_message(format!("the {:?} body does not decode", self.encoding)),
        }
    }
}
