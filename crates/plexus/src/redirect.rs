//! The redirect policy: whether a `3xx` answer with a `Location` is followed, and how far.

use std::fmt;
use std::sync::Arc;

use http::{StatusCode, Uri};

/// Whether and how far the client follows redirects (301, 302, 303, 307 and 308 with a
/// `Location` header; other 3xx answers are returned as they are).
///
/// The default follows up to 10 redirects, as reqwest and Go's net/http do (curl follows
/// none unless asked with `-L`; `plexus get` does the same). Following a redirect:
///
/// - 301 and 302 turn a POST into a GET, and 303 turns any method but HEAD into a GET,
///   without the body and its `Content-*` headers, as browsers do; 307 and 308 keep the
///   method and the body. A body that cannot be sent again (a stream) is not: the 307 or
///   308 response is returned instead.
/// - A hop to another origin (scheme, host or port) drops `Authorization`,
///   `Proxy-Authorization`, `Cookie` and `Cookie2`, so that credentials meant for one site
///   do not reach the next.
/// - The response body of each 3xx is read and discarded (so that the connection stays
///   usable), up to 64 KiB; a longer one is dropped.
/// - The request's deadline covers the whole chain.
/// - [`Response::url`](crate::Response::url) is the URL that answered last,
///   [`Response::redirects`](crate::Response::redirects) the ones before it.
#[derive(Clone)]
pub struct Policy(Kind);

#[derive(Clone)]
enum Kind {
    None,
    Limited(usize),
    Custom(Arc<dyn Fn(Attempt<'_>) -> Action + Send + Sync>),
}

impl Policy {
    /// Never follow: a redirect is returned as the response.
    pub fn none() -> Policy {
        Policy(Kind::None)
    }

    /// Follow up to `max` redirects; one more is an error of kind
    /// [`ErrorKind::Redirect`](crate::ErrorKind::Redirect), and so is a redirect to a URL
    /// already visited in the chain (a loop).
    pub fn limited(max: usize) -> Policy {
        Policy(Kind::Limited(max))
    }

    /// Decide each redirect with `decide`, which sees the status, the next URL and the
    /// URLs visited so far, and answers [`Attempt::follow`], [`Attempt::stop`] or
    /// [`Attempt::error`]. No limit or loop check is added.
    pub fn custom(decide: impl Fn(Attempt<'_>) -> Action + Send + Sync + 'static) -> Policy {
        Policy(Kind::Custom(Arc::new(decide)))
    }

    /// Whether this policy never follows.
    pub(crate) fn is_none(&self) -> bool {
        matches!(self.0, Kind::None)
    }

    /// What to do about a redirect.
    pub(crate) fn decide(&self, attempt: Attempt<'_>) -> Action {
        match &self.0 {
            Kind::None => attempt.stop(),
            Kind::Limited(max) => {
                if attempt.previous.len() > *max {
                    let n = attempt.previous.len() - 1;
                    attempt.error(format!(
                        "too many redirects: {n} followed, the limit is {max}"
                    ))
                } else if attempt.previous.contains(attempt.next) {
                    let next = attempt.next.to_string();
                    attempt.error(format!("redirect loop: {next} was visited before"))
                } else {
                    attempt.follow()
                }
            }
            Kind::Custom(decide) => decide(attempt),
        }
    }
}

impl Default for Policy {
    fn default() -> Policy {
        Policy::limited(10)
    }
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::None => f.write_str("Policy::none()"),
            Kind::Limited(max) => write!(f, "Policy::limited({max})"),
            Kind::Custom(_) => f.write_str("Policy::custom(..)"),
        }
    }
}

/// A redirect the client is about to follow, for a [`Policy::custom`] to judge.
#[derive(Debug)]
pub struct Attempt<'a> {
    pub(crate) status: StatusCode,
    pub(crate) next: &'a Uri,
    pub(crate) previous: &'a [Uri],
}

impl<'a> Attempt<'a> {
    /// The redirect's status (301, 302, 303, 307 or 308).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Where it points, resolved to an absolute URL.
    pub fn url(&self) -> &'a Uri {
        self.next
    }

    /// The URLs requested so far, the first one first; the last one answered with this
    /// redirect.
    pub fn previous(&self) -> &'a [Uri] {
        self.previous
    }

    /// Follow it.
    pub fn follow(self) -> Action {
        Action(Decision::Follow)
    }

    /// Do not follow it: the redirect is returned as the response.
    pub fn stop(self) -> Action {
        Action(Decision::Stop)
    }

    /// Fail the request with an error of kind [`ErrorKind::Redirect`](crate::ErrorKind::Redirect).
    pub fn error(self, why: impl Into<String>) -> Action {
        Action(Decision::Error(why.into()))
    }
}

/// What a [`Policy`] decided about a redirect.
#[derive(Debug)]
pub struct Action(pub(crate) Decision);

#[derive(Debug)]
pub(crate) enum Decision {
    Follow,
    Stop,
    Error(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(policy: &Policy, next: &str, previous: &[&str]) -> String {
        let next: Uri = next.parse().expect("uri");
        let previous: Vec<Uri> = previous.iter().map(|p| p.parse().expect("uri")).collect();
        let attempt = Attempt {
            status: StatusCode::FOUND,
            next: &next,
            previous: &previous,
        };
        match policy.decide(attempt).0 {
            Decision::Follow => "follow".into(),
            Decision::Stop => "stop".into(),
            Decision::Error(e) => e,
        }
    }

    #[test]
    fn limited_counts_hops_and_catches_loops() {
        let two = Policy::limited(2);
        assert_eq!(decide(&two, "http://h/b", &["http://h/a"]), "follow");
        assert_eq!(
            decide(&two, "http://h/c", &["http://h/a", "http://h/b"]),
            "follow"
        );
        assert!(decide(
            &two,
            "http://h/d",
            &["http://h/a", "http://h/b", "http://h/c"]
        )
        .starts_with("too many redirects: 2 followed"));
        assert!(
            decide(&two, "http://h/a", &["http://h/a", "http://h/b"]).starts_with("redirect loop")
        );
        assert_eq!(
            decide(&Policy::none(), "http://h/b", &["http://h/a"]),
            "stop"
        );
        assert_eq!(format!("{:?}", Policy::default()), "Policy::limited(10)");
    }

    #[test]
    fn custom_policies_see_the_attempt() {
        let same_host = Policy::custom(|a| {
            if a.url().host() == a.previous()[0].host() {
                a.follow()
            } else {
                a.stop()
            }
        });
        assert_eq!(decide(&same_host, "http://h/b", &["http://h/a"]), "follow");
        assert_eq!(
            decide(&same_host, "http://other/b", &["http://h/a"]),
            "stop"
        );
    }
}
