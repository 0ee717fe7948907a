//! `mqtk serve`'s MQTT 5 features, with mosquitto_pub/sub `-V 5` where they can express
//! the case, paho-mqtt for request/response, and raw sockets with exact bytes for flow
//! control, packet sizes, topic aliases, subscription options and will delay.

use std::io::Read;
use std::process::Command;
use std::time::{Duration, Instant};

use support::peers::{message, publish, sub_command, subscriber, T};
use support::raw::{
    connack_props, connect_v5, frame, parse_publish_v5, publish_packet, put_str, subscribe, Prop,
    Raw,
};
use support::{output, python3_paho, Serve};

fn prop(props: &[(u8, Prop)], id: u8) -> Option<Prop> {
    props.iter().find(|(i, _)| *i == id).map(|(_, v)| v.clone())
}

/// Asserts that nothing arrives on `raw` for `quiet` (a bounded negative check).
fn expect_nothing(raw: &mut Raw, quiet: Duration) {
    raw.stream.set_read_timeout(Some(quiet)).unwrap();
    let mut buf = [0u8; 64];
    let got = raw.stream.read(&mut buf);
    if let Ok(n) = got {
        panic!("expected nothing, got {n} bytes: {:02X?}", &buf[..n]);
    }
    raw.stream.set_read_timeout(Some(T)).unwrap();
}

#[test]
fn connack_advertises_what_the_server_supports_and_assigns_a_client_id() {
    let serve = Serve::start(&["--max-keepalive", "10", "--max-packet-size", "5000"]);
    let mut raw = Raw::connect(serve.port());
    // Empty client id, keep alive 60, Request Response Information (0x19) = 1.
    raw.send(&connect_v5("", 0x02, 60, &[0x19, 0x01]));
    let connack = raw.read_packet();
    assert_eq!(&connack[2..4], &[0x00, 0x00], "{connack:02X?}");
    let props = connack_props(&connack);
    assert_eq!(prop(&props, 0x21), Some(Prop::Num(20)), "receive maximum");
    assert_eq!(prop(&props, 0x25), Some(Prop::Num(1)), "retain available");
    assert_eq!(
        prop(&props, 0x22),
        Some(Prop::Num(10)),
        "topic alias maximum"
    );
    assert_eq!(
        prop(&props, 0x27),
        Some(Prop::Num(5000)),
        "maximum packet size"
    );
    assert_eq!(
        prop(&props, 0x28),
        Some(Prop::Num(1)),
        "wildcard subscriptions"
    );
    assert_eq!(
        prop(&props, 0x29),
        Some(Prop::Num(1)),
        "subscription identifiers"
    );
    assert_eq!(
        prop(&props, 0x2A),
        Some(Prop::Num(1)),
        "shared subscriptions"
    );
    assert_eq!(prop(&props, 0x13), Some(Prop::Num(10)), "server keep alive");
    assert_eq!(
        prop(&props, 0x24),
        None,
        "maximum QoS is 2, so absent (MQTT 5.0 §3.2.2.3.4)"
    );
    let Some(Prop::Str(assigned)) = prop(&props, 0x12) else {
        panic!("no assigned client id: {props:?}")
    };
    assert!(!assigned.is_empty());
    let Some(Prop::Str(info)) = prop(&props, 0x1A) else {
        panic!("no response information: {props:?}")
    };
    assert!(info.contains(&assigned), "{info}");
    // A client that sends its own id gets none assigned.
    let (_, connack) = Raw::v5(serve.port(), "named", 60);
    assert_eq!(prop(&connack_props(&connack), 0x12), None);
}

#[test]
fn publish_properties_are_forwarded_unchanged_with_the_subscription_identifier() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    let mut sub = subscriber(
        port,
        &[
            "-V",
            "5",
            "-t",
            "p/#",
            "-D",
            "subscribe",
            "subscription-identifier",
            "7",
            "-F",
            "C=%C D=%D F=%F P=%P R=%R S=%S t=%t p=%p",
        ],
    );
    publish(
        port,
        &[
            "-V",
            "5",
            "-t",
            "p/x",
            "-m",
            "hi",
            "-D",
            "publish",
            "content-type",
            "text/x",
            "-D",
            "publish",
            "correlation-data",
            "abc",
            "-D",
            "publish",
            "payload-format-indicator",
            "1",
            "-D",
            "publish",
            "user-property",
            "k",
            "v",
            "-D",
            "publish",
            "user-property",
            "k2",
            "v2",
            "-D",
            "publish",
            "response-topic",
            "resp/t",
        ],
    );
    assert_eq!(
        message(&mut sub),
        "C=text/x D=abc F=1 P=k:v k2:v2 R=resp/t S=7 t=p/x p=hi"
    );
}

#[test]
fn message_expiry_is_decremented_while_waiting_and_expired_retained_messages_vanish() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    publish(
        port,
        &[
            "-V",
            "5",
            "-t",
            "exp/long",
            "-m",
            "l",
            "-r",
            "-D",
            "publish",
            "message-expiry-interval",
            "100",
        ],
    );
    publish(
        port,
        &[
            "-V",
            "5",
            "-t",
            "exp/short",
            "-m",
            "s",
            "-r",
            "-D",
            "publish",
            "message-expiry-interval",
            "1",
        ],
    );
    let read = |topic: &str| {
        let out = output(&mut sub_command(
            port,
            &["-V", "5", "-t", topic, "-C", "1", "-W", "1", "-F", "%E"],
        ));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| support::peers::is_message(l))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let started = Instant::now();
    // The short one is gone within a few seconds, never before its second is up.
    assert!(support::wait_until(T, || read("exp/short").is_empty()));
    assert!(started.elapsed() >= Duration::from_millis(900));
    // The long one is still there, with less than 100 s left.
    assert!(support::wait_until(T, || read("exp/long")
        .first()
        .is_some_and(|e| e.parse::<u32>().is_ok_and(|e| e < 100))));
}

#[test]
fn the_clients_receive_maximum_limits_messages_in_flight() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    let mut raw = Raw::connect(port);
    raw.send(&connect_v5("rm1", 0x02, 60, &[0x21, 0x00, 0x01]));
    raw.read_packet();
    raw.send(&subscribe(1, "rm/t", 0x01, true));
    raw.read_packet();
    for i in 0..3 {
        publish(port, &["-q", "1", "-t", "rm/t", "-m", &i.to_string()]);
    }
    for i in 0..3u8 {
        let (first, _, id, _, payload) = parse_publish_v5(&raw.read_packet());
        assert_eq!(first & 0x06, 0x02, "QoS 1");
        assert_eq!(payload, vec![b'0' + i]);
        expect_nothing(&mut raw, Duration::from_millis(300));
        raw.send(&[0x40, 0x02, (id >> 8) as u8, id as u8]);
    }
}

#[test]
fn a_message_larger_than_a_clients_maximum_packet_size_is_dropped_for_that_client_only() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    let mut small = Raw::connect(port);
    small.send(&connect_v5(
        "small",
        0x02,
        60,
        &[0x27, 0x00, 0x00, 0x00, 0x40],
    ));
    small.read_packet();
    small.send(&subscribe(1, "size/t", 0x00, true));
    small.read_packet();
    let mut other = subscriber(port, &["-V", "5", "-t", "size/t", "-F", "%l"]);
    publish(port, &["-t", "size/t", "-m", &"x".repeat(200)]);
    publish(port, &["-t", "size/t", "-m", "tiny"]);
    assert_eq!(message(&mut other), "200");
    assert_eq!(message(&mut other), "4");
    let (_, topic, _, _, payload) = parse_publish_v5(&small.read_packet());
    assert_eq!(
        (topic.as_str(), payload.as_slice()),
        ("size/t", &b"tiny"[..]),
        "the big one was skipped"
    );
}

#[test]
fn topic_aliases_work_in_both_directions() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    // Outgoing: the client allows 5 aliases.
    let mut raw = Raw::connect(port);
    raw.send(&connect_v5("aliased", 0x02, 60, &[0x22, 0x00, 0x05]));
    raw.read_packet();
    raw.send(&subscribe(1, "al/t", 0x00, true));
    raw.read_packet();
    publish(port, &["-t", "al/t", "-m", "1"]);
    publish(port, &["-t", "al/t", "-m", "2"]);
    let (_, topic, _, props, _) = parse_publish_v5(&raw.read_packet());
    assert_eq!(topic, "al/t");
    assert_eq!(props, vec![(0x23, Prop::Num(1))]);
    let (_, topic, _, props, payload) = parse_publish_v5(&raw.read_packet());
    assert_eq!(topic, "", "the alias stands for the topic");
    assert_eq!(props, vec![(0x23, Prop::Num(1))]);
    assert_eq!(payload, b"2");
    // Incoming: set alias 3 for in/t, then use it alone.
    let mut sub = subscriber(port, &["-V", "5", "-t", "in/t", "-v"]);
    let (mut publisher, _) = Raw::v5(port, "alias-pub", 60);
    let mut body = Vec::new();
    put_str(&mut body, b"in/t");
    body.extend_from_slice(&[0x03, 0x23, 0x00, 0x03, b'a']);
    publisher.send(&frame(0x30, &body));
    let mut body = Vec::new();
    put_str(&mut body, b"");
    body.extend_from_slice(&[0x03, 0x23, 0x00, 0x03, b'b']);
    publisher.send(&frame(0x30, &body));
    assert_eq!(message(&mut sub), "in/t a");
    assert_eq!(message(&mut sub), "in/t b");
}

#[test]
fn no_local_retain_as_published_and_retain_handling() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    publish(port, &["-t", "rh/t", "-m", "kept", "-r"]);
    let (mut raw, _) = Raw::v5(port, "options", 60);
    // Retain handling 0: retained sent on subscribe.
    raw.send(&subscribe(1, "rh/t", 0x00, true));
    raw.expect(&[0x90, 0x04, 0x00, 0x01, 0x00, 0x00]);
    let (first, topic, ..) = parse_publish_v5(&raw.read_packet());
    assert_eq!((first & 0x01, topic.as_str()), (1, "rh/t"));
    // Retain handling 1 for an existing subscription: nothing; 2: nothing.
    raw.send(&subscribe(2, "rh/t", 0x10, true));
    raw.expect(&[0x90, 0x04, 0x00, 0x02, 0x00, 0x00]);
    raw.send(&subscribe(3, "rh/+", 0x20, true));
    raw.expect(&[0x90, 0x04, 0x00, 0x03, 0x00, 0x00]);
    expect_nothing(&mut raw, Duration::from_millis(300));
    // Retain handling 1 for a new subscription: sent.
    raw.send(&subscribe(4, "rh/#", 0x10, true));
    raw.expect(&[0x90, 0x04, 0x00, 0x04, 0x00, 0x00]);
    let (first, ..) = parse_publish_v5(&raw.read_packet());
    assert_eq!(first & 0x01, 1);
    // No local: our own message on "nl" is not sent back; "mark" is.
    raw.send(&subscribe(5, "nl", 0x04, true));
    raw.read_packet();
    raw.send(&subscribe(6, "mark", 0x00, true));
    raw.read_packet();
    raw.send(&publish_packet("nl", 0, 0, b"mine", true));
    raw.send(&publish_packet("mark", 0, 0, b"m", true));
    let (_, topic, ..) = parse_publish_v5(&raw.read_packet());
    assert_eq!(topic, "mark");
    // Retain as published: a live retained message keeps retain=1 only with RAP.
    let (mut rap, _) = Raw::v5(port, "rap", 60);
    rap.send(&subscribe(1, "rap/t", 0x08, true));
    rap.read_packet();
    rap.send(&subscribe(2, "norap/t", 0x00, true));
    rap.read_packet();
    publish(port, &["-t", "rap/t", "-m", "x", "-r"]);
    publish(port, &["-t", "norap/t", "-m", "x", "-r"]);
    let (a, ..) = parse_publish_v5(&rap.read_packet());
    let (b, ..) = parse_publish_v5(&rap.read_packet());
    assert_eq!((a & 0x01, b & 0x01), (1, 0));
}

#[test]
fn shared_subscriptions_give_each_message_to_one_member() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    let mut a = subscriber(port, &["-V", "5", "-t", "$share/g/sh/#", "-v"]);
    let mut b = subscriber(port, &["-V", "311", "-t", "$share/g/sh/#", "-v"]);
    for i in 0..10 {
        publish(port, &["-t", "sh/x", "-m", &i.to_string(), "-q", "1"]);
    }
    publish(port, &["-t", "sh/end", "-m", "a"]);
    publish(port, &["-t", "sh/end", "-m", "b"]);
    let mut got = Vec::new();
    for sub in [&mut a, &mut b] {
        let mut n = 0;
        loop {
            let line = message(sub);
            if line.starts_with("sh/end") {
                break;
            }
            got.push(line);
            n += 1;
        }
        assert!(n > 0, "round robin gives every member some messages");
    }
    got.sort();
    let want: Vec<String> = (0..10).map(|i| format!("sh/x {i}")).collect();
    assert_eq!(got, want, "each message exactly once across the group");
}

#[test]
fn an_unacknowledged_shared_message_goes_to_another_member_when_a_session_ends() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    let (mut a, _) = Raw::v5(port, "member-a", 60);
    a.send(&subscribe(1, "$share/g/rq", 0x01, true));
    a.read_packet();
    let mut b = subscriber(port, &["-V", "5", "-q", "1", "-t", "$share/g/rq", "-v"]);
    publish(port, &["-q", "1", "-t", "rq", "-m", "one"]);
    publish(port, &["-q", "1", "-t", "rq", "-m", "two"]);
    // A gets one of them and never acknowledges it; B the other.
    let (_, _, _, _, payload) = parse_publish_v5(&a.read_packet());
    let kept_by_a = String::from_utf8(payload).unwrap();
    let first_b = message(&mut b);
    assert_ne!(first_b, format!("rq {kept_by_a}"));
    drop(a); // session expiry 0: the session ends now
    assert_eq!(message(&mut b), format!("rq {kept_by_a}"));
}

#[test]
fn a_will_with_a_delay_is_published_after_the_delay() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    let mut watcher = subscriber(port, &["-V", "5", "-t", "delayed", "-v"]);
    let mut raw = Raw::connect(port);
    // CONNECT v5 with will (flags 0x06), session expiry 10, will delay 1.
    let mut body = Vec::new();
    put_str(&mut body, b"MQTT");
    body.extend_from_slice(&[5, 0x06, 0, 60, 5, 0x11, 0, 0, 0, 10]);
    put_str(&mut body, b"delayer");
    body.extend_from_slice(&[5, 0x18, 0, 0, 0, 1]);
    put_str(&mut body, b"delayed");
    put_str(&mut body, b"late");
    raw.send(&frame(0x10, &body));
    raw.read_packet();
    let closed = Instant::now();
    drop(raw);
    assert_eq!(message(&mut watcher), "delayed late");
    assert!(
        closed.elapsed() >= Duration::from_millis(900),
        "published after {:?}",
        closed.elapsed()
    );
}

#[test]
fn paho_request_response_with_response_topic_and_correlation_data() {
    python3_paho();
    let serve = Serve::start(&[]);
    let script = r#"
import sys, threading
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
port = int(sys.argv[1])
ready = threading.Event(); done = threading.Event(); result = {}

def responder_message(c, u, msg):
    props = Properties(PacketTypes.PUBLISH)
    props.CorrelationData = msg.properties.CorrelationData
    c.publish(msg.properties.ResponseTopic, b"pong:" + msg.payload, qos=1, properties=props)

responder = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="responder", protocol=mqtt.MQTTv5)
responder.on_message = responder_message
responder.on_subscribe = lambda c, u, mid, rc, p: ready.set()
responder.connect("127.0.0.1", port)
responder.subscribe("svc/ping", qos=1)
responder.loop_start()

def requester_message(c, u, msg):
    result["payload"] = msg.payload.decode()
    result["corr"] = msg.properties.CorrelationData.decode()
    done.set()

requester = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="requester", protocol=mqtt.MQTTv5)
requester.on_message = requester_message
subscribed = threading.Event()
requester.on_subscribe = lambda c, u, mid, rc, p: subscribed.set()
requester.connect("127.0.0.1", port)
requester.subscribe("svc/reply/requester", qos=1)
requester.loop_start()
assert ready.wait(10) and subscribed.wait(10)
props = Properties(PacketTypes.PUBLISH)
props.ResponseTopic = "svc/reply/requester"
props.CorrelationData = b"req-42"
requester.publish("svc/ping", b"hello", qos=2, properties=props)
assert done.wait(10), "no response"
print(result["payload"], result["corr"])
"#;
    let out = output(Command::new("python3").args(["-c", script, &serve.port().to_string()]));
    assert!(
        out.status.success(),
        "paho script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "pong:hello req-42\n");
}

#[test]
fn a_reconnect_right_after_disconnect_with_session_expiry_0_finds_no_session() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    // Session Expiry Interval (0x11) 300 s in CONNECT, lowered to 0 by the DISCONNECT.
    let expiry_300 = [0x11, 0x00, 0x00, 0x01, 0x2C];
    let disconnect_expiry_0 = [0xE0, 0x07, 0x00, 0x05, 0x11, 0, 0, 0, 0];
    let deadline = Instant::now() + Duration::from_secs(60);
    for round in 0..200 {
        assert!(Instant::now() < deadline, "only {round} rounds in 60 s");
        let mut old = Raw::connect(port);
        old.send(&connect_v5("race", 0x02, 60, &expiry_300));
        assert_eq!(old.read_packet()[2..4], [0x00, 0x00], "round {round}");
        old.send(&subscribe(1, "race/t", 0x01, true));
        old.expect(&[0x90, 0x04, 0x00, 0x01, 0x00, 0x01]);
        old.send(&disconnect_expiry_0);
        // The old socket is left open in half of the rounds (its DISCONNECT and the new
        // CONNECT then reach the broker on two live connections), closed in the others.
        let kept_open = (round % 2 == 0).then_some(old);
        let mut new = Raw::connect(port);
        new.send(&connect_v5("race", 0x00, 60, &expiry_300));
        let connack = new.read_packet();
        assert_eq!(
            connack[2..4],
            [0x00, 0x00],
            "round {round}: session present after DISCONNECT with session expiry 0"
        );
        new.send(&disconnect_expiry_0);
        drop(kept_open);
    }
}
