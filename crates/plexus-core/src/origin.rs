//! The pool key: scheme, host and port of a request target.

use std::fmt;
use std::net::IpAddr;

use http::Uri;

use crate::error::{Error, ErrorKind};

/// The URL scheme of an origin. Only `http` and `https` are spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// Cleartext HTTP (HTTP/1.1, or h2c by prior knowledge).
    Http,
    /// HTTP over TLS (h2 or HTTP/1.1 chosen by ALPN).
    Https,
}

impl Scheme {
    /// The scheme as written in a URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// The port used when a URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Scheme, host and port: the unit that connections are pooled and scheduled by.
///
/// The host is kept lower-case and, for an IPv6 literal, without brackets, so that
/// `https://LOCALHOST:443/` and `https://localhost/` are the same origin.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    scheme: Scheme,
    host: Box<str>,
    port: u16,
}

impl Origin {
    /// Builds an origin from its parts. The host may be a name, an IPv4 literal or an IPv6
    /// literal with or without brackets.
    pub fn new(scheme: Scheme, host: &str, port: u16) -> Result<Origin, Error> {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if bare.is_empty() {
            return Err(Error::new(ErrorKind::InvalidUrl).with_message("the URL has no host"));
        }
        if bare.contains(':') && bare.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(Error::new(ErrorKind::InvalidUrl)
                .with_message(format!("invalid IPv6 address `{bare}`")));
        }
        if let Some(bad) = bare
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':')))
        {
            return Err(Error::new(ErrorKind::InvalidUrl)
                .with_message(format!("invalid character {bad:?} in host `{bare}`")));
        }
        Ok(Origin {
            scheme,
            host: bare.to_ascii_lowercase().into_boxed_str(),
            port,
        })
    }

    /// The origin of an absolute URI such as `https://example.com:8443/path`.
    ///
    /// Fails with [`ErrorKind::InvalidUrl`] when the URI has no scheme or host, and with
    /// [`ErrorKind::UnsupportedScheme`] for schemes other than `http` and `https`.
    pub fn from_uri(uri: &Uri) -> Result<Origin, Error> {
        let scheme = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => Scheme::Https,
            Some(s) if s.eq_ignore_ascii_case("http") => Scheme::Http,
            Some(other) => {
                return Err(Error::new(ErrorKind::UnsupportedScheme)
                    .with_message(format!("unsupported URL scheme `{other}`")))
            }
            None => {
                return Err(Error::new(ErrorKind::InvalidUrl)
                    .with_message(format!("`{uri}` is not an absolute URL (no scheme)")))
            }
        };
        let host = uri.host().ok_or_else(|| {
            Error::new(ErrorKind::InvalidUrl).with_message(format!("`{uri}` has no host"))
        })?;
        let port = uri.port_u16().unwrap_or(scheme.default_port());
        Origin::new(scheme, host, port)
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host: lower-case, IPv6 literals without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port (the scheme's default when the URL named none).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// True for `https`.
    pub fn is_tls(&self) -> bool {
        self.scheme == Scheme::Https
    }

    /// The host as an IP address when it is a literal.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// The authority as sent in `Host` / `:authority`: the host (IPv6 in brackets) and the
    /// port when it is not the scheme's default.
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.to_string()
        };
        if self.port == self.scheme.default_port() {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.scheme, self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(s: &str) -> Result<Origin, Error> {
        Origin::from_uri(&s.parse::<Uri>().expect("test URIs parse"))
    }

    #[test]
    fn default_ports_and_case() -> Result<(), Error> {
        let a = origin("https://LocalHost/x")?;
        let b = origin("https://localhost:443/y?z")?;
        assert_eq!(a, b);
        assert_eq!(a.port(), 443);
        assert_eq!(a.authority(), "localhost");
        assert_eq!(origin("http://example.com")?.port(), 80);
        assert_eq!(
            origin("http://example.com:8080")?.authority(),
            "example.com:8080"
        );
        Ok(())
    }

    #[test]
    fn ipv6_literals() -> Result<(), Error> {
        let o = origin("https://[::1]:8443/")?;
        assert_eq!(o.host(), "::1");
        assert_eq!(o.authority(), "[::1]:8443");
        assert_eq!(o.to_string(), "https://[::1]:8443");
        assert!(o.ip().is_some());
        Ok(())
    }

    #[test]
    fn rejects_bad_input() {
        let e = origin("ftp://example.com/").expect_err("ftp is not spoken");
        assert_eq!(e.kind(), ErrorKind::UnsupportedScheme);
        let e = origin("/relative/path").expect_err("no scheme");
        assert_eq!(e.kind(), ErrorKind::InvalidUrl);
        let e = Origin::new(Scheme::Http, "", 80).expect_err("empty host");
        assert_eq!(e.kind(), ErrorKind::InvalidUrl);
    }
}
