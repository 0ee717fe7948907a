//! Running `mqtk bench` from a test: the command against a broker, bounded in time, its
//! exit status, stdout (the `--json -` report) and stderr; and the checks of a complete
//! `PAIRS_QOS1_JSON` run. Must not wait without a bound.

use std::process::ExitStatus;
use std::time::Duration;

use serde_json::Value;

use crate::mosquitto::Mosquitto;
use crate::process::spawn_lines;

/// 5 one-to-one pairs at QoS 1, 50 messages each (250 deliveries), report on stdout.
pub const PAIRS_QOS1_JSON: [&str; 14] = [
    "--publishers",
    "5",
    "--subscribers",
    "5",
    "--topic",
    "b/%i",
    "--sub-topic",
    "b/%i",
    "-q",
    "1",
    "--messages",
    "50",
    "--json",
    "-",
];

/// Generous bound for one small run in a debug build on a busy 2-core machine.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(90);

pub struct Outcome {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// Fails the test, showing the status and stderr, unless the run exited 0.
    pub fn assert_success(&self) {
        assert!(
            self.status.success(),
            "status {:?}\nstderr:\n{}",
            self.status,
            self.stderr
        );
    }

    /// The `--json -` report on stdout.
    pub fn report(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not a JSON report ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

pub fn bench(broker: &Mosquitto, args: &[&str]) -> Outcome {
    bench_at(&broker.host_args(), args)
}

/// `mqtk bench HOST_ARGS ARGS…`, run to its exit (bounded by [`RUN_TIMEOUT`]).
pub fn bench_at(host_args: &[String], args: &[&str]) -> Outcome {
    let mut cmd = crate::binary::mqtk();
    cmd.arg("bench").args(host_args).args(args);
    let mut running = spawn_lines(&mut cmd);
    let status = running.expect_exit(RUN_TIMEOUT);
    let stdout = running.rest_of_lines(Duration::from_secs(5)).join("\n");
    Outcome {
        status,
        stdout,
        stderr: running.stderr(),
    }
}

pub fn u64_at(report: &Value, pointer: &str) -> u64 {
    report
        .pointer(pointer)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no {pointer} in {report:#}"))
}

/// The report of a `PAIRS_QOS1_JSON` run that went as it should: 10 clients connected,
/// every one of the 250 messages sent, acknowledged and received once, no error.
pub fn assert_pairs_qos1_complete(r: &Value) {
    assert_eq!(u64_at(r, "/clients/connected"), 10, "{r:#}");
    assert_eq!(u64_at(r, "/clients/failed"), 0, "{r:#}");
    for field in ["/sent", "/acked", "/expected", "/received"] {
        assert_eq!(u64_at(r, field), 250, "{field} in {r:#}");
    }
    assert_eq!(u64_at(r, "/lost"), 0, "{r:#}");
    assert_eq!(u64_at(r, "/duplicates"), 0, "{r:#}");
    assert_eq!(r["errors"], serde_json::json!({}), "{r:#}");
}

/// Runs `count` shards of `run` at once (`--shard I/N --run-id ID`, a 60 s barrier
/// timeout, and `extra`), each writing its report to DIR/shardI.json; returns the file
/// paths and each shard's stdout. Fails the test when a shard fails.
pub fn run_shards(
    host: &[String],
    run: &[&str],
    extra: &[&str],
    count: u32,
    run_id: &str,
    dir: &std::path::Path,
) -> (Vec<String>, Vec<String>) {
    let children: Vec<_> = (0..count)
        .map(|i| {
            let json = dir.join(format!("shard{i}.json"));
            let json = json.to_str().unwrap().to_string();
            let mut cmd = crate::mqtk();
            cmd.arg("bench")
                .args(host)
                .args(run)
                .args(["--shard", &format!("{i}/{count}"), "--run-id", run_id])
                .args(extra)
                .args(["--barrier-timeout", "60s", "--json", &json])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            (json, cmd.spawn().expect("mqtk bench starts"))
        })
        .collect();
    let (mut files, mut stdouts) = (Vec::new(), Vec::new());
    for (json, child) in children {
        let out = crate::child_output(child, RUN_TIMEOUT);
        assert!(out.status.success(), "{json}: {}", crate::text(&out.stderr));
        files.push(json);
        stdouts.push(crate::text(&out.stdout));
    }
    (files, stdouts)
}

/// A merged report has the message counts of the single run of the same parameters.
pub fn assert_same_counts(merged: &Value, single: &Value) {
    for field in [
        "/sent",
        "/acked",
        "/expected",
        "/received",
        "/lost",
        "/duplicates",
    ] {
        assert_eq!(u64_at(merged, field), u64_at(single, field), "{field}");
    }
}
