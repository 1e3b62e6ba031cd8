//! The soak: a fixed number of requests of mixed methods across HTTP/1.1, h2 and h3
//! origins whose servers inject faults, all chosen from one seed, with a ledger of what
//! happened and the invariants of "no request lost" checked against what the servers
//! counted.
//!
//! The origins (fault parameters drawn from the seed):
//!
//! | origin | protocol | server faults |
//! |---|---|---|
//! | `h1-reuse` | HTTP/1.1 | the request after the n-th on a connection is read and the connection closed unanswered (the stale keep-alive race) |
//! | `h2-refuse` | h2 | `REFUSED_STREAM` on every k-th stream; graceful GOAWAY after n requests per connection |
//! | `h2-goaway-error` | h2 | GOAWAY(`INTERNAL_ERROR`) at the n-th request, connection killed 30 ms later |
//! | `h2-black-hole` | h2 | after n requests the connection goes silent, PINGs unanswered |
//! | `h3` | HTTP/3 | `H3_REQUEST_REJECTED` on every k-th stream; GOAWAY after n requests per connection |
//!
//! and the per-request faults, by route: responses cut off after some bytes (`/abort`),
//! bodies that stall past the read timeout (`/stall`), a `503` before success (`/flaky`,
//! HTTP/1.1 and h2), and the QUIC connection closed under the request (`/close`, h3).
//!
//! The invariants: every request ends exactly once, in a response or a typed error, within
//! its deadline; a success was processed by the server and carries the right body; no
//! request that is not replay-safe is processed twice, nor reported unprocessed when it
//! was; no request reported unprocessed fails before its attempts are used up; a cut-off or
//! stalled response is never reported as a success; the process's resident memory at the
//! end is within bounds of what it was after the first 10%.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use plexus::http::Method;
use plexus::{Client, Delivery, ErrorKind, Http3Mode, StatusRetry};
use plexus_testkit::routes::{pattern_byte, HELLO};
use plexus_testkit::TestServer;

/// What to run.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// Requests in all.
    pub requests: usize,
    /// The seed every random choice comes from.
    pub seed: u64,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Each request's deadline (the client's total timeout).
    pub deadline: Duration,
}

impl Default for SoakConfig {
    fn default() -> SoakConfig {
        SoakConfig {
            requests: 100_000,
            seed: 1,
            concurrency: 64,
            deadline: Duration::from_secs(10),
        }
    }
}

/// How long past its deadline a request may take before it counts as hung.
const HANG_GRACE: Duration = Duration::from_secs(5);
/// The client's read timeout; `/stall` pauses longer.
const READ_TIMEOUT: Duration = Duration::from_millis(400);
const STALL: Duration = Duration::from_millis(1500);
/// Runs are cut into this many chunks; memory is read after each.
const CHUNKS: usize = 20;
/// Allowed growth of the live heap from the end of the first 10% to the end, on top of
/// a tenth of what it was: connections come and go, each holding buffers.
const HEAP_SLACK_KIB: u64 = 2 * 1024;

struct Origin {
    name: &'static str,
    faults: String,
    server: TestServer,
    h3: bool,
}

async fn start_origins(rng: &mut fastrand::Rng) -> Result<Vec<Origin>, String> {
    let reuse = rng.u64(15..40);
    let (refuse, goaway) = (rng.u64(9..18), rng.u64(100..300));
    let goaway_error = rng.u64(80..200);
    let hole = rng.u64(150..400);
    let (h3_refuse, h3_goaway) = (rng.u64(9..18), rng.u64(100..300));
    let specs = [
        (
            "h1-reuse",
            format!("closed on reuse after {reuse}"),
            TestServer::builder()
                .http1_only()
                .close_on_reuse_after(reuse),
            false,
        ),
        (
            "h2-refuse",
            format!("refuse every {refuse}, GOAWAY after {goaway}"),
            TestServer::builder()
                .h2_only()
                .refuse_every(refuse)
                .goaway_after(goaway),
            false,
        ),
        (
            "h2-goaway-error",
            format!("GOAWAY(INTERNAL_ERROR) at {goaway_error}, killed"),
            TestServer::builder()
                .h2_only()
                .goaway_error_after(goaway_error),
            false,
        ),
        (
            "h2-black-hole",
            format!("black hole after {hole}"),
            TestServer::builder().h2_only().black_hole_after(hole),
            false,
        ),
        (
            "h3",
            format!("refuse every {h3_refuse}, GOAWAY after {h3_goaway}"),
            TestServer::builder()
                .h3()
                .refuse_every(h3_refuse)
                .h3_goaway_after(h3_goaway),
            true,
        ),
    ];
    let mut origins = Vec::new();
    for (name, faults, builder, h3) in specs {
        let server = builder
            .start()
            .await
            .map_err(|e| format!("{name} server: {e}"))?;
        origins.push(Origin {
            name,
            faults,
            server,
            h3,
        });
    }
    Ok(origins)
}

/// The client under test: defaults but for short health and read timers, so that faults
/// resolve quickly, and status retries with a short back-off.
fn soak_client(deadline: Duration) -> Client {
    crate::client_builder()
        .timeout(deadline)
        .read_timeout(READ_TIMEOUT)
        .http2_keep_alive_interval(Duration::from_millis(200))
        .http2_keep_alive_timeout(Duration::from_millis(300))
        .retry_status(StatusRetry {
            base_delay: Duration::from_millis(5),
            ..StatusRetry::default()
        })
        .build()
        .expect("the soak client builds")
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Hello,
    Delay(u64),
    Echo(usize),
    Abort(u64),
    Stall,
    Flaky,
    Close,
}

impl Route {
    fn path(self) -> String {
        match self {
            Route::Hello => "/".into(),
            Route::Delay(ms) => format!("/delay/{ms}"),
            Route::Echo(_) => "/echo".into(),
            Route::Abort(n) => format!("/abort/{n}"),
            Route::Stall => format!("/stall/{}", STALL.as_millis()),
            Route::Flaky => "/flaky/1".into(),
            Route::Close => "/close".into(),
        }
    }

    /// Whether the server is meant to fail it: such a request must never succeed.
    fn doomed(self) -> bool {
        matches!(self, Route::Abort(_) | Route::Stall | Route::Close)
    }
}

/// One request of the run, drawn from the seed and its index.
#[derive(Debug, Clone)]
struct Plan {
    origin: usize,
    method: Method,
    route: Route,
    idempotency_key: bool,
}

impl Plan {
    fn draw(seed: u64, index: usize, origins: &[Origin]) -> Plan {
        let mut rng =
            fastrand::Rng::with_seed(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let origin = rng.usize(..origins.len());
        let h3 = origins[origin].h3;
        let body = rng.usize(0..8192);
        let (method, route, idempotency_key) = match rng.u32(..1000) {
            0..400 => (Method::GET, Route::Hello, false),
            400..450 => (Method::HEAD, Route::Hello, false),
            450..500 => (Method::DELETE, Route::Hello, false),
            500..600 => (Method::GET, Route::Delay(rng.u64(1..30)), false),
            600..750 => (Method::POST, Route::Echo(body), false),
            750..800 => (Method::POST, Route::Echo(body), true),
            800..900 => (Method::PUT, Route::Echo(body), false),
            900..930 => (Method::GET, Route::Abort(rng.u64(1..4000)), false),
            930..945 => (Method::GET, Route::Stall, false),
            945..980 if !h3 => (Method::GET, Route::Flaky, false),
            980..990 => (Method::POST, Route::Abort(rng.u64(1..4000)), false),
            990..1000 if h3 => (Method::GET, Route::Close, false),
            _ => (Method::GET, Route::Hello, false),
        };
        Plan {
            origin,
            method,
            route,
            idempotency_key,
        }
    }

    fn replay_safe(&self) -> bool {
        self.idempotency_key || !matches!(self.method, Method::POST)
    }

    fn body(&self) -> Option<Bytes> {
        match self.route {
            Route::Echo(len) => Some((0..len as u64).map(pattern_byte).collect()),
            _ => None,
        }
    }

    fn expected_body(&self) -> Bytes {
        match self.route {
            _ if self.method == Method::HEAD => Bytes::new(),
            Route::Echo(_) => self.body().unwrap_or_default(),
            _ => Bytes::from_static(HELLO),
        }
    }
}

/// How one request ended.
#[derive(Debug, Clone)]
enum Outcome {
    Succeeded {
        retries: Retries,
    },
    Failed {
        kind: ErrorKind,
        delivery: Delivery,
        attempts: u32,
    },
    /// A response that is not what the server sends: a defect.
    Wrong(String),
    /// Still running past its deadline and the grace after it.
    Hung,
}

async fn send(client: &Client, origins: &[Origin], index: usize, plan: &Plan) -> Outcome {
    let origin = &origins[plan.origin];
    let mut request = client
        .request_builder(plan.method.clone(), origin.server.url(&plan.route.path()))
        .header("x-request-id", index.to_string());
    if plan.idempotency_key {
        request = request.header("idempotency-key", format!("soak-{index}"));
    }
    if origin.h3 {
        request = request.http3(Http3Mode::Only);
    }
    if let Some(body) = plan.body() {
        request = request.body(body);
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => return failed(&e, index, plan),
    };
    let status = response.status();
    let retries = Retries::of(response.record());
    match response.bytes().await {
        Ok(body) if status != 200 => {
            Outcome::Wrong(format!("status {status}, {} bytes", body.len()))
        }
        Ok(body) if body != plan.expected_body() => Outcome::Wrong(format!(
            "body of {} bytes, expected {}",
            body.len(),
            plan.expected_body().len()
        )),
        Ok(_) => Outcome::Succeeded { retries },
        Err(e) => failed(&e, index, plan),
    }
}

fn failed(e: &plexus::Error, index: usize, plan: &Plan) -> Outcome {
    if std::env::var_os("SOAK_DEBUG").is_some() && !plan.route.doomed() {
        eprintln!("request {index} failed: {plan:?}: {e}");
    }
    Outcome::Failed {
        kind: e.kind(),
        delivery: e.delivery(),
        attempts: e.attempts(),
    }
}

/// The reasons of a success's retries, kept inline so that the run's own bookkeeping does
/// not allocate per request (it would blur the memory check).
#[derive(Debug, Clone, Copy, Default)]
struct Retries {
    kinds: [Option<ErrorKind>; 15],
    more: u8,
}

impl Retries {
    fn of(record: &plexus::RequestRecord) -> Retries {
        let mut retries = Retries::default();
        for (i, e) in record.retries.iter().enumerate() {
            match retries.kinds.get_mut(i) {
                Some(slot) => *slot = Some(e.kind()),
                None => retries.more = retries.more.saturating_add(1),
            }
        }
        retries
    }

    fn iter(&self) -> impl Iterator<Item = ErrorKind> + '_ {
        self.kinds.iter().flatten().copied()
    }
}

/// What a run did, and which invariants it broke.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Requests sent.
    pub sent: u64,
    /// Requests that ended in the expected response.
    pub succeeded: u64,
    /// Retries made for requests that then succeeded, by reason.
    pub retried: BTreeMap<String, u64>,
    /// Attempts beyond the first made by requests that failed anyway.
    pub retried_then_failed: u64,
    /// Failed requests, by error kind and delivery.
    pub failed: BTreeMap<String, u64>,
    /// Per origin: name, server faults, sent, succeeded, failed.
    pub origins: Vec<(String, String, u64, u64, u64)>,
    /// Requests the servers processed more than once (all of them replay-safe, or it is
    /// a violation).
    pub processed_twice: u64,
    /// Live heap after the first 10% and at the end (no request in flight either time),
    /// in KiB.
    pub heap_kib: (u64, u64),
    /// Resident memory at the same two moments, in KiB.
    pub rss_kib: (u64, u64),
    /// The longest time a request took.
    pub slowest: Duration,
    /// The whole run.
    pub elapsed: Duration,
    /// Every broken invariant, one line each (the first 20 of each kind, then a count).
    pub violations: Vec<String>,
}

impl fmt::Display for Ledger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "soak: {} requests in {:.1} s ({:.0}/s), slowest {} ms",
            self.sent,
            self.elapsed.as_secs_f64(),
            self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9),
            self.slowest.as_millis()
        )?;
        writeln!(f, "  sent       {:>8}", self.sent)?;
        writeln!(f, "  succeeded  {:>8}", self.succeeded)?;
        let failed: u64 = self.failed.values().sum();
        writeln!(f, "  failed     {:>8}", failed)?;
        for (kind, n) in &self.failed {
            writeln!(f, "    {kind:<40} {n:>8}")?;
        }
        let retried: u64 = self.retried.values().sum();
        writeln!(f, "  retries before a success {:>8}", retried)?;
        for (reason, n) in &self.retried {
            writeln!(f, "    {reason:<40} {n:>8}")?;
        }
        writeln!(
            f,
            "  retries before a failure  {:>8}",
            self.retried_then_failed
        )?;
        writeln!(
            f,
            "  processed twice (replay-safe only) {:>8}",
            self.processed_twice
        )?;
        writeln!(
            f,
            "  live heap: {} KiB after 10%, {} KiB at the end (resident: {} KiB, {} KiB)",
            self.heap_kib.0, self.heap_kib.1, self.rss_kib.0, self.rss_kib.1
        )?;
        writeln!(f, "  origin            sent  succeeded  failed  faults")?;
        for (name, faults, sent, ok, failed) in &self.origins {
            writeln!(f, "    {name:<16} {sent:>6} {ok:>10} {failed:>7}  {faults}")?;
        }
        if self.violations.is_empty() {
            writeln!(f, "  invariants: all held")
        } else {
            writeln!(f, "  invariants broken: {}", self.violations.len())?;
            for v in &self.violations {
                writeln!(f, "    {v}")?;
            }
            Ok(())
        }
    }
}

/// Collects violations, keeping the first few of each kind and counting the rest.
#[derive(Default)]
struct Violations {
    lines: Vec<String>,
    counts: BTreeMap<&'static str, u64>,
}

impl Violations {
    fn add(&mut self, kind: &'static str, detail: String) {
        let n = self.counts.entry(kind).or_insert(0);
        *n += 1;
        if *n <= 20 {
            self.lines.push(format!("{kind}: {detail}"));
        }
    }

    fn into_lines(mut self) -> Vec<String> {
        for (kind, n) in self.counts {
            if n > 20 {
                self.lines.push(format!("{kind}: {} more", n - 20));
            }
        }
        self.lines
    }
}

fn heap_kib() -> u64 {
    (crate::heap::live_bytes() / 1024) as u64
}

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4)
}

/// Runs the soak and returns its ledger; the caller decides what to do with violations.
pub async fn run(config: &SoakConfig) -> Result<Ledger, String> {
    let started = Instant::now();
    let mut rng = fastrand::Rng::with_seed(config.seed);
    let origins = start_origins(&mut rng).await?;
    let client = soak_client(config.deadline);
    let plans: Vec<Plan> = (0..config.requests)
        .map(|i| Plan::draw(config.seed, i, &origins))
        .collect();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; config.requests];
    let mut processed = vec![0u32; config.requests];
    let mut violations = Violations::default();
    let mut slowest = Duration::ZERO;
    let mut rss = (0, 0);
    let mut heap = (0, 0);
    let chunk = config.requests.div_ceil(CHUNKS).max(1);
    for (c, start) in (0..config.requests).step_by(chunk).enumerate() {
        let end = (start + chunk).min(config.requests);
        let done: Vec<(usize, Outcome, Duration)> = stream::iter(start..end)
            .map(|i| {
                let (client, plans, origins) = (&client, &plans, &origins);
                async move {
                    let t = Instant::now();
                    let outcome = tokio::time::timeout(
                        config.deadline + HANG_GRACE,
                        send(client, origins, i, &plans[i]),
                    )
                    .await
                    .unwrap_or(Outcome::Hung);
                    (i, outcome, t.elapsed())
                }
            })
            .buffer_unordered(config.concurrency)
            .collect()
            .await;
        for (i, outcome, took) in done {
            slowest = slowest.max(took);
            if outcomes[i].replace(outcome).is_some() {
                violations.add("ended twice", format!("request {i}"));
            }
        }
        for origin in &origins {
            for (id, n) in origin.server.take_request_ids() {
                match id.parse::<usize>().ok().filter(|i| *i < config.requests) {
                    Some(i) => processed[i] += n,
                    None => violations.add("unknown request id", id),
                }
            }
        }
        if c + 1 == CHUNKS / 10 {
            rss.0 = rss_kib();
            heap.0 = heap_kib();
        }
        if std::env::var_os("SOAK_DEBUG").is_some() {
            eprintln!("after {end} requests: live heap {} KiB", heap_kib());
        }
    }
    rss.1 = rss_kib();
    heap.1 = heap_kib();
    let mut ledger = Ledger {
        sent: config.requests as u64,
        rss_kib: rss,
        heap_kib: heap,
        slowest,
        ..Ledger::default()
    };
    let mut per_origin = vec![(0u64, 0u64, 0u64); origins.len()];
    for (i, (outcome, plan)) in outcomes.iter().zip(&plans).enumerate() {
        let times = processed[i];
        let per = &mut per_origin[plan.origin];
        per.0 += 1;
        if times > 1 {
            ledger.processed_twice += 1;
            if !plan.replay_safe() {
                violations.add(
                    "not replay-safe, processed twice",
                    format!(
                        "request {i}: {} {} processed {times} times",
                        plan.method,
                        plan.route.path()
                    ),
                );
            }
        }
        match outcome {
            None => violations.add("never ended", format!("request {i}")),
            Some(Outcome::Hung) => violations.add(
                "hung past its deadline",
                format!("request {i}: {} {}", plan.method, plan.route.path()),
            ),
            Some(Outcome::Wrong(what)) => violations.add(
                "wrong response",
                format!("request {i}: {} {}: {what}", plan.method, plan.route.path()),
            ),
            Some(Outcome::Succeeded { retries }) => {
                ledger.succeeded += 1;
                per.1 += 1;
                for kind in retries.iter() {
                    *ledger.retried.entry(format!("{kind:?}")).or_insert(0) += 1;
                }
                if retries.more > 0 {
                    *ledger.retried.entry("(more)".into()).or_insert(0) += u64::from(retries.more);
                }
                if plan.route.doomed() {
                    violations.add(
                        "a failed response reported as a success",
                        format!("request {i}: {} {}", plan.method, plan.route.path()),
                    );
                }
                if times == 0 {
                    violations.add(
                        "a success the server never processed",
                        format!("request {i}"),
                    );
                }
            }
            Some(Outcome::Failed {
                kind,
                delivery,
                attempts,
            }) => {
                per.2 += 1;
                ledger.retried_then_failed += u64::from(attempts.saturating_sub(1));
                *ledger
                    .failed
                    .entry(format!("{kind:?} ({delivery:?})"))
                    .or_insert(0) += 1;
                let unprocessed = matches!(delivery, Delivery::NotSent | Delivery::Unprocessed);
                if unprocessed && !plan.replay_safe() && times > 0 {
                    violations.add(
                        "reported unprocessed, but processed",
                        format!("request {i}: {kind:?} ({delivery:?}), processed {times} times"),
                    );
                }
                if *delivery == Delivery::Unprocessed
                    && *attempts < plexus::RetryPolicy::default().max_attempts
                {
                    violations.add(
                        "unprocessed, yet not retried",
                        format!("request {i}: {kind:?} after {attempts} attempts"),
                    );
                }
            }
        }
    }
    ledger.origins = origins
        .iter()
        .zip(per_origin)
        .map(|(o, (sent, ok, failed))| (o.name.to_string(), o.faults.clone(), sent, ok, failed))
        .collect();
    if heap.1 > heap.0 + HEAP_SLACK_KIB + heap.0 / 10 {
        violations.add(
            "memory grew",
            format!(
                "live heap {} KiB after 10%, {} KiB at the end",
                heap.0, heap.1
            ),
        );
    }
    ledger.violations = violations.into_lines();
    ledger.elapsed = started.elapsed();
    Ok(ledger)
}
