//! `mqtk rr` against the real mosquitto broker: on MQTT 5 with a paho-mqtt responder
//! (tests/py/rr_responder.py) that answers with wrong correlation data first, so only
//! the matching response may be printed; on MQTT 3.1.1 with a responder made of
//! mosquitto_sub and mosquitto_pub; exit status 27 when no response comes in time.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::peers::{message, publish, subscriber};
use support::{mqtk, output, spawn_lines, text, Mosquitto, Running};

const WAIT: Duration = Duration::from_secs(20);

/// The paho responder on `request_topic`, returned once subscribed.
fn paho_responder(broker: &Mosquitto, request_topic: &str) -> Running {
    support::python3_paho();
    let script = format!("{}/tests/py/rr_responder.py", env!("CARGO_MANIFEST_DIR"));
    let mut responder = spawn_lines(
        Command::new("python3")
            .arg(script)
            .arg(broker.port().to_string())
            .arg(request_topic),
    );
    responder.expect_line(|l| l == "ready", WAIT);
    responder
}

fn rr(broker: &Mosquitto, args: &[&str]) -> Command {
    let mut cmd = mqtk();
    cmd.arg("rr").args(broker.host_args()).args(args);
    cmd
}

#[test]
fn rr_v5_prints_only_the_response_with_its_correlation_data() {
    let broker = Mosquitto::start();
    let mut responder = paho_responder(&broker, "svc/echo");
    let out = output(
        rr(&broker, &["-t", "svc/echo", "-e", "reply/1", "-m", "hi"]).args([
            "-q",
            "1",
            "-v",
            "--latency",
            "-W",
            "10",
        ]),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "reply/1 re:hi\n");
    let stderr = text(&out.stderr);
    let latency = stderr
        .strip_prefix("mqtk: latency: ")
        .and_then(|rest| rest.strip_suffix(" ms\n"))
        .unwrap_or_else(|| panic!("no latency line in {stderr:?}"));
    assert!(latency.parse::<f64>().is_ok_and(|ms| ms > 0.0), "{latency}");
    // The request carried a random correlation data of 32 hex digits.
    let request = responder.expect_line(|l| l.starts_with("request "), WAIT);
    let data = request.strip_prefix("request hi ").unwrap_or_default();
    assert!(
        data.len() == 32 && data.bytes().all(|b| b.is_ascii_hexdigit()),
        "{request}"
    );
}

#[test]
fn rr_v5_sends_the_given_correlation_data_and_prints_json_as_sub() {
    let broker = Mosquitto::start();
    let mut responder = paho_responder(&broker, "svc/json");
    let out = output(
        rr(&broker, &["-t", "svc/json", "-e", "reply/j", "-m", "x"]).args([
            "--correlation-data",
            "req-42",
            "--json",
            "-W",
            "10",
        ]),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: Value = serde_json::from_str(text(&out.stdout).trim()).expect("one JSON line");
    assert_eq!(json["topic"], "reply/j");
    assert_eq!(json["payload"], "re:x");
    assert_eq!(json["properties"]["correlation_data"], "req-42");
    responder.expect_line(|l| l == "request x req-42", WAIT);
}

#[test]
fn rr_v311_takes_the_first_message_on_the_response_topic() {
    let broker = Mosquitto::start();
    // The responder: mosquitto_sub receives the request, mosquitto_pub answers it.
    let mut requests = subscriber(broker.port(), &["-V", "311", "-t", "dev/get", "-q", "1"]);
    let mut requester = spawn_lines(
        rr(
            &broker,
            &[
                "-V",
                "311",
                "-t",
                "dev/get",
                "-e",
                "dev/state",
                "-m",
                "ping",
            ],
        )
        .args(["-q", "1", "-C", "2", "-W", "10"]),
    );
    assert_eq!(message(&mut requests), "ping");
    publish(
        broker.port(),
        &["-V", "311", "-t", "dev/state", "-m", "pong 1"],
    );
    publish(
        broker.port(),
        &["-V", "311", "-t", "dev/state", "-m", "pong 2"],
    );
    let status = requester.expect_exit(WAIT);
    assert!(status.success(), "{}", requester.stderr());
    assert_eq!(requester.rest_of_lines(WAIT), vec!["pong 1", "pong 2"]);
    assert_eq!(requester.stderr(), "");
}

#[test]
fn rr_exits_27_when_no_response_arrives_in_time_on_both_versions() {
    let broker = Mosquitto::start();
    for version in ["5", "311"] {
        let out = output(
            rr(&broker, &["-V", version, "-t", "nobody", "-e", "r/x", "-n"]).args(["-W", "0.5"]),
        );
        assert_eq!(
            out.status.code(),
            Some(27),
            "-V {version}: {}",
            text(&out.stderr)
        );
        assert_eq!(
            text(&out.stderr),
            "mqtk: timed out after 0.5 s waiting for a response on r/x\n"
        );
        assert!(out.stdout.is_empty());
    }
    let out = output(
        rr(&broker, &["-V", "311", "-t", "nobody", "-e", "r/x", "-n"]).args([
            "--correlation-data",
            "c",
            "-W",
            "0.5",
        ]),
    );
    assert_eq!(out.status.code(), Some(27));
    assert_eq!(
        text(&out.stderr),
        "mqtk: warning: --correlation-data is not sent: MQTT 3.1.1 has no properties\n\
         mqtk: timed out after 0.5 s waiting for a response on r/x\n"
    );
}

#[test]
fn rr_refuses_a_filter_as_response_topic_and_the_request_topic_on_311() {
    let out = output(mqtk().args(["rr", "-p", "1", "-t", "a", "-e", "r/#", "-m", "x"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("mqtk: -e r/#: "),
        "{}",
        text(&out.stderr)
    );
    let broker = Mosquitto::start();
    let out = output(&mut rr(
        &broker,
        &["-V", "311", "-t", "same", "-e", "same", "-n"],
    ));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "mqtk: -e same: on MQTT 3.1.1 the response topic must differ from -t\n"
    );
}

#[test]
fn rr_v5_may_use_its_request_topic_as_response_topic() {
    // No Local (MQTT 5 §3.8.3.1) keeps the request from answering itself.
    let broker = Mosquitto::start();
    let mut requester = spawn_lines(rr(&broker, &["-t", "both", "-e", "both", "-m", "q"]).args([
        "--correlation-data",
        "c1",
        "-W",
        "10",
        "-d",
    ]));
    requester.expect_stderr(|e| e.contains("received SUBACK"), WAIT);
    publish(
        broker.port(),
        &[
            "-V",
            "5",
            "-t",
            "both",
            "-m",
            "answer",
            "-D",
            "publish",
            "correlation-data",
            "c1",
        ],
    );
    assert!(
        requester.expect_exit(WAIT).success(),
        "{}",
        requester.stderr()
    );
    assert_eq!(requester.rest_of_lines(WAIT), vec!["answer"]);
}

#[test]
fn rr_encodes_the_request_and_decodes_the_response_as_pub_and_sub_do() {
    let broker = Mosquitto::start();
    let mut requests = subscriber(
        broker.port(),
        &["-V", "311", "-t", "dev/cmd", "-q", "1", "-F", "%x"],
    );
    let mut requester = spawn_lines(
        rr(
            &broker,
            &["-V", "311", "-t", "dev/cmd", "-e", "dev/reply", "-q", "1"],
        )
        .args(["--encode", "cbor", "-m", r#"{"get":"t"}"#])
        .args(["--decode", "dev/#=cbor", "--json", "-W", "10"]),
    );
    // {"get": "t"} in CBOR, as mqtk pub --encode cbor sends it.
    assert_eq!(message(&mut requests), "a1636765746174");
    let dir = tempfile::tempdir().unwrap();
    let reply = dir.path().join("reply.cbor");
    // {"t": 21.5} in CBOR with a half-precision float.
    std::fs::write(&reply, [0xa1, 0x61, 0x74, 0xf9, 0x4d, 0x60]).unwrap();
    publish(
        broker.port(),
        &[
            "-V",
            "311",
            "-t",
            "dev/reply",
            "-f",
            reply.to_str().unwrap(),
        ],
    );
    assert!(
        requester.expect_exit(WAIT).success(),
        "{}",
        requester.stderr()
    );
    let lines = requester.rest_of_lines(WAIT);
    let json: Value = serde_json::from_str(&lines.join("")).expect("one JSON line");
    assert_eq!(json["decoded_as"], "cbor", "{json}");
    assert_eq!(json["decoded"], serde_json::json!({"t": 21.5}), "{json}");
    assert_eq!(json["payload_encoding"], "base64", "{json}");
    // A response that does not decode is printed raw, with a warning.
    let mut requester = spawn_lines(
        rr(
            &broker,
            &["-V", "311", "-t", "dev/cmd", "-e", "dev/reply", "-n"],
        )
        .args(["--decode", "cbor", "-W", "10"]),
    );
    assert_eq!(message(&mut requests), "");
    publish(
        broker.port(),
        &["-V", "311", "-t", "dev/reply", "-m", "\u{ff}"],
    );
    assert!(
        requester.expect_exit(WAIT).success(),
        "{}",
        requester.stderr()
    );
    assert_eq!(requester.rest_of_lines(WAIT), vec!["\u{ff}"]);
    assert!(
        requester
            .stderr()
            .contains("warning: response on 'dev/reply' is"),
        "{}",
        requester.stderr()
    );
}
