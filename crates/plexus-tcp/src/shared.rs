//! State shared by a connection's handles and its driver task: state, capacity, close
//! cause, and the change signal the scheduler waits on.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use plexus_core::{Capacity, ConnectionInfo, ConnectionState, Delivery, Error, ErrorKind};
use tokio::sync::watch;

const READY: u8 = 0;
const DRAINING: u8 = 1;
const CLOSED: u8 = 2;

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) info: Arc<ConnectionInfo>,
    state: AtomicU8,
    in_flight: AtomicUsize,
    max_concurrent: AtomicUsize,
    limit_known: AtomicBool,
    cause: OnceLock<Error>,
    changed: watch::Sender<()>,
    /// Wakes the driver task when a handle asks for a graceful close.
    pub(crate) driver_waker: AtomicWaker,
    idle_hint: Mutex<Option<Duration>>,
}

impl Shared {
    /// `max_concurrent` is the provisional limit until [`Shared::set_max_concurrent`]
    /// says the peer's own is known (HTTP/1.1 connections know theirs at once).
    pub(crate) fn new(info: ConnectionInfo, max_concurrent: usize) -> Arc<Shared> {
        Arc::new(Shared {
            info: Arc::new(info),
            state: AtomicU8::new(READY),
            in_flight: AtomicUsize::new(0),
            max_concurrent: AtomicUsize::new(max_concurrent),
            limit_known: AtomicBool::new(false),
            cause: OnceLock::new(),
            changed: watch::Sender::new(()),
            driver_waker: AtomicWaker::new(),
            idle_hint: Mutex::new(None),
        })
    }

    pub(crate) fn state(&self) -> ConnectionState {
        match self.state.load(Ordering::Acquire) {
            READY => ConnectionState::Ready,
            DRAINING => ConnectionState::Draining,
            _ => ConnectionState::Closed,
        }
    }

    pub(crate) fn capacity(&self) -> Capacity {
        Capacity {
            in_flight: self.in_flight.load(Ordering::Acquire),
            max_concurrent: self.max_concurrent.load(Ordering::Acquire),
            limit_known: self.limit_known.load(Ordering::Acquire),
        }
    }

    /// Moves the state forward (never back) and records the first cause. Returns true if
    /// the state changed.
    pub(crate) fn advance(&self, to: ConnectionState, cause: impl FnOnce() -> Error) -> bool {
        let target = match to {
            ConnectionState::Ready => return false,
            ConnectionState::Draining => DRAINING,
            ConnectionState::Closed => CLOSED,
        };
        let previous = self.state.fetch_max(target, Ordering::AcqRel);
        if previous >= target {
            return false;
        }
        let cause = cause()
            .with_origin(&self.info.origin)
            .with_protocol(self.info.protocol);
        let _ = self.cause.set(cause);
        tracing::debug!(
            conn = %self.info.id,
            state = ?to,
            cause = %self.cause.get().map(ToString::to_string).unwrap_or_default(),
            "connection state changed"
        );
        self.notify();
        self.driver_waker.wake();
        true
    }

    /// Begins a graceful close: no new requests; those in flight finish.
    pub(crate) fn close_gracefully(&self) {
        self.advance(ConnectionState::Draining, || {
            Error::new(ErrorKind::ConnectionClosed).with_message("closed by the client")
        });
    }

    pub(crate) fn set_max_concurrent(&self, n: usize, known: bool) {
        let was_known = self.limit_known.swap(known, Ordering::AcqRel);
        if self.max_concurrent.swap(n, Ordering::AcqRel) != n || was_known != known {
            tracing::trace!(conn = %self.info.id, max_concurrent = n, "peer stream limit");
            self.notify();
        }
    }

    pub(crate) fn close_cause(&self) -> Option<Error> {
        self.cause.get().cloned()
    }

    /// The error for a request that found the connection no longer ready: it was not sent.
    pub(crate) fn unavailable(&self) -> Error {
        let base = self.close_cause().unwrap_or_else(|| {
            Error::new(ErrorKind::ConnectionClosed).with_message("connection is closing")
        });
        base.with_delivery(Delivery::NotSent)
            .with_origin(&self.info.origin)
            .with_protocol(self.info.protocol)
    }

    pub(crate) fn set_idle_hint(&self, hint: Option<Duration>) {
        if let Ok(mut h) = self.idle_hint.lock() {
            *h = hint;
        }
    }

    pub(crate) fn idle_hint(&self) -> Option<Duration> {
        self.idle_hint.lock().ok().and_then(|h| *h)
    }

    pub(crate) fn changed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.changed.subscribe();
        async move {
            // An error means the connection is gone, which is a change too.
            let _ = rx.changed().await;
        }
    }

    fn notify(&self) {
        self.changed.send_replace(());
    }

    /// Counts one request in flight until the guard drops.
    pub(crate) fn in_flight_guard(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight {
            shared: Arc::clone(self),
        }
    }
}

/// One request counted in flight on a connection.
#[derive(Debug)]
pub(crate) struct InFlight {
    shared: Arc<Shared>,
}

impl InFlight {
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.shared.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}
