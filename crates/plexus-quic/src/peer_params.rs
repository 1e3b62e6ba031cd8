//! The peer's stream limit, read from its QUIC transport parameters.
//!
//! quinn enforces the peer's stream credit but does not say what it is; the scheduler
//! needs the number to queue requests beyond it (as with h2's MAX_CONCURRENT_STREAMS).
//! The peer announces `initial_max_streams_bidi` in its transport parameters during the
//! handshake, and servers keep replenishing credit as streams finish, so that value is
//! the connection's concurrency limit. quinn hands the parameters to its crypto session;
//! this module wraps the session to read them as they pass.

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use quinn::crypto::{
    self, ExportKeyingMaterialError, HeaderKey, KeyPair, Keys, PacketKey, Session,
};
use quinn::{ConnectError, ConnectionId, Side};
use quinn_proto::transport_parameters::TransportParameters;
use quinn_proto::TransportError;

use crate::varint::read_varint;

/// The transport parameter id of `initial_max_streams_bidi` (RFC 9000 §18.2).
const INITIAL_MAX_STREAMS_BIDI: u64 = 0x08;

/// What the peer announced, filled in during the handshake.
#[derive(Debug, Default)]
pub(crate) struct PeerParams {
    /// `initial_max_streams_bidi` plus one; 0 while unknown.
    max_streams_bidi: AtomicU64,
}

impl PeerParams {
    /// The peer's bidirectional stream limit, once its transport parameters were read.
    pub(crate) fn max_streams_bidi(&self) -> Option<u64> {
        match self.max_streams_bidi.load(Ordering::Acquire) {
            0 => None,
            n => Some(n - 1),
        }
    }

    fn record(&self, params: &TransportParameters) {
        let mut encoded = Vec::new();
        params.write(&mut encoded);
        let value = find_varint_param(&encoded, INITIAL_MAX_STREAMS_BIDI).unwrap_or(0);
        self.max_streams_bidi
            .store(value.saturating_add(1), Ordering::Release);
    }
}

/// A crypto configuration that records the peer's transport parameters in `params`.
pub(crate) struct TappedConfig {
    pub(crate) inner: Arc<dyn crypto::ClientConfig>,
    pub(crate) params: Arc<PeerParams>,
}

impl crypto::ClientConfig for TappedConfig {
    fn start_session(
        self: Arc<Self>,
        version: u32,
        server_name: &str,
        params: &TransportParameters,
    ) -> Result<Box<dyn Session>, ConnectError> {
        let inner = Arc::clone(&self.inner).start_session(version, server_name, params)?;
        Ok(Box::new(TappedSession {
            inner,
            params: Arc::clone(&self.params),
        }))
    }
}

struct TappedSession {
    inner: Box<dyn Session>,
    params: Arc<PeerParams>,
}

impl Session for TappedSession {
    fn initial_keys(&self, dst_cid: &ConnectionId, side: Side) -> Keys {
        self.inner.initial_keys(dst_cid, side)
    }

    fn handshake_data(&self) -> Option<Box<dyn Any>> {
        self.inner.handshake_data()
    }

    fn peer_identity(&self) -> Option<Box<dyn Any>> {
        self.inner.peer_identity()
    }

    fn early_crypto(&self) -> Option<(Box<dyn HeaderKey>, Box<dyn PacketKey>)> {
        self.inner.early_crypto()
    }

    fn early_data_accepted(&self) -> Option<bool> {
        self.inner.early_data_accepted()
    }

    fn is_handshaking(&self) -> bool {
        self.inner.is_handshaking()
    }

    fn read_handshake(&mut self, buf: &[u8]) -> Result<bool, TransportError> {
        self.inner.read_handshake(buf)
    }

    fn transport_parameters(&self) -> Result<Option<TransportParameters>, TransportError> {
        let params = self.inner.transport_parameters();
        if let Ok(Some(p)) = &params {
            self.params.record(p);
        }
        params
    }

    fn write_handshake(&mut self, buf: &mut Vec<u8>) -> Option<Keys> {
        self.inner.write_handshake(buf)
    }

    fn next_1rtt_keys(&mut self) -> Option<KeyPair<Box<dyn PacketKey>>> {
        self.inner.next_1rtt_keys()
    }

    fn is_valid_retry(&self, orig_dst_cid: &ConnectionId, header: &[u8], payload: &[u8]) -> bool {
        self.inner.is_valid_retry(orig_dst_cid, header, payload)
    }

    fn export_keying_material(
        &self,
        output: &mut [u8],
        label: &[u8],
        context: &[u8],
    ) -> Result<(), ExportKeyingMaterialError> {
        self.inner.export_keying_material(output, label, context)
    }
}

/// The value of the varint transport parameter `id` in an encoded parameter list
/// (`id`, `length`, `value` triples, RFC 9000 §18).
fn find_varint_param(mut buf: &[u8], id: u64) -> Option<u64> {
    while !buf.is_empty() {
        let (param, rest) = read_varint(buf)?;
        let (len, rest) = read_varint(rest)?;
        let len = usize::try_from(len).ok()?;
        let value = rest.get(..len)?;
        if param == id {
            return read_varint(value).map(|(v, _)| v);
        }
        buf = rest.get(len..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_parameter_among_others() {
        // max_idle_timeout (0x01) = 30000, initial_max_streams_bidi (0x08) = 100.
        let encoded = [0x01, 0x04, 0x80, 0x00, 0x75, 0x30, 0x08, 0x02, 0x40, 0x64];
        assert_eq!(find_varint_param(&encoded, 0x08), Some(100));
        assert_eq!(find_varint_param(&encoded, 0x01), Some(30_000));
        assert_eq!(find_varint_param(&encoded, 0x09), None);
        assert_eq!(
            find_varint_param(&[0x08, 0x05, 0x01], 0x08),
            None,
            "truncated"
        );
    }

    #[test]
    fn reads_what_quinn_decodes_and_encodes_again() {
        // initial_max_streams_bidi (0x08) = 8, initial_max_data (0x04) = 1 MiB.
        let wire = [0x08, 0x01, 0x08, 0x04, 0x04, 0x80, 0x10, 0x00, 0x00];
        let params = TransportParameters::read(Side::Client, &mut &wire[..])
            .expect("valid transport parameters");
        let tap = PeerParams::default();
        assert_eq!(tap.max_streams_bidi(), None);
        tap.record(&params);
        assert_eq!(tap.max_streams_bidi(), Some(8));
    }
}
