//! # plexus-tcp
//!
//! The TCP half of plexus: connect to every resolved address of a host (IPv6 and IPv4
//! raced, Happy Eyeballs style), TLS 1.3/1.2 with rustls offering ALPN `h2, http/1.1`,
//! then an HTTP/2 connection (h2 crate) when the server picks `h2`, or an HTTP/1.1
//! keep-alive connection (hyper's `client::conn::http1`) when it picks `http/1.1` or
//! nothing. Cleartext `http://` speaks HTTP/1.1, or h2c by prior knowledge.
//!
//! Every connection is a [`TcpConnection`], which implements
//! [`plexus_core::Connection`]; the scheduler treats both protocols alike.
//!
//! HTTP/2 flow-control windows default to 4 MiB per stream and 16 MiB per connection, so
//! that one h2 download is not throttled by the 64 KiB protocol default (hyper#1813).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::Either;
use futures_util::FutureExt;
use http::{Request, Response};
use plexus_core::{Body, Capacity, Connection, ConnectionInfo, ConnectionState, Error, SendError};

mod classify;
mod connector;
mod h1;
mod h2;
mod h2_health;
mod h2_pacing;
mod happy_eyeballs;
mod io;
mod keep_alive;
mod tunnel;

pub use connector::{HttpVersionPolicy, TcpConfig, TcpConnector};
pub use h1::{H1Body, H1Settings};
pub use h2::{H2Body, H2Settings};
pub use plexus_core::keep_alive::{has_connection_close, ConnectionHeaders, KeepAliveHeader};
pub use tunnel::ProxyEndpoint;

use plexus_core::ConnectionShared as Shared;

/// One TCP connection speaking HTTP/2 or HTTP/1.1: a cheap handle; the socket belongs to
/// a driver task.
#[derive(Debug, Clone)]
pub struct TcpConnection {
    proto: Proto,
}

#[derive(Debug, Clone)]
enum Proto {
    H1(h1::H1Connection),
    H2(h2::H2Connection),
}

impl TcpConnection {
    fn shared(&self) -> &Arc<Shared> {
        match &self.proto {
            Proto::H1(c) => &c.shared,
            Proto::H2(c) => &c.shared,
        }
    }
}

impl From<h1::H1Connection> for TcpConnection {
    fn from(c: h1::H1Connection) -> TcpConnection {
        TcpConnection {
            proto: Proto::H1(c),
        }
    }
}

impl From<h2::H2Connection> for TcpConnection {
    fn from(c: h2::H2Connection) -> TcpConnection {
        TcpConnection {
            proto: Proto::H2(c),
        }
    }
}

/// The response body of a [`TcpConnection`]: HTTP/1.1 on the left, HTTP/2 on the right.
pub type TcpBody = plexus_core::EitherBody<H1Body, H2Body>;

impl Connection for TcpConnection {
    type ResponseBody = TcpBody;

    fn info(&self) -> &Arc<ConnectionInfo> {
        self.shared().info()
    }

    fn send_request(
        &self,
        request: Request<Body>,
    ) -> impl Future<Output = Result<Response<TcpBody>, SendError>> + Send + 'static {
        match &self.proto {
            Proto::H1(c) => Either::Left(
                c.send_request(request)
                    .map(|r| r.map(|resp| resp.map(TcpBody::Left))),
            ),
            Proto::H2(c) => Either::Right(
                c.send_request(request)
                    .map(|r| r.map(|resp| resp.map(TcpBody::Right))),
            ),
        }
    }

    fn added_headers(&self) -> usize {
        match &self.proto {
            // `Host` (`plexus_core::target::to_http1`).
            Proto::H1(_) => 1,
            Proto::H2(_) => 0,
        }
    }

    fn capacity(&self) -> Capacity {
        self.shared().capacity()
    }

    fn state(&self) -> ConnectionState {
        self.shared().state()
    }

    fn close_cause(&self) -> Option<Error> {
        self.shared().close_cause()
    }

    fn drained(&self) -> bool {
        self.shared().drained()
    }

    fn changed(&self) -> impl Future<Output = ()> + Send + 'static {
        self.shared().changed()
    }

    fn idle_timeout_hint(&self) -> Option<Duration> {
        self.shared().idle_hint()
    }

    fn close(&self) {
        self.shared().close_gracefully();
    }
}
