//! The HTTP/1.1 headers that speak of a connection's future: `Connection` tokens
//! (`close`, `keep-alive`), and `Keep-Alive: timeout=N, max=M` (RFC 2068 §19.7.1, still
//! sent by Apache, nginx and others). Parsed leniently: the headers are advisory, so
//! anything malformed is ignored rather than an error.

use std::time::Duration;

use http::header::{HeaderMap, HeaderName, CONNECTION};

/// `Keep-Alive`, as a name: a lookup by string would parse the string on every response.
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");

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
}

/// What a message's `Connection` and `Keep-Alive` fields say, read in one pass over its
/// fields: a lookup by name hashes the name, and a message has only a handful of fields,
/// so one walk over them costs less than the three lookups it replaces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionHeaders {
    /// `Connection` carries `close`.
    pub close: bool,
    /// `Connection` carries `keep-alive` (what lets an HTTP/1.0 connection be reused).
    pub keep_alive: bool,
    /// The `Keep-Alive` field, merged over all its lines (a later parameter wins).
    pub params: KeepAliveHeader,
}

impl ConnectionHeaders {
    /// Reads `headers` (tokens and parameter names are ASCII case-insensitive).
    pub fn read(headers: &HeaderMap) -> ConnectionHeaders {
        let mut out = ConnectionHeaders::default();
        for (name, value) in headers {
            if *name == CONNECTION {
                for token in value.as_bytes().split(|&b| b == b',') {
                    let token = trim(token);
                    out.close |= token.eq_ignore_ascii_case(b"close");
                    out.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            } else if *name == KEEP_ALIVE {
                let one = KeepAliveHeader::parse(value.as_bytes());
                out.params.timeout = one.timeout.or(out.params.timeout);
                out.params.max = one.max.or(out.params.max);
            }
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
    ConnectionHeaders::read(headers).close
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
        assert!(!ConnectionHeaders::read(&h).keep_alive);
        h.append(CONNECTION, HeaderValue::from_static(" Keep-Alive "));
        let read = ConnectionHeaders::read(&h);
        assert!(read.close && read.keep_alive);
        assert!(!has_connection_close(&HeaderMap::new()));
    }

    #[test]
    fn keep_alive_lines_merge_and_the_later_parameter_wins() {
        let mut h = HeaderMap::new();
        h.append(KEEP_ALIVE, HeaderValue::from_static("timeout=5, max=100"));
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive"));
        h.append(KEEP_ALIVE, HeaderValue::from_static("max=7"));
        let read = ConnectionHeaders::read(&h);
        assert_eq!(read.params.timeout, Some(Duration::from_secs(5)));
        assert_eq!(read.params.max, Some(7));
        assert!(read.keep_alive && !read.close);
    }
}
