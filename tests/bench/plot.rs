//! `mqtk bench --plot FILE.svg` against mosquitto: an SVG with the latency distribution
//! (its percentile marks) and the throughput/p99 chart; `bench merge --plot` draws the
//! merged distribution. The picture itself was looked at as a PNG (rsvg-convert);
//! here only its parts are checked.

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
}
