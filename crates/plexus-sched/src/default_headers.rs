//! The headers a pool adds to every request that lacks them
//! ([`PoolConfig::default_headers`](crate::PoolConfig::default_headers)).

use http::HeaderMap;

/// Adds to `headers` every header of `defaults` whose name `headers` lacks, with all of
/// that name's values: a request's own value of a name wins over the defaults'. `room`:
/// how many more headers the map is about to take (the transport's, such as HTTP/1.1's
/// `Host`).
pub(crate) fn add_defaults(headers: &mut HeaderMap, defaults: &HeaderMap, room: usize) {
    if defaults.is_empty() {
        return;
    }
    if headers.is_empty() && room == 0 {
        // The common case, and the cheapest: one copy of the whole map.
        headers.clone_from(defaults);
        return;
    }
    if headers.is_empty() {
        // A copy would be full, and the next header would grow it: sized once instead.
        headers.reserve(defaults.len() + room);
    }
    for name in defaults.keys() {
        if headers.contains_key(name) {
            continue;
        }
        for value in defaults.get_all(name) {
            headers.append(name.clone(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use http::header::{ACCEPT, USER_AGENT};
    use http::HeaderValue;

    use super::*;

    fn defaults() -> HeaderMap {
        let mut d = HeaderMap::new();
        d.insert(USER_AGENT, HeaderValue::from_static("plexus/test"));
        d.append(ACCEPT, HeaderValue::from_static("text/html"));
        d.append(ACCEPT, HeaderValue::from_static("*/*"));
        d
    }

    #[test]
    fn a_request_without_headers_gets_every_default() {
        for room in [0, 1] {
            let mut headers = HeaderMap::new();
            add_defaults(&mut headers, &defaults(), room);
            assert_eq!(headers, defaults());
            assert!(headers.capacity() >= headers.len() + room);
        }
    }

    #[test]
    fn the_request_s_own_value_wins_and_every_value_of_a_default_is_added() {
        let mut headers = HeaderMap::new();
        headers.insert(USER_AGENT, HeaderValue::from_static("mine"));
        add_defaults(&mut headers, &defaults(), 0);
        assert_eq!(headers.get_all(USER_AGENT).iter().count(), 1);
        assert_eq!(headers[USER_AGENT], "mine");
        let accepts: Vec<_> = headers.get_all(ACCEPT).iter().collect();
        assert_eq!(accepts, ["text/html", "*/*"]);
    }

    #[test]
    fn adding_twice_changes_nothing() {
        let mut headers = HeaderMap::new();
        headers.insert(USER_AGENT, HeaderValue::from_static("mine"));
        add_defaults(&mut headers, &defaults(), 0);
        let once = headers.clone();
        add_defaults(&mut headers, &defaults(), 0);
        assert_eq!(headers, once);
    }
}
