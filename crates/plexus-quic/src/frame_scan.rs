//! Follows the HTTP/3 frames on a stream from the server as h3 reads it, to learn what
//! the h3 crate does not tell (the id in a GOAWAY on the control stream) and to stop what
//! it does not (a frame whose announced length is over the limit).
//!
//! The h3 crate decodes a frame only once all of it has arrived, buffering it meanwhile:
//! a server announcing a 1 GiB HEADERS frame (or one of an unknown type, which h3 skips
//! only once it is whole) would have the client hold 1 GiB. [`FrameScan`] reads each
//! frame header as it passes and refuses any frame but DATA (which h3 streams) whose
//! length is over the limit — the largest response head the client accepts
//! (`SETTINGS_MAX_FIELD_SECTION_SIZE`), at least [`MIN_FRAME_LIMIT`].
//!
//! Payload bytes are skipped in place; only frame headers (and a GOAWAY's payload) are
//! copied, so a bulk download pays a few bytes of copying per DATA frame.

use std::fmt;

use crate::varint::read_varint;

/// The smallest frame limit whatever the field section limit: SETTINGS and unknown frames
/// of a few KiB are legitimate.
pub(crate) const MIN_FRAME_LIMIT: u64 = 16 * 1024;
/// HTTP/3 stream type of the control stream (RFC 9114 §6.2.1).
const CONTROL_STREAM: u64 = 0x00;
/// HTTP/3 frame types (RFC 9114 §7.2).
const DATA_FRAME: u64 = 0x00;
const GOAWAY_FRAME: u64 = 0x07;
/// A GOAWAY's payload is one variable-length integer: at most 8 bytes.
const MAX_GOAWAY_PAYLOAD: u64 = 8;
/// Bytes held while parsing: a frame header (two varints) and a GOAWAY payload.
const WINDOW: usize = 24;

/// Which stream is scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScannedStream {
    /// A request stream: frames from the first byte.
    Request,
    /// A unidirectional stream the server opened: its type first; only the control
    /// stream carries frames (QPACK streams carry instructions, others h3 ignores).
    Unidirectional,
}

/// A frame over the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FrameTooLarge {
    pub(crate) frame_type: u64,
    pub(crate) length: u64,
    pub(crate) limit: u64,
    pub(crate) control_stream: bool,
}

impl fmt::Display for FrameTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the server announced an HTTP/3 frame (type {:#x}) of {} bytes on its {} stream, \
             over the {}-byte limit",
            self.frame_type,
            self.length,
            if self.control_stream {
                "control"
            } else {
                "request"
            },
            self.limit
        )
    }
}

impl std::error::Error for FrameTooLarge {}

/// What a chunk completed: GOAWAY ids, then perhaps a frame over the limit (after which
/// the scan is over).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Scanned {
    pub(crate) goaways: Vec<u64>,
    pub(crate) too_large: Option<FrameTooLarge>,
}

/// The state of one stream's scan.
#[derive(Debug)]
pub(crate) struct FrameScan {
    limit: u64,
    /// Bytes read but not yet parsed: at most [`WINDOW`].
    pending: Vec<u8>,
    /// Payload bytes still to pass over.
    skip: u64,
    /// A unidirectional stream whose type is not known yet.
    type_unknown: bool,
    control: bool,
    /// Nothing more to find: not a framed stream, or malformed, or over the limit.
    done: bool,
}

impl FrameScan {
    pub(crate) fn new(stream: ScannedStream, limit: u64) -> FrameScan {
        FrameScan {
            limit: limit.max(MIN_FRAME_LIMIT),
            pending: Vec::new(),
            skip: 0,
            type_unknown: stream == ScannedStream::Unidirectional,
            control: false,
            done: false,
        }
    }

    /// Takes the next chunk of the stream.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> Scanned {
        let mut found = Scanned::default();
        let mut rest = chunk;
        while !self.done {
            if self.skip > 0 {
                let n = clamp(self.skip, self.pending.len());
                self.pending.drain(..n);
                self.skip -= n as u64;
                let n = clamp(self.skip, rest.len());
                rest = &rest[n..];
                self.skip -= n as u64;
                if self.skip > 0 {
                    break;
                }
            }
            let room = WINDOW - self.pending.len();
            let n = room.min(rest.len());
            self.pending.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            match self.step() {
                Ok(Step::Advanced) => {}
                Ok(Step::Goaway(id)) => found.goaways.push(id),
                Ok(Step::NeedMore) if rest.is_empty() => break,
                // A full window that does not parse.
                Ok(Step::NeedMore) => self.done = true,
                Err(too_large) => {
                    self.done = true;
                    found.too_large = Some(too_large);
                }
            }
        }
        if self.done {
            self.pending = Vec::new();
        }
        found
    }

    /// Parses what `pending` starts with.
    fn step(&mut self) -> Result<Step, FrameTooLarge> {
        if self.type_unknown {
            let Some((stream_type, used)) = varint(&self.pending) else {
                return Ok(Step::NeedMore);
            };
            self.pending.drain(..used);
            self.type_unknown = false;
            self.control = stream_type == CONTROL_STREAM;
            self.done = !self.control;
            return Ok(Step::Advanced);
        }
        let Some((frame_type, type_len)) = varint(&self.pending) else {
            return Ok(Step::NeedMore);
        };
        let Some((length, length_len)) = varint(&self.pending[type_len..]) else {
            return Ok(Step::NeedMore);
        };
        let header = type_len + length_len;
        if frame_type != DATA_FRAME && length > self.limit {
            return Err(FrameTooLarge {
                frame_type,
                length,
                limit: self.limit,
                control_stream: self.control,
            });
        }
        if !(self.control && frame_type == GOAWAY_FRAME) {
            self.pending.drain(..header);
            self.skip = length;
            return Ok(Step::Advanced);
        }
        if length > MAX_GOAWAY_PAYLOAD {
            // Malformed; h3 itself reports that.
            self.done = true;
            return Ok(Step::Advanced);
        }
        let end = header + length as usize;
        if self.pending.len() < end {
            return Ok(Step::NeedMore);
        }
        let id = varint(&self.pending[header..end]).map(|(id, _)| id);
        self.pending.drain(..end);
        match id {
            Some(id) => Ok(Step::Goaway(id)),
            None => {
                self.done = true;
                Ok(Step::Advanced)
            }
        }
    }
}

enum Step {
    Advanced,
    NeedMore,
    Goaway(u64),
}

/// `want` bytes, as far as `available` goes.
fn clamp(want: u64, available: usize) -> usize {
    usize::try_from(want).unwrap_or(usize::MAX).min(available)
}

/// A varint at the start of `bytes`, and how many bytes it took; `None` until all of it
/// is there.
fn varint(bytes: &[u8]) -> Option<(u64, usize)> {
    read_varint(bytes).map(|(value, rest)| (value, bytes.len() - rest.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: u64 = 64 * 1024;

    fn control() -> FrameScan {
        FrameScan::new(ScannedStream::Unidirectional, LIMIT)
    }

    /// GOAWAY ids found, the scan being fine.
    fn ok(scanned: Scanned) -> Vec<u64> {
        assert_eq!(scanned.too_large, None);
        scanned.goaways
    }

    /// The frame refused.
    fn refused(scanned: Scanned) -> FrameTooLarge {
        scanned.too_large.expect("a frame over the limit")
    }

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
        assert_eq!(ok(control().feed(&control_stream(40))), vec![40]);
    }

    #[test]
    fn finds_goaway_split_at_every_byte() {
        let stream = control_stream(36);
        for cut in 0..stream.len() {
            let mut scan = control();
            let mut found = ok(scan.feed(&stream[..cut]));
            found.extend(ok(scan.feed(&stream[cut..])));
            assert_eq!(found, vec![36], "cut at {cut}");
        }
        let mut scan = control();
        let found: Vec<u64> = stream.iter().flat_map(|b| ok(scan.feed(&[*b]))).collect();
        assert_eq!(found, vec![36]);
    }

    #[test]
    fn reads_multi_byte_ids_and_successive_goaways() {
        // GOAWAY(400) as a two-byte varint, then GOAWAY(8).
        let stream = [0x00, 0x07, 0x02, 0x41, 0x90, 0x07, 0x01, 0x08];
        assert_eq!(ok(control().feed(&stream)), vec![400, 8]);
    }

    #[test]
    fn ignores_other_stream_types() {
        // A QPACK encoder stream whose bytes happen to look like GOAWAY, or a frame
        // header over the limit.
        let mut scan = control();
        assert_eq!(ok(scan.feed(&[0x02, 0x07, 0x01, 0x04])), Vec::<u64>::new());
        assert_eq!(ok(scan.feed(&[0x07, 0x01, 0x04])), Vec::<u64>::new());
        assert_eq!(
            ok(scan.feed(&[0x01, 0xbf, 0xff, 0xff, 0xff])),
            Vec::<u64>::new()
        );
    }

    #[test]
    fn skips_a_large_frame_across_chunks() {
        let mut scan = control();
        // An unknown frame of 300 bytes (two-byte length), fed in pieces, then GOAWAY(4).
        assert_eq!(ok(scan.feed(&[0x00, 0x21, 0x41, 0x2c])), Vec::<u64>::new());
        assert_eq!(ok(scan.feed(&[0u8; 200])), Vec::<u64>::new());
        let mut tail = vec![0u8; 100];
        tail.extend([0x07, 0x01, 0x04]);
        assert_eq!(ok(scan.feed(&tail)), vec![4]);
        assert!(scan.pending.is_empty());
    }

    #[test]
    fn stops_at_an_oversized_goaway() {
        let mut scan = control();
        assert_eq!(
            ok(scan.feed(&[0x00, 0x07, 0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0])),
            Vec::<u64>::new()
        );
        assert_eq!(ok(scan.feed(&[0x07, 0x01, 0x04])), Vec::<u64>::new());
    }

    #[test]
    fn refuses_frames_over_the_limit_but_data() {
        // HEADERS of 1 GiB (an eight-byte length) on a request stream.
        let mut scan = FrameScan::new(ScannedStream::Request, LIMIT);
        let err = refused(scan.feed(&[0x01, 0xc0, 0, 0, 0, 0x40, 0, 0, 0]));
        assert_eq!(err.frame_type, 0x01);
        assert_eq!(err.length, 1 << 30);
        assert!(!err.control_stream);
        // After it, the scan is done.
        assert_eq!(ok(scan.feed(&[0x01, 0x01, 0x00])), Vec::<u64>::new());

        // DATA of any length passes; the frames after it are still checked.
        let mut scan = FrameScan::new(ScannedStream::Request, LIMIT);
        assert_eq!(
            ok(scan.feed(&[0x01, 0x01, 0x88, 0x00, 0x80, 0x10, 0, 0])),
            Vec::<u64>::new()
        );
        assert_eq!(ok(scan.feed(&vec![0u8; 1 << 20])), Vec::<u64>::new());
        assert_eq!(scan.skip, 0);
        let err = refused(scan.feed(&[0x21, 0x80, 0x10, 0, 0]));
        assert_eq!(err.length, 1 << 20);

        // On the control stream, split across chunks.
        let mut scan = control();
        assert_eq!(
            ok(scan.feed(&[0x00, 0x04, 0x00, 0x21, 0x80])),
            Vec::<u64>::new()
        );
        let err = refused(scan.feed(&[0x10, 0, 0]));
        assert!(err.control_stream);
    }

    #[test]
    fn a_small_limit_is_raised_to_the_minimum() {
        let mut scan = FrameScan::new(ScannedStream::Request, 100);
        // A 10 KiB unknown frame passes.
        assert_eq!(ok(scan.feed(&[0x21, 0x68, 0x00])), Vec::<u64>::new());
        assert_eq!(scan.skip, 10 * 1024);
    }

    #[test]
    fn a_goaway_before_an_oversized_frame_in_one_chunk_is_kept() {
        // Found by the h3_frames fuzz target: fed whole, the GOAWAY was lost with the
        // refusal; fed byte by byte, it was not.
        let mut scan = FrameScan::new(ScannedStream::Unidirectional, 0);
        let scanned = scan.feed(&[0x00, 0x07, 0x01, 0x2e, 0x21, 0xb0, 0, 0, 0x7a]);
        assert_eq!(scanned.goaways, vec![0x2e]);
        assert!(scanned.too_large.is_some());
    }
}
