//! The connection types the client schedules: TCP (h2 or HTTP/1.1) or QUIC (h3), behind
//! one enum that implements [`Connection`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::Either;
use futures_util::FutureExt;
use http::{Request, Response};
use plexus_core::{
    Body, Capacity, Connection, ConnectionInfo, ConnectionState, Error, Race, SendError,
};
use plexus_quic::{QuicBody, QuicConnection};
use plexus_tcp::{TcpBody, TcpConnection};

/// When to speak HTTP/3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Http3Mode {
    /// Never.
    Off,
    /// When an earlier response from the origin advertised h3 in `Alt-Svc` (RFC 7838):
    /// then QUIC is raced against TCP. The default, as in browsers.
    #[default]
    AltSvc,
    /// For every `https` origin, as if it had advertised h3: QUIC raced against TCP,
    /// falling back to TCP if QUIC fails (curl's `--http3`).
    PriorKnowledge,
    /// HTTP/3 only: no TCP at all; a QUIC failure is the request's error (curl's
    /// `--http3-only`).
    Only,
}

/// A connection of either transport, with its facts (including how it won a race, which
/// only the client knows).
#[derive(Debug, Clone)]
pub(crate) struct AnyConnection {
    transport: Transport,
    info: Arc<ConnectionInfo>,
}

#[derive(Debug, Clone)]
enum Transport {
    Tcp(TcpConnection),
    Quic(QuicConnection),
}

impl AnyConnection {
    pub(crate) fn tcp(c: TcpConnection, race: Option<Race>) -> AnyConnection {
        let info = with_race(c.info(), race);
        AnyConnection {
            transport: Transport::Tcp(c),
            info,
        }
    }

    pub(crate) fn quic(c: QuicConnection, race: Option<Race>) -> AnyConnection {
        let info = with_race(c.info(), race);
        AnyConnection {
            transport: Transport::Quic(c),
            info,
        }
    }
}

fn with_race(info: &Arc<ConnectionInfo>, race: Option<Race>) -> Arc<ConnectionInfo> {
    match race {
        None => Arc::clone(info),
        Some(race) => {
            let mut info = (**info).clone();
            info.race = Some(race);
            Arc::new(info)
        }
    }
}

/// The response body of an [`AnyConnection`]: TCP on the left, QUIC on the right.
pub(crate) type AnyBody = plexus_core::EitherBody<TcpBody, QuicBody>;

impl Connection for AnyConnection {
    type ResponseBody = AnyBody;

    fn info(&self) -> &Arc<ConnectionInfo> {
        &self.info
    }

    fn send_request(
        &self,
        request: Request<Body>,
    ) -> impl Future<Output = Result<Response<AnyBody>, SendError>> + Send + 'static {
        match &self.transport {
            Transport::Tcp(c) => Either::Left(
                c.send_request(request)
                    .map(|r| r.map(|resp| resp.map(AnyBody::Left))),
            ),
            Transport::Quic(c) => Either::Right(
                c.send_request(request)
                    .map(|r| r.map(|resp| resp.map(AnyBody::Right))),
            ),
        }
    }

    fn added_headers(&self) -> usize {
        match &self.transport {
            Transport::Tcp(c) => c.added_headers(),
            Transport::Quic(c) => c.added_headers(),
        }
    }

    fn capacity(&self) -> Capacity {
        match &self.transport {
            Transport::Tcp(c) => c.capacity(),
            Transport::Quic(c) => c.capacity(),
        }
    }

    fn state(&self) -> ConnectionState {
        match &self.transport {
            Transport::Tcp(c) => c.state(),
            Transport::Quic(c) => c.state(),
        }
    }

    fn close_cause(&self) -> Option<Error> {
        match &self.transport {
            Transport::Tcp(c) => c.close_cause(),
            Transport::Quic(c) => c.close_cause(),
        }
    }

    fn drained(&self) -> bool {
        match &self.transport {
            Transport::Tcp(c) => c.drained(),
            Transport::Quic(c) => c.drained(),
        }
    }

    fn changed(&self) -> impl Future<Output = ()> + Send + 'static {
        match &self.transport {
            Transport::Tcp(c) => Either::Left(c.changed()),
            Transport::Quic(c) => Either::Right(c.changed()),
        }
    }

    fn idle_timeout_hint(&self) -> Option<Duration> {
        match &self.transport {
            Transport::Tcp(c) => c.idle_timeout_hint(),
            Transport::Quic(c) => c.idle_timeout_hint(),
        }
    }

    fn close(&self) {
        match &self.transport {
            Transport::Tcp(c) => c.close(),
            Transport::Quic(c) => c.close(),
        }
    }
}
