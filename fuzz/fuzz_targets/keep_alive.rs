//! `Keep-Alive` and `Connection` header values: never a panic; a parsed value is one that
//! appears in the input as digits.
#![no_main]

use http::header::{HeaderMap, HeaderValue, CONNECTION};
use libfuzzer_sys::fuzz_target;
use plexus_core::keep_alive::{has_connection_close, ConnectionHeaders, KeepAliveHeader};

fuzz_target!(|data: &[u8]| {
    let parsed = KeepAliveHeader::parse(data);
    let text = String::from_utf8_lossy(data);
    if let Some(max) = parsed.max {
        assert!(text.contains(&max.to_string()), "max={max} from {text:?}");
    }
    if let Some(timeout) = parsed.timeout {
        assert!(text.contains(&timeout.as_secs().to_string()));
    }
    if let Ok(value) = HeaderValue::from_bytes(data) {
        let mut headers = HeaderMap::new();
        headers.append("keep-alive", value.clone());
        headers.append(CONNECTION, value);
        let read = ConnectionHeaders::read(&headers);
        assert_eq!(read.params, parsed);
        let close = has_connection_close(&headers);
        assert_eq!(close, read.close);
        if close {
            assert!(text.to_ascii_lowercase().contains("close"));
        }
        if read.keep_alive {
            assert!(text.to_ascii_lowercase().contains("keep-alive"));
        }
    }
});
