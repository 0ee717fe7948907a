//! Broker conformance with raw bytes on a TCP socket and exact replies (mini-redis
//! style): malformed and illegal packets close that client's connection, MQTT 5 clients
//! get a DISCONNECT with the right reason code first, and no other client notices.

use support::peers::{message, publish, subscriber, T};
use support::raw::{connect_v311, connect_v5, frame, publish_packet, put_str, subscribe, Raw};
use support::Serve;

/// The reason code of the DISCONNECT a broker sent right before closing; panics if the
/// bytes are not exactly one DISCONNECT.
fn disconnect_reason(bytes: &[u8]) -> u8 {
    assert!(
        bytes.len() >= 3 && bytes[0] == 0xE0,
        "expected a DISCONNECT, got {bytes:02X?}"
    );
    assert_eq!(
        usize::from(bytes[1]) + 2,
        bytes.len(),
        "one DISCONNECT and nothing else: {bytes:02X?}"
    );
    bytes[2]
}

/// Sends `bytes` on a fresh MQTT 5 connection and returns the DISCONNECT reason code
/// the broker closed it with.
fn v5_close_reason(port: u16, bytes: &[u8]) -> u8 {
    let (mut raw, _) = Raw::v5(port, "", 60);
    raw.send(bytes);
    let (_, got) = raw.expect_closed(T);
    disconnect_reason(&got)
}

/// Sends `bytes` on a fresh MQTT 3.1.1 connection; asserts it is closed with no reply.
fn v311_closed_silently(port: u16, bytes: &[u8]) {
    let mut raw = Raw::v311(port, "", 60);
    raw.send(bytes);
    let (_, got) = raw.expect_closed(T);
    assert!(got.is_empty(), "3.1.1 gets no reply, got {got:02X?}");
}

#[test]
fn pingreq_gets_pingresp_on_both_versions() {
    let serve = Serve::start(&[]);
    let mut a = Raw::v311(serve.port(), "ping311", 60);
    a.send(&[0xC0, 0x00]);
    a.expect(&[0xD0, 0x00]);
    let (mut b, _) = Raw::v5(serve.port(), "ping5", 60);
    b.send(&[0xC0, 0x00]);
    b.expect(&[0xD0, 0x00]);
}

#[test]
fn a_first_packet_that_is_not_connect_closes_the_connection_without_reply() {
    let serve = Serve::start(&[]);
    let mut raw = Raw::connect(serve.port());
    raw.send(&[0xC0, 0x00]);
    let (_, got) = raw.expect_closed(T);
    assert!(got.is_empty(), "{got:02X?}");
}

#[test]
fn an_unsupported_protocol_level_gets_connack_0x01() {
    let serve = Serve::start(&[]);
    let mut raw = Raw::connect(serve.port());
    let mut body = Vec::new();
    put_str(&mut body, b"MQTT");
    body.extend_from_slice(&[6, 0x02, 0, 60]);
    put_str(&mut body, b"future");
    raw.send(&frame(0x10, &body));
    raw.expect(&[0x20, 0x02, 0x00, 0x01]);
    raw.expect_closed(T);
}

#[test]
fn connect_with_an_authentication_method_is_refused_with_0x8c() {
    let serve = Serve::start(&[]);
    let mut raw = Raw::connect(serve.port());
    // Property 0x15 Authentication Method "SCRAM-SHA-1".
    let mut props = vec![0x15];
    put_str(&mut props, b"SCRAM-SHA-1");
    raw.send(&connect_v5("auth", 0x02, 60, &props));
    raw.expect(&[0x20, 0x03, 0x00, 0x8C, 0x00]);
    raw.expect_closed(T);
}

#[test]
fn an_auth_packet_is_answered_with_disconnect_0x8c() {
    let serve = Serve::start(&[]);
    // AUTH, reason 0x18 continue authentication, Authentication Method "TEST".
    let mut body = vec![0x18, 0x07, 0x15];
    put_str(&mut body, b"TEST");
    assert_eq!(v5_close_reason(serve.port(), &frame(0xF0, &body)), 0x8C);
}

#[test]
fn publish_with_qos_3_is_malformed() {
    let serve = Serve::start(&[]);
    let bad = [0x36, 0x07, 0x00, 0x01, b't', 0x00, 0x01, 0x00, b'x'];
    assert_eq!(v5_close_reason(serve.port(), &bad), 0x81);
    v311_closed_silently(
        serve.port(),
        &[0x36, 0x06, 0x00, 0x01, b't', 0x00, 0x01, b'x'],
    );
}

#[test]
fn a_reserved_packet_type_or_bad_fixed_header_flags_are_malformed() {
    let serve = Serve::start(&[]);
    // Type 0 is reserved; PINGREQ with flags 0001.
    assert_eq!(v5_close_reason(serve.port(), &[0x00, 0x00]), 0x81);
    assert_eq!(v5_close_reason(serve.port(), &[0xC1, 0x00]), 0x81);
    v311_closed_silently(serve.port(), &[0xC1, 0x00]);
    // A remaining length of five bytes.
    v311_closed_silently(serve.port(), &[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]);
}

#[test]
fn publish_to_a_topic_with_a_wildcard_is_refused_with_0x90() {
    let serve = Serve::start(&[]);
    assert_eq!(
        v5_close_reason(serve.port(), &publish_packet("a/+", 0, 0, b"x", true)),
        0x90
    );
    v311_closed_silently(serve.port(), &publish_packet("a/#", 0, 0, b"x", false));
}

#[test]
fn a_second_connect_is_a_protocol_error() {
    let serve = Serve::start(&[]);
    assert_eq!(
        v5_close_reason(serve.port(), &connect_v5("again", 0x02, 60, &[])),
        0x82
    );
    v311_closed_silently(serve.port(), &connect_v311("again", true, 60));
}

#[test]
fn packets_only_a_server_sends_are_protocol_errors() {
    let serve = Serve::start(&[]);
    assert_eq!(
        v5_close_reason(serve.port(), &[0xD0, 0x00]),
        0x82,
        "PINGRESP"
    );
    assert_eq!(
        v5_close_reason(serve.port(), &[0x20, 0x03, 0x00, 0x00, 0x00]),
        0x82,
        "CONNACK"
    );
}

#[test]
fn a_packet_over_max_packet_size_gets_disconnect_0x95() {
    let serve = Serve::start(&["--max-packet-size", "64"]);
    let big = publish_packet("big", 0, 0, &[b'x'; 100], true);
    assert_eq!(v5_close_reason(serve.port(), &big), 0x95);
    v311_closed_silently(
        serve.port(),
        &publish_packet("big", 0, 0, &[b'x'; 100], false),
    );
}

#[test]
fn a_topic_alias_above_the_maximum_gets_disconnect_0x94() {
    let serve = Serve::start(&[]);
    // PUBLISH "t" with property Topic Alias (0x23) = 11; the broker's maximum is 10.
    let mut body = Vec::new();
    put_str(&mut body, b"t");
    body.extend_from_slice(&[0x03, 0x23, 0x00, 0x0B]);
    body.push(b'x');
    assert_eq!(v5_close_reason(serve.port(), &frame(0x30, &body)), 0x94);
}

#[test]
fn more_unacknowledged_qos2_publishes_than_the_receive_maximum_get_disconnect_0x93() {
    let serve = Serve::start(&["--max-inflight", "2"]);
    let (mut raw, connack) = Raw::v5(serve.port(), "greedy", 60);
    // CONNACK advertises Receive Maximum (0x21) = 2.
    assert!(
        connack.windows(3).any(|w| w == [0x21, 0x00, 0x02]),
        "{connack:02X?}"
    );
    for id in 1..=2u16 {
        raw.send(&publish_packet("rm", 2, id, b"x", true));
        // 0x10: no subscription matches "rm".
        raw.expect(&[0x50, 0x03, 0x00, id as u8, 0x10]);
    }
    raw.send(&publish_packet("rm", 2, 3, b"x", true));
    let (_, got) = raw.expect_closed(T);
    assert_eq!(disconnect_reason(&got), 0x93);
}

#[test]
fn no_local_on_a_shared_subscription_is_a_protocol_error() {
    let serve = Serve::start(&[]);
    assert_eq!(
        v5_close_reason(serve.port(), &subscribe(1, "$share/g/t", 0x04, true)),
        0x82
    );
}

/// A SUBSCRIBE of several (filter, options) pairs; `v5` adds an empty property block.
fn subscribe_many(packet_id: u16, filters: &[(&[u8], u8)], v5: bool) -> Vec<u8> {
    let mut body = packet_id.to_be_bytes().to_vec();
    if v5 {
        body.push(0);
    }
    for (filter, options) in filters {
        put_str(&mut body, filter);
        body.push(*options);
    }
    frame(0x82, &body)
}

#[test]
fn an_invalid_topic_filter_gets_suback_0x8f_on_5_the_others_are_granted_and_3_1_1_is_closed() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    let filters: &[(&[u8], u8)] = &[(b"ok/1", 0x01), (b"a/#/b", 0x01), (b"ok/+", 0x02)];
    let (mut v5, _) = Raw::v5(port, "badfilter5", 60);
    v5.send(&subscribe_many(9, filters, true));
    // MQTT 5.0 §3.9.3: one reason code per filter, 0x8F for the invalid one.
    v5.expect(&[0x90, 0x06, 0x00, 0x09, 0x00, 0x01, 0x8F, 0x02]);
    // Still connected, and the granted filters deliver.
    publish(port, &["-t", "ok/1", "-q", "1", "-m", "granted"]);
    let (_, topic, _, _, payload) = support::raw::parse_publish_v5(&v5.read_packet());
    assert_eq!((topic.as_str(), &payload[..]), ("ok/1", &b"granted"[..]));
    // UNSUBSCRIBE: 0x8F for the invalid filter, success for the other (§3.11.3).
    let mut unsub = vec![0x00, 0x0A, 0x00];
    put_str(&mut unsub, b"ok/1");
    put_str(&mut unsub, b"#a");
    v5.send(&frame(0xA2, &unsub));
    v5.expect(&[0xB0, 0x05, 0x00, 0x0A, 0x00, 0x00, 0x8F]);
    v5.send(&[0xC0, 0x00]);
    v5.expect(&[0xD0, 0x00]);
    // MQTT 3.1.1 has no such code: the connection closes (§4.8), as with mosquitto.
    v311_closed_silently(port, &subscribe_many(9, filters, false));
    v311_closed_silently(port, &subscribe(9, "a+", 0x01, false));
}

#[test]
fn a_structurally_malformed_subscribe_still_closes_an_mqtt5_connection() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    // Ill-formed UTF-8 and U+0000 in a filter: malformed (§1.5.4).
    for filter in [&[0xC3u8, 0x28][..], b"a\0b"] {
        let bytes = subscribe_many(1, &[(b"ok", 0x00), (filter, 0x00)], true);
        assert_eq!(v5_close_reason(port, &bytes), 0x81, "{filter:02X?}");
    }
    // Reserved option bits (§3.8.3.1) and a filter cut short.
    let bytes = subscribe_many(1, &[(b"ok", 0xC0)], true);
    assert_eq!(v5_close_reason(port, &bytes), 0x81);
    assert_eq!(
        v5_close_reason(port, &[0x82, 0x06, 0x00, 0x01, 0x00, 0x00, 0x05, b'a']),
        0x81
    );
}

#[test]
fn mqtt5_publishes_no_subscription_matches_get_0x10_and_3_1_1_ones_a_plain_ack() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    let (mut v5, _) = Raw::v5(port, "nomatch5", 60);
    v5.send(&publish_packet("nobody/here", 1, 7, b"x", true));
    v5.expect(&[0x40, 0x03, 0x00, 0x07, 0x10]);
    // QoS 2: PUBREC 0x10 accepts the message, so the flow goes on to PUBCOMP.
    v5.send(&publish_packet("nobody/here", 2, 8, b"x", true));
    v5.expect(&[0x50, 0x03, 0x00, 0x08, 0x10]);
    v5.send(&[0x62, 0x02, 0x00, 0x08]);
    v5.expect(&[0x70, 0x02, 0x00, 0x08]);
    // A retained message that nobody receives now: 0x10 as well (it is still kept).
    v5.send(&frame(0x33, &{
        let mut b = Vec::new();
        put_str(&mut b, b"nobody/kept");
        b.extend_from_slice(&[0x00, 0x09, 0x00]);
        b.extend_from_slice(b"kept");
        b
    }));
    v5.expect(&[0x40, 0x03, 0x00, 0x09, 0x10]);
    // $SYS is not the clients' to publish to: 0x87, as mosquitto answers.
    v5.send(&publish_packet("$SYS/mine", 1, 10, b"x", true));
    v5.expect(&[0x40, 0x03, 0x00, 0x0A, 0x87]);
    // With a subscriber: plain success.
    let mut sub = subscriber(port, &["-t", "some/+", "-V", "5"]);
    v5.send(&publish_packet("some/t", 1, 11, b"x", true));
    v5.expect(&[0x40, 0x02, 0x00, 0x0B]);
    assert_eq!(message(&mut sub), "x");
    // MQTT 3.1.1 has no reason codes.
    let mut v311 = Raw::v311(port, "nomatch311", 60);
    v311.send(&publish_packet("nobody/here", 1, 7, b"x", false));
    v311.expect(&[0x40, 0x02, 0x00, 0x07]);
    v311.send(&publish_packet("nobody/here", 2, 8, b"x", false));
    v311.expect(&[0x50, 0x02, 0x00, 0x08]);
    // The retained message was kept although nobody matched.
    let mut late = subscriber(port, &["-t", "nobody/kept", "-V", "5"]);
    assert_eq!(message(&mut late), "kept");
}

#[test]
fn subscribe_and_unsubscribe_get_exact_acks_on_both_versions() {
    let serve = Serve::start(&[]);
    let mut v311 = Raw::v311(serve.port(), "acks311", 60);
    v311.send(&subscribe(5, "x/+", 0x02, false));
    v311.expect(&[0x90, 0x03, 0x00, 0x05, 0x02]);
    let mut unsub = vec![0x00, 0x06];
    put_str(&mut unsub, b"x/+");
    v311.send(&frame(0xA2, &unsub));
    v311.expect(&[0xB0, 0x02, 0x00, 0x06]);
    let (mut v5, _) = Raw::v5(serve.port(), "acks5", 60);
    v5.send(&subscribe(5, "x/+", 0x01, true));
    v5.expect(&[0x90, 0x04, 0x00, 0x05, 0x00, 0x01]);
    let mut unsub = vec![0x00, 0x06, 0x00];
    put_str(&mut unsub, b"x/+");
    put_str(&mut unsub, b"never");
    v5.send(&frame(0xA2, &unsub));
    // Success for x/+, 0x11 no subscription existed for "never".
    v5.expect(&[0xB0, 0x05, 0x00, 0x06, 0x00, 0x00, 0x11]);
}

#[test]
fn qos1_and_qos2_publishes_get_their_acks_on_both_versions() {
    let serve = Serve::start(&[]);
    let mut v311 = Raw::v311(serve.port(), "pub311", 60);
    v311.send(&publish_packet("acks", 1, 0x1234, b"x", false));
    v311.expect(&[0x40, 0x02, 0x12, 0x34]);
    v311.send(&publish_packet("acks", 2, 0x0102, b"x", false));
    v311.expect(&[0x50, 0x02, 0x01, 0x02]);
    v311.send(&[0x62, 0x02, 0x01, 0x02]);
    v311.expect(&[0x70, 0x02, 0x01, 0x02]);
    let (mut v5, _) = Raw::v5(serve.port(), "pub5", 60);
    // (0x10: no subscription matches "acks".)
    v5.send(&publish_packet("acks", 1, 7, b"x", true));
    v5.expect(&[0x40, 0x03, 0x00, 0x07, 0x10]);
    // PUBREL for an id never seen: PUBCOMP 0x92.
    v5.send(&[0x62, 0x02, 0x00, 0x09]);
    v5.expect(&[0x70, 0x03, 0x00, 0x09, 0x92]);
}

#[test]
fn a_misbehaving_client_does_not_affect_other_clients() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    let mut watcher = subscriber(port, &["-t", "calm/#", "-v"]);
    for bad in [
        &[0x36u8, 0x02, 0x00, 0x00][..],
        &[0x00, 0x00],
        &[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],
    ] {
        v311_closed_silently(port, bad);
    }
    let (mut raw, _) = Raw::v5(port, "half", 60);
    // Half a packet, then gone.
    raw.send(&[0x30, 0x10, 0x00]);
    drop(raw);
    publish(port, &["-t", "calm/1", "-m", "still here"]);
    assert_eq!(message(&mut watcher), "calm/1 still here");
}

#[test]
fn sigterm_sends_mqtt5_clients_disconnect_0x8b_closes_3_1_1_clients_and_exits_0() {
    let mut serve = Serve::start(&[]);
    let (mut v5, _) = Raw::v5(serve.port(), "stay5", 60);
    let mut v311 = Raw::v311(serve.port(), "stay311", 60);
    let status = serve.stop();
    assert_eq!(status.code(), Some(0));
    let (_, got) = v5.expect_closed(T);
    assert_eq!(disconnect_reason(&got), 0x8B);
    let (_, got) = v311.expect_closed(T);
    assert!(got.is_empty(), "{got:02X?}");
}

#[test]
fn packets_sent_with_connect_in_one_write_are_all_answered() {
    let serve = Serve::start(&[]);
    let mut raw = Raw::connect(serve.port());
    let mut bytes = connect_v311("eager", true, 60);
    bytes.extend(subscribe(3, "eager/t", 0x00, false));
    bytes.extend([0xC0, 0x00]);
    raw.send(&bytes);
    raw.expect(&[
        0x20, 0x02, 0x00, 0x00, 0x90, 0x03, 0x00, 0x03, 0x00, 0xD0, 0x00,
    ]);
}

#[test]
fn connections_beyond_max_connections_are_refused() {
    let serve = Serve::start(&["--max-connections", "1"]);
    let _first = Raw::v311(serve.port(), "first", 60);
    let mut v311 = Raw::connect(serve.port());
    v311.send(&connect_v311("second", true, 60));
    v311.expect(&[0x20, 0x02, 0x00, 0x03]);
    let mut v5 = Raw::connect(serve.port());
    v5.send(&connect_v5("third", 0x02, 60, &[]));
    v5.expect(&[0x20, 0x03, 0x00, 0x88, 0x00]);
}

#[test]
fn a_subscriber_that_stops_reading_gets_its_queue_capped_and_does_not_slow_the_others() {
    let mut serve = Serve::start(&["--max-queued", "100", "-v"]);
    let port = serve.port();
    // The slow one subscribes to everything and never reads again.
    let mut slow = Raw::v311(port, "slow", 0);
    slow.send(&subscribe(1, "flood/#", 0x01, false));
    slow.expect(&[0x90, 0x03, 0x00, 0x01, 0x01]);
    let mut fast = subscriber(port, &["-t", "flood/#", "-q", "1", "-F", "%t"]);
    // 400 messages of 64 KiB: far more than the socket buffers hold.
    let payload = "x".repeat(64 * 1024);
    let lines: String = (0..400).map(|_| format!("{payload}\n")).collect();
    let mut publisher = std::process::Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-t",
            "flood/data",
            "-q",
            "1",
            "-l",
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("mosquitto_pub runs");
    std::io::Write::write_all(
        &mut publisher.stdin.take().expect("piped"),
        lines.as_bytes(),
    )
    .expect("write lines");
    assert!(support::child_exit(&mut publisher, T).success());
    publish(port, &["-t", "flood/end", "-m", "end"]);
    // The fast subscriber gets every message, then the marker.
    for i in 0..400 {
        assert_eq!(message(&mut fast), "flood/data", "message {i}");
    }
    assert_eq!(message(&mut fast), "flood/end");
    let running = serve.running();
    assert!(
        support::wait_until(T, || running
            .stderr()
            .contains("Outgoing messages are being dropped for client slow")),
        "{}",
        running.stderr()
    );
    drop(slow);
}
