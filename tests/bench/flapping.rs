//! `mqtk bench --scenario flapping`: subscribers that unsubscribe and subscribe again
//! while the publishers run, against mosquitto and `mqtk serve`: every flap's UNSUBACK
//! and SUBACK are timed, and what a subscriber missed while away is neither expected
//! nor lost. Counts only, never timings.

use serde_json::Value;
use support::bench::{bench, bench_at, u64_at};
use support::{Mosquitto, Serve};

/// 10 pairs at 100 msgs/s each for 3 s; subscriber i flaps at i/10 s, 1 + i/10 s and,
/// when back (half a second on) before 3 s, at 2 + i/10 s: 10 + 10 + 5 = 25 flaps.
const FLAPPING: [&str; 6] = ["--scenario", "flapping", "--duration", "3s", "--json", "-"];

fn assert_flaps_excused_not_lost(r: &Value) {
    assert_eq!(r["parameters"]["scenario"], "flapping", "{r:#}");
    assert_eq!(r["parameters"]["flap_interval_secs"], 1.0, "{r:#}");
    assert_eq!(u64_at(r, "/flapping/flaps"), 25, "{r:#}");
    assert_eq!(u64_at(r, "/flapping/unsuback_us/count"), 25, "{r:#}");
    assert_eq!(u64_at(r, "/flapping/suback_us/count"), 25, "{r:#}");
    let (sent, received) = (u64_at(r, "/sent"), u64_at(r, "/received"));
    let missed = u64_at(r, "/flapping/missed_while_unsubscribed");
    assert!(missed > 0 && received > 0, "{r:#}");
    assert_eq!(received + missed, sent, "one subscriber per message: {r:#}");
    assert_eq!(u64_at(r, "/expected"), received, "{r:#}");
    assert_eq!(u64_at(r, "/lost"), 0, "{r:#}");
    assert_eq!(r["errors"], serde_json::json!({}), "{r:#}");
}

#[test]
fn flapping_subscribers_on_mosquitto_lose_nothing_while_subscribed() {
    let broker = Mosquitto::start();
    let out = bench(&broker, &FLAPPING);
    out.assert_success();
    assert_flaps_excused_not_lost(&out.report());
    assert!(
        out.stderr.contains("flapping    25 flaps"),
        "{}",
        out.stderr
    );
}

#[test]
fn flapping_subscribers_at_qos_1_on_mqtk_serve_lose_nothing_while_subscribed() {
    let mut serve = Serve::start(&[]);
    let args: Vec<&str> = FLAPPING.into_iter().chain(["-q", "1"]).collect();
    let out = bench_at(&serve.host_args(), &args);
    out.assert_success();
    let r = out.report();
    assert_flaps_excused_not_lost(&r);
    assert_eq!(u64_at(&r, "/acked"), u64_at(&r, "/sent"), "{r:#}");
    serve.stop();
}

#[test]
fn flapping_mistakes_are_refused_naming_the_flag() {
    let broker = Mosquitto::start();
    for (args, message) in [
        (
            &["--scenario", "flapping", "--messages", "5"][..],
            "--flap-interval: flapping runs for --duration",
        ),
        (
            &["--flap-interval", "5s", "--duration", "2s"][..],
            "--flap-interval 5s is longer than --duration",
        ),
        (
            &["--scenario", "flapping", "--shared", "g"][..],
            "--flap-interval and --shared",
        ),
        (
            &["--flap-interval", "1ms", "--duration", "2s"][..],
            "--flap-interval 1ms: give 10ms or more",
        ),
    ] {
        let out = bench(&broker, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(message), "{args:?}: {}", out.stderr);
    }
}
