//! Payload codecs end to end, against mosquitto, with fixtures made by independent
//! implementations (Python's cbor2 and msgpack, tests/py/codec_fixtures.py; Python's
//! protobuf, tests/py/protobuf_fixtures.py):
//! `mqtk sub --decode` shows their payloads as the documented JSON, `mqtk pub
//! --encode` sends what they decode back to the input, per-topic rules pick the codec,
//! malformed payloads are printed raw (one warning per topic, counted, none dropped),
//! and what `sub --decode` prints, `pub --encode` turns back into the same bytes.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::peers::{message, publish, subscriber};
use support::{child_output, mqtk, mqtk_sub_ready, ok, output, Mosquitto};

const WAIT: Duration = Duration::from_secs(20);

/// Runs tests/py/codec_fixtures.py with `args`; returns its stdout, trimmed.
fn fixtures(args: &[&str]) -> String {
    let script = format!("{}/tests/py/codec_fixtures.py", env!("CARGO_MANIFEST_DIR"));
    let out = output(Command::new("python3").arg(script).args(args));
    assert!(
        out.status.success(),
        "codec_fixtures.py {args:?} failed (cbor2 and msgpack come from pip: run \
         scripts/test):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `line` parsed as JSON (a test failure naming the line when it is not).
pub(super) fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

/// `mqtk pub ARGS` with `stdin` on its standard input, run to its exit.
pub(super) fn mqtk_pub_stdin(
    broker: &Mosquitto,
    args: &[&str],
    stdin: &[u8],
) -> std::process::Output {
    let mut child = mqtk()
        .arg("pub")
        .args(broker.host_args())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mqtk runs");
    child
        .stdin
        .take()
        .expect("stdin was piped")
        .write_all(stdin)
        .expect("mqtk reads its stdin");
    child_output(child, WAIT)
}

#[test]
fn sub_decode_shows_cbor2_and_msgpack_fixtures_as_documented_json() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    for kind in ["cbor", "msgpack"] {
        let path = dir.path().join(kind);
        let expected = json(&fixtures(&["write", kind, path.to_str().unwrap()]));
        let topic = format!("fx/{kind}");
        let mut sub = mqtk_sub_ready(
            &broker.host_args(),
            &["-t", &topic, "--decode", kind, "--json", "-C", "1"],
        );
        publish(broker.port(), &["-t", &topic, "-f", path.to_str().unwrap()]);
        let line = json(&sub.expect_line(|l| l.starts_with('{'), WAIT));
        assert!(sub.expect_exit(WAIT).success(), "{}", sub.stderr());
        assert_eq!(line["decoded_as"], kind);
        assert_eq!(line["decoded"], expected, "{kind}: {line}");
        // The raw payload is still there, byte for byte.
        let raw = std::fs::read(&path).unwrap();
        assert_eq!(line["payload_bytes"], raw.len());
        assert_eq!(line["payload_encoding"], "base64");
        assert!(!sub.stderr().contains("warning"), "{}", sub.stderr());
    }
}

#[test]
fn pub_encode_sends_what_cbor2_and_msgpack_decode_back_to_the_input() {
    let broker = Mosquitto::start();
    let input =
        r#"{"name":"t°","n":-300,"big":18446744073709551615,"f":21.5,"l":[true,null,{"x":"y"}]}"#;
    for kind in ["cbor", "msgpack"] {
        let topic = format!("enc/{kind}");
        let mut sub = subscriber(broker.port(), &["-t", &topic, "-C", "1", "-F", "%x"]);
        ok(&output(
            mqtk()
                .arg("pub")
                .args(broker.host_args())
                .args(["-t", &topic, "--encode", kind, "-m", input]),
        ));
        let hex = message(&mut sub);
        let decoded = json(&fixtures(&["decode", kind, &hex]));
        assert_eq!(decoded, json(input), "{kind}: {hex}");
    }
}

#[test]
fn pub_encode_hex_and_base64_publish_the_bytes_they_stand_for() {
    let broker = Mosquitto::start();
    let mut sub = subscriber(broker.port(), &["-t", "enc/t", "-C", "2", "-F", "%x"]);
    for (codec, text) in [("hex", "DE ad\nbe ef 00"), ("base64", "3q2+7wA=")] {
        ok(&output(
            mqtk()
                .arg("pub")
                .args(broker.host_args())
                .args(["-t", "enc/t", "--encode", codec, "-m", text]),
        ));
    }
    assert_eq!(message(&mut sub), "deadbeef00");
    assert_eq!(message(&mut sub), "deadbeef00");
}

#[test]
fn per_topic_rules_pick_the_codec_and_bad_payloads_are_printed_raw_never_dropped() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let cbor = dir.path().join("cbor");
    let msgpack = dir.path().join("msgpack");
    fixtures(&["roundtrip", "cbor", cbor.to_str().unwrap()]);
    fixtures(&["roundtrip", "msgpack", msgpack.to_str().unwrap()]);
    let binary = dir.path().join("binary");
    std::fs::write(&binary, [0xff, 0x00, 0x81]).unwrap();
    let mut sub = mqtk_sub_ready(
        &broker.host_args(),
        &[
            "-t",
            "r/#",
            "-v",
            "-C",
            "7",
            "--decode",
            "r/c/#=cbor",
            "--decode",
            "r/m=msgpack",
            "--decode",
            "auto",
        ],
    );
    let sends: [(&str, &[&str]); 7] = [
        ("r/c/1", &["-f", cbor.to_str().unwrap()]),
        ("r/c/1", &["-m", "not cbor"]),
        // 0x1c: additional information 28 is reserved (RFC 8949 §3).
        ("r/c/1", &["-m", "\u{1c}"]),
        ("r/m", &["-f", msgpack.to_str().unwrap()]),
        // 0x68 is the whole MessagePack object 104: the "i" after it is left over.
        ("r/m", &["-m", "hi"]),
        ("r/other", &["-m", "{ \"a\" : 1 }"]),
        ("r/other", &["-f", binary.to_str().unwrap()]),
    ];
    for (topic, payload) in sends {
        let mut args = vec!["-t", topic];
        args.extend_from_slice(payload);
        publish(broker.port(), &args);
    }
    assert!(sub.expect_exit(WAIT).success(), "{}", sub.stderr());
    let lines = sub.rest_of_lines(WAIT);
    // cbor2's canonical form sorts the keys, shorter first (RFC 7049 §3.9); the map
    // keeps the order of the bytes.
    let canonical = r#"{"id":42,"on":false,"neg":-300,"tags":["a","b"],"temp":21.5}"#;
    let roundtrip = r#"{"id":42,"temp":21.5,"tags":["a","b"],"on":false,"neg":-300}"#;
    let expected = vec![
        format!("r/c/1 {canonical}"),
        "r/c/1 not cbor".to_string(),
        "r/c/1 \u{1c}".to_string(),
        format!("r/m {roundtrip}"),
        "r/m hi".to_string(),
        r#"r/other {"a":1}"#.to_string(),
        "r/other /wCB".to_string(),
    ];
    assert_eq!(lines, expected);
    let stderr = sub.stderr();
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 3, "{stderr}");
    assert!(
        warnings[0].starts_with("mqtk: warning: payload on 'r/c/1' is not CBOR: "),
        "{stderr}"
    );
    assert!(
        warnings[1].starts_with("mqtk: warning: payload on 'r/m' is not MessagePack: "),
        "{stderr}"
    );
    assert_eq!(
        warnings[2],
        "mqtk: warning: 3 payloads on 2 topics could not be decoded and were printed raw"
    );
}

#[test]
fn json_output_keeps_the_raw_payload_and_says_why_a_payload_did_not_decode() {
    let broker = Mosquitto::start();
    let mut sub = mqtk_sub_ready(
        &broker.host_args(),
        &["-t", "j/#", "--decode", "msgpack", "--json", "-C", "1"],
    );
    publish(broker.port(), &["-t", "j/1", "-m", "hi"]);
    let line = json(&sub.expect_line(|l| l.starts_with('{'), WAIT));
    assert_eq!(line["payload"], "hi");
    assert!(line.get("decoded").is_none(), "{line}");
    assert_eq!(
        line["decode_error"],
        "not MessagePack: 1 bytes after the end of the object"
    );
    assert!(sub.expect_exit(WAIT).success());
}

#[test]
fn what_sub_decode_prints_pub_encode_turns_back_into_the_same_bytes() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("binary");
    std::fs::write(&binary, [0x00, 0x01, 0x0a, 0xfe, 0xff, b'\n']).unwrap();
    let cbor = dir.path().join("cbor");
    fixtures(&["roundtrip", "cbor", cbor.to_str().unwrap()]);
    let msgpack = dir.path().join("msgpack");
    fixtures(&["roundtrip", "msgpack", msgpack.to_str().unwrap()]);
    for (codec, file) in [
        ("hex", &binary),
        ("base64", &binary),
        ("cbor", &cbor),
        ("msgpack", &msgpack),
    ] {
        let original = std::fs::read(file).unwrap();
        let topic = format!("rt/{codec}");
        let mut sub = mqtk_sub_ready(
            &broker.host_args(),
            &["-t", &topic, "--decode", codec, "-C", "1"],
        );
        publish(broker.port(), &["-t", &topic, "-f", file.to_str().unwrap()]);
        assert!(sub.expect_exit(WAIT).success(), "{}", sub.stderr());
        let printed = sub.rest_of_lines(WAIT).join("\n") + "\n";
        let copy = format!("rt/{codec}/copy");
        let mut check = subscriber(broker.port(), &["-t", &copy, "-C", "1", "-F", "%x"]);
        let out = mqtk_pub_stdin(
            &broker,
            &["-t", &copy, "-l", "--encode", codec],
            printed.as_bytes(),
        );
        ok(&out);
        let hex: String = original.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(message(&mut check), hex, "{codec}: printed {printed:?}");
    }
}

#[test]
fn pub_encode_names_the_bad_line_skips_it_with_keep_going_and_exits_1() {
    let broker = Mosquitto::start();
    let mut sub = subscriber(broker.port(), &["-t", "bad/l", "-C", "2", "-F", "%x"]);
    let out = mqtk_pub_stdin(
        &broker,
        &[
            "-t",
            "bad/l",
            "-q",
            "1",
            "-l",
            "--encode",
            "cbor",
            "--keep-going",
        ],
        b"1\n{\"a\":\n[2]\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(message(&mut sub), "01");
    assert_eq!(message(&mut sub), "8102");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        "mqtk: warning: line 2: --encode cbor: the payload is not JSON: EOF while parsing \
         a value at line 1 column 5; skipped\n\
         mqtk: 1 bad line of stdin skipped (the warnings above name them); 2 messages \
         published\n"
    );
    let out = output(
        mqtk()
            .arg("pub")
            .args(broker.host_args())
            .args(["-t", "bad/m", "--encode", "hex", "-m", "abc"]),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "mqtk: --encode hex: the -m payload is not hex: odd number of hex digits (each byte \
         takes two)\n"
    );
}

#[test]
fn bad_codec_names_and_rules_are_refused_before_connecting() {
    let cases: [(&[&str], &str); 3] = [
        (
            &["sub", "-t", "a", "--decode", "yaml"],
            "--decode: unknown codec 'yaml'",
        ),
        (
            &["sub", "-t", "a", "--decode", "hex", "--decode", "cbor"],
            "--decode: two codecs for all topics",
        ),
        (
            &["pub", "-t", "a", "--encode", "auto", "-m", "x"],
            "auto only decodes",
        ),
    ];
    for (args, expected) in cases {
        // Port 9 (discard) on 127.0.0.1: nothing listens, and nothing should be dialed.
        let out = output(mqtk().args(args).args(["-h", "127.0.0.1", "-p", "9"]));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("cannot connect"), "{args:?}: {stderr}");
    }
}

const SENSOR_PROTO: &str = r#"syntax = "proto3";
package demo;
import "common.proto";
enum Kind { KIND_UNKNOWN = 0; TEMPERATURE = 1; HUMIDITY = 2; }
message Reading {
  string sensor_id = 1;
  int64 timestamp_ms = 2;
  double value = 3;
  Kind kind = 4;
  repeated uint32 samples = 5;
  bytes raw = 6;
  common.Point where = 7;
  uint64 counter = 8;
}
"#;
const COMMON_PROTO: &str =
    "syntax = \"proto3\";\npackage common;\nmessage Point { double x = 1; double y = 2; }\n";

/// sensor.proto in one directory, the common.proto it imports in another; returns the
/// directory and the `--proto … --proto-path …` flags.
fn protos() -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("imports")).unwrap();
    std::fs::write(dir.path().join("sensor.proto"), SENSOR_PROTO).unwrap();
    std::fs::write(dir.path().join("imports/common.proto"), COMMON_PROTO).unwrap();
    let flags = vec![
        "--proto".to_string(),
        dir.path().join("sensor.proto").display().to_string(),
        "--proto-path".to_string(),
        dir.path().join("imports").display().to_string(),
    ];
    (dir, flags)
}

/// Runs tests/py/protobuf_fixtures.py with `args`; returns its stdout, trimmed.
fn protobuf_fixtures(args: &[&str]) -> String {
    let script = format!(
        "{}/tests/py/protobuf_fixtures.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = output(Command::new("python3").arg(script).args(args));
    assert!(
        out.status.success(),
        "protobuf_fixtures.py {args:?} failed (protobuf comes from pip: run scripts/test):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn sub_decode_protobuf_shows_a_python_protobuf_message_in_the_json_mapping() {
    let broker = Mosquitto::start();
    let (dir, flags) = protos();
    let payload = dir.path().join("reading.bin");
    let expected = json(&protobuf_fixtures(&["encode", payload.to_str().unwrap()]));
    let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
    args.extend([
        "-t",
        "pb/#",
        "--message-type",
        "demo.Reading",
        "--decode",
        "protobuf",
    ]);
    args.extend(["--json", "-C", "2"]);
    let mut sub = mqtk_sub_ready(&broker.host_args(), &args);
    publish(
        broker.port(),
        &["-t", "pb/1", "-f", payload.to_str().unwrap()],
    );
    // Not a message: field 15 with wire type 7, which does not exist.
    publish(broker.port(), &["-t", "pb/1", "-m", "\u{7f}"]);
    let line = json(&sub.expect_line(|l| l.starts_with('{'), WAIT));
    assert_eq!(line["decoded_as"], "protobuf");
    // 64-bit integers are strings, enums names, bytes base64, field names the .proto's.
    assert_eq!(line["decoded"], expected, "{line}");
    assert_eq!(line["decoded"]["timestamp_ms"], "1700000000123");
    let bad = json(&sub.expect_line(|l| l.starts_with('{'), WAIT));
    assert_eq!(bad["payload"], "\u{7f}");
    assert!(
        bad["decode_error"]
            .as_str()
            .unwrap()
            .starts_with("not a protobuf demo.Reading: "),
        "{bad}"
    );
    assert!(sub.expect_exit(WAIT).success(), "{}", sub.stderr());
}

#[test]
fn pub_encode_protobuf_sends_what_python_protobuf_reads_back_and_round_trips_bytes() {
    let broker = Mosquitto::start();
    let (dir, flags) = protos();
    let input = r#"{"sensor_id":"s9","timestamp_ms":"-5","value":0.5,"kind":"TEMPERATURE","samples":[7],"raw":"/w==","where":{"x":3.0},"counter":"42"}"#;
    let mut check = subscriber(broker.port(), &["-t", "pbe/1", "-C", "2", "-F", "%x"]);
    let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
    args.extend([
        "-t",
        "pbe/1",
        "--encode",
        "protobuf:demo.Reading",
        "-m",
        input,
    ]);
    ok(&output(
        mqtk().arg("pub").args(broker.host_args()).args(&args),
    ));
    let hex = message(&mut check);
    assert_eq!(json(&protobuf_fixtures(&["decode", &hex])), json(input));

    // Python's bytes, decoded by sub and encoded again by pub -l: the same bytes.
    let payload = dir.path().join("reading.bin");
    protobuf_fixtures(&["encode", payload.to_str().unwrap()]);
    let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
    args.extend([
        "-t",
        "pbr/1",
        "--decode",
        "protobuf:demo.Reading",
        "-C",
        "1",
    ]);
    let mut sub = mqtk_sub_ready(&broker.host_args(), &args);
    publish(
        broker.port(),
        &["-t", "pbr/1", "-f", payload.to_str().unwrap()],
    );
    assert!(sub.expect_exit(WAIT).success(), "{}", sub.stderr());
    let printed = sub.rest_of_lines(WAIT).join("\n") + "\n";
    let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
    args.extend(["-t", "pbe/1", "-l", "--encode", "protobuf:demo.Reading"]);
    ok(&mqtk_pub_stdin(&broker, &args, printed.as_bytes()));
    let original: String = std::fs::read(&payload)
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(message(&mut check), original, "printed {printed:?}");
}

#[test]
fn protobuf_schema_errors_name_the_file_line_and_the_types_there_are() {
    let (dir, flags) = protos();
    let bad = dir.path().join("bad.proto");
    std::fs::write(&bad, "syntax = \"proto3\";\nmessage A { int32 x = 1 }\n").unwrap();
    let run = |args: &[&str]| {
        let out = output(mqtk().args(args).args(["-h", "127.0.0.1", "-p", "9"]));
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut args = vec![
        "pub",
        "-t",
        "a",
        "-m",
        "{}",
        "--encode",
        "protobuf:demo.Nope",
    ];
    args.extend(&flags);
    assert_eq!(
        run(&args),
        "mqtk: --encode: no message type 'demo.Nope' in the .proto files (they define: \
         common.Point, demo.Reading)\n"
    );
    assert_eq!(
        run(&[
            "sub",
            "-t",
            "a",
            "--decode",
            "protobuf:A",
            "--proto",
            bad.to_str().unwrap()
        ]),
        "mqtk: --proto: bad.proto:2:25: expected ';' or '[', but found '}'\n"
    );
    let mut args = vec!["sub", "-t", "a", "--decode", "protobuf"];
    args.extend(&flags);
    assert!(run(&args).contains("give --message-type pkg.Type"));
    let mut args = vec!["pub", "-t", "a", "--encode", "protobuf:demo.Reading"];
    args.extend(&flags);
    args.extend(["-m", r#"{"where":{"x":"no"}}"#]);
    assert_eq!(
        run(&args),
        "mqtk: --encode protobuf:demo.Reading: the -m payload is not a protobuf \
         demo.Reading in JSON: invalid float literal at line 1 column 18\n"
    );
}
