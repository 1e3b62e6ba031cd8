//! `plexus load`: an h2load-style load generator over plexus. `-c` clients, each with one
//! connection to the origin, run `-m` request loops each until `-n` requests have been
//! sent or the `-D` duration has passed; every loop keeps its own tallies, merged at the end
//! (nothing shared on the hot path but two atomic counters).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Request, Uri};
use plexus::{Body, Client, Http3Mode};

use crate::load_report::{Histograms, Progress, Tally};
use crate::request_args::{RequestShape, TlsArgs};

/// Arguments of `plexus load`.
#[derive(clap::Args, Debug)]
pub(crate) struct LoadArgs {
    /// The URL to request (http:// or https://).
    url: String,
    /// Requests in all.
    #[arg(
        short = 'n',
        long = "requests",
        value_name = "N",
        conflicts_with = "duration"
    )]
    requests: Option<u64>,
    /// Run for this long instead of a number of requests: seconds, or a number with a
    /// unit as h2load takes it (`500ms`, `10s`, `2m`, `1h`).
    #[arg(short = 'D', long = "duration", value_name = "DURATION", value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Connections (each a client of its own, with one connection to the origin;
    /// clients, with `--pooled`).
    #[arg(short = 'c', long = "clients", default_value_t = 1, value_name = "N")]
    connections: usize,
    /// Each client keeps the pool a service's client has by default rather than one
    /// connection: up to six HTTP/1.1 connections to the origin (h2 and h3: one), opened
    /// as the requests in flight need them. `-m` is then the requests at once per client.
    #[arg(long)]
    pooled: bool,
    /// Requests in flight at once on each connection (over HTTP/1.1 they queue for it).
    #[arg(
        short = 'm',
        long = "max-concurrent-streams",
        default_value_t = 1,
        value_name = "N"
    )]
    streams: usize,
    /// HTTP/1.1 only.
    #[arg(long, conflicts_with_all = ["h2", "h3"])]
    h1: bool,
    /// HTTP/2 only (by ALPN over TLS; prior knowledge for http://).
    #[arg(long, conflicts_with = "h3")]
    h2: bool,
    /// HTTP/3 only.
    #[arg(long)]
    h3: bool,
    /// Request method (default GET; POST with -d).
    #[arg(short = 'X', long = "method", value_name = "METHOD")]
    method: Option<String>,
    /// Request body; `@FILE` reads it from FILE. Implies POST.
    #[arg(short = 'd', long = "data", value_name = "DATA")]
    data: Option<String>,
    /// Extra request header, `Name: value` (repeatable); `Name:` sends no such header,
    /// not even the default `User-Agent`; `Name;` sends it empty.
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,
    #[command(flatten)]
    tls: TlsArgs,
    /// Print one JSON object at the end instead of the report.
    #[arg(long)]
    json: bool,
    /// Also write the JSON object to FILE.
    #[arg(long, value_name = "FILE")]
    json_file: Option<PathBuf>,
    /// Runtime worker threads (1: a current-thread runtime, the cheapest per request).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub(crate) threads: usize,
}

/// How much work is left: a count of requests or a deadline.
struct Budget {
    total: Option<u64>,
    deadline: Option<Instant>,
    issued: AtomicU64,
    finished: Arc<AtomicU64>,
}

impl Budget {
    /// Takes one request's worth; false when the run is over.
    fn take(&self) -> bool {
        match (self.total, self.deadline) {
            (Some(n), _) => self.issued.fetch_add(1, Ordering::Relaxed) < n,
            (None, Some(deadline)) => Instant::now() < deadline,
            (None, None) => false,
        }
    }
}

/// Runs `plexus load`; returns the process exit code (0 when every request got a
/// response, 1 otherwise, 2 for bad arguments).
pub(crate) async fn run(args: LoadArgs) -> i32 {
    match run_inner(args).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("plexus load: {message}");
            2
        }
    }
}

async fn run_inner(args: LoadArgs) -> Result<i32, String> {
    let uri: Uri = args
        .url
        .parse()
        .map_err(|e| format!("`{}` is not a valid URL: {e}", args.url))?;
    if uri.scheme().is_none() || uri.host().is_none() {
        return Err(format!("`{}` is not an absolute http(s) URL", args.url));
    }
    let shape = Arc::new(
        RequestShape::parse(
            args.method.as_deref(),
            &args.headers,
            args.data.as_deref(),
            false,
        )
        .await?,
    );
    let duration = args.duration;
    let total = match (args.requests, duration) {
        (Some(n), _) => Some(n),
        (None, Some(_)) => None,
        (None, None) => Some(1000),
    };
    let connections = args.connections.max(1);
    let streams = args.streams.max(1);
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        clients.push(client(&args, uri.scheme_str() == Some("http")).await?);
    }
    let started = Instant::now();
    let budget = Arc::new(Budget {
        total,
        deadline: duration.map(|d| started + d),
        issued: AtomicU64::new(0),
        finished: Arc::new(AtomicU64::new(0)),
    });
    let progress = (!args.json && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .then(|| Progress::start(Arc::clone(&budget.finished), total, duration));
    let histograms = Histograms::shared();
    let mut loops = tokio::task::JoinSet::new();
    for client in &clients {
        for _ in 0..streams {
            loops.spawn(request_loop(
                Tally::new(Arc::clone(&histograms)),
                client.clone(),
                uri.clone(),
                Arc::clone(&shape),
                Arc::clone(&budget),
            ));
        }
    }
    let mut tally = Tally::new(histograms);
    while let Some(done) = loops.join_next().await {
        match done {
            Ok(t) => tally.merge(t),
            Err(e) => return Err(format!("a request loop failed: {e}")),
        }
    }
    let elapsed = started.elapsed();
    if let Some(p) = progress {
        p.stop();
    }
    let summary = tally.summary(elapsed);
    let json = summary.to_json();
    if let Some(path) = &args.json_file {
        std::fs::write(path, format!("{json}\n"))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if args.json {
        println!("{json}");
    } else {
        print!("{}", summary.report());
    }
    Ok(i32::from(summary.errors > 0))
}

/// A run's length from the command line: a number of seconds, with an optional unit
/// (`ms`, `s`, `m`, `h`); more than zero.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("unknown unit `{unit}` (ms, s, m or h)")),
    };
    let number: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (e.g. 10, 10s, 500ms)"))?;
    match Duration::try_from_secs_f64(number * scale) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(format!("`{text}` is not a duration of more than zero")),
    }
}

/// A client with one connection to the origin (with `--pooled`, the default pool),
/// speaking what the flags ask.
async fn client(args: &LoadArgs, cleartext: bool) -> Result<Client, String> {
    let mut builder = args.tls.apply(Client::builder()).await?;
    if !args.pooled {
        builder = builder
            .max_connections_per_origin(1)
            .http1_max_connections_per_origin(1);
    }
    builder = builder
        // A load generator measures the URL it is given, as h2load and wrk do, and
        // reads the bytes as sent.
        .redirect(plexus::redirect::Policy::none())
        .no_decompression()
        // ... and goes to it directly, whatever proxy the environment names.
        .no_proxy();
    builder = crate::request_args::without_removed_defaults(builder, &args.headers)?;
    builder = if args.h1 {
        builder.http1_only()
    } else if args.h2 && cleartext {
        builder.http2_prior_knowledge()
    } else if args.h3 {
        builder.http3(Http3Mode::Only)
    } else {
        builder.http3(Http3Mode::Off)
    };
    builder.build().map_err(|e| crate::error_chain(&e))
}

/// Sends requests one after the other until the budget is spent.
async fn request_loop(
    mut tally: Tally,
    client: Client,
    uri: Uri,
    shape: Arc<RequestShape>,
    budget: Arc<Budget>,
) -> Tally {
    while budget.take() {
        let mut request = Request::new(match &shape.data {
            Some(d) => Body::from(d.clone()),
            None => Body::empty(),
        });
        *request.method_mut() = shape.method.clone();
        *request.uri_mut() = uri.clone();
        for (n, v) in &shape.headers {
            request.headers_mut().append(n.clone(), v.clone());
        }
        // The response is counted where it is read: handing it out of the block would
        // copy it (some 300 bytes) twice more per request. Its latency runs from the start
        // its record keeps (a clock read per request fewer than taking one here).
        let outcome = async {
            let mut response = client.execute(request).await?;
            let mut bytes = 0u64;
            while let Some(chunk) = response.chunk().await? {
                bytes += chunk.len() as u64;
            }
            let took = response.record().started.elapsed();
            tally.response(&response, bytes, took);
            Ok::<_, plexus::Error>(())
        }
        .await;
        if let Err(e) = outcome {
            tally.error(&e);
        }
        budget.finished.fetch_add(1, Ordering::Relaxed);
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_take_seconds_or_a_unit() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    }

    #[test]
    fn bad_durations_are_refused() {
        for bad in ["", "s", "0", "-1", "10x", "ten", "1e999", "NaN"] {
            assert!(parse_duration(bad).is_err(), "{bad} was taken");
        }
    }
}
