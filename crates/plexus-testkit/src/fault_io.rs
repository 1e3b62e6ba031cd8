//! Connection-level faults under a test server's protocol stack: a switch that turns a
//! connection into a black hole (nothing read, nothing written, not even PING ACKs) or
//! kills it abruptly (the socket closes as if the server process had died).
//!
//! A black hole is a server program that hangs, not a cut cable: its kernel still takes in
//! what the client sends (the program never sees it) and notices when the client closes,
//! which ends the connection, so that a long run does not pile up frozen connections.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const LIVE: u8 = 0;
const FROZEN: u8 = 1;
const KILLED: u8 = 2;

/// Flips one server connection into a fault.
#[derive(Debug, Default)]
pub(crate) struct FaultSwitch {
    state: AtomicU8,
    /// The connection's reader, woken by a kill so that it notices at once.
    reader: AtomicWaker,
}

impl FaultSwitch {
    /// From now on the connection neither reads nor writes: a black hole.
    pub(crate) fn freeze(&self) {
        self.state.store(FROZEN, Ordering::Release);
    }

    /// From now on every read ends and every write fails: the socket is dropped.
    pub(crate) fn kill(&self) {
        self.state.store(KILLED, Ordering::Release);
        self.reader.wake();
    }

    fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }
}

/// A byte stream whose [`FaultSwitch`] can freeze or kill it.
#[derive(Debug)]
pub(crate) struct Faulty<IO> {
    io: IO,
    switch: Arc<FaultSwitch>,
}

impl<IO> Faulty<IO> {
    pub(crate) fn new(io: IO, switch: Arc<FaultSwitch>) -> Faulty<IO> {
        Faulty { io, switch }
    }

    fn gate<T>(&self, killed: impl FnOnce() -> T) -> Option<Poll<T>> {
        match self.switch.state() {
            LIVE => None,
            // Never woken again: the task sleeps until the server stops.
            FROZEN => Some(Poll::Pending),
            _ => Some(Poll::Ready(killed())),
        }
    }
}

fn reset() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "test fault: connection killed",
    )
}

impl<IO: AsyncRead + Unpin> Faulty<IO> {
    /// Frozen: reads and drops what arrives, until the client closes.
    fn swallow(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut scratch = [0u8; 4096];
        loop {
            let mut sink = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.io).poll_read(cx, &mut sink) {
                Poll::Ready(Ok(())) if !sink.filled().is_empty() => continue,
                Poll::Ready(_) => {
                    self.switch.kill();
                    return Poll::Ready(Err(reset()));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Faulty<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.switch.reader.register(cx.waker());
        if self.switch.state() == FROZEN {
            return self.swallow(cx);
        }
        if let Some(p) = self.gate(|| Err(reset())) {
            return p;
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Faulty<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(p) = self.gate(|| Err(reset())) {
            return p;
        }
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(p) = self.gate(|| Err(reset())) {
            return p;
        }
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(p) = self.gate(|| Err(reset())) {
            return p;
        }
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
