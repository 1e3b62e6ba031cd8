//! Proxies: which origins go through which proxy, from the builder or the environment.
//!
//! Every proxied connection is a `CONNECT` tunnel (RFC 9110 §9.3.6) to the origin, for
//! `http://` origins too (what curl calls `--proxytunnel`): TLS runs end to end with the
//! origin, ALPN still picks h2, and one tunnel carries every multiplexed stream. HTTP/3
//! cannot go through an HTTP proxy: a proxied origin is reached over TCP only, except
//! with [`Http3Mode::Only`](crate::Http3Mode::Only), which goes direct over QUIC.
//!
//! Like curl and reqwest, a client reads `HTTPS_PROXY` / `https_proxy` (for `https://`),
//! `http_proxy` / `HTTP_PROXY` (for `http://`; the upper-case name is ignored when
//! `REQUEST_METHOD` is set, as in a CGI script, where a request header could have set
//! it), `ALL_PROXY` / `all_proxy` (for both, when the scheme's own is unset), and
//! `NO_PROXY` / `no_proxy` unless the builder names proxies or calls `no_proxy()`.

use std::fmt;
use std::net::IpAddr;

use http::HeaderValue;
use plexus_core::{Error, ErrorKind, Origin, Scheme};
use plexus_tcp::ProxyEndpoint;

/// A proxy for the client's TCP connections (HTTP/1.1 and h2), given to
/// [`ClientBuilder::proxy`](crate::ClientBuilder::proxy).
///
/// The URL is `http://[user:password@]host[:port]` (port 80 when none is named; a URL
/// without a scheme is `http://`) or `https://...` for a proxy that is itself spoken to
/// over TLS (port 443 by default), the origin's TLS then running inside the proxy's.
/// Credentials in the URL (percent-decoded) or from [`basic_auth`](Self::basic_auth) are
/// sent as `Proxy-Authorization: Basic`.
#[derive(Clone)]
pub struct Proxy {
    endpoint: ProxyEndpoint,
    applies_to: AppliesTo,
    no_proxy: Option<NoProxy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AppliesTo {
    All,
    Http,
    Https,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("endpoint", &self.endpoint)
            .field("applies_to", &self.applies_to)
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

impl Proxy {
    /// A proxy for every origin.
    pub fn all(url: &str) -> Result<Proxy, Error> {
        Proxy::parse(url, AppliesTo::All)
    }

    /// A proxy for `http://` origins only.
    pub fn http(url: &str) -> Result<Proxy, Error> {
        Proxy::parse(url, AppliesTo::Http)
    }

    /// A proxy for `https://` origins only.
    pub fn https(url: &str) -> Result<Proxy, Error> {
        Proxy::parse(url, AppliesTo::Https)
    }

    /// Credentials for the proxy (replacing any in its URL).
    pub fn basic_auth(mut self, user: &str, password: &str) -> Proxy {
        self.endpoint.authorization = Some(basic(user, password));
        self
    }

    /// Hosts this proxy is not used for.
    pub fn no_proxy(mut self, hosts: NoProxy) -> Proxy {
        self.no_proxy = Some(hosts);
        self
    }

    /// The proxy's `host:port`.
    pub fn authority(&self) -> String {
        self.endpoint.authority()
    }

    /// The proxies the environment names, in the order the client tries them:
    /// `HTTPS_PROXY` / `https_proxy` for `https://`, `http_proxy` / `HTTP_PROXY` for
    /// `http://` (the upper-case name ignored when `REQUEST_METHOD` is set, as in a CGI
    /// script), `ALL_PROXY` / `all_proxy` for both; each excepting the `NO_PROXY` /
    /// `no_proxy` hosts. What a client uses unless the builder names proxies; a variable
    /// that is set but not a proxy URL is an error that names it.
    pub fn from_env() -> Result<Vec<Proxy>, Error> {
        let no_proxy = NoProxy::from_env();
        let from = |names: &[&str], make: fn(&str) -> Result<Proxy, Error>| {
            let Some((name, value)) = names.iter().find_map(|n| env_var(&[n]).map(|v| (*n, v)))
            else {
                return Ok(None);
            };
            let proxy = make(&value).map_err(|e| {
                let why = e.message().unwrap_or_default().to_string();
                Error::new(e.kind()).with_message(format!(
                    "environment variable {name}: {why}; fix it, or call \
                     ClientBuilder::no_proxy() to ignore the environment"
                ))
            })?;
            Ok::<_, Error>(Some(match &no_proxy {
                Some(n) => proxy.no_proxy(n.clone()),
                None => proxy,
            }))
        };
        let cgi = std::env::var_os("REQUEST_METHOD").is_some();
        let http_names: &[&str] = if cgi {
            &["http_proxy"]
        } else {
            &["http_proxy", "HTTP_PROXY"]
        };
        let list = [
            from(&["HTTPS_PROXY", "https_proxy"], Proxy::https)?,
            from(http_names, Proxy::http)?,
            from(&["ALL_PROXY", "all_proxy"], Proxy::all)?,
        ];
        Ok(list.into_iter().flatten().collect())
    }

    fn parse(url: &str, applies_to: AppliesTo) -> Result<Proxy, Error> {
        let invalid = |why: &str| {
            Error::new(ErrorKind::InvalidUrl)
                .with_message(format!("`{}` is not a proxy URL: {why}", redact(url)))
        };
        let url = url.trim();
        let (tls, rest) = match url.split_once("://") {
            None => (false, url),
            Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
                "http" => (false, rest),
                "https" => (true, rest),
                other => {
                    return Err(
                        Error::new(ErrorKind::UnsupportedScheme).with_message(format!(
                            "proxy scheme `{other}` is not supported (only http:// and https:// \
                         proxies, which plexus tunnels through with CONNECT)"
                        )),
                    )
                }
            },
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (userinfo, host_port) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (host, port) = split_host_port(host_port).ok_or_else(|| invalid("bad host or port"))?;
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        let authorization = match userinfo {
            None => None,
            Some(u) => {
                let (user, password) = u.split_once(':').unwrap_or((u, ""));
                let user = plexus_core::percent::decode(user)
                    .ok_or_else(|| invalid("bad percent-encoding"))?;
                let password = plexus_core::percent::decode(password)
                    .ok_or_else(|| invalid("bad percent-encoding"))?;
                Some(basic(&user, &password))
            }
        };
        Ok(Proxy {
            endpoint: ProxyEndpoint {
                host: host.to_ascii_lowercase(),
                port: port.unwrap_or(if tls { 443 } else { 80 }),
                tls,
                authorization,
            },
            applies_to,
            no_proxy: None,
        })
    }

    fn covers(&self, origin: &Origin) -> bool {
        let scheme_matches = match self.applies_to {
            AppliesTo::All => true,
            AppliesTo::Http => origin.scheme() == Scheme::Http,
            AppliesTo::Https => origin.scheme() == Scheme::Https,
        };
        scheme_matches
            && !self
                .no_proxy
                .as_ref()
                .is_some_and(|n| n.matches(origin.host()))
    }
}

/// Hosts that go direct: the `NO_PROXY` list. Comma-separated entries, spaces ignored:
/// `*` (every host), a domain (`example.com` or `.example.com`, each covering the domain
/// and every name under it), an IP address, or an IP network (`10.0.0.0/8`, `fd00::/8`).
/// Ports in entries are ignored, as curl does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy {
    entries: Vec<NoProxyEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum NoProxyEntry {
    Everything,
    Domain(String),
    Network(IpAddr, u8),
}

impl NoProxy {
    /// The hosts in a `NO_PROXY`-style list.
    pub fn from_list(list: &str) -> NoProxy {
        let entries = list
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|entry| {
                if entry == "*" {
                    return NoProxyEntry::Everything;
                }
                if let Some((ip, bits)) = entry.split_once('/') {
                    if let (Ok(ip), Ok(bits)) = (ip.parse::<IpAddr>(), bits.parse::<u8>()) {
                        return NoProxyEntry::Network(ip, bits);
                    }
                }
                let host = split_host_port(entry).map_or(entry, |(h, _)| h);
                match host.parse::<IpAddr>() {
                    Ok(ip) => NoProxyEntry::Network(ip, if ip.is_ipv4() { 32 } else { 128 }),
                    Err(_) => {
                        NoProxyEntry::Domain(host.trim_start_matches('.').to_ascii_lowercase())
                    }
                }
            })
            .collect();
        NoProxy { entries }
    }

    /// `NO_PROXY`, else `no_proxy`, from the environment.
    pub fn from_env() -> Option<NoProxy> {
        env_var(&["NO_PROXY", "no_proxy"]).map(|v| NoProxy::from_list(&v))
    }

    /// Whether `host` (a name, or an IP literal without brackets) goes direct.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let ip = host.parse::<IpAddr>().ok();
        self.entries.iter().any(|entry| match entry {
            NoProxyEntry::Everything => true,
            NoProxyEntry::Domain(d) => {
                host == *d
                    || host
                        .strip_suffix(d.as_str())
                        .is_some_and(|head| head.ends_with('.'))
            }
            NoProxyEntry::Network(net, bits) => ip.is_some_and(|ip| in_network(ip, *net, *bits)),
        })
    }
}

fn in_network(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let bits = u32::from(bits.min(32));
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let bits = u32::from(bits.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// The client's proxies, in the order they are tried: the first that covers an origin
/// carries its connections.
#[derive(Debug, Clone, Default)]
pub(crate) struct Proxies {
    list: Vec<Proxy>,
}

impl Proxies {
    pub(crate) fn new(list: Vec<Proxy>) -> Proxies {
        Proxies { list }
    }

    /// The proxies the environment names.
    pub(crate) fn from_env() -> Result<Proxies, Error> {
        Proxy::from_env().map(Proxies::new)
    }

    /// The proxy that carries connections to `origin`, if any.
    pub(crate) fn for_origin(&self, origin: &Origin) -> Option<&ProxyEndpoint> {
        self.list
            .iter()
            .find(|p| p.covers(origin))
            .map(|p| &p.endpoint)
    }
}

/// The first of `names` set to something other than blanks.
fn env_var(names: &[&str]) -> Option<String> {
    names
        .iter()
        .filter_map(|n| std::env::var(n).ok())
        .find(|v| !v.trim().is_empty())
}

fn basic(user: &str, password: &str) -> HeaderValue {
    let mut value = HeaderValue::try_from(crate::basic_auth::basic_credentials(user, password))
        .unwrap_or(HeaderValue::from_static(""));
    value.set_sensitive(true);
    value
}

/// `host[:port]`, the host of an IPv6 literal in brackets (returned without them).
fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':')?)),
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => Some(p.parse::<u16>().ok()?),
    };
    Some((host, port))
}

/// The URL with any password replaced, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        (None, Some(at)) => format!("…@{}", &url[at + 1..]),
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(url: &str) -> Origin {
        Origin::from_uri(&url.parse().expect("uri")).expect("origin")
    }

    #[test]
    fn proxy_urls_parse_with_default_ports_and_decoded_credentials() {
        let p = Proxy::all("http://al%40ce:p%3Ass@Proxy.test:3128").expect("parse");
        assert_eq!(p.endpoint.host, "proxy.test");
        assert_eq!(p.endpoint.port, 3128);
        assert!(!p.endpoint.tls);
        // base64("al@ce:p:ss")
        assert_eq!(
            p.endpoint
                .authorization
                .as_ref()
                .map(|v| v.as_bytes().to_vec()),
            Some(b"Basic YWxAY2U6cDpzcw==".to_vec())
        );
        let p = Proxy::all("proxy.test").expect("bare host");
        assert_eq!((p.endpoint.port, p.endpoint.tls), (80, false));
        let p = Proxy::all("https://[::1]/").expect("https");
        assert_eq!(
            (p.endpoint.host.as_str(), p.endpoint.port, p.endpoint.tls),
            ("::1", 443, true)
        );
        let e = Proxy::all("socks5://proxy.test:1080").expect_err("socks");
        assert_eq!(e.kind(), ErrorKind::UnsupportedScheme);
        let e = Proxy::all("http://user:secret@proxy.test:99999").expect_err("port");
        assert_eq!(e.kind(), ErrorKind::InvalidUrl);
        assert!(!e.to_string().contains("secret"), "{e}");
    }

    #[test]
    fn a_scheme_specific_proxy_covers_its_scheme_only() {
        let proxies = Proxies::new(vec![
            Proxy::https("http://tls-proxy.test:1").expect("https"),
            Proxy::http("http://plain-proxy.test:2").expect("http"),
        ]);
        let port = |url: &str| proxies.for_origin(&origin(url)).map(|p| p.port);
        assert_eq!(port("https://a.test/"), Some(1));
        assert_eq!(port("http://a.test/"), Some(2));
    }

    #[test]
    fn no_proxy_matches_domains_suffixes_addresses_and_networks() {
        let n = NoProxy::from_list(" example.com, .internal.test ,10.0.0.0/8, ::1, 192.0.2.7:8080");
        for host in [
            "example.com",
            "www.example.com",
            "EXAMPLE.COM.",
            "a.internal.test",
            "internal.test",
            "10.1.2.3",
            "::1",
            "192.0.2.7",
        ] {
            assert!(n.matches(host), "{host} should go direct");
        }
        for host in [
            "badexample.com",
            "example.org",
            "11.0.0.1",
            "::2",
            "192.0.2.8",
        ] {
            assert!(!n.matches(host), "{host} should be proxied");
        }
        assert!(NoProxy::from_list("*").matches("anything.test"));
        assert!(!NoProxy::from_list("").matches("anything.test"));
        let p = Proxy::all("http://proxy.test:3128")
            .expect("parse")
            .no_proxy(NoProxy::from_list("direct.test"));
        let proxies = Proxies::new(vec![p]);
        assert!(proxies
            .for_origin(&origin("https://direct.test/"))
            .is_none());
        assert!(proxies.for_origin(&origin("https://other.test/")).is_some());
    }
}
