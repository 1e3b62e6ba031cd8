//! What an HTTP/1.1 response means for its connection's reuse: closing after it, requests
//! left, and how long the client may let it idle (the headers themselves are parsed in
//! `plexus_core::keep_alive`).

use std::time::Duration;

use http::header::HeaderMap;
use http::Version;
use plexus_core::keep_alive::ConnectionHeaders;

/// Whether a connection may carry another request after this response, and for how long
/// it may sit idle first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reuse {
    /// No further request may be sent.
    pub(crate) closing: bool,
    /// More requests the server will take (`None`: no limit announced).
    pub(crate) remaining: Option<u32>,
    /// The client-side idle limit derived from the server's timeout.
    pub(crate) idle_limit: Option<Duration>,
}

/// Reads the reuse rules off a response: `Connection: close`, HTTP/1.0 without
/// `Connection: keep-alive`, `Keep-Alive: max=0` all end the connection after it.
pub(crate) fn reuse_after(version: Version, headers: &HeaderMap) -> Reuse {
    let read = ConnectionHeaders::read(headers);
    let ka = read.params;
    let http10_close = version == Version::HTTP_10 && !read.keep_alive;
    Reuse {
        closing: read.close || http10_close || ka.max == Some(0),
        remaining: ka.max,
        idle_limit: ka.timeout.map(client_idle_limit),
    }
}

/// How long the client lets a connection idle when the server announced `timeout`: a
/// quarter less, at least 250 ms and at most 2 s less, so that the client closes a quiet
/// connection before the server does and never sends a request into a closing socket.
pub(crate) fn client_idle_limit(server_timeout: Duration) -> Duration {
    let margin = (server_timeout / 4).clamp(Duration::from_millis(250), Duration::from_secs(2));
    server_timeout.saturating_sub(margin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::CONNECTION;
    use http::HeaderValue;

    #[test]
    fn connection_tokens() {
        let mut h = HeaderMap::new();
        h.append(CONNECTION, HeaderValue::from_static("Upgrade, Close"));
        assert!(reuse_after(Version::HTTP_11, &h).closing);
        let empty = HeaderMap::new();
        assert!(!reuse_after(Version::HTTP_11, &empty).closing);
        assert!(reuse_after(Version::HTTP_10, &empty).closing);
    }

    #[test]
    fn idle_limit_closes_before_the_server() {
        assert_eq!(
            client_idle_limit(Duration::from_secs(1)),
            Duration::from_millis(750)
        );
        assert_eq!(
            client_idle_limit(Duration::from_secs(60)),
            Duration::from_secs(58)
        );
        assert_eq!(client_idle_limit(Duration::ZERO), Duration::ZERO);
    }
}
