//! `mqtk bench --plot FILE.svg` against mosquitto: an SVG with the latency distribution
//! (its percentile marks) and the throughput/p99 chart; `bench merge --plot` draws the
//! merged distribution and series; `bench plot` draws several reports on one chart.
//! The pictures themselves were looked at as PNGs (rsvg-convert); here only their
//! parts are checked.

use support::bench::{bench, PAIRS_QOS1_JSON};
use support::{mqtk, output, text, Mosquitto};

#[test]
fn a_run_and_a_merge_draw_their_charts() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("run.svg");
    let args: Vec<&str> = PAIRS_QOS1_JSON
        .into_iter()
        .chain(["--plot", svg.to_str().unwrap()])
        .collect();
    bench(&broker, &args).assert_success();
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(picture.starts_with("<svg"), "{}", &picture[..100]);
    for part in [
        "latency by percentile",
        "90%",
        "99%",
        "99.9%",
        "99.99%",
        "throughput and p99 per second",
    ] {
        assert!(picture.contains(part), "no {part:?} in the SVG");
    }
    // A shard's report, merged alone (a run of one shard), drawn again.
    let json = dir.path().join("shard0.json");
    let args: Vec<&str> = [
        "-q",
        "1",
        "--messages",
        "50",
        "--shard",
        "0/1",
        "--run-id",
        "plot",
    ]
    .into_iter()
    .chain(["--json", json.to_str().unwrap()])
    .collect();
    bench(&broker, &args).assert_success();
    let merged = dir.path().join("merged.svg");
    let out = output(mqtk().args([
        "bench",
        "merge",
        json.to_str().unwrap(),
        "--plot",
        merged.to_str().unwrap(),
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let picture = std::fs::read_to_string(&merged).unwrap();
    assert!(picture.contains("latency by percentile") && picture.contains("99.99%"));
    assert!(
        picture.contains("throughput and p99 per second"),
        "the merged series is drawn too"
    );
}

#[test]
fn bench_plot_draws_several_reports_on_one_chart() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (qos0, qos1) = (path("qos0.json"), path("qos1.json"));
    for (qos, json) in [("0", &qos0), ("1", &qos1)] {
        let args = ["--scenario", "pairs", "-q", qos, "--messages", "100"];
        let args: Vec<&str> = args.into_iter().chain(["--json", json]).collect();
        bench(&broker, &args).assert_success();
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
        assert!(
            report["latency_hdr"].is_string(),
            "a run carries its histogram"
        );
    }
    // A report without a histogram (an older mqtk's) draws its percentiles.
    let old = path("old.json");
    let mut report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&qos0).unwrap()).unwrap();
    report.as_object_mut().unwrap().remove("latency_hdr");
    std::fs::write(&old, report.to_string()).unwrap();
    let svg = path("cmp.svg");
    let out = output(mqtk().args(["bench", "plot", &qos0, &qos1, &old, "-o", &svg]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let picture = std::fs::read_to_string(&svg).unwrap();
    for part in [
        "mqtk bench: pairs",
        "qos0: 10 pub → 10 sub, QoS 0, p99",
        "qos1: 10 pub → 10 sub, QoS 1, p99",
        "old: 10 pub → 10 sub, QoS 0, percentiles only",
        "99.99%",
    ] {
        assert!(picture.contains(part), "no {part:?} in the SVG");
    }
    let out = output(mqtk().args(["bench", "plot", &path("none.json"), "-o", &svg]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot read"),
        "{}",
        text(&out.stderr)
    );
}
