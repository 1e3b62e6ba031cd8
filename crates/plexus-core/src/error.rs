//! The one error type of plexus.
//!
//! An [`Error`] carries a [`ErrorKind`] (what went wrong), a [`Delivery`] (how far the
//! request got, which decides whether re-sending it is safe), the origin and protocol it
//! concerns, the number of attempts made, and its source.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use crate::connection::Protocol;
use crate::origin::Origin;

/// A boxed error as produced by user-supplied bodies and lower layers.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The URL could not be parsed, or has no host.
    InvalidUrl,
    /// The URL's scheme is neither `http` nor `https`.
    UnsupportedScheme,
    /// The request could not be built (bad header name or value, bad method, ...).
    InvalidRequest,
    /// The host name could not be resolved.
    Dns,
    /// No TCP connection could be made to any address of the host.
    Connect,
    /// Connection set-up (DNS, TCP and TLS) did not finish within the connect timeout.
    ConnectTimeout,
    /// The TLS handshake failed, including certificate and host name verification.
    Tls,
    /// The request did not finish within its deadline.
    Timeout,
    /// The request waited for a connection or stream longer than the queue timeout.
    QueueTimeout,
    /// The per-origin queue was full.
    QueueFull,
    /// The peer refused the request without processing it: h2 `REFUSED_STREAM`, a stream
    /// above a GOAWAY's last stream id, a stream that could not be opened on a draining
    /// connection. Always safe to re-send.
    Refused,
    /// The peer reset the stream with an error code other than `REFUSED_STREAM`.
    StreamReset,
    /// The connection was closed or lost while the request was in flight.
    ConnectionClosed,
    /// The peer violated the HTTP protocol (malformed response, bad frames, ...).
    Protocol,
    /// The request body's source failed while it was being sent.
    RequestBody,
    /// The response went over a size limit: its head (header bytes or count) or, when
    /// a body limit is set, its body.
    TooLarge,
    /// The response body stalled: no bytes arrived for the read timeout.
    BodyStalled,
    /// The server answered with a status the status retry policy re-sends (429, 502,
    /// 503, 504); recorded as the reason of such a retry, never returned as an error.
    RetryableStatus,
    /// A redirect was not followed: one too many, a loop, or refused by the redirect
    /// policy.
    Redirect,
    /// The response body could not be decoded as asked (JSON that does not parse or
    /// does not fit the type).
    Decode,
    /// The proxy did not open a tunnel to the origin: it answered the `CONNECT` with a
    /// status other than 2xx (407: proxy authentication required), or with something
    /// that is not HTTP. Nothing reached the origin.
    Proxy,
}

impl ErrorKind {
    fn describe(self) -> &'static str {
        match self {
            ErrorKind::InvalidUrl => "invalid URL",
            ErrorKind::UnsupportedScheme => "unsupported URL scheme",
            ErrorKind::InvalidRequest => "invalid request",
            ErrorKind::Dns => "could not resolve host",
            ErrorKind::Connect => "could not connect",
            ErrorKind::ConnectTimeout => "connect timed out",
            ErrorKind::Tls => "TLS handshake failed",
            ErrorKind::Timeout => "request timed out",
            ErrorKind::QueueTimeout => "timed out waiting for a connection",
            ErrorKind::QueueFull => "request queue is full",
            ErrorKind::Refused => "request refused by the server, not processed",
            ErrorKind::StreamReset => "stream reset by the server",
            ErrorKind::ConnectionClosed => "connection closed",
            ErrorKind::Protocol => "HTTP protocol error",
            ErrorKind::RequestBody => "request body failed",
            ErrorKind::TooLarge => "response too large",
            ErrorKind::BodyStalled => "response body stalled",
            ErrorKind::RetryableStatus => "retryable response status",
            ErrorKind::Redirect => "redirect not followed",
            ErrorKind::Decode => "response body could not be decoded",
            ErrorKind::Proxy => "proxy tunnel failed",
        }
    }
}

/// How far a failed request got. This is what the retry policy reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Delivery {
    /// Nothing of the request was written to any connection: safe to send anywhere.
    NotSent,
    /// The peer said it did not process the request (refused stream, above a GOAWAY's last
    /// stream id): safe to send again, whatever the method.
    Unprocessed,
    /// The request may have been processed: re-sending it is safe only if it is replay-safe.
    MaybeProcessed,
}

/// The plexus error: opaque, cheap to clone, with predicates and context.
#[derive(Clone)]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    delivery: Delivery,
    message: Option<Cow<'static, str>>,
    origin: Option<Origin>,
    protocol: Option<Protocol>,
    attempts: u32,
    source: Option<Arc<dyn StdError + Send + Sync + 'static>>,
}

impl Error {
    /// A new error of `kind`. Its delivery defaults to [`Delivery::NotSent`] for kinds that
    /// arise before a request reaches a connection, and [`Delivery::MaybeProcessed`] for the
    /// others.
    pub fn new(kind: ErrorKind) -> Error {
        let delivery = match kind {
            ErrorKind::InvalidUrl
            | ErrorKind::UnsupportedScheme
            | ErrorKind::InvalidRequest
            | ErrorKind::Dns
            | ErrorKind::Connect
            | ErrorKind::ConnectTimeout
            | ErrorKind::Tls
            | ErrorKind::QueueTimeout
            | ErrorKind::QueueFull
            | ErrorKind::Proxy => Delivery::NotSent,
            ErrorKind::Refused => Delivery::Unprocessed,
            ErrorKind::Timeout
            | ErrorKind::StreamReset
            | ErrorKind::ConnectionClosed
            | ErrorKind::Protocol
            | ErrorKind::RequestBody
            | ErrorKind::TooLarge
            | ErrorKind::BodyStalled
            | ErrorKind::RetryableStatus
            // The hops before it were processed.
            | ErrorKind::Redirect
            | ErrorKind::Decode => Delivery::MaybeProcessed,
        };
        Error {
            inner: Box::new(Inner {
                kind,
                delivery,
                message: None,
                origin: None,
                protocol: None,
                attempts: 0,
                source: None,
            }),
        }
    }

    /// Attaches a human-readable detail.
    pub fn with_message(mut self, message: impl Into<Cow<'static, str>>) -> Error {
        self.inner.message = Some(message.into());
        self
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Error {
        self.inner.source = Some(Arc::from(source.into()));
        self
    }

    /// Overrides how far the request got.
    pub fn with_delivery(mut self, delivery: Delivery) -> Error {
        self.inner.delivery = delivery;
        self
    }

    /// Attaches the origin the error concerns (kept if one is already set).
    pub fn with_origin(mut self, origin: &Origin) -> Error {
        if self.inner.origin.is_none() {
            self.inner.origin = Some(origin.clone());
        }
        self
    }

    /// Attaches the protocol the error concerns (kept if one is already set).
    pub fn with_protocol(mut self, protocol: Protocol) -> Error {
        if self.inner.protocol.is_none() {
            self.inner.protocol = Some(protocol);
        }
        self
    }

    /// Records how many attempts were made before this error was returned.
    pub fn with_attempts(mut self, attempts: u32) -> Error {
        self.inner.attempts = attempts;
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// How far the request got.
    pub fn delivery(&self) -> Delivery {
        self.inner.delivery
    }

    /// The origin the error concerns, when known.
    pub fn origin(&self) -> Option<&Origin> {
        self.inner.origin.as_ref()
    }

    /// The protocol in use when the error happened, when known.
    pub fn protocol(&self) -> Option<Protocol> {
        self.inner.protocol
    }

    /// How many attempts were made (0 when the request never reached the scheduler).
    pub fn attempts(&self) -> u32 {
        self.inner.attempts
    }

    /// The detail message, if any.
    pub fn message(&self) -> Option<&str> {
        self.inner.message.as_deref()
    }

    /// True for every kind of time-out: connect, request deadline, queue wait, stalled
    /// body.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Timeout
                | ErrorKind::ConnectTimeout
                | ErrorKind::QueueTimeout
                | ErrorKind::BodyStalled
        )
    }

    /// True when no connection could be set up: DNS, TCP connect, connect time-out.
    pub fn is_connect(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Dns | ErrorKind::Connect | ErrorKind::ConnectTimeout
        )
    }

    /// True for TLS handshake and certificate failures.
    pub fn is_tls(&self) -> bool {
        self.kind() == ErrorKind::Tls
    }

    /// True when the URL or request was invalid: fix the input, retrying cannot help.
    pub fn is_builder(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::InvalidUrl | ErrorKind::UnsupportedScheme | ErrorKind::InvalidRequest
        )
    }

    /// True when the server provably did not process the request and sending it again is
    /// safe whatever its method: it was never sent, or the peer refused it.
    pub fn is_retryable(&self) -> bool {
        !self.is_builder() && self.delivery() != Delivery::MaybeProcessed
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("plexus::Error");
        d.field("kind", &self.inner.kind);
        d.field("delivery", &self.inner.delivery);
        if let Some(m) = &self.inner.message {
            d.field("message", m);
        }
        if let Some(o) = &self.inner.origin {
            d.field("origin", &format_args!("{o}"));
        }
        if let Some(p) = &self.inner.protocol {
            d.field("protocol", p);
        }
        if self.inner.attempts > 0 {
            d.field("attempts", &self.inner.attempts);
        }
        if let Some(s) = &self.inner.source {
            d.field("source", s);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.inner.kind.describe())?;
        if let Some(m) = &self.inner.message {
            write!(f, ": {m}")?;
        }
        match (&self.inner.origin, self.inner.protocol) {
            (Some(o), Some(p)) => write!(f, " ({o}, {p})")?,
            (Some(o), None) => write!(f, " ({o})")?,
            (None, Some(p)) => write!(f, " ({p})")?,
            (None, None) => {}
        }
        if self.inner.attempts > 1 {
            write!(f, " after {} attempts", self.inner.attempts)?;
        }
        Ok(())
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

impl From<http::Error> for Error {
    fn from(e: http::Error) -> Error {
        Error::new(ErrorKind::InvalidRequest).with_source(e)
    }
}

impl From<http::uri::InvalidUri> for Error {
    fn from(e: http::uri::InvalidUri) -> Error {
        Error::new(ErrorKind::InvalidUrl).with_source(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::origin::Scheme;

    #[test]
    fn display_has_context_but_not_source() -> Result<(), Error> {
        let origin = Origin::new(Scheme::Https, "localhost", 8443)?;
        let e = Error::new(ErrorKind::Tls)
            .with_message("certificate not valid for name")
            .with_origin(&origin)
            .with_protocol(Protocol::Http2)
            .with_source(std::io::Error::other("inner"));
        let shown = e.to_string();
        assert_eq!(
            shown,
            "TLS handshake failed: certificate not valid for name (https://localhost:8443, HTTP/2)"
        );
        assert!(e.source().is_some());
        assert!(e.is_tls() && !e.is_timeout() && e.is_retryable());
        Ok(())
    }

    #[test]
    fn delivery_defaults_follow_kind() {
        assert_eq!(
            Error::new(ErrorKind::Refused).delivery(),
            Delivery::Unprocessed
        );
        assert!(Error::new(ErrorKind::Refused).is_retryable());
        assert!(!Error::new(ErrorKind::ConnectionClosed).is_retryable());
        assert!(Error::new(ErrorKind::ConnectionClosed)
            .with_delivery(Delivery::NotSent)
            .is_retryable());
        assert!(!Error::new(ErrorKind::InvalidUrl).is_retryable());
    }
}
