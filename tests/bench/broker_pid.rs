//! `mqtk bench --broker-pid`: the broker's resident memory, open descriptors and CPU in
//! the report and in each `--series` line, watching mosquitto and `mqtk serve`; and the
//! refusal of a process that does not exist.

use serde_json::Value;
use support::bench::{bench, bench_at, u64_at};
use support::{Mosquitto, Serve};

/// 20 pairs at QoS 1, 50 msgs/s each, for 3 s: 40 connections the broker must hold.
const PAIRS: [&str; 12] = [
    "--scenario",
    "pairs",
    "--publishers",
    "20",
    "--subscribers",
    "20",
    "-q",
    "1",
    "--rate",
    "50",
    "--duration",
    "3s",
];

/// Runs PAIRS with `--broker-pid PID`, a series file and the report on stdout.
fn watched_run(host_args: &[String], pid: u32) -> (Value, Vec<Value>) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("series.jsonl");
    let pid = pid.to_string();
    let args: Vec<&str> = PAIRS
        .into_iter()
        .chain(["--broker-pid", &pid, "--series", file.to_str().unwrap()])
        .chain(["--json", "-"])
        .collect();
    let out = bench_at(host_args, &args);
    out.assert_success();
    assert!(out.stderr.contains("broker pid"), "{}", out.stderr);
    let series = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (out.report(), series)
}

/// The report's figures are of that process and saw the 40 connections come and go.
fn assert_watched(report: &Value, series: &[Value], pid: u32) {
    let b = &report["broker_process"];
    assert_eq!(u64_at(b, "/pid"), u64::from(pid), "{report:#}");
    assert!(u64_at(b, "/rss_start_bytes") > 100_000, "{b:#}");
    assert!(
        u64_at(b, "/rss_max_bytes") >= u64_at(b, "/rss_end_bytes"),
        "{b:#}"
    );
    let start = u64_at(b, "/open_fds_start");
    assert!(
        u64_at(b, "/open_fds_max") >= start + 40,
        "40 client sockets on the broker: {b:#}"
    );
    assert!(b["cpu_secs"].as_f64().unwrap() > 0.0, "{b:#}");
    assert_eq!(b["exited"], false, "{b:#}");
    let busy = series
        .iter()
        .find(|p| {
            p["broker_open_fds"]
                .as_u64()
                .is_some_and(|n| n >= start + 40)
        })
        .unwrap_or_else(|| panic!("a second with the 40 connections open: {series:#?}"));
    assert!(u64_at(busy, "/broker_rss_bytes") > 100_000, "{busy}");
    assert!(busy["broker_cpu_percent"].as_f64().is_some(), "{busy}");
}

#[test]
fn broker_pid_follows_mosquittos_memory_files_and_cpu() {
    let broker = Mosquitto::start();
    let (report, series) = watched_run(&broker.host_args(), broker.pid());
    assert_watched(&report, &series, broker.pid());
}

#[test]
fn broker_pid_follows_mqtk_serve_too() {
    let mut serve = Serve::start(&[]);
    let pid = serve.running().id();
    let (report, series) = watched_run(&serve.host_args(), pid);
    assert_watched(&report, &series, pid);
    serve.stop();
}

#[test]
fn a_broker_pid_that_is_not_running_is_refused_naming_the_flag() {
    let broker = Mosquitto::start();
    let out = bench(&broker, &["--broker-pid", "4294967295", "--messages", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("--broker-pid 4294967295: no such process (bench reads /proc/4294967295)"),
        "{}",
        out.stderr
    );
}
