//! HTTP/3 connections on quinn + h3.
//!
//! A [`QuicConnection`] is a cheap handle (an h3 `SendRequest` and the shared state); a
//! driver task polls h3's connection (control and QPACK streams) until it closes. The
//! peer's stream limit comes from its transport parameters (see `peer_params`).

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Buf, Bytes};
use h3::error::{Code, ConnectionError as H3ConnectionError, StreamError};
use http::{Request, Response};
use http_body::{Body as _, Frame, SizeHint};
use plexus_core::{
    Body, ConnectTimings, ConnectionId, ConnectionInfo, ConnectionShared, ConnectionState,
    Delivery, Error, ErrorKind, InFlight, Origin, Protocol, SendError, TlsInfo,
};
use tracing::Instrument;

use crate::connector::QuicConfig;
use crate::frame_scan::FrameTooLarge;
use crate::goaway::GoawaySeen;
use crate::peer_params::PeerParams;
use crate::transport::{WatchedOpener, WatchedQuic, WatchedRecv};
use crate::udp_pacing::BurstGauge;

type H3Send = h3::client::SendRequest<WatchedOpener, Bytes>;
type H3RecvStream = h3::client::RequestStream<WatchedRecv, Bytes>;
type H3SendStream = h3::client::RequestStream<h3_quinn::SendStream<Bytes>, Bytes>;

/// A handle to one HTTP/3 connection.
#[derive(Clone)]
pub struct QuicConnection {
    pub(crate) shared: Arc<ConnectionShared>,
    sender: H3Send,
    link: Link,
    handshake: Arc<Handshake>,
}

/// The QUIC connection under the HTTP/3 one, with what its failures are judged by.
#[derive(Clone)]
struct Link {
    quic: quinn::Connection,
    path: Arc<PathWatch>,
    goaway: Arc<GoawaySeen>,
    /// Set when the client closed the connection over an oversized control frame.
    refused: Arc<OnceLock<FrameTooLarge>>,
    /// Told of every response that ends, for the socket's receive pacing.
    bursts: Arc<BurstGauge>,
}

/// What a connection reports to: the connector's path-failure hook, and its socket's
/// receive pacing.
pub(crate) struct Watchers {
    pub(crate) path_failure: Option<PathFailureHook>,
    pub(crate) bursts: Arc<BurstGauge>,
}

/// Called with the origin when a QUIC connection's network path fails.
pub type PathFailureHook = Arc<dyn Fn(&Origin) + Send + Sync>;

/// Reports a connection's path failure once, to the connector's hook.
pub(crate) struct PathWatch {
    hook: Option<PathFailureHook>,
    fired: std::sync::atomic::AtomicBool,
}

impl PathWatch {
    pub(crate) fn new(hook: Option<PathFailureHook>) -> PathWatch {
        PathWatch {
            hook,
            fired: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

/// The connection ended: records why (with the peer's reason phrase), and reports a path
/// failure (no answer until the idle timeout, a transport error) to the hook — at once,
/// in the task that saw it, so that a request re-sent because of it already knows.
fn ended(shared: &ConnectionShared, link: &Link, h3_end: Option<&H3ConnectionError>) {
    let Link { quic, path, .. } = link;
    let failed = matches!(
        quic.close_reason(),
        Some(
            quinn::ConnectionError::TimedOut
                | quinn::ConnectionError::TransportError(_)
                | quinn::ConnectionError::Reset
        )
    );
    if failed && !path.fired.swap(true, std::sync::atomic::Ordering::AcqRel) {
        if let Some(hook) = &path.hook {
            hook(&shared.info().origin);
        }
    }
    shared.advance(ConnectionState::Closed, || closed_cause(link, h3_end));
}

/// The pending outcome of a connection opened in 0-RTT.
pub(crate) struct EarlyDataOutcome {
    /// Resolves when the handshake completes: true if the server took the early data.
    pub(crate) accepted: quinn::ZeroRttAccepted,
    /// Where to remember an origin that rejected early data.
    pub(crate) rejected_by: Arc<std::sync::Mutex<std::collections::HashSet<Origin>>>,
}

/// Whether the handshake has completed, and how early data fared.
#[derive(Debug, Default)]
struct Handshake {
    /// 0: in progress (requests may go in 0-RTT); 1: done, early data accepted or none
    /// sent; 2: done, early data rejected; 3: the connection failed before the handshake
    /// completed.
    state: std::sync::atomic::AtomicU8,
    done: tokio::sync::Notify,
}

impl Handshake {
    const PENDING: u8 = 0;
    const DONE: u8 = 1;
    const REJECTED: u8 = 2;
    const FAILED: u8 = 3;

    fn complete() -> Handshake {
        Handshake {
            state: std::sync::atomic::AtomicU8::new(Self::DONE),
            done: tokio::sync::Notify::new(),
        }
    }

    fn state(&self) -> u8 {
        self.state.load(std::sync::atomic::Ordering::Acquire)
    }

    fn finish(&self, state: u8) {
        self.state
            .store(state, std::sync::atomic::Ordering::Release);
        self.done.notify_waiters();
    }

    /// Waits until the handshake is over; returns how it ended.
    async fn wait(&self) -> u8 {
        loop {
            let notified = self.done.notified();
            match self.state() {
                Self::PENDING => notified.await,
                s => return s,
            }
        }
    }
}

impl std::fmt::Debug for QuicConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuicConnection")
            .field("id", &self.shared.info().id)
            .field("state", &self.shared.state())
            .finish_non_exhaustive()
    }
}

/// A QUIC handshake that did not complete.
pub(crate) fn handshake_error(e: quinn::ConnectionError) -> Error {
    let kind = match &e {
        quinn::ConnectionError::TimedOut => ErrorKind::ConnectTimeout,
        quinn::ConnectionError::TransportError(t) if is_crypto_error(t) => ErrorKind::Tls,
        quinn::ConnectionError::ConnectionClosed(c)
            if c.error_code.to_string().contains("CRYPTO") =>
        {
            ErrorKind::Tls
        }
        _ => ErrorKind::Connect,
    };
    Error::new(kind)
        .with_message(format!("QUIC handshake failed: {e}"))
        .with_source(e)
        .with_protocol(Protocol::Http3)
}

fn is_crypto_error(t: &quinn_proto::TransportError) -> bool {
    t.code.to_string().contains("CRYPTO")
}

/// Runs HTTP/3 on an established QUIC connection and spawns its driver.
pub(crate) async fn establish(
    quic: quinn::Connection,
    origin: &Origin,
    (started, resolved): (Instant, Instant),
    params: Arc<PeerParams>,
    config: &QuicConfig,
    early: Option<EarlyDataOutcome>,
    watchers: Watchers,
) -> Result<QuicConnection, Error> {
    let link = Link {
        quic,
        path: Arc::new(PathWatch::new(watchers.path_failure)),
        goaway: Arc::default(),
        refused: Arc::default(),
        bursts: watchers.bursts,
    };
    let quic = &link.quic;
    let connected = Instant::now();
    let alpn = quic
        .handshake_data()
        .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
        .and_then(|d| d.protocol)
        .map(|p| String::from_utf8_lossy(&p).into_owned())
        // In 0-RTT the handshake is still under way: the ticket's ALPN, which is h3.
        .or_else(|| Some("h3".to_string()));
    let info = ConnectionInfo {
        id: ConnectionId::next(),
        origin: origin.clone(),
        protocol: Protocol::Http3,
        remote_addr: quic.remote_address(),
        local_addr: None,
        alpn,
        tls: Some(TlsInfo {
            version: "TLSv1.3".to_string(),
            cipher_suite: String::new(),
            // quinn does not say whether a ticket was accepted; a connection opened in
            // 0-RTT used one.
            resumed: early.is_some(),
        }),
        timings: ConnectTimings {
            started,
            resolved,
            // QUIC sets up transport and TLS in one handshake.
            connected,
            tls_done: Some(connected),
        },
        race: None,
        proxy: None,
    };
    let (mut driver, sender) = h3::client::builder()
        .max_field_section_size(config.max_field_section_size)
        .build::<_, _, Bytes>(WatchedQuic::new(
            quic.clone(),
            Arc::clone(&link.goaway),
            Arc::clone(&link.refused),
            config.max_field_section_size,
        ))
        .await
        .map_err(|e| {
            Error::new(ErrorKind::Protocol)
                .with_message("HTTP/3 set-up failed")
                .with_source(e)
                .with_origin(origin)
                .with_protocol(Protocol::Http3)
        })?;
    let limit = params
        .max_streams_bidi()
        .map_or(1, |n| usize::try_from(n).unwrap_or(usize::MAX))
        .min(config.max_concurrent_streams)
        .max(1);
    let shared = ConnectionShared::new(info, limit);
    shared.set_max_concurrent(limit, params.max_streams_bidi().is_some());
    tracing::debug!(
        conn = %shared.info().id,
        remote = %shared.info().remote_addr,
        max_streams = limit,
        setup_ms = shared.info().timings.total().as_secs_f64() * 1e3,
        "HTTP/3 connection ready"
    );
    let span = tracing::debug_span!(
        "connection",
        id = shared.info().id.get(),
        origin = %origin,
        protocol = "h3",
    );
    let driver_shared = Arc::clone(&shared);
    let driver_link = link.clone();
    tokio::spawn(
        async move {
            let end = poll_fn(|cx| {
                driver_shared.register_driver(cx.waker());
                driver.poll_close(cx)
            })
            .await;
            ended(&driver_shared, &driver_link, Some(&end));
        }
        .instrument(span),
    );
    let handshake = match early {
        None => Arc::new(Handshake::complete()),
        Some(outcome) => {
            let handshake = Arc::new(Handshake::default());
            tokio::spawn(watch_early_data(
                outcome,
                Arc::clone(&handshake),
                Arc::clone(&shared),
                link.clone(),
            ));
            handshake
        }
    };
    Ok(QuicConnection {
        shared,
        sender,
        link,
        handshake,
    })
}

/// Waits for the end of a 0-RTT handshake. If the server rejected the early data, the
/// connection ends: the HTTP/3 streams opened in 0-RTT (control and requests alike) are
/// lost, the requests sent early were not processed and go out again on a fresh
/// connection, and the origin is not asked for 0-RTT again. If the connection failed
/// instead (no answer), that is a failed QUIC attempt, not a rejection.
async fn watch_early_data(
    outcome: EarlyDataOutcome,
    handshake: Arc<Handshake>,
    shared: Arc<ConnectionShared>,
    link: Link,
) {
    let quic = &link.quic;
    if outcome.accepted.await {
        handshake.finish(Handshake::DONE);
        return;
    }
    if quic.close_reason().is_some() {
        ended(&shared, &link, None);
        handshake.finish(Handshake::FAILED);
        return;
    }
    tracing::debug!(origin = %shared.info().origin, "the server rejected 0-RTT early data");
    if let Ok(mut r) = outcome.rejected_by.lock() {
        r.insert(shared.info().origin.clone());
    }
    shared.advance(ConnectionState::Closed, early_data_rejected);
    quic.close(0u32.into(), b"0-RTT rejected");
    handshake.finish(Handshake::REJECTED);
}

fn early_data_rejected() -> Error {
    Error::new(ErrorKind::Refused).with_message("the server rejected 0-RTT early data")
}

/// Why the connection ended, with the peer's reason phrase when it gave one.
fn closed_cause(link: &Link, h3_end: Option<&H3ConnectionError>) -> Error {
    match link.quic.close_reason() {
        Some(quinn::ConnectionError::ApplicationClosed(close)) => {
            let code = Code::from(close.error_code.into_inner());
            let reason = String::from_utf8_lossy(&close.reason);
            let message = if reason.is_empty() {
                format!("the server closed the connection ({code})")
            } else {
                format!("the server closed the connection ({code}: {reason})")
            };
            Error::new(ErrorKind::ConnectionClosed).with_message(message)
        }
        Some(quinn::ConnectionError::TimedOut) => Error::new(ErrorKind::ConnectionClosed)
            .with_message("the QUIC connection idled out (no answer from the peer)"),
        Some(quinn::ConnectionError::LocallyClosed) => match link.refused.get() {
            Some(too_large) => Error::new(ErrorKind::Protocol).with_message(too_large.to_string()),
            None => Error::new(ErrorKind::ConnectionClosed).with_message("closed by the client"),
        },
        Some(other) => Error::new(ErrorKind::ConnectionClosed)
            .with_message(other.to_string())
            .with_source(other),
        None => Error::new(ErrorKind::ConnectionClosed).with_message(
            h3_end.map_or_else(|| "the connection closed".to_string(), |e| format!("{e:?}")),
        ),
    }
}

impl QuicConnection {
    /// The QUIC connection underneath (for statistics and tests).
    pub fn quic(&self) -> &quinn::Connection {
        &self.link.quic
    }

    pub(crate) fn send_request(
        &self,
        request: Request<Body>,
    ) -> impl Future<Output = Result<Response<QuicBody>, SendError>> + Send + 'static {
        let shared = Arc::clone(&self.shared);
        let mut sender = self.sender.clone();
        let link = self.link.clone();
        let handshake = Arc::clone(&self.handshake);
        async move {
            // Early data may be replayed by an attacker: only replay-safe requests go in
            // 0-RTT; the others wait for the handshake.
            // Early while quinn has not yet read the server's handshake flight: a stream
            // opened now goes in 0-RTT packets.
            let mut early =
                handshake.state() == Handshake::PENDING && link.quic.handshake_data().is_none();
            if early && !plexus_core::is_replay_safe(&request) {
                handshake.wait().await;
                early = false;
            }
            if shared.state() != ConnectionState::Ready {
                return Err(SendError::unsent(shared.unavailable(), request));
            }
            let (mut parts, body) = request.into_parts();
            if let Err(e) = plexus_core::target::to_multiplexed(
                &shared.info().origin,
                &mut parts,
                http::Version::HTTP_3,
            ) {
                return Err(SendError::new(e));
            }
            let in_flight = shared.in_flight_guard();
            let head = Request::from_parts(parts, ());
            let stream = match sender.send_request(head).await {
                Ok(s) => s,
                Err(e) => return Err(open_failed(e, &shared, &link)),
            };
            let stream_id = stream.id().into_inner();
            tracing::trace!(stream_id, "request sent");
            let (mut send, mut recv) = stream.split();
            let upload = if body.is_end_stream() {
                // A server may stop reading the request once it has what it needs
                // (STOP_SENDING with H3_NO_ERROR, RFC 9114 §4.1.1) and still answer in
                // full: the response, not the send side, tells how the request went.
                if let Err(e) = send.finish().await {
                    tracing::debug!(error = ?e, "finishing the request stream failed");
                }
                None
            } else {
                // A body streams beside the response, which may come before it ends.
                Some(tokio::spawn(
                    send_body(body, send).instrument(tracing::trace_span!("upload", stream_id)),
                ))
            };
            let response = match recv.recv_response().await {
                Ok(r) => r,
                Err(e) => {
                    if let Some(u) = upload {
                        u.abort();
                    }
                    if early {
                        match handshake.wait().await {
                            // Sent in rejected early data: the server never saw it.
                            Handshake::REJECTED => {
                                return Err(SendError::new(
                                    early_data_rejected()
                                        .with_origin(&shared.info().origin)
                                        .with_protocol(Protocol::Http3),
                                ))
                            }
                            // Sent in early data on a connection that never completed its
                            // handshake: a failed QUIC attempt. The request may have
                            // arrived, but only replay-safe requests go early.
                            Handshake::FAILED => {
                                return Err(SendError::new(
                                    Error::new(ErrorKind::Connect)
                                        .with_message(
                                            "the QUIC handshake did not complete after the \
                                             request was sent in 0-RTT",
                                        )
                                        .with_delivery(Delivery::MaybeProcessed)
                                        .with_origin(&shared.info().origin)
                                        .with_protocol(Protocol::Http3),
                                ))
                            }
                            _ => {}
                        }
                    }
                    return Err(SendError::new(stream_failed(e, stream_id, &shared, &link)));
                }
            };
            let (head, ()) = response.into_parts();
            let remaining = head
                .headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            Ok(Response::from_parts(
                head,
                QuicBody(Box::new(BodyState {
                    stream_id,
                    early,
                    recv,
                    in_flight: Some(in_flight),
                    link,
                    upload,
                    data_done: false,
                    remaining,
                    reading: false,
                })),
            ))
        }
    }
}

/// Sends the request body, then FIN.
async fn send_body(mut body: Body, mut send: H3SendStream) -> Result<(), Error> {
    let fail = |e: StreamError| {
        Error::new(ErrorKind::ConnectionClosed)
            .with_message("sending the request body failed")
            .with_source(e)
    };
    while let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        match frame?.into_data() {
            Ok(data) if !data.is_empty() => send.send_data(data).await.map_err(fail)?,
            Ok(_) => {}
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    send.send_trailers(trailers).await.map_err(fail)?;
                }
            }
        }
    }
    send.finish().await.map_err(fail)
}

/// `send_request` failed: the stream was not opened (or its head not written).
fn open_failed(e: StreamError, shared: &Arc<ConnectionShared>, link: &Link) -> SendError {
    match e {
        StreamError::RemoteClosing { .. } => {
            // The server sent GOAWAY: no new request on this connection.
            shared.advance(ConnectionState::Draining, || {
                Error::new(ErrorKind::ConnectionClosed).with_message("the server sent GOAWAY")
            });
            SendError::new(shared.unavailable())
        }
        StreamError::HeaderTooBig {
            actual_size,
            max_size,
            ..
        } => SendError::new(
            Error::new(ErrorKind::InvalidRequest)
                .with_message(format!(
                    "request headers of {actual_size} bytes exceed the server's limit of {max_size}"
                ))
                .with_origin(&shared.info().origin)
                .with_protocol(Protocol::Http3),
        ),
        StreamError::ConnectionError { .. } => {
            ended(shared, link, None);
            SendError::new(shared.unavailable())
        }
        // Not opened: no stream id yet, so none the server's GOAWAY could exclude.
        other => SendError::new(stream_failed(other, u64::MAX, shared, link)),
    }
}

/// A request stream failed after it was opened.
fn stream_failed(
    e: StreamError,
    stream_id: u64,
    shared: &Arc<ConnectionShared>,
    link: &Link,
) -> Error {
    let quic = &link.quic;
    let error = match &e {
        StreamError::RemoteTerminate { code, .. } if *code == Code::H3_REQUEST_REJECTED => {
            Error::new(ErrorKind::Refused).with_message("H3_REQUEST_REJECTED")
        }
        StreamError::RemoteTerminate { code, .. } => {
            Error::new(ErrorKind::StreamReset).with_message(format!("stream reset ({code})"))
        }
        StreamError::ConnectionError { .. } => {
            ended(shared, link, None);
            shared
                .close_cause()
                .unwrap_or_else(|| closed_cause(link, None))
                .with_delivery(Delivery::MaybeProcessed)
        }
        StreamError::HeaderTooBig {
            actual_size,
            max_size,
            ..
        } => Error::new(ErrorKind::TooLarge).with_message(format!(
            "the response head ({actual_size} bytes) is over the {max_size}-byte limit"
        )),
        StreamError::StreamError { code, reason, .. } => Error::new(ErrorKind::Protocol)
            .with_message(format!("HTTP/3 stream error {code}: {reason}")),
        // Raised by the transport h3 runs on (an oversized frame, see `frame_scan`).
        StreamError::Undefined { 0: e, .. } if quic.close_reason().is_none() => {
            Error::new(ErrorKind::Protocol).with_message(e.to_string())
        }
        _ => match quic.close_reason() {
            Some(_) => {
                shared.advance(ConnectionState::Closed, || closed_cause(link, None));
                shared
                    .close_cause()
                    .unwrap_or_else(|| closed_cause(link, None))
            }
            None => Error::new(ErrorKind::Protocol).with_message(format!("{e:?}")),
        },
    };
    let error = match link.goaway.id() {
        // RFC 9114 §5.2: the server did not process a request at or above its GOAWAY's id,
        // however the stream ended.
        Some(last) if stream_id >= last => {
            let message = format!(
                "{}; not processed: stream {stream_id} is at or above the server's GOAWAY \
                 ({last})",
                error.message().unwrap_or("the stream failed")
            );
            error
                .with_message(message)
                .with_delivery(Delivery::Unprocessed)
        }
        _ => error,
    };
    error
        .with_source(e)
        .with_origin(&shared.info().origin)
        .with_protocol(Protocol::Http3)
}

/// The body of an HTTP/3 response. Its state is boxed: responses move through several
/// layers, and a small body keeps every move cheap for TCP responses too (they share an
/// enum with this one).
pub struct QuicBody(Box<BodyState>);

struct BodyState {
    stream_id: u64,
    /// The request went in 0-RTT early data.
    early: bool,
    recv: H3RecvStream,
    in_flight: Option<InFlight>,
    link: Link,
    upload: Option<tokio::task::JoinHandle<Result<(), Error>>>,
    data_done: bool,
    /// Bytes still to come, from `Content-Length`.
    remaining: Option<u64>,
    /// The last read of the stream is still pending: h3-quinn has moved the stream into
    /// its read future, where `stop_sending` cannot reach it (it would panic).
    reading: bool,
}

impl std::fmt::Debug for QuicBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuicBody")
            .field("data_done", &self.0.data_done)
            .finish_non_exhaustive()
    }
}

impl Drop for BodyState {
    fn drop(&mut self) {
        if let Some(upload) = self.upload.take() {
            upload.abort();
        }
        if self.in_flight.is_some() && !self.reading {
            // Dropped before its end: tell the server to stop sending. (With a read in
            // progress, quinn sends STOP_SENDING itself when the stream is dropped.)
            self.recv.stop_sending(Code::H3_REQUEST_CANCELLED);
        }
    }
}

impl plexus_core::StreamFacts for QuicBody {
    fn stream_id(&self) -> Option<u64> {
        Some(self.0.stream_id)
    }

    fn early_data(&self) -> bool {
        self.0.early
    }
}

impl BodyState {
    /// The response arrived whole: the stream is free, and the socket's pacing hears of it.
    fn complete(&mut self) {
        self.in_flight = None;
        self.link.bursts.response_done();
    }

    fn fail(&mut self, e: StreamError) -> Error {
        let error = match self.in_flight.take() {
            // The response has begun: the server took the request, whatever its GOAWAY says.
            Some(g) => stream_failed(e, self.recv.id().into_inner(), g.shared(), &self.link),
            None => Error::new(ErrorKind::Protocol).with_message(format!("{e:?}")),
        };
        error.with_delivery(Delivery::MaybeProcessed)
    }
}

impl http_body::Body for QuicBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self.0;
        if !this.data_done {
            let polled = this.recv.poll_recv_data(cx);
            this.reading = polled.is_pending();
            match polled {
                Poll::Ready(Ok(Some(mut data))) => {
                    let bytes = data.copy_to_bytes(data.remaining());
                    if let Some(r) = this.remaining.as_mut() {
                        *r = r.saturating_sub(bytes.len() as u64);
                    }
                    return Poll::Ready(Some(Ok(Frame::data(bytes))));
                }
                Poll::Ready(Ok(None)) => this.data_done = true,
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(this.fail(e)))),
                Poll::Pending => return Poll::Pending,
            }
        }
        let polled = this.recv.poll_recv_trailers(cx);
        this.reading = polled.is_pending();
        match polled {
            Poll::Ready(Ok(Some(trailers))) => {
                this.complete();
                Poll::Ready(Some(Ok(Frame::trailers(trailers))))
            }
            Poll::Ready(Ok(None)) => {
                this.complete();
                Poll::Ready(None)
            }
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(this.fail(e)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.0.data_done && self.0.in_flight.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        self.0
            .remaining
            .map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}
