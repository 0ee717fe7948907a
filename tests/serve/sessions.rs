//! `mqtk serve` sessions, wills, keep alive and takeover, driven by mosquitto_pub/sub
//! (`-V 311` and `-V 5`) and by raw sockets where those tools cannot express the case
//! (a client that goes silent, DISCONNECT with reason 0x04, exact DISCONNECT bytes).

use std::time::Duration;

use support::peers::{message, publish, sub_command, subscriber, T, VERSIONS};
use support::raw::{connect_v311, connect_v5, frame, publish_packet, put_str, subscribe, Raw};
use support::{output, spawn_lines, Serve};

/// `-x 60` on MQTT 5 (mosquitto_sub's session expiry), nothing on 3.1.1.
fn persistent_args(v: &str) -> Vec<&'static str> {
    if v == "5" {
        vec!["-c", "-x", "60"]
    } else {
        vec!["-c"]
    }
}

/// Subscribes with mosquitto_sub `args` (which keep the session) and makes it leave
/// normally by sending it one message on `topic`: it exits after `-C 1` with a DISCONNECT.
/// (Killing it with SIGTERM right after SUBACK can hang mosquitto_sub itself.)
fn subscribe_and_leave(port: u16, args: &[&str], topic: &str) {
    let mut args = args.to_vec();
    args.extend(["-C", "1"]);
    let mut sub = subscriber(port, &args);
    publish(port, &["-q", "1", "-t", topic, "-m", "prime"]);
    let status = sub.expect_exit(T);
    assert!(status.success(), "mosquitto_sub {args:?}: {status:?}");
}

#[test]
fn a_qos2_message_published_while_a_persistent_subscriber_is_offline_arrives_exactly_once_after_it_reconnects(
) {
    let serve = Serve::start(&[]);
    let port = serve.port();
    for v in VERSIONS {
        let id = format!("offline-{v}");
        let mut args = vec!["-V", v, "-i", &id, "-q", "2", "-t", "off/line", "-v"];
        args.extend(persistent_args(v));
        // Subscribe, then go away with the session kept.
        subscribe_and_leave(port, &args, "off/line");
        publish(port, &["-V", v, "-q", "2", "-t", "off/line", "-m", "once"]);
        // Reconnect: the message arrives, and only once (-C 2 -W 2 ends with 27 after one).
        let mut again = args.clone();
        again.extend(["-C", "2", "-W", "2"]);
        let mut second = spawn_lines(&mut sub_command(port, &again));
        let lines = second.rest_of_lines(T);
        let messages: Vec<&String> = lines
            .iter()
            .filter(|l| support::peers::is_message(l))
            .collect();
        assert_eq!(messages, vec!["off/line once"], "all output: {lines:?}");
        assert!(
            lines.iter().any(|l| l.contains("received CONNACK (0)")),
            "{lines:?}"
        );
        // A third connection gets nothing more.
        let mut third_args = args.clone();
        third_args.extend(["-C", "1", "-W", "1"]);
        let out = output(&mut sub_command(port, &third_args));
        let out = String::from_utf8_lossy(&out.stdout);
        assert!(
            !out.lines().any(support::peers::is_message),
            "delivered twice: {out}"
        );
    }
}

#[test]
fn a_clean_session_forgets_subscriptions_and_queued_messages() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    for v in VERSIONS {
        let id = format!("clean-{v}");
        let mut args = vec!["-V", v, "-i", &id, "-q", "1", "-t", "clean/t"];
        args.extend(persistent_args(v));
        subscribe_and_leave(port, &args, "clean/t");
        publish(port, &["-V", v, "-q", "1", "-t", "clean/t", "-m", "queued"]);
        // Reconnect with a clean session and no subscription: nothing arrives.
        let mut cmd = sub_command(
            port,
            &["-V", v, "-i", &id, "-t", "unrelated", "-C", "1", "-W", "1"],
        );
        let out = output(&mut cmd);
        let out = String::from_utf8_lossy(&out.stdout);
        assert!(out.contains("received CONNACK (0)"), "{out}");
        assert!(
            !out.lines().any(support::peers::is_message),
            "the clean session got old messages: {out}"
        );
    }
}

#[test]
fn the_will_of_a_sigkilled_mosquitto_sub_is_published_with_its_qos_and_retain_flag() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    for v in VERSIONS {
        let topic = format!("will/{v}");
        let mut watcher = subscriber(port, &["-V", v, "-q", "2", "-t", &topic, "-F", "%q %r %p"]);
        let dying = subscriber(
            port,
            &[
                "-V",
                v,
                "-t",
                "x",
                "--will-topic",
                &topic,
                "--will-payload",
                "gone",
                "--will-qos",
                "1",
                "--will-retain",
            ],
        );
        dying.signal(libc::SIGKILL);
        assert_eq!(
            message(&mut watcher),
            "1 0 gone",
            "live delivery has retain 0"
        );
        // Retained too: a new subscriber sees it with the retain flag.
        let out = output(&mut sub_command(
            port,
            &["-V", v, "-t", &topic, "-C", "1", "-W", "5", "-F", "%r %p"],
        ));
        let out = String::from_utf8_lossy(&out.stdout);
        assert!(out.lines().any(|l| l == "1 gone"), "{out}");
    }
}

#[test]
fn no_will_after_a_normal_disconnect() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    for v in VERSIONS {
        let topic = format!("nowill/{v}");
        let mut watcher = subscriber(port, &["-V", v, "-t", &topic, "-t", "marker", "-v"]);
        publish(
            port,
            &[
                "-V",
                v,
                "-t",
                "x",
                "-m",
                "m",
                "--will-topic",
                &topic,
                "--will-payload",
                "bad",
            ],
        );
        publish(port, &["-V", v, "-t", "marker", "-m", "after"]);
        assert_eq!(message(&mut watcher), "marker after");
    }
}

#[test]
fn mqtt5_disconnect_with_reason_0x04_publishes_the_will() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    let mut watcher = subscriber(port, &["-V", "5", "-t", "will/04", "-v"]);
    let mut raw = Raw::connect(port);
    // CONNECT v5, clean start + will flag (QoS 0), no properties, will properties empty.
    let mut body = Vec::new();
    put_str(&mut body, b"MQTT");
    body.extend_from_slice(&[5, 0x06, 0, 60, 0]);
    put_str(&mut body, b"with-will");
    body.push(0);
    put_str(&mut body, b"will/04");
    put_str(&mut body, b"bye");
    raw.send(&frame(0x10, &body));
    let connack = raw.read_packet();
    assert_eq!(connack[3], 0x00, "{connack:02X?}");
    raw.send(&[0xE0, 0x01, 0x04]);
    assert_eq!(message(&mut watcher), "will/04 bye");
}

#[test]
fn a_raw_client_with_keep_alive_2_that_goes_silent_is_disconnected_within_2_to_4_seconds() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    let mut v311 = Raw::v311(port, "silent-311", 2);
    let (elapsed, bytes) = v311.expect_closed(T);
    assert!(
        bytes.is_empty(),
        "3.1.1 has no server DISCONNECT: {bytes:02X?}"
    );
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed <= Duration::from_secs(4),
        "closed after {elapsed:?}"
    );
    let (mut v5, _) = Raw::v5(port, "silent-5", 2);
    let (elapsed, bytes) = v5.expect_closed(T);
    assert_eq!(
        bytes.get(..1),
        Some(&[0xE0][..]),
        "DISCONNECT first: {bytes:02X?}"
    );
    assert_eq!(
        bytes.get(2),
        Some(&0x8D),
        "reason keep alive timeout: {bytes:02X?}"
    );
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed <= Duration::from_secs(4),
        "closed after {elapsed:?}"
    );
}

#[test]
fn pings_keep_a_connection_alive_past_its_keep_alive() {
    let serve = Serve::start(&[]);
    let mut raw = Raw::v311(serve.port(), "pinger", 1);
    // 4 pings 0.5 s apart: 2 s of activity with keep alive 1 (limit 1.5 s of silence).
    for _ in 0..4 {
        raw.stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut buf = [0u8; 1];
        let quiet = std::io::Read::read(&mut raw.stream, &mut buf);
        assert!(quiet.is_err(), "nothing is sent unasked: {quiet:?}");
        raw.stream.set_read_timeout(Some(T)).unwrap();
        raw.send(&[0xC0, 0x00]);
        raw.expect(&[0xD0, 0x00]);
    }
}

#[test]
fn a_tcp_connection_that_sends_no_connect_is_closed() {
    let serve = Serve::start(&[]);
    let mut raw = Raw::connect(serve.port());
    let (elapsed, bytes) = raw.expect_closed(T);
    assert!(bytes.is_empty());
    assert!(
        elapsed >= Duration::from_secs(4),
        "closed after {elapsed:?}: too early"
    );
}

#[test]
fn a_second_mosquitto_sub_with_the_same_id_takes_over_the_first() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    // MQTT 5: the first gets DISCONNECT 0x8E, which mosquitto_sub reports and exits on.
    let mut first = subscriber(port, &["-V", "5", "-i", "same-5", "-t", "take/over", "-v"]);
    let mut second = subscriber(port, &["-V", "5", "-i", "same-5", "-t", "take/over", "-v"]);
    first.expect_exit(T);
    publish(port, &["-t", "take/over", "-m", "to-second"]);
    assert_eq!(message(&mut second), "take/over to-second");
    // MQTT 3.1.1: the old connection is closed. (A first mosquitto_sub would reconnect
    // and take over in turn, as it does with mosquitto, so the first one is raw.)
    let mut raw = Raw::v311(port, "same-311", 60);
    let mut second = subscriber(
        port,
        &["-V", "311", "-i", "same-311", "-t", "take/over", "-v"],
    );
    let (_, bytes) = raw.expect_closed(T);
    assert!(bytes.is_empty(), "{bytes:02X?}");
    publish(port, &["-t", "take/over", "-m", "to-second-311"]);
    assert_eq!(message(&mut second), "take/over to-second-311");
}

#[test]
fn takeover_sends_disconnect_0x8e_on_mqtt5_and_hands_the_kept_session_over() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    // Session expiry 60 (property 0x11), clean start 0.
    let expiry = [0x11, 0, 0, 0, 60];
    let mut old = Raw::connect(port);
    old.send(&connect_v5("kept", 0x00, 60, &expiry));
    assert_eq!(old.read_packet()[2], 0x00, "no session yet");
    old.send(&subscribe(1, "kept/t", 0x01, true));
    old.expect(&[0x90, 0x04, 0x00, 0x01, 0x00, 0x01]);
    let mut new = Raw::connect(port);
    new.send(&connect_v5("kept", 0x00, 60, &expiry));
    let (_, bytes) = old.expect_closed(T);
    assert_eq!(
        bytes.get(..3),
        Some(&[0xE0, bytes[1], 0x8E][..]),
        "{bytes:02X?}"
    );
    let connack = new.read_packet();
    assert_eq!(connack[2], 0x01, "session present: {connack:02X?}");
    // The subscription came along.
    publish(port, &["-V", "5", "-q", "1", "-t", "kept/t", "-m", "kept"]);
    let got = new.read_packet();
    assert_eq!(got[0] & 0xF0, 0x30);
    assert!(got.ends_with(b"kept"), "{got:02X?}");
}

#[test]
fn the_offline_queue_is_bounded_by_max_queued_and_drops_are_logged() {
    let mut serve = Serve::start(&["--max-queued", "3", "-v"]);
    let port = serve.port();
    let args = [
        "-V", "311", "-i", "bounded", "-c", "-q", "1", "-t", "bound/t", "-v",
    ];
    subscribe_and_leave(port, &args, "bound/t");
    for i in 0..6 {
        publish(port, &["-q", "1", "-t", "bound/t", "-m", &i.to_string()]);
    }
    let mut again: Vec<&str> = args.to_vec();
    again.extend(["-C", "6", "-W", "2"]);
    let mut second = spawn_lines(&mut sub_command(port, &again));
    let lines = second.rest_of_lines(T);
    let messages: Vec<&String> = lines
        .iter()
        .filter(|l| support::peers::is_message(l))
        .collect();
    assert_eq!(
        messages,
        vec!["bound/t 0", "bound/t 1", "bound/t 2"],
        "{lines:?}"
    );
    let running = serve.running();
    assert!(
        support::wait_until(T, || running.stderr().contains("dropped")),
        "{}",
        running.stderr()
    );
}

#[test]
fn an_expired_mqtt5_session_is_gone_when_the_client_comes_back() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    let mut gauge = subscriber(port, &["-t", "$SYS/broker/clients/disconnected"]);
    // Session expiry 3 s: the gauge, published every second, shows the kept session
    // (1) before it expires (0) even when a loaded machine delays a tick; with 1 s the
    // "1" could fall between two ticks and never be seen.
    let mut raw = Raw::connect(port);
    raw.send(&connect_v5("expiring", 0x00, 60, &[0x11, 0, 0, 0, 3]));
    raw.read_packet();
    raw.send(&subscribe(1, "exp/t", 0x01, true));
    raw.read_packet();
    raw.send(&[0xE0, 0x00]);
    raw.expect_closed(T);
    gauge.expect_line(|l| l == "1", T);
    gauge.expect_line(|l| l == "0", T);
    let mut back = Raw::connect(port);
    back.send(&connect_v5("expiring", 0x00, 60, &[0x11, 0, 0, 0, 1]));
    let connack = back.read_packet();
    assert_eq!(
        connack[2], 0x00,
        "session present must be 0 after expiry: {connack:02X?}"
    );
}

#[test]
fn mqtt311_zero_length_client_id_needs_clean_session() {
    let serve = Serve::start(&[]);
    let mut raw = Raw::connect(serve.port());
    raw.send(&connect_v311("", false, 60));
    raw.expect(&[0x20, 0x02, 0x00, 0x02]);
    raw.expect_closed(T);
    let mut ok = Raw::connect(serve.port());
    ok.send(&connect_v311("", true, 60));
    ok.expect(&[0x20, 0x02, 0x00, 0x00]);
}

#[test]
fn incoming_qos2_is_delivered_once_even_when_the_publish_is_resent_before_pubrel() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    let mut watcher = subscriber(port, &["-t", "dup/q2", "-t", "marker", "-v"]);
    let mut raw = Raw::v311(port, "resender", 60);
    let p = publish_packet("dup/q2", 2, 7, b"one", false);
    raw.send(&p);
    raw.expect(&[0x50, 0x02, 0x00, 0x07]);
    // Resent with DUP before PUBREL: PUBREC again, no second delivery.
    let mut dup = p.clone();
    dup[0] |= 0x08;
    raw.send(&dup);
    raw.expect(&[0x50, 0x02, 0x00, 0x07]);
    raw.send(&[0x62, 0x02, 0x00, 0x07]);
    raw.expect(&[0x70, 0x02, 0x00, 0x07]);
    publish(port, &["-t", "marker", "-m", "end"]);
    assert_eq!(message(&mut watcher), "dup/q2 one");
    assert_eq!(message(&mut watcher), "marker end");
}

#[test]
fn unacknowledged_qos1_messages_are_resent_with_dup_when_a_kept_session_reconnects() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    let mut raw = Raw::connect(port);
    raw.send(&connect_v311("unacked", false, 60));
    raw.expect(&[0x20, 0x02, 0x00, 0x00]);
    raw.send(&subscribe(1, "ack/t", 0x01, false));
    raw.expect(&[0x90, 0x03, 0x00, 0x01, 0x01]);
    publish(port, &["-q", "1", "-t", "ack/t", "-m", "m"]);
    let first = raw.read_packet();
    assert_eq!(first[0], 0x32, "QoS 1, no DUP: {first:02X?}");
    drop(raw); // no PUBACK
    let mut back = Raw::connect(port);
    back.send(&connect_v311("unacked", false, 60));
    back.expect(&[0x20, 0x02, 0x01, 0x00]);
    let again = back.read_packet();
    assert_eq!(again[0], 0x3A, "QoS 1 with DUP: {again:02X?}");
    assert_eq!(again[1..], first[1..], "same packet id, topic and payload");
}

#[test]
fn pubrel_is_resent_for_a_pubrec_d_message_when_a_kept_session_reconnects() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    let mut raw = Raw::connect(port);
    raw.send(&connect_v311("half-q2", false, 60));
    raw.expect(&[0x20, 0x02, 0x00, 0x00]);
    raw.send(&subscribe(1, "q2/t", 0x02, false));
    raw.expect(&[0x90, 0x03, 0x00, 0x01, 0x02]);
    publish(port, &["-q", "2", "-t", "q2/t", "-m", "m"]);
    let got = raw.read_packet();
    assert_eq!(got[0], 0x34, "QoS 2 PUBLISH: {got:02X?}");
    let id = [got[4 + 4], got[4 + 5]]; // after the 2-byte length and "q2/t"
    raw.send(&[0x50, 0x02, id[0], id[1]]);
    raw.expect(&[0x62, 0x02, id[0], id[1]]);
    drop(raw); // no PUBCOMP
    let mut back = Raw::connect(port);
    back.send(&connect_v311("half-q2", false, 60));
    back.expect(&[0x20, 0x02, 0x01, 0x00]);
    back.expect(&[0x62, 0x02, id[0], id[1]]);
    back.send(&[0x70, 0x02, id[0], id[1]]);
    // Finished: nothing more comes.
    back.send(&[0xC0, 0x00]);
    back.expect(&[0xD0, 0x00]);
}

#[test]
fn the_will_is_published_on_a_protocol_error_and_on_a_keep_alive_timeout() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    let mut watcher = subscriber(port, &["-t", "will/+", "-v"]);
    // 3.1.1 CONNECT with a will (flags: clean + will) and keep alive `ka`.
    let connect_with_will = |id: &str, topic: &str, ka: u16| {
        let mut body = Vec::new();
        put_str(&mut body, b"MQTT");
        body.extend_from_slice(&[4, 0x06]);
        body.extend_from_slice(&ka.to_be_bytes());
        put_str(&mut body, id.as_bytes());
        put_str(&mut body, topic.as_bytes());
        put_str(&mut body, b"gone");
        frame(0x10, &body)
    };
    let mut bad = Raw::connect(port);
    bad.send(&connect_with_will("bad", "will/error", 60));
    bad.expect(&[0x20, 0x02, 0x00, 0x00]);
    bad.send(&[0x00, 0x00]); // reserved packet type
    assert_eq!(message(&mut watcher), "will/error gone");
    let mut silent = Raw::connect(port);
    silent.send(&connect_with_will("silent", "will/silent", 1));
    silent.expect(&[0x20, 0x02, 0x00, 0x00]);
    assert_eq!(message(&mut watcher), "will/silent gone");
}

#[test]
fn keep_alive_0_means_no_timeout() {
    let serve = Serve::start(&[]);
    let mut raw = Raw::v311(serve.port(), "forever", 0);
    // Silent for 2 s (a keep alive of 1 would have ended it after 1.5 s).
    raw.stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = [0u8; 1];
    let quiet = std::io::Read::read(&mut raw.stream, &mut buf);
    assert!(
        quiet.is_err(),
        "the connection must stay open and silent: {quiet:?}"
    );
    raw.stream.set_read_timeout(Some(T)).unwrap();
    raw.send(&[0xC0, 0x00]);
    raw.expect(&[0xD0, 0x00]);
}

#[test]
fn concurrent_takeovers_of_a_kept_session_lose_nothing() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    let mut first = Raw::connect(port);
    first.send(&connect_v311("racer", false, 60));
    first.expect(&[0x20, 0x02, 0x00, 0x00]);
    first.send(&subscribe(1, "race/t", 0x01, false));
    first.expect(&[0x90, 0x03, 0x00, 0x01, 0x01]);
    let mut alive = vec![first];
    for round in 0..20 {
        let racers: Vec<_> = (0..3)
            .map(|_| {
                std::thread::spawn(move || {
                    let mut raw = Raw::connect(port);
                    raw.send(&connect_v311("racer", false, 60));
                    raw.expect(&[0x20, 0x02, 0x01, 0x00]);
                    raw
                })
            })
            .collect();
        for racer in racers {
            alive.push(
                racer
                    .join()
                    .unwrap_or_else(|_| panic!("round {round}: a CONNACK without session present")),
            );
        }
    }
    let mut last = Raw::connect(port);
    last.send(&connect_v311("racer", false, 60));
    last.expect(&[0x20, 0x02, 0x01, 0x00]);
    publish(port, &["-q", "1", "-t", "race/t", "-m", "kept"]);
    let got = last.read_packet();
    assert!(
        got.ends_with(b"kept"),
        "the subscription survived: {got:02X?}"
    );
}
