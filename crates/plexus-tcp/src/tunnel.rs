//! HTTP `CONNECT` tunnels (RFC 9110 §9.3.6): the connection goes to a proxy, which is
//! asked to open a TCP tunnel to the origin; TLS and HTTP to the origin then run through
//! it, so an h2 origin multiplexes through the tunnel as it would directly.

use std::fmt;

use http::HeaderValue;
use plexus_core::{Error, ErrorKind, Origin};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Longest proxy answer to `CONNECT` (status line and headers) read before giving up.
const MAX_ANSWER_HEAD: usize = 16 * 1024;

/// A proxy that TCP connections are tunnelled through with HTTP `CONNECT`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ProxyEndpoint {
    /// The proxy's host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// The proxy's port.
    pub port: u16,
    /// Speak TLS to the proxy itself (an `https://` proxy): the origin's own TLS then
    /// runs inside the proxy's.
    pub tls: bool,
    /// The `Proxy-Authorization` value sent with `CONNECT`, if any.
    pub authorization: Option<HeaderValue>,
}

impl ProxyEndpoint {
    /// `host:port`, the IPv6 literal in brackets.
    pub fn authority(&self) -> String {
        host_port(&self.host, self.port)
    }
}

impl fmt::Debug for ProxyEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Credentials stay out of logs.
        f.debug_struct("ProxyEndpoint")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("authorization", &self.authorization.as_ref().map(|_| "…"))
            .finish()
    }
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Asks the proxy on `stream` for a tunnel to `origin` and reads its answer. On success
/// the stream carries the origin's bytes from the next byte on.
pub(crate) async fn establish<S>(
    stream: &mut S,
    proxy: &ProxyEndpoint,
    origin: &Origin,
) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let target = host_port(origin.host(), origin.port());
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n").into_bytes();
    if let Some(credentials) = &proxy.authorization {
        request.extend_from_slice(b"Proxy-Authorization: ");
        request.extend_from_slice(credentials.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    let failed = |what: String| {
        Error::new(ErrorKind::Proxy).with_message(format!(
            "proxy {} (CONNECT {target}): {what}",
            proxy.authority()
        ))
    };
    stream
        .write_all(&request)
        .await
        .map_err(|e| failed(format!("could not send: {e}")).with_source(e))?;
    stream
        .flush()
        .await
        .map_err(|e| failed(format!("could not send: {e}")).with_source(e))?;

    let mut head = Vec::with_capacity(512);
    let end = loop {
        let mut chunk = [0u8; 1024];
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| failed(format!("could not read the answer: {e}")).with_source(e))?;
        if n == 0 {
            return Err(failed("closed the connection without answering".into()));
        }
        let searched_from = head.len().saturating_sub(3);
        head.extend_from_slice(&chunk[..n]);
        if let Some(at) = find_blank_line(&head[searched_from..]) {
            break searched_from + at;
        }
        if head.len() > MAX_ANSWER_HEAD {
            return Err(failed(format!(
                "no end of the answer's head within {MAX_ANSWER_HEAD} bytes"
            )));
        }
    };
    let (status, reason) = status_line(&head[..end]).ok_or_else(|| {
        let shown = String::from_utf8_lossy(&head[..head.len().min(60)]).into_owned();
        failed(format!(
            "answered with something that is not HTTP: {shown:?}"
        ))
    })?;
    if !(200..300).contains(&status) {
        // 407 is the standard answer; tinyproxy answers a CONNECT with 401.
        let hint = match (status, &proxy.authorization) {
            (401 | 407, None) => "; it wants credentials (user:password in the proxy URL)",
            (401 | 407, Some(_)) => "; it refused the credentials",
            _ => "",
        };
        return Err(failed(format!("answered {status} {reason}{hint}")));
    }
    if head.len() > end {
        // The origin speaks only after we do: bytes here mean a confused proxy.
        return Err(failed(format!(
            "sent {} bytes after its {status} answer, before the origin could speak",
            head.len() - end
        )));
    }
    Ok(())
}

/// Where the head ends: the index just past the first `\r\n\r\n`.
fn find_blank_line(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

/// The status code and reason phrase of an HTTP/1.x status line at the start of `head`.
fn status_line(head: &[u8]) -> Option<(u16, String)> {
    let line_end = head.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&head[..line_end]).ok()?;
    let rest = line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| line.strip_prefix("HTTP/1.0 "))?;
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    if code.len() != 3 {
        return None;
    }
    let status = code.parse().ok()?;
    Some((status, reason.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use plexus_core::Scheme;

    fn proxy(authorization: Option<&'static str>) -> ProxyEndpoint {
        ProxyEndpoint {
            host: "::1".into(),
            port: 3128,
            tls: false,
            authorization: authorization.map(HeaderValue::from_static),
        }
    }

    /// Runs `establish` against a proxy that answers `answer`; returns the result and
    /// the request the proxy read.
    async fn exchange(answer: &'static [u8], p: ProxyEndpoint) -> (Result<(), Error>, String) {
        let (mut client, mut server) = tokio::io::duplex(64 * 1024);
        let origin = Origin::new(Scheme::Https, "example.test", 8443).expect("origin");
        let proxy_side = tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut buf = [0u8; 1024];
            while find_blank_line(&seen).is_none() {
                let n = server.read(&mut buf).await.expect("read");
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&buf[..n]);
            }
            server.write_all(answer).await.expect("write");
            // Keep the stream open until the client is done reading.
            let _ = server.read(&mut buf).await;
            String::from_utf8(seen).expect("utf-8")
        });
        let result = establish(&mut client, &p, &origin).await;
        drop(client);
        (result, proxy_side.await.expect("proxy side"))
    }

    #[tokio::test]
    async fn a_2xx_answer_opens_the_tunnel_and_the_request_names_the_origin() {
        let (result, request) = exchange(
            b"HTTP/1.1 200 Connection established\r\n\r\n",
            proxy(Some("Basic YTpi")),
        )
        .await;
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(
            request,
            "CONNECT example.test:8443 HTTP/1.1\r\nHost: example.test:8443\r\n\
             Proxy-Authorization: Basic YTpi\r\n\r\n"
        );
    }

    #[tokio::test]
    async fn a_407_is_a_proxy_error_that_says_credentials_are_wanted() {
        let (result, _) = exchange(
            b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n",
            proxy(None),
        )
        .await;
        let e = result.expect_err("407");
        assert_eq!(e.kind(), ErrorKind::Proxy);
        let text = e.to_string();
        assert!(
            text.contains("407") && text.contains("[::1]:3128"),
            "{text}"
        );
        assert!(text.contains("wants credentials"), "{text}");
    }

    #[tokio::test]
    async fn garbage_bytes_after_the_answer_and_non_http_are_proxy_errors() {
        for answer in [
            &b"HTTP/1.1 200 OK\r\n\r\nsurprise"[..],
            b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
            b"HTTP/1.1 20 OK\r\n\r\n",
        ] {
            let (result, _) = exchange(answer, proxy(None)).await;
            let e = result.expect_err("refused");
            assert_eq!(e.kind(), ErrorKind::Proxy, "{e}");
        }
    }

    #[test]
    fn status_lines_parse() {
        assert_eq!(
            status_line(b"HTTP/1.0 403 Forbidden\r\n\r\n"),
            Some((403, "Forbidden".into()))
        );
        assert_eq!(status_line(b"HTTP/1.1 200\r\n\r\n"), Some((200, "".into())));
        assert_eq!(status_line(b"HTTP/2 200\r\n\r\n"), None);
    }
}
