//! Request-target forms, for transports: h2 and h3 send the absolute URI as
//! pseudo-headers, HTTP/1.1 sends the origin form with a `Host` header.

use crate::error::{Error, ErrorKind};
use crate::origin::{Origin, Scheme};
use http::header::{HeaderName, CONNECTION, HOST, TE, TRANSFER_ENCODING, UPGRADE};
use http::uri::{Authority, PathAndQuery, Scheme as UriScheme, Uri};
use http::HeaderValue;

/// Headers that describe one HTTP/1.1 hop and are forbidden in h2 (RFC 9113 §8.2.2).
/// Names, not strings: comparing two header names is one comparison of their
/// representations, comparing a name with a string compares bytes.
const CONNECTION_SPECIFIC: [HeaderName; 5] = [
    CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    TRANSFER_ENCODING,
    UPGRADE,
];

/// The absolute URI for `uri` at `origin` (kept as is when already absolute).
pub fn absolute_uri(origin: &Origin, uri: Uri) -> Result<Uri, Error> {
    if uri.scheme().is_some() && uri.authority().is_some() {
        return Ok(uri);
    }
    let mut parts = uri.into_parts();
    parts.scheme = Some(match origin.scheme() {
        Scheme::Http => UriScheme::HTTP,
        Scheme::Https => UriScheme::HTTPS,
    });
    parts.authority = Some(
        origin
            .authority()
            .parse::<Authority>()
            .map_err(|e| Error::new(ErrorKind::InvalidUrl).with_source(e))?,
    );
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(PathAndQuery::from_static("/"));
    }
    Uri::from_parts(parts).map_err(|e| Error::new(ErrorKind::InvalidUrl).with_source(e))
}

/// The origin form (`/path?query`) of `uri`; `/` when the path is empty.
pub fn origin_form(uri: &Uri) -> Uri {
    let pq = uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let form = Uri::from(pq);
    if form.path().is_empty() {
        // `http` keeps an empty path for `https://host#fragment`: an empty request target.
        return Uri::from_static("/");
    }
    form
}

/// The `Host` header for requests to `origin`. An HTTP/1.1 connection makes it once and
/// hands a copy (a reference count) to each request: formatting it per request cost more
/// than a tenth of the request.
pub fn host_header(origin: &Origin) -> Result<HeaderValue, Error> {
    HeaderValue::from_str(&origin.authority())
        .map_err(|e| Error::new(ErrorKind::InvalidUrl).with_source(e))
}

/// Makes an HTTP/1.1 request head: origin-form target and the `Host` header `host` (see
/// [`host_header`]; the caller's own `Host` wins). It goes after the other headers, as
/// hyper's own client puts it: RFC 9110 §7.2 would have it first, but moving it there means
/// rebuilding the map (about 500 instructions a request), and no server reads it by place.
pub fn to_http1(host: &HeaderValue, parts: &mut http::request::Parts) {
    // One lookup, not a look then an insert.
    parts.headers.entry(HOST).or_insert_with(|| host.clone());
    parts.uri = origin_form(&parts.uri);
    parts.version = http::Version::HTTP_11;
}

/// Makes an h2 or h3 request head: absolute URI, no hop-by-hop headers, no `Host` (its
/// value travels as `:authority`), `TE` only as `trailers`. `version` is the version to
/// label it with.
pub fn to_multiplexed(
    origin: &Origin,
    parts: &mut http::request::Parts,
    version: http::Version,
) -> Result<(), Error> {
    let uri = std::mem::take(&mut parts.uri);
    parts.uri = absolute_uri(origin, uri)?;
    parts.version = version;
    // Most requests carry none of these: one pass over the names (no hashing, no
    // parsing) tells, before seven lookups by name would.
    let any = parts
        .headers
        .keys()
        .any(|name| *name == HOST || *name == TE || CONNECTION_SPECIFIC.contains(name));
    if !any {
        return Ok(());
    }
    for name in CONNECTION_SPECIFIC {
        parts.headers.remove(name);
    }
    parts.headers.remove(HOST);
    if parts
        .headers
        .get(TE)
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"trailers"))
    {
        parts.headers.remove(TE);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin::new(Scheme::Https, "example.com", 8443).expect("valid origin")
    }

    #[test]
    fn an_empty_path_is_the_root() {
        for url in [
            "https://example.com#top",
            "https://example.com",
            "https://example.com/",
        ] {
            let uri: Uri = url.parse().expect("valid URI");
            assert_eq!(origin_form(&uri).to_string(), "/", "{url}");
        }
        let uri: Uri = "https://example.com?q#top".parse().expect("valid URI");
        assert_eq!(origin_form(&uri).to_string(), "/?q");
    }

    #[test]
    fn http1_gets_origin_form_and_host() -> Result<(), Error> {
        let (mut parts, ()) = http::Request::get("https://example.com:8443/a/b?c=d")
            .body(())?
            .into_parts();
        to_http1(&host_header(&origin())?, &mut parts);
        assert_eq!(parts.uri, "/a/b?c=d");
        assert_eq!(parts.headers[HOST], "example.com:8443");
        Ok(())
    }

    #[test]
    fn multiplexed_gets_absolute_uri_and_no_hop_headers() -> Result<(), Error> {
        let (mut parts, ()) = http::Request::get("/x")
            .header("connection", "keep-alive")
            .header("host", "example.com")
            .header("te", "gzip")
            .body(())?
            .into_parts();
        to_multiplexed(&origin(), &mut parts, http::Version::HTTP_2)?;
        assert_eq!(parts.uri, "https://example.com:8443/x");
        assert!(parts.headers.is_empty(), "{:?}", parts.headers);
        // Names outside the standard set are found too; `TE: trailers` stays.
        for (name, value) in [
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "close"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
        ] {
            let (mut parts, ()) = http::Request::get("/x")
                .header(name, value)
                .header("te", "trailers")
                .header("x-kept", "1")
                .body(())?
                .into_parts();
            to_multiplexed(&origin(), &mut parts, http::Version::HTTP_3)?;
            assert_eq!(parts.headers.len(), 2, "{name}: {:?}", parts.headers);
            assert_eq!(parts.headers["te"], "trailers");
        }
        Ok(())
    }
}
