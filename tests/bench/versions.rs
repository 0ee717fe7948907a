//! `mqtk bench` and MQTT versions, against the real mosquitto broker: the fallback to
//! MQTT 3.1.1 when the broker refuses 5 (through a 3.1.1-only proxy in front of
//! mosquitto, refusing three ways), and the MQTT 5 Receive Maximum every simulated
//! client announces with --receive-maximum. No timing is asserted.

use support::bench::{assert_pairs_qos1_complete, bench, bench_at, u64_at, PAIRS_QOS1_JSON};
use support::v311_proxy::{Refusal, V311Proxy};
use support::Mosquitto;

/// Runs 5 one-to-one pairs at QoS 1 through a 3.1.1-only proxy in front of mosquitto
/// that refuses MQTT 5 the way `refusal` says, and checks bench fell back to 3.1.1: one
/// level-5 probe refused, every client connected at level 4, nothing lost, and the
/// report and stderr say which version was measured.
fn assert_falls_back_to_311(refusal: Refusal) {
    let broker = Mosquitto::start();
    let proxy = V311Proxy::start(broker.port(), refusal);
    let out = bench_at(&proxy.host_args(), &PAIRS_QOS1_JSON);
    out.assert_success();
    let r = out.report();
    assert_eq!(r["parameters"]["protocol_version"], "3.1.1", "{r:#}");
    // The refused probe is not a client: it must not show up as an error.
    assert_pairs_qos1_complete(&r);
    assert!(
        out.stderr
            .contains("mqtk: the broker refused MQTT 5: measured with MQTT 3.1.1"),
        "stderr:\n{}",
        out.stderr
    );
    // The human table (on stderr with --json -) names the version too.
    assert!(
        out.stderr.contains("MQTT 3.1.1, QoS 1"),
        "stderr:\n{}",
        out.stderr
    );
    assert_eq!(proxy.refused_v5(), 1, "one MQTT 5 probe, refused");
    assert_eq!(proxy.forwarded_v4(), 10, "every client at level 4");
    assert_eq!(proxy.other(), 0, "no other connection");
}

#[test]
fn bench_falls_back_to_311_when_the_broker_answers_5_with_return_code_1() {
    assert_falls_back_to_311(Refusal::ConnAck);
}

#[test]
fn bench_falls_back_to_311_when_the_broker_closes_on_a_5_connect() {
    assert_falls_back_to_311(Refusal::Close);
}

#[test]
fn bench_falls_back_to_311_when_the_broker_resets_a_5_connect() {
    assert_falls_back_to_311(Refusal::Reset);
}

/// PUBLISH packets mosquitto's log shows it sending to the client whose id ends with
/// `id_end` before the first acknowledgement (`ack`: PUBACK or PUBREC) it logs from it.
fn publishes_before_first_ack(log: &str, id_end: &str, ack: &str) -> usize {
    // "<time>: Sending PUBLISH to ID (d0, q1, …)" / "<time>: Received PUBACK from ID (…)"
    let peer = |line: &str, what: &str| {
        line.split_once(what)
            .and_then(|(_, rest)| rest.split(' ').next())
            .is_some_and(|id| id.ends_with(id_end))
    };
    let ack = format!("Received {ack} from ");
    log.lines()
        .take_while(|line| !peer(line, &ack))
        .filter(|line| peer(line, "Sending PUBLISH to "))
        .count()
}

#[test]
fn receive_maximum_is_announced_and_mosquitto_keeps_to_it() {
    // 5 publishers to one QoS 1 subscriber: without a window mosquitto sends up to its
    // max_inflight_messages (20) before the first PUBACK; with --receive-maximum 2 it may
    // send 2. mosquitto's log (log_type all) shows the order it sent and received in.
    let broker = Mosquitto::start_with("log_type all\n");
    let out = bench(
        &broker,
        &[
            "--publishers",
            "5",
            "--subscribers",
            "1",
            "-q",
            "1",
            "--messages",
            "40",
            "--receive-maximum",
            "2",
            "--json",
            "-",
        ],
    );
    out.assert_success();
    let r = out.report();
    assert_eq!(r["parameters"]["receive_maximum"], 2, "{r:#}");
    assert_eq!(u64_at(&r, "/received"), 200, "{r:#}");
    assert_eq!(u64_at(&r, "/lost"), 0, "{r:#}");
    let log = broker.log();
    let before_ack = publishes_before_first_ack(&log, "-s0", "PUBACK");
    assert!(
        (1..=2).contains(&before_ack),
        "{before_ack} PUBLISH before the first PUBACK; mosquitto's log:\n{log}"
    );
}

#[test]
fn without_receive_maximum_none_is_announced_and_on_3_1_1_it_is_refused() {
    let broker = Mosquitto::start();
    let out = bench(&broker, &["--messages", "5", "--json", "-"]);
    out.assert_success();
    let r = out.report();
    assert_eq!(
        r["parameters"]["receive_maximum"],
        serde_json::Value::Null,
        "{r:#}"
    );
    let out = bench(&broker, &["--receive-maximum", "2", "-V", "311"]);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{}", out.stderr);
    assert!(
        out.stderr
            .contains("--receive-maximum is MQTT 5 only; drop it, or use -V 5"),
        "stderr:\n{}",
        out.stderr
    );
}
