//! The TLS session store shared by every connection of a client (TLS over TCP and QUIC):
//! rustls's in-memory cache, observed so that the client can tell when a handshake offered
//! a session ticket.

use std::fmt;
use std::sync::Arc;

use rustls::client::{ClientSessionMemoryCache, ClientSessionStore};
use rustls::client::{Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::pki_types::ServerName;
use rustls::NamedGroup;

/// Tickets kept per server name (rustls's default cache size).
const CAPACITY: usize = 256;

/// rustls's memory cache, with a trace of tickets stored and taken.
pub(crate) struct SessionStore {
    inner: ClientSessionMemoryCache,
}

impl SessionStore {
    pub(crate) fn new() -> Arc<SessionStore> {
        Arc::new(SessionStore {
            inner: ClientSessionMemoryCache::new(CAPACITY),
        })
    }
}

impl fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionStore")
    }
}

impl ClientSessionStore for SessionStore {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.inner.set_kx_hint(server_name, group);
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.inner.kx_hint(server_name)
    }

    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.inner.set_tls12_session(server_name, value);
    }

    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.inner.tls12_session(server_name)
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.inner.remove_tls12_session(server_name);
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: Tls13ClientSessionValue,
    ) {
        tracing::trace!(
            server = ?server_name,
            early_data = value.max_early_data_size(),
            "TLS 1.3 session ticket stored"
        );
        self.inner.insert_tls13_ticket(server_name, value);
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<Tls13ClientSessionValue> {
        let ticket = self.inner.take_tls13_ticket(server_name);
        tracing::trace!(server = ?server_name, found = ticket.is_some(), "TLS 1.3 session ticket taken");
        ticket
    }
}
