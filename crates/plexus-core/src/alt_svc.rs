//! The `Alt-Svc` response header (RFC 7838): where else an origin can be reached, and
//! over which protocol.
//!
//! ```text
//! Alt-Svc: h3=":443"; ma=86400, h3="alt.example.com:8443"; persist=1
//! Alt-Svc: clear
//! ```

use std::time::Duration;

/// The default freshness of an advertisement without `ma` (RFC 7838 §3.1): 24 hours.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(86_400);

/// A parsed `Alt-Svc` header field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AltSvc {
    /// `clear`: forget every alternative of this origin.
    Clear,
    /// Alternatives, in the server's order of preference.
    Services(Vec<AltService>),
}

/// One alternative service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AltService {
    /// The ALPN protocol id, percent-decoded (`h3`).
    pub protocol: String,
    /// Another host, or `None` for the origin's own host.
    pub host: Option<String>,
    /// The port.
    pub port: u16,
    /// How long the advertisement stays fresh (`ma`, default 24 h).
    pub max_age: Duration,
    /// `persist=1`: keep it across network changes.
    pub persist: bool,
}

impl AltSvc {
    /// Parses every value of the header (repeated header lines are one comma-separated
    /// list). Malformed alternatives are skipped; `clear` anywhere wins, as RFC 7838 asks
    /// that it be the only value. Returns `None` if nothing usable remains.
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Option<AltSvc> {
        let mut services = Vec::new();
        for value in values {
            let text = std::str::from_utf8(value).ok()?;
            for item in split_outside_quotes(text, ',') {
                let item = item.trim();
                if item.eq_ignore_ascii_case("clear") {
                    return Some(AltSvc::Clear);
                }
                if let Some(s) = parse_alternative(item) {
                    services.push(s);
                }
            }
        }
        (!services.is_empty()).then_some(AltSvc::Services(services))
    }
}

fn parse_alternative(item: &str) -> Option<AltService> {
    let mut parts = split_outside_quotes(item, ';').into_iter();
    let (protocol, authority) = parts.next()?.split_once('=')?;
    // Percent-encoded ALPN ids: `h3` and `h%33` are the same.
    let protocol = crate::percent::decode(protocol.trim())?;
    if protocol.is_empty() {
        return None;
    }
    let authority = unquote(authority.trim())?;
    let (host, port) = authority.rsplit_once(':')?;
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    let host = match host {
        "" => None,
        h => {
            let bare = h
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(h);
            if bare.is_empty() || bare.chars().any(|c| c.is_whitespace() || c == '/') {
                return None;
            }
            Some(bare.to_ascii_lowercase())
        }
    };
    let mut max_age = DEFAULT_MAX_AGE;
    let mut persist = false;
    for param in parts {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        let value = unquote(value.trim()).unwrap_or_default();
        match name.trim().to_ascii_lowercase().as_str() {
            "ma" => {
                if let Ok(secs) = value.parse::<u64>() {
                    max_age = Duration::from_secs(secs);
                }
            }
            "persist" => persist = value == "1",
            _ => {}
        }
    }
    Some(AltService {
        protocol,
        host,
        port,
        max_age,
        persist,
    })
}

/// Splits at `sep` where it is not inside a quoted string.
fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// The content of a quoted-string (with `\x` escapes), or a bare token as is.
fn unquote(s: &str) -> Option<String> {
    let Some(inner) = s.strip_prefix('"') else {
        return (!s.contains('"')).then(|| s.to_string());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(values: &[&str]) -> Option<AltSvc> {
        AltSvc::parse(values.iter().map(|v| v.as_bytes()))
    }

    fn services(values: &[&str]) -> Vec<AltService> {
        match parse(values) {
            Some(AltSvc::Services(s)) => s,
            other => panic!("expected services, got {other:?}"),
        }
    }

    #[test]
    fn the_common_form() {
        let s = services(&[r#"h3=":443"; ma=86400"#]);
        assert_eq!(
            s,
            vec![AltService {
                protocol: "h3".into(),
                host: None,
                port: 443,
                max_age: Duration::from_secs(86_400),
                persist: false,
            }]
        );
    }

    #[test]
    fn several_alternatives_other_hosts_and_params() {
        let s = services(&[
            r#"h3="alt.Example.com:8443"; ma=60; persist=1, h3-29=":443""#,
            r#"h%33="[2001:db8::1]:9443""#,
        ]);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].host.as_deref(), Some("alt.example.com"));
        assert_eq!(s[0].port, 8443);
        assert_eq!(s[0].max_age, Duration::from_secs(60));
        assert!(s[0].persist);
        assert_eq!(s[1].protocol, "h3-29");
        assert_eq!(s[1].max_age, DEFAULT_MAX_AGE);
        assert_eq!(s[2].protocol, "h3");
        assert_eq!(s[2].host.as_deref(), Some("2001:db8::1"));
    }

    #[test]
    fn clear_and_garbage() {
        assert_eq!(parse(&["clear"]), Some(AltSvc::Clear));
        assert_eq!(parse(&[r#"h3=":443", clear"#]), Some(AltSvc::Clear));
        assert_eq!(parse(&[""]), None);
        assert_eq!(
            parse(&[r#"h3=":0", h3=":99999", h3="443", =":443", h3=":443"#]),
            None
        );
        // One bad alternative does not spoil the good one (an unbalanced quote would
        // swallow the rest of the field, as quoted-string parsing must).
        let s = services(&[r#"h3=nope, h3=":8443""#]);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].port, 8443);
        let s = services(&[r#"h3=":443"; ma=soon; persist"#]);
        assert_eq!(s[0].max_age, DEFAULT_MAX_AGE);
    }

    #[test]
    fn quoted_strings_with_escapes_and_separators() {
        let s = services(&[r#"h3="a\;b.example:443"; ma="10", h3=":444""#]);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].host.as_deref(), Some("a;b.example"));
        assert_eq!(s[0].max_age, Duration::from_secs(10));
        assert_eq!(s[1].port, 444);
    }
}
