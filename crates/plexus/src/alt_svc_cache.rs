//! The client's memory of which origins offer HTTP/3 (from `Alt-Svc` headers), with
//! expiry, optionally kept in a file so that a restarted process goes to h3 at once.
//!
//! The file uses curl's alt-svc format, one alternative per line:
//!
//! ```text
//! # comment
//! h2 example.com 443 h3 example.com 443 "20261231 23:59:59" 0 0
//! ```
//!
//! (source ALPN, host, port; alternative ALPN, host, port; expiry in UTC; persist;
//! priority), so the file can be shared with curl's `--alt-svc`.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plexus_core::alt_svc::AltSvc;
use plexus_core::{Origin, Protocol};

/// The longest an advertisement is remembered, whatever its `ma` says: a year. (Without a
/// cap a hostile `ma=18446744073709551615` overflows the clock.)
const LONGEST_REMEMBERED: Duration = Duration::from_secs(365 * 86_400);

/// One remembered alternative of an origin.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Alternative {
    src_alpn: String,
    alpn: String,
    host: String,
    port: u16,
    expires: SystemTime,
    persist: bool,
}

/// Alternatives by origin (host, port), `https` origins only.
#[derive(Debug, Default)]
pub(crate) struct AltSvcCache {
    entries: Mutex<HashMap<(String, u16), Vec<Alternative>>>,
    file: Option<PathBuf>,
}

impl AltSvcCache {
    /// A cache kept in `file` (read now if it exists; written on every change).
    pub(crate) fn with_file(file: &Path) -> io::Result<AltSvcCache> {
        let cache = AltSvcCache {
            entries: Mutex::default(),
            file: Some(file.to_path_buf()),
        };
        match std::fs::read_to_string(file) {
            Ok(text) => {
                let now = SystemTime::now();
                let mut entries = cache.lock();
                for (key, alt) in text.lines().filter_map(parse_line) {
                    if alt.expires > now {
                        entries.entry(key).or_default().push(alt);
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(cache)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, u16), Vec<Alternative>>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes in the `Alt-Svc` of a response from `origin` that came over `protocol`.
    /// Returns true when the origin now offers h3 and did not before.
    pub(crate) fn observe(&self, origin: &Origin, protocol: Protocol, header: AltSvc) -> bool {
        if !origin.is_tls() {
            return false;
        }
        let now = SystemTime::now();
        let key = (origin.host().to_string(), origin.port());
        let had_h3 = self.h3_at(origin, now).is_some();
        {
            let mut entries = self.lock();
            match header {
                AltSvc::Clear => {
                    entries.remove(&key);
                }
                AltSvc::Services(services) => {
                    let alts: Vec<Alternative> = services
                        .into_iter()
                        .map(|s| Alternative {
                            src_alpn: protocol.short_name().to_string(),
                            alpn: s.protocol,
                            host: s.host.unwrap_or_else(|| origin.host().to_string()),
                            port: s.port,
                            expires: now + s.max_age.min(LONGEST_REMEMBERED),
                            persist: s.persist,
                        })
                        .collect();
                    if entries.get(&key) == Some(&alts) {
                        return false;
                    }
                    entries.insert(key, alts);
                }
            }
        }
        self.save();
        !had_h3 && self.h3_at(origin, now).is_some()
    }

    /// Where `origin` offers h3, if it does: (host, port).
    pub(crate) fn h3(&self, origin: &Origin) -> Option<(String, u16)> {
        self.h3_at(origin, SystemTime::now())
    }

    fn h3_at(&self, origin: &Origin, now: SystemTime) -> Option<(String, u16)> {
        self.lock()
            .get(&(origin.host().to_string(), origin.port()))?
            .iter()
            .find(|a| a.alpn == "h3" && a.expires > now)
            .map(|a| (a.host.clone(), a.port))
    }

    /// Writes the file, if there is one (a temporary file renamed into place).
    fn save(&self) {
        let Some(file) = &self.file else { return };
        let mut text = String::from("# plexus alt-svc cache (curl's format)\n");
        for ((host, port), alts) in self.lock().iter() {
            for a in alts {
                text.push_str(&format!(
                    "{} {host} {port} {} {} {} \"{}\" {} 0\n",
                    a.src_alpn,
                    a.alpn,
                    a.host,
                    a.port,
                    format_utc(a.expires),
                    u8::from(a.persist)
                ));
            }
        }
        let tmp = file.with_extension("tmp");
        let written = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, file));
        if let Err(e) = written {
            tracing::warn!(file = %file.display(), error = %e, "cannot write the alt-svc file");
        }
    }
}

fn parse_line(line: &str) -> Option<((String, u16), Alternative)> {
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
    use plexus_core::Scheme;

    fn origin() -> Origin {
        Origin::new(Scheme::Https, "example.com", 443).expect("origin")
    }

    fn header(v: &str) -> AltSvc {
        AltSvc::parse([v.as_bytes()]).expect("valid header")
    }

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
    fn learns_clears_and_expires() {
        let cache = AltSvcCache::default();
        assert!(cache.observe(&origin(), Protocol::Http2, header(r#"h3=":8443"; ma=3600"#)));
        assert_eq!(cache.h3(&origin()), Some(("example.com".into(), 8443)));
        assert!(!cache.observe(&origin(), Protocol::Http2, header(r#"h3=":8443"; ma=3600"#)));
        cache.observe(&origin(), Protocol::Http2, header("clear"));
        assert_eq!(cache.h3(&origin()), None);
        cache.observe(&origin(), Protocol::Http2, header(r#"h3=":8443"; ma=0"#));
        assert_eq!(cache.h3(&origin()), None, "expired at once");
        let plain = Origin::new(Scheme::Http, "example.com", 80).expect("origin");
        assert!(!cache.observe(&plain, Protocol::Http1, header(r#"h3=":443""#)));
    }

    #[test]
    fn persists_in_curls_format() -> io::Result<()> {
        let dir = std::env::temp_dir().join(format!("plexus-altsvc-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let file = dir.join("alt-svc.txt");
        let _ = std::fs::remove_file(&file);
        let cache = AltSvcCache::with_file(&file)?;
        cache.observe(
            &origin(),
            Protocol::Http2,
            header(r#"h3="alt.example.com:9443"; persist=1"#),
        );
        let text = std::fs::read_to_string(&file)?;
        let line = text
            .lines()
            .find(|l| !l.starts_with('#'))
            .unwrap_or_default();
        assert!(
            line.starts_with("h2 example.com 443 h3 alt.example.com 9443 \""),
            "{line}"
        );
        assert!(line.ends_with("\" 1 0"), "{line}");
        let reloaded = AltSvcCache::with_file(&file)?;
        assert_eq!(
            reloaded.h3(&origin()),
            Some(("alt.example.com".into(), 9443))
        );
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
