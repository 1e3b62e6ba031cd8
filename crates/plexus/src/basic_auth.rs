//! HTTP Basic credentials (RFC 7617), for `Authorization` and `Proxy-Authorization`.

use std::fmt::Display;

use base64::Engine as _;

/// `Basic base64(user ":" password)`.
pub(crate) fn basic_credentials(user: impl Display, password: impl Display) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc_7617_example() {
        assert_eq!(
            super::basic_credentials("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }
}
