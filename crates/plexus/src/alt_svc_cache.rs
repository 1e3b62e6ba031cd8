//! The client's memory of which origins offer HTTP/3 (from `Alt-Svc` headers), with
//! expiry, optionally kept in a file (curl's format, see [`crate::alt_svc_file`]) so that
//! a restarted process goes to h3 at once.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use plexus_core::alt_svc::AltSvc;

use crate::alt_svc_file::{format_line, parse_line, Alternative};
use plexus_core::{Origin, Protocol};

/// The longest an advertisement is remembered, whatever its `ma` says: a year. (Without a
/// cap a hostile `ma=18446744073709551615` overflows the clock.)
const LONGEST_REMEMBERED: Duration = Duration::from_secs(365 * 86_400);

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
                text.push_str(&format_line(host, *port, a));
                text.push('\n');
            }
        }
        let tmp = file.with_extension("tmp");
        let written = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, file));
        if let Err(e) = written {
            tracing::warn!(file = %file.display(), error = %e, "cannot write the alt-svc file");
        }
    }
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
