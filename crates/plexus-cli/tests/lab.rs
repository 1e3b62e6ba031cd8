//! `plexus lab`, short: two network namespaces joined by the delaying TUN relay (root
//! only). Every scenario must take the number of round trips its handshakes need —
//! counted in round trips of a 50 ms path, so a few milliseconds of noise on a busy
//! machine cannot change the count, while one round trip too many or too few does — and
//! open the connections the servers count.

use std::process::Command;

#[test]
fn the_lab_counts_round_trips_and_connections_across_a_real_delayed_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("lab.json");
    let chart = dir.path().join("lab.svg");
    let (n, m) = (3, 12);
    let out = Command::new(env!("CARGO_BIN_EXE_plexus"))
        .args(["lab", "--one-way-ms", "25", "--requests", &n.to_string()])
        .args(["--concurrent", &m.to_string()])
        .arg("--json")
        .arg(&json)
        .arg("--chart")
        .arg(&chart)
        .output()
        .expect("plexus runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "plexus lab (needs root, iproute2 and /dev/net/tun) failed:\n{stdout}\n{stderr}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("the JSON report")).expect("JSON");
    let rtt = report["rtt_ms"].as_f64().expect("rtt_ms");
    assert_eq!(rtt, 50.0);
    let path_rtt = report["path_rtt_ms"].as_f64().expect("path_rtt_ms");
    assert!(
        (rtt..rtt + 5.0).contains(&path_rtt),
        "a bare TCP handshake takes one round trip of the link: {path_rtt} ms\n{stdout}"
    );
    let link = &report["link"];
    assert!(link["up_packets"].as_u64() > Some(100), "{link}");
    assert!(link["down_packets"].as_u64() > Some(100), "{link}");
    assert_eq!(link["dropped"].as_u64(), Some(0), "{link}");

    let rows = report["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 11, "{stdout}");
    for row in rows {
        let name = row["scenario"].as_str().expect("scenario");
        let rtts = row["rtts"].as_f64().expect("rtts");
        let expected = row["expected_rtts"].as_f64().expect("expected_rtts");
        assert!(
            (rtts - expected).abs() < 0.5,
            "{name}: {rtts:.2} round trips, expected {expected}\n{stdout}"
        );
        let sequential = row["mode"] == "sequential";
        let requests = if sequential { n } else { m };
        assert_eq!(row["requests"].as_u64(), Some(requests), "{name}");
        // What the servers counted: a connection and a handshake per request when every
        // request opens one, one for a kept-alive or multiplexed connection, the pool's
        // six for HTTP/1.1 at once.
        let connections = if name.starts_with("new connection") {
            n
        } else if name.contains("pool of 6") {
            6
        } else {
            1
        };
        assert_eq!(
            row["connections"].as_u64(),
            Some(connections),
            "{name}\n{stdout}"
        );
        assert_eq!(
            row["handshakes"].as_u64(),
            Some(connections),
            "{name}\n{stdout}"
        );
    }
    // Whether h2 is slower than HTTP/1.1 is a comparison of milliseconds: `--check`
    // judges it on a quiet machine; here it is only reported.
    assert!(report["h2_not_slower_than_h1"].is_boolean(), "{stdout}");

    let svg = std::fs::read_to_string(&chart).expect("the chart");
    assert!(svg.starts_with("<svg"), "an SVG chart");
    for row in rows {
        let name = row["scenario"].as_str().expect("scenario");
        assert!(svg.contains(name), "the chart names {name}");
    }
}
