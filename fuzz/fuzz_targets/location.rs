//! Redirect targets: a base URL, a newline, then a `Location` value. Whatever the bytes,
//! resolving either fails with a typed error or gives an absolute http(s) URL with a host,
//! which resolves to itself again (nothing left to resolve).
#![no_main]

use libfuzzer_sys::fuzz_target;
use plexus_core::{location, ErrorKind};

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (base, rest) = data.split_at(split);
    let location_value = rest.get(1..).unwrap_or_default();
    let Ok(base) = http::Uri::try_from(base) else {
        return;
    };
    if !matches!(base.scheme_str(), Some("http" | "https")) || base.authority().is_none() {
        return;
    }
    match location::resolve(&base, location_value) {
        Ok(target) => {
            assert!(
                matches!(target.scheme_str(), Some("http" | "https")),
                "{target}"
            );
            assert!(target.authority().is_some_and(|a| !a.as_str().is_empty()));
            let again = location::resolve(&base, target.to_string().as_bytes())
                .expect("a resolved URL resolves");
            assert_eq!(again, target);
        }
        Err(e) => assert!(
            matches!(
                e.kind(),
                ErrorKind::InvalidUrl | ErrorKind::UnsupportedScheme
            ),
            "{e}"
        ),
    }
});
