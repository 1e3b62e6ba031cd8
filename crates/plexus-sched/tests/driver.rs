//! The scheduler's driver against a mock connection, on tokio's paused (virtual) clock:
//! no sockets, deterministic time.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use http::{Request, Response};
use http_body::{Body as _, Frame};
use plexus_core::{
    Body, Capacity, ConnectTimings, Connection, ConnectionId, ConnectionInfo, ConnectionState,
    Error, ErrorKind, Origin, Protocol, Scheme, SendError,
};
use plexus_sched::{Connect, Pool, PoolConfig};
use tokio::sync::watch;

/// What the mock server does with each request.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    /// Answers after this long.
    Answer(Duration),
    /// Drains after this many requests and refuses every later one, unprocessed.
    GoAwayAfter(usize),
    /// Every connection is closed by the time the pool hands it out, for this reason
    /// (none: closed without one).
    ClosedAtOnce(Option<ErrorKind>),
}

#[derive(Debug)]
struct Server {
    behaviour: Behaviour,
    limit: usize,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    processed: AtomicUsize,
    connections: AtomicUsize,
}

#[derive(Debug, Clone)]
struct MockConn {
    server: Arc<Server>,
    info: Arc<ConnectionInfo>,
    state: Arc<Mutex<ConnectionState>>,
    served: Arc<AtomicUsize>,
    changed: Arc<watch::Sender<()>>,
}

/// A one-chunk body.
#[derive(Debug)]
struct OneChunk(Option<Bytes>);

impl http_body::Body for OneChunk {
    type Data = Bytes;
    type Error = Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        Poll::Ready(self.0.take().map(|b| Ok(Frame::data(b))))
    }
}

impl plexus_core::StreamFacts for OneChunk {}

impl MockConn {
    fn set_state(&self, s: ConnectionState) {
        *self.state.lock().expect("lock") = s;
        self.changed.send_replace(());
    }
}

impl Connection for MockConn {
    type ResponseBody = OneChunk;

    fn info(&self) -> &Arc<ConnectionInfo> {
        &self.info
    }

    fn send_request(
        &self,
        request: Request<Body>,
    ) -> impl Future<Output = Result<Response<OneChunk>, SendError>> + Send + 'static {
        let this = self.clone();
        async move {
            if this.state() != ConnectionState::Ready {
                return Err(SendError::unsent(
                    Error::new(ErrorKind::ConnectionClosed)
                        .with_delivery(plexus_core::Delivery::NotSent),
                    request,
                ));
            }
            let n = this.served.fetch_add(1, Ordering::AcqRel) + 1;
            if let Behaviour::GoAwayAfter(limit) = this.server.behaviour {
                if n > limit {
                    this.set_state(ConnectionState::Draining);
                    return Err(SendError::new(Error::new(ErrorKind::Refused)));
                }
            }
            let now = this.server.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
            this.server.peak.fetch_max(now, Ordering::AcqRel);
            let wait = match this.server.behaviour {
                Behaviour::Answer(d) => d,
                Behaviour::GoAwayAfter(_) | Behaviour::ClosedAtOnce(_) => Duration::from_millis(1),
            };
            tokio::time::sleep(wait).await;
            this.server.processed.fetch_add(1, Ordering::AcqRel);
            this.server.in_flight.fetch_sub(1, Ordering::AcqRel);
            Ok(Response::new(OneChunk(Some(Bytes::from_static(b"ok")))))
        }
    }

    fn capacity(&self) -> Capacity {
        Capacity {
            in_flight: 0,
            max_concurrent: self.server.limit,
            limit_known: true,
        }
    }

    fn state(&self) -> ConnectionState {
        *self.state.lock().expect("lock")
    }

    fn close_cause(&self) -> Option<Error> {
        match self.server.behaviour {
            Behaviour::ClosedAtOnce(Some(kind)) => {
                Some(Error::new(kind).with_message("the mock server closed the connection"))
            }
            _ => None,
        }
    }

    fn changed(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.changed.subscribe();
        async move {
            let _ = rx.changed().await;
        }
    }

    fn close(&self) {
        self.set_state(ConnectionState::Closed);
    }
}

fn origin() -> Origin {
    Origin::new(Scheme::Https, "mock.test", 443).expect("valid origin")
}

fn pool(server: &Arc<Server>, config: PoolConfig) -> Pool<MockConn> {
    let server = Arc::clone(server);
    let connect = move |origin: &Origin| -> BoxFuture<'static, Result<MockConn, Error>> {
        let server = Arc::clone(&server);
        let origin = origin.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            server.connections.fetch_add(1, Ordering::AcqRel);
            let now = Instant::now();
            Ok(MockConn {
                info: Arc::new(ConnectionInfo {
                    id: ConnectionId::next(),
                    origin,
                    protocol: Protocol::Http2,
                    remote_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 443)),
                    local_addr: None,
                    alpn: Some("h2".into()),
                    tls: None,
                    timings: ConnectTimings {
                        resolved: now,
                        started: now,
                        connected: now,
                        tls_done: None,
                    },
                    race: None,
                    proxy: None,
                }),
                state: Arc::new(Mutex::new(match server.behaviour {
                    Behaviour::ClosedAtOnce(_) => ConnectionState::Closed,
                    _ => ConnectionState::Ready,
                })),
                server,
                served: Arc::new(AtomicUsize::new(0)),
                changed: Arc::new(watch::Sender::new(())),
            })
        }
        .boxed()
    };
    let connect: Arc<dyn Connect<MockConn>> = Arc::new(connect);
    Pool::new(origin(), config, connect)
}

fn server(behaviour: Behaviour, limit: usize) -> Arc<Server> {
    Arc::new(Server {
        behaviour,
        limit,
        in_flight: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
        processed: AtomicUsize::new(0),
        connections: AtomicUsize::new(0),
    })
}

async fn send(pool: &Pool<MockConn>) -> Result<(), Error> {
    let request = Request::get("https://mock.test/")
        .body(Body::empty())
        .expect("request");
    let response = pool.send(request, Instant::now()).await?.response;
    // Read the body to its end, which frees the stream.
    let mut body = response.into_body();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        frame?;
    }
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn never_more_streams_than_the_peer_allows() {
    let server = server(Behaviour::Answer(Duration::from_millis(100)), 8);
    let pool = pool(&server, PoolConfig::default());
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { send(&pool).await })
        })
        .collect();
    for t in tasks {
        t.await.expect("task").expect("request");
    }
    assert_eq!(server.peak.load(Ordering::Acquire), 8);
    assert_eq!(server.connections.load(Ordering::Acquire), 1);
    assert_eq!(server.processed.load(Ordering::Acquire), 200);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_request_leaves_the_queue() {
    let server = server(Behaviour::Answer(Duration::from_secs(10)), 1);
    let pool = pool(&server, PoolConfig::default());
    let first = tokio::spawn({
        let pool = pool.clone();
        async move { send(&pool).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let queued = tokio::spawn({
        let pool = pool.clone();
        async move { send(&pool).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(pool.snapshot().queued, 1);
    queued.abort();
    let _ = queued.await;
    assert_eq!(
        pool.snapshot().queued,
        0,
        "the dropped request left the queue"
    );
    first.await.expect("task").expect("first request");
    assert_eq!(server.processed.load(Ordering::Acquire), 1);
}

#[tokio::test(start_paused = true)]
async fn queue_timeout_on_the_virtual_clock() {
    let server = server(Behaviour::Answer(Duration::from_secs(10)), 1);
    let config = PoolConfig {
        queue_timeout: Some(Duration::from_secs(2)),
        ..PoolConfig::default()
    };
    let pool = pool(&server, config);
    let first = tokio::spawn({
        let pool = pool.clone();
        async move { send(&pool).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = tokio::time::Instant::now();
    let err = send(&pool).await.expect_err("no stream frees within 2 s");
    assert_eq!(err.kind(), ErrorKind::QueueTimeout);
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    first.await.expect("task").expect("first request");
}

#[tokio::test(start_paused = true)]
async fn refused_requests_move_to_a_new_connection() {
    let server = server(Behaviour::GoAwayAfter(10), 100);
    let pool = pool(&server, PoolConfig::default());
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { send(&pool).await })
        })
        .collect();
    for t in tasks {
        t.await.expect("task").expect("every request succeeds");
    }
    assert_eq!(server.processed.load(Ordering::Acquire), 50);
    assert_eq!(server.connections.load(Ordering::Acquire), 5);
}

/// A request granted a connection that closed meanwhile is placed again — but not
/// forever when every connection is gone before it can carry anything, and not at all
/// when the connection died of the server breaking the protocol.
#[tokio::test(start_paused = true)]
async fn connections_closed_before_use_do_not_loop_a_request() {
    for (cause, connections) in [(Some(ErrorKind::Protocol), 1), (None, 10)] {
        let server = server(Behaviour::ClosedAtOnce(cause), 100);
        let pool = pool(&server, PoolConfig::default());
        let error = tokio::time::timeout(Duration::from_secs(600), send(&pool))
            .await
            .expect("the request ends, it does not cycle through connections")
            .expect_err("no connection can carry it");
        assert_eq!(
            error.kind(),
            cause.unwrap_or(ErrorKind::ConnectionClosed),
            "{error}"
        );
        assert_eq!(error.delivery(), plexus_core::Delivery::NotSent);
        assert_eq!(server.processed.load(Ordering::Acquire), 0);
        assert_eq!(
            server.connections.load(Ordering::Acquire),
            connections,
            "{cause:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn idle_connections_close_after_the_idle_timeout() {
    let server = server(Behaviour::Answer(Duration::from_millis(1)), 100);
    let config = PoolConfig {
        idle_timeout: Some(Duration::from_secs(90)),
        ..PoolConfig::default()
    };
    let pool = pool(&server, config);
    send(&pool).await.expect("request");
    tokio::time::sleep(Duration::from_secs(89)).await;
    assert_eq!(pool.snapshot().connections.len(), 1);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(pool.snapshot().connections.len(), 0);
    send(&pool).await.expect("request");
    assert_eq!(server.connections.load(Ordering::Acquire), 2);
}
