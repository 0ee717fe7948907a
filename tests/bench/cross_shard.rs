//! `mqtk bench --shard I/N --cross-shard`: three shard processes of a run whose every
//! subscriber hears every publisher (3 publishers, 6 subscribers, one on each shard's
//! share), against mosquitto and against `mqtk serve`, merge to the counts a single
//! process expects, with no loss, the deliveries told apart by publisher shard, and
//! the note that the shards' clocks are not shared; a lone shard says its loss is not
//! known yet; cross-shard and other shard reports do not merge; without the flag the
//! run is refused, naming it.

use serde_json::Value;
use support::bench::{assert_same_counts, bench_at, run_shards, u64_at};
use support::{mqtk, output, text, Mosquitto, Serve};

const SHARDS: u32 = 3;
const NOTE: &str =
    "clocks not shared (--cross-shard): latency includes the clock offset between shards";

/// 3 publishers, 6 subscribers on `…/+` at QoS 1, 40 messages each at 100/s:
/// 3 × 40 × 6 = 720 deliveries.
const RUN: [&str; 12] = [
    "--scenario",
    "fan-out",
    "--publishers",
    "3",
    "--subscribers",
    "6",
    "-q",
    "1",
    "--messages",
    "40",
    "--rate",
    "100",
];

fn read(file: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

/// A lone shard received from every shard's publishers and does not claim a loss.
fn check_lone_shard(file: &str, table: &str) {
    let r = read(file);
    let cross = &r["shard"]["cross_shard"];
    assert_eq!(cross["lost_final"], false, "{cross}");
    assert_eq!(cross["clock_note"], NOTE);
    // Its 2 subscribers heard 40 messages from each shard's one publisher.
    assert_eq!(
        cross["received_by_publisher_shard"],
        serde_json::json!([80, 80, 80])
    );
    assert_eq!(cross["expected_of_sent"], 240, "40 sent, heard by 6");
    assert_eq!((u64_at(&r, "/received"), u64_at(&r, "/lost")), (240, 0));
    assert!(table.contains("lost: known after merge"), "{table}");
    assert!(table.contains(NOTE), "{table}");
}

fn check_cross_shards_equal_single(host: &[String], run_id: &str) {
    let single = bench_at(
        host,
        &RUN.into_iter().chain(["--json", "-"]).collect::<Vec<_>>(),
    );
    single.assert_success();
    let single = single.report();
    assert_eq!(u64_at(&single, "/expected"), 720);
    let dir = tempfile::tempdir().unwrap();
    let (files, stdouts) = run_shards(host, &RUN, &["--cross-shard"], SHARDS, run_id, dir.path());
    for (file, table) in files.iter().zip(&stdouts) {
        check_lone_shard(file, table);
    }
    let refs: Vec<&str> = files.iter().map(String::as_str).collect();
    let json = output(
        mqtk()
            .args(["bench", "merge"])
            .args(&refs)
            .args(["--json", "-"]),
    );
    assert!(json.status.success(), "{}", text(&json.stderr));
    let merged: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_same_counts(&merged, &single);
    assert_eq!(u64_at(&merged, "/lost"), 0);
    assert_eq!(u64_at(&merged, "/clients/connected"), 9);
    assert_eq!(
        merged["parameters"]["scenario"],
        single["parameters"]["scenario"]
    );
    let cross = &merged["shard"]["cross_shard"];
    assert_eq!(cross["clock_note"], NOTE);
    assert_eq!(cross["lost_final"], true);
    assert_eq!(
        cross["received_by_publisher_shard"],
        serde_json::json!([240, 240, 240])
    );
    assert_eq!(
        cross["lost_by_publisher_shard"],
        serde_json::json!([0, 0, 0])
    );
    assert_eq!(u64_at(&merged, "/latency_us/count"), 720);
    let table = output(mqtk().args(["bench", "merge"]).args(&refs));
    assert!(table.status.success(), "{}", text(&table.stderr));
    let table = text(&table.stdout);
    assert!(table.contains(NOTE), "{table}");
    assert!(table.contains("received 720 of 720  lost 0"), "{table}");
    check_mixed_merge_is_refused(&files, dir.path());
}

/// Shard 1's report without its cross-shard part (as a shard run without the flag
/// writes it) does not merge with the others.
fn check_mixed_merge_is_refused(files: &[String], dir: &std::path::Path) {
    let mut plain = read(&files[1]);
    plain["shard"]
        .as_object_mut()
        .unwrap()
        .remove("cross_shard");
    plain["parameters"]
        .as_object_mut()
        .unwrap()
        .remove("cross_shard");
    let path = dir.join("plain1.json");
    std::fs::write(&path, plain.to_string()).unwrap();
    let out = output(mqtk().args([
        "bench",
        "merge",
        &files[0],
        path.to_str().unwrap(),
        &files[2],
    ]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("shard 1 ran without --cross-shard, shard 0 with"),
        "{stderr}"
    );
}

#[test]
fn three_cross_shards_merge_to_one_run_on_mosquitto() {
    let broker = Mosquitto::start();
    check_cross_shards_equal_single(&broker.host_args(), "cross-mosq");
}

#[test]
fn three_cross_shards_merge_to_one_run_on_mqtk_serve() {
    let mut serve = Serve::start(&[]);
    check_cross_shards_equal_single(&serve.host_args(), "cross-serve");
    serve.stop();
}

#[test]
fn without_the_flag_a_crossing_run_is_refused_naming_it() {
    let broker = Mosquitto::start();
    let args: Vec<&str> = RUN
        .into_iter()
        .chain(["--shard", "0/3", "--run-id", "x"])
        .collect();
    let out = bench_at(&broker.host_args(), &args);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr
            .contains("this run crosses shards; add --cross-shard"),
        "{}",
        out.stderr
    );
    let out = bench_at(&broker.host_args(), &["--cross-shard"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr.contains("--cross-shard is for sharded runs"),
        "{}",
        out.stderr
    );
}
