//! Origins whose HTTP/3 failed: QUIC is not tried for them again until a back-off expires
//! (5 minutes, doubling with each failure, at most 48 hours, as Chromium does), and the
//! requests go over TCP with no error surfaced.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use plexus_core::Origin;

/// The longest back-off.
const CAP: Duration = Duration::from_secs(48 * 3600);

#[derive(Debug)]
struct Broken {
    until: Instant,
    backoff: Duration,
}

/// The broken-HTTP/3 memory of a client.
#[derive(Debug)]
pub(crate) struct BrokenH3 {
    first: Duration,
    entries: Mutex<HashMap<Origin, Broken>>,
}

impl BrokenH3 {
    /// A memory whose first back-off is `first`.
    pub(crate) fn new(first: Duration) -> BrokenH3 {
        BrokenH3 {
            first,
            entries: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Origin, Broken>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// QUIC to `origin` failed: no QUIC until the back-off (doubled from the last one)
    /// expires. Returns the back-off.
    pub(crate) fn mark(&self, origin: &Origin) -> Duration {
        let now = Instant::now();
        let mut entries = self.lock();
        let backoff = match entries.get(origin) {
            Some(b) => (b.backoff * 2).min(CAP),
            None => self.first.min(CAP),
        };
        entries.insert(
            origin.clone(),
            Broken {
                until: now + backoff,
                backoff,
            },
        );
        tracing::debug!(%origin, ?backoff, "HTTP/3 marked broken");
        backoff
    }

    /// True while QUIC to `origin` is in its back-off.
    pub(crate) fn is_broken(&self, origin: &Origin) -> bool {
        self.lock()
            .get(origin)
            .is_some_and(|b| Instant::now() < b.until)
    }

    /// QUIC to `origin` worked: forget its failures.
    pub(crate) fn confirm(&self, origin: &Origin) {
        self.lock().remove(origin);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plexus_core::Scheme;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_clears_on_success() {
        let o = Origin::new(Scheme::Https, "example.com", 443).expect("origin");
        let broken = BrokenH3::new(Duration::from_secs(300));
        assert!(!broken.is_broken(&o));
        assert_eq!(broken.mark(&o), Duration::from_secs(300));
        assert!(broken.is_broken(&o));
        assert_eq!(broken.mark(&o), Duration::from_secs(600));
        for _ in 0..20 {
            broken.mark(&o);
        }
        assert_eq!(broken.mark(&o), CAP);
        broken.confirm(&o);
        assert!(!broken.is_broken(&o));
        assert_eq!(
            broken.mark(&o),
            Duration::from_secs(300),
            "a fresh start after success"
        );
    }
}
