//! Percent-decoding (RFC 3986 §2.1), strict: a `%` not followed by two hex digits, or
//! bytes that are not UTF-8 once decoded, make the whole input invalid.

/// `s` with every `%XX` replaced by its byte; `None` for a malformed escape or a result
/// that is not UTF-8.
pub fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn escapes_decode_and_malformed_ones_fail() {
        assert_eq!(decode("h%33").as_deref(), Some("h3"));
        assert_eq!(decode("a%40b%3Ac").as_deref(), Some("a@b:c"));
        assert_eq!(decode("plain").as_deref(), Some("plain"));
        assert_eq!(decode("bad%2"), None);
        assert_eq!(decode("bad%zz"), None);
        assert_eq!(decode("%ff"), None);
    }
}
