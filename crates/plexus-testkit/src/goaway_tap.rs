//! Fault injection: a GOAWAY with a chosen last stream id, written into an h2 server's
//! outgoing frames.
//!
//! The h2 crate's server sends GOAWAY only with the highest stream id it has received, so
//! it cannot say "I processed up to stream 199; the 200 streams above it were not
//! processed". This tap sits between the h2 server and its socket, tracks frame
//! boundaries on the write side, and at the next boundary after [`GoawayControl::inject`]
//! writes `GOAWAY(last_stream_id, NO_ERROR)` (or another error code). Once injected, it drops any GOAWAY the
//! library writes itself, so the peer never sees the last stream id go up (which would be
//! a protocol error).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const FRAME_HEADER: usize = 9;
const GOAWAY: u8 = 0x7;

/// Asks a [`GoawayTap`] to send a GOAWAY.
#[derive(Debug, Default)]
pub(crate) struct GoawayControl {
    /// The requested last stream id plus one; 0 while none is requested.
    last_stream_id: AtomicU32,
    error_code: AtomicU32,
}

impl GoawayControl {
    /// Sends GOAWAY with `last_stream_id` at the next frame boundary.
    pub(crate) fn inject(&self, last_stream_id: u32) {
        self.inject_with_error(last_stream_id, 0);
    }

    /// Sends GOAWAY with `last_stream_id` and `error_code` at the next frame boundary.
    pub(crate) fn inject_with_error(&self, last_stream_id: u32, error_code: u32) {
        self.error_code.store(error_code, Ordering::Release);
        self.last_stream_id
            .store((last_stream_id & 0x7fff_ffff) + 1, Ordering::Release);
    }

    fn requested(&self) -> Option<u32> {
        self.last_stream_id.load(Ordering::Acquire).checked_sub(1)
    }
}

/// The write-side frame tap around an h2 server's byte stream.
#[derive(Debug)]
pub(crate) struct GoawayTap<IO> {
    io: IO,
    control: Arc<GoawayControl>,
    pending: BytesMut,
    header: [u8; FRAME_HEADER],
    header_len: usize,
    payload_left: usize,
    dropping: bool,
    injected: bool,
}

impl<IO> GoawayTap<IO> {
    pub(crate) fn new(io: IO, control: Arc<GoawayControl>) -> GoawayTap<IO> {
        GoawayTap {
            io,
            control,
            pending: BytesMut::new(),
            header: [0; FRAME_HEADER],
            header_len: 0,
            payload_left: 0,
            dropping: false,
            injected: false,
        }
    }

    fn at_boundary(&self) -> bool {
        self.header_len == 0 && self.payload_left == 0
    }

    fn maybe_inject(&mut self) {
        if self.injected || !self.at_boundary() {
            return;
        }
        if let Some(last) = self.control.requested() {
            let mut frame = [0u8; FRAME_HEADER + 8];
            frame[2] = 8; // payload length
            frame[3] = GOAWAY;
            frame[9..13].copy_from_slice(&(last & 0x7fff_ffff).to_be_bytes());
            let code = self.control.error_code.load(Ordering::Acquire);
            frame[13..17].copy_from_slice(&code.to_be_bytes());
            self.pending.extend_from_slice(&frame);
            self.injected = true;
            tracing::debug!(last, code, "injected GOAWAY");
        }
    }

    /// Copies `buf` into the pending output, frame by frame.
    fn transform(&mut self, mut buf: &[u8]) {
        while !buf.is_empty() {
            if self.payload_left == 0 && self.header_len < FRAME_HEADER {
                if self.header_len == 0 {
                    self.maybe_inject();
                }
                let n = (FRAME_HEADER - self.header_len).min(buf.len());
                self.header[self.header_len..self.header_len + n].copy_from_slice(&buf[..n]);
                self.header_len += n;
                buf = &buf[n..];
                if self.header_len == FRAME_HEADER {
                    let len = (usize::from(self.header[0]) << 16)
                        | (usize::from(self.header[1]) << 8)
                        | usize::from(self.header[2]);
                    self.dropping = self.injected && self.header[3] == GOAWAY;
                    if !self.dropping {
                        self.pending.extend_from_slice(&self.header);
                    }
                    self.payload_left = len;
                    self.header_len = if len == 0 { 0 } else { FRAME_HEADER };
                }
                continue;
            }
            let n = self.payload_left.min(buf.len());
            if !self.dropping {
                self.pending.extend_from_slice(&buf[..n]);
            }
            self.payload_left -= n;
            buf = &buf[n..];
            if self.payload_left == 0 {
                self.header_len = 0;
                self.dropping = false;
            }
        }
    }
}

impl<IO: AsyncWrite + Unpin> GoawayTap<IO> {
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            match Pin::new(&mut self.io).poll_write(cx, &self.pending) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.pending.advance(n),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for GoawayTap<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for GoawayTap<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        if !this.pending.is_empty() {
            return Poll::Pending;
        }
        this.transform(buf);
        // Push what we can now; the rest goes out with the next write or flush.
        if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.maybe_inject();
        match this.poll_drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.io).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.poll_drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.io).poll_shutdown(cx),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, 0];
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn injects_at_a_boundary_and_drops_later_goaways() {
        let control = Arc::new(GoawayControl::default());
        let mut tap = GoawayTap::new(Vec::<u8>::new(), Arc::clone(&control));
        let data = frame(0x0, 1, b"abcdef");
        // Split a frame across writes; request injection in the middle of it.
        tap.transform(&data[..4]);
        control.inject(199);
        tap.transform(&data[4..]);
        tap.transform(&frame(0x1, 3, b"hh"));
        tap.transform(&frame(GOAWAY, 0, &[0, 0, 1, 0, 0, 0, 0, 0]));
        tap.transform(&frame(0x8, 0, &[0, 0, 0, 1]));
        let out = tap.pending.to_vec();
        let mut expected = data.clone();
        expected.extend(frame(GOAWAY, 0, &[0, 0, 0, 199, 0, 0, 0, 0]));
        expected.extend(frame(0x1, 3, b"hh"));
        expected.extend(frame(0x8, 0, &[0, 0, 0, 1]));
        assert_eq!(out, expected);
    }
}
