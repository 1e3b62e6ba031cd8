//! plexus's interop harness: a client endpoint that follows the QUIC interop runner's
//! contract ([`endpoint`]), and a matrix that runs it against real third-party servers
//! ([`matrix`]).

pub mod endpoint;
pub mod files;
pub mod hq;
pub mod keylog;
pub mod matrix;
mod plexus_cases;
pub mod qlog;
pub mod tls;
