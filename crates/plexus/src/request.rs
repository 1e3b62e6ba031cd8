//! `RequestBuilder`: a request being put together, sent with `send()`.

use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use plexus_core::{Body, Error, ErrorKind, Idempotent};

use crate::client::Client;
use crate::response::Response;

/// Things that can be a request URL: `&str`, `String`, [`http::Uri`].
pub trait IntoUri {
    /// The parsed URI, or why it is not one.
    fn into_uri(self) -> Result<Uri, Error>;
}

impl IntoUri for Uri {
    fn into_uri(self) -> Result<Uri, Error> {
        Ok(self)
    }
}

impl IntoUri for &str {
    fn into_uri(self) -> Result<Uri, Error> {
        self.parse::<Uri>().map_err(|e| {
            Error::new(ErrorKind::InvalidUrl)
                .with_message(format!("`{self}` is not a valid URL"))
                .with_source(e)
        })
    }
}

impl IntoUri for String {
    fn into_uri(self) -> Result<Uri, Error> {
        self.as_str().into_uri()
    }
}

impl IntoUri for &String {
    fn into_uri(self) -> Result<Uri, Error> {
        self.as_str().into_uri()
    }
}

/// `uri` with `encoded` (`k=v&...`) added to its query.
fn with_query(uri: &Uri, encoded: &str) -> Result<Uri, Error> {
    if encoded.is_empty() {
        return Ok(uri.clone());
    }
    let path = uri.path();
    let path_and_query = match uri.query() {
        Some(q) if !q.is_empty() => format!("{path}?{q}&{encoded}"),
        _ => format!("{path}?{encoded}"),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().map_err(|e| {
        Error::new(ErrorKind::InvalidRequest)
            .with_message("the query made an invalid URL")
            .with_source(e)
    })?);
    Uri::from_parts(parts).map_err(|e| {
        Error::new(ErrorKind::InvalidRequest)
            .with_message("the query made an invalid URL")
            .with_source(e)
    })
}

/// A per-request deadline, carried in the request's extensions to the client.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeout(pub(crate) Duration);

/// A request being built. Errors (bad URL, bad header) surface from
/// [`send`](RequestBuilder::send) or [`build`](RequestBuilder::build).
#[derive(Debug)]
pub struct RequestBuilder {
    client: Client,
    request: Result<Request<Body>, Error>,
}

impl RequestBuilder {
    pub(crate) fn new(client: Client, method: Method, uri: Result<Uri, Error>) -> RequestBuilder {
        let request = uri.map(|uri| {
            let mut r = Request::new(Body::empty());
            *r.method_mut() = method;
            *r.uri_mut() = uri;
            r
        });
        RequestBuilder { client, request }
    }

    /// Adds a header (repeated names are all sent).
    pub fn header(
        mut self,
        name: impl TryInto<HeaderName>,
        value: impl TryInto<HeaderValue>,
    ) -> RequestBuilder {
        if let Ok(r) = &mut self.request {
            match (name.try_into(), value.try_into()) {
                (Ok(n), Ok(v)) => {
                    r.headers_mut().append(n, v);
                }
                (Err(_), _) => {
                    self.request =
                        Err(Error::new(ErrorKind::InvalidRequest)
                            .with_message("invalid header name"));
                }
                (_, Err(_)) => {
                    self.request =
                        Err(Error::new(ErrorKind::InvalidRequest)
                            .with_message("invalid header value"));
                }
            }
        }
        self
    }

    /// Adds every header of `headers`.
    pub fn headers(mut self, headers: HeaderMap) -> RequestBuilder {
        if let Ok(r) = &mut self.request {
            for (name, value) in &headers {
                r.headers_mut().append(name.clone(), value.clone());
            }
        }
        self
    }

    /// Sends `Authorization: Bearer TOKEN` (marked sensitive, so that it is never logged
    /// and h2/h3 keep it out of their compression tables).
    pub fn bearer_auth(self, token: impl std::fmt::Display) -> RequestBuilder {
        self.authorization(format!("Bearer {token}"))
    }

    /// Sends `Authorization: Basic ...` with `user` and, if given, `password` (RFC 7617).
    pub fn basic_auth(
        self,
        user: impl std::fmt::Display,
        password: Option<impl std::fmt::Display>,
    ) -> RequestBuilder {
        let password = password.map(|p| p.to_string()).unwrap_or_default();
        self.authorization(crate::basic_auth::basic_credentials(user, password))
    }

    fn authorization(mut self, value: String) -> RequestBuilder {
        if let Ok(r) = &mut self.request {
            match HeaderValue::try_from(value) {
                Ok(mut v) => {
                    v.set_sensitive(true);
                    r.headers_mut().insert(http::header::AUTHORIZATION, v);
                }
                Err(_) => {
                    self.request = Err(Error::new(ErrorKind::InvalidRequest)
                        .with_message("invalid characters in the credentials"));
                }
            }
        }
        self
    }

    /// Adds `query` (a struct, map or list of pairs; anything serde serializes as
    /// `key=value` pairs) to the URL's query string, after any the URL already has.
    pub fn query<T: serde::Serialize + ?Sized>(mut self, query: &T) -> RequestBuilder {
        if let Ok(r) = &mut self.request {
            let result = serde_urlencoded::to_string(query)
                .map_err(|e| {
                    Error::new(ErrorKind::InvalidRequest)
                        .with_message("the query could not be encoded")
                        .with_source(e)
                })
                .and_then(|encoded| with_query(r.uri(), &encoded));
            match result {
                Ok(uri) => *r.uri_mut() = uri,
                Err(e) => self.request = Err(e),
            }
        }
        self
    }

    /// Sets the body to `form`, URL-encoded (`application/x-www-form-urlencoded`), and the
    /// `Content-Type` to match unless one is set.
    pub fn form<T: serde::Serialize + ?Sized>(self, form: &T) -> RequestBuilder {
        match serde_urlencoded::to_string(form) {
            Ok(encoded) => self.typed_body(encoded, "application/x-www-form-urlencoded"),
            Err(e) => self.fail(
                Error::new(ErrorKind::InvalidRequest)
                    .with_message("the form could not be encoded")
                    .with_source(e),
            ),
        }
    }

    /// Sets the body to `json`, serialized, and the `Content-Type` to `application/json`
    /// unless one is set.
    #[cfg(feature = "json")]
    pub fn json<T: serde::Serialize + ?Sized>(self, json: &T) -> RequestBuilder {
        match serde_json::to_vec(json) {
            Ok(bytes) => self.typed_body(bytes, "application/json"),
            Err(e) => self.fail(
                Error::new(ErrorKind::InvalidRequest)
                    .with_message("the JSON body could not be serialized")
                    .with_source(e),
            ),
        }
    }

    fn typed_body(mut self, body: impl Into<Body>, content_type: &'static str) -> RequestBuilder {
        if let Ok(r) = &mut self.request {
            *r.body_mut() = body.into();
            r.headers_mut()
                .entry(http::header::CONTENT_TYPE)
                .or_insert(HeaderValue::from_static(content_type));
        }
        self
    }

    fn fail(mut self, e: Error) -> RequestBuilder {
        if self.request.is_ok() {
            self.request = Err(e);
        }
        self
    }

    /// Sets the body: bytes, a string, or a streaming [`Body`].
    pub fn body(mut self, body: impl Into<Body>) -> RequestBuilder {
        if let Ok(r) = &mut self.request {
            *r.body_mut() = body.into();
        }
        self
    }

    /// Deadline for this request, from `send` to the end of the response body.
    pub fn timeout(mut self, limit: Duration) -> RequestBuilder {
        if let Ok(r) = &mut self.request {
            r.extensions_mut().insert(Timeout(limit));
        }
        self
    }

    /// Declares the request safe to replay although its method is not (a POST with an
    /// idempotent effect): it may then be re-sent after a connection failure.
    pub fn idempotent(mut self) -> RequestBuilder {
        if let Ok(r) = &mut self.request {
            r.extensions_mut().insert(Idempotent);
        }
        self
    }

    /// When this request may use HTTP/3 (overrides the client's
    /// [`http3`](crate::ClientBuilder::http3) setting for it).
    pub fn http3(mut self, mode: crate::Http3Mode) -> RequestBuilder {
        if let Ok(r) = &mut self.request {
            r.extensions_mut().insert(mode);
        }
        self
    }

    /// Which redirects to follow for this request (overrides the client's
    /// [`redirect`](crate::ClientBuilder::redirect) policy).
    pub fn redirect(mut self, policy: crate::redirect::Policy) -> RequestBuilder {
        if let Ok(r) = &mut self.request {
            r.extensions_mut().insert(policy);
        }
        self
    }

    /// The request as built.
    pub fn build(self) -> Result<Request<Body>, Error> {
        self.request
    }

    /// Sends the request; resolves once the response head has arrived.
    pub async fn send(self) -> Result<Response, Error> {
        let request = self.request?;
        self.client.execute(request).await
    }
}
