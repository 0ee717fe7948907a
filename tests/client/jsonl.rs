//! Many topics through one `mqtk pub` connection, against mosquitto: `sub --json |
//! pub --jsonl` reproduces 1,000 messages (binary payloads, MQTT 5 properties, retained
//! flags) as paho-mqtt reads them (tests/py/jsonl_reader.py), `-l --topic-per-line`
//! 10,000 lines across 100 topics reach mosquitto_sub complete and in order, a bad line
//! stops the run after the lines before it are published (or is skipped with
//! --keep-going), and `sub --decode X --json | pub --jsonl --encode X` reproduces the
//! bytes for every codec (an equivalent payload for Sparkplug B).

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use support::peers::{message, publish, subscriber};
use support::{mqtk_sub_ready, ok, spawn_lines, Mosquitto, Running};

use super::codecs::{json as parse, mqtk_pub_stdin};

const WAIT: Duration = Duration::from_secs(30);

/// tests/py/jsonl_reader.py on `filter`, returned once subscribed.
pub(super) fn paho_reader(broker: &Mosquitto, filter: &str, count: usize) -> Running {
    support::python3_paho();
    let script = format!("{}/tests/py/jsonl_reader.py", env!("CARGO_MANIFEST_DIR"));
    let mut reader = spawn_lines(
        Command::new("python3")
            .arg(script)
            .arg(broker.port().to_string())
            .arg(filter)
            .arg(count.to_string()),
    );
    reader.expect_line(|l| l == "ready", WAIT);
    reader
}

/// The `count` JSON lines a reader prints, once it has exited.
pub(super) fn read_all(reader: &mut Running, count: usize) -> Vec<Value> {
    assert!(reader.expect_exit(WAIT).success(), "{}", reader.stderr());
    let lines: Vec<Value> = reader
        .rest_of_lines(WAIT)
        .iter()
        .map(|l| parse(l))
        .collect();
    assert_eq!(lines.len(), count, "{}", reader.stderr());
    lines
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Message `i` of the round trip, as a record line for `pub --jsonl` and as what paho
/// must see: every third payload is binary, every tenth message retained, properties
/// on a pattern.
fn original(i: usize) -> (Value, Value) {
    let payload: Vec<u8> = if i % 3 == 0 {
        vec![0xff, 0x00, i as u8, (i >> 8) as u8, b'\n', 0xc3]
    } else if i == 1 {
        Vec::new()
    } else {
        format!("msg {i} ü").into_bytes()
    };
    let binary = std::str::from_utf8(&payload).is_err();
    let mut properties = json!({ "user_properties": [["i", i.to_string()], ["k", "v"]] });
    let mut expected = json!({
        "topic": format!("dst/{i}"),
        "payload_hex": hex(&payload),
        "qos": i % 3,
        "retain": i % 10 == 0,
        "content_type": null,
        "response_topic": null,
        "correlation_data_hex": null,
        "payload_format_indicator": null,
        "user_properties": [["i", i.to_string()], ["k", "v"]],
    });
    if i % 2 == 0 {
        properties["content_type"] = json!("application/x-test");
        expected["content_type"] = json!("application/x-test");
    }
    if i % 4 == 1 {
        properties["correlation_data"] = json!("AP8Q"); // 00 ff 10
        properties["correlation_data_encoding"] = json!("base64");
        expected["correlation_data_hex"] = json!("00ff10");
    }
    if i % 5 == 2 {
        properties["response_topic"] = json!(format!("reply/{i}"));
        expected["response_topic"] = json!(format!("reply/{i}"));
    }
    if !binary && i % 7 == 0 {
        properties["payload_format_indicator"] = json!(1);
        expected["payload_format_indicator"] = json!(1);
    }
    if i % 6 == 3 {
        properties["message_expiry_interval"] = json!(3600);
    }
    let line = json!({
        "topic": format!("src/{i}"),
        "payload": if binary { base64(&payload) } else { String::from_utf8(payload).unwrap() },
        "payload_encoding": if binary { "base64" } else { "text" },
        "qos": i % 3,
        "retain": i % 10 == 0,
        "properties": properties,
    });
    (line, expected)
}

fn base64(bytes: &[u8]) -> String {
    let out = Command::new("base64")
        .arg("-w0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(bytes)?;
            child.wait_with_output()
        })
        .expect("coreutils base64 runs");
    String::from_utf8(out.stdout).unwrap()
}

fn lines_of(values: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        out.extend_from_slice(v.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

#[test]
fn sub_json_piped_into_pub_jsonl_reproduces_1000_messages_field_by_field() {
    let broker = Mosquitto::start();
    let (records, expected): (Vec<Value>, Vec<Value>) = (0..1000).map(original).unzip();
    let (retained, live): (Vec<&Value>, Vec<&Value>) =
        records.iter().partition(|r| r["retain"] == true);
    let retained: Vec<Value> = retained.into_iter().cloned().collect();
    let live: Vec<Value> = live.into_iter().cloned().collect();
    // The retained ones first: the recorder gets them on subscribing, flag set.
    ok(&mqtk_pub_stdin(&broker, &["--jsonl"], &lines_of(&retained)));
    let mut recorder = mqtk_sub_ready(
        &broker.host_args(),
        &["-t", "src/#", "-q", "2", "--json", "-C", "1000"],
    );
    ok(&mqtk_pub_stdin(&broker, &["--jsonl"], &lines_of(&live)));
    assert!(
        recorder.expect_exit(WAIT).success(),
        "{}",
        recorder.stderr()
    );
    let capture = recorder.rest_of_lines(WAIT).join("\n") + "\n";
    assert_eq!(capture.lines().count(), 1000);

    let mut reader = paho_reader(&broker, "dst/#", 1000);
    ok(&mqtk_pub_stdin(
        &broker,
        &["--jsonl", "--topic-map", "src/#=dst/#"],
        capture.as_bytes(),
    ));
    let got: HashMap<String, Value> = read_all(&mut reader, 1000)
        .into_iter()
        .map(|m| (m["topic"].as_str().unwrap().to_string(), m))
        .collect();
    for (i, want) in expected.iter().enumerate() {
        let topic = want["topic"].as_str().unwrap();
        let mut seen = got
            .get(topic)
            .unwrap_or_else(|| panic!("{topic} did not arrive"))
            .clone();
        // Mosquitto forwards what is left of the expiry interval.
        let expiry = seen["message_expiry_interval"].take();
        if i % 6 == 3 {
            let left = expiry
                .as_u64()
                .unwrap_or_else(|| panic!("{topic}: no expiry"));
            assert!((3590..=3600).contains(&left), "{topic}: expiry {left}");
        } else {
            assert!(expiry.is_null(), "{topic}: expiry {expiry}");
        }
        seen["at_ns"].take();
        let fields = seen.as_object_mut().unwrap();
        fields.remove("message_expiry_interval");
        fields.remove("at_ns");
        assert_eq!(&seen, want, "message {i}");
    }
}

#[test]
fn topic_per_line_10000_lines_across_100_topics_reach_mosquitto_sub_complete_in_order() {
    // mosquitto drops QoS 1 messages beyond max_queued_messages (1000) for a subscriber
    // that falls behind, and a `-d` mosquitto_sub on a loaded 2-core machine does (CI
    // lost 23 of tpl/37's): unlimited, so every loss is ours.
    let broker = Mosquitto::start_with("max_queued_messages 0\n");
    let mut sub = subscriber(
        broker.port(),
        &["-t", "tpl/#", "-q", "1", "-v", "-C", "10000"],
    );
    let input: String = (0..10_000)
        .map(|i| format!("tpl/{}\tline {i}\n", i % 100))
        .collect();
    let out = mqtk_pub_stdin(
        &broker,
        &["-l", "--topic-per-line", "-q", "1"],
        input.as_bytes(),
    );
    ok(&out);
    let mut next: HashMap<String, usize> = HashMap::new();
    for _ in 0..10_000 {
        let line = message(&mut sub);
        let (topic, payload) = line.split_once(' ').expect("-v prints TOPIC PAYLOAD");
        let n: usize = payload.strip_prefix("line ").unwrap().parse().unwrap();
        let expected = next
            .entry(topic.to_string())
            .or_insert(topic[4..].parse().unwrap());
        assert_eq!(n, *expected, "{topic}: out of order or missing");
        *expected += 100;
    }
    assert_eq!(next.len(), 100);
    assert!(next.values().all(|&n| n >= 10_000), "{next:?}");
}

#[test]
fn a_bad_line_stops_pub_after_the_lines_before_it_are_published_and_names_it() {
    let broker = Mosquitto::start();
    let mut sub = subscriber(broker.port(), &["-t", "bad/#", "-q", "1", "-v"]);
    let input = "{\"topic\":\"bad/1\",\"payload\":\"a\"}\n\
                 {\"topic\":\"bad/2\",\"payload\":\"b\",\"qos\":1}\n\
                 \n\
                 {\"topic\":\"bad/3\",\"payload\":\"c\",\"qos\":2}\n\
                 {\"topic\":\"bad/4\",\"payload\":\n\
                 {\"topic\":\"bad/5\",\"payload\":\"e\"}\n";
    let out = mqtk_pub_stdin(&broker, &["--jsonl", "-q", "1"], input.as_bytes());
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("mqtk: line 5: not a JSON object (EOF while parsing a value")
            && stderr.contains("stopped there (the 3 messages before it were published and acknowledged; --keep-going skips bad lines)"),
        "{stderr}"
    );
    for want in ["bad/1 a", "bad/2 b", "bad/3 c"] {
        assert_eq!(message(&mut sub), want);
    }
    // Nothing after the bad line: the next message is this marker.
    publish(broker.port(), &["-t", "bad/marker", "-m", "m"]);
    assert_eq!(message(&mut sub), "bad/marker m");

    // --keep-going: reported, skipped, the rest published, status 1.
    let input = "bad/6\tf\nno tab here\nbad/7\tg\n";
    let out = mqtk_pub_stdin(
        &broker,
        &["-l", "--topic-per-line", "--keep-going", "-q", "1"],
        input.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "mqtk: warning: line 2: no tab: --topic-per-line reads TOPIC<TAB>PAYLOAD; skipped\n\
         mqtk: 1 bad line of stdin skipped (the warnings above name them); 2 messages \
         published\n"
    );
    assert_eq!(message(&mut sub), "bad/6 f");
    assert_eq!(message(&mut sub), "bad/7 g");
}

#[test]
fn missing_fields_come_from_the_flags_and_topics_are_rewritten() {
    let broker = Mosquitto::start();
    let mut reader = paho_reader(&broker, "pre/#", 3);
    let input = "{\"payload\":\"p1\"}\n\
                 {\"topic\":\"own/a\",\"payload\":\"p2\",\"qos\":0,\"retain\":false}\n\
                 {\"topic\":\"m/x\",\"payload\":\"p3\",\"properties\":{\"content_type\":\"c\"}}\n";
    let out = mqtk_pub_stdin(
        &broker,
        &[
            "--jsonl",
            "-t",
            "flag/t",
            "-q",
            "2",
            "-r",
            "--content-type",
            "f",
            "--topic-map",
            "m/x=mapped",
            "--topic-prefix",
            "pre/",
        ],
        input.as_bytes(),
    );
    ok(&out);
    let got = read_all(&mut reader, 3);
    // By topic: mosquitto forwards a QoS 2 message only once its flow is complete,
    // so the QoS 0 one may overtake it.
    let mut summary: Vec<(String, u64, bool, String)> = got
        .iter()
        .map(|m| {
            (
                m["topic"].as_str().unwrap().to_string(),
                m["qos"].as_u64().unwrap(),
                m["retain"].as_bool().unwrap(),
                m["content_type"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    summary.sort();
    assert_eq!(
        summary,
        vec![
            ("pre/flag/t".to_string(), 2, true, "f".to_string()),
            ("pre/mapped".to_string(), 2, true, "c".to_string()),
            ("pre/own/a".to_string(), 0, false, "f".to_string()),
        ]
    );
    // Clear the retained messages this left behind for other runs of the reader.
    ok(&mqtk_pub_stdin(
        &broker,
        &["-l", "--topic-per-line", "-r", "-q", "1"],
        b"pre/flag/t\t\npre/mapped\t\n",
    ));
}

/// Publishes `file` raw on `topic`, records it with `sub --decode CODEC --json`, drops
/// the raw payload from the record (so only `decoded` is left to encode) and publishes
/// the record with `pub --jsonl --encode CODEC`; returns the hex of what arrived.
fn jsonl_encode_round_trip(broker: &Mosquitto, codec: &str, extra: &[&str], file: &str) -> String {
    let topic = format!("rtj/{}", codec.replace(':', "_"));
    let mut args = vec!["-t", topic.as_str(), "--decode", codec, "--json", "-C", "1"];
    args.extend(extra);
    let mut sub = mqtk_sub_ready(&broker.host_args(), &args);
    publish(broker.port(), &["-t", &topic, "-f", file]);
    assert!(sub.expect_exit(WAIT).success(), "{}", sub.stderr());
    let mut record = parse(&sub.rest_of_lines(WAIT).join(""));
    assert_eq!(
        record["decoded_as"],
        codec.split(':').next().unwrap(),
        "{record}"
    );
    let fields = record.as_object_mut().unwrap();
    for raw in ["payload", "payload_encoding", "payload_bytes"] {
        fields.remove(raw);
    }
    let copy = format!("{topic}/copy");
    let mut check = subscriber(broker.port(), &["-t", &copy, "-C", "1", "-F", "%x"]);
    let mut args = vec!["--jsonl", "--encode", codec, "-t", copy.as_str()];
    args.extend(extra);
    fields.remove("topic");
    ok(&mqtk_pub_stdin(
        broker,
        &args,
        format!("{record}\n").as_bytes(),
    ));
    message(&mut check)
}

#[test]
fn sub_decode_json_into_pub_jsonl_encode_reproduces_the_bytes_of_every_codec() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| -> String {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.display().to_string()
    };
    // CBOR (shortest floats, RFC 8949 preferred serialization) and MessagePack (float
    // 64, as Python's msgpack writes it) of {"t": 21.5, "ok": true, "n": [1, -2]}.
    let binary = write("binary", &[0x00, 0x01, 0x0a, 0xfe, 0xff, b'\n']);
    let cbor = write(
        "cbor",
        &[
            0xa3, 0x61, 0x74, 0xf9, 0x4d, 0x60, 0x62, 0x6f, 0x6b, 0xf5, 0x61, 0x6e, 0x82, 0x01,
            0x21,
        ],
    );
    let msgpack = write(
        "msgpack",
        &[
            0x83, 0xa1, 0x74, 0xcb, 0x40, 0x35, 0x80, 0, 0, 0, 0, 0, 0xa2, 0x6f, 0x6b, 0xc3, 0xa1,
            0x6e, 0x92, 0x01, 0xfe,
        ],
    );
    for (codec, file) in [
        ("hex", &binary),
        ("base64", &binary),
        ("cbor", &cbor),
        ("msgpack", &msgpack),
    ] {
        let original = hex(&std::fs::read(file).unwrap());
        assert_eq!(
            jsonl_encode_round_trip(&broker, codec, &[], file),
            original,
            "{codec}"
        );
    }
    // Protobuf: a message of a .proto compiled at run time, fields in number order.
    let proto = write(
        "rt.proto",
        b"syntax = \"proto3\"; package rt; message M { string name = 1; int64 big = 2; \
          repeated double xs = 3; bytes raw = 4; }",
    );
    // name "a", big 2^40, xs [1.5], raw 00 ff
    let mut pb = vec![
        0x0a, 0x01, b'a', 0x10, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x1a, 0x08,
    ];
    pb.extend_from_slice(&1.5f64.to_le_bytes());
    pb.extend_from_slice(&[0x22, 0x02, 0x00, 0xff]);
    let pb_file = write("pb", &pb);
    let got = jsonl_encode_round_trip(&broker, "protobuf:rt.M", &["--proto", &proto], &pb_file);
    assert_eq!(got, hex(&pb), "protobuf");
}

#[test]
fn sparkplug_through_sub_json_and_pub_jsonl_encode_is_an_equivalent_payload() {
    let broker = Mosquitto::start();
    // An NDATA payload: timestamp, one Double metric with an alias, seq 3.
    let mut m = vec![0x12, 0x10, 0x0a, 0x01, b't', 0x10, 0x05, 0x20, 0x0a];
    m.push(0x69); // field 13 (double_value), fixed64
    m.extend_from_slice(&21.5f64.to_le_bytes());
    let mut spb = vec![0x08, 0xe8, 0x07]; // timestamp 1000
    spb.extend_from_slice(&m);
    spb.extend_from_slice(&[0x18, 0x03]); // seq 3
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("spb");
    std::fs::write(&file, &spb).unwrap();
    let topic = "spBv1.0/g/NDATA/n";
    let decode = |broker: &Mosquitto, topic: &str, send: &dyn Fn()| -> Value {
        let mut sub = mqtk_sub_ready(
            &broker.host_args(),
            &["-t", topic, "--decode", "sparkplug", "--json", "-C", "1"],
        );
        send();
        assert!(sub.expect_exit(WAIT).success(), "{}", sub.stderr());
        parse(&sub.rest_of_lines(WAIT).join(""))
    };
    let first = decode(&broker, topic, &|| {
        publish(broker.port(), &["-t", topic, "-f", file.to_str().unwrap()])
    });
    let copy = "spBv1.0/g/NDATA/copy";
    let mut record = first.clone();
    record["topic"] = json!(copy);
    let second = decode(&broker, copy, &|| {
        ok(&mqtk_pub_stdin(
            &broker,
            &["--jsonl", "--encode", "sparkplug"],
            format!("{record}\n").as_bytes(),
        ));
    });
    let (mut a, mut b) = (first["decoded"].clone(), second["decoded"].clone());
    for v in [&mut a, &mut b] {
        v.as_object_mut().unwrap().remove("topic");
    }
    assert_eq!(a, b, "first {first}\nsecond {second}");
    assert_eq!(a["metrics"][0]["value"], 21.5, "{a}");
}
