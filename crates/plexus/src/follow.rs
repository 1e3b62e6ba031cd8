//! Following redirects: each hop is a new request made from the last one, as the
//! [`Policy`] allows and the status demands.

use http::header::{self, HeaderMap, HeaderName};
use http::{Extensions, Method, Request, StatusCode, Uri, Version};
use plexus_core::{Body, Error, ErrorKind, Origin};

use crate::client::{Client, Deadline};
use crate::redirect::{Attempt, Decision, Policy};
use crate::response::Response;
use plexus_core::location;

/// Sends `request`, and the requests its redirects lead to, per `policy`.
pub(crate) async fn follow(
    client: &Client,
    request: Request<Body>,
    policy: Policy,
    deadline: Deadline,
) -> Result<Response, Error> {
    let mut request = request;
    let mut visited: Vec<Uri> = Vec::new();
    let mut deadline = deadline;
    loop {
        let hop = Hop::of(&request);
        let mut response = client.send_retrying(request, deadline).await?;
        let Some((status, location)) = redirect_of(&response) else {
            response.set_redirects(visited);
            return Ok(response);
        };
        visited.push(hop.uri.clone());
        let target = location::resolve(&hop.uri, location.as_bytes())
            .map_err(|e| e.with_origin_of(&hop.uri))?;
        let attempt = Attempt {
            status,
            next: &target,
            previous: &visited,
        };
        match policy.decide(attempt).0 {
            Decision::Follow => {}
            Decision::Stop => {
                visited.pop();
                response.set_redirects(visited);
                return Ok(response);
            }
            Decision::Error(why) => {
                return Err(Error::new(ErrorKind::Redirect)
                    .with_message(why)
                    .with_origin_of(&hop.uri))
            }
        }
        let Some(next) = hop.next(status, target) else {
            // A 307 or 308 whose body cannot be sent again: the redirect is the answer.
            tracing::debug!(%status, "not following: the request body cannot be sent again");
            visited.pop();
            response.set_redirects(visited);
            return Ok(response);
        };
        tracing::debug!(%status, to = %next.uri(), "following a redirect");
        response.discard().await;
        request = next;
        deadline.started = std::time::Instant::now();
    }
}

/// The status and `Location` of a response that redirects.
fn redirect_of(response: &Response) -> Option<(StatusCode, http::HeaderValue)> {
    let status = response.status();
    let redirects = matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308);
    let location = response.headers().get(header::LOCATION)?;
    redirects.then(|| (status, location.clone()))
}

/// What is kept of a request to make the next hop from: all of it but a body that cannot
/// be sent again.
struct Hop {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    body: Option<Body>,
    extensions: Extensions,
}

/// Headers that describe a body, dropped with it when a redirect turns the request into
/// a GET.
const CONTENT_HEADERS: [HeaderName; 6] = [
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CONTENT_ENCODING,
    header::CONTENT_LANGUAGE,
    header::CONTENT_LOCATION,
    header::TRANSFER_ENCODING,
];

/// Credentials for one origin, not sent to another.
const CREDENTIALS: [&str; 4] = ["authorization", "proxy-authorization", "cookie", "cookie2"];

impl Hop {
    fn of(request: &Request<Body>) -> Hop {
        Hop {
            method: request.method().clone(),
            uri: request.uri().clone(),
            version: request.version(),
            headers: request.headers().clone(),
            body: request.body().try_clone(),
            extensions: request.extensions().clone(),
        }
    }

    /// The request that follows a `status` redirect to `target`; `None` when it would
    /// need a body that cannot be sent again.
    fn next(self, status: StatusCode, target: Uri) -> Option<Request<Body>> {
        let Hop {
            mut method,
            uri,
            version,
            mut headers,
            body,
            extensions,
        } = self;
        let to_get = match status.as_u16() {
            301 | 302 => method == Method::POST,
            303 => method != Method::HEAD,
            _ => false,
        };
        let body = if to_get {
            method = Method::GET;
            for name in &CONTENT_HEADERS {
                headers.remove(name);
            }
            Body::empty()
        } else {
            body?
        };
        if uri.authority() != target.authority() {
            // A Host header of the caller's names the old authority.
            headers.remove(header::HOST);
        }
        let same_origin = match (Origin::from_uri(&uri), Origin::from_uri(&target)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if !same_origin {
            for name in CREDENTIALS {
                headers.remove(name);
            }
        }
        let mut next = Request::new(body);
        *next.method_mut() = method;
        *next.uri_mut() = target;
        *next.version_mut() = version;
        *next.headers_mut() = headers;
        *next.extensions_mut() = extensions;
        Some(next)
    }
}

/// Context for an error about a URL.
trait WithOriginOf {
    fn with_origin_of(self, uri: &Uri) -> Self;
}

impl WithOriginOf for Error {
    fn with_origin_of(self, uri: &Uri) -> Error {
        match Origin::from_uri(uri) {
            Ok(origin) => self.with_origin(&origin),
            Err(_) => self,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;

    fn request(method: Method, uri: &str, body: Body) -> Request<Body> {
        let mut r = Request::new(body);
        *r.method_mut() = method;
        *r.uri_mut() = uri.parse().expect("uri");
        let h = r.headers_mut();
        h.insert(header::AUTHORIZATION, "Bearer t".parse().expect("value"));
        h.insert(header::COOKIE, "a=b".parse().expect("value"));
        h.insert(header::CONTENT_TYPE, "text/plain".parse().expect("value"));
        h.insert("x-keep", "1".parse().expect("value"));
        r
    }

    fn hop(r: &Request<Body>, status: u16, to: &str) -> Option<Request<Body>> {
        Hop::of(r).next(
            StatusCode::from_u16(status).expect("status"),
            to.parse().expect("uri"),
        )
    }

    #[test]
    fn post_becomes_get_on_301_302_303_and_stays_on_307_308() {
        let post = request(Method::POST, "https://h/a", Body::from("data"));
        for status in [301, 302, 303] {
            let next = hop(&post, status, "https://h/b").expect("next");
            assert_eq!(next.method(), Method::GET, "{status}");
            assert!(next.body().is_end_stream(), "{status}");
            assert!(next.headers().get(header::CONTENT_TYPE).is_none());
            assert!(next.headers().get("x-keep").is_some());
        }
        for status in [307, 308] {
            let next = hop(&post, status, "https://h/b").expect("next");
            assert_eq!(next.method(), Method::POST, "{status}");
            assert_eq!(next.body().size_hint().exact(), Some(4));
            assert!(next.headers().get(header::CONTENT_TYPE).is_some());
        }
        // 303 turns a PUT into a GET too, but never a HEAD; 301 keeps a PUT.
        let put = request(Method::PUT, "https://h/a", Body::from("x"));
        assert_eq!(
            hop(&put, 303, "https://h/b").expect("next").method(),
            Method::GET
        );
        assert_eq!(
            hop(&put, 301, "https://h/b").expect("next").method(),
            Method::PUT
        );
        let head = request(Method::HEAD, "https://h/a", Body::empty());
        assert_eq!(
            hop(&head, 303, "https://h/b").expect("next").method(),
            Method::HEAD
        );
    }

    #[test]
    fn credentials_stay_with_their_origin() {
        let get = request(Method::GET, "https://h/a", Body::empty());
        let same = hop(&get, 302, "https://H:443/b").expect("next");
        assert!(same.headers().get(header::AUTHORIZATION).is_some());
        assert!(same.headers().get(header::COOKIE).is_some());
        for other in ["https://other/b", "http://h/b", "https://h:8443/b"] {
            let next = hop(&get, 302, other).expect("next");
            assert!(
                next.headers().get(header::AUTHORIZATION).is_none(),
                "{other}"
            );
            assert!(next.headers().get(header::COOKIE).is_none(), "{other}");
            assert!(next.headers().get("x-keep").is_some(), "{other}");
        }
    }

    #[test]
    fn a_stream_body_is_not_sent_twice() {
        let stream = Body::wrap_stream(futures_util::stream::iter([Ok::<_, std::io::Error>(
            bytes::Bytes::from_static(b"x"),
        )]));
        let post = request(Method::POST, "https://h/a", stream);
        assert!(hop(&post, 307, "https://h/b").is_none());
        assert_eq!(
            hop(&post, 302, "https://h/b")
                .expect("GET needs no body")
                .method(),
            Method::GET
        );
    }
}
