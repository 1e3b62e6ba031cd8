//! QUIC variable-length integers (RFC 9000 §16), as transport parameters and HTTP/3
//! frames carry them.

/// A QUIC variable-length integer (RFC 9000 §16).
pub(crate) fn read_varint(buf: &[u8]) -> Option<(u64, &[u8])> {
    let first = *buf.first()?;
    let len = 1usize << (first >> 6);
    let bytes = buf.get(..len)?;
    let mut value = u64::from(first & 0x3f);
    for b in &bytes[1..] {
        value = (value << 8) | u64::from(*b);
    }
    Some((value, &buf[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_varints_of_every_length() {
        assert_eq!(read_varint(&[0x25]), Some((37, &[][..])));
        assert_eq!(read_varint(&[0x7b, 0xbd]).map(|v| v.0), Some(15_293));
        assert_eq!(
            read_varint(&[0x9d, 0x7f, 0x3e, 0x7d]).map(|v| v.0),
            Some(494_878_333)
        );
        assert_eq!(
            read_varint(&[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c]).map(|v| v.0),
            Some(151_288_809_941_952_652)
        );
        assert_eq!(read_varint(&[0x40]), None, "truncated");
    }
}
