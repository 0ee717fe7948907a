//! `mqtk bench --shard I/N` and `mqtk bench merge`: four shard processes against
//! mosquitto and against `mqtk serve`, started together by the retained ready flags,
//! merge to the counts of one process running the whole run, with every merged
//! percentile within one histogram bucket of the percentiles of all samples (the
//! shards' histograms, recorded values with their counts, as raw samples); the flags
//! are cleared after the run; a missing or duplicated shard makes the merge invalid;
//! a run whose subscribers would hear other shards' publishers is refused.

use std::process::Command;
use std::time::Duration;

use mqtk::bench::stats;
use serde_json::Value;
use support::bench::{assert_same_counts, bench_at, run_shards, u64_at};
use support::{child_output, mqtk, output, text, Mosquitto, Serve};

const SHARDS: u32 = 4;

/// 8 one-to-one pairs at QoS 1, 100 messages each: 800 deliveries in all.
const RUN: [&str; 10] = [
    "--scenario",
    "pairs",
    "--publishers",
    "8",
    "--subscribers",
    "8",
    "-q",
    "1",
    "--messages",
    "100",
];

fn merge(args: &[&str]) -> std::process::Output {
    output(mqtk().args(["bench", "merge"]).args(args))
}

/// Every percentile of `merged` is in the bucket of the same percentile of all samples.
fn assert_within_one_bucket(merged: &Value, shard_files: &[String]) {
    let mut raw: Vec<u64> = Vec::new();
    for file in shard_files {
        let r: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let h = stats::decode(r["shard"]["latency_hdr"].as_str().unwrap()).unwrap();
        for v in h.iter_recorded() {
            raw.extend(std::iter::repeat_n(
                v.value_iterated_to(),
                v.count_at_value() as usize,
            ));
        }
    }
    raw.sort_unstable();
    assert_eq!(raw.len() as u64, u64_at(merged, "/latency_us/count"));
    let h = stats::new_histogram();
    for (q, field) in [(0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p999")] {
        let want = raw[((q * raw.len() as f64).ceil() as usize).max(1) - 1];
        let got = u64_at(merged, &format!("/latency_us/{field}"));
        assert!(
            h.equivalent(got, want),
            "{field}: merged {got}, all samples {want}"
        );
    }
}

fn check_sharded_equals_single(host: &[String], run_id: &str) {
    let single = bench_at(
        host,
        &RUN.into_iter().chain(["--json", "-"]).collect::<Vec<_>>(),
    );
    single.assert_success();
    let single = single.report();
    let dir = tempfile::tempdir().unwrap();
    let (files, stdouts) = run_shards(host, &RUN, &[], SHARDS, run_id, dir.path());
    let refs: Vec<&str> = files.iter().map(String::as_str).collect();
    let out = merge(
        &refs
            .iter()
            .copied()
            .chain(["--json", "-"])
            .collect::<Vec<_>>(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let merged: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_same_counts(&merged, &single);
    assert_eq!(u64_at(&merged, "/received"), 800);
    assert_eq!(u64_at(&merged, "/clients/connected"), 16);
    assert_eq!(u64_at(&merged, "/parameters/publishers"), 8);
    assert_eq!(merged["parameters"]["scenario"], "pairs");
    assert_eq!(merged["shard"]["count"], SHARDS);
    assert_eq!(merged["shard"]["run_id"], run_id);
    assert_within_one_bucket(&merged, &files);
    check_merged_series(&refs, &merged, dir.path());
    // Each shard's last stdout line is the report again, as `kubectl logs` carries it.
    let logs = stdouts.join("\n");
    let mut cmd = mqtk();
    cmd.args(["bench", "merge", "-", "--json", "-"]);
    let from_logs = pipe(cmd, &logs);
    assert!(from_logs.status.success(), "{}", text(&from_logs.stderr));
    let again: Value = serde_json::from_slice(&from_logs.stdout).unwrap();
    assert_eq!(again["latency_us"], merged["latency_us"]);
    // A missing shard, or one given twice, is an invalid run: status 1.
    let missing = merge(&refs[1..]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing.stderr).contains(&format!(
            "invalid run: shard(s) 0 of 4 of run {run_id} missing"
        )),
        "{}",
        text(&missing.stderr)
    );
    let twice = merge(&[refs[0], refs[0], refs[1], refs[2], refs[3]]);
    assert_eq!(twice.status.code(), Some(1));
    assert!(
        text(&twice.stderr).contains("given more than once"),
        "{}",
        text(&twice.stderr)
    );
}

/// The merged series ends at the merged counts, and the shards' seconds hold every
/// latency sample of the run once.
fn check_merged_series(files: &[&str], merged: &Value, dir: &std::path::Path) {
    let path = dir.join("merged.jsonl");
    let args: Vec<&str> = files
        .iter()
        .copied()
        .chain(["--series", path.to_str().unwrap()])
        .collect();
    let out = merge(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let points: Vec<Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let last = points.last().expect("a merged series");
    assert_eq!(last["sent"], merged["sent"], "{points:#?}");
    assert_eq!(last["received"], merged["received"], "{points:#?}");
    assert_eq!(last["connected"], 16, "{points:#?}");
    assert!(points.iter().any(|p| p["p99_us"].is_u64()), "{points:#?}");
    let mut samples = 0;
    for file in files {
        let r: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        for second in r["shard"]["series"].as_array().expect("a shard's series") {
            let h = stats::decode(second["latency_hdr"].as_str().unwrap()).unwrap();
            samples += h.len();
        }
    }
    assert_eq!(samples, u64_at(merged, "/latency_us/count"));
}

fn pipe(mut cmd: Command, input: &str) -> std::process::Output {
    use std::io::Write as _;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child_output(child, Duration::from_secs(30))
}

#[test]
fn four_shards_merge_to_one_run_on_mosquitto_and_clear_their_flags() {
    let broker = Mosquitto::start();
    check_sharded_equals_single(&broker.host_args(), "mosq-1");
    // The ready flags are gone: a retained-only subscription gets nothing.
    let mut sub = support::mosquitto_sub(broker.port());
    sub.args(["-t", "mqtk-run/#", "--retained-only", "-W", "2", "-v"]);
    let out = output(&mut sub);
    assert_eq!(text(&out.stdout), "", "retained flags left behind");
}

#[test]
fn four_shards_merge_to_one_run_on_mqtk_serve() {
    let mut serve = Serve::start(&[]);
    check_sharded_equals_single(&serve.host_args(), "serve-1");
    serve.stop();
}

#[test]
fn a_run_that_crosses_shards_is_refused_and_a_lone_shard_times_out() {
    let broker = Mosquitto::start();
    let out = bench_at(
        &broker.host_args(),
        &["--scenario", "fan-out", "--shard", "0/2", "--run-id", "x"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr.contains("this run crosses shards"),
        "{}",
        out.stderr
    );
    let out = bench_at(
        &broker.host_args(),
        &RUN.into_iter()
            .chain([
                "--shard",
                "1/2",
                "--run-id",
                "lone",
                "--barrier-timeout",
                "1s",
            ])
            .collect::<Vec<_>>(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr
            .contains("start barrier: shard(s) 0 of run lone not ready after 1 s"),
        "{}",
        out.stderr
    );
}

#[test]
fn with_json_on_stdout_a_shard_prints_its_report_as_json_only() {
    let broker = Mosquitto::start();
    let out = bench_at(
        &broker.host_args(),
        &[
            "--messages",
            "20",
            "--shard",
            "0/1",
            "--run-id",
            "one",
            "--json",
            "-",
        ],
    );
    out.assert_success();
    let r = out.report(); // the whole of stdout is one JSON report: no shard line
    assert_eq!(r["shard"]["index"], 0);
    assert_eq!(r["shard"]["histogram"]["significant_digits"], 3);
    assert!(r["shard"]["latency_hdr"]
        .as_str()
        .is_some_and(|h| !h.is_empty()));
    assert!(!out.stdout.contains("mqtk-bench-shard "));
}
