//! Flow control in `mqtk serve`: a flood (any QoS) into live subscribers slows the
//! publishers down instead of overflowing the subscribers' bounded queues
//! (`--max-queued`), while a subscriber that stops reading still only gets its own queue
//! capped (that test is in conformance.rs). Loads are small (seconds) and every
//! wait is bounded; no timing is asserted.

use std::time::Duration;

use support::bench::bench_at;
use support::peers::{is_message, subscriber, T};
use support::Serve;

/// `mqtk bench` against `serve` with `args`, run to its exit (bounded): its `--json -`
/// report, once it exited 0.
fn bench(serve: &Serve, args: &[&str]) -> serde_json::Value {
    let out = bench_at(&serve.host_args(), &[args, &["--json", "-"]].concat());
    out.assert_success();
    out.report()
}

#[test]
fn a_qos1_and_qos2_fan_in_flood_into_live_subscribers_loses_nothing() {
    // A small queue, so that without flow control most of the flood would be dropped.
    let serve = Serve::start(&["--max-queued", "100"]);
    for (qos, version) in [("1", "5"), ("2", "311")] {
        let report = bench(
            &serve,
            &[
                "--publishers",
                "4",
                "--subscribers",
                "4",
                "--messages",
                "3000",
                "-q",
                qos,
                "-V",
                version,
            ],
        );
        assert_eq!(report["expected"], 48_000, "QoS {qos}: {report:#}");
        assert_eq!(report["lost"], 0, "QoS {qos}: {report:#}");
        assert_eq!(report["received"], 48_000, "QoS {qos}: {report:#}");
        assert_eq!(report["duplicates"], 0, "QoS {qos}: {report:#}");
    }
}

#[test]
fn mosquitto_pub_floods_reach_slower_mosquitto_sub_subscribers_in_full() {
    let serve = Serve::start(&["--max-queued", "20", "-v"]);
    let port = serve.port();
    const PUBLISHERS: usize = 3;
    const EACH: usize = 2000;
    let total = (PUBLISHERS * EACH).to_string();
    let mut subs: Vec<_> = ["5", "311"]
        .iter()
        .map(|v| subscriber(port, &["-t", "flow/#", "-q", "1", "-V", v, "-C", &total]))
        .collect();
    let lines: String = (0..EACH).map(|i| format!("message {i}\n")).collect();
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|p| {
            let mut child = std::process::Command::new("mosquitto_pub")
                .args(["-h", "127.0.0.1", "-p", &port.to_string()])
                .args(["-t", &format!("flow/{p}"), "-q", "1", "-l"])
                .stdin(std::process::Stdio::piped())
                .spawn()
                .expect("mosquitto_pub runs");
            let mut stdin = child.stdin.take().expect("piped");
            std::io::Write::write_all(&mut stdin, lines.as_bytes()).expect("write lines");
            child
        })
        .collect();
    for mut p in publishers {
        assert!(support::child_exit(&mut p, T).success());
    }
    for sub in &mut subs {
        sub.expect_exit(Duration::from_secs(30));
        let mut all = sub.seen().to_vec();
        all.extend(sub.rest_of_lines(T));
        let got = all.iter().filter(|l| is_message(l)).count();
        assert_eq!(got, PUBLISHERS * EACH, "stderr:\n{}", sub.stderr());
    }
    let mut serve = serve;
    assert!(
        !serve.running().stderr().contains("are being dropped"),
        "{}",
        serve.running().stderr()
    );
}

#[test]
fn a_qos0_fan_in_flood_into_live_subscribers_loses_nothing_either() {
    // mosquitto delivers a QoS 0 flood to connected subscribers in full; so must serve.
    let serve = Serve::start(&["--max-queued", "100"]);
    let report = bench(
        &serve,
        &[
            "--publishers",
            "4",
            "--subscribers",
            "4",
            "--messages",
            "3000",
            "-q",
            "0",
        ],
    );
    assert_eq!(report["expected"], 48_000, "{report:#}");
    assert_eq!(report["lost"], 0, "{report:#}");
    assert_eq!(report["received"], 48_000, "{report:#}");
}

#[test]
fn max_queued_0_means_no_limit_as_in_mosquitto_conf() {
    let serve = Serve::start(&["--max-queued", "0"]);
    let report = bench(
        &serve,
        &[
            "--publishers",
            "1",
            "--subscribers",
            "1",
            "--messages",
            "2000",
            "-q",
            "1",
        ],
    );
    assert_eq!(report["lost"], 0, "{report:#}");
    assert_eq!(report["received"], 2_000, "{report:#}");
}
