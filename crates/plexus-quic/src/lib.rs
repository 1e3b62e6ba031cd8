//! # plexus-quic
//!
//! HTTP/3 over QUIC for plexus, on quinn, h3 and h3-quinn, behind the same
//! [`plexus_core::Connection`] trait as HTTP/2: the scheduler treats both alike. The peer's
//! stream credit (`initial_max_streams_bidi` from its transport parameters) is the
//! connection's capacity, so requests beyond it queue in the scheduler's FIFO queue just
//! as they do beyond h2's `MAX_CONCURRENT_STREAMS`.
//!
//! One quinn endpoint (one UDP socket) per address family serves every connection of a
//! [`QuicConnector`]. The TLS configuration is cloned from the client's base one, so QUIC
//! and TLS-over-TCP share the session store.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use http::{Request, Response};
use plexus_core::{Body, Capacity, Connection, ConnectionInfo, ConnectionState, Error, SendError};

mod connection;
mod connector;
mod frame_scan;
mod goaway;
mod peer_params;
mod transport;
mod udp_pacing;
mod varint;

pub use connection::{PathFailureHook, QuicBody, QuicConnection};
pub use connector::{QuicConfig, QuicConnector};

impl Connection for QuicConnection {
    type ResponseBody = QuicBody;

    fn info(&self) -> &Arc<ConnectionInfo> {
        self.shared.info()
    }

    fn send_request(
        &self,
        request: Request<Body>,
    ) -> impl Future<Output = Result<Response<QuicBody>, SendError>> + Send + 'static {
        QuicConnection::send_request(self, request).boxed()
    }

    fn capacity(&self) -> Capacity {
        self.shared.capacity()
    }

    fn state(&self) -> ConnectionState {
        self.shared.state()
    }

    fn close_cause(&self) -> Option<Error> {
        self.shared.close_cause()
    }

    fn drained(&self) -> bool {
        self.shared.drained()
    }

    fn changed(&self) -> impl Future<Output = ()> + Send + 'static {
        self.shared.changed()
    }

    fn idle_timeout_hint(&self) -> Option<Duration> {
        None
    }

    fn close(&self) {
        self.shared.close_gracefully();
    }
}
