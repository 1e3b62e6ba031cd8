//! `plexus get`: fetch URLs over one shared client, curl-style.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::stream::{self, StreamExt};
use http::header::{HeaderName, HeaderValue};
use http::{Method, Request};
use plexus::{Body, Client, Error, ErrorKind, Http3Mode, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Mutex;

use crate::request_args::{ProxyArgs, RequestShape, TlsArgs};
use crate::stats::RunStats;
use crate::write_out::{Template, Vars};

/// Arguments of `plexus get`.
#[derive(clap::Args, Debug)]
pub(crate) struct GetArgs {
    /// URLs to fetch (http:// or https://).
    #[arg(required = true)]
    urls: Vec<String>,
    /// Show connection details (address, TLS, ALPN, protocol, new or reused) and headers
    /// on stderr.
    #[arg(short, long)]
    verbose: bool,
    /// Write every response body to FILE instead of stdout (`/dev/null` discards).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Extra request header, `Name: value` (repeatable); `Name:` sends no such header,
    /// not even the default `User-Agent` or `Accept`; `Name;` sends it empty.
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,
    /// Request method (default GET; POST with -d, PUT with -T).
    #[arg(short = 'X', long = "request", value_name = "METHOD")]
    method: Option<String>,
    /// Request body; `@FILE` reads it from FILE. Implies POST.
    #[arg(short = 'd', long = "data", value_name = "DATA")]
    data: Option<String>,
    /// JSON request body (`@FILE` reads it from FILE): a POST with `Content-Type` and
    /// `Accept` set to `application/json` unless given, as curl's `--json`.
    #[arg(long = "json", value_name = "DATA", conflicts_with_all = ["data", "upload_file"])]
    json: Option<String>,
    /// Ask for a compressed response (gzip, br, zstd, deflate) and decode it, as curl's
    /// `--compressed`; without it no `Accept-Encoding` is sent.
    #[arg(long)]
    compressed: bool,
    /// `USER:PASSWORD` for HTTP Basic authentication, as curl's `-u`.
    #[arg(short = 'u', long = "user", value_name = "USER:PASSWORD")]
    user: Option<String>,
    /// Stream FILE as the request body. Implies PUT.
    #[arg(short = 'T', long = "upload-file", value_name = "FILE")]
    upload_file: Option<PathBuf>,
    /// HTTP/1.1 only.
    #[arg(long = "http1.1", conflicts_with_all = ["http2", "http2_prior_knowledge", "http3", "http3_only"])]
    http1_1: bool,
    /// HTTP/2 when the server agrees by ALPN, else HTTP/1.1 (the default).
    #[arg(long = "http2")]
    http2: bool,
    /// HTTP/2 without negotiation (h2c for http://).
    #[arg(long = "http2-prior-knowledge", conflicts_with_all = ["http3", "http3_only"])]
    http2_prior_knowledge: bool,
    /// Try HTTP/3 first (QUIC raced against TCP), falling back to TCP if QUIC fails.
    #[arg(long = "http3", conflicts_with = "http3_only")]
    http3: bool,
    /// HTTP/3 only: no TCP fallback.
    #[arg(long = "http3-only")]
    http3_only: bool,
    /// Keep the Alt-Svc cache in FILE (curl's format), so a later run goes to HTTP/3 at
    /// once.
    #[arg(long = "alt-svc", value_name = "FILE")]
    alt_svc: Option<PathBuf>,
    #[command(flatten)]
    tls: TlsArgs,
    #[command(flatten)]
    proxy: ProxyArgs,
    /// Fetch the URL list this many times.
    #[arg(long, default_value_t = 1, value_name = "N")]
    repeat: usize,
    /// At most N requests in flight at once, all over the one shared client.
    #[arg(long, default_value_t = 1, value_name = "N")]
    parallel: usize,
    /// Print this after each transfer; curl's `%{variable}`s (`http_version`,
    /// `response_code`, `time_namelookup`, `time_connect`, `time_appconnect`,
    /// `time_pretransfer`, `time_starttransfer`, `time_total`, `size_download`,
    /// `num_connects`, `num_retries`, `remote_ip`, ...) and plexus's `protocol`, `reused`,
    /// `zero_rtt`. `@FILE` reads it from FILE.
    #[arg(short = 'w', long = "write-out", value_name = "FORMAT")]
    write_out: Option<String>,
    /// Write a JSON summary of the run to FILE.
    #[arg(long, value_name = "FILE")]
    stats_json: Option<PathBuf>,
    /// Seconds allowed for connection set-up (default 10).
    #[arg(long, value_name = "SECONDS")]
    connect_timeout: Option<f64>,
    /// Seconds allowed for each whole transfer.
    #[arg(short = 'm', long = "max-time", value_name = "SECONDS")]
    max_time: Option<f64>,
    /// Re-send a replay-safe request answered with 429, 502, 503 or 504 up to N times,
    /// with exponential back-off from 1 s (honouring `Retry-After`), as curl's `--retry`.
    #[arg(long, value_name = "N")]
    retry: Option<u32>,
    /// Follow redirects (301, 302, 303, 307, 308), as curl's `-L`; without it a redirect
    /// is the answer.
    #[arg(short = 'L', long = "location")]
    location: bool,
    /// With `-L`, follow at most N redirects (default 50, as curl); one more fails with
    /// exit code 47.
    #[arg(long = "max-redirs", value_name = "N", requires = "location")]
    max_redirs: Option<usize>,
    /// Most HTTP/2 connections per origin (default 1).
    #[arg(long, value_name = "N")]
    max_connections_per_origin: Option<usize>,
    /// Include the response status line and headers in the output.
    #[arg(short, long)]
    include: bool,
    /// No error messages.
    #[arg(short, long)]
    silent: bool,
    /// Fail on an HTTP error (status 400 or above): write no body, say so, and exit with
    /// 22, as curl's `-f`. Without it an HTTP error is a successful transfer.
    #[arg(short = 'f', long)]
    fail: bool,
}

/// Where bodies go.
enum Sink {
    Discard,
    Stdout(Mutex<tokio::io::Stdout>),
    File(Mutex<tokio::fs::File>),
}

impl Sink {
    async fn open(path: Option<&PathBuf>) -> Result<Sink, String> {
        match path {
            None => Ok(Sink::Stdout(Mutex::new(tokio::io::stdout()))),
            Some(p) if p.as_os_str() == "/dev/null" => Ok(Sink::Discard),
            Some(p) => tokio::fs::File::create(p)
                .await
                .map(|f| Sink::File(Mutex::new(f)))
                .map_err(|e| format!("cannot write {}: {e}", p.display())),
        }
    }

    async fn write(&self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Discard => Ok(()),
            Sink::Stdout(out) => out.lock().await.write_all(bytes).await,
            Sink::File(f) => f.lock().await.write_all(bytes).await,
        }
    }

    async fn flush(&self) -> std::io::Result<()> {
        match self {
            Sink::Discard => Ok(()),
            Sink::Stdout(out) => out.lock().await.flush().await,
            Sink::File(f) => f.lock().await.flush().await,
        }
    }
}

struct Job {
    url: String,
}

/// The result of one transfer.
pub(crate) struct Transfer {
    pub(crate) vars: Vars,
    pub(crate) error: Option<Error>,
}

struct Settings {
    method: Method,
    headers: Vec<(HeaderName, HeaderValue)>,
    data: Option<Bytes>,
    upload_file: Option<PathBuf>,
    verbose: bool,
    include: bool,
    /// Bodies are written whole when transfers overlap, so they do not interleave.
    whole_bodies: bool,
    /// `-f`: an HTTP error status fails the transfer.
    fail: bool,
    /// Show a progress bar on stderr for large bodies (see [`show_progress`]).
    progress: bool,
}

/// Runs `plexus get`; returns the process exit code.
pub(crate) async fn run(args: GetArgs) -> i32 {
    match run_inner(args).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("plexus: {message}");
            2
        }
    }
}

async fn run_inner(args: GetArgs) -> Result<i32, String> {
    let client = build_client(&args).await?;
    let settings = Arc::new(settings(&args).await?);
    let template = match &args.write_out {
        Some(w) => Some(load_template(w).await?),
        None => None,
    };
    if let Some(t) = &template {
        for v in t.unknown_vars() {
            eprintln!("plexus: unknown --write-out variable `{v}`");
        }
    }
    let sink = Arc::new(Sink::open(args.output.as_ref()).await?);
    let mut write_out = tokio::io::stdout();
    let jobs: Vec<Job> = (0..args.repeat.max(1))
        .flat_map(|_| args.urls.iter().map(|u| Job { url: u.clone() }))
        .collect();
    let started = Instant::now();
    let mut stats = RunStats::default();
    let mut first_error: Option<Error> = None;
    let mut http_failed = false;
    let mut transfers = stream::iter(jobs)
        .map(|job| transfer(&client, job, &settings, &sink))
        .buffer_unordered(args.parallel.max(1));
    while let Some(t) = transfers.next().await {
        if let Some(template) = &template {
            // As with curl, --write-out goes to stdout whatever -o says.
            let line = template.render(&t.vars);
            let written = match sink.as_ref() {
                Sink::Stdout(out) => out.lock().await.write_all(line.as_bytes()).await,
                _ => write_out.write_all(line.as_bytes()).await,
            };
            if written.is_err() && !args.silent {
                eprintln!("plexus: cannot write to stdout");
            }
        }
        if let Some(e) = &t.error {
            if !args.silent {
                eprintln!("plexus: {}: {}", t.vars.url, crate::error_chain(e));
            }
            first_error.get_or_insert_with(|| e.clone());
        } else if args.fail && t.vars.response_code >= 400 {
            if !args.silent {
                eprintln!(
                    "plexus: {}: the server answered {}",
                    t.vars.url, t.vars.response_code
                );
            }
            http_failed = true;
        }
        stats.record(&t);
    }
    let _ = sink.flush().await;
    let _ = write_out.flush().await;
    let elapsed = started.elapsed();
    if let Some(path) = &args.stats_json {
        let json = stats.to_json(elapsed, &client.snapshot());
        tokio::fs::write(path, json)
            .await
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(match first_error {
        Some(e) => crate::exit_code(&e),
        // curl's CURLE_HTTP_RETURNED_ERROR.
        None if http_failed => 22,
        None => 0,
    })
}

async fn build_client(args: &GetArgs) -> Result<Client, String> {
    let mut builder = args.tls.apply(Client::builder()).await?;
    builder = args.proxy.apply(builder)?;
    // curl's `Accept: */*`, which the library does not send (see `ClientBuilder`): a
    // `-H 'Accept: ...'`, `--json` or `-H 'Accept:'` replaces or removes it.
    builder = builder.default_header(http::header::ACCEPT, "*/*");
    builder = crate::request_args::without_removed_defaults(builder, &args.headers)?;
    if args.http1_1 {
        builder = builder.http1_only();
    } else if args.http2_prior_knowledge {
        builder = builder.http2_prior_knowledge();
    } else if args.http3_only {
        builder = builder.http3(Http3Mode::Only);
    } else if args.http3 {
        builder = builder.http3(Http3Mode::PriorKnowledge);
    }
    if let Some(file) = &args.alt_svc {
        builder = builder.alt_svc_file(file);
    }
    if let Some(s) = args.connect_timeout {
        builder = builder.connect_timeout(seconds(s)?);
    }
    if let Some(s) = args.max_time {
        builder = builder.timeout(seconds(s)?);
    }
    if let Some(n) = args.max_connections_per_origin {
        builder = builder.max_connections_per_origin(n);
    }
    if !args.compressed {
        builder = builder.no_decompression();
    }
    // curl follows no redirect unless asked, and then up to 50.
    builder = builder.redirect(if args.location {
        plexus::redirect::Policy::limited(args.max_redirs.unwrap_or(50))
    } else {
        plexus::redirect::Policy::none()
    });
    if let Some(n) = args.retry {
        builder = builder.retry_status(plexus::StatusRetry {
            base_delay: Duration::from_secs(1),
            ..plexus::StatusRetry::retries(n)
        });
    }
    builder.build().map_err(|e| crate::error_chain(&e))
}

fn seconds(s: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(s).map_err(|_| format!("invalid number of seconds: {s}"))
}

async fn settings(args: &GetArgs) -> Result<Settings, String> {
    let RequestShape {
        method,
        headers,
        data,
    } = RequestShape::parse(
        args.method.as_deref(),
        &extra_headers(args),
        args.data.as_deref().or(args.json.as_deref()),
        args.upload_file.is_some(),
    )
    .await?;
    Ok(Settings {
        method,
        headers,
        data,
        upload_file: args.upload_file.clone(),
        verbose: args.verbose,
        include: args.include,
        whole_bodies: args.parallel > 1,
        fail: args.fail,
        progress: show_progress(args),
    })
}

/// Whether to draw a download progress bar: as curl, when stderr is a terminal and the
/// body does not go to it (`-o FILE`, or stdout redirected), one transfer at a time, and
/// not with `-s`. Only bodies of 1 MiB or more (or of unknown length) get one.
fn show_progress(args: &GetArgs) -> bool {
    use std::io::IsTerminal;
    let body_to_terminal = args.output.is_none() && std::io::stdout().is_terminal();
    !args.silent && args.parallel <= 1 && std::io::stderr().is_terminal() && !body_to_terminal
}

/// A progress bar for a body of `len` bytes (`None`: unknown), or none for a small body.
fn progress_bar(len: Option<u64>) -> Option<indicatif::ProgressBar> {
    const LARGE: u64 = 1024 * 1024;
    let (bar, template) = match len {
        Some(n) if n < LARGE => return None,
        Some(n) => (
            indicatif::ProgressBar::new(n),
            "{bytes:>11} / {total_bytes} [{bar:30}] {binary_bytes_per_sec:>12}, {eta} left",
        ),
        None => (
            indicatif::ProgressBar::no_length(),
            "{spinner} {bytes:>11} {binary_bytes_per_sec:>12}",
        ),
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    Some(bar)
}

/// `-H` headers, and those `--json` and `-u` imply (a `-H` of the same name wins).
fn extra_headers(args: &GetArgs) -> Vec<String> {
    let mut headers = args.headers.clone();
    let given = |name: &str| {
        args.headers.iter().any(|h| {
            // `Name: value`, `Name:` (no such header) and `Name;` (empty) all give it.
            h.split([':', ';'])
                .next()
                .is_some_and(|n| n.trim().eq_ignore_ascii_case(name))
        })
    };
    if args.json.is_some() {
        for name in ["Content-Type", "Accept"] {
            if !given(name) {
                headers.push(format!("{name}: application/json"));
            }
        }
    }
    if let Some(user) = &args.user {
        if !given("Authorization") {
            use base64::Engine as _;
            // `-u USER` alone: an empty password (curl would prompt for one).
            let pair = if user.contains(':') {
                user.clone()
            } else {
                format!("{user}:")
            };
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            headers.push(format!("Authorization: Basic {encoded}"));
        }
    }
    headers
}

async fn load_template(w: &str) -> Result<Template, String> {
    match w.strip_prefix('@') {
        Some(path) => tokio::fs::read_to_string(path)
            .await
            .map(|t| Template::parse(&t))
            .map_err(|e| format!("cannot read {path}: {e}")),
        None => Ok(Template::parse(w)),
    }
}

async fn transfer(client: &Client, job: Job, s: &Settings, sink: &Sink) -> Transfer {
    let started = Instant::now();
    let mut vars = Vars {
        url: job.url.clone(),
        ..Vars::default()
    };
    let result = fetch(client, &job, s, sink, &mut vars).await;
    vars.time_total = started.elapsed().as_secs_f64();
    let error = result.err();
    if let Some(e) = &error {
        vars.errormsg = crate::error_chain(e);
    }
    Transfer { vars, error }
}

async fn fetch(
    client: &Client,
    job: &Job,
    s: &Settings,
    sink: &Sink,
    vars: &mut Vars,
) -> Result<(), Error> {
    let body = match (&s.data, &s.upload_file) {
        (Some(d), _) => Body::from(d.clone()),
        (None, Some(path)) => file_body(path).await?,
        (None, None) => Body::empty(),
    };
    let mut request = Request::new(body);
    *request.method_mut() = s.method.clone();
    *request.uri_mut() = job.url.parse().map_err(|e| {
        Error::new(ErrorKind::InvalidUrl)
            .with_message(format!("`{}` is not a valid URL", job.url))
            .with_source(e)
    })?;
    for (n, v) in &s.headers {
        request.headers_mut().append(n.clone(), v.clone());
    }
    if s.verbose {
        eprintln!("> {} {}", request.method(), request.uri());
        for (n, v) in request.headers() {
            eprintln!("> {}: {}", n, v.to_str().unwrap_or("<binary>"));
        }
    }
    let mut response = client.execute(request).await?;
    describe(&response, vars);
    if s.verbose {
        verbose_response(&response);
    }
    if s.fail && response.status().as_u16() >= 400 {
        return Ok(());
    }
    let mut head = String::new();
    if s.include {
        head = format!(
            "{} {}\r\n",
            version_name(response.version()),
            response.status()
        );
        for (n, v) in response.headers() {
            head.push_str(&format!("{}: {}\r\n", n, v.to_str().unwrap_or("<binary>")));
        }
        head.push_str("\r\n");
    }
    let io_error = |e: std::io::Error| {
        Error::new(ErrorKind::RequestBody)
            .with_message("cannot write the response body")
            .with_source(e)
    };
    if s.whole_bodies {
        let mut all = BytesMut::from(head.as_bytes());
        while let Some(chunk) = response.chunk().await? {
            vars.size_download += chunk.len() as u64;
            if !matches!(sink, Sink::Discard) {
                all.extend_from_slice(&chunk);
            }
        }
        sink.write(&all).await.map_err(io_error)?;
    } else {
        sink.write(head.as_bytes()).await.map_err(io_error)?;
        let bar = s
            .progress
            .then(|| progress_bar(response.content_length()))
            .flatten();
        while let Some(chunk) = response.chunk().await? {
            vars.size_download += chunk.len() as u64;
            sink.write(&chunk).await.map_err(io_error)?;
            if let Some(bar) = &bar {
                bar.inc(chunk.len() as u64);
            }
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
    }
    if s.verbose {
        eprintln!("* {} bytes received", vars.size_download);
    }
    Ok(())
}

/// The version as curl prints it in a status line: `HTTP/1.1`, `HTTP/2`, `HTTP/3`.
fn version_name(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_2 => "HTTP/2",
        http::Version::HTTP_3 => "HTTP/3",
        http::Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    }
}

fn describe(response: &Response, vars: &mut Vars) {
    let record = response.record();
    vars.http_version = version_name(response.version())
        .trim_start_matches("HTTP/")
        .to_string();
    vars.response_code = response.status().as_u16();
    vars.time_connect = record.time_connect().as_secs_f64();
    vars.time_appconnect = record.time_appconnect().as_secs_f64();
    vars.time_starttransfer = record.time_starttransfer().as_secs_f64();
    vars.num_connects = u32::from(!record.reused);
    vars.remote_ip = record.connection.remote_addr.ip().to_string();
    vars.remote_port = record.connection.remote_addr.port();
    vars.num_retries = record.retries.len();
    vars.time_namelookup = record.time_namelookup().as_secs_f64();
    vars.time_pretransfer = record.time_pretransfer().as_secs_f64();
    vars.protocol = match record.connection.protocol {
        plexus::Protocol::Http1 => "h1",
        plexus::Protocol::Http2 => "h2",
        plexus::Protocol::Http3 => "h3",
    }
    .to_string();
    vars.reused = u8::from(record.reused);
    vars.zero_rtt = u8::from(record.early_data);
}

fn verbose_response(response: &Response) {
    let r = response.record();
    let c = &r.connection;
    if r.reused {
        eprintln!(
            "* Reusing connection {} to {} ({}, {})",
            c.id, c.origin, c.remote_addr, c.protocol
        );
    } else {
        let tls = c.tls.as_ref().map_or_else(
            || "cleartext".to_string(),
            |t| {
                format!(
                    "{} {}{}",
                    t.version,
                    t.cipher_suite,
                    if t.resumed { " (resumed)" } else { "" }
                )
            },
        );
        let via = match &c.proxy {
            Some(proxy) => format!(" (a CONNECT tunnel through proxy {proxy})"),
            None => String::new(),
        };
        eprintln!(
            "* New connection {} to {} at {}{via} over {}, ALPN {}, speaking {}",
            c.id,
            c.origin,
            c.remote_addr,
            tls,
            c.alpn.as_deref().unwrap_or("none"),
            c.protocol
        );
        eprintln!(
            "* Set-up: connect {:.3} ms, TLS {:.3} ms{}",
            r.time_connect().as_secs_f64() * 1e3,
            r.time_appconnect().as_secs_f64() * 1e3,
            if c.tls.as_ref().is_some_and(|t| t.resumed) {
                ", session resumed"
            } else {
                ""
            }
        );
        if let Some(race) = &c.race {
            eprintln!(
                "* Raced QUIC against TCP (TCP {} ms behind): {} won after {:.1} ms; {}",
                race.head_start.as_millis(),
                race.winner,
                race.won_after.as_secs_f64() * 1e3,
                race.loser
            );
        }
    }
    if r.early_data {
        eprintln!("* Sent in 0-RTT early data (accepted by the server)");
    }
    for e in &r.retries {
        eprintln!("* Retried after: {e}");
    }
    match r.stream_id {
        Some(id) => eprintln!(
            "< {:?} {} (stream {id})",
            response.version(),
            response.status()
        ),
        None => eprintln!("< {:?} {}", response.version(), response.status()),
    }
    for (n, v) in response.headers() {
        eprintln!("< {}: {}", n, v.to_str().unwrap_or("<binary>"));
    }
}

/// A streaming body read from a file in 64 KiB chunks.
async fn file_body(path: &PathBuf) -> Result<Body, Error> {
    let file = tokio::fs::File::open(path).await.map_err(|e| {
        Error::new(ErrorKind::RequestBody)
            .with_message(format!("cannot read {}", path.display()))
            .with_source(e)
    })?;
    let chunks = stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = BytesMut::with_capacity(64 * 1024);
        match file.read_buf(&mut buf).await {
            Ok(0) => None,
            Ok(_) => Some((Ok::<_, std::io::Error>(buf.freeze()), Some(file))),
            Err(e) => Some((Err(e), None)),
        }
    });
    Ok(Body::wrap_stream(chunks))
}

/// Status codes of a run, by code.
pub(crate) type StatusCounts = BTreeMap<u16, u64>;
