//! `mqtk bench --series`: JSON lines while the run goes (the first one arrives before
//! the run ends: flushed), one per second, whose last line's totals are the report's,
//! against mosquitto and `mqtk serve`; and the refusal of two writers of stdout.

use std::time::Duration;

use serde_json::Value;
use support::bench::{bench, bench_at, u64_at, RUN_TIMEOUT};
use support::{mqtk, spawn_lines, Mosquitto, Serve};

/// A 4-second run at 100 msgs/s per publisher, 2 pairs at QoS 1.
const PACED: [&str; 12] = [
    "--scenario",
    "pairs",
    "--publishers",
    "2",
    "--subscribers",
    "2",
    "-q",
    "1",
    "--rate",
    "100",
    "--duration",
    "4s",
];

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

#[test]
fn lines_come_while_the_run_goes_and_end_with_the_report_totals_on_mosquitto() {
    let broker = Mosquitto::start();
    let mut cmd = mqtk();
    cmd.arg("bench")
        .args(broker.host_args())
        .args(PACED)
        .args(["--series", "-"]);
    let mut running = spawn_lines(&mut cmd);
    let first = running
        .next_line(Duration::from_secs(20))
        .expect("a series line within the run");
    assert_eq!(
        running.wait_exit(Duration::ZERO),
        None,
        "the first line came before the run ended: {first}"
    );
    let point: Value = serde_json::from_str(&first).unwrap();
    for field in [
        "elapsed_secs",
        "window_secs",
        "sent_per_sec",
        "received_per_sec",
        "p50_us",
        "p99_us",
        "lost",
        "connected",
        "sent",
        "received",
    ] {
        assert!(point.get(field).is_some(), "no {field} in {first}");
    }
    let status = running.expect_exit(RUN_TIMEOUT);
    assert!(status.success(), "{}", running.stderr());
    let rest = running.rest_of_lines(Duration::from_secs(5)).join("\n");
    let all: Vec<Value> = std::iter::once(point).chain(lines(&rest)).collect();
    assert!(all.len() >= 4, "a line per second of a 4 s run: {all:#?}");
    // The table went to stderr, stdout held JSON lines only (parsed above).
    assert!(
        running.stderr().contains("throughput"),
        "{}",
        running.stderr()
    );
    let elapsed: Vec<f64> = all
        .iter()
        .map(|p| p["elapsed_secs"].as_f64().unwrap())
        .collect();
    assert!(elapsed.windows(2).all(|w| w[0] < w[1]), "{elapsed:?}");
    let last = all.last().unwrap();
    assert_eq!(u64_at(last, "/sent"), u64_at(last, "/received"), "{last}");
    assert_eq!(u64_at(last, "/lost"), 0);
    assert_eq!(u64_at(last, "/connected"), 4);
    let busy = &all[all.len() / 2];
    let rate = busy["sent_per_sec"].as_f64().unwrap();
    assert!((100.0..=300.0).contains(&rate), "2 × 100 msgs/s: {busy}");
}

#[test]
fn a_series_file_matches_the_json_report_on_mqtk_serve() {
    let mut serve = Serve::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("series.jsonl");
    let file_arg = file.to_str().unwrap();
    let args: Vec<&str> = PACED
        .into_iter()
        .chain(["--series", file_arg, "--json", "-"])
        .collect();
    let out = bench_at(&serve.host_args(), &args);
    out.assert_success();
    let report = out.report();
    let all = lines(&std::fs::read_to_string(&file).unwrap());
    let last = all.last().expect("series lines");
    assert_eq!(u64_at(last, "/sent"), u64_at(&report, "/sent"));
    assert_eq!(u64_at(last, "/received"), u64_at(&report, "/received"));
    serve.stop();
}

#[test]
fn series_and_json_cannot_both_take_stdout() {
    let broker = Mosquitto::start();
    let out = bench(&broker, &["--series", "-", "--json", "-"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr
            .contains("--series - and --json - both want stdout; write one of them to a file"),
        "{}",
        out.stderr
    );
}
