//! URLs and authorities: whatever `http` accepts as a URI, plexus either rejects with a
//! typed error or turns into an origin whose authority parses back to the same origin, and
//! request targets for HTTP/1.1 and h2/h3 that are well formed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plexus_core::{target, ErrorKind, Origin};

fuzz_target!(|data: &[u8]| {
    let Ok(uri) = http::Uri::try_from(data) else {
        return;
    };
    let origin = match Origin::from_uri(&uri) {
        Ok(origin) => origin,
        Err(e) => {
            assert!(
                matches!(
                    e.kind(),
                    ErrorKind::InvalidUrl | ErrorKind::UnsupportedScheme
                ),
                "{e}"
            );
            return;
        }
    };
    // The authority plexus writes (Host header, :authority) reads back as the same origin.
    let again: http::Uri = format!("{}://{}/", origin.scheme(), origin.authority())
        .parse()
        .expect("an origin's authority is a valid URI authority");
    let reparsed = Origin::from_uri(&again).expect("an origin's own URL is accepted");
    assert_eq!(reparsed, origin);
    assert!(!origin.host().is_empty());

    let absolute = target::absolute_uri(&origin, uri.clone()).expect("absolute form");
    assert!(absolute.scheme().is_some() && absolute.authority().is_some());
    let origin_form = target::origin_form(&uri);
    assert!(origin_form.path().starts_with('/') || origin_form.path() == "*");

    let mut h1 = http::Request::get(uri.clone())
        .body(())
        .expect("a request of a valid URI")
        .into_parts()
        .0;
    let host = target::host_header(&origin).expect("an origin's authority is a Host value");
    target::to_http1(&host, &mut h1);
    assert_eq!(h1.headers.get(http::header::HOST), Some(&host));
    let mut h2 = http::Request::get(uri)
        .body(())
        .expect("request")
        .into_parts()
        .0;
    target::to_multiplexed(&origin, &mut h2, http::Version::HTTP_2).expect("an h2 head");
    assert!(h2.uri.scheme().is_some() && h2.uri.authority().is_some());
    assert!(!h2.headers.contains_key(http::header::HOST));
});
