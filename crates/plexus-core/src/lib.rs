//! # plexus-core
//!
//! The I/O-free heart of plexus: the [`Connection`] trait that HTTP/1.1, HTTP/2 and HTTP/3
//! transports implement, the [`Origin`] connections are pooled by, the one [`Error`] type,
//! the request [`Body`], and the per-request [`RequestRecord`].
//!
//! Nothing here opens a socket or needs a runtime; the transports (`plexus-tcp`,
//! `plexus-quic`) and the scheduler (`plexus-sched`) build on it, and the `plexus` facade
//! re-exports what users need.
//!
//! ```
//! use plexus_core::{ErrorKind, Origin};
//!
//! let uri: http::Uri = "https://Example.com/search?q=x".parse().unwrap();
//! let origin = Origin::from_uri(&uri).unwrap();
//! assert_eq!(origin.to_string(), "https://example.com:443");
//!
//! let ftp: http::Uri = "ftp://example.com/".parse().unwrap();
//! assert_eq!(Origin::from_uri(&ftp).unwrap_err().kind(), ErrorKind::UnsupportedScheme);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod alt_svc;
mod body;
mod connection;
mod either_body;
mod error;
pub mod keep_alive;
pub mod location;
mod origin;
pub mod percent;
mod record;
mod shared;
pub mod target;

pub use body::Body;
pub use connection::{
    Capacity, ConnectTimings, Connection, ConnectionId, ConnectionInfo, ConnectionState, Protocol,
    Race, SendError, StreamFacts, TlsInfo,
};
pub use either_body::EitherBody;
pub use error::{BoxError, Delivery, Error, ErrorKind};
pub use origin::{Origin, Scheme};
pub use record::{is_replay_safe, Idempotent, RequestRecord};
pub use shared::{ConnectionShared, InFlight};
