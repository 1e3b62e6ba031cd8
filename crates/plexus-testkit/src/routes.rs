//! The paths every test server answers, shared by its HTTP/1.1 and h2 sides.
//!
//! | path | response |
//! |---|---|
//! | `/` | `Hello, World!` (13 bytes) |
//! | `/bytes/N` | N bytes of [`pattern_byte`], streamed in 64 KiB chunks |
//! | `/delay/MS` | `Hello, World!` after MS milliseconds |
//! | `/echo` | the request body, streamed back |
//! | `/upload` | reads the whole body, answers `received N bytes` |
//! | `/status/N` | status N, empty body |
//! | `/close` | HTTP/3: closes the QUIC connection with reason `test server closing`; others: 404 |
//! | `/abort/N` | `Content-Length` of N + 1, N bytes of the pattern, then the connection is killed (HTTP/3: the stream is reset) |
//! | `/headers/N/SIZE` | `Hello, World!` with N extra headers `x-h-I` of SIZE bytes each |
//! | `/flaky/K` | `503` for the first K requests with the same `x-request-id`, then `Hello, World!` (HTTP/1.1, h2) |
//! | `/busy/S` | `429` with `Retry-After: S` (HTTP/1.1, h2) |
//! | `/stall/MS` | `Hello`, nothing for MS milliseconds, then `, World!` |
//! | `/redirect/CODE?to=TARGET` | status CODE, `Location: TARGET` (the rest of the query, verbatim; without `to=`, the request's own path: a loop), a short body (HTTP/1.1, h2) |
//! | `/encoded/ENC/N` | N bytes of the pattern, compressed with ENC (`gzip`, `br`, `zstd`, `deflate`), `Content-Encoding: ENC` (HTTP/1.1, h2) |
//! | `/bomb/ENC/N` | N zero bytes, compressed with ENC: a body that decodes to far more than is sent (HTTP/1.1, h2) |
//! | `/corrupt/ENC/N` | `Content-Encoding: ENC` on N bytes of the pattern, not encoded at all (HTTP/1.1, h2) |
//! | `/inspect` | the request as the server saw it: method and target, headers (`name: value`, sorted), body length (HTTP/1.1, h2) |
//! | `/set-cookie?C1&C2..` | each `&`-separated part of the query, percent-decoded, as a `Set-Cookie` header (`a=1;%20Path=/`); a part `location=TARGET` makes it a 302 to TARGET (HTTP/1.1, h2) |
//! | `/site/N/P` | page P of an N-page site, after 20 ms: HTML linking (relatively) to pages 4P+1 to 4P+4 below N, back to page 0, and to a page of another origin (HTTP/1.1, h2) |
//!
//! Every request's `x-request-id` header, if any, is recorded so a test can tell whether
//! a request was processed twice.
//!
//! The h2 and HTTP/3 sides answer HEAD like GET, body included, as a broken server might
//! (the client must drop it); the HTTP/1.1 side cannot, hyper frames HEAD responses.

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;

/// The small body: 13 bytes.
pub const HELLO: &[u8] = b"Hello, World!";

/// Where `/stall/MS` pauses: after this many bytes of [`HELLO`].
pub(crate) const STALL_AT: usize = 5;

/// Chunk size for generated bodies.
pub(crate) const CHUNK: usize = 64 * 1024;

const PERIOD: usize = 251;

/// Byte `i` of every `/bytes/N` body: `i mod 251`, so that a client can check the bytes.
pub fn pattern_byte(i: u64) -> u8 {
    (i % PERIOD as u64) as u8
}

/// Bytes `offset..offset + len` of the pattern (`len` at most 64 KiB), sharing one buffer.
pub(crate) fn pattern(offset: u64, len: usize) -> Bytes {
    static BUF: OnceLock<Bytes> = OnceLock::new();
    let buf = BUF.get_or_init(|| {
        (0..CHUNK + PERIOD)
            .map(|i| pattern_byte(i as u64))
            .collect()
    });
    let start = (offset % PERIOD as u64) as usize;
    buf.slice(start..start + len.min(CHUNK))
}

/// `n` headers `x-h-0`, `x-h-1`, ... with `size`-byte values, added to `headers`.
pub(crate) fn add_many_headers(headers: &mut http::HeaderMap, n: usize, size: usize) {
    let value = http::HeaderValue::from_str(&"v".repeat(size))
        .unwrap_or_else(|_| http::HeaderValue::from_static("v"));
    for i in 0..n {
        if let Ok(name) = http::HeaderName::from_bytes(format!("x-h-{i}").as_bytes()) {
            headers.append(name, value.clone());
        }
    }
}

/// The `x-request-id` of a request, if it has one.
pub(crate) fn request_id(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Where `/redirect/CODE?to=TARGET` points: everything after `to=`; without it, the
/// request's own path and query (a loop).
pub(crate) fn redirect_target(uri: &http::Uri) -> http::HeaderValue {
    let target = match uri.query().and_then(|q| q.strip_prefix("to=")) {
        Some(to) => to,
        None => uri.path_and_query().map_or("/", |p| p.as_str()),
    };
    http::HeaderValue::from_str(target).unwrap_or_else(|_| http::HeaderValue::from_static("/"))
}

/// Answers `/set-cookie?...` into `headers`: a `Set-Cookie` per part of the query and,
/// for a `location=` part, a `Location`; returns the status (302 with a location, else
/// 200).
pub(crate) fn set_cookie_answer(
    uri: &http::Uri,
    headers: &mut http::HeaderMap,
) -> http::StatusCode {
    let mut status = http::StatusCode::OK;
    for part in uri.query().unwrap_or_default().split('&') {
        // Leniently: a malformed escape stays as it is.
        let decoded = plexus_core::percent::decode(part).unwrap_or_else(|| part.to_string());
        let (name, value) = match decoded.strip_prefix("location=") {
            Some(target) => (http::header::LOCATION, target),
            None => (http::header::SET_COOKIE, decoded.as_str()),
        };
        let Ok(value) = http::HeaderValue::from_str(value) else {
            continue;
        };
        if name == http::header::LOCATION {
            status = http::StatusCode::FOUND;
            headers.insert(name, value);
        } else if !decoded.is_empty() {
            headers.append(name, value);
        }
    }
    status
}

/// The body of `/redirect/...`, which a client following the redirect reads and drops.
pub(crate) const REDIRECT_BODY: &[u8] = b"redirecting";

/// How long a `/site` page takes to answer: long enough that a crawler gains from having
/// many pages in flight.
pub const SITE_PAGE_DELAY: Duration = Duration::from_millis(20);

/// Page `page` of a `pages`-page site: links to its children `4*page+1 ..= 4*page+4`
/// (those below `pages`), relative to the page's own URL; to page 0 (already seen by a
/// crawler); to a fragment of itself; and to a page of another origin. A crawler that
/// stays on the origin and fetches each page once fetches `pages` pages.
pub fn site_page(pages: u32, page: u32) -> Bytes {
    let mut html = format!(
        "<!doctype html>\n<html><head><title>page {page} of {pages}</title></head><body>\n\
         <h1 id=\"top\">Page {page}</h1>\n<a href=\"0\">home</a> <a href=\"#top\">top</a>\n\
         <a href=\"https://elsewhere.invalid/site/{pages}/1\">elsewhere</a>\n<ul>\n"
    );
    for child in (4 * page + 1..=4 * page + 4).filter(|c| *c < pages) {
        html.push_str(&format!("<li><a href='{child}'>page {child}</a></li>\n"));
    }
    html.push_str("</ul>\n</body></html>\n");
    Bytes::from(html)
}

/// What `/inspect` answers: the method and the path with its query, then every header as
/// `name: value` (sorted), then `body: N bytes`, one per line.
pub(crate) fn inspect(
    method: &http::Method,
    uri: &http::Uri,
    headers: &http::HeaderMap,
    body_len: u64,
) -> Bytes {
    let mut lines: Vec<String> = headers
        .iter()
        .map(|(n, v)| format!("{n}: {}", String::from_utf8_lossy(v.as_bytes())))
        .collect();
    lines.sort();
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut out = format!("{method} {target}\n");
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(&format!("body: {body_len} bytes\n"));
    Bytes::from(out)
}

/// A content coding the server can apply to a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    Gzip,
    Brotli,
    Zstd,
    Deflate,
}

impl Compression {
    fn parse(name: &str) -> Option<Compression> {
        Some(match name {
            "gzip" => Compression::Gzip,
            "br" => Compression::Brotli,
            "zstd" => Compression::Zstd,
            "deflate" => Compression::Deflate,
            _ => return None,
        })
    }

    /// The `Content-Encoding` value.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Brotli => "br",
            Compression::Zstd => "zstd",
            Compression::Deflate => "deflate",
        }
    }
}

/// What an encoded route sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EncodedBody {
    /// The pattern, compressed.
    Pattern,
    /// Zeros, compressed.
    Zeros,
    /// The pattern as it is, for all its `Content-Encoding` says.
    NotEncoded,
}

/// The body of `/encoded/...`, `/bomb/...` or `/corrupt/...`: `len` bytes of the pattern
/// (or of zeros), compressed (or not).
pub(crate) async fn encoded_body(encoding: Compression, len: u64, body: EncodedBody) -> Bytes {
    use async_compression::tokio::bufread as enc;
    use tokio::io::AsyncReadExt;
    let raw: Vec<u8> = match body {
        EncodedBody::Zeros => vec![0; len as usize],
        EncodedBody::Pattern | EncodedBody::NotEncoded => (0..len).map(pattern_byte).collect(),
    };
    if body == EncodedBody::NotEncoded {
        return Bytes::from(raw);
    }
    let input = &raw[..];
    let mut out = Vec::new();
    let read = match encoding {
        Compression::Gzip => enc::GzipEncoder::new(input).read_to_end(&mut out).await,
        Compression::Brotli => enc::BrotliEncoder::new(input).read_to_end(&mut out).await,
        Compression::Zstd => enc::ZstdEncoder::new(input).read_to_end(&mut out).await,
        Compression::Deflate => enc::ZlibEncoder::new(input).read_to_end(&mut out).await,
    };
    if let Err(e) = read {
        tracing::warn!(error = %e, "test server: compressing a body failed");
    }
    Bytes::from(out)
}

/// A request path, understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Hello,
    Bytes(u64),
    Delay(Duration),
    Echo,
    Upload,
    Status(u16),
    Close,
    Abort(u64),
    Stall(Duration),
    Headers(usize, usize),
    Flaky(u32),
    Busy(u64),
    Redirect(u16),
    Inspect,
    SetCookie,
    /// Page `page` of a site of `pages` pages.
    Site {
        pages: u32,
        page: u32,
    },
    /// An encoding and the size of the pattern it compresses.
    Encoded {
        encoding: Compression,
        len: u64,
        body: EncodedBody,
    },
    NotFound,
}

impl Route {
    pub(crate) fn parse(path: &str) -> Route {
        let mut parts = path.trim_start_matches('/').splitn(2, '/');
        let first = parts.next().unwrap_or_default();
        let arg = parts.next().unwrap_or_default();
        match first {
            "" | "hello" => Route::Hello,
            "bytes" => arg.parse().map_or(Route::NotFound, Route::Bytes),
            "delay" => arg.parse().map_or(Route::NotFound, |ms| {
                Route::Delay(Duration::from_millis(ms))
            }),
            "echo" => Route::Echo,
            "upload" => Route::Upload,
            "close" => Route::Close,
            "abort" => arg.parse().map_or(Route::NotFound, Route::Abort),
            "flaky" => arg.parse().map_or(Route::NotFound, Route::Flaky),
            "busy" => arg.parse().map_or(Route::NotFound, Route::Busy),
            "redirect" => arg
                .parse()
                .ok()
                .filter(|s| (300..=399).contains(s))
                .map_or(Route::NotFound, Route::Redirect),
            "inspect" => Route::Inspect,
            "set-cookie" => Route::SetCookie,
            "site" => {
                let mut nums = arg.splitn(2, '/').map(str::parse::<u32>);
                match (nums.next(), nums.next()) {
                    (Some(Ok(pages)), Some(Ok(page))) if page < pages => {
                        Route::Site { pages, page }
                    }
                    _ => Route::NotFound,
                }
            }
            "encoded" | "bomb" | "corrupt" => {
                let mut args = arg.splitn(2, '/');
                let encoding = args.next().and_then(Compression::parse);
                let len = args.next().and_then(|n| n.parse().ok());
                let body = match first {
                    "encoded" => EncodedBody::Pattern,
                    "bomb" => EncodedBody::Zeros,
                    _ => EncodedBody::NotEncoded,
                };
                match (encoding, len) {
                    (Some(encoding), Some(len)) => Route::Encoded {
                        encoding,
                        len,
                        body,
                    },
                    _ => Route::NotFound,
                }
            }
            "headers" => {
                let mut nums = arg.splitn(2, '/').map(str::parse::<usize>);
                match (nums.next(), nums.next()) {
                    (Some(Ok(n)), Some(Ok(size))) => Route::Headers(n, size),
                    _ => Route::NotFound,
                }
            }
            "stall" => arg.parse().map_or(Route::NotFound, |ms| {
                Route::Stall(Duration::from_millis(ms))
            }),
            "status" => arg
                .parse()
                .ok()
                .filter(|s| (100..=999).contains(s))
                .map_or(Route::NotFound, Route::Status),
            _ => Route::NotFound,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_routes() {
        assert_eq!(Route::parse("/"), Route::Hello);
        assert_eq!(Route::parse("/bytes/1024"), Route::Bytes(1024));
        assert_eq!(
            Route::parse("/delay/5"),
            Route::Delay(Duration::from_millis(5))
        );
        assert_eq!(Route::parse("/status/503"), Route::Status(503));
        assert_eq!(Route::parse("/bytes/x"), Route::NotFound);
        assert_eq!(Route::parse("/abort/10"), Route::Abort(10));
        assert_eq!(
            Route::parse("/stall/20"),
            Route::Stall(Duration::from_millis(20))
        );
    }

    #[test]
    fn pattern_slices_line_up() {
        let a = pattern(1000, 10);
        assert!(a
            .iter()
            .enumerate()
            .all(|(i, b)| *b == pattern_byte(1000 + i as u64)));
        assert_eq!(HELLO.len(), 13);
    }
}
