//! How the client gets a new connection to an origin: which transport the HTTP/3 policy,
//! the Alt-Svc cache and the broken-h3 memory allow, and the race between QUIC and TCP.
//!
//! An origin a proxy covers is reached over TCP through the proxy, never raced (QUIC
//! cannot cross an HTTP proxy), unless the mode is [`Http3Mode::Only`].
//!
//! The race (when h3 is a candidate): QUIC starts first; TCP starts after a head start
//! (default 300 ms, what Chromium waits when it knows no RTT; curl waits 100-200 ms); the
//! first connection ready wins and carries the request. A QUIC failure at any point marks
//! h3 broken for the origin (back-off from 5 minutes) and TCP carries on, with no error
//! surfaced. When TCP wins, the QUIC attempt is left to finish in the background so that
//! a failure is remembered; a QUIC connection that completes anyway is closed (the origin's
//! next connection will race again and likely pick it).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use plexus_core::{Error, ErrorKind, Origin, Protocol, Race};
use plexus_quic::{QuicConnection, QuicConnector};
use plexus_tcp::{HttpVersionPolicy, TcpConnector};

use crate::alt_svc_cache::AltSvcCache;
use crate::h3_broken::BrokenH3;
use crate::proxy::Proxies;
use crate::transport::{AnyConnection, Http3Mode};

/// What opens connections, and the memory that decides between them.
#[derive(Debug)]
pub(crate) struct Connectors {
    pub(crate) tcp: TcpConnector,
    pub(crate) quic: QuicConnector,
    pub(crate) http3: Http3Mode,
    pub(crate) race_head_start: Duration,
    pub(crate) alt_svc: AltSvcCache,
    pub(crate) broken: Arc<BrokenH3>,
    pub(crate) proxies: Proxies,
}

type QuicAttempt = Pin<Box<dyn Future<Output = Result<QuicConnection, Error>> + Send>>;

impl Connectors {
    /// A new connection to `origin`, following `http3` (the client's mode or the
    /// request's).
    pub(crate) async fn connect(
        &self,
        origin: &Origin,
        policy: HttpVersionPolicy,
        http3: Http3Mode,
    ) -> Result<AnyConnection, Error> {
        self.connect_inner(origin, policy, http3).await
    }

    async fn connect_inner(
        &self,
        origin: &Origin,
        policy: HttpVersionPolicy,
        http3: Http3Mode,
    ) -> Result<AnyConnection, Error> {
        if http3 == Http3Mode::Only {
            if !origin.is_tls() {
                return Err(Error::new(ErrorKind::UnsupportedScheme)
                    .with_message("HTTP/3 needs an https:// URL")
                    .with_origin(origin));
            }
            return self
                .quic
                .connect(origin)
                .await
                .map(|c| AnyConnection::quic(c, None));
        }
        if let Some(proxy) = self.proxies.for_origin(origin) {
            // QUIC cannot go through an HTTP proxy: TCP only.
            return self
                .tcp
                .connect_via(origin, policy, Some(proxy))
                .await
                .map(|c| AnyConnection::tcp(c, None));
        }
        match self.h3_target(origin, http3) {
            Some(via) => self.race(origin, via, policy).await,
            None => self
                .tcp
                .connect(origin, policy)
                .await
                .map(|c| AnyConnection::tcp(c, None)),
        }
    }

    /// Where to try HTTP/3 for `origin`, if anywhere.
    fn h3_target(&self, origin: &Origin, http3: Http3Mode) -> Option<(String, u16)> {
        if !origin.is_tls() || self.broken.is_broken(origin) {
            return None;
        }
        match http3 {
            Http3Mode::Off | Http3Mode::Only => None,
            Http3Mode::AltSvc => self.alt_svc.h3(origin),
            Http3Mode::PriorKnowledge => Some((origin.host().to_string(), origin.port())),
        }
    }

    fn quic_attempt(&self, origin: &Origin, via: (String, u16)) -> QuicAttempt {
        let quic = self.quic.clone();
        let origin = origin.clone();
        Box::pin(async move {
            let via = (via.0.as_str(), via.1);
            quic.connect_via(&origin, Some(via)).await
        })
    }

    async fn race(
        &self,
        origin: &Origin,
        via: (String, u16),
        policy: HttpVersionPolicy,
    ) -> Result<AnyConnection, Error> {
        let started = Instant::now();
        let head_start = self.race_head_start;
        let record = |winner: Protocol, loser: String| Race {
            winner,
            head_start,
            won_after: started.elapsed(),
            loser,
        };
        let tcp_won = |c: plexus_tcp::TcpConnection, loser: String| {
            let protocol = plexus_core::Connection::info(&c).protocol;
            AnyConnection::tcp(c, Some(record(protocol, loser)))
        };
        let mut quic = self.quic_attempt(origin, via);

        // QUIC alone for the head start.
        tokio::select! {
            result = &mut quic => {
                return match result {
                    Ok(c) => {
                        self.broken.confirm(origin);
                        Ok(AnyConnection::quic(c, Some(record(Protocol::Http3, "TCP not needed".into()))))
                    }
                    Err(e) => {
                        let backoff = self.broken.mark(origin);
                        let c = self.tcp.connect(origin, policy).await?;
                        let why = format!("QUIC failed ({e}); HTTP/3 off for {backoff:?}");
                        Ok(tcp_won(c, why))
                    }
                };
            }
            () = tokio::time::sleep(head_start) => {}
        }

        // Both.
        let tcp = self.tcp.connect(origin, policy);
        tokio::pin!(tcp);
        tokio::select! {
            result = &mut quic => match result {
                Ok(c) => {
                    self.broken.confirm(origin);
                    Ok(AnyConnection::quic(c, Some(record(Protocol::Http3, "TCP attempt cancelled".into()))))
                }
                Err(e) => {
                    let backoff = self.broken.mark(origin);
                    let c = tcp.await?;
                    let why = format!("QUIC failed ({e}); HTTP/3 off for {backoff:?}");
                    Ok(tcp_won(c, why))
                }
            },
            result = &mut tcp => match result {
                Ok(c) => {
                    // Let QUIC finish, to learn whether it works.
                    let broken = Arc::clone(&self.broken);
                    let origin = origin.clone();
                    tokio::spawn(async move {
                        match quic.await {
                            Ok(q) => {
                                broken.confirm(&origin);
                                plexus_core::Connection::close(&q);
                            }
                            Err(e) => {
                                tracing::debug!(%origin, error = %e, "QUIC lost the race and failed");
                                broken.mark(&origin);
                            }
                        }
                    });
                    Ok(tcp_won(c, "QUIC still connecting".into()))
                }
                Err(tcp_error) => match quic.await {
                    Ok(c) => {
                        self.broken.confirm(origin);
                        Ok(AnyConnection::quic(c, Some(record(Protocol::Http3, format!("TCP failed ({tcp_error})")))))
                    }
                    Err(_) => {
                        self.broken.mark(origin);
                        Err(tcp_error)
                    }
                },
            },
        }
    }
}
