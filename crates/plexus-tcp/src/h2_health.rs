//! HTTP/2 connection health: PING a connection the server has been silent on, and retire
//! it when the PING goes unanswered.
//!
//! Every byte read from the socket marks the server as heard from ([`Heard`], updated by
//! the [`Listening`] wrapper around the socket). When nothing has been read for the
//! keep-alive interval — idle or with streams waiting — the driver sends a PING; if
//! neither its ACK arrives within the keep-alive timeout, the connection is declared dead.
//! While a PING is outstanding, new requests wait for its answer instead of being written
//! to a connection that may be a black hole ([`Probing`]): a request that finds the
//! connection dead goes to another connection unsent.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use h2::PingPong;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

/// When the server was last heard from: milliseconds since the connection's epoch.
#[derive(Debug)]
pub(crate) struct Heard {
    epoch: Instant,
    at_ms: AtomicU64,
}

impl Heard {
    pub(crate) fn new() -> Arc<Heard> {
        Arc::new(Heard {
            epoch: Instant::now(),
            at_ms: AtomicU64::new(0),
        })
    }

    fn mark(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.at_ms.fetch_max(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.epoch + Duration::from_millis(self.at_ms.load(Ordering::Relaxed))
    }
}

/// A byte stream that marks [`Heard`] on every read that returns data.
#[derive(Debug)]
pub(crate) struct Listening<IO> {
    io: IO,
    heard: Arc<Heard>,
}

impl<IO> Listening<IO> {
    pub(crate) fn new(io: IO, heard: Arc<Heard>) -> Listening<IO> {
        Listening { io, heard }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Listening<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.heard.mark();
        }
        result
    }
}

crate::io::write_through!(Listening);

/// Whether a health PING is outstanding; requests wait while it is. Every request looks
/// (an atomic load: a watch channel's receiver, cloned and locked per request, cost a
/// dozen atomic operations); only a request that finds a PING out waits.
#[derive(Debug, Default)]
pub(crate) struct Probing {
    outstanding: AtomicBool,
    settled: Notify,
}

impl Probing {
    /// A PING is out and unanswered.
    pub(crate) fn outstanding(&self) -> bool {
        self.outstanding.load(Ordering::Acquire)
    }

    /// Waits until no PING is outstanding: answered, or the keep-alive gone with its
    /// connection.
    pub(crate) async fn settled(&self) {
        loop {
            let settled = self.settled.notified();
            let mut settled = std::pin::pin!(settled);
            settled.as_mut().enable();
            if !self.outstanding() {
                return;
            }
            settled.await;
        }
    }

    fn set(&self, outstanding: bool) {
        self.outstanding.store(outstanding, Ordering::Release);
        if !outstanding {
            self.settled.notify_waiters();
        }
    }
}

/// The connection missed its PING: how long it had been silent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dead {
    pub(crate) silent_for: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Listening,
    Pinging,
}

/// The keep-alive state machine, polled by the connection's driver.
pub(crate) struct KeepAlive {
    interval: Duration,
    timeout: Duration,
    heard: Arc<Heard>,
    phase: Phase,
    timer: Pin<Box<Sleep>>,
    probing: Arc<Probing>,
}

impl Drop for KeepAlive {
    /// The connection's driver is gone (after marking the connection closed, if the PING
    /// went unanswered): requests waiting on the PING go on, to find out.
    fn drop(&mut self) {
        self.probing.set(false);
    }
}

impl KeepAlive {
    pub(crate) fn new(interval: Duration, timeout: Duration, heard: Arc<Heard>) -> KeepAlive {
        let first = heard.last() + interval;
        KeepAlive {
            interval,
            timeout,
            heard,
            phase: Phase::Listening,
            timer: Box::pin(tokio::time::sleep_until(first)),
            probing: Arc::default(),
        }
    }

    /// What tells requests to wait while a PING is outstanding.
    pub(crate) fn probing(&self) -> Arc<Probing> {
        Arc::clone(&self.probing)
    }

    /// Sends PINGs as silence requires; ready when a PING went unanswered.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>, ping: &mut PingPong) -> Poll<Dead> {
        loop {
            match self.phase {
                Phase::Listening => {
                    if self.timer.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    let due = self.heard.last() + self.interval;
                    if due > Instant::now() {
                        self.timer.as_mut().reset(due);
                        continue;
                    }
                    if ping.send_ping(h2::Ping::opaque()).is_err() {
                        // A PING is already in flight (or the connection is closing):
                        // look again after another interval.
                        self.timer.as_mut().reset(Instant::now() + self.interval);
                        continue;
                    }
                    tracing::trace!("server silent for the keep-alive interval: PING");
                    self.phase = Phase::Pinging;
                    self.probing.set(true);
                    self.timer.as_mut().reset(Instant::now() + self.timeout);
                }
                Phase::Pinging => {
                    if ping.poll_pong(cx).is_ready() {
                        self.phase = Phase::Listening;
                        self.probing.set(false);
                        self.timer.as_mut().reset(Instant::now() + self.interval);
                        continue;
                    }
                    if self.timer.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    return Poll::Ready(Dead {
                        silent_for: Instant::now().saturating_duration_since(self.heard.last()),
                    });
                }
            }
        }
    }
}
