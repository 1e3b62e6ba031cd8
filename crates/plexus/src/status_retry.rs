//! Status-based retries (opt-in): a replay-safe request answered with 429, 502, 503 or
//! 504 is sent again after a back-off, within a per-client retry budget.
//!
//! This is the policy of urllib3's `Retry(status_forcelist=...)` and curl's `--retry`,
//! with the budget of Finagle and Linkerd: every request earns a fraction of a retry, so
//! that when an origin fails everything, retries add at most that fraction to its load
//! instead of multiplying it.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode};

/// When and how a response with a retryable status is re-sent. Off unless set with
/// [`ClientBuilder::retry_status`](crate::ClientBuilder::retry_status).
///
/// Only replay-safe requests (GET, HEAD, OPTIONS, TRACE, PUT, DELETE, an
/// `Idempotency-Key` header, or marked [`idempotent`](crate::RequestBuilder::idempotent))
/// whose body can be sent again are retried. The wait before retry *k* (1-based) is
/// the server's `Retry-After` when it sent one (seconds or an HTTP date), otherwise
/// `base_delay * 2^(k-1)`, at most `max_delay`, with jitter (a uniformly random
/// fraction between a half and all of it). A `Retry-After` longer than
/// `max_retry_after`, a wait past the request's deadline, or an empty budget ends the
/// retries: the caller gets the last response as it is. Every retry is recorded in
/// [`RequestRecord::retries`](crate::RequestRecord) as an
/// [`ErrorKind::RetryableStatus`](crate::ErrorKind::RetryableStatus).
#[derive(Debug, Clone)]
pub struct StatusRetry {
    /// Retries after the first answer (curl's `--retry N`). Default: 3.
    pub max_retries: u32,
    /// The statuses retried. Default: 429, 502, 503, 504.
    pub statuses: Vec<StatusCode>,
    /// The first back-off. Default: 100 ms.
    pub base_delay: Duration,
    /// The longest back-off. Default: 10 s.
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured; a longer one is not waited for. Default: 60 s.
    pub max_retry_after: Duration,
    /// Retries earned per request sent (the budget's ratio). Default: 0.2.
    pub budget_ratio: f64,
    /// Retries allowed before any are earned, and the most that can be saved up.
    /// Default: 10.
    pub budget_reserve: f64,
}

impl Default for StatusRetry {
    fn default() -> StatusRetry {
        StatusRetry {
            max_retries: 3,
            statuses: vec![
                StatusCode::TOO_MANY_REQUESTS,
                StatusCode::BAD_GATEWAY,
                StatusCode::SERVICE_UNAVAILABLE,
                StatusCode::GATEWAY_TIMEOUT,
            ],
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
            budget_ratio: 0.2,
            budget_reserve: 10.0,
        }
    }
}

impl StatusRetry {
    /// The default policy with `n` retries.
    pub fn retries(n: u32) -> StatusRetry {
        StatusRetry {
            max_retries: n,
            ..StatusRetry::default()
        }
    }

    pub(crate) fn retries_status(&self, status: StatusCode) -> bool {
        self.statuses.contains(&status)
    }

    /// The wait before retry `k` (1-based), or `None` when the server asks for longer
    /// than `max_retry_after`.
    pub(crate) fn delay(&self, k: u32, headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
        if let Some(wait) = retry_after(headers, now) {
            return (wait <= self.max_retry_after).then_some(wait);
        }
        let exp = self
            .base_delay
            .saturating_mul(1u32 << k.saturating_sub(1).min(20))
            .min(self.max_delay);
        Some(exp.mul_f64(0.5 + fastrand::f64() * 0.5))
    }
}

/// The `Retry-After` of a response: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The per-client retry budget: each request deposits `ratio`, each retry withdraws 1
/// (kept in thousandths, so that ten deposits of 0.1 make exactly one retry).
#[derive(Debug)]
pub(crate) struct RetryBudget {
    ratio: u64,
    cap: u64,
    balance: Mutex<u64>,
}

const ONE: u64 = 1000;

fn thousandths(x: f64) -> u64 {
    (x.max(0.0) * ONE as f64).round() as u64
}

impl RetryBudget {
    pub(crate) fn new(policy: &StatusRetry) -> RetryBudget {
        RetryBudget {
            ratio: thousandths(policy.budget_ratio),
            cap: thousandths(policy.budget_reserve).max(ONE),
            balance: Mutex::new(thousandths(policy.budget_reserve)),
        }
    }

    /// A request was sent (not a retry).
    pub(crate) fn deposit(&self) {
        if let Ok(mut b) = self.balance.lock() {
            *b = (*b + self.ratio).min(self.cap);
        }
    }

    /// Takes one retry from the budget, if there is one.
    pub(crate) fn withdraw(&self) -> bool {
        match self.balance.lock() {
            Ok(mut b) if *b >= ONE => {
                *b -= ONE;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_and_as_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut h = HeaderMap::new();
        h.insert("retry-after", "7".parse().expect("valid"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        h.insert("retry-after", later.parse().expect("valid"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(30)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        h.insert("retry-after", past.parse().expect("valid"));
        assert_eq!(retry_after(&h, now), Some(Duration::ZERO));
        h.insert("retry-after", "soon".parse().expect("valid"));
        assert_eq!(retry_after(&h, now), None);
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let p = StatusRetry::default();
        let none = HeaderMap::new();
        let now = SystemTime::now();
        for k in 1..=10 {
            let d = p.delay(k, &none, now).expect("no Retry-After");
            let full = (p.base_delay * 2u32.pow(k - 1)).min(p.max_delay);
            assert!(d >= full / 2 && d <= full, "retry {k}: {d:?} vs {full:?}");
        }
        let mut long = HeaderMap::new();
        long.insert("retry-after", "3600".parse().expect("valid"));
        assert_eq!(p.delay(1, &long, now), None, "too long to wait");
    }

    #[test]
    fn budget_allows_the_reserve_then_the_ratio() {
        let p = StatusRetry {
            budget_ratio: 0.1,
            budget_reserve: 2.0,
            ..StatusRetry::default()
        };
        let b = RetryBudget::new(&p);
        assert!(b.withdraw() && b.withdraw());
        assert!(!b.withdraw(), "reserve spent");
        for _ in 0..10 {
            b.deposit();
        }
        assert!(b.withdraw(), "ten requests earned one retry");
        assert!(!b.withdraw());
    }
}
