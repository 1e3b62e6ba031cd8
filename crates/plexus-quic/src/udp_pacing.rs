//! Receive pacing for HTTP/3: while small responses arrive in bursts, a burst of
//! datagrams is handed to quinn one datagram at a time, so that the requests the first
//! responses free go out while the rest of the burst is still being read.
//!
//! With many streams in flight, responses come in bursts, and the kernel hands a burst
//! over as one batch (UDP GRO coalesces it). quinn's endpoint task passes the whole batch
//! to the connection task, which takes in every packet before the tasks waiting on those
//! responses run; the requests they queue next go out on the connection task's following
//! turn. Meanwhile the server has nothing to do: client and server take turns instead of
//! working at once. [`PacedUdp`] wraps the endpoint's socket: when responses finish at
//! two or more per datagram received ([`BurstGauge`], fed by the response bodies), a
//! batch is split into its datagrams, handed over one per read with a yield between
//! them. A bulk download finishes far fewer than one response per datagram, so its
//! batches pass through whole, without a copy.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, IoSliceMut};
use std::ops::Range;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, UdpPoller};

/// Datagrams between two decisions on whether to pace.
const WINDOW: u64 = 32;
/// Responses finished per datagram received from which datagrams are handed over one
/// at a time.
const RESPONSES_PER_DATAGRAM: u64 = 2;

/// Responses finished on the connections of one socket.
#[derive(Debug, Default)]
pub(crate) struct BurstGauge {
    responses: AtomicU64,
}

impl BurstGauge {
    /// A response body ended.
    pub(crate) fn response_done(&self) {
        self.responses.fetch_add(1, Ordering::Relaxed);
    }

    fn responses(&self) -> u64 {
        self.responses.load(Ordering::Relaxed)
    }
}

/// A UDP socket that splits receive batches while responses come in bursts.
pub(crate) struct PacedUdp {
    inner: Arc<dyn AsyncUdpSocket>,
    gauge: Arc<BurstGauge>,
    state: Mutex<PaceState>,
}

#[derive(Default)]
struct PaceState {
    pacing: bool,
    /// A datagram was handed over and more wait: yield before the next.
    yield_next: bool,
    /// Datagrams received in the current window, and the responses count when it began.
    window_datagrams: u64,
    window_responses: u64,
    /// Datagrams of a split batch still to hand over: their metadata and bytes in `held`.
    waiting: VecDeque<(RecvMeta, Range<usize>)>,
    held: Vec<u8>,
}

impl fmt::Debug for PacedUdp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacedUdp").finish_non_exhaustive()
    }
}

impl PacedUdp {
    pub(crate) fn new(inner: Arc<dyn AsyncUdpSocket>, gauge: Arc<BurstGauge>) -> PacedUdp {
        PacedUdp {
            inner,
            gauge,
            state: Mutex::default(),
        }
    }
}

impl PaceState {
    /// Counts `datagrams` just received; at the end of a window, decides whether to pace.
    fn count(&mut self, datagrams: u64, responses_now: u64) {
        self.window_datagrams += datagrams;
        if self.window_datagrams >= WINDOW {
            let responses = responses_now.saturating_sub(self.window_responses);
            self.pacing = responses >= RESPONSES_PER_DATAGRAM * self.window_datagrams;
            self.window_datagrams = 0;
            self.window_responses = responses_now;
        }
    }

    /// Keeps the datagrams of the `n` batches just received, to hand over one by one.
    fn hold(&mut self, bufs: &[IoSliceMut<'_>], meta: &[RecvMeta], n: usize) {
        self.held.clear();
        for (batch, m) in bufs.iter().zip(meta).take(n) {
            let stride = m.stride.max(1);
            let mut start = 0;
            while start < m.len {
                let end = (start + stride).min(m.len);
                let at = self.held.len();
                self.held.extend_from_slice(&batch[start..end]);
                let one = RecvMeta {
                    len: end - start,
                    stride: end - start,
                    ..*m
                };
                self.waiting.push_back((one, at..self.held.len()));
                start = end;
            }
        }
    }

    /// Hands the next held datagram over in the first buffer.
    fn hand_over(&mut self, bufs: &mut [IoSliceMut<'_>], meta: &mut [RecvMeta]) -> Option<usize> {
        let (one, range) = self.waiting.pop_front()?;
        let len = range.len();
        bufs[0][..len].copy_from_slice(&self.held[range]);
        meta[0] = one;
        self.yield_next = !self.waiting.is_empty();
        Some(1)
    }
}

impl AsyncUdpSocket for PacedUdp {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        Arc::clone(&self.inner).create_io_poller()
    }

    fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<()> {
        self.inner.try_send(transmit)
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.yield_next {
            state.yield_next = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if let Some(n) = state.hand_over(bufs, meta) {
            return Poll::Ready(Ok(n));
        }
        let polled = self.inner.poll_recv(cx, bufs, meta);
        let Poll::Ready(Ok(n)) = polled else {
            return polled;
        };
        let datagrams: usize = meta
            .iter()
            .take(n)
            .map(|m| m.len.div_ceil(m.stride.max(1)))
            .sum();
        state.count(datagrams as u64, self.gauge.responses());
        if !state.pacing || datagrams < 2 {
            return Poll::Ready(Ok(n));
        }
        state.hold(bufs, meta, n);
        Poll::Ready(Ok(state.hand_over(bufs, meta).unwrap_or(0)))
    }

    fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.inner.local_addr()
    }

    fn max_transmit_segments(&self) -> usize {
        self.inner.max_transmit_segments()
    }

    fn max_receive_segments(&self) -> usize {
        self.inner.max_receive_segments()
    }

    fn may_fragment(&self) -> bool {
        self.inner.may_fragment()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch_meta(len: usize, stride: usize) -> RecvMeta {
        RecvMeta {
            len,
            stride,
            ecn: None,
            ..RecvMeta::default()
        }
    }

    #[test]
    fn paces_only_while_responses_outnumber_datagrams() {
        let mut state = PaceState::default();
        // A bulk download: 32 datagrams, no response finished.
        state.count(32, 0);
        assert!(!state.pacing);
        // A burst of small responses: 70 finished over the next 32 datagrams.
        state.count(20, 40);
        assert!(!state.pacing, "decided at the end of a window only");
        state.count(12, 70);
        assert!(state.pacing);
        // Back to large bodies: one response in a window.
        state.count(40, 71);
        assert!(!state.pacing);
    }

    #[test]
    fn a_batch_is_handed_over_one_datagram_at_a_time() {
        let mut state = PaceState::default();
        // Two batches as the kernel gives them: three datagrams of up to 100 bytes
        // coalesced (the last one short), and a single one.
        let first: Vec<u8> = (0..250u32).map(|i| (i % 251) as u8).collect();
        let second = vec![7u8; 60];
        let mut a = first.clone();
        a.resize(400, 0);
        let mut b = second.clone();
        b.resize(400, 0);
        let bufs = [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)];
        let meta = [batch_meta(250, 100), batch_meta(60, 60)];
        state.hold(&bufs, &meta, 2);
        let mut out = vec![0u8; 400];
        let mut spare = vec![0u8; 400];
        let mut got = Vec::new();
        loop {
            let mut bufs = [IoSliceMut::new(&mut out), IoSliceMut::new(&mut spare)];
            let mut metas = [RecvMeta::default(); 2];
            let Some(n) = state.hand_over(&mut bufs, &mut metas) else {
                break;
            };
            assert_eq!(n, 1);
            assert_eq!(metas[0].len, metas[0].stride, "one datagram each");
            got.push((bufs[0][..metas[0].len].to_vec(), state.yield_next));
        }
        let lens: Vec<usize> = got.iter().map(|(d, _)| d.len()).collect();
        assert_eq!(lens, [100, 100, 50, 60]);
        let joined: Vec<u8> = got.iter().flat_map(|(d, _)| d.clone()).collect();
        assert_eq!(joined, [first, second].concat());
        // A yield after each datagram but the last.
        let yields: Vec<bool> = got.iter().map(|(_, y)| *y).collect();
        assert_eq!(yields, [true, true, true, false]);
    }
}
