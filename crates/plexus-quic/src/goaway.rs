//! The stream id in the server's HTTP/3 GOAWAY.
//!
//! RFC 9114 §5.2: a request on a stream at or above the id in a GOAWAY the server sent was
//! not processed, and may go out again on another connection whatever its method. A
//! server that sent GOAWAY may close the connection before its resets of those streams
//! reach the client; without the id, such a request reads as "maybe processed". The h3
//! crate keeps the id to itself, so [`GoawayTap`] reads it from the server's control
//! stream: it wraps the quinn transport that h3 runs on and scans each unidirectional
//! stream the server opens, passing every byte through to h3 unchanged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use h3::quic::{self, ConnectionErrorIncoming, StreamErrorIncoming, StreamId};

use crate::varint::read_varint;

/// The lowest stream id the server has named in a GOAWAY, if it sent one.
#[derive(Debug)]
pub(crate) struct GoawaySeen(AtomicU64);

impl Default for GoawaySeen {
    fn default() -> GoawaySeen {
        GoawaySeen(AtomicU64::new(u64::MAX))
    }
}

impl GoawaySeen {
    fn record(&self, id: u64) {
        tracing::debug!(last = id, "the server sent GOAWAY");
        self.0.fetch_min(id, Ordering::AcqRel);
    }

    /// The GOAWAY's stream id, if the server sent one.
    pub(crate) fn id(&self) -> Option<u64> {
        match self.0.load(Ordering::Acquire) {
            u64::MAX => None,
            id => Some(id),
        }
    }
}

/// h3-quinn's connection, with the server's unidirectional streams scanned for GOAWAY.
pub(crate) struct GoawayTap {
    inner: h3_quinn::Connection,
    seen: Arc<GoawaySeen>,
}

impl GoawayTap {
    pub(crate) fn new(quic: quinn::Connection, seen: Arc<GoawaySeen>) -> GoawayTap {
        GoawayTap {
            inner: h3_quinn::Connection::new(quic),
            seen,
        }
    }
}

impl<B: Buf> quic::Connection<B> for GoawayTap {
    type RecvStream = ScannedRecvStream;
    type OpenStreams = h3_quinn::OpenStreams;

    fn poll_accept_recv(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<ScannedRecvStream, ConnectionErrorIncoming>> {
        quic::Connection::<B>::poll_accept_recv(&mut self.inner, cx).map_ok(|inner| {
            ScannedRecvStream {
                inner,
                scan: ControlStreamScan::default(),
                seen: Arc::clone(&self.seen),
            }
        })
    }

    fn poll_accept_bidi(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<h3_quinn::BidiStream<B>, ConnectionErrorIncoming>> {
        quic::Connection::<B>::poll_accept_bidi(&mut self.inner, cx)
    }

    fn opener(&self) -> h3_quinn::OpenStreams {
        quic::Connection::<B>::opener(&self.inner)
    }
}

impl<B: Buf> quic::OpenStreams<B> for GoawayTap {
    type BidiStream = h3_quinn::BidiStream<B>;
    type SendStream = h3_quinn::SendStream<B>;

    fn poll_open_bidi(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<h3_quinn::BidiStream<B>, StreamErrorIncoming>> {
        quic::OpenStreams::<B>::poll_open_bidi(&mut self.inner, cx)
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

/// A unidirectional stream from the server, scanned for GOAWAY as h3 reads it.
pub(crate) struct ScannedRecvStream {
    inner: h3_quinn::RecvStream,
    scan: ControlStreamScan,
    seen: Arc<GoawaySeen>,
}

impl quic::RecvStream for ScannedRecvStream {
    type Buf = Bytes;

    fn poll_data(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, StreamErrorIncoming>> {
        let polled = self.inner.poll_data(cx);
        if let Poll::Ready(Ok(Some(chunk))) = &polled {
            for id in self.scan.feed(chunk) {
                self.seen.record(id);
            }
        }
        polled
    }

    fn stop_sending(&mut self, error_code: u64) {
        self.inner.stop_sending(error_code);
    }

    fn recv_id(&self) -> StreamId {
        self.inner.recv_id()
    }
}

/// HTTP/3 stream type of the control stream (RFC 9114 §6.2.1).
const CONTROL_STREAM: u64 = 0x00;
/// HTTP/3 frame type of GOAWAY (RFC 9114 §7.2.6).
const GOAWAY_FRAME: u64 = 0x07;
/// A GOAWAY's payload is one variable-length integer: at most 8 bytes.
const MAX_GOAWAY_PAYLOAD: u64 = 8;

/// Finds GOAWAY frames in a unidirectional stream read chunk by chunk.
#[derive(Debug, Default)]
struct ControlStreamScan {
    /// Bytes read but not yet parsed: at most a frame header or a GOAWAY payload.
    pending: Vec<u8>,
    /// Payload bytes of a frame of no interest still to pass over.
    skip: u64,
    /// The stream type is known and this is the control stream.
    control: bool,
    /// Not the control stream, or malformed (h3 itself reports that): nothing to find.
    done: bool,
}

impl ControlStreamScan {
    /// Takes the next chunk of the stream; returns the ids of the GOAWAYs it completed.
    fn feed(&mut self, chunk: &[u8]) -> Vec<u64> {
        let mut found = Vec::new();
        if self.done {
            return found;
        }
        self.pending.extend_from_slice(chunk);
        while !self.done {
            if self.skip > 0 {
                let n = usize::try_from(self.skip)
                    .unwrap_or(usize::MAX)
                    .min(self.pending.len());
                self.pending.drain(..n);
                self.skip -= n as u64;
                if self.skip > 0 {
                    break;
                }
            }
            if !self.control {
                let Some((stream_type, used)) = varint(&self.pending) else {
                    break;
                };
                self.pending.drain(..used);
                self.control = stream_type == CONTROL_STREAM;
                self.done = !self.control;
                continue;
            }
            let Some((frame_type, type_len)) = varint(&self.pending) else {
                break;
            };
            let Some((length, length_len)) = varint(&self.pending[type_len..]) else {
                break;
            };
            let header = type_len + length_len;
            if frame_type != GOAWAY_FRAME {
                self.pending.drain(..header);
                self.skip = length;
                continue;
            }
            if length > MAX_GOAWAY_PAYLOAD {
                self.done = true;
                break;
            }
            let end = header + length as usize;
            if self.pending.len() < end {
                break;
            }
            match varint(&self.pending[header..end]) {
                Some((id, _)) => found.push(id),
                None => self.done = true,
            }
            self.pending.drain(..end);
        }
        if self.done {
            self.pending = Vec::new();
        }
        found
    }
}

/// A varint at the start of `bytes`, and how many bytes it took; `None` until all of it
/// is there.
fn varint(bytes: &[u8]) -> Option<(u64, usize)> {
    read_varint(bytes).map(|(value, rest)| (value, bytes.len() - rest.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A control stream: its type, SETTINGS, an unknown (grease) frame, GOAWAY(id).
    fn control_stream(goaway_id: u8) -> Vec<u8> {
        let mut s = vec![0x00];
        s.extend([0x04, 0x04, 0x01, 0x40, 0x64, 0x07]);
        s.extend([0x21, 0x03, 0xaa, 0xbb, 0xcc]);
        s.extend([0x07, 0x01, goaway_id]);
        s
    }

    #[test]
    fn finds_goaway_after_other_frames() {
        let mut scan = ControlStreamScan::default();
        assert_eq!(scan.feed(&control_stream(40)), vec![40]);
    }

    #[test]
    fn finds_goaway_split_at_every_byte() {
        let stream = control_stream(36);
        for cut in 0..stream.len() {
            let mut scan = ControlStreamScan::default();
            let mut found = scan.feed(&stream[..cut]);
            found.extend(scan.feed(&stream[cut..]));
            assert_eq!(found, vec![36], "cut at {cut}");
        }
        let mut scan = ControlStreamScan::default();
        let found: Vec<u64> = stream.iter().flat_map(|b| scan.feed(&[*b])).collect();
        assert_eq!(found, vec![36]);
    }

    #[test]
    fn reads_multi_byte_ids_and_successive_goaways() {
        let mut scan = ControlStreamScan::default();
        // GOAWAY(400) as a two-byte varint, then GOAWAY(8).
        let stream = [0x00, 0x07, 0x02, 0x41, 0x90, 0x07, 0x01, 0x08];
        assert_eq!(scan.feed(&stream), vec![400, 8]);
    }

    #[test]
    fn ignores_other_stream_types() {
        // A QPACK encoder stream whose bytes happen to look like GOAWAY.
        let mut scan = ControlStreamScan::default();
        assert!(scan.feed(&[0x02, 0x07, 0x01, 0x04]).is_empty());
        assert!(scan.feed(&[0x07, 0x01, 0x04]).is_empty());
    }

    #[test]
    fn skips_a_large_frame_across_chunks() {
        let mut scan = ControlStreamScan::default();
        // An unknown frame of 300 bytes (two-byte length), fed in pieces, then GOAWAY(4).
        assert!(scan.feed(&[0x00, 0x21, 0x41, 0x2c]).is_empty());
        assert!(scan.feed(&[0u8; 200]).is_empty());
        let mut tail = vec![0u8; 100];
        tail.extend([0x07, 0x01, 0x04]);
        assert_eq!(scan.feed(&tail), vec![4]);
        assert!(scan.pending.is_empty());
    }

    #[test]
    fn stops_at_an_oversized_goaway() {
        let mut scan = ControlStreamScan::default();
        assert!(scan
            .feed(&[0x00, 0x07, 0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0])
            .is_empty());
        assert!(scan.feed(&[0x07, 0x01, 0x04]).is_empty());
    }

    #[test]
    fn seen_keeps_the_lowest_id() {
        let seen = GoawaySeen::default();
        assert_eq!(seen.id(), None);
        seen.record(40);
        seen.record(100);
        assert_eq!(seen.id(), Some(40));
    }
}
