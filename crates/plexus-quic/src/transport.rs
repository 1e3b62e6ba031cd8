//! The QUIC transport h3 runs on: h3-quinn's, with every stream from the server followed
//! by a [`FrameScan`] as h3 reads it — to record the id in the server's GOAWAY (see
//! [`crate::goaway`]) and to refuse a frame announced over the limit before h3 starts
//! buffering it (see [`crate::frame_scan`]). Every byte passes to h3 unchanged.
//!
//! A frame over the limit on a request stream fails that request (`Protocol`) and asks
//! the server to stop sending on it (`STOP_SENDING(H3_EXCESSIVE_LOAD)`); on the control
//! stream it closes the connection with `H3_EXCESSIVE_LOAD`.

use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use h3::quic::{self, ConnectionErrorIncoming, StreamErrorIncoming, StreamId, WriteBuf};

use crate::frame_scan::{FrameScan, FrameTooLarge, ScannedStream};
use crate::goaway::GoawaySeen;

/// RFC 9114 §8.1: the peer is generating excessive load.
const H3_EXCESSIVE_LOAD: u32 = 0x0107;

/// What every stream's scan reports to (shared: one count per stream).
struct Watch {
    quic: quinn::Connection,
    goaway: Arc<GoawaySeen>,
    /// The oversized control frame the connection was closed over.
    refused: Arc<OnceLock<FrameTooLarge>>,
    frame_limit: u64,
}

/// h3-quinn's connection, its server streams scanned. Streams are opened through an
/// opener of its own, as h3's clones of the opener do.
pub(crate) struct WatchedQuic {
    inner: h3_quinn::Connection,
    opener: WatchedOpener,
}

impl WatchedQuic {
    /// `frame_limit`: the largest non-DATA frame accepted from the server; `refused`
    /// receives the control frame the connection is closed over, if one is.
    pub(crate) fn new(
        quic: quinn::Connection,
        goaway: Arc<GoawaySeen>,
        refused: Arc<OnceLock<FrameTooLarge>>,
        frame_limit: u64,
    ) -> WatchedQuic {
        let inner = h3_quinn::Connection::new(quic.clone());
        let opener = WatchedOpener {
            inner: quic::Connection::<Bytes>::opener(&inner),
            watch: Arc::new(Watch {
                quic,
                goaway,
                refused,
                frame_limit,
            }),
        };
        WatchedQuic { inner, opener }
    }
}

impl<B: Buf> quic::Connection<B> for WatchedQuic {
    type RecvStream = WatchedRecv;
    type OpenStreams = WatchedOpener;

    fn poll_accept_recv(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<WatchedRecv, ConnectionErrorIncoming>> {
        let watch = &self.opener.watch;
        quic::Connection::<B>::poll_accept_recv(&mut self.inner, cx)
            .map_ok(|inner| WatchedRecv::new(inner, ScannedStream::Unidirectional, watch))
    }

    fn poll_accept_bidi(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<WatchedBidi<B>, ConnectionErrorIncoming>> {
        // A client is not offered bidirectional streams; passed on for h3 to refuse.
        let watch = &self.opener.watch;
        quic::Connection::<B>::poll_accept_bidi(&mut self.inner, cx)
            .map_ok(|inner| WatchedBidi::new(inner, watch))
    }

    fn opener(&self) -> WatchedOpener {
        self.opener.clone()
    }
}

impl<B: Buf> quic::OpenStreams<B> for WatchedQuic {
    type BidiStream = WatchedBidi<B>;
    type SendStream = h3_quinn::SendStream<B>;

    fn poll_open_bidi(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<WatchedBidi<B>, StreamErrorIncoming>> {
        self.opener.poll_open_bidi(cx)
    }

    fn poll_open_send(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<h3_quinn::SendStream<B>, StreamErrorIncoming>> {
        self.opener.poll_open_send(cx)
    }

    fn close(&mut self, code: h3::error::Code, reason: &[u8]) {
        quic::OpenStreams::<B>::close(&mut self.opener, code, reason);
    }
}

/// Opens request streams that are scanned.
#[derive(Clone)]
pub(crate) struct WatchedOpener {
    inner: h3_quinn::OpenStreams,
    watch: Arc<Watch>,
}

impl<B: Buf> quic::OpenStreams<B> for WatchedOpener {
    type BidiStream = WatchedBidi<B>;
    type SendStream = h3_quinn::SendStream<B>;

    fn poll_open_bidi(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<WatchedBidi<B>, StreamErrorIncoming>> {
        quic::OpenStreams::<B>::poll_open_bidi(&mut self.inner, cx)
            .map_ok(|inner| WatchedBidi::new(inner, &self.watch))
    }

    fn poll_open_send(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<h3_quinn::SendStream<B>, StreamErrorIncoming>> {
        quic::OpenStreams::<B>::poll_open_send(&mut self.inner, cx)
    }

    fn close(&mut self, code: h3::error::Code, reason: &[u8]) {
        quic::OpenStreams::<B>::close(&mut self.inner, code, reason);
    }
}

/// A request stream whose receiving side is scanned.
pub(crate) struct WatchedBidi<B: Buf> {
    send: h3_quinn::SendStream<B>,
    recv: WatchedRecv,
}

impl<B: Buf> WatchedBidi<B> {
    fn new(inner: h3_quinn::BidiStream<B>, watch: &Arc<Watch>) -> WatchedBidi<B> {
        let (send, recv) = quic::BidiStream::split(inner);
        WatchedBidi {
            send,
            recv: WatchedRecv::new(recv, ScannedStream::Request, watch),
        }
    }
}

impl<B: Buf> quic::BidiStream<B> for WatchedBidi<B> {
    type SendStream = h3_quinn::SendStream<B>;
    type RecvStream = WatchedRecv;

    fn split(self) -> (h3_quinn::SendStream<B>, WatchedRecv) {
        (self.send, self.recv)
    }
}

impl<B: Buf> quic::RecvStream for WatchedBidi<B> {
    type Buf = Bytes;

    fn poll_data(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, StreamErrorIncoming>> {
        self.recv.poll_data(cx)
    }

    fn stop_sending(&mut self, error_code: u64) {
        self.recv.stop_sending(error_code);
    }

    fn recv_id(&self) -> StreamId {
        self.recv.recv_id()
    }
}

impl<B: Buf> quic::SendStream<B> for WatchedBidi<B> {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StreamErrorIncoming>> {
        self.send.poll_ready(cx)
    }

    fn send_data<T: Into<WriteBuf<B>>>(&mut self, data: T) -> Result<(), StreamErrorIncoming> {
        self.send.send_data(data)
    }

    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StreamErrorIncoming>> {
        self.send.poll_finish(cx)
    }

    fn reset(&mut self, reset_code: u64) {
        self.send.reset(reset_code);
    }

    fn send_id(&self) -> StreamId {
        self.send.send_id()
    }
}

/// A stream from the server, scanned as h3 reads it.
pub(crate) struct WatchedRecv {
    inner: h3_quinn::RecvStream,
    scan: FrameScan,
    watch: Arc<Watch>,
}

impl WatchedRecv {
    fn new(inner: h3_quinn::RecvStream, stream: ScannedStream, watch: &Arc<Watch>) -> WatchedRecv {
        WatchedRecv {
            inner,
            scan: FrameScan::new(stream, watch.frame_limit),
            watch: Arc::clone(watch),
        }
    }
}

impl quic::RecvStream for WatchedRecv {
    type Buf = Bytes;

    fn poll_data(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, StreamErrorIncoming>> {
        let polled = self.inner.poll_data(cx);
        let Poll::Ready(Ok(Some(chunk))) = &polled else {
            return polled;
        };
        let scanned = self.scan.feed(chunk);
        for id in scanned.goaways {
            self.watch.goaway.record(id);
        }
        match scanned.too_large {
            None => polled,
            Some(too_large) => {
                tracing::debug!(%too_large, "refusing an oversized HTTP/3 frame");
                self.inner.stop_sending(H3_EXCESSIVE_LOAD.into());
                if too_large.control_stream {
                    let _ = self.watch.refused.set(too_large.clone());
                    self.watch
                        .quic
                        .close(H3_EXCESSIVE_LOAD.into(), b"frame over the client's limit");
                }
                Poll::Ready(Err(StreamErrorIncoming::Unknown(Box::new(too_large))))
            }
        }
    }

    fn stop_sending(&mut self, error_code: u64) {
        self.inner.stop_sending(error_code);
    }

    fn recv_id(&self) -> StreamId {
        self.inner.recv_id()
    }
}
