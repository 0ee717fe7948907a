//! The abuse limits of `mqtk serve` (issue 16), each hit by a test with raw bytes on TCP
//! or mosquitto's clients: the CONNECT timeout under a few hundred slow-loris
//! connections, a claimed 256 MB packet that allocates only what arrived,
//! `--max-subscriptions-per-client`, `--max-topic-levels`, `--max-retained`,
//! `--max-retained-bytes`, `--max-queued-bytes`, `--max-connections-per-ip`,
//! `--connect-timeout` and `--max-connect-rate`, with the log line each limit writes
//! when hit. Every wait is bounded; no timing is asserted.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use support::peers::T;
use support::raw::{connect_v311, connect_v5, frame, publish_packet, put_str, subscribe, Raw};
use support::{mosquitto_pub, ok, Serve};

/// serve's resident memory in KiB (`VmRSS`).
fn rss_kib(serve: &mut Serve) -> u64 {
    let pid = serve.running().id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}

fn expect_log(serve: &mut Serve, needle: &str) {
    serve
        .running()
        .expect_stderr(|e| e.contains(needle), Duration::from_secs(10));
}

/// A SUBSCRIBE's SUBACK reason code (the one filter's).
fn suback_code(raw: &mut Raw, packet_id: u16, filter: &str, v5: bool) -> u8 {
    raw.send(&subscribe(packet_id, filter, 1, v5));
    let ack = raw.read_packet();
    assert_eq!(ack[0], 0x90, "SUBACK expected, got {ack:02X?}");
    *ack.last().expect("a reason code")
}

#[test]
fn slow_loris_connections_are_closed_by_the_connect_timeout_while_others_connect() {
    let mut serve = Serve::start(&["-v"]);
    let port = serve.port();
    // 300 sockets (the test process has ~1024 descriptors): half send nothing, half
    // drip a CONNECT one byte a second.
    let silent: Vec<TcpStream> = (0..150)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("connect"))
        .collect();
    let dripping: Vec<TcpStream> = (0..150)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("connect"))
        .collect();
    let connect = connect_v311("loris", true, 60);
    let mut writers: Vec<TcpStream> = dripping
        .iter()
        .map(|s| s.try_clone().expect("clone"))
        .collect();
    let drip = thread::spawn(move || {
        // At most 10 bytes, one a second: never a whole CONNECT before the 5 s timeout.
        for byte in connect.iter().take(10) {
            for w in &mut writers {
                let _ = w.write_all(&[*byte]);
            }
            thread::sleep(Duration::from_secs(1));
        }
    });
    // A well-behaved client is served meanwhile.
    let mut good = Raw::v311(port, "good", 60);
    good.send(&[0xC0, 0x00]);
    good.expect(&[0xD0, 0x00]);
    let start = Instant::now();
    for mut s in silent.into_iter().chain(dripping) {
        let left = Duration::from_secs(20).saturating_sub(start.elapsed());
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("set a read timeout");
        let mut buf = [0u8; 16];
        match s.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("a slow-loris connection is still open after 20 s: {other:?}"),
        }
    }
    drip.join().expect("the drip thread");
    expect_log(&mut serve, "sent no CONNECT in time");
    // The good client was not timed out with them.
    good.send(&[0xC0, 0x00]);
    good.expect(&[0xD0, 0x00]);
}

#[test]
fn a_claimed_256_mb_packet_allocates_only_what_arrived() {
    let mut serve = Serve::start(&[]);
    let mut raw = Raw::v311(serve.port(), "claimer", 60);
    let before = rss_kib(&mut serve);
    // PUBLISH, remaining length 268,435,450 (the largest packet the default
    // --max-packet-size takes, header included), then 1 MiB of it.
    raw.send(&[0x30, 0xFA, 0xFF, 0xFF, 0x7F, 0x00, 0x01, b't']);
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..16 {
        raw.send(&chunk);
        thread::sleep(Duration::from_millis(20));
    }
    // Still reading it: a PINGREQ would be part of the payload, so look at memory.
    let grown_kib = rss_kib(&mut serve).saturating_sub(before);
    assert!(
        grown_kib < 16 * 1024,
        "serve grew by {grown_kib} KiB for 1 MiB received of a 256 MB claim"
    );
    // With --max-packet-size the claim is refused from the fixed header alone.
    let serve = Serve::start(&["--max-packet-size", "100000"]);
    let (mut raw, _) = Raw::v5(serve.port(), "claimer", 60);
    raw.send(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F]);
    let (_, got) = raw.expect_closed(T);
    assert_eq!(
        (got.first(), got.get(2)),
        (Some(&0xE0), Some(&0x95)),
        "DISCONNECT 0x95 (packet too large): {got:02X?}"
    );
}

#[test]
fn max_subscriptions_per_client_refuses_the_next_filter_with_quota_exceeded() {
    let mut serve = Serve::start(&["--max-subscriptions-per-client", "3"]);
    let (mut v5, _) = Raw::v5(serve.port(), "many5", 60);
    for (i, filter) in ["a", "b", "c"].iter().enumerate() {
        assert_eq!(suback_code(&mut v5, i as u16 + 1, filter, true), 0x01);
    }
    assert_eq!(suback_code(&mut v5, 4, "d", true), 0x97, "quota exceeded");
    assert_eq!(
        suback_code(&mut v5, 5, "b", true),
        0x01,
        "a resubscription replaces"
    );
    let mut v311 = Raw::v311(serve.port(), "many311", 60);
    for (i, filter) in ["a", "b", "c"].iter().enumerate() {
        assert_eq!(suback_code(&mut v311, i as u16 + 1, filter, false), 0x01);
    }
    assert_eq!(suback_code(&mut v311, 4, "d", false), 0x80, "3.1.1 failure");
    expect_log(
        &mut serve,
        "Limit --max-subscriptions-per-client reached: client many",
    );
}

#[test]
fn max_topic_levels_refuses_deeper_filters_topics_and_wills() {
    let mut serve = Serve::start(&["--max-topic-levels", "5"]);
    let (mut raw, _) = Raw::v5(serve.port(), "deep", 60);
    assert_eq!(suback_code(&mut raw, 1, "a/b/c/d/+", true), 0x01);
    assert_eq!(suback_code(&mut raw, 2, "a/b/c/d/e/#", true), 0x8F);
    raw.send(&publish_packet("a/b/c/d/e/f", 1, 3, b"x", true));
    let ack = raw.read_packet();
    assert_eq!(ack[0], 0x40, "PUBACK: {ack:02X?}");
    assert_eq!(ack.get(4), Some(&0x90), "topic name invalid: {ack:02X?}");
    raw.send(&publish_packet("a/b/c/d/e", 1, 4, b"x", true));
    // The subscription a/b/c/d/+ gets it back, then the PUBACK.
    let mut got = [raw.read_packet(), raw.read_packet()];
    got.sort();
    assert_eq!(got[0][0] & 0xF0, 0x30, "the message: {got:02X?}");
    assert_eq!(
        got[1][..4],
        [0x40, 0x02, 0x00, 0x04],
        "PUBACK 4: {got:02X?}"
    );
    // A will 6 levels deep: CONNACK 0x90.
    let mut body = Vec::new();
    put_str(&mut body, b"MQTT");
    body.extend_from_slice(&[5, 0x06, 0, 60, 0]);
    put_str(&mut body, b"willer");
    body.push(0);
    put_str(&mut body, b"w/1/2/3/4/5");
    put_str(&mut body, b"gone");
    let mut willer = Raw::connect(serve.port());
    willer.send(&frame(0x10, &body));
    let connack = willer.read_packet();
    assert_eq!(connack.get(3), Some(&0x90), "CONNACK: {connack:02X?}");
    expect_log(&mut serve, "Limit --max-topic-levels reached");
}

/// The retained messages a new `t/#` subscriber gets: topics, in the order sent (read
/// until the non-retained marker published after the SUBACK).
fn retained_topics(port: u16) -> Vec<String> {
    let (mut raw, _) = Raw::v5(port, "reader", 60);
    raw.send(&subscribe(1, "t/#", 0, true));
    let mut topics = Vec::new();
    mosquitto_pub(port)
        .args(["-t", "t/marker", "-m", "end"])
        .output()
        .expect("mosquitto_pub");
    loop {
        let packet = raw.read_packet();
        if packet[0] & 0xF0 != 0x30 {
            continue;
        }
        let (_, topic, _, _, _) = support::raw::parse_publish_v5(&packet);
        if topic == "t/marker" {
            return topics;
        }
        topics.push(topic);
    }
}

fn retain(port: u16, topic: &str, payload: &str) {
    ok(&mosquitto_pub(port)
        .args(["-r", "-t", topic, "-m", payload])
        .output()
        .expect("mosquitto_pub"));
}

#[test]
fn max_retained_keeps_that_many_and_still_delivers_the_others() {
    let mut serve = Serve::start(&["--max-retained", "2"]);
    let port = serve.port();
    retain(port, "t/1", "one");
    retain(port, "t/2", "two");
    retain(port, "t/3", "three");
    expect_log(
        &mut serve,
        "Limit --max-retained reached: 2 retained messages",
    );
    retain(port, "t/1", "one again");
    let mut topics = retained_topics(port);
    topics.sort();
    assert_eq!(topics, ["t/1", "t/2"]);
    // Deleting one makes room.
    retain(port, "t/2", "");
    retain(port, "t/3", "three");
    let mut topics = retained_topics(port);
    topics.sort();
    assert_eq!(topics, ["t/1", "t/3"]);
}

#[test]
fn max_retained_bytes_counts_topics_and_payloads() {
    let mut serve = Serve::start(&["--max-retained-bytes", "100"]);
    let port = serve.port();
    retain(port, "t/a", &"a".repeat(60));
    retain(port, "t/b", &"b".repeat(60));
    expect_log(&mut serve, "Limit --max-retained-bytes reached");
    // A smaller replacement fits, and then so does b.
    retain(port, "t/a", &"a".repeat(20));
    retain(port, "t/b", &"b".repeat(60));
    let mut topics = retained_topics(port);
    topics.sort();
    assert_eq!(topics, ["t/a", "t/b"]);
}

/// The topic and packet id of a 3.1.1 QoS 1/2 PUBLISH.
fn publish_v311(packet: &[u8]) -> (String, u16) {
    assert_eq!(packet[0] & 0xF0, 0x30, "a PUBLISH: {packet:02X?}");
    let mut at = 1;
    while packet[at] & 0x80 != 0 {
        at += 1;
    }
    at += 1;
    let len = usize::from(u16::from_be_bytes([packet[at], packet[at + 1]]));
    let topic = String::from_utf8_lossy(&packet[at + 2..at + 2 + len]).into_owned();
    let id_at = at + 2 + len;
    (
        topic,
        u16::from_be_bytes([packet[id_at], packet[id_at + 1]]),
    )
}

#[test]
fn max_queued_bytes_bounds_the_queue_of_an_offline_session() {
    let mut serve = Serve::start(&["--max-queued-bytes", "10000"]);
    let port = serve.port();
    // A kept 3.1.1 session subscribed to q/# at QoS 1, then offline.
    let mut sub = Raw::connect(port);
    sub.send(&connect_v311("offline", false, 60));
    sub.expect(&[0x20, 0x02, 0x00, 0x00]);
    sub.send(&subscribe(1, "q/#", 1, false));
    sub.expect(&[0x90, 0x03, 0x00, 0x01, 0x01]);
    sub.send(&[0xE0, 0x00]);
    sub.expect_closed(T);
    // 20 messages of 1000 bytes, then a small marker that still fits.
    let mut publisher = Raw::v311(port, "flooder", 60);
    for id in 1..=20u16 {
        publisher.send(&publish_packet("q/x", 1, id, &[b'p'; 1000], false));
        publisher.expect(&[0x40, 0x02, (id >> 8) as u8, id as u8]);
    }
    publisher.send(&publish_packet("q/m", 1, 21, b"end", false));
    publisher.expect(&[0x40, 0x02, 0x00, 21]);
    expect_log(
        &mut serve,
        "Limit --max-queued-bytes reached: the queue of client offline",
    );
    // Back online: fewer than 20 big ones (about 10 KB of them), then the marker.
    let mut sub = Raw::connect(port);
    sub.send(&connect_v311("offline", false, 60));
    sub.expect(&[0x20, 0x02, 0x01, 0x00]);
    let mut big = 0;
    loop {
        let packet = sub.read_packet();
        let (topic, packet_id) = publish_v311(&packet);
        sub.send(&[0x40, 0x02, (packet_id >> 8) as u8, packet_id as u8]);
        if topic == "q/m" {
            break;
        }
        big += 1;
    }
    assert!(
        (1..=10).contains(&big),
        "{big} of 20 messages of 1000 bytes queued within 10000 bytes"
    );
}

#[test]
fn max_connections_per_ip_closes_the_connections_beyond_it() {
    let mut serve = Serve::start(&["--max-connections-per-ip", "3"]);
    let port = serve.port();
    // Three sockets that have not even sent CONNECT hold the three places.
    let held: Vec<Raw> = (0..3).map(|_| Raw::connect(port)).collect();
    let mut fourth = Raw::connect(port);
    fourth.expect_closed(T);
    expect_log(
        &mut serve,
        "Limit --max-connections-per-ip reached: 3 connections from 127.0.0.1",
    );
    // A place given back is given again.
    drop(held);
    let mut again = None;
    support::wait_until(T, || {
        let mut raw = Raw::connect(port);
        raw.send(&connect_v311("again", true, 60));
        let mut ack = [0u8; 4];
        let got = raw.stream.read_exact(&mut ack).is_ok() && ack == [0x20, 0x02, 0x00, 0x00];
        if got {
            again = Some(raw);
        }
        got
    });
    assert!(
        again.is_some(),
        "no CONNACK once the places were given back"
    );
}

#[test]
fn max_queued_bytes_in_a_mosquitto_conf_is_the_flag() {
    // max_queued_bytes in a mosquitto.conf is --max-queued-bytes.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(&conf, "max_queued_bytes 5000\n").expect("write the config");
    let mut serve = Serve::start(&["-c", conf.to_str().expect("utf-8 path")]);
    let port = serve.port();
    let mut sub = Raw::connect(port);
    sub.send(&connect_v5("cq", 0x00, 60, &[0x11, 0, 0, 0x0E, 0x10]));
    let connack = sub.read_packet();
    assert_eq!(connack.get(3), Some(&0x00), "CONNACK: {connack:02X?}");
    sub.send(&subscribe(1, "q", 1, true));
    assert_eq!(sub.read_packet()[0], 0x90);
    sub.send(&[0xE0, 0x00]);
    sub.expect_closed(T);
    let mut publisher = Raw::v311(port, "p", 60);
    for id in 1..=10u16 {
        publisher.send(&publish_packet("q", 1, id, &[b'p'; 1000], false));
        publisher.expect(&[0x40, 0x02, 0x00, id as u8]);
    }
    expect_log(&mut serve, "Limit --max-queued-bytes reached");
}

/// serve's open file descriptors.
fn open_fds(serve: &mut Serve) -> usize {
    let pid = serve.running().id();
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc fd")
        .count()
}

#[test]
fn connect_timeout_closes_silent_connections_and_gives_their_descriptors_back() {
    let mut serve = Serve::start(&["-v", "--connect-timeout", "1"]);
    let port = serve.port();
    let baseline = open_fds(&mut serve);
    let opened = Instant::now();
    let mut silent: Vec<Raw> = (0..20).map(|_| Raw::connect(port)).collect();
    support::wait_until(T, || open_fds(&mut serve) >= baseline + 20);
    for raw in &mut silent {
        // Before the default 5 s: the flag, not the default, closed it.
        let left = Duration::from_millis(4500).saturating_sub(opened.elapsed());
        raw.expect_closed(left.max(Duration::from_millis(1)));
    }
    expect_log(&mut serve, "sent no CONNECT in time");
    let back = support::wait_until(T, || open_fds(&mut serve) <= baseline);
    assert!(
        back,
        "serve holds {} descriptors, {baseline} before the silent connections",
        open_fds(&mut serve)
    );
    // A client that sends its CONNECT is still served.
    let mut good = Raw::v311(port, "good", 60);
    good.send(&[0xC0, 0x00]);
    good.expect(&[0xD0, 0x00]);
}

#[test]
fn max_connect_rate_refuses_with_0x9f_and_logs_once() {
    let mut serve = Serve::start(&["--max-connect-rate", "3"]);
    let port = serve.port();
    // Ten CONNECTs at once: the burst of three is taken, the rest refused (a token
    // comes back every 333 ms, so a slow machine may let one or two more in).
    let mut codes = Vec::new();
    for i in 0..10 {
        let mut raw = Raw::connect(port);
        raw.send(&connect_v5(&format!("rate{i}"), 0x02, 60, &[]));
        let ack = raw.read_packet();
        assert_eq!(ack[0], 0x20, "CONNACK expected, got {ack:02X?}");
        codes.push(ack[3]);
    }
    let taken = codes.iter().filter(|&&c| c == 0x00).count();
    let refused = codes.iter().filter(|&&c| c == 0x9F).count();
    assert_eq!(taken + refused, 10, "only 0x00 and 0x9F: {codes:02X?}");
    assert!(taken >= 3 && refused >= 1, "CONNACK codes {codes:02X?}");
    // MQTT 3.1.1 has no such code: 3, server unavailable.
    let v311_refused = (0..10).any(|i| {
        let mut raw = Raw::connect(port);
        raw.send(&connect_v311(&format!("rate-v311-{i}"), true, 60));
        let mut ack = [0u8; 4];
        raw.stream.read_exact(&mut ack).expect("a CONNACK");
        ack == [0x20, 0x02, 0x00, 0x03]
    });
    assert!(
        v311_refused,
        "no CONNACK 3 in ten 3.1.1 CONNECTs over the rate"
    );
    expect_log(
        &mut serve,
        "Limit --max-connect-rate reached: 127.0.0.1 sent more than 3 CONNECTs a second",
    );
    let lines = serve
        .running()
        .stderr()
        .matches("Limit --max-connect-rate")
        .count();
    assert_eq!(lines, 1, "one line per 10 s, not one per refusal");
    // Once the bucket refills, the address connects again.
    let again = support::wait_until(T, || {
        let mut raw = Raw::connect(port);
        raw.send(&connect_v311("again", true, 60));
        let mut ack = [0u8; 4];
        raw.stream.read_exact(&mut ack).is_ok() && ack == [0x20, 0x02, 0x00, 0x00]
    });
    assert!(again, "no CONNACK 0 once the bucket refilled");
}
