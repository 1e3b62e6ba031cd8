//! `Client`: one per process, cheap to clone; it owns a scheduler per origin.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures_util::FutureExt;
use http::{HeaderMap, Method, Request};
use plexus_core::{Body, Error, ErrorKind, Origin};
use plexus_quic::QuicConnector;
use plexus_sched::{Connect, OriginSnapshot, Pool, PoolConfig};
use plexus_tcp::{HttpVersionPolicy, TcpConnector};
use tracing::Instrument;

use crate::alt_svc_cache::AltSvcCache;
use crate::builder::ClientBuilder;
use crate::connect::Connectors;
use crate::h3_broken::BrokenH3;
use crate::proxy::Proxies;
use crate::request::{IntoUri, RequestBuilder, Timeout};
use crate::response::{BodyLimits, Response};
use crate::status_retry::{RetryBudget, StatusRetry};
use crate::transport::{AnyConnection, Http3Mode};

/// An HTTP client that keeps one long-lived, multiplexed connection per origin (a pool of
/// keep-alive connections where the server speaks only HTTP/1.1).
///
/// Create one and share it for the life of the process: cloning is cheap (an `Arc`), and
/// every clone shares the same connections, TLS session cache and scheduler. A client
/// per request throws away exactly the connection reuse plexus exists for.
///
/// ```no_run
/// # async fn run() -> Result<(), plexus::Error> {
/// let client = plexus::Client::new();
/// let body = client.get("https://example.com/").send().await?.text().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    connectors: Arc<Connectors>,
    pool_config: PoolConfig,
    version_policy: HttpVersionPolicy,
    timeout: Option<Duration>,
    read_timeout: Option<Duration>,
    max_response_body_size: Option<u64>,
    status_retry: Option<(StatusRetry, RetryBudget)>,
    redirect: crate::redirect::Policy,
    decoders: crate::decode::Decoders,
    /// The `Accept-Encoding` the decoders ask for, made once.
    accept_encoding: Option<http::HeaderValue>,
    #[cfg(feature = "cookies")]
    cookies: Option<Arc<crate::cookie::Jar>>,
    pools: Mutex<Pools>,
}

/// The pools, per origin: a pool per version and HTTP/3 policy — one, nearly always.
/// Looked up on every request, so hashed with foldhash (randomly seeded, like std's
/// SipHash, at a fraction of its cost).
#[derive(Default)]
struct Pools {
    by_origin: foldhash::HashMap<Origin, Vec<PoolEntry>>,
    /// The same pools, found by the URI's authority exactly as written, per scheme (http,
    /// https): most requests find their pool here without building (and allocating) an
    /// [`Origin`]. Spellings of one origin are few: the map grows with the origins.
    by_authority: [foldhash::HashMap<Box<str>, Vec<PoolEntry>>; 2],
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("version_policy", &self.inner.version_policy)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl Default for Client {
    fn default() -> Client {
        Client::new()
    }
}

impl Client {
    /// A client with every default (see [`ClientBuilder`]).
    ///
    /// # Panics
    ///
    /// If the default TLS configuration cannot be built, which does not happen with the
    /// bundled crypto provider; [`Client::builder`] returns the error instead.
    pub fn new() -> Client {
        ClientBuilder::new()
            .build()
            .expect("the default client configuration is valid")
    }

    /// A builder to configure a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    pub(crate) fn from_builder(b: ClientBuilder) -> Result<Client, Error> {
        let tls = crate::tls::client_config(&b.tls)?;
        let proxies = match &b.proxies {
            Some(list) => Proxies::new(list.clone()),
            None => Proxies::from_env()?,
        };
        // A QUIC path that fails marks the origin's HTTP/3 broken (see `connect`).
        let broken = Arc::new(BrokenH3::new(b.http3_broken_backoff));
        let path_broken = Arc::clone(&broken);
        let quic = QuicConnector::new(b.quic, &tls)?.on_path_failure(Arc::new(move |origin| {
            tracing::debug!(%origin, "QUIC path failed; preferring TCP");
            path_broken.mark(origin);
        }));
        let alt_svc = match &b.alt_svc_file {
            Some(file) => AltSvcCache::with_file(file).map_err(|e| {
                Error::new(ErrorKind::InvalidRequest)
                    .with_message(format!("cannot read the alt-svc file {}", file.display()))
                    .with_source(e)
            })?,
            None => AltSvcCache::default(),
        };
        Ok(Client {
            inner: Arc::new(Inner {
                connectors: Arc::new(Connectors {
                    tcp: TcpConnector::new(b.tcp, Some(tls)),
                    quic,
                    http3: b.http3,
                    race_head_start: b.http3_race_delay,
                    alt_svc,
                    broken,
                    proxies,
                }),
                pool_config: b.pool,
                version_policy: b.version_policy,
                timeout: b.timeout,
                read_timeout: b.read_timeout,
                max_response_body_size: b.max_response_body_size,
                status_retry: b.status_retry.map(|p| {
                    let budget = RetryBudget::new(&p);
                    (p, budget)
                }),
                redirect: b.redirect,
                decoders: b.decoders,
                accept_encoding: b.decoders.accept_encoding(),
                #[cfg(feature = "cookies")]
                cookies: b.cookies,
                pools: Mutex::new(Pools::default()),
            }),
        })
    }

    /// A GET request to `url`.
    pub fn get(&self, url: impl IntoUri) -> RequestBuilder {
        self.request_builder(Method::GET, url)
    }

    /// A POST request to `url`.
    pub fn post(&self, url: impl IntoUri) -> RequestBuilder {
        self.request_builder(Method::POST, url)
    }

    /// A PUT request to `url`.
    pub fn put(&self, url: impl IntoUri) -> RequestBuilder {
        self.request_builder(Method::PUT, url)
    }

    /// A DELETE request to `url`.
    pub fn delete(&self, url: impl IntoUri) -> RequestBuilder {
        self.request_builder(Method::DELETE, url)
    }

    /// A HEAD request to `url`.
    pub fn head(&self, url: impl IntoUri) -> RequestBuilder {
        self.request_builder(Method::HEAD, url)
    }

    /// A request with any method.
    pub fn request_builder(&self, method: Method, url: impl IntoUri) -> RequestBuilder {
        RequestBuilder::new(self.clone(), method, url.into_uri())
    }

    /// Sends a ready-made [`http::Request`]. Its URI must be absolute.
    pub async fn request<B: Into<Body>>(&self, request: Request<B>) -> Result<Response, Error> {
        self.execute(request.map(Into::into)).await
    }

    /// Sends a request: picks (or creates) the origin's scheduler, which picks a
    /// connection; retries per the retry policy (and the status retry policy, if set);
    /// follows redirects per the redirect policy; applies the deadline to the response
    /// head and body.
    pub async fn execute(&self, mut request: Request<Body>) -> Result<Response, Error> {
        let started = Instant::now();
        let limit = request
            .extensions_mut()
            .remove::<Timeout>()
            .map(|t| t.0)
            .or(self.inner.timeout);
        let deadline = Deadline {
            started,
            at: limit.map(|l| tokio::time::Instant::from_std(started) + l),
            limit,
        };
        let policy = request
            .extensions_mut()
            .remove::<crate::redirect::Policy>()
            .unwrap_or_else(|| self.inner.redirect.clone());
        // Following redirects and retrying statuses take larger futures than one send:
        // they are boxed, so that a plain request's future stays small (3.4 KB rather
        // than 7.9 KB: that much memory per request in flight).
        if !policy.is_none() {
            return Box::pin(crate::follow::follow(self, request, policy, deadline)).await;
        }
        if self.inner.status_retry.is_none() {
            // The plainest request, and the most common: no layer between it and the
            // scheduler.
            return self
                .send_once(request, started, deadline.at, deadline.limit)
                .await;
        }
        Box::pin(self.send_retrying(request, deadline)).await
    }

    /// Sends a request and re-sends it per the status retry policy, if one is set.
    pub(crate) async fn send_retrying(
        &self,
        mut request: Request<Body>,
        deadline: Deadline,
    ) -> Result<Response, Error> {
        let Deadline {
            started,
            at: deadline,
            limit,
        } = deadline;
        let Some((policy, budget)) = self
            .inner
            .status_retry
            .as_ref()
            .filter(|_| plexus_core::is_replay_safe(&request))
        else {
            return self.send_once(request, started, deadline, limit).await;
        };
        budget.deposit();
        let mut attempts = 0;
        let mut reasons: Vec<Error> = Vec::new();
        let mut retry = 0;
        loop {
            let next = plexus_sched::try_clone_request(&request);
            let mut response = self
                .send_once(request, started, deadline, limit)
                .await
                .map_err(|e| {
                    let made = e.attempts() + attempts;
                    e.with_attempts(made)
                })?;
            attempts += response.record().attempts;
            response.set_attempts(attempts);
            let record = response.record_mut();
            reasons.append(&mut record.retries);
            record.retries = std::mem::take(&mut reasons);
            let status = response.status();
            if !policy.retries_status(status) || retry >= policy.max_retries {
                return Ok(response);
            }
            let Some(next) = next else {
                return Ok(response);
            };
            let Some(wait) = policy.delay(retry + 1, response.headers(), SystemTime::now()) else {
                return Ok(response);
            };
            if deadline.is_some_and(|d| tokio::time::Instant::now() + wait >= d) {
                return Ok(response);
            }
            if !budget.withdraw() {
                tracing::debug!(%status, "retry budget spent: not retrying");
                return Ok(response);
            }
            retry += 1;
            tracing::debug!(%status, ?wait, retry, "retrying after a retryable status");
            reasons = std::mem::take(&mut response.record_mut().retries);
            reasons.push(
                Error::new(ErrorKind::RetryableStatus)
                    .with_message(format!("status {status}; retried after {wait:?}")),
            );
            response.discard().await;
            tokio::time::sleep(wait).await;
            request = next;
        }
    }

    /// One round through the scheduler (with its own retries of failed connections).
    async fn send_once(
        &self,
        mut request: Request<Body>,
        started: Instant,
        deadline: Option<tokio::time::Instant>,
        limit: Option<Duration>,
    ) -> Result<Response, Error> {
        let http3 = request
            .extensions_mut()
            .remove::<Http3Mode>()
            .unwrap_or(self.inner.connectors.http3);
        let pool = self.pool(request.uri(), http3)?;
        let origin = pool.origin();
        // The default headers go in at the pool, per attempt; a default counts here as
        // the request's own (a default `Cookie` or `Accept-Encoding` wins over the jar's
        // and the decoders').
        let defaults = &self.inner.pool_config.default_headers;
        #[cfg(feature = "cookies")]
        let cookie_url = self.inner.cookies.as_ref().map(|jar| {
            let cookie = http::header::COOKIE;
            if !request.headers().contains_key(&cookie) && !defaults.contains_key(&cookie) {
                if let Some(value) = jar.cookies(request.uri()) {
                    request.headers_mut().insert(cookie, value);
                }
            }
            request.uri().clone()
        });
        let decoders = self.inner.decoders.offer(
            self.inner.accept_encoding.as_ref(),
            request.headers_mut(),
            defaults,
        );
        let head_request = request.method() == Method::HEAD;
        let span = tracing::debug_span!(
            "request",
            method = %request.method(),
            uri = %request.uri(),
            stream_id = tracing::field::Empty,
        );
        // Made where it is pinned: `tokio::pin!` on a binding would keep a second copy of
        // the (large) future in this one's state.
        let sent = std::pin::pin!(pool.send(request, started));
        let sent = sent.instrument(span.clone());
        let mut delivered = match deadline {
            Some(at) => match tokio::time::timeout_at(at, sent).await {
                Ok(r) => r,
                Err(_) => Err(Error::new(ErrorKind::Timeout)
                    .with_message(format!(
                        "no response within {:?}",
                        limit.unwrap_or_default()
                    ))
                    .with_origin(origin)),
            },
            None => sent.await,
        }?;
        let response = &mut delivered.response;
        #[cfg(feature = "cookies")]
        if let (Some(jar), Some(url)) = (&self.inner.cookies, &cookie_url) {
            jar.store_response(url, response.headers());
        }
        if head_request || matches!(response.status().as_u16(), 204 | 304) {
            // These responses have no content (RFC 9110 §6.4.1), whatever a broken server
            // sends after the head: the stream is let go and the body reads empty.
            response.body_mut().release();
        }
        let record = &delivered.record;
        if let Some(id) = record.stream_id {
            span.record("stream_id", id);
        }
        self.learn_alt_svc(
            origin,
            &pool,
            http3,
            record.connection.protocol,
            response.headers(),
        );
        let max_body = self.inner.max_response_body_size;
        if let Some(max) = max_body {
            if http_body::Body::size_hint(response.body())
                .exact()
                .is_some_and(|len| len > max)
            {
                return Err(Error::new(ErrorKind::TooLarge)
                    .with_message(format!(
                        "the response's Content-Length is over the {max}-byte limit"
                    ))
                    .with_origin(origin));
            }
        }
        let limits = BodyLimits {
            deadline: deadline.zip(limit),
            read_timeout: self.inner.read_timeout,
            max_body,
            decoders,
        };
        Ok(Response::new(delivered, limits))
    }

    /// Takes in a response's `Alt-Svc`. When it newly offers HTTP/3 (and the policy
    /// follows Alt-Svc), the origin's TCP connections are drained: requests in flight
    /// finish on them, new ones race QUIC against TCP.
    fn learn_alt_svc(
        &self,
        origin: &Origin,
        pool: &Pool<AnyConnection>,
        http3: Http3Mode,
        protocol: plexus_core::Protocol,
        headers: &HeaderMap,
    ) {
        if protocol == plexus_core::Protocol::Http3 || !headers.contains_key(http::header::ALT_SVC)
        {
            return;
        }
        let values = headers
            .get_all(http::header::ALT_SVC)
            .iter()
            .map(|v| v.as_bytes());
        let Some(alt) = plexus_core::alt_svc::AltSvc::parse(values) else {
            return;
        };
        let connectors = &self.inner.connectors;
        let newly_h3 = connectors.alt_svc.observe(origin, protocol, alt);
        if newly_h3 && http3 == Http3Mode::AltSvc {
            tracing::debug!(%origin, "Alt-Svc offers HTTP/3: draining the TCP connections");
            pool.close();
        }
    }

    /// Per-origin counts: connections by protocol, streams in flight, queued requests,
    /// connections opened, requests served per connection.
    pub fn snapshot(&self) -> Vec<OriginSnapshot> {
        let pools: Vec<_> = self
            .inner
            .pools
            .lock()
            .map(|p| {
                p.by_origin
                    .values()
                    .flatten()
                    .map(|e| e.pool.clone())
                    .collect()
            })
            .unwrap_or_default();
        pools.iter().map(Pool::snapshot).collect()
    }

    /// The pool for `uri`'s origin, created on first use; an error when `uri` has no
    /// valid origin.
    fn pool(&self, uri: &http::Uri, http3: Http3Mode) -> Result<Pool<AnyConnection>, Error> {
        let policy = self.inner.version_policy;
        let matching = |v: &Vec<PoolEntry>| {
            v.iter()
                .find(|e| e.policy == policy && e.http3 == http3)
                .map(|e| e.pool.clone())
        };
        let scheme = match uri.scheme_str() {
            Some("https") => Some(1),
            Some("http") => Some(0),
            _ => None,
        };
        let spelled = scheme.zip(uri.authority().map(|a| a.as_str()));
        let mut pools = self.inner.pools.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((scheme, authority)) = spelled {
            if let Some(pool) = pools.by_authority[scheme].get(authority).and_then(matching) {
                return Ok(pool);
            }
        }
        let origin = Origin::from_uri(uri)?;
        let pool = match pools.by_origin.get(&origin).and_then(matching) {
            Some(pool) => pool,
            None => self.new_pool(&mut pools, &origin, http3),
        };
        if let Some((scheme, authority)) = spelled {
            pools.by_authority[scheme]
                .entry(authority.into())
                .or_default()
                .push(PoolEntry {
                    policy,
                    http3,
                    pool: pool.clone(),
                });
        }
        Ok(pool)
    }

    fn new_pool(
        &self,
        pools: &mut Pools,
        origin: &Origin,
        http3: Http3Mode,
    ) -> Pool<AnyConnection> {
        let policy = self.inner.version_policy;
        let pool = {
            let connectors = Arc::clone(&self.inner.connectors);
            let connect: Arc<dyn Connect<AnyConnection>> = Arc::new(move |origin: &Origin| {
                let connectors = Arc::clone(&connectors);
                let origin = origin.clone();
                async move { connectors.connect(&origin, policy, http3).await }.boxed()
            });
            Pool::new(origin.clone(), self.inner.pool_config.clone(), connect)
        };
        pools
            .by_origin
            .entry(origin.clone())
            .or_default()
            .push(PoolEntry {
                policy,
                http3,
                pool: pool.clone(),
            });
        pool
    }
}

/// When a request began, and the deadline (with the limit it came from) that covers it,
/// redirects included.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    pub(crate) started: Instant,
    pub(crate) at: Option<tokio::time::Instant>,
    pub(crate) limit: Option<Duration>,
}

/// One origin's pool for a version policy and an HTTP/3 mode.
#[derive(Debug)]
struct PoolEntry {
    policy: HttpVersionPolicy,
    http3: Http3Mode,
    pool: Pool<AnyConnection>,
}
