//! The alt-svc file: curl's format, one alternative per line,
//!
//! ```text
//! # comment
//! h2 example.com 443 h3 example.com 443 "20261231 23:59:59" 0 0
//! ```
//!
//! (source ALPN, host, port; alternative ALPN, host, port; expiry in UTC; persist;
//! priority), so the file can be shared with curl's `--alt-svc`. Depends on nothing but
//! std, so that the fuzz target compiles this file alone.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One remembered alternative of an origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Alternative {
    pub(crate) src_alpn: String,
    pub(crate) alpn: String,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) expires: SystemTime,
    pub(crate) persist: bool,
}

/// One line of the file (without its newline) for an alternative of `host:port`.
pub(crate) fn format_line(host: &str, port: u16, a: &Alternative) -> String {
    format!(
        "{} {host} {port} {} {} {} \"{}\" {} 0",
        a.src_alpn,
        a.alpn,
        a.host,
        a.port,
        format_utc(a.expires),
        u8::from(a.persist)
    )
}

/// The alternative a line holds, by the (host, port) it is for; `None` for a comment, a
/// blank or a malformed line.
pub(crate) fn parse_line(line: &str) -> Option<((String, u16), Alternative)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (head, rest) = line.split_once('"')?;
    let (date, tail) = rest.split_once('"')?;
    let f: Vec<&str> = head.split_whitespace().collect();
    let [src_alpn, src_host, src_port, alpn, host, port] = f.as_slice() else {
        return None;
    };
    let persist = tail.split_whitespace().next() == Some("1");
    Some((
        (src_host.to_ascii_lowercase(), src_port.parse().ok()?),
        Alternative {
            src_alpn: (*src_alpn).to_string(),
            alpn: (*alpn).to_string(),
            host: host.to_ascii_lowercase(),
            port: port.parse().ok()?,
            expires: parse_utc(date)?,
            persist,
        },
    ))
}

/// `YYYYMMDD HH:MM:SS` in UTC.
fn format_utc(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn parse_utc(s: &str) -> Option<SystemTime> {
    let (date, time) = s.split_once(' ')?;
    if date.len() != 8 {
        return None;
    }
    let y: i64 = date.get(0..4)?.parse().ok()?;
    let m: u32 = date.get(4..6)?.parse().ok()?;
    let d: u32 = date.get(6..8)?.parse().ok()?;
    let mut hms = time.split(':').map(|p| p.parse::<u64>().ok());
    let (h, mi, se) = (hms.next()??, hms.next()??, hms.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let days = u64::try_from(days_from_civil(y, m, d)).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(days * 86_400 + h * 3600 + mi * 60 + se))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        let t = UNIX_EPOCH + Duration::from_secs(1_798_761_599);
        assert_eq!(format_utc(t), "20261231 23:59:59");
        assert_eq!(parse_utc("20261231 23:59:59"), Some(t));
        assert_eq!(format_utc(UNIX_EPOCH), "19700101 00:00:00");
        assert_eq!(
            parse_utc("20240229 12:00:00").map(format_utc).as_deref(),
            Some("20240229 12:00:00")
        );
        assert_eq!(parse_utc("2024229 12:00:00"), None);
        assert_eq!(parse_utc("20241301 00:00:00"), None);
    }

    #[test]
    fn lines_round_trip() {
        let line = r#"h2 Example.com 443 h3 alt.example.com 9443 "20261231 23:59:59" 1 0"#;
        let (key, alt) = parse_line(line).expect("a valid line");
        assert_eq!(key, ("example.com".to_string(), 443));
        assert!(alt.persist);
        assert_eq!(
            format_line(&key.0, key.1, &alt),
            line.replace("Example", "example")
        );
        for bad in [
            "",
            "# h2 a 1 h3 b 2 \"20261231 23:59:59\" 0 0",
            "h2 a 1 h3 b \"x\"",
        ] {
            assert_eq!(parse_line(bad), None, "{bad}");
        }
    }
}
