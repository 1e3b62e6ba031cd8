//! Read pacing for HTTP/2: hands a burst of many small responses to h2 a slice at a time,
//! so that the requests they free go out while the rest of the burst is still being read.
//!
//! With many streams in flight, responses arrive in bursts: one read returns a hundred of
//! them. h2's connection task dispatches the whole burst before it yields; only then do
//! the tasks waiting on those responses run and queue their next requests, which the
//! connection task writes on its next turn. The server meanwhile has nothing to do, and
//! client and server take turns instead of working at once (on two cores, a request then
//! costs the client's time *plus* the server's). [`Paced`] watches the frames go by (the
//! 9-byte headers only; payloads are skipped): once a read brings [`BURST`] response
//! heads or more, reads are capped at [`SLICE`] bytes and the connection task yields after
//! each full slice, letting the woken tasks queue their requests, which the connection
//! task writes before it reads on. A read with no response head in a full slice (a bulk
//! download) ends the pacing: large bodies are read whole.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

/// Response heads (HEADERS frames) in one read that make it a burst.
const BURST: u32 = 16;
/// The most bytes handed to h2 per read while pacing: a few dozen small responses.
const SLICE: usize = 2048;

/// HTTP/2's frame type for HEADERS (RFC 9113 §6.2).
const HEADERS: u8 = 0x1;
/// Length of an HTTP/2 frame header (RFC 9113 §4.1).
const FRAME_HEADER: usize = 9;

/// A byte stream from an HTTP/2 server, read in slices while responses come in bursts.
#[derive(Debug)]
pub(crate) struct Paced<IO> {
    io: IO,
    frames: FrameWatch,
    pacing: bool,
    /// The last read filled its slice: yield before the next one.
    yield_next: bool,
}

impl<IO> Paced<IO> {
    pub(crate) fn new(io: IO) -> Paced<IO> {
        Paced {
            io,
            frames: FrameWatch::default(),
            pacing: false,
            yield_next: false,
        }
    }
}

/// Follows the frame boundaries of the bytes read, counting HEADERS frames.
#[derive(Debug, Default)]
struct FrameWatch {
    /// Payload bytes of the current frame still to come.
    payload_left: usize,
    /// The part of a frame header read so far.
    header: [u8; FRAME_HEADER],
    header_len: usize,
}

impl FrameWatch {
    /// Takes in the next bytes of the stream; returns how many HEADERS frames began in them.
    fn feed(&mut self, mut bytes: &[u8]) -> u32 {
        let mut heads = 0;
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let skip = self.payload_left.min(bytes.len());
                self.payload_left -= skip;
                bytes = &bytes[skip..];
                continue;
            }
            let take = (FRAME_HEADER - self.header_len).min(bytes.len());
            self.header[self.header_len..self.header_len + take].copy_from_slice(&bytes[..take]);
            self.header_len += take;
            bytes = &bytes[take..];
            if self.header_len == FRAME_HEADER {
                let [a, b, c, kind, ..] = self.header;
                self.payload_left = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
                if kind == HEADERS {
                    heads += 1;
                }
                self.header_len = 0;
            }
        }
        heads
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Paced<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.yield_next {
            this.yield_next = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let before = buf.filled().len();
        let result = if this.pacing && buf.remaining() > SLICE {
            let mut slice = ReadBuf::new(buf.initialize_unfilled_to(SLICE));
            let result = Pin::new(&mut this.io).poll_read(cx, &mut slice);
            let n = slice.filled().len();
            buf.advance(n);
            result
        } else {
            Pin::new(&mut this.io).poll_read(cx, buf)
        };
        let read = &buf.filled()[before..];
        if read.is_empty() {
            return result;
        }
        let heads = this.frames.feed(read);
        let full = read.len() >= SLICE;
        if this.pacing {
            this.pacing = heads > 0 || !full;
            this.yield_next = this.pacing && full;
        } else {
            this.pacing = heads >= BURST;
        }
        result
    }
}

crate::io::write_through!(Paced);

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, payload: usize) -> Vec<u8> {
        let len = u32::try_from(payload).expect("small");
        let mut f = len.to_be_bytes()[1..].to_vec();
        f.extend_from_slice(&[kind, 0, 0, 0, 0, 1]);
        f.resize(FRAME_HEADER + payload, 0xAB);
        f
    }

    /// Reads once from `paced` into a buffer of `room` bytes: the bytes, or `None` when
    /// the read yielded (Pending, with the task woken at once).
    fn read_once(paced: &mut Paced<&[u8]>, room: usize) -> Option<Vec<u8>> {
        let mut storage = vec![0; room];
        let mut buf = ReadBuf::new(&mut storage);
        let waker = std::task::Waker::noop();
        match Pin::new(paced).poll_read(&mut Context::from_waker(waker), &mut buf) {
            Poll::Ready(Ok(())) => Some(buf.filled().to_vec()),
            Poll::Ready(Err(e)) => panic!("read failed: {e}"),
            Poll::Pending => None,
        }
    }

    fn small_responses(n: usize) -> Vec<u8> {
        (0..n)
            .flat_map(|_| [frame(HEADERS, 30), frame(0x0, 13)].concat())
            .collect()
    }

    #[test]
    fn a_burst_of_responses_is_handed_over_in_slices_and_a_bulk_body_whole() {
        // A burst of 100 small responses (5,100 bytes), then another, then a 1 MB body.
        let first = small_responses(100);
        let second = small_responses(100);
        let bulk = frame(0x0, 1 << 20);
        let stream = [first.clone(), second.clone(), bulk.clone()].concat();
        let mut paced = Paced::new(&stream[..]);
        let room = 64 * 1024;
        // The first burst is read whole: nothing told it apart yet.
        let read = read_once(&mut paced, first.len()).expect("data");
        assert_eq!(read, first);
        // It was a burst: the next one comes a slice at a time, with a yield after each
        // full slice, so that the tasks its responses woke run before the rest is read.
        let mut got = Vec::new();
        let mut yields = 0;
        while got.len() < second.len() {
            match read_once(&mut paced, room.min(second.len() - got.len() + 1)) {
                Some(bytes) => {
                    assert!(bytes.len() <= SLICE, "a slice of {} bytes", bytes.len());
                    got.extend(bytes);
                }
                None => yields += 1,
            }
        }
        assert_eq!(got[..second.len()], second[..]);
        assert_eq!(yields, second.len() / SLICE);
        // A full slice without a response head (a large body) ends the pacing: the rest of
        // the body is read in reads as large as the buffer.
        let mut sizes = Vec::new();
        let mut rest = got.len() - second.len();
        while rest < bulk.len() {
            if let Some(bytes) = read_once(&mut paced, room) {
                rest += bytes.len();
                sizes.push(bytes.len());
            }
        }
        // The slice that showed no response head, then whole reads to the end.
        assert!(sizes[0] <= SLICE, "{sizes:?}");
        let whole = &sizes[1..sizes.len() - 1];
        assert!(whole.iter().all(|&n| n == room), "{sizes:?}");
    }

    #[test]
    fn counts_headers_frames_across_any_split() {
        let mut stream = Vec::new();
        for _ in 0..5 {
            stream.extend(frame(HEADERS, 20));
            stream.extend(frame(0x0, 13));
        }
        stream.extend(frame(0x0, 70_000));
        stream.extend(frame(HEADERS, 0));
        for piece in [1, 2, 7, 9, 10, 100, stream.len()] {
            let mut watch = FrameWatch::default();
            let heads: u32 = stream.chunks(piece).map(|c| watch.feed(c)).sum();
            assert_eq!(heads, 6, "split into pieces of {piece}");
            assert_eq!((watch.payload_left, watch.header_len), (0, 0));
        }
    }
}
