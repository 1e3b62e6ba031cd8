//! # plexus-sched
//!
//! The per-origin scheduler of plexus, generic over [`plexus_core::Connection`]: it never
//! names a transport, so HTTP/1.1, HTTP/2 and HTTP/3 connections are scheduled alike.
//!
//! One [`Pool`] per origin (scheme, host, port):
//!
//! * **single-flight connect**: while the origin's protocol is unknown, however many
//!   requests arrive, one connection is set up; once it says HTTP/1.1, more open up to
//!   [`PoolConfig::http1_max_connections_per_origin`] (default 6);
//! * **multiplexing**: an h2 (or h3) connection carries every request as a stream; the
//!   peer's current stream limit is respected at all times; requests beyond it wait in a
//!   bounded FIFO queue (with a queue timeout) or, when
//!   [`PoolConfig::max_connections_per_origin`] is above 1, spill over to more
//!   connections;
//! * **keep-alive pool**: idle HTTP/1.1 connections are reused most-recently-used first
//!   and retired after [`PoolConfig::idle_timeout`] or the server's `Keep-Alive`
//!   timeout (whichever is shorter, closing before the server does);
//! * **draining**: a connection that got GOAWAY or `Connection: close` takes no new
//!   requests, finishes its streams, and is retired; new requests go to a new connection;
//! * **retries** per [`RetryPolicy`]: requests the server provably did not process
//!   (refused streams, streams above a GOAWAY's last stream id, never sent) are re-sent
//!   whatever their method; replay-safe requests also after a reused connection closed
//!   before any response; nothing else;
//! * **observability**: [`Pool::snapshot`], and an [`EventHook`] in the
//!   [`PoolConfig`] that hears every [`PoolEvent`] (connection opened, connect failed,
//!   draining, closed with its [`CloseReason`], retry).
//!
//! The decisions are made by a plain state machine (`core`) with time passed in, tested
//! without sockets; an async driver (`pool`) carries them out.
//!
//! ## Cancellation
//!
//! Dropping the future of [`Pool::send`] while it waits in the queue takes the request
//! out of the queue; while it is in flight, the transport cancels the stream. Dropping a
//! response body frees its stream.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod body;
mod config;
mod core;
mod default_headers;
mod events;
mod pool;
mod retry;
mod snapshot;

pub use body::LeasedBody;
pub use config::{PoolConfig, RetryPolicy};
pub use events::{CloseReason, EventHook, PoolEvent};
pub use pool::{Connect, Delivered, Pool};
pub use retry::try_clone_request;
pub use snapshot::{ConnectionSnapshot, OriginSnapshot};
