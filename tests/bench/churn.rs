//! `mqtk bench --scenario churn` and `--hold`: reconnects at the asked rate with their
//! connect times, reported failures while the broker is down, steady pub/sub beside the
//! churn, and connection-only clients held for a set time; against mosquitto and
//! `mqtk serve`. Counts only, never timings.

use std::time::Duration;

use serde_json::Value;
use support::bench::{bench, bench_at, u64_at, RUN_TIMEOUT};
use support::{mqtk, spawn_lines, Mosquitto, Serve};

/// 20 clients, 40 reconnects a second in all, for 3 s: client i churns at i/40 s and
/// every 0.5 s after, six times each: 120 reconnects.
const CHURN: [&str; 10] = [
    "--scenario",
    "churn",
    "--clients",
    "20",
    "--churn-rate",
    "40",
    "--duration",
    "3s",
    "--json",
    "-",
];

fn assert_clean_churn(r: &Value) {
    assert_eq!(r["parameters"]["scenario"], "churn", "{r:#}");
    assert_eq!(u64_at(r, "/clients/connected"), 20, "{r:#}");
    assert_eq!(u64_at(r, "/churn/reconnects"), 120, "{r:#}");
    assert_eq!(u64_at(r, "/churn/reconnects_failed"), 0, "{r:#}");
    assert_eq!(
        u64_at(r, "/connect_time_us/count"),
        140,
        "every connect's time, the first ones and the reconnects: {r:#}"
    );
}

#[test]
fn churn_reconnects_at_the_rate_with_connect_times_on_mosquitto() {
    let broker = Mosquitto::start();
    let out = bench(&broker, &CHURN);
    out.assert_success();
    let r = out.report();
    assert_clean_churn(&r);
    assert_eq!(r["errors"], serde_json::json!({}), "{r:#}");
}

#[test]
fn churn_beside_steady_pairs_loses_nothing_on_mqtk_serve() {
    let mut serve = Serve::start(&[]);
    let args: Vec<&str> = CHURN
        .into_iter()
        .chain(["--publishers", "2", "--subscribers", "2", "--sub-topic"])
        .chain(["mqtk/bench/%i", "-q", "1", "--rate", "50"])
        .collect();
    let out = bench_at(&serve.host_args(), &args);
    out.assert_success();
    let r = out.report();
    assert_eq!(u64_at(&r, "/churn/reconnects"), 120, "{r:#}");
    assert_eq!(u64_at(&r, "/clients/connected"), 24, "{r:#}");
    assert!(u64_at(&r, "/received") > 0, "{r:#}");
    assert_eq!(u64_at(&r, "/sent"), u64_at(&r, "/received"), "{r:#}");
    assert_eq!(u64_at(&r, "/lost"), 0, "{r:#}");
    serve.stop();
}

#[test]
fn reconnects_that_fail_while_the_broker_is_down_are_counted_with_their_kind() {
    let mut broker = Mosquitto::start();
    let mut cmd = mqtk();
    cmd.arg("bench")
        .args(broker.host_args())
        .args([
            "--scenario",
            "churn",
            "--clients",
            "20",
            "--churn-rate",
            "40",
        ])
        .args(["--duration", "5s", "--series", "-"]);
    let mut running = spawn_lines(&mut cmd);
    // A series line a second: down for about the second second, up again after.
    running
        .next_line(Duration::from_secs(20))
        .expect("a first series line");
    broker.stop();
    running
        .next_line(Duration::from_secs(20))
        .expect("a second series line");
    broker.start_again();
    running.rest_of_lines(RUN_TIMEOUT);
    let status = running.expect_exit(RUN_TIMEOUT);
    assert!(status.success(), "{}", running.stderr());
    let connected: Vec<u64> = running
        .seen()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|p| p["connected"].as_u64())
        .collect();
    let low = connected.iter().position(|&n| n < 20);
    assert!(
        low.is_some_and(|i| connected[i..].iter().any(|&n| n > connected[i])),
        "the series' connected clients fall while the broker is down and rise again: {connected:?}"
    );
    let table = running.stderr();
    let churn = table
        .lines()
        .find(|l| l.starts_with("churn "))
        .unwrap_or_else(|| panic!("a churn line in:\n{table}"));
    let numbers: Vec<u64> = churn
        .split_whitespace()
        .filter_map(|w| w.replace(',', "").parse().ok())
        .collect();
    let (reconnects, failed) = (numbers[0], numbers[1]);
    assert!(failed > 0, "reconnects fail while it is down: {table}");
    assert!(reconnects > 0, "and work again once it is up: {table}");
    assert!(table.contains("connect_refused"), "{table}");
    assert!(
        table.contains("dropped"),
        "the connections it closed: {table}"
    );
}

#[test]
fn hold_keeps_connection_only_clients_connected_for_the_time_given() {
    let broker = Mosquitto::start();
    let pid = broker.pid().to_string();
    let dir = tempfile::tempdir().unwrap();
    let series = dir.path().join("series.jsonl");
    let out = bench(
        &broker,
        &["--scenario", "connect", "--clients", "30", "--hold", "3s"]
            .into_iter()
            .chain(["--broker-pid", &pid, "--series", series.to_str().unwrap()])
            .chain(["--json", "-"])
            .collect::<Vec<_>>(),
    );
    out.assert_success();
    let r = out.report();
    assert_eq!(r["parameters"]["hold_secs"], 3.0, "{r:#}");
    assert!(r["elapsed_secs"].as_f64().unwrap() >= 3.0, "{r:#}");
    let start = u64_at(&r, "/broker_process/open_fds_start");
    let held: Vec<Value> = std::fs::read_to_string(&series)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|p: &Value| p["broker_open_fds"].as_u64() >= Some(start + 30))
        .collect();
    assert!(
        held.len() >= 2,
        "the broker held the 30 connections for seconds: {held:#?}"
    );
}

#[test]
fn hold_and_churn_mistakes_are_refused_naming_the_flag() {
    let broker = Mosquitto::start();
    for (args, message) in [
        (
            &["--hold", "2s"][..],
            "--hold is for connection-only runs (--scenario connect)",
        ),
        (
            &["--scenario", "churn", "--messages", "5"][..],
            "--churn-rate: churn runs for --duration: give one",
        ),
        (
            &["--scenario", "churn", "--churn-rate", "0"][..],
            "--churn-rate 0: give a positive number of reconnects per second",
        ),
    ] {
        let out = bench(&broker, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(message), "{args:?}: {}", out.stderr);
    }
}
