//! Sparkplug B end to end, against mosquitto, with payloads made and read by an
//! independent implementation (Python's protobuf package with a descriptor built in
//! tests/py/sparkplug_fixtures.py): `sub --decode sparkplug` shows them with datatypes
//! by name, signed values and the topic's parts, reports seq gaps, prints malformed
//! payloads raw; `pub --encode sparkplug` sends what Python reads back, and what sub
//! prints, pub sends again as an equivalent payload.

use std::process::Command;
use std::time::Duration;

use super::codecs::{json, mqtk_pub_stdin};
use serde_json::{json, Value};
use support::peers::{message, publish, subscriber};
use support::{mqtk_sub_ready, ok, output, Mosquitto};

const WAIT: Duration = Duration::from_secs(20);

/// Runs tests/py/sparkplug_fixtures.py with `args`; returns its stdout, trimmed.
fn fixtures(args: &[&str]) -> String {
    let script = format!(
        "{}/tests/py/sparkplug_fixtures.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = output(Command::new("python3").arg(script).args(args));
    assert!(
        out.status.success(),
        "sparkplug_fixtures.py {args:?} failed (protobuf comes from pip: run scripts/test):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn sub_decode_sparkplug_shows_a_python_payload_reports_seq_gaps_and_prints_bad_ones_raw() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let birth = dir.path().join("nbirth.bin");
    fixtures(&["encode", birth.to_str().unwrap()]);
    let args = [
        "-t",
        "spBv1.0/#",
        "--decode",
        "spBv1.0/#=sparkplug",
        "--json",
        "-C",
        "3",
    ];
    let mut sub = mqtk_sub_ready(&broker.host_args(), &args);
    publish(
        broker.port(),
        &[
            "-t",
            "spBv1.0/plant/NBIRTH/edge1",
            "-f",
            birth.to_str().unwrap(),
        ],
    );
    publish(
        broker.port(),
        &["-t", "spBv1.0/plant/DDATA/edge1/pump", "-m", "\u{7f}"],
    );
    // NBIRTH had seq 0: seq 5 means 1 to 4 were missed.
    ok(&mqtk_pub_stdin(
        &broker,
        &[
            "-t",
            "spBv1.0/plant/NDATA/edge1",
            "--encode",
            "sparkplug",
            "-m",
            r#"{"seq":5}"#,
        ],
        b"",
    ));
    let line = json(&sub.expect_line(|l| l.starts_with('{'), WAIT));
    assert_eq!(line["decoded_as"], "sparkplug");
    let view = &line["decoded"];
    assert_eq!(
        view["topic"],
        json!({"group": "plant", "message_type": "NBIRTH", "edge_node": "edge1"})
    );
    assert_eq!(
        (&view["seq"], &view["timestamp"]),
        (&json!(0), &json!(1700000000123u64))
    );
    let metrics = view["metrics"].as_array().unwrap();
    let shown: Vec<(&str, &Value)> = metrics
        .iter()
        .map(|m| (m["datatype"].as_str().unwrap(), &m["value"]))
        .collect();
    assert_eq!(
        shown,
        [
            ("Int64", &json!(-7)),
            ("Double", &json!(21.5)),
            ("Int16", &json!(-300)),
            ("UInt32", &json!(4000000000u32)),
            ("Float", &json!(0.25)),
            ("Boolean", &json!(true)),
            ("String", &json!("Pump 1 °C")),
            ("Bytes", &json!("AP8=")),
            ("DateTime", &Value::Null),
        ],
        "{view}"
    );
    assert_eq!(
        metrics[1],
        json!({"name": "temp", "alias": 1, "timestamp": 1700000000100u64, "datatype": "Double", "value": 21.5})
    );
    let bad = json(&sub.expect_line(|l| l.starts_with('{'), WAIT));
    assert_eq!(bad["payload"], "\u{7f}");
    let error = bad["decode_error"].as_str().unwrap();
    assert!(error.starts_with("not a Sparkplug B payload: "), "{bad}");
    let data = json(&sub.expect_line(|l| l.starts_with('{'), WAIT));
    assert_eq!(data["decoded"]["seq"], 5);
    assert!(sub.expect_exit(WAIT).success(), "{}", sub.stderr());
    let stderr = sub.stderr();
    assert!(
        stderr.contains("Sparkplug seq gap from edge node plant/edge1: expected 1, got 5 in NDATA (4 messages missed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 payload on 1 topic could not be decoded"),
        "{stderr}"
    );
}

#[test]
fn pub_encode_sparkplug_sends_what_python_reads_and_round_trips_what_sub_prints() {
    let broker = Mosquitto::start();
    let mut check = subscriber(
        broker.port(),
        &["-t", "spBv1.0/g/+/n/d", "-C", "2", "-F", "%x"],
    );
    let input = r#"{"timestamp":1700000000000,"seq":3,"metrics":[
        {"name":"t","alias":7,"datatype":"Double","value":21.5},
        {"name":"n","datatype":"Int32","value":-2},
        {"name":"big","datatype":"UInt64","value":"18446744073709551615"},
        {"name":"off","datatype":"Boolean","value":false}]}"#;
    let input = input.replace('\n', "");
    ok(&mqtk_pub_stdin(
        &broker,
        &[
            "-t",
            "spBv1.0/g/DDATA/n/d",
            "--encode",
            "sparkplug",
            "-m",
            &input,
        ],
        b"",
    ));
    let sent = message(&mut check);
    let read = json(&fixtures(&["decode", &sent]));
    assert_eq!(
        read,
        json!({"timestamp": "1700000000000", "seq": "3", "metrics": [
            {"name": "t", "alias": "7", "datatype": 10, "double_value": 21.5},
            {"name": "n", "datatype": 3, "int_value": 4294967294u32},
            {"name": "big", "datatype": 8, "long_value": "18446744073709551615"},
            {"name": "off", "datatype": 11, "boolean_value": false}]}),
    );

    // Python's NBIRTH, printed by sub, sent again by pub -l: Python reads the same.
    let dir = tempfile::tempdir().unwrap();
    let birth = dir.path().join("nbirth.bin");
    fixtures(&["encode", birth.to_str().unwrap()]);
    let mut sub = mqtk_sub_ready(
        &broker.host_args(),
        &[
            "-t",
            "spBv1.0/g/NBIRTH/n",
            "--decode",
            "sparkplug",
            "-C",
            "1",
        ],
    );
    publish(
        broker.port(),
        &["-t", "spBv1.0/g/NBIRTH/n", "-f", birth.to_str().unwrap()],
    );
    assert!(sub.expect_exit(WAIT).success(), "{}", sub.stderr());
    let printed = sub.rest_of_lines(WAIT).join("\n") + "\n";
    ok(&mqtk_pub_stdin(
        &broker,
        &["-t", "spBv1.0/g/DBIRTH/n/d", "-l", "--encode", "sparkplug"],
        printed.as_bytes(),
    ));
    let original: String = std::fs::read(&birth)
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let copy = message(&mut check);
    assert_eq!(
        json(&fixtures(&["decode", &copy])),
        json(&fixtures(&["decode", &original])),
        "printed {printed:?}"
    );
}

#[test]
fn pub_encode_sparkplug_errors_name_the_field_path_and_bad_lines_are_skipped() {
    let broker = Mosquitto::start();
    let out = mqtk_pub_stdin(
        &broker,
        &[
            "-t",
            "spBv1.0/g/DDATA/n/d",
            "--encode",
            "sparkplug",
            "-m",
            r#"{"metrics":[{"name":"t","datatype":"Dubble","value":1}]}"#,
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(r#"--encode sparkplug: the -m payload is not a Sparkplug B payload in JSON: metrics[0].datatype: unknown datatype "Dubble""#),
        "{stderr}"
    );
    // A bad -l line is named by its number and, with --keep-going, skipped; the good
    // one is sent.
    let mut check = subscriber(broker.port(), &["-t", "spb/l", "-C", "1", "-F", "%x"]);
    let lines = b"{\"metrics\":[{\"datatype\":\"Int8\",\"value\":300}]}\n{\"seq\":1}\n";
    let out = mqtk_pub_stdin(
        &broker,
        &["-t", "spb/l", "-l", "--encode", "sparkplug", "--keep-going"],
        lines,
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 1: --encode sparkplug: the payload is not a Sparkplug B payload in JSON: metrics[0].value: Int8 holds an integer from -128 to 127, not 300"),
        "{stderr}"
    );
    assert_eq!(message(&mut check), "1801");
}
