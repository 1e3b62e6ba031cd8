//! TCP connect to every resolved address of a host, IPv6 and IPv4 raced with a stagger
//! (Happy Eyeballs, RFC 8305, simplified: one resolution, interleaved families, the next
//! attempt starts when the previous one fails or after the stagger, whichever comes first).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use plexus_core::{Error, ErrorKind};
use tokio::net::TcpStream;

/// Resolves `host` (a name or an IP literal) to the addresses to try, in the order to try
/// them: the resolver's order, with the two families interleaved starting with the family
/// of its first answer.
pub(crate) async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, Error> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| {
            Error::new(ErrorKind::Dns)
                .with_message(format!("`{host}`: {e}"))
                .with_source(e)
        })?
        .collect();
    if found.is_empty() {
        return Err(Error::new(ErrorKind::Dns).with_message(format!("`{host}` has no addresses")));
    }
    Ok(interleave_families(found))
}

fn interleave_families(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let first_is_v6 = addrs[0].is_ipv6();
    let (preferred, other): (Vec<_>, Vec<_>) =
        addrs.into_iter().partition(|a| a.is_ipv6() == first_is_v6);
    let mut out = Vec::with_capacity(preferred.len() + other.len());
    let mut p = preferred.into_iter();
    let mut o = other.into_iter();
    loop {
        match (p.next(), o.next()) {
            (None, None) => return out,
            (a, b) => out.extend(a.into_iter().chain(b)),
        }
    }
}

/// Connects to the first address that answers. A new attempt starts `stagger` after the
/// previous one unless that one failed sooner; the first connection to complete wins and
/// the others are dropped.
pub(crate) async fn connect(addrs: &[SocketAddr], stagger: Duration) -> Result<TcpStream, Error> {
    let attempt = |addr: SocketAddr| async move { (addr, TcpStream::connect(addr).await) };
    let Some(&first) = addrs.first() else {
        return Err(Error::new(ErrorKind::Connect).with_message("no address to connect to"));
    };
    let mut pending = FuturesUnordered::new();
    pending.push(attempt(first));
    let mut next = 1;
    let mut failures: Vec<(SocketAddr, io::Error)> = Vec::new();

    loop {
        // The stagger counts from the latest start or failure.
        let stagger_timer = tokio::time::sleep(stagger);
        tokio::select! {
            Some((addr, result)) = pending.next() => match result {
                Ok(stream) => {
                    // Small requests and h2 frames must not wait for Nagle.
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
                Err(e) => {
                    tracing::debug!(%addr, error = %e, "TCP connect attempt failed");
                    failures.push((addr, e));
                    if let Some(&addr) = addrs.get(next) {
                        pending.push(attempt(addr));
                        next += 1;
                    } else if pending.is_empty() {
                        return Err(connect_error(failures));
                    }
                }
            },
            () = stagger_timer, if next < addrs.len() => {
                tracing::trace!(addr = %addrs[next], "stagger elapsed, starting the next connect attempt");
                pending.push(attempt(addrs[next]));
                next += 1;
            }
        }
    }
}

fn connect_error(mut failures: Vec<(SocketAddr, io::Error)>) -> Error {
    let tried = failures
        .iter()
        .map(|(a, _)| a.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let (_, last) = failures
        .pop()
        .expect("connect fails only after an attempt failed");
    Error::new(ErrorKind::Connect)
        .with_message(format!("{last} (tried {tried})"))
        .with_source(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().expect("test addresses parse")
    }

    #[test]
    fn families_interleave_from_the_first_answer() {
        let got = interleave_families(vec![
            a("[::1]:1"),
            a("[::2]:1"),
            a("127.0.0.1:1"),
            a("[::3]:1"),
            a("127.0.0.2:1"),
        ]);
        assert_eq!(
            got,
            vec![
                a("[::1]:1"),
                a("127.0.0.1:1"),
                a("[::2]:1"),
                a("127.0.0.2:1"),
                a("[::3]:1")
            ]
        );
    }

    #[tokio::test]
    async fn falls_through_refused_addresses_to_a_listening_one() -> Result<(), Error> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Error::new(ErrorKind::Connect).with_source(e))?;
        let good = listener
            .local_addr()
            .map_err(|e| Error::new(ErrorKind::Connect).with_source(e))?;
        // A port we just closed refuses at once, so the fall-through does not wait for
        // the stagger.
        let refused = {
            let l = std::net::TcpListener::bind("127.0.0.1:0")
                .map_err(|e| Error::new(ErrorKind::Connect).with_source(e))?;
            l.local_addr()
                .map_err(|e| Error::new(ErrorKind::Connect).with_source(e))?
        };
        let stream = connect(&[refused, good], Duration::from_secs(30)).await?;
        assert_eq!(stream.peer_addr().ok(), Some(good));
        Ok(())
    }

    /// An address whose listener never accepts and whose backlog is full drops new SYNs,
    /// so a connect to it hangs (on loopback, without leaving the machine). After the
    /// stagger the next address is tried, and wins.
    #[tokio::test]
    async fn a_hanging_address_is_overtaken_after_the_stagger() -> Result<(), Error> {
        let io = |e: std::io::Error| Error::new(ErrorKind::Connect).with_source(e);
        let hanging = tokio::net::TcpSocket::new_v4().map_err(io)?;
        hanging
            .bind("127.0.0.1:0".parse().expect("addr"))
            .map_err(io)?;
        let hanging = hanging.listen(0).map_err(io)?;
        let hanging_addr = hanging.local_addr().map_err(io)?;
        let mut fillers = Vec::new();
        for _ in 0..4 {
            if let Ok(Ok(s)) =
                tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(hanging_addr))
                    .await
            {
                fillers.push(s);
            }
        }
        let good = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(io)?;
        let good_addr = good.local_addr().map_err(io)?;
        let stream = tokio::time::timeout(
            Duration::from_secs(20),
            connect(&[hanging_addr, good_addr], Duration::from_millis(50)),
        )
        .await
        .map_err(|_| Error::new(ErrorKind::ConnectTimeout))??;
        assert_eq!(stream.peer_addr().ok(), Some(good_addr));
        drop(hanging);
        Ok(())
    }

    #[tokio::test]
    async fn all_refused_names_every_address() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind an ephemeral port");
        let err = connect(&[closed], Duration::from_millis(10))
            .await
            .expect_err("nothing listens there");
        assert_eq!(err.kind(), ErrorKind::Connect);
        assert!(err.to_string().contains(&closed.to_string()), "{err}");
    }
}
