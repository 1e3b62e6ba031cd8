//! HTTP/2 connections on the h2 crate.
//!
//! A [`H2Connection`] is a cheap handle (an h2 `SendRequest` and the shared state); the
//! socket belongs to a driver task that polls h2's `Connection`, publishes the peer's
//! `SETTINGS_MAX_CONCURRENT_STREAMS`, and notices GOAWAY.
//!
//! Until the server's SETTINGS are known, at most [`H2Settings::streams_before_settings`]
//! streams are opened (default 1): the first request rides in the first flight, the rest
//! wait the half round trip until the server's limit is known, so a server with a small
//! limit never has to refuse a stream. A PING sent right after the preface tells when the
//! SETTINGS have been read: the server sends its SETTINGS first, so by the time its PING
//! ACK arrives they have been applied.
//!
//! After that, PINGs keep watch over the connection's health (see [`crate::h2_health`]):
//! a server silent for [`H2Settings::keep_alive_interval`] is PINGed, and one that does
//! not answer within [`H2Settings::keep_alive_timeout`] has its connection retired.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use h2::client::{Connection as H2Conn, SendRequest};
use h2::{PingPong, RecvStream, SendStream};
use http::{Request, Response};
use http_body::{Body as _, Frame, SizeHint};
use plexus_core::{
    Body, ConnectionInfo, ConnectionState, Delivery, Error, ErrorKind, SendError, StreamFacts,
};
use tokio::sync::oneshot;
use tracing::Instrument;

use crate::classify;
use crate::h2_health::{Heard, KeepAlive, Listening, Probing};
use crate::h2_pacing::Paced;
use crate::io::MaybeTls;
use plexus_core::{ConnectionShared as Shared, InFlight};

/// HTTP/2 settings of the client side. Defaults are sized for bulk transfer (see
/// [`crate::TcpConfig`]).
#[derive(Debug, Clone)]
pub struct H2Settings {
    /// `SETTINGS_INITIAL_WINDOW_SIZE`: how much a server may send on one stream before
    /// the client acknowledges it.
    pub stream_window: u32,
    /// The connection-level receive window.
    pub connection_window: u32,
    /// `SETTINGS_MAX_FRAME_SIZE` the client accepts.
    pub max_frame_size: u32,
    /// `SETTINGS_MAX_HEADER_LIST_SIZE`: the largest response header block accepted.
    pub max_header_list_size: u32,
    /// Streams opened before the server's SETTINGS are known.
    pub streams_before_settings: usize,
    /// Never open more streams than this on one connection, whatever the peer allows.
    pub max_concurrent_streams: usize,
    /// PING the server when nothing has been read from it for this long, whether the
    /// connection is idle or waiting for responses; `None` never PINGs for health.
    pub keep_alive_interval: Option<Duration>,
    /// How long a health PING may go unanswered before the connection is retired.
    pub keep_alive_timeout: Duration,
}

impl Default for H2Settings {
    fn default() -> H2Settings {
        H2Settings {
            stream_window: 4 * 1024 * 1024,
            connection_window: 16 * 1024 * 1024,
            max_frame_size: 64 * 1024,
            max_header_list_size: 256 * 1024,
            streams_before_settings: 1,
            max_concurrent_streams: usize::MAX,
            keep_alive_interval: Some(Duration::from_secs(30)),
            keep_alive_timeout: Duration::from_secs(10),
        }
    }
}

/// A handle to one HTTP/2 connection.
#[derive(Debug, Clone)]
pub(crate) struct H2Connection {
    pub(crate) shared: Arc<Shared>,
    sender: SendRequest<Bytes>,
    /// Whether a health PING is outstanding (none without keep-alive PINGs).
    probing: Option<Arc<Probing>>,
}

/// Runs the h2 handshake on an established byte stream and spawns the driver.
pub(crate) async fn handshake(
    io: MaybeTls,
    info: ConnectionInfo,
    settings: &H2Settings,
) -> Result<H2Connection, Error> {
    let mut builder = h2::client::Builder::new();
    builder
        .initial_window_size(settings.stream_window)
        .initial_connection_window_size(settings.connection_window)
        .max_frame_size(settings.max_frame_size)
        .max_header_list_size(settings.max_header_list_size)
        .enable_push(false);
    let heard = Heard::new();
    let io = Paced::new(Listening::new(io, Arc::clone(&heard)));
    let (sender, mut conn) = builder.handshake::<_, Bytes>(io).await.map_err(|e| {
        Error::new(ErrorKind::Protocol)
            .with_message("HTTP/2 handshake failed")
            .with_source(e)
    })?;
    let mut ping = conn.ping_pong();
    let settings_probe = match ping.as_mut().map(|p| p.send_ping(h2::Ping::opaque())) {
        Some(Ok(())) => SettingsProbe::Pending,
        _ => SettingsProbe::Known,
    };
    let shared = Shared::new(info, settings.streams_before_settings.max(1));
    let span = tracing::debug_span!(
        "connection",
        id = shared.info().id.get(),
        origin = %shared.info().origin,
        protocol = "h2",
    );
    let keep_alive = settings
        .keep_alive_interval
        .map(|every| KeepAlive::new(every, settings.keep_alive_timeout, heard));
    let probing = keep_alive.as_ref().map(KeepAlive::probing);
    let driver = Driver {
        conn,
        keep_alive,
        ping,
        settings_probe,
        probe: Some(sender.clone()),
        shared: Arc::clone(&shared),
        before_settings: settings.streams_before_settings.max(1),
        cap: settings.max_concurrent_streams.max(1),
    };
    driver.publish_limit();
    tokio::spawn(driver.instrument(span));
    Ok(H2Connection {
        shared,
        sender,
        probing,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SettingsProbe {
    Pending,
    Known,
}

struct Driver {
    conn: H2Conn<Paced<Listening<MaybeTls>>, Bytes>,
    keep_alive: Option<KeepAlive>,
    ping: Option<PingPong>,
    settings_probe: SettingsProbe,
    /// A sender kept only to observe the connection: once GOAWAY (or a connection error)
    /// arrives, `poll_ready` on it fails. Dropped when the connection drains, so that h2
    /// can close once the last stream and handle are gone.
    probe: Option<SendRequest<Bytes>>,
    shared: Arc<Shared>,
    before_settings: usize,
    cap: usize,
}

impl Driver {
    fn publish_limit(&self) {
        let peer = self.conn.max_concurrent_send_streams();
        let limit = match self.settings_probe {
            SettingsProbe::Pending => peer.min(self.before_settings),
            SettingsProbe::Known => peer,
        };
        let known = self.settings_probe == SettingsProbe::Known;
        self.shared.set_max_concurrent(limit.min(self.cap), known);
    }
}

impl Future for Driver {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        this.shared.register_driver(cx.waker());
        if this.shared.state() != ConnectionState::Ready {
            this.probe = None;
        }

        let result = this.conn.poll_unpin(cx);

        if this.settings_probe == SettingsProbe::Pending {
            if let Some(ping) = this.ping.as_mut() {
                match ping.poll_pong(cx) {
                    Poll::Ready(_) => this.settings_probe = SettingsProbe::Known,
                    Poll::Pending => {}
                }
            }
        }
        this.publish_limit();

        if this.settings_probe == SettingsProbe::Known {
            if let (Some(keep_alive), Some(ping)) = (this.keep_alive.as_mut(), this.ping.as_mut()) {
                if let Poll::Ready(dead) = keep_alive.poll(cx, ping) {
                    tracing::debug!(silent_for = ?dead.silent_for, "PING unanswered: retiring");
                    this.shared.advance(ConnectionState::Closed, || {
                        Error::new(ErrorKind::ConnectionClosed).with_message(format!(
                            "the server did not answer a PING (silent for {} ms)",
                            dead.silent_for.as_millis()
                        ))
                    });
                    return Poll::Ready(());
                }
            }
        }

        if let Some(probe) = this.probe.as_mut() {
            if let Poll::Ready(Err(e)) = probe.poll_ready(cx) {
                stop_new_streams(&this.shared, e);
                this.probe = None;
            }
        }

        match result {
            Poll::Ready(end) => {
                this.shared
                    .advance(ConnectionState::Closed, || classify::h2_connection_end(end));
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The connection takes no new stream (GOAWAY received, or a connection error): mark it
/// draining at once, so that the scheduler stops handing it out.
fn stop_new_streams(shared: &Shared, e: h2::Error) {
    shared.advance(ConnectionState::Draining, || {
        let cause = classify::h2(e, shared);
        if cause.kind() == ErrorKind::Refused {
            Error::new(ErrorKind::ConnectionClosed).with_message("the server sent GOAWAY")
        } else {
            cause
        }
    });
}

impl H2Connection {
    pub(crate) fn send_request(
        &self,
        request: Request<Body>,
    ) -> impl Future<Output = Result<Response<H2Body>, SendError>> + Send + 'static {
        let shared = Arc::clone(&self.shared);
        let mut sender = self.sender.clone();
        let probing = self.probing.as_ref().filter(|p| p.outstanding()).cloned();
        async move {
            if let Some(probing) = probing {
                // A health PING is out: wait for its answer rather than write to a
                // connection that may be dead (its keep-alive, gone with the driver,
                // lets the waiters go).
                probing.settled().await;
            }
            if shared.state() != ConnectionState::Ready {
                return Err(SendError::unsent(shared.unavailable(), request));
            }
            if let Err(e) = poll_fn(|cx| sender.poll_ready(cx)).await {
                stop_new_streams(&shared, e);
                return Err(SendError::unsent(shared.unavailable(), request));
            }
            let (mut parts, body) = request.into_parts();
            if let Err(e) = plexus_core::target::to_multiplexed(
                &shared.info().origin,
                &mut parts,
                http::Version::HTTP_2,
            ) {
                return Err(SendError::new(e));
            }
            let end_of_stream = body.is_end_stream();
            let head = Request::from_parts(parts, ());
            let in_flight = shared.in_flight_guard();
            let (response, send_stream) = match sender.send_request(head, end_of_stream) {
                Ok(pair) => pair,
                // Nothing reached the wire. A connection-level refusal (GOAWAY, a dead
                // socket) means it takes no new streams; anything else is about this
                // request's head, and sending it elsewhere would not help.
                Err(e) if e.is_go_away() || e.is_io() => {
                    stop_new_streams(&shared, e);
                    return Err(SendError::new(shared.unavailable()));
                }
                Err(e) => {
                    return Err(SendError::new(
                        Error::new(ErrorKind::InvalidRequest)
                            .with_message("the request head is not valid HTTP/2")
                            .with_source(e)
                            .with_origin(&shared.info().origin)
                            .with_protocol(shared.info().protocol),
                    ));
                }
            };
            let stream_id = u64::from(response.stream_id().as_u32());
            tracing::trace!(stream_id, "request sent");

            let upload_cancel = if end_of_stream {
                None
            } else {
                let (cancel_tx, cancel_rx) = oneshot::channel::<()>();
                tokio::spawn(
                    pipe_request_body(body, send_stream, cancel_rx)
                        .instrument(tracing::trace_span!("upload", stream_id)),
                );
                Some(cancel_tx)
            };

            let response = match response.await {
                Ok(r) => r,
                Err(e) => return Err(SendError::new(classify::h2(e, &shared))),
            };
            let (head, recv) = response.into_parts();
            let remaining = head
                .headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            let body = H2Body {
                stream_id,
                recv,
                in_flight: Some(in_flight),
                _upload_cancel: upload_cancel,
                data_done: false,
                ended: false,
                remaining,
            };
            Ok(Response::from_parts(head, body))
        }
    }
}

/// Sends a request body on an h2 stream, honouring the peer's flow control. Stops (and
/// resets the stream) when the response side is dropped.
async fn pipe_request_body(
    body: Body,
    mut stream: SendStream<Bytes>,
    cancel: oneshot::Receiver<()>,
) {
    let result = tokio::select! {
        r = send_all(body, &mut stream) => r,
        _ = cancel => Err(None),
    };
    match result {
        Ok(()) => {}
        Err(Some(e)) => {
            tracing::debug!(error = %e, "request body failed; resetting the stream");
            stream.send_reset(h2::Reason::CANCEL);
        }
        Err(None) => stream.send_reset(h2::Reason::CANCEL),
    }
}

async fn send_all(mut body: Body, stream: &mut SendStream<Bytes>) -> Result<(), Option<Error>> {
    loop {
        let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await else {
            return stream.send_data(Bytes::new(), true).map_err(|_| None);
        };
        let frame = frame.map_err(Some)?;
        let frame = match frame.into_data() {
            Ok(mut data) => {
                while !data.is_empty() {
                    stream.reserve_capacity(data.len());
                    let granted = match poll_fn(|cx| stream.poll_capacity(cx)).await {
                        Some(Ok(n)) => n,
                        // The stream was reset or closed by the peer: nothing more to send.
                        Some(Err(_)) | None => return Err(None),
                    };
                    if granted == 0 {
                        continue;
                    }
                    let chunk = data.split_to(granted.min(data.len()));
                    let last = data.is_empty() && body.is_end_stream();
                    stream.send_data(chunk, last).map_err(|_| None)?;
                    if last {
                        return Ok(());
                    }
                }
                continue;
            }
            Err(frame) => frame,
        };
        if let Ok(trailers) = frame.into_trailers() {
            return stream.send_trailers(trailers).map_err(|_| None);
        }
    }
}

/// The body of an h2 response. Received data is acknowledged (flow-control capacity
/// released) as it is handed to the reader, so a slow reader slows the server down rather
/// than growing memory beyond the receive windows.
#[derive(Debug)]
pub struct H2Body {
    stream_id: u64,
    recv: RecvStream,
    in_flight: Option<InFlight>,
    _upload_cancel: Option<oneshot::Sender<()>>,
    data_done: bool,
    /// Every frame of the stream was handed out: further polls answer the end without
    /// asking the h2 crate (each question there takes the connection's lock).
    ended: bool,
    /// Bytes still to come, from `Content-Length`.
    remaining: Option<u64>,
}

impl StreamFacts for H2Body {
    fn stream_id(&self) -> Option<u64> {
        Some(self.stream_id)
    }
}

impl H2Body {
    fn fail(&mut self, e: h2::Error) -> Error {
        let error = match self.in_flight.as_ref() {
            Some(g) => classify::h2(e, g.shared()),
            None => Error::new(ErrorKind::Protocol).with_source(e),
        };
        self.in_flight = None;
        // The response had begun: whatever the reason, the request may have been processed.
        error.with_delivery(Delivery::MaybeProcessed)
    }
}

impl http_body::Body for H2Body {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        if !this.data_done {
            match this.recv.poll_data(cx) {
                Poll::Ready(Some(Ok(data))) => {
                    let _ = this.recv.flow_control().release_capacity(data.len());
                    if let Some(r) = this.remaining.as_mut() {
                        *r = r.saturating_sub(data.len() as u64);
                    }
                    if this.recv.is_end_stream() {
                        // The frame carried END_STREAM and nothing is buffered behind
                        // it (no trailers): the stream is over. Saying so now spares the
                        // reader two more trips into the h2 crate to learn it.
                        this.ended = true;
                        this.in_flight = None;
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(this.fail(e)))),
                Poll::Ready(None) => this.data_done = true,
                Poll::Pending => return Poll::Pending,
            }
        }
        match this.recv.poll_trailers(cx) {
            Poll::Ready(Ok(Some(trailers))) => {
                this.ended = true;
                this.in_flight = None;
                Poll::Ready(Some(Ok(Frame::trailers(trailers))))
            }
            Poll::Ready(Ok(None)) => {
                this.ended = true;
                this.in_flight = None;
                Poll::Ready(None)
            }
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(this.fail(e)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.recv.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.remaining
            .map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}
