//! The HTTP/3 frame scan that follows every stream from the server (GOAWAY ids, the frame
//! size limit): never a panic; the same outcome however the stream is cut into chunks;
//! a refusal names a non-DATA frame over the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;

// plexus-quic pulls in quinn and h3; the scan depends on nothing but its varint reader,
// so the target compiles those two files.
#[allow(dead_code)]
#[path = "../../crates/plexus-quic/src/frame_scan.rs"]
mod frame_scan;
#[allow(dead_code)]
#[path = "../../crates/plexus-quic/src/varint.rs"]
mod varint;

use frame_scan::{FrameScan, FrameTooLarge, ScannedStream};

/// Feeds `chunks` in turn; the GOAWAY ids found until the first refusal, and the refusal.
fn scan(stream: ScannedStream, limit: u64, chunks: &[&[u8]]) -> (Vec<u64>, Option<FrameTooLarge>) {
    let mut scan = FrameScan::new(stream, limit);
    let mut found = Vec::new();
    for chunk in chunks {
        let scanned = scan.feed(chunk);
        found.extend(scanned.goaways);
        if scanned.too_large.is_some() {
            return (found, scanned.too_large);
        }
    }
    (found, None)
}

fuzz_target!(|data: &[u8]| {
    let [kind, limit, cut_a, cut_b, stream @ ..] = data else {
        return;
    };
    let kind = if kind & 1 == 0 {
        ScannedStream::Request
    } else {
        ScannedStream::Unidirectional
    };
    // Limits around the minimum (16 KiB) and small ones, raised to it.
    let limit = u64::from(*limit) * 256;
    let whole = scan(kind, limit, &[stream]);
    let a = usize::from(*cut_a) % (stream.len() + 1);
    let b = a + usize::from(*cut_b) % (stream.len() - a + 1);
    let cut = scan(kind, limit, &[&stream[..a], &stream[a..b], &stream[b..]]);
    assert_eq!(whole, cut, "cut at {a} and {b}");
    let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(whole, scan(kind, limit, &bytewise), "byte by byte");
    if let (_, Some(too_large)) = &whole {
        assert_ne!(too_large.frame_type, 0x00, "DATA is never refused");
        assert!(too_large.length > too_large.limit);
        assert!(too_large.limit >= limit);
    }
    if kind == ScannedStream::Request {
        assert!(
            whole.0.is_empty(),
            "GOAWAY is read on the control stream only"
        );
    }
});
