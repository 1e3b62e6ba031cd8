//! A cookie jar (feature `cookies`, off by default as in reqwest), kept by the
//! [cookie_store](https://docs.rs/cookie_store) crate's RFC 6265 rules: domain and path
//! matching, `Secure` cookies only over https (or to loopback, which browsers count as
//! secure too), expiry by `Max-Age` / `Expires`, a
//! `Max-Age=0` deleting its cookie.
//!
//! A client with a jar ([`ClientBuilder::cookie_store`] or
//! [`ClientBuilder::cookie_provider`]) stores the `Set-Cookie`s of every response,
//! redirects included, and sends the matching cookies in a `Cookie` header on every
//! request that does not carry one of its own — on each hop of a redirect chain the
//! cookies of that hop's host. Cookies are per host, not per port (RFC 6265 §8.5). No
//! public suffix list is consulted: a server may set a cookie for a domain as wide as
//! `.com`, which only matters for clients that talk to hosts that do not trust each
//! other.
//!
//! [`ClientBuilder::cookie_store`]: crate::ClientBuilder::cookie_store
//! [`ClientBuilder::cookie_provider`]: crate::ClientBuilder::cookie_provider

use std::sync::RwLock;

use cookie_store::{CookieStore, RawCookie};
use http::header::{HeaderMap, HeaderValue, SET_COOKIE};
use http::Uri;

/// The cookies a client keeps; share one between clients with an `Arc`.
#[derive(Debug, Default)]
pub struct Jar {
    store: RwLock<CookieStore>,
}

impl Jar {
    /// An empty jar.
    pub fn new() -> Jar {
        Jar::default()
    }

    /// Stores a cookie as if `url` had answered with `Set-Cookie: {cookie}`; a cookie
    /// that does not parse, or that `url` may not set, is ignored.
    pub fn add_cookie_str(&self, cookie: &str, url: &Uri) {
        let Some(url) = to_url(url) else { return };
        if let Ok(cookie) = RawCookie::parse(cookie.to_string()) {
            self.write()
                .store_response_cookies(std::iter::once(cookie), &url);
        }
    }

    /// The `Cookie` header a request to `url` carries: `name=value` pairs joined by
    /// `; `, or `None` when no cookie matches.
    pub fn cookies(&self, url: &Uri) -> Option<HeaderValue> {
        let url = to_url(url)?;
        let store = self.store.read().unwrap_or_else(|p| p.into_inner());
        let pairs: Vec<String> = store
            .get_request_values(&url)
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        if pairs.is_empty() {
            return None;
        }
        let mut value = HeaderValue::try_from(pairs.join("; ")).ok()?;
        value.set_sensitive(true);
        Some(value)
    }

    /// Forgets every cookie.
    pub fn clear(&self) {
        self.write().clear();
    }

    /// Stores the `Set-Cookie`s of a response from `url`.
    pub(crate) fn store_response(&self, url: &Uri, headers: &HeaderMap) {
        let mut set = headers.get_all(SET_COOKIE).iter().peekable();
        if set.peek().is_none() {
            return;
        }
        let Some(url) = to_url(url) else { return };
        let cookies = set
            .filter_map(|v| std::str::from_utf8(v.as_bytes()).ok())
            .filter_map(|v| RawCookie::parse(v.to_string()).ok());
        self.write().store_response_cookies(cookies, &url);
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, CookieStore> {
        self.store.write().unwrap_or_else(|p| p.into_inner())
    }
}

fn to_url(uri: &Uri) -> Option<url::Url> {
    url::Url::parse(&uri.to_string()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().expect("uri")
    }

    #[test]
    fn cookies_match_host_path_and_security() {
        let jar = Jar::new();
        let site = uri("https://a.test/app/page");
        jar.add_cookie_str("id=1; Path=/app", &site);
        jar.add_cookie_str("theme=dark", &site);
        jar.add_cookie_str("token=s; Secure; HttpOnly", &site);
        let text = |u: &str| {
            jar.cookies(&uri(u))
                .map(|v| v.to_str().expect("ascii").to_string())
        };
        let mut got: Vec<String> = text("https://a.test/app/x")
            .expect("cookies")
            .split("; ")
            .map(String::from)
            .collect();
        got.sort();
        assert_eq!(got, ["id=1", "theme=dark", "token=s"]);
        // Not under /app, not secure, another host.
        assert_eq!(text("http://a.test/other").as_deref(), None);
        assert_eq!(text("https://b.test/app/x"), None);
        // Max-Age=0 deletes.
        jar.add_cookie_str("id=; Max-Age=0; Path=/app", &site);
        assert!(!text("https://a.test/app/x")
            .expect("cookies")
            .contains("id="));
    }
}
