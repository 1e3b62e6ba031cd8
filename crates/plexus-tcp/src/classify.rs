//! Maps h2, hyper, rustls and socket errors onto the plexus error vocabulary, deciding for
//! each whether the request was not sent, refused unprocessed, or possibly processed.

use std::error::Error as StdError;
use std::io;

use plexus_core::{Delivery, Error, ErrorKind};

use plexus_core::ConnectionShared as Shared;

/// An h2 error seen by a request. Streams above a received GOAWAY's last stream id fail
/// with a *remote* GOAWAY error (h2 raises it only for those, and for streams opened after
/// it), and `REFUSED_STREAM` resets: both mean the server did not process the request.
pub(crate) fn h2(e: h2::Error, shared: &Shared) -> Error {
    let reason = e.reason();
    let error = if e.is_go_away() && e.is_remote() {
        Error::new(ErrorKind::Refused).with_message(format!(
            "above the last stream id of the server's GOAWAY({})",
            reason_name(reason)
        ))
    } else if e.is_reset() && e.is_remote() && reason == Some(h2::Reason::REFUSED_STREAM) {
        Error::new(ErrorKind::Refused).with_message("REFUSED_STREAM")
    } else if e.is_reset() && !e.is_remote() && reason == Some(h2::Reason::PROTOCOL_ERROR) {
        // h2 resets a stream itself with PROTOCOL_ERROR both for a malformed response
        // head and for one over SETTINGS_MAX_HEADER_LIST_SIZE, and does not say which.
        Error::new(ErrorKind::Protocol)
            .with_message("the response head was malformed or over the header list size limit")
    } else if e.is_reset() && e.is_remote() {
        Error::new(ErrorKind::StreamReset)
            .with_message(format!("RST_STREAM({})", reason_name(reason)))
    } else if e.is_io() {
        match shared.close_cause() {
            Some(cause) => return cause.with_delivery(Delivery::MaybeProcessed),
            None => Error::new(ErrorKind::ConnectionClosed),
        }
    } else {
        Error::new(ErrorKind::Protocol)
    };
    error
        .with_source(e)
        .with_origin(&shared.info().origin)
        .with_protocol(shared.info().protocol)
}

/// The cause to record when an h2 connection ends.
pub(crate) fn h2_connection_end(result: Result<(), h2::Error>) -> Error {
    match result {
        Ok(()) => Error::new(ErrorKind::ConnectionClosed).with_message("connection closed"),
        Err(e) if e.is_go_away() && e.is_remote() => Error::new(ErrorKind::ConnectionClosed)
            .with_message(format!("server sent GOAWAY({})", reason_name(e.reason())))
            .with_source(e),
        Err(e) if e.is_io() => Error::new(ErrorKind::ConnectionClosed)
            .with_message(io_summary(&e))
            .with_source(e),
        Err(e) => Error::new(ErrorKind::Protocol).with_source(e),
    }
}

fn reason_name(reason: Option<h2::Reason>) -> String {
    reason.map_or_else(|| "?".to_string(), |r| format!("{r:?}"))
}

/// The I/O error at the root of `e`, if any.
fn io_cause<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a io::Error> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            return Some(io);
        }
        cur = err.source();
    }
    None
}

fn io_summary(e: &(dyn StdError + 'static)) -> String {
    match io_cause(e) {
        Some(io) => match io.kind() {
            io::ErrorKind::UnexpectedEof | io::ErrorKind::BrokenPipe => {
                "the server closed the connection".to_string()
            }
            io::ErrorKind::ConnectionReset => "the server reset the connection".to_string(),
            _ => io.to_string(),
        },
        None => e.to_string(),
    }
}

/// A hyper HTTP/1.1 error seen by a request whose message hyper did not hand back.
pub(crate) fn hyper(e: hyper::Error, shared: &Shared) -> Error {
    hyper_kind(&e)
        .with_source(e)
        .with_origin(&shared.info().origin)
        .with_protocol(shared.info().protocol)
}

/// The kind and words of a hyper HTTP/1.1 error, without its source and origin.
fn hyper_kind(e: &hyper::Error) -> Error {
    // hyper 1 has no public predicate for an over-long head; its parse error says so.
    if e.is_parse() && e.to_string().contains("too large") {
        Error::new(ErrorKind::TooLarge)
            .with_message("the response head is over the header size or count limit")
    } else if e.is_parse() || e.is_parse_status() {
        Error::new(ErrorKind::Protocol).with_message("malformed HTTP/1.1 response")
    } else if e.is_timeout() {
        Error::new(ErrorKind::Timeout)
    } else if e.is_incomplete_message() {
        Error::new(ErrorKind::ConnectionClosed)
            .with_message("the server closed the connection before the response was complete")
    } else if e.is_body_write_aborted() && from_request_body(e) {
        Error::new(ErrorKind::RequestBody)
    } else if e.is_user() && e.to_string().starts_with("dispatch task is gone") {
        // hyper's connection task ended holding the request (it may have been written),
        // not a fault of the request's.
        Error::new(ErrorKind::ConnectionClosed)
            .with_message("the connection's task ended before the response")
    } else if e.is_user() {
        Error::new(ErrorKind::InvalidRequest)
    } else if let Some(io) = io_cause(e).filter(|io| {
        matches!(
            io.kind(),
            io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput
        )
    }) {
        // hyper reports a body it cannot decode (a bad chunk size or chunk end) this way.
        Error::new(ErrorKind::Protocol)
            .with_message(format!("malformed HTTP/1.1 response body: {io}"))
    } else {
        Error::new(ErrorKind::ConnectionClosed).with_message(io_summary(e))
    }
}

fn from_request_body(e: &hyper::Error) -> bool {
    let mut cur = e.source();
    while let Some(err) = cur {
        if let Some(p) = err.downcast_ref::<Error>() {
            return p.kind() == ErrorKind::RequestBody;
        }
        cur = err.source();
    }
    false
}

/// A TLS handshake failure, with rustls's own words for certificate problems.
pub(crate) fn tls_handshake(e: io::Error) -> Error {
    let detail = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .map(describe_rustls);
    match detail {
        Some(detail) => Error::new(ErrorKind::Tls)
            .with_message(detail)
            .with_source(e),
        None if e.kind() == io::ErrorKind::UnexpectedEof => Error::new(ErrorKind::Tls)
            .with_message("the server closed the connection during the TLS handshake")
            .with_source(e),
        None => Error::new(ErrorKind::Tls)
            .with_message(e.to_string())
            .with_source(e),
    }
}

fn describe_rustls(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(C::NotValidForName)
        | rustls::Error::InvalidCertificate(C::NotValidForNameContext { .. }) => {
            "the server's certificate is not valid for this host name".to_string()
        }
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => {
            "the server's certificate is not signed by a trusted CA (self-signed or unknown \
             issuer; add its CA with --cacert / add_root_certificate)"
                .to_string()
        }
        rustls::Error::InvalidCertificate(C::Expired)
        | rustls::Error::InvalidCertificate(C::ExpiredContext { .. }) => {
            "the server's certificate has expired".to_string()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::Empty;
    use hyper_util::rt::TokioIo;
    use tokio::io::AsyncReadExt;

    /// A request that hyper's connection task took and wrote, and that then lost the task
    /// (a runtime shutting down drops it so): the connection ended under it, which may
    /// have processed it; the request itself was fine.
    #[tokio::test]
    async fn a_request_whose_connection_task_is_dropped_meets_a_closed_connection() {
        let (client, mut server) = tokio::io::duplex(4096);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(client))
            .await
            .expect("handshake");
        let task = tokio::spawn(conn);
        let request = http::Request::get("/")
            .body(Empty::<Bytes>::new())
            .expect("request");
        let response = tokio::spawn(sender.send_request(request));
        let mut head = [0u8; 16];
        let n = server
            .read(&mut head)
            .await
            .expect("the request is written");
        assert!(head[..n].starts_with(b"GET / HTTP/1.1"), "{head:?}");
        task.abort();
        let error = response
            .await
            .expect("no panic")
            .expect_err("no response can come");
        let classified = hyper_kind(&error);
        assert_eq!(classified.kind(), ErrorKind::ConnectionClosed, "{error}");
        assert_eq!(classified.delivery(), Delivery::MaybeProcessed);
    }
}
