//! The async driver of one origin's scheduler.
//!
//! Every decision is made by [`Core`] under a short-lived lock that is never held across
//! an `.await`; what the core decides (grant a stream, start connects, close connections,
//! fail waiters) is carried out after the lock is released. Each pooled connection has a
//! watcher task that feeds state and limit changes into the core and retires the
//! connection when it idles out.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Instant;

use futures_util::future::BoxFuture;
use http::{Request, Response};
use plexus_core::{
    is_replay_safe, Body, Connection, ConnectionState, Delivery, Error, ErrorKind, Origin,
    RequestRecord, StreamFacts,
};
use tokio::sync::{oneshot, Notify};
use tracing::Instrument;

use crate::body::LeasedBody;
use crate::config::PoolConfig;
use crate::core::{Acquired, Clock, Core, CoreConfig, LeaseInfo, Outcome, SlotId, WaiterId};
use crate::default_headers::add_defaults;
use crate::events::{CloseReason, EventHook, PoolEvent};
use crate::retry::{self, Attempt};
use crate::snapshot::{ConnectionSnapshot, OriginSnapshot};

/// The current time on tokio's clock (the real clock, except in tests that pause it), so
/// that the core's deadlines and the timers that wake the driver agree.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// [`now`], read when the core first asks for the time, and only then.
#[derive(Default)]
struct LazyNow(Option<Instant>);

impl Clock for LazyNow {
    fn now(&mut self) -> Instant {
        *self.0.get_or_insert_with(now)
    }
}

/// Opens connections to an origin for a [`Pool`].
pub trait Connect<C>: Send + Sync + 'static {
    /// Sets up one connection to `origin`.
    fn connect(&self, origin: &Origin) -> BoxFuture<'static, Result<C, Error>>;
}

impl<C, F> Connect<C> for F
where
    F: Fn(&Origin) -> BoxFuture<'static, Result<C, Error>> + Send + Sync + 'static,
{
    fn connect(&self, origin: &Origin) -> BoxFuture<'static, Result<C, Error>> {
        self(origin)
    }
}

/// A response from the pool, with the record of how its request was carried (boxed:
/// the pair moves through the client's layers, and the record is read rarely).
#[derive(Debug)]
pub struct Delivered<C: Connection> {
    /// The response; its body holds the stream until it ends or is dropped.
    pub response: Response<LeasedBody<C>>,
    /// Connection, attempts, retries and timings of the request.
    pub record: Box<RequestRecord>,
}

/// The scheduler of one origin: it owns that origin's connections and decides which
/// connection carries each request.
pub struct Pool<C: Connection> {
    shared: Arc<Shared<C>>,
}

impl<C: Connection> Clone for Pool<C> {
    fn clone(&self) -> Self {
        Pool {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<C: Connection> fmt::Debug for Pool<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("origin", &format_args!("{}", self.shared.origin))
            .finish()
    }
}

struct Shared<C: Connection> {
    origin: Origin,
    config: PoolConfig,
    connector: Arc<dyn Connect<C>>,
    state: Mutex<State<C>>,
    /// Response heads received from this origin, on any connection: whether the origin
    /// makes progress while a request is being refused.
    responses: AtomicU64,
}

struct State<C: Connection> {
    core: Core<Entry<C>>,
    waiters: HashMap<WaiterId, Answer<C>>,
    peak_in_flight: usize,
    in_flight: usize,
}

/// A pooled connection and the signal that wakes its watcher, shared: every lease holds
/// one, and a count is cheaper to copy than a connection handle. When the last holder
/// lets go (the pool, its watcher and every request done with it), the event hook hears
/// that the connection closed.
struct Entry<C: Connection>(Arc<EntryParts<C>>);

struct EntryParts<C: Connection> {
    conn: C,
    wake_watcher: Notify,
    /// The client, not the server, made it drain (for [`PoolEvent::ConnectionDraining`]).
    retired_by_client: AtomicBool,
    /// Responses it delivered (counted only when an event hook listens).
    requests: AtomicU64,
    events: Option<EventHook>,
    /// Why it left the pool, when its watcher knows better than the connection.
    end: Mutex<Option<CloseReason>>,
}

impl<C: Connection> Entry<C> {
    fn new(conn: C, events: Option<EventHook>) -> Entry<C> {
        Entry(Arc::new(EntryParts {
            conn,
            wake_watcher: Notify::new(),
            retired_by_client: AtomicBool::new(false),
            requests: AtomicU64::new(0),
            events,
            end: Mutex::new(None),
        }))
    }
}

impl<C: Connection> Drop for EntryParts<C> {
    fn drop(&mut self) {
        let Some(hook) = &self.events else { return };
        let told = self.end.get_mut().ok().and_then(Option::take);
        let reason = told.unwrap_or_else(|| {
            let drained = self.conn.drained() || *self.retired_by_client.get_mut();
            match self.conn.close_cause() {
                Some(e) if !drained => CloseReason::Error(e),
                _ => CloseReason::Drained,
            }
        });
        hook.emit(&PoolEvent::ConnectionClosed {
            info: Arc::clone(self.conn.info()),
            reason,
            requests: *self.requests.get_mut(),
        });
    }
}

impl<C: Connection> EntryParts<C> {
    /// Drains the connection at the client's decision (unless it is draining already,
    /// at the server's).
    fn retire(&self) {
        if self.conn.state() == ConnectionState::Ready {
            self.retired_by_client.store(true, Ordering::Release);
        }
        self.conn.close();
        self.wake_watcher.notify_one();
    }
}

impl<C: Connection> std::ops::Deref for Entry<C> {
    type Target = EntryParts<C>;

    fn deref(&self) -> &EntryParts<C> {
        &self.0
    }
}

impl<C: Connection> Clone for Entry<C> {
    fn clone(&self) -> Self {
        Entry(Arc::clone(&self.0))
    }
}

impl<C: Connection + fmt::Debug> fmt::Debug for Entry<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.conn.fmt(f)
    }
}

/// Where a queued request's answer goes.
type Answer<C> = oneshot::Sender<Result<Lease<C>, Error>>;

/// A stream granted to a queued request (whose answer channel may be gone).
type Grant<C> = (Option<Answer<C>>, LeaseInfo<Entry<C>>);

/// What to do once the lock is released.
struct Todo<C: Connection> {
    grants: Vec<Grant<C>>,
    failed: Vec<(Answer<C>, Error)>,
    connects: usize,
    retire: Vec<Entry<C>>,
}

/// One stream granted on a connection; releasing it (drop) frees the stream for the next
/// request.
pub(crate) struct Lease<C: Connection> {
    shared: Arc<Shared<C>>,
    slot: SlotId,
    entry: Entry<C>,
    reused: bool,
}

impl<C: Connection> Lease<C> {
    pub(crate) fn conn(&self) -> &C {
        &self.entry.conn
    }
}

impl<C: Connection> Drop for Lease<C> {
    fn drop(&mut self) {
        let todo = {
            let mut st = self.shared.lock();
            st.in_flight = st.in_flight.saturating_sub(1);
            let conn = &self.entry.conn;
            let out = st.core.release(
                self.slot,
                conn.capacity(),
                conn.state(),
                conn.idle_timeout_hint(),
                LazyNow::default(),
            );
            st.take(out)
        };
        if todo.has_work() {
            self.shared.run(todo);
        }
        // The watcher need not hear of it: its idle timer looks again when it fires (a
        // wake-up per request would cost a task poll and a timer each time).
    }
}

impl<C: Connection> Pool<C> {
    /// A scheduler for `origin` that opens connections with `connector`.
    pub fn new(origin: Origin, config: PoolConfig, connector: Arc<dyn Connect<C>>) -> Pool<C> {
        let core = Core::new(CoreConfig {
            max_multiplexed: config.max_connections_per_origin.max(1),
            max_http1: config.http1_max_connections_per_origin.max(1),
            idle_timeout: config.idle_timeout,
            max_queue: config.max_queue,
        });
        Pool {
            shared: Arc::new(Shared {
                origin,
                config,
                connector,
                state: Mutex::new(State {
                    core,
                    waiters: HashMap::new(),
                    peak_in_flight: 0,
                    in_flight: 0,
                }),
                responses: AtomicU64::new(0),
            }),
        }
    }

    /// The origin this pool serves.
    pub fn origin(&self) -> &Origin {
        &self.shared.origin
    }

    /// Sends `request` on one of this origin's connections, retrying per the
    /// [`RetryPolicy`](crate::RetryPolicy). The response comes with its [`RequestRecord`];
    /// its body holds the stream until it ends or is dropped.
    ///
    /// `started` is when the caller began the request (for the record's timings).
    pub async fn send(
        &self,
        mut request: Request<Body>,
        started: Instant,
    ) -> Result<Delivered<C>, Error> {
        let policy = &self.shared.config.retry;
        let replay_safe = is_replay_safe(&request);
        let mut retries = Vec::new();
        let mut number = 0;
        let mut fruitless = 0;
        let mut responses_seen = self.shared.responses.load(Ordering::Acquire);
        loop {
            number += 1;
            // The copy is taken before the default headers go in: with none of its own,
            // a request's copy costs no header map.
            let backup = retry::try_clone_request(&request);
            // The record keeps the URL: the retry copy's when there is one (it goes unused
            // once a response arrives), else a copy made now.
            let url = backup.is_none().then(|| request.uri().clone());
            let (lease, dispatched) = self
                .acquire(number > 1)
                .await
                .map_err(|e| e.with_origin(&self.shared.origin).with_attempts(number))?;
            add_defaults(
                request.headers_mut(),
                &self.shared.config.default_headers,
                lease.conn().added_headers(),
            );
            let sent = lease.conn().send_request(request).await;
            match sent {
                Ok(response) => {
                    self.shared.responses.fetch_add(1, Ordering::AcqRel);
                    if self.shared.config.events.is_some() {
                        lease.entry.requests.fetch_add(1, Ordering::Relaxed);
                    }
                    let (head, body) = response.into_parts();
                    let url = match (url, backup) {
                        (Some(url), _) => url,
                        (None, Some(b)) => b.into_parts().0.uri,
                        (None, None) => http::Uri::default(),
                    };
                    let record = Box::new(RequestRecord {
                        url,
                        connection: Arc::clone(lease.conn().info()),
                        reused: lease.reused,
                        attempts: number,
                        retries,
                        started,
                        dispatched,
                        headers_received: now(),
                        stream_id: body.stream_id(),
                        early_data: body.early_data(),
                    });
                    return Ok(Delivered {
                        response: Response::from_parts(head, LeasedBody::new(body, lease)),
                        record,
                    });
                }
                Err(failure) => {
                    let (error, returned) = failure.into_parts();
                    // A refusal while the origin keeps answering other requests is the
                    // server rotating connections; one while nothing gets through counts.
                    let seen = self.shared.responses.load(Ordering::Acquire);
                    let progress = seen > responses_seen;
                    responses_seen = seen;
                    if error.delivery() != Delivery::MaybeProcessed && !progress {
                        fruitless += 1;
                    }
                    let attempt = Attempt {
                        number,
                        fruitless,
                        replay_safe,
                        reused: lease.reused,
                    };
                    // The connection's new state (draining, closed) must be known before
                    // the next attempt picks a connection.
                    self.shared.refresh(&lease);
                    drop(lease);
                    let again = retry::should_retry(&error, attempt, policy)
                        .then(|| returned.or(backup))
                        .flatten();
                    match again {
                        Some(r) => {
                            tracing::debug!(attempt = number, error = %error, "retrying request");
                            self.shared.emit(|| PoolEvent::Retry {
                                origin: self.shared.origin.clone(),
                                attempt: number,
                                error: error.clone(),
                            });
                            retries.push(error);
                            request = r;
                        }
                        None => return Err(error.with_attempts(number)),
                    }
                }
            }
        }
    }

    /// Waits for a stream on a connection that is ready now. The core may still count a
    /// connection as ready that has just begun draining (GOAWAY arrives on the
    /// connection's own task, the core hears of it a moment later): such a grant is
    /// handed back, the core updated, and the request placed again at once — unless the
    /// connection died of the server breaking the protocol, or connections keep going
    /// away before carrying anything while the origin answers nothing (a server that
    /// closes each connection as it opens must not loop a request through connections
    /// forever): then the request fails, not sent. Also returns when the stream was
    /// granted.
    async fn acquire(&self, retry: bool) -> Result<(Lease<C>, Instant), Error> {
        let mut front = retry;
        let mut lost = 0;
        let responses_seen = self.shared.responses.load(Ordering::Acquire);
        loop {
            let (lease, at) = self.acquire_once(front).await?;
            if lease.conn().state() == ConnectionState::Ready {
                return Ok((lease, at));
            }
            self.shared.refresh(&lease);
            let cause = lease.conn().close_cause();
            let violated = cause.as_ref().map(Error::kind) == Some(ErrorKind::Protocol);
            let progress = self.shared.responses.load(Ordering::Acquire) > responses_seen;
            lost += 1;
            if violated || (!progress && lost >= self.shared.config.retry.max_unprocessed_attempts)
            {
                let error = cause.unwrap_or_else(|| {
                    Error::new(ErrorKind::ConnectionClosed)
                        .with_message("connections closed before carrying the request")
                });
                return Err(error.with_delivery(Delivery::NotSent));
            }
            front = true;
        }
    }

    /// Waits for a free stream. `retry` puts the request at the front of the queue.
    async fn acquire_once(&self, retry: bool) -> Result<(Lease<C>, Instant), Error> {
        let shared = &self.shared;
        let (waiter, rx) = {
            let mut st = shared.lock();
            let at = now();
            let (acquired, out) = st.core.acquire(at, retry);
            let queued = match acquired {
                Acquired::Now(info) => {
                    st.note_lease();
                    let todo = st.take(out);
                    drop(st);
                    shared.run(todo);
                    return Ok((shared.lease(info), at));
                }
                Acquired::Full => {
                    let todo = st.take(out);
                    drop(st);
                    shared.run(todo);
                    return Err(Error::new(ErrorKind::QueueFull).with_message(format!(
                        "{} requests already waiting",
                        shared.config.max_queue
                    )));
                }
                Acquired::Queued(waiter) => {
                    let (tx, rx) = oneshot::channel();
                    st.waiters.insert(waiter, tx);
                    (waiter, rx)
                }
            };
            let todo = st.take(out);
            drop(st);
            shared.run(todo);
            queued
        };
        let mut guard = QueueSpot {
            shared: Arc::clone(shared),
            waiter,
            queued: true,
        };
        let mut rx = rx;
        let granted: Option<Result<Lease<C>, Error>> = match shared.config.queue_timeout {
            Some(limit) => match tokio::time::timeout(limit, &mut rx).await {
                Ok(answer) => answer.ok(),
                Err(_) => {
                    if guard.leave() {
                        return Err(Error::new(ErrorKind::QueueTimeout)
                            .with_message(format!("no stream free within {limit:?}")));
                    }
                    // Granted or failed just as the time ran out: the answer is already
                    // in the channel.
                    rx.try_recv().ok()
                }
            },
            None => rx.await.ok(),
        };
        guard.queued = false;
        let lease = granted.unwrap_or_else(|| {
            Err(Error::new(ErrorKind::ConnectionClosed).with_message("the pool was shut down"))
        })?;
        Ok((lease, now()))
    }

    /// Counts for observability.
    pub fn snapshot(&self) -> OriginSnapshot {
        let st = self.shared.lock();
        OriginSnapshot {
            origin: self.shared.origin.clone(),
            connections: st
                .core
                .slots()
                .map(|s| ConnectionSnapshot {
                    id: s.id,
                    protocol: s.protocol,
                    state: s.state,
                    in_flight: s.in_flight,
                    max_concurrent: s.max_concurrent,
                    requests_served: s.served,
                })
                .collect(),
            connecting: st.core.connecting(),
            queued: st.core.queued(),
            connections_opened: st.core.opened(),
            opened_by_protocol: st.core.opened_by_protocol(),
            in_flight: st.in_flight,
            peak_in_flight: st.peak_in_flight,
        }
    }

    /// Closes every pooled connection gracefully (in-flight requests finish).
    pub fn close(&self) {
        let entries = self.shared.lock().core.drain_all();
        for e in entries {
            e.retire();
        }
    }
}

/// A request's place in the queue; leaving it (time-out, cancellation) takes it out.
struct QueueSpot<C: Connection> {
    shared: Arc<Shared<C>>,
    waiter: WaiterId,
    queued: bool,
}

impl<C: Connection> QueueSpot<C> {
    /// Leaves the queue; false if the request had already been granted or failed.
    fn leave(&mut self) -> bool {
        if !self.queued {
            return false;
        }
        self.queued = false;
        let mut st = self.shared.lock();
        st.waiters.remove(&self.waiter);
        st.core.cancel(self.waiter)
    }
}

impl<C: Connection> Drop for QueueSpot<C> {
    fn drop(&mut self) {
        self.leave();
    }
}

impl<C: Connection> State<C> {
    fn take(&mut self, out: Outcome<Entry<C>>) -> Todo<C> {
        if out.grants.is_empty() && out.failed.is_empty() {
            // Nearly every lease and release: nothing for a waiter.
            return Todo {
                grants: Vec::new(),
                failed: Vec::new(),
                connects: out.connects,
                retire: out.retire,
            };
        }
        let grants = out
            .grants
            .into_iter()
            .map(|(w, info)| (self.waiters.remove(&w), info))
            .collect::<Vec<_>>();
        for _ in &grants {
            self.note_lease();
        }
        Todo {
            grants,
            failed: out
                .failed
                .into_iter()
                .filter_map(|(w, e)| self.waiters.remove(&w).map(|tx| (tx, e)))
                .collect(),
            connects: out.connects,
            retire: out.retire,
        }
    }

    fn note_lease(&mut self) {
        self.in_flight += 1;
        self.peak_in_flight = self.peak_in_flight.max(self.in_flight);
    }
}

impl<C: Connection> Todo<C> {
    fn has_work(&self) -> bool {
        !self.grants.is_empty()
            || !self.failed.is_empty()
            || self.connects > 0
            || !self.retire.is_empty()
    }
}

impl<C: Connection> Shared<C> {
    fn lock(&self) -> MutexGuard<'_, State<C>> {
        // A panic while holding the lock leaves plain counters behind; keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lease(self: &Arc<Self>, info: LeaseInfo<Entry<C>>) -> Lease<C> {
        Lease {
            shared: Arc::clone(self),
            slot: info.slot,
            entry: info.handle,
            reused: info.reused,
        }
    }

    /// Tells the event hook, if there is one, of the event `make` makes.
    fn emit(&self, make: impl FnOnce() -> PoolEvent) {
        if let Some(hook) = &self.config.events {
            hook.emit(&make());
        }
    }

    /// Carries out the core's decisions. Must be called without the lock held.
    fn run(self: &Arc<Self>, todo: Todo<C>) {
        for (tx, info) in todo.grants {
            let lease = self.lease(info);
            if let Some(tx) = tx {
                // A waiter that went away hands the lease straight back (dropping it).
                let _ = tx.send(Ok(lease));
            }
        }
        for (tx, error) in todo.failed {
            let _ = tx.send(Err(error));
        }
        for _ in 0..todo.connects {
            self.spawn_connect();
        }
        for entry in todo.retire {
            tracing::debug!(conn = %entry.conn.info().id, "retiring connection");
            entry.retire();
        }
    }

    /// Feeds a connection's current state into the core at once.
    fn refresh(self: &Arc<Self>, lease: &Lease<C>) {
        let conn = lease.conn();
        let todo = {
            let mut st = self.lock();
            let out = st.core.update(
                lease.slot,
                conn.capacity(),
                conn.state(),
                conn.idle_timeout_hint(),
                now(),
            );
            st.take(out)
        };
        self.run(todo);
    }

    fn spawn_connect(self: &Arc<Self>) {
        let shared = Arc::clone(self);
        let span = tracing::debug_span!("pool_connect", origin = %self.origin);
        tokio::spawn(
            async move {
                let result = shared.connector.connect(&shared.origin).await;
                let now = now();
                match result {
                    Ok(conn) => {
                        shared.emit(|| PoolEvent::ConnectionOpened {
                            info: Arc::clone(conn.info()),
                        });
                        let slot = conn.info().id.get();
                        let entry = Entry::new(conn.clone(), shared.config.events.clone());
                        let todo = {
                            let mut st = shared.lock();
                            let out = st.core.connected(
                                slot,
                                entry.clone(),
                                conn.info().protocol,
                                conn.capacity(),
                                now,
                            );
                            st.take(out)
                        };
                        shared.run(todo);
                        tokio::spawn(
                            watch(Arc::downgrade(&shared), entry, slot)
                                .instrument(tracing::trace_span!("watch", conn = slot)),
                        );
                    }
                    Err(error) => {
                        tracing::debug!(error = %error, "connect failed");
                        shared.emit(|| PoolEvent::ConnectFailed {
                            origin: shared.origin.clone(),
                            error: error.clone(),
                        });
                        let todo = {
                            let mut st = shared.lock();
                            let out = st.core.connect_failed(&error, now);
                            st.take(out)
                        };
                        shared.run(todo);
                    }
                }
            }
            .instrument(span),
        );
    }
}

impl<C: Connection> Drop for Shared<C> {
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        for e in st.core.drain_all() {
            e.retire();
        }
    }
}

/// Follows one pooled connection: feeds its state and limit changes to the core, and
/// retires it when it has idled past its limit. Holds the pool weakly, so a dropped client
/// does not keep connections alive. Tells `events` when the connection begins draining
/// and when it leaves the pool.
async fn watch<C: Connection>(pool: Weak<Shared<C>>, entry: Entry<C>, slot: SlotId) {
    let mut tell = Lifecycle {
        entry: &entry,
        draining_told: false,
    };
    loop {
        let changed = entry.conn.changed();
        let woken = entry.wake_watcher.notified();
        let Some(shared) = pool.upgrade() else {
            entry.conn.close();
            tell.closed(Some(CloseReason::ClientClosed));
            return;
        };
        let state = entry.conn.state();
        let (deadline, pooled, todo) = {
            let mut st = shared.lock();
            let out = st.core.update(
                slot,
                entry.conn.capacity(),
                state,
                entry.conn.idle_timeout_hint(),
                now(),
            );
            let pooled = st.core.contains(slot);
            (st.core.idle_check_at(slot, now()), pooled, st.take(out))
        };
        shared.run(todo);
        drop(shared);
        if state == ConnectionState::Draining || entry.conn.drained() {
            tell.draining();
        }
        if !pooled {
            tell.closed(None);
            return;
        }
        let idle_timer: Pin<Box<dyn Future<Output = ()> + Send>> = match deadline {
            Some(at) => Box::pin(tokio::time::sleep_until(at.into())),
            None => Box::pin(std::future::pending()),
        };
        tokio::select! {
            () = changed => {}
            () = woken => {}
            () = idle_timer => {
                let Some(shared) = pool.upgrade() else {
                    tell.closed(Some(CloseReason::ClientClosed));
                    return;
                };
                let expired = shared.lock().core.expire_idle(slot, now());
                if let Some(e) = expired {
                    tracing::debug!(conn = slot, "idle timeout: closing connection");
                    e.conn.close();
                    tell.closed(Some(CloseReason::IdleTimeout));
                    return;
                }
            }
        }
    }
}

/// What a watcher tells the event hook about its connection.
struct Lifecycle<'a, C: Connection> {
    entry: &'a Entry<C>,
    draining_told: bool,
}

impl<C: Connection> Lifecycle<'_, C> {
    /// The connection is draining, or has closed after draining (between two looks).
    fn draining(&mut self) {
        let Some(hook) = &self.entry.events else {
            return;
        };
        if std::mem::replace(&mut self.draining_told, true) {
            return;
        }
        hook.emit(&PoolEvent::ConnectionDraining {
            info: Arc::clone(self.entry.conn.info()),
            by_server: !self.entry.retired_by_client.load(Ordering::Acquire),
        });
    }

    /// The connection left the pool; `reason` when the watcher knows it (else it is read
    /// off the connection once the last request is done with it).
    fn closed(&mut self, reason: Option<CloseReason>) {
        if self.entry.events.is_none() {
            return;
        }
        if let (Some(reason), Ok(mut end)) = (reason, self.entry.end.lock()) {
            *end = Some(reason);
        }
    }
}
