//! Pacing of `mqtk pub`, against mosquitto, timed by a paho-mqtt subscriber's arrival
//! clock (tests/py/jsonl_reader.py): `--jsonl --replay` keeps a 2 s recording's gaps
//! (2 s ± 10% at `--speed 1`, 0.2 s ± 50% at `--speed 10`), `--rate` spreads `-l`
//! lines and `--repeat` evenly, and `--loop N` publishes the input N times. These are
//! behaviour bounds from the issue, not performance figures.

use serde_json::{json, Value};
use support::{ok, output, text, Mosquitto};

use super::codecs::mqtk_pub_stdin;
use super::jsonl::{paho_reader, read_all};

/// A recording of `n` messages on `topic`, `gap_ms` apart (as `sub --json` writes it).
fn recording(topic: &str, n: u64, gap_ms: u64) -> String {
    let start_ns: u128 = 1_796_000_000_000_000_000;
    (0..n)
        .map(|i| {
            let at = start_ns + u128::from(i * gap_ms) * 1_000_000;
            json!({"topic": topic, "payload": i.to_string(), "payload_encoding": "text",
                   "qos": 1, "retain": false, "received_unix_ns": at})
            .to_string()
                + "\n"
        })
        .collect()
}

/// Seconds from the first arrival to the last.
fn span_secs(messages: &[Value]) -> f64 {
    let at = |m: &Value| m["at_ns"].as_u64().unwrap() as f64 / 1e9;
    at(messages.last().unwrap()) - at(&messages[0])
}

fn payloads(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| {
            let hex = m["payload_hex"].as_str().unwrap();
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            String::from_utf8(bytes).unwrap()
        })
        .collect()
}

#[test]
fn replay_keeps_a_2s_recordings_gaps_at_speed_1_and_divides_them_at_speed_10() {
    let broker = Mosquitto::start();
    for (speed, expected, tolerance) in [("1", 2.0, 0.10), ("10", 0.2, 0.50)] {
        let topic = format!("rp/{speed}");
        let mut reader = paho_reader(&broker, &topic, 21);
        let input = recording(&topic, 21, 100);
        ok(&mqtk_pub_stdin(
            &broker,
            &["--jsonl", "--replay", "--speed", speed],
            input.as_bytes(),
        ));
        let got = read_all(&mut reader, 21);
        let span = span_secs(&got);
        assert!(
            (span - expected).abs() <= expected * tolerance,
            "--speed {speed}: the 2 s recording took {span:.3} s (expected {expected} s ± {}%)",
            tolerance * 100.0
        );
        let want: Vec<String> = (0..21).map(|i: u32| i.to_string()).collect();
        assert_eq!(payloads(&got), want, "--speed {speed}: order");
    }
}

#[test]
fn replay_at_speed_0_sends_without_gaps_and_loop_repeats_the_input() {
    let broker = Mosquitto::start();
    let mut reader = paho_reader(&broker, "rp/loop", 30);
    // A 10 s recording: at --speed 0 it is sent at once, three times.
    let input = recording("rp/loop", 10, 1000);
    ok(&mqtk_pub_stdin(
        &broker,
        &["--jsonl", "--replay", "--speed", "0", "--loop", "3"],
        input.as_bytes(),
    ));
    let got = read_all(&mut reader, 30);
    assert!(span_secs(&got) < 5.0, "took {:.3} s", span_secs(&got));
    let one: Vec<String> = (0..10).map(|i: u32| i.to_string()).collect();
    assert_eq!(payloads(&got), [one.clone(), one.clone(), one].concat());
}

#[test]
fn rate_spreads_lines_and_repeats_evenly() {
    let broker = Mosquitto::start();
    let mut reader = paho_reader(&broker, "rate/l", 21);
    let lines: String = (0..21).map(|i| format!("{i}\n")).collect();
    ok(&mqtk_pub_stdin(
        &broker,
        &["-t", "rate/l", "-l", "-q", "1", "--rate", "20/s"],
        lines.as_bytes(),
    ));
    let got = read_all(&mut reader, 21);
    // 20 gaps of 50 ms: 1 s; no gap much shorter than 50 ms (no bursts).
    let span = span_secs(&got);
    assert!(
        (0.9..=1.5).contains(&span),
        "21 lines at 20/s took {span:.3} s"
    );
    let at: Vec<u64> = got.iter().map(|m| m["at_ns"].as_u64().unwrap()).collect();
    // The first gap is left out: the first delivery may lag (seen: 35 ms) while the
    // rest keep to the grid.
    let shortest_ms = at[1..]
        .windows(2)
        .map(|w| (w[1] - w[0]) / 1_000_000)
        .min()
        .unwrap();
    assert!(
        shortest_ms >= 25,
        "a gap of {shortest_ms} ms at 20/s: {at:?}"
    );

    let mut reader = paho_reader(&broker, "rate/r", 11);
    ok(&output(
        support::mqtk().arg("pub").args(broker.host_args()).args([
            "-t", "rate/r", "-m", "x", "--repeat", "11", "--rate", "600/m",
        ]),
    ));
    let span = span_secs(&read_all(&mut reader, 11));
    assert!(
        (0.9..=1.5).contains(&span),
        "11 repeats at 600/m took {span:.3} s"
    );
}

#[test]
fn pacing_flags_that_do_not_fit_are_refused_before_connecting() {
    let run = |args: &[&str]| {
        let out = output(support::mqtk().arg("pub").args(["-p", "1"]).args(args));
        (out.status.code(), text(&out.stderr))
    };
    let (code, err) = run(&["-t", "a", "-m", "x", "--replay"]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(err, "mqtk: --replay works with --jsonl: add --jsonl\n");
    let (code, err) = run(&["-t", "a", "-l", "--rate", "0/s"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("the rate must be more than 0"), "{err}");
    let (code, err) = run(&["-t", "a", "-m", "x", "--loop", "2"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("--loop works with -l and --jsonl"), "{err}");
    let (code, err) = run(&["--jsonl", "--topic-map", "a/#=b"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("end both sides with /#"), "{err}");
    let (code, err) = run(&["-l"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.starts_with("mqtk: -t: give the topic"), "{err}");
}
