//! The retry decision, in one place (see [`RetryPolicy`](crate::RetryPolicy)).

use http::Request;
use plexus_core::{Body, Delivery, Error, ErrorKind};

use crate::config::RetryPolicy;

/// Attempts no request exceeds, whatever else the policy allows.
pub(crate) const HARD_CAP: u32 = 100;

/// What is known about a failed attempt.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attempt {
    /// 1 for the first attempt.
    pub(crate) number: u32,
    /// Failures so far, this one included, where the server did not process the request
    /// and no response at all arrived from the origin since the previous attempt: the
    /// ones that suggest a peer that serves nothing, rather than one rotating its
    /// connections.
    pub(crate) fruitless: u32,
    pub(crate) replay_safe: bool,
    /// The connection had carried requests before this one.
    pub(crate) reused: bool,
}

/// Whether to send the request again after `error`.
pub(crate) fn should_retry(error: &Error, attempt: Attempt, policy: &RetryPolicy) -> bool {
    if error.is_builder() || attempt.number >= HARD_CAP {
        return false;
    }
    match error.delivery() {
        // The connection died of the server breaking the protocol before the request went
        // out: another connection to the same server would most likely end the same way.
        Delivery::NotSent if error.kind() == ErrorKind::Protocol => false,
        Delivery::NotSent | Delivery::Unprocessed => {
            attempt.fruitless < policy.max_unprocessed_attempts
        }
        Delivery::MaybeProcessed => {
            // A reused connection that closed before answering (the stale keep-alive
            // race), or a connection whose handshake failed after the request went out
            // in 0-RTT: a replay-safe request may go again.
            let connection_failed = (attempt.reused && error.kind() == ErrorKind::ConnectionClosed)
                || error.kind() == ErrorKind::Connect;
            attempt.replay_safe && connection_failed && attempt.number < policy.max_attempts
        }
    }
}

/// A copy of the request for another attempt, when its body can be sent again (an
/// in-memory body; a streaming one cannot be replayed).
pub fn try_clone_request(request: &Request<Body>) -> Option<Request<Body>> {
    let body = request.body().try_clone()?;
    let mut copy = Request::new(body);
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    *copy.extensions_mut() = request.extensions().clone();
    Some(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(number: u32, replay_safe: bool, reused: bool) -> Attempt {
        Attempt {
            number,
            fruitless: number,
            replay_safe,
            reused,
        }
    }

    #[test]
    fn unprocessed_is_retried_for_any_method_within_bounds() {
        let p = RetryPolicy::default();
        let refused = Error::new(ErrorKind::Refused);
        assert!(should_retry(&refused, attempt(1, false, false), &p));
        assert!(should_retry(&refused, attempt(9, false, true), &p));
        assert!(!should_retry(&refused, attempt(10, false, true), &p));
        let unsent = Error::new(ErrorKind::ConnectionClosed).with_delivery(Delivery::NotSent);
        assert!(should_retry(&unsent, attempt(1, false, true), &p));
    }

    #[test]
    fn a_connection_lost_to_a_protocol_violation_is_not_tried_again() {
        let p = RetryPolicy::default();
        let violated = Error::new(ErrorKind::Protocol).with_delivery(Delivery::NotSent);
        assert!(!should_retry(&violated, attempt(1, true, false), &p));
        // A request the server said it did not process goes again, whatever closed it.
        let above_goaway = Error::new(ErrorKind::Protocol).with_delivery(Delivery::Unprocessed);
        assert!(should_retry(&above_goaway, attempt(1, false, true), &p));
    }

    #[test]
    fn refusals_by_rotating_connections_do_not_spend_the_budget() {
        let p = RetryPolicy::default();
        let refused = Error::new(ErrorKind::Refused);
        let rotating = Attempt {
            number: 40,
            fruitless: 0,
            replay_safe: false,
            reused: true,
        };
        assert!(should_retry(&refused, rotating, &p));
        let capped = Attempt {
            number: HARD_CAP,
            ..rotating
        };
        assert!(!should_retry(&refused, capped, &p));
    }

    #[test]
    fn maybe_processed_only_when_replay_safe_on_a_reused_connection() {
        let p = RetryPolicy::default();
        let closed = Error::new(ErrorKind::ConnectionClosed);
        assert!(should_retry(&closed, attempt(1, true, true), &p));
        assert!(!should_retry(&closed, attempt(1, false, true), &p), "POST");
        assert!(
            !should_retry(&closed, attempt(1, true, false), &p),
            "fresh connection"
        );
        assert!(
            !should_retry(&closed, attempt(3, true, true), &p),
            "bounded"
        );
        let reset = Error::new(ErrorKind::StreamReset);
        assert!(!should_retry(&reset, attempt(1, true, true), &p));
        let early_lost = Error::new(ErrorKind::Connect).with_delivery(Delivery::MaybeProcessed);
        assert!(
            should_retry(&early_lost, attempt(1, true, false), &p),
            "0-RTT, replay-safe"
        );
        assert!(!should_retry(&early_lost, attempt(1, false, false), &p));
    }

    #[test]
    fn never_policy_and_builder_errors() {
        let refused = Error::new(ErrorKind::Refused);
        assert!(!should_retry(
            &refused,
            attempt(1, true, true),
            &RetryPolicy::never()
        ));
        let bad = Error::new(ErrorKind::InvalidRequest);
        assert!(!should_retry(
            &bad,
            attempt(1, true, true),
            &RetryPolicy::default()
        ));
    }

    #[test]
    fn only_in_memory_bodies_clone() {
        let r = Request::post("https://x/")
            .body(Body::from("abc"))
            .expect("valid");
        let c = try_clone_request(&r).expect("in-memory body");
        assert_eq!(c.method(), r.method());
        assert_eq!(c.body().as_bytes(), Some(&b"abc"[..]));
        let s = Request::post("https://x/")
            .body(Body::wrap_stream(futures_util::stream::empty::<
                Result<bytes::Bytes, std::io::Error>,
            >()))
            .expect("valid");
        assert!(try_clone_request(&s).is_none());
    }
}
