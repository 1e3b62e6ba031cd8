//! What an HTTP/1.1 response says about the connection's future: `Connection: close`, and
//! `Keep-Alive: timeout=N, max=M` (RFC 2068 §19.7.1, still sent by Apache, nginx and
//! others).

use std::time::Duration;

use http::header::{HeaderMap, CONNECTION};
use http::Version;

/// The parameters of a `Keep-Alive` response header. Unknown parameters and malformed
/// values are ignored, as the header is advisory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeepAliveHeader {
    /// `timeout=N`: how long the server keeps an idle connection open.
    pub timeout: Option<Duration>,
    /// `max=M`: how many more requests the server will take on this connection.
    pub max: Option<u32>,
}

impl KeepAliveHeader {
    /// Parses one header value such as `timeout=5, max=100`.
    pub fn parse(value: &[u8]) -> KeepAliveHeader {
        let mut out = KeepAliveHeader::default();
        for param in value.split(|&b| b == b',') {
            let mut kv = param.splitn(2, |&b| b == b'=');
            let name = trim(kv.next().unwrap_or_default());
            let Some(raw) = kv.next() else { continue };
            let raw = trim(raw);
            let raw = raw
                .strip_prefix(b"\"")
                .and_then(|r| r.strip_suffix(b"\""))
                .unwrap_or(raw);
            let Some(n) = parse_u32(raw) else { continue };
            if name.eq_ignore_ascii_case(b"timeout") {
                out.timeout = Some(Duration::from_secs(u64::from(n)));
            } else if name.eq_ignore_ascii_case(b"max") {
                out.max = Some(n);
            }
        }
        out
    }

    /// The `Keep-Alive` header of a response, merged over all its lines.
    pub fn from_headers(headers: &HeaderMap) -> KeepAliveHeader {
        let mut out = KeepAliveHeader::default();
        for value in headers.get_all("keep-alive") {
            let one = KeepAliveHeader::parse(value.as_bytes());
            out.timeout = one.timeout.or(out.timeout);
            out.max = one.max.or(out.max);
        }
        out
    }
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |p| p + 1);
    &b[start..end.max(start)]
}

fn parse_u32(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 10 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// True when the message's `Connection` header carries the `close` token.
pub fn has_connection_close(headers: &HeaderMap) -> bool {
    has_connection_token(headers, "close")
}

fn has_connection_token(headers: &HeaderMap, token: &str) -> bool {
    headers.get_all(CONNECTION).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|t| trim(t).eq_ignore_ascii_case(token.as_bytes()))
    })
}

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
    let ka = KeepAliveHeader::from_headers(headers);
    let http10_close = version == Version::HTTP_10 && !has_connection_token(headers, "keep-alive");
    Reuse {
        closing: has_connection_close(headers) || http10_close || ka.max == Some(0),
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
    use http::HeaderValue;

    #[test]
    fn parses_the_common_forms() {
        let k = KeepAliveHeader::parse(b"timeout=5, max=100");
        assert_eq!(k.timeout, Some(Duration::from_secs(5)));
        assert_eq!(k.max, Some(100));
        let k = KeepAliveHeader::parse(b" MAX = 3 ,TIMEOUT=\"7\", foo, bar=baz");
        assert_eq!(k.max, Some(3));
        assert_eq!(k.timeout, Some(Duration::from_secs(7)));
    }

    #[test]
    fn ignores_garbage() {
        assert_eq!(KeepAliveHeader::parse(b""), KeepAliveHeader::default());
        assert_eq!(
            KeepAliveHeader::parse(b"timeout=-1, max=99999999999, =, ,,timeout"),
            KeepAliveHeader::default()
        );
    }

    #[test]
    fn connection_tokens() {
        let mut h = HeaderMap::new();
        h.append(CONNECTION, HeaderValue::from_static("Upgrade, Close"));
        assert!(has_connection_close(&h));
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
