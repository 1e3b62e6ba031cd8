//! State a transport's connection handles share with its driver task: state, capacity,
//! close cause, and the change signal a scheduler waits on. Transports build their
//! [`Connection`](crate::Connection) implementation on it.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Poll, Waker};
use std::time::Duration;

use futures_util::task::AtomicWaker;

use crate::connection::{Capacity, ConnectionInfo, ConnectionState};
use crate::error::{Delivery, Error, ErrorKind};

const READY: u8 = 0;
const DRAINING: u8 = 1;
const CLOSED: u8 = 2;

/// The shared half of a connection: cheap handles and the driver task hold it in an
/// `Arc`.
#[derive(Debug)]
pub struct ConnectionShared {
    info: Arc<ConnectionInfo>,
    state: AtomicU8,
    in_flight: AtomicUsize,
    max_concurrent: AtomicUsize,
    limit_known: AtomicBool,
    drained: AtomicBool,
    cause: OnceLock<Error>,
    changes: Signal,
    driver: AtomicWaker,
    /// How long the peer keeps the connection open while idle, in milliseconds
    /// ([`NO_IDLE_HINT`]: not said). An atomic, not a lock: the scheduler reads it on
    /// every request's release.
    idle_hint_ms: AtomicU64,
}

/// `idle_hint_ms` when the peer said nothing.
const NO_IDLE_HINT: u64 = u64::MAX;

impl ConnectionShared {
    /// A ready connection; `max_concurrent` counts as provisional until
    /// [`set_max_concurrent`](Self::set_max_concurrent) says the peer's limit is known.
    pub fn new(info: ConnectionInfo, max_concurrent: usize) -> Arc<ConnectionShared> {
        Arc::new(ConnectionShared {
            info: Arc::new(info),
            state: AtomicU8::new(READY),
            in_flight: AtomicUsize::new(0),
            max_concurrent: AtomicUsize::new(max_concurrent),
            limit_known: AtomicBool::new(false),
            drained: AtomicBool::new(false),
            cause: OnceLock::new(),
            changes: Signal::default(),
            driver: AtomicWaker::new(),
            idle_hint_ms: AtomicU64::new(NO_IDLE_HINT),
        })
    }

    /// Facts fixed at set-up.
    pub fn info(&self) -> &Arc<ConnectionInfo> {
        &self.info
    }

    /// Ready, draining or closed.
    pub fn state(&self) -> ConnectionState {
        match self.state.load(Ordering::Acquire) {
            READY => ConnectionState::Ready,
            DRAINING => ConnectionState::Draining,
            _ => ConnectionState::Closed,
        }
    }

    /// Requests in flight and the peer's limit.
    pub fn capacity(&self) -> Capacity {
        Capacity {
            in_flight: self.in_flight.load(Ordering::Acquire),
            max_concurrent: self.max_concurrent.load(Ordering::Acquire),
            limit_known: self.limit_known.load(Ordering::Acquire),
        }
    }

    /// Moves the state forward (never back) and records the first cause, with the
    /// connection's origin and protocol. Wakes the driver and every `changed()` waiter.
    /// Returns true if the state changed.
    pub fn advance(&self, to: ConnectionState, cause: impl FnOnce() -> Error) -> bool {
        let target = match to {
            ConnectionState::Ready => return false,
            ConnectionState::Draining => DRAINING,
            ConnectionState::Closed => CLOSED,
        };
        if self.state.load(Ordering::Acquire) >= target {
            return false;
        }
        // The cause is recorded before the state is published, so that whoever sees the
        // connection not ready finds why (a request turned away meanwhile carries the
        // server's protocol violation, not a bare "closing").
        if self.cause.get().is_none() {
            let cause = cause()
                .with_origin(&self.info.origin)
                .with_protocol(self.info.protocol);
            let _ = self.cause.set(cause);
        }
        let previous = self.state.fetch_max(target, Ordering::AcqRel);
        if previous >= target {
            return false;
        }
        if target == DRAINING {
            self.drained.store(true, Ordering::Release);
        }
        tracing::debug!(
            conn = %self.info.id,
            state = ?to,
            cause = %self.cause.get().map(ToString::to_string).unwrap_or_default(),
            "connection state changed"
        );
        self.changes.notify();
        self.driver.wake();
        true
    }

    /// Begins a graceful close: no new requests; those in flight finish.
    pub fn close_gracefully(&self) {
        self.advance(ConnectionState::Draining, || {
            Error::new(ErrorKind::ConnectionClosed).with_message("closed by the client")
        });
    }

    /// Publishes the peer's current stream limit, and whether it is the peer's own word
    /// (rather than an assumption made before it spoke).
    pub fn set_max_concurrent(&self, n: usize, known: bool) {
        let was_known = self.limit_known.swap(known, Ordering::AcqRel);
        if self.max_concurrent.swap(n, Ordering::AcqRel) != n || was_known != known {
            tracing::trace!(conn = %self.info.id, max_concurrent = n, known, "peer stream limit");
            self.changes.notify();
        }
    }

    /// Whether the connection began draining before it closed.
    pub fn drained(&self) -> bool {
        self.drained.load(Ordering::Acquire)
    }

    /// Why the connection closed or began draining.
    pub fn close_cause(&self) -> Option<Error> {
        self.cause.get().cloned()
    }

    /// The error for a request that found the connection no longer ready: it was not
    /// sent.
    pub fn unavailable(&self) -> Error {
        let base = self.close_cause().unwrap_or_else(|| {
            Error::new(ErrorKind::ConnectionClosed).with_message("connection is closing")
        });
        base.with_delivery(Delivery::NotSent)
            .with_origin(&self.info.origin)
            .with_protocol(self.info.protocol)
    }

    /// Records how long the peer keeps the connection open while idle (to the
    /// millisecond).
    pub fn set_idle_hint(&self, hint: Option<Duration>) {
        let ms = hint.map_or(NO_IDLE_HINT, |h| {
            u64::try_from(h.as_millis())
                .unwrap_or(NO_IDLE_HINT - 1)
                .min(NO_IDLE_HINT - 1)
        });
        self.idle_hint_ms.store(ms, Ordering::Relaxed);
    }

    /// What [`set_idle_hint`](Self::set_idle_hint) recorded.
    pub fn idle_hint(&self) -> Option<Duration> {
        match self.idle_hint_ms.load(Ordering::Relaxed) {
            NO_IDLE_HINT => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// Resolves once the state or the peer's limit changed after this call.
    pub fn changed(&self) -> impl Future<Output = ()> + Send + 'static {
        self.changes.changed()
    }

    /// Registers the driver task, to be woken when a handle changes the state.
    pub fn register_driver(&self, waker: &Waker) {
        self.driver.register(waker);
    }

    /// Counts one request in flight until the guard drops.
    pub fn in_flight_guard(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight {
            shared: Arc::clone(self),
        }
    }
}

/// One request counted in flight on a connection.
#[derive(Debug)]
pub struct InFlight {
    shared: Arc<ConnectionShared>,
}

impl InFlight {
    /// The connection it counts on.
    pub fn shared(&self) -> &Arc<ConnectionShared> {
        &self.shared
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.shared.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A broadcast "something changed" signal with no runtime behind it: a version counter
/// and the wakers of those waiting for the next version.
#[derive(Debug, Default)]
struct Signal {
    version: Arc<AtomicU64>,
    wakers: Arc<Mutex<Vec<Waker>>>,
}

impl Signal {
    fn notify(&self) {
        self.version.fetch_add(1, Ordering::AcqRel);
        let wakers = self
            .wakers
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default();
        for w in wakers {
            w.wake();
        }
    }

    fn changed(&self) -> impl Future<Output = ()> + Send + 'static {
        let version = Arc::clone(&self.version);
        let wakers = Arc::clone(&self.wakers);
        let seen = version.load(Ordering::Acquire);
        std::future::poll_fn(move |cx| {
            if version.load(Ordering::Acquire) != seen {
                return Poll::Ready(());
            }
            if let Ok(mut w) = wakers.lock() {
                if !w.iter().any(|x| x.will_wake(cx.waker())) {
                    w.push(cx.waker().clone());
                }
            }
            // A notify between the first check and registering would be missed: check
            // again now that the waker is in place.
            if version.load(Ordering::Acquire) != seen {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::{ConnectTimings, ConnectionId, Protocol};
    use crate::origin::{Origin, Scheme};
    use futures_util::FutureExt;
    use std::time::Instant;

    fn shared() -> Arc<ConnectionShared> {
        let now = Instant::now();
        ConnectionShared::new(
            ConnectionInfo {
                id: ConnectionId::next(),
                origin: Origin::new(Scheme::Https, "x.test", 443).expect("origin"),
                protocol: Protocol::Http2,
                remote_addr: "127.0.0.1:443".parse().expect("addr"),
                local_addr: None,
                alpn: None,
                tls: None,
                timings: ConnectTimings {
                    started: now,
                    resolved: now,
                    connected: now,
                    tls_done: None,
                },
                race: None,
                proxy: None,
            },
            1,
        )
    }

    #[test]
    fn state_only_moves_forward_and_keeps_the_first_cause() {
        let s = shared();
        let changed = s.changed();
        assert!(s.advance(ConnectionState::Draining, || Error::new(ErrorKind::Refused)));
        assert!(changed.now_or_never().is_some(), "waiters see the change");
        assert!(!s.advance(ConnectionState::Ready, || Error::new(ErrorKind::Protocol)));
        assert!(s.advance(ConnectionState::Closed, || Error::new(ErrorKind::Protocol)));
        assert!(!s.advance(ConnectionState::Draining, || Error::new(
            ErrorKind::Protocol
        )));
        assert_eq!(s.state(), ConnectionState::Closed);
        assert_eq!(s.close_cause().map(|e| e.kind()), Some(ErrorKind::Refused));
        assert_eq!(s.unavailable().delivery(), Delivery::NotSent);
    }

    #[test]
    fn changed_waits_for_the_next_change_only() {
        let s = shared();
        s.set_max_concurrent(8, true);
        let mut changed = Box::pin(s.changed());
        assert!((&mut changed).now_or_never().is_none());
        s.set_max_concurrent(8, true);
        assert!((&mut changed).now_or_never().is_none(), "no real change");
        s.set_max_concurrent(4, true);
        assert!(changed.now_or_never().is_some());
        let guard = s.in_flight_guard();
        assert_eq!(s.capacity().in_flight, 1);
        drop(guard);
        assert_eq!(s.capacity().in_flight, 0);
    }
}
