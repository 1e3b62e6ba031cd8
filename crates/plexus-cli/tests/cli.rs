//! The `plexus` binary against in-process servers: memory bounds of streamed transfers,
//! `-w`, `--stats-json`, proxies, exit codes.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use plexus_testkit::{test_certs, ConnectProxy, TestServer};

const MIB: u64 = 1024 * 1024;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    peak_rss: u64,
}

/// The environment variables that name proxies: cleared for every run, so that the
/// machine's own settings do not reach the tests.
const PROXY_VARS: [&str; 8] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// Runs `plexus` with `args`, sampling its peak resident set size (the kernel's VmHWM)
/// until it exits.
async fn plexus(args: &[&str]) -> Run {
    plexus_env(args, &[]).await
}

/// [`plexus`] with environment variables set.
async fn plexus_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_plexus"));
    for var in PROXY_VARS {
        command.env_remove(var);
    }
    let mut child = command
        .envs(env.iter().copied())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("plexus starts");
    let pid = child.id().expect("running child has a pid");
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let read_all = |mut r: Box<dyn tokio::io::AsyncRead + Unpin + Send>| {
        tokio::spawn(async move {
            let mut s = String::new();
            let _ = tokio::io::AsyncReadExt::read_to_string(&mut r, &mut s).await;
            s
        })
    };
    let out = read_all(Box::new(stdout));
    let err = read_all(Box::new(stderr));
    let mut peak_rss = 0;
    let status = loop {
        if let Some(kb) = vm_hwm_kib(pid) {
            peak_rss = peak_rss.max(kb * 1024);
        }
        tokio::select! {
            status = child.wait() => break status.expect("child exits"),
            () = tokio::time::sleep(Duration::from_millis(5)) => {}
        }
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: out.await.expect("stdout reader"),
        stderr: err.await.expect("stderr reader"),
        peak_rss,
    }
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// `plexus get` of `url` into /dev/null, printing the version and byte count.
async fn to_null(ca: &Path, url: String, extra: &[&str]) -> Run {
    let mut args = vec![
        "get",
        "--cacert",
        s(ca),
        "-o",
        "/dev/null",
        "-w",
        "%{http_version} %{size_download}",
    ];
    args.extend_from_slice(extra);
    args.push(&url);
    plexus(&args).await
}

fn ca_file(dir: &Path) -> PathBuf {
    let path = dir.join("ca.pem");
    std::fs::write(&path, &test_certs().ca_pem).expect("write CA");
    path
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// Test 6: a 100 MiB download and a 100 MiB upload each grow the client's peak memory by
/// less than 32 MiB, over h2 and over HTTP/1.1: bodies stream, they are not buffered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_mib_transfers_stream_in_bounded_memory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ca_file(dir.path());
    let upload = dir.path().join("upload.bin");
    std::fs::write(&upload, vec![7u8; (100 * MIB) as usize]).expect("write upload file");

    for (label, builder) in [
        ("h2", TestServer::builder().h2_only()),
        ("h1", TestServer::builder().http1_only()),
    ] {
        let server = builder.start().await.expect("server starts");
        let baseline = to_null(&ca, server.url("/bytes/1024"), &[]).await;
        assert_eq!(baseline.code, 0, "{}", baseline.stderr);

        let download = to_null(&ca, server.url(&format!("/bytes/{}", 100 * MIB)), &[]).await;
        assert_eq!(download.code, 0, "{}", download.stderr);
        let expected_version = if label == "h2" { "2" } else { "1.1" };
        assert_eq!(download.stdout, format!("{expected_version} {}", 100 * MIB));
        let growth = download.peak_rss.saturating_sub(baseline.peak_rss);
        println!(
            "{label} download: peak RSS {} MiB, baseline {} MiB, growth {:.1} MiB",
            download.peak_rss / MIB,
            baseline.peak_rss / MIB,
            growth as f64 / MIB as f64
        );
        assert!(
            growth < 32 * MIB,
            "{label} download grew the client by {growth} bytes"
        );

        let sent = to_null(&ca, server.url("/upload"), &["-T", s(&upload)]).await;
        assert_eq!(sent.code, 0, "{}", sent.stderr);
        let growth = sent.peak_rss.saturating_sub(baseline.peak_rss);
        println!(
            "{label} upload: peak RSS {} MiB, growth {:.1} MiB",
            sent.peak_rss / MIB,
            growth as f64 / MIB as f64
        );
        assert!(
            growth < 32 * MIB,
            "{label} upload grew the client by {growth} bytes"
        );
        assert_eq!(server.stats().requests, 3);
    }
    // The server saw every byte of the upload: its answer says so.
    let server = TestServer::builder().start().await.expect("server starts");
    let out = plexus(&[
        "get",
        "--cacert",
        s(&ca),
        "-T",
        s(&upload),
        &server.url("/upload"),
    ])
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, format!("received {} bytes", 100 * MIB));
}

/// `-w` reports curl's variables; `--repeat` reuses the connection (`num_connects` 0).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_out_shows_reuse() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ca_file(dir.path());
    let server = TestServer::builder().start().await.expect("server starts");
    let url = server.url("/");
    let run = plexus(&[
        "get",
        "--cacert",
        s(&ca),
        "-o",
        "/dev/null",
        "--repeat",
        "3",
        "-w",
        "%{http_version} %{response_code} %{num_connects} %{size_download}\\n",
        &url,
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "2 200 1 13\n2 200 0 13\n2 200 0 13\n");
    assert_eq!(server.stats().tcp_connections, 1);

    let run = plexus(&[
        "get",
        "--cacert",
        s(&ca),
        "--http1.1",
        "-o",
        "/dev/null",
        "-w",
        "%{http_version} %{time_connect} %{time_appconnect} %{time_total}",
        &url,
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let fields: Vec<&str> = run.stdout.split(' ').collect();
    assert_eq!(fields[0], "1.1");
    let times: Vec<f64> = fields[1..]
        .iter()
        .map(|f| f.parse().expect("a number"))
        .collect();
    assert!(
        times[0] > 0.0 && times[0] <= times[1] && times[1] <= times[2],
        "{times:?}"
    );
}

/// `--parallel` puts requests in flight together over the one client: one h2 connection,
/// many streams at once, as `--stats-json` and the server both say.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_requests_share_one_connection() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ca_file(dir.path());
    let stats_path = dir.path().join("stats.json");
    let server = TestServer::builder().start().await.expect("server starts");
    let url = server.url("/delay/50");
    let run = plexus(&[
        "get",
        "--cacert",
        s(&ca),
        "-o",
        "/dev/null",
        "--repeat",
        "200",
        "--parallel",
        "50",
        "--stats-json",
        s(&stats_path),
        &url,
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&stats_path).expect("stats written")).expect("json");
    assert_eq!(json["requests"], 200);
    assert_eq!(json["ok"], 200);
    assert_eq!(json["connections_opened"], 1);
    assert_eq!(json["origins"][0]["connections_opened"]["h2"], 1);
    let peak = json["peak_streams_in_flight"].as_u64().expect("a number");
    assert!(peak > 10 && peak <= 50, "peak streams {peak}");
    let stats = server.stats();
    assert_eq!(stats.tcp_connections, 1);
    assert!(
        stats.peak_streams > 10 && stats.peak_streams <= 50,
        "{stats:?}"
    );
}

/// Errors print a clear message and exit with curl's codes; `-k` is the opt-out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_exit_with_curl_codes() {
    let server = TestServer::builder().start().await.expect("server starts");
    let untrusted = plexus(&["get", &server.url("/")]).await;
    assert_eq!(untrusted.code, 35, "{}", untrusted.stderr);
    assert!(
        untrusted.stderr.contains("not signed by a trusted CA"),
        "{}",
        untrusted.stderr
    );
    let insecure = plexus(&["get", "-k", &server.url("/")]).await;
    assert_eq!(insecure.code, 0, "{}", insecure.stderr);
    assert_eq!(insecure.stdout, "Hello, World!");

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let refused = plexus(&["get", &format!("http://127.0.0.1:{closed}/")]).await;
    assert_eq!(refused.code, 7, "{}", refused.stderr);
    let bad = plexus(&["get", "ht tp://nope"]).await;
    assert_eq!(bad.code, 3, "{}", bad.stderr);
}

/// Timeouts exit with 28 (`--max-time` on a slow response, `--connect-timeout` on a TLS
/// handshake the server never answers); an HTTP error exits 0, or 22 with `-f`, which
/// writes no body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_http_errors_exit_with_curl_codes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ca_file(dir.path());
    let server = TestServer::builder().start().await.expect("server starts");
    let slow = plexus(&[
        "get",
        "--cacert",
        s(&ca),
        "--max-time",
        "0.3",
        &server.url("/delay/5000"),
    ])
    .await;
    assert_eq!(slow.code, 28, "{}", slow.stderr);
    assert!(slow.stderr.contains("timed out"), "{}", slow.stderr);

    // Accepts TCP, never says a word of TLS.
    let mute = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let mute_url = format!(
        "https://localhost:{}/",
        mute.local_addr().expect("addr").port()
    );
    let held = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = mute.accept().await {
            held.push(socket);
        }
    });
    let stuck = plexus(&[
        "get",
        "--cacert",
        s(&ca),
        "--connect-timeout",
        "0.3",
        &mute_url,
    ])
    .await;
    held.abort();
    assert_eq!(stuck.code, 28, "{}", stuck.stderr);
    assert!(
        stuck.stderr.contains("connect timed out"),
        "{}",
        stuck.stderr
    );

    let missing = server.url("/status/404");
    let plain = plexus(&[
        "get",
        "--cacert",
        s(&ca),
        "-w",
        "%{response_code}",
        &missing,
    ])
    .await;
    assert_eq!(
        (plain.code, plain.stdout.as_str()),
        (0, "404"),
        "{}",
        plain.stderr
    );
    let failed = plexus(&[
        "get",
        "--cacert",
        s(&ca),
        "-f",
        "-w",
        "%{response_code}",
        &missing,
    ])
    .await;
    assert_eq!(
        (failed.code, failed.stdout.as_str()),
        (22, "404"),
        "{}",
        failed.stderr
    );
    assert!(failed.stderr.contains("answered 404"), "{}", failed.stderr);
    let ok = plexus(&["get", "--cacert", s(&ca), "-f", &server.url("/hello")]).await;
    assert_eq!(
        (ok.code, ok.stdout.as_str()),
        (0, "Hello, World!"),
        "{}",
        ok.stderr
    );
}

/// Proxies from `HTTPS_PROXY` (minus `NO_PROXY` hosts) and from `-x` / `-U`, counted on
/// the proxy; a refused tunnel exits 56, a proxy variable that is not a URL is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxies_from_the_environment_and_flags() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ca_file(dir.path());
    let server = TestServer::builder().start().await.expect("server starts");
    let url = server.url("/hello");
    let get = |extra: &'static [&'static str]| {
        let mut a = vec!["get", "--cacert", s(&ca), "-w", " %{http_version}"];
        a.extend_from_slice(extra);
        a.push(&url);
        a
    };
    let proxy = ConnectProxy::start().await.expect("proxy");
    let via_env = plexus_env(&get(&[]), &[("HTTPS_PROXY", &proxy.url())]).await;
    assert_eq!(
        (via_env.code, via_env.stdout.as_str()),
        (0, "Hello, World! 2"),
        "{}",
        via_env.stderr
    );
    assert_eq!(
        proxy.stats().tunnels,
        [format!("localhost:{}", server.port())]
    );
    let bypassed = plexus_env(
        &get(&[]),
        &[
            ("https_proxy", &proxy.url()),
            ("NO_PROXY", "example.test, localhost"),
        ],
    )
    .await;
    assert_eq!(bypassed.code, 0, "{}", bypassed.stderr);
    assert_eq!(proxy.stats().tunnels.len(), 1, "NO_PROXY went direct");
    // http_proxy covers http:// only.
    let other_scheme = plexus_env(&get(&[]), &[("http_proxy", &proxy.url())]).await;
    assert_eq!(other_scheme.code, 0, "{}", other_scheme.stderr);
    assert_eq!(proxy.stats().tunnels.len(), 1);

    let guarded = ConnectProxy::builder()
        .basic_auth("dave", "pw")
        .start()
        .await
        .expect("proxy");
    let mut refused = get(&["-v", "-x"]);
    let guarded_url = guarded.url();
    refused.insert(refused.len() - 1, &guarded_url);
    let run = plexus(&refused).await;
    assert_eq!(run.code, 56, "{}", run.stderr);
    assert!(run.stderr.contains("407"), "{}", run.stderr);
    let mut with_user = get(&["-v", "-U", "dave:pw", "-x"]);
    with_user.insert(with_user.len() - 1, &guarded_url);
    let run = plexus(&with_user).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("through proxy"), "{}", run.stderr);
    assert_eq!(guarded.stats().tunnels.len(), 1);
    assert_eq!(guarded.stats().auth_refused, 1);

    let bad = plexus_env(&get(&[]), &[("HTTPS_PROXY", "socks5://127.0.0.1:1080")]).await;
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("HTTPS_PROXY"), "{}", bad.stderr);
    assert_eq!(server.stats().requests, 4);
}

/// On a terminal (a pseudo-terminal from util-linux's `script`), a large download to a
/// file draws a progress bar on stderr; `-s` and small bodies draw none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_download_to_a_file_shows_a_progress_bar_on_a_terminal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ca_file(dir.path());
    let server = TestServer::builder().start().await.expect("server starts");
    let out = dir.path().join("body.bin");
    let on_terminal = |flags: &str, path: &str| {
        let command = format!(
            "{} get {flags} --cacert {} -o {} {}",
            env!("CARGO_BIN_EXE_plexus"),
            ca.display(),
            out.display(),
            server.url(path)
        );
        let dir = dir.path().to_path_buf();
        async move {
            let typescript = dir.join("typescript");
            let status = tokio::process::Command::new("script")
                .args(["-q", "-e", "-c", &command])
                .arg(&typescript)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .status()
                .await
                .expect("script runs (util-linux)");
            let screen = std::fs::read(&typescript).expect("typescript");
            (status.code(), String::from_utf8_lossy(&screen).into_owned())
        }
    };
    let (code, screen) = on_terminal("", "/bytes/41943040").await;
    assert_eq!(code, Some(0), "{screen}");
    assert!(
        screen.contains("/ 40.00 MiB ["),
        "no progress bar drawn: {screen:?}"
    );
    assert_eq!(std::fs::metadata(&out).expect("file").len(), 40 * MIB);
    let (code, screen) = on_terminal("-s", "/bytes/41943040").await;
    assert_eq!(code, Some(0), "{screen}");
    assert!(!screen.contains("MiB"), "{screen:?}");
    let (code, screen) = on_terminal("", "/bytes/1000").await;
    assert_eq!(code, Some(0), "{screen}");
    assert!(!screen.contains("B / "), "{screen:?}");
}

/// `--retry N` re-sends a GET answered with 503, as the server counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_resends_after_a_retryable_status() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ca_file(dir.path());
    let server = TestServer::builder().start().await.expect("server starts");
    let url = server.url("/flaky/1");
    let args = |id: &'static str, retry: &'static [&'static str]| {
        let mut a = vec!["get", "--cacert", s(&ca), "-H"];
        a.push(id);
        a.extend_from_slice(&["-w", "%{response_code}"]);
        a.extend_from_slice(retry);
        a
    };
    let mut with_retry = args("x-request-id: a", &["--retry", "2"]);
    with_retry.push(&url);
    let run = plexus(&with_retry).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "Hello, World!200");
    assert_eq!(server.stats().requests, 2);
    let mut without = args("x-request-id: b", &[]);
    without.push(&url);
    let run = plexus(&without).await;
    assert_eq!(run.stdout, "503", "{}", run.stderr);
    assert_eq!(server.stats().requests, 3);
}

/// Runs `plexus load ARGS --json` against `server` and returns the JSON object.
async fn load(server: &TestServer, path: &str, args: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = ca_file(dir.path());
    let url = server.url(path);
    let mut all = vec!["load", "--json", "--cacert", ca.to_str().expect("utf-8")];
    all.extend_from_slice(args);
    all.push(&url);
    let run = plexus(&all).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).expect("one JSON object")
}

/// `plexus load` over h2: -n requests over -c connections with -m streams each; its
/// counts agree with the server's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_counts_what_the_server_counts_over_h2() {
    let server = TestServer::builder().start().await.expect("server");
    let json = load(
        &server,
        "/bytes/100",
        &["-n", "3000", "-c", "3", "-m", "20", "--h2"],
    )
    .await;
    let stats = server.stats();
    assert_eq!(json["requests"], 3000, "{json}");
    assert_eq!(json["ok"], 3000, "{json}");
    assert_eq!(json["errors"], 0, "{json}");
    assert_eq!(json["bytes"], 300_000, "{json}");
    assert_eq!(json["connections"], 3, "{json}");
    assert_eq!(json["protocols"], serde_json::json!(["HTTP/2"]), "{json}");
    for key in ["p50", "p90", "p99", "max"] {
        assert!(json["latency_us"][key].as_u64().expect(key) > 0, "{json}");
    }
    assert_eq!(stats.requests, 3000, "{stats:?}");
    assert_eq!(stats.tcp_connections, 3, "{stats:?}");
    assert!(
        stats
            .connections
            .iter()
            .all(|c| (2..=20).contains(&c.peak_streams)),
        "-m streams at once on each connection, and no more: {stats:?}"
    );
}

/// Over HTTP/1.1, each of the -c connections carries its requests one at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_over_http1_keeps_c_connections() {
    let server = TestServer::builder().start().await.expect("server");
    let json = load(&server, "/", &["-n", "1000", "-c", "4", "-m", "2", "--h1"]).await;
    let stats = server.stats();
    assert_eq!(json["ok"], 1000, "{json}");
    assert_eq!(json["connections"], 4, "{json}");
    assert_eq!(json["protocols"], serde_json::json!(["HTTP/1.1"]), "{json}");
    assert_eq!(stats.requests, 1000, "{stats:?}");
    assert_eq!(stats.tcp_connections, 4, "{stats:?}");
}

/// With `--pooled`, one client's requests at once open what its pool allows over
/// HTTP/1.1, six connections, and keep them: no connection churns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_pooled_over_http1_opens_what_the_pool_allows() {
    let server = TestServer::builder().start().await.expect("server");
    let json = load(
        &server,
        "/",
        &["-n", "2000", "-c", "1", "-m", "30", "--h1", "--pooled"],
    )
    .await;
    let stats = server.stats();
    assert_eq!(json["ok"], 2000, "{json}");
    assert_eq!(json["connections"], 6, "{json}");
    assert_eq!(stats.requests, 2000, "{stats:?}");
    assert_eq!(stats.tcp_connections, 6, "{stats:?}");
}

/// Over HTTP/3, and by duration: the server saw exactly the requests reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_over_h3_for_a_duration() {
    let server = TestServer::builder().h3().start().await.expect("server");
    let json = load(
        &server,
        "/",
        &["-D", "500ms", "-c", "1", "-m", "10", "--h3"],
    )
    .await;
    let stats = server.stats();
    let requests = json["requests"].as_u64().expect("requests");
    assert!(requests > 0, "{json}");
    // The run lasts the whole duration (and no request is cut off at its end).
    let elapsed = json["elapsed_s"].as_f64().expect("elapsed_s");
    assert!(elapsed >= 0.5, "{json}");
    assert_eq!(json["ok"], requests, "{json}");
    assert_eq!(json["connections"], 1, "{json}");
    assert_eq!(json["protocols"], serde_json::json!(["HTTP/3"]), "{json}");
    assert_eq!(stats.requests, requests, "{stats:?}");
    assert_eq!(stats.quic_connections, 1, "{stats:?}");
}

/// Errors are counted by kind, and the exit code says some requests failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_counts_errors_by_kind() {
    let server = TestServer::builder().start().await.expect("server");
    let port = server.port().to_string();
    drop(server);
    let url = format!("https://localhost:{port}/");
    let run = plexus(&["load", "--json", "-k", "-n", "20", "-c", "2", &url]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(json["requests"], 20, "{json}");
    assert_eq!(json["errors"], 20, "{json}");
    assert_eq!(json["errors_by_kind"]["connect"], 20, "{json}");
}

/// Peak RSS of `plexus load` with `m` slow requests in flight at once on one connection;
/// also checks the server really had them all in flight.
async fn peak_rss_in_flight(server: &TestServer, proto: &str, m: usize) -> u64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = ca_file(dir.path());
    let url = server.url("/delay/1500");
    let m_s = m.to_string();
    let run = plexus(&[
        "load",
        "--json",
        proto,
        "-n",
        &m_s,
        "-m",
        &m_s,
        "--cacert",
        s(&ca),
        &url,
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(json["ok"].as_u64(), Some(m as u64), "{json}");
    assert_eq!(json["connections"], 1, "{json}");
    run.peak_rss
}

/// 10,000 requests in flight at once over h2 and over h3 cost plexus (client, scheduler,
/// transport and the load generator's loop) less than 16 KiB each: the peak RSS of a run
/// with 10,000 at once less that of a run with 100, over the 9,900 more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_requests_in_flight_cost_under_16_kib_each() {
    const MANY: usize = 10_000;
    const FEW: usize = 100;
    let server = TestServer::builder()
        .h3()
        .h3_max_streams(MANY as u32)
        .start()
        .await
        .expect("server");
    for proto in ["--h2", "--h3"] {
        let few = peak_rss_in_flight(&server, proto, FEW).await;
        let known = server.stats().connections.len();
        let many = peak_rss_in_flight(&server, proto, MANY).await;
        let stats = server.stats();
        let peak = stats.connections[known..]
            .iter()
            .map(|c| c.peak_streams)
            .max()
            .unwrap_or(0);
        assert!(
            peak >= MANY * 9 / 10,
            "{proto}: the server had {peak} requests in flight at once on the new connection"
        );
        let per_request = many.saturating_sub(few) as f64 / (MANY - FEW) as f64;
        println!(
            "{proto}: peak RSS {} KiB with {FEW} in flight, {} KiB with {MANY}: {:.1} KiB per request",
            few / 1024,
            many / 1024,
            per_request / 1024.0
        );
        assert!(
            per_request < 16.0 * 1024.0,
            "{proto}: {:.1} KiB per request in flight",
            per_request / 1024.0
        );
    }
}

/// `get` follows no redirect unless given `-L` (as curl); `--max-redirs` bounds the
/// chain, and going over it exits with curl's 47.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn location_follows_redirects_within_max_redirs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ca_file(dir.path());
    let server = TestServer::builder().start().await.expect("server starts");
    let url = server.url("/redirect/302?to=/redirect/301?to=/");

    let run = plexus(&["get", "--cacert", s(&ca), "-w", " %{response_code}", &url]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "redirecting 302");

    let run = plexus(&[
        "get",
        "--cacert",
        s(&ca),
        "-L",
        "-w",
        " %{response_code}",
        &url,
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "Hello, World! 200");

    let run = plexus(&["get", "--cacert", s(&ca), "-L", "--max-redirs", "1", &url]).await;
    assert_eq!(run.code, 47, "{}", run.stderr);
    assert!(run.stderr.contains("too many redirects"), "{}", run.stderr);
    assert_eq!(server.stats().requests, 1 + 3 + 2);
}

/// `--json` posts JSON with its content type and `Accept`; `-u` sends Basic credentials —
/// as the server saw them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_and_user_reach_the_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ca_file(dir.path());
    let server = TestServer::builder().start().await.expect("server starts");
    let url = server.url("/inspect");
    let run = plexus(&["get", "--cacert", s(&ca), "--json", r#"{"a":1}"#, &url]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("POST /inspect\n"), "{}", run.stdout);
    assert!(
        run.stdout.contains("content-type: application/json\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("accept: application/json\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("body: 7 bytes"), "{}", run.stdout);

    let run = plexus(&["get", "--cacert", s(&ca), "-u", "user:pw", &url]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("GET /inspect\n"), "{}", run.stdout);
    assert!(
        run.stdout.contains("authorization: Basic dXNlcjpwdw==\n"),
        "{}",
        run.stdout
    );
}

/// `-H` as curl reads it: `Name:` takes a header away, the client's defaults included;
/// `Name;` sends it empty. The server's view of the request tells.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_arguments_remove_and_empty_as_curl() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ca_file(dir.path());
    let server = TestServer::builder().start().await.expect("server starts");
    let url = server.url("/inspect");
    let run = plexus(&["get", "--cacert", s(&ca), &url]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("user-agent: plexus/"), "{}", run.stdout);
    assert!(run.stdout.contains("accept: */*\n"), "{}", run.stdout);
    let run = plexus(&[
        "get",
        "--cacert",
        s(&ca),
        "-H",
        "User-Agent:",
        "-H",
        "accept :  ",
        "-H",
        "X-Empty;",
        "-H",
        "X-Kept: 1",
        &url,
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stdout.contains("user-agent"), "{}", run.stdout);
    assert!(!run.stdout.contains("accept:"), "{}", run.stdout);
    assert!(run.stdout.contains("x-empty: \n"), "{}", run.stdout);
    assert!(run.stdout.contains("x-kept: 1\n"), "{}", run.stdout);
    // The load generator reads them the same way.
    let run = plexus(&[
        "load",
        "-n",
        "3",
        "--json",
        "--cacert",
        s(&ca),
        "-H",
        "User-Agent:",
        &url,
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = plexus(&[
        "load",
        "-n",
        "1",
        "--cacert",
        s(&ca),
        "-H",
        "Bad Name:",
        &url,
    ])
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("invalid header name"), "{}", run.stderr);
}

/// `-w`'s timing breakdown and plexus's own variables: a new connection's steps in order,
/// then a reused one's set-up steps at zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_out_breaks_the_time_down() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ca_file(dir.path());
    let server = TestServer::builder().start().await.expect("server starts");
    let run = plexus(&[
        "get",
        "--cacert",
        s(&ca),
        "-o",
        "/dev/null",
        "--repeat",
        "2",
        "-w",
        "%{protocol} %{reused} %{zero_rtt} %{num_retries} %{remote_ip} %{time_namelookup} %{time_connect} %{time_appconnect} %{time_pretransfer} %{time_starttransfer} %{time_total}\\n",
        &server.url("/"),
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<Vec<&str>> = run.stdout.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert_eq!(lines[0][..5], ["h2", "0", "0", "0", "127.0.0.1"]);
    assert_eq!(lines[1][..5], ["h2", "1", "0", "0", "127.0.0.1"]);
    let times = |line: &[&str]| -> Vec<f64> {
        line[5..]
            .iter()
            .map(|t| t.parse().expect("a number"))
            .collect()
    };
    let first = times(&lines[0]);
    assert!(
        first.windows(2).all(|w| w[0] <= w[1]),
        "in order: {first:?}"
    );
    assert!(first[2] > 0.0, "a TLS handshake took some time: {first:?}");
    let second = times(&lines[1]);
    assert_eq!(second[..3], [0.0, 0.0, 0.0], "reused: {second:?}");
    assert!(
        second[3] <= second[4] && second[4] <= second[5],
        "{second:?}"
    );
}

/// `--compressed` asks for and decodes an encoded body; without it the bytes are as sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_decodes_what_the_server_encoded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ca_file(dir.path());
    let server = TestServer::builder().start().await.expect("server starts");
    let url = server.url("/encoded/br/100000");
    let size = |extra: &'static [&'static str]| {
        let ca = ca.clone();
        let url = url.clone();
        async move {
            let mut args = vec!["get", "--cacert", s(&ca), "-o", "/dev/null"];
            args.extend_from_slice(extra);
            args.extend_from_slice(&["-w", "%{size_download}", &url]);
            let run = plexus(&args).await;
            assert_eq!(run.code, 0, "{}", run.stderr);
            run.stdout.parse::<u64>().expect("a size")
        }
    };
    assert_eq!(size(&["--compressed"]).await, 100_000);
    let raw = size(&[]).await;
    assert!(raw < 10_000, "brotli bytes as sent: {raw}");
}
