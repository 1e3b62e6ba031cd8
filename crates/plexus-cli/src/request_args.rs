//! Flags that `plexus get` and `plexus load` share: TLS trust, proxies, and what each
//! request carries (method, headers, body).

use std::path::PathBuf;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::Method;
use plexus::{Certificate, ClientBuilder, NoProxy, Proxy};

/// How the server's certificate is checked.
#[derive(clap::Args, Debug, Clone, Default)]
pub(crate) struct TlsArgs {
    /// Trust the CA certificates in this PEM file.
    #[arg(long, value_name = "FILE")]
    pub(crate) cacert: Option<PathBuf>,
    /// Do not verify the server's certificate (insecure).
    #[arg(short = 'k', long)]
    pub(crate) insecure: bool,
}

impl TlsArgs {
    /// Applies the flags to `builder`.
    pub(crate) async fn apply(&self, mut builder: ClientBuilder) -> Result<ClientBuilder, String> {
        if let Some(path) = &self.cacert {
            let pem = tokio::fs::read(path)
                .await
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            for cert in Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("{}: {}", path.display(), crate::error_chain(&e)))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        if self.insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
        Ok(builder)
    }
}

/// Which proxy connections go through (curl's flags). Without `-x`, the environment's
/// `HTTPS_PROXY`, `http_proxy`, `ALL_PROXY` and `NO_PROXY` apply, as in curl.
#[derive(clap::Args, Debug, Clone, Default)]
pub(crate) struct ProxyArgs {
    /// Tunnel every connection through this proxy (`http://[USER:PASSWORD@]HOST[:PORT]`
    /// or `https://...`) with HTTP CONNECT; HTTP/3 is not used through a proxy.
    #[arg(short = 'x', long = "proxy", value_name = "URL")]
    pub(crate) proxy: Option<String>,
    /// `USER:PASSWORD` for the proxy (Basic).
    #[arg(short = 'U', long = "proxy-user", value_name = "USER:PASSWORD")]
    pub(crate) proxy_user: Option<String>,
    /// Hosts that go direct, comma-separated (domains, IP addresses, networks, `*`);
    /// replaces `NO_PROXY`.
    #[arg(long = "noproxy", value_name = "LIST")]
    pub(crate) noproxy: Option<String>,
}

impl ProxyArgs {
    /// Applies the flags to `builder`.
    pub(crate) fn apply(&self, mut builder: ClientBuilder) -> Result<ClientBuilder, String> {
        let error = |e: plexus::Error| crate::error_chain(&e);
        let proxies = match &self.proxy {
            Some(url) => vec![Proxy::all(url).map_err(error)?],
            None if self.noproxy.is_some() || self.proxy_user.is_some() => {
                Proxy::from_env().map_err(error)?
            }
            // The client reads the environment itself.
            None => return Ok(builder),
        };
        if proxies.is_empty() {
            return Ok(builder.no_proxy());
        }
        for mut proxy in proxies {
            if let Some(user) = &self.proxy_user {
                let (name, password) = user.split_once(':').unwrap_or((user, ""));
                proxy = proxy.basic_auth(name, password);
            }
            if let Some(list) = &self.noproxy {
                proxy = proxy.no_proxy(NoProxy::from_list(list));
            }
            builder = builder.proxy(proxy);
        }
        Ok(builder)
    }
}

/// One `-H` argument, read as curl reads it.
enum HeaderArg {
    /// `Name: value`; `Name;` sends the header with an empty value.
    Send(HeaderName, HeaderValue),
    /// `Name:` with nothing after the colon: the header is not sent at all, not even the
    /// client's default (`User-Agent`; `plexus get`'s `Accept`).
    Remove(HeaderName),
}

fn header_arg(h: &str) -> Result<HeaderArg, String> {
    let name_of = |name: &str| {
        HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("invalid header name in `{h}`"))
    };
    let Some((name, value)) = h.split_once(':') else {
        return match h.trim_end().strip_suffix(';') {
            Some(name) => Ok(HeaderArg::Send(
                name_of(name)?,
                HeaderValue::from_static(""),
            )),
            None => Err(format!("header `{h}` is not `Name: value`")),
        };
    };
    let name = name_of(name)?;
    if value.trim().is_empty() {
        return Ok(HeaderArg::Remove(name));
    }
    let value = HeaderValue::from_str(value.trim())
        .map_err(|_| format!("invalid header value in `{h}`"))?;
    Ok(HeaderArg::Send(name, value))
}

/// The client's default headers that `-H 'Name:'` arguments take away.
pub(crate) fn without_removed_defaults(
    mut builder: ClientBuilder,
    headers: &[String],
) -> Result<ClientBuilder, String> {
    for h in headers {
        if let HeaderArg::Remove(name) = header_arg(h)? {
            builder = builder.without_default_header(name);
        }
    }
    Ok(builder)
}

/// What every request of a run carries.
#[derive(Debug, Clone)]
pub(crate) struct RequestShape {
    pub(crate) method: Method,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) data: Option<Bytes>,
}

impl RequestShape {
    /// From `-X`, `-H` and `-d` (`@FILE` reads the body from FILE); `upload` says a body
    /// comes from elsewhere (PUT by default). As curl: POST with a body, and a form
    /// content type unless one is given.
    pub(crate) async fn parse(
        method: Option<&str>,
        headers: &[String],
        data: Option<&str>,
        upload: bool,
    ) -> Result<RequestShape, String> {
        let mut parsed = Vec::new();
        for h in headers {
            match header_arg(h)? {
                HeaderArg::Send(name, value) => parsed.push((name, value)),
                HeaderArg::Remove(_) => {}
            }
        }
        let data = match data {
            Some(d) => Some(match d.strip_prefix('@') {
                Some(path) => Bytes::from(
                    tokio::fs::read(path)
                        .await
                        .map_err(|e| format!("cannot read {path}: {e}"))?,
                ),
                None => Bytes::from(d.to_string()),
            }),
            None => None,
        };
        let method = match method {
            Some(m) => {
                Method::from_bytes(m.as_bytes()).map_err(|_| format!("invalid method `{m}`"))?
            }
            None if data.is_some() => Method::POST,
            None if upload => Method::PUT,
            None => Method::GET,
        };
        if data.is_some() && !parsed.iter().any(|(n, _)| n == CONTENT_TYPE) {
            parsed.push((
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            ));
        }
        Ok(RequestShape {
            method,
            headers: parsed,
            data,
        })
    }
}
