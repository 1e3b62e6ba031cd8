//! Where a redirect points: its `Location` resolved against the URL that answered, as
//! RFC 3986 §5 resolves a reference against a base.

use http::Uri;

use crate::error::{Error, ErrorKind};

/// The absolute URL that the `Location` value `location` names, relative to `base` (an
/// absolute URL). The fragment is dropped; bytes a URL may not hold (spaces, non-ASCII)
/// are percent-encoded, as browsers and curl do.
///
/// Fails with [`ErrorKind::UnsupportedScheme`] for a scheme other than http and https, and
/// with [`ErrorKind::InvalidUrl`] for a target with no host or that is no valid URL.
pub fn resolve(base: &Uri, location: &[u8]) -> Result<Uri, Error> {
    let encoded = percent_encode_unsafe(location);
    let without_fragment = encoded.split('#').next().unwrap_or_default();
    let reference = Reference::parse(without_fragment);
    let base_scheme = base.scheme_str().unwrap_or("https");
    let base_authority = base.authority().map_or("", |a| a.as_str());
    let (scheme, authority, path, query) = match (reference.scheme, reference.authority) {
        (Some(scheme), authority) => (
            scheme,
            authority.unwrap_or_default(),
            remove_dot_segments(reference.path),
            reference.query,
        ),
        (None, Some(authority)) => (
            base_scheme,
            authority,
            remove_dot_segments(reference.path),
            reference.query,
        ),
        // RFC 3986 keeps the base's path as it is here; its dot segments go too, so that
        // every result is already normal (and resolves to itself).
        (None, None) if reference.path.is_empty() => (
            base_scheme,
            base_authority,
            remove_dot_segments(base.path()),
            reference.query.or(base.query()),
        ),
        (None, None) if reference.path.starts_with('/') => (
            base_scheme,
            base_authority,
            remove_dot_segments(reference.path),
            reference.query,
        ),
        (None, None) => (
            base_scheme,
            base_authority,
            remove_dot_segments(&merge(base.path(), reference.path)),
            reference.query,
        ),
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(
            Error::new(ErrorKind::UnsupportedScheme).with_message(format!(
                "the redirect goes to `{encoded}`, whose scheme is neither http nor https"
            )),
        );
    }
    if authority.is_empty() {
        return Err(Error::new(ErrorKind::InvalidUrl)
            .with_message(format!("the redirect's Location `{encoded}` has no host")));
    }
    let path = if path.is_empty() { "/" } else { &path };
    let target = match query {
        Some(q) => format!("{scheme}://{authority}{path}?{q}"),
        None => format!("{scheme}://{authority}{path}"),
    };
    // The parts taken from the base may hold bytes `http` let through unencoded.
    percent_encode_unsafe(target.as_bytes())
        .parse::<Uri>()
        .map_err(|e| {
            Error::new(ErrorKind::InvalidUrl)
                .with_message(format!(
                    "the redirect's Location `{encoded}` is not a valid URL"
                ))
                .with_source(e)
        })
}

/// A URI reference split into its parts (RFC 3986 §4.1), fragment already removed.
struct Reference<'a> {
    scheme: Option<&'a str>,
    authority: Option<&'a str>,
    path: &'a str,
    query: Option<&'a str>,
}

impl<'a> Reference<'a> {
    fn parse(s: &'a str) -> Reference<'a> {
        let (s, query) = match s.split_once('?') {
            Some((rest, q)) => (rest, Some(q)),
            None => (s, None),
        };
        let (scheme, s) = match s.split_once(':') {
            Some((scheme, rest)) if is_scheme(scheme) => (Some(scheme), rest),
            _ => (None, s),
        };
        let (authority, path) = match s.strip_prefix("//") {
            Some(rest) => {
                let end = rest.find('/').unwrap_or(rest.len());
                (Some(&rest[..end]), &rest[end..])
            }
            None => (None, s),
        };
        Reference {
            scheme,
            authority,
            path,
            query,
        }
    }
}

/// `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`
fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// A relative path joined to the base's directory (RFC 3986 §5.2.3).
fn merge(base_path: &str, reference_path: &str) -> String {
    match base_path.rfind('/') {
        Some(i) => format!("{}{reference_path}", &base_path[..=i]),
        None => format!("/{reference_path}"),
    }
}

/// `.` and `..` segments taken out of a path (RFC 3986 §5.2.4).
fn remove_dot_segments(path: &str) -> String {
    let mut output: Vec<&str> = Vec::new();
    let mut input = path;
    while !input.is_empty() {
        if let Some(rest) = input
            .strip_prefix("../")
            .or_else(|| input.strip_prefix("./"))
        {
            input = rest;
        } else if input.starts_with("/./") {
            input = &input[2..];
        } else if input == "/." {
            input = "/";
        } else if input.starts_with("/../") || input == "/.." {
            input = if input == "/.." { "/" } else { &input[3..] };
            output.pop();
        } else if input == "." || input == ".." {
            input = "";
        } else {
            // The first segment, with its leading slash, up to the next slash.
            let start = usize::from(input.starts_with('/'));
            let end = input[start..].find('/').map_or(input.len(), |i| i + start);
            output.push(&input[..end]);
            input = &input[end..];
        }
    }
    output.concat()
}

/// `bytes` with every byte a URL may not hold written as `%XX`; `%` itself is kept, taken
/// to start an escape already made.
fn percent_encode_unsafe(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        let unsafe_byte = b <= b' '
            || b >= 0x7f
            || matches!(
                b,
                b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
            );
        if unsafe_byte {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(char::from(b));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(base: &str, location: &str) -> String {
        let base: Uri = base.parse().expect("base");
        resolve(&base, location.as_bytes())
            .map(|u| u.to_string())
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    /// RFC 3986 §5.4's examples that an HTTP redirect can carry.
    #[test]
    fn the_rfc_examples_resolve() {
        let base = "http://a/b/c/d;p?q";
        for (reference, want) in [
            ("g", "http://a/b/c/g"),
            ("./g", "http://a/b/c/g"),
            ("g/", "http://a/b/c/g/"),
            ("/g", "http://a/g"),
            ("//g", "http://g/"),
            ("?y", "http://a/b/c/d;p?y"),
            ("g?y", "http://a/b/c/g?y"),
            ("#s", "http://a/b/c/d;p?q"),
            ("g#s", "http://a/b/c/g"),
            (";x", "http://a/b/c/;x"),
            ("", "http://a/b/c/d;p?q"),
            (".", "http://a/b/c/"),
            ("./", "http://a/b/c/"),
            ("..", "http://a/b/"),
            ("../", "http://a/b/"),
            ("../g", "http://a/b/g"),
            ("../..", "http://a/"),
            ("../../g", "http://a/g"),
            ("../../../g", "http://a/g"),
            ("/./g", "http://a/g"),
            ("/../g", "http://a/g"),
            ("g.", "http://a/b/c/g."),
            ("..g", "http://a/b/c/..g"),
            ("./../g", "http://a/b/g"),
            ("g/./h", "http://a/b/c/g/h"),
            ("g/../h", "http://a/b/c/h"),
            ("g;x=1/../y", "http://a/b/c/y"),
        ] {
            assert_eq!(resolved(base, reference), want, "{reference}");
        }
    }

    #[test]
    fn absolute_locations_switch_scheme_host_and_port() {
        let base = "https://example.com:8443/a/b";
        assert_eq!(
            resolved(base, "http://other.example:8080/x?y=1#top"),
            "http://other.example:8080/x?y=1"
        );
        assert_eq!(
            resolved(base, "HTTPS://Example.com/"),
            "https://Example.com/"
        );
        assert_eq!(resolved(base, "//cdn.example/p"), "https://cdn.example/p");
        assert_eq!(resolved(base, "/"), "https://example.com:8443/");
    }

    #[test]
    fn unsafe_bytes_are_percent_encoded() {
        assert_eq!(
            resolved("https://h/", "/a b/ü?q=\"x\""),
            "https://h/a%20b/%C3%BC?q=%22x%22"
        );
        assert_eq!(
            resolved("https://h/", "/already%20encoded"),
            "https://h/already%20encoded"
        );
        // What the base's own URL lets through is encoded too (found by fuzzing).
        assert_eq!(resolved("http://h/x/ü", ""), "http://h/x/%C3%BC");
        assert_eq!(resolved("https://e/c?a`b", "?x`y"), "https://e/c?x%60y");
        assert_eq!(resolved("http://h/a/./b", ""), "http://h/a/b");
    }

    #[test]
    fn other_schemes_and_hostless_urls_are_errors() {
        let base: Uri = "https://h/".parse().expect("base");
        let kind = |loc: &str| resolve(&base, loc.as_bytes()).map_err(|e| e.kind());
        assert_eq!(
            kind("ftp://h/file").err(),
            Some(ErrorKind::UnsupportedScheme)
        );
        assert_eq!(
            kind("javascript:alert(1)").err(),
            Some(ErrorKind::UnsupportedScheme)
        );
        assert_eq!(kind("https:///path").err(), Some(ErrorKind::InvalidUrl));
        assert_eq!(kind("http://[::1/").err(), Some(ErrorKind::InvalidUrl));
    }
}
