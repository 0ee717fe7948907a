//! `mqtk serve --data-dir` against real peers: retained messages and kept sessions
//! (queued messages, in-flight QoS 1, QoS 2 state) survive a SIGKILL of serve, and a
//! foreign data directory is a clear error. Peers: mosquitto_pub/mosquitto_sub, and a raw
//! MQTT 3.1.1 client (the protocol codec on a socket) where exact packets matter.

use std::time::Duration;

use support::{mosquitto_pub, mosquitto_sub, mqtk, output, p, text, Serve};

const LINE_TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn retained_messages_in_data_dir_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut serve = Serve::start(&["--data-dir", p(&data)]);
    for i in 0..20 {
        let topic = format!("keep/{i}");
        let out =
            output(mosquitto_pub(serve.port()).args(["-t", &topic, "-m", &topic, "-r", "-q", "1"]));
        assert!(out.status.success());
    }
    // Deleting a retained message is durable too.
    assert!(
        output(mosquitto_pub(serve.port()).args(["-t", "keep/0", "-n", "-r", "-q", "1"]))
            .status
            .success()
    );
    serve.running().signal(libc::SIGKILL);
    serve.running().expect_exit(LINE_TIMEOUT);

    let serve = Serve::start(&["--data-dir", p(&data)]);
    let sub = output(mosquitto_sub(serve.port()).args(["-t", "keep/#", "-C", "19", "-W", "5"]));
    let mut got: Vec<String> = text(&sub.stdout).lines().map(String::from).collect();
    got.sort();
    let mut want: Vec<String> = (1..20).map(|i| format!("keep/{i}")).collect();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn a_foreign_data_dir_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mqtk.redb"), "not a database\n").unwrap();
    let out = output(mqtk().args(["serve", "-p", "0", "--data-dir", p(dir.path())]));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("mqtk: ") && err.contains("mqtk.redb"),
        "{err}"
    );
}

/// Issue 6: once serve has acknowledged a QoS 1 message (PUBACK), a SIGKILL right after
/// must not lose it for a kept session. A persistent subscriber goes offline, a QoS 1
/// stream flows in, serve is killed mid-stream, and after a restart on the same
/// `--data-dir` the subscriber gets every acknowledged message.
#[test]
fn acknowledged_messages_for_an_offline_persistent_subscriber_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut serve = Serve::start(&["--data-dir", p(&data)]);
    let subscribe = output(
        mosquitto_sub(serve.port()).args(["-c", "-i", "keeper", "-q", "1", "-t", "s/#", "-E"]),
    );
    assert!(subscribe.status.success(), "{}", text(&subscribe.stderr));

    // mosquitto_pub -l sends one message per line; -d prints each PUBACK it receives.
    let mut publisher = support::spawn_lines(
        mosquitto_pub(serve.port()).args(["-q", "1", "-t", "s/x", "-l", "-d"]),
    );
    {
        use std::io::Write as _;
        let mut stdin = publisher.stdin().expect("stdin is piped");
        let lines: String = (1..=2000).map(|i| format!("m{i}\n")).collect();
        stdin.write_all(lines.as_bytes()).unwrap();
    }
    let is_puback = |line: &str| line.contains("received PUBACK");
    for _ in 0..20 {
        publisher.wait_for_line(is_puback, LINE_TIMEOUT);
    }
    serve.running().signal(libc::SIGKILL);
    serve.running().expect_exit(LINE_TIMEOUT);
    // Every PUBACK printed from now on was received before the kill.
    let _ = publisher.rest_of_lines(Duration::from_millis(500));
    let acked = publisher.seen().iter().filter(|l| is_puback(l)).count();
    drop(publisher);
    assert!(acked >= 20);

    let serve = Serve::start(&["--data-dir", p(&data)]);
    let sub = output(mosquitto_sub(serve.port()).args([
        "-c",
        "-i",
        "keeper",
        "-q",
        "1",
        "-t",
        "s/#",
        "-C",
        &acked.to_string(),
        "-W",
        "10",
    ]));
    let got: std::collections::HashSet<String> =
        text(&sub.stdout).lines().map(String::from).collect();
    // Packet ids count from 1 in line order, so the i-th PUBACK acknowledged line "m{i}".
    let lost: Vec<String> = (1..=acked)
        .map(|i| format!("m{i}"))
        .filter(|m| !got.contains(m))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {acked} acknowledged messages lost: {lost:?}",
        lost.len()
    );
}

/// A raw MQTT 3.1.1 client over a TCP socket, keeping bytes read past a packet.
struct Raw {
    stream: std::net::TcpStream,
    buf: bytes::BytesMut,
}

impl Raw {
    /// CONNECT with clean session off as `client_id`; returns CONNACK's session present.
    fn connect(port: u16, client_id: &str) -> (Raw, bool) {
        use mqtk::protocol::{Connect, Packet, ProtocolVersion};
        let stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(LINE_TIMEOUT)).unwrap();
        let mut raw = Raw {
            stream,
            buf: bytes::BytesMut::new(),
        };
        raw.send(Packet::Connect(Connect {
            protocol_version: ProtocolVersion::V311,
            client_id: client_id.into(),
            clean_start: false,
            keep_alive_secs: 60,
            username: None,
            password: None,
            will: None,
            properties: Default::default(),
        }));
        match raw.read() {
            Packet::ConnAck(ack) => (raw, ack.session_present),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    fn send(&mut self, packet: mqtk::protocol::Packet) {
        use std::io::Write as _;
        let mut buf = bytes::BytesMut::new();
        packet
            .encode(mqtk::protocol::ProtocolVersion::V311, &mut buf)
            .unwrap();
        self.stream.write_all(&buf).unwrap();
    }

    /// Reads one packet (bounded by the socket's read timeout).
    fn read(&mut self) -> mqtk::protocol::Packet {
        use mqtk::protocol::{Packet, ProtocolVersion};
        use std::io::Read as _;
        loop {
            let decoded = Packet::decode(&mut self.buf, ProtocolVersion::V311, u32::MAX);
            if let Some(packet) = decoded.expect("well-formed packet") {
                return packet;
            }
            let mut chunk = [0u8; 4096];
            let n = self
                .stream
                .read(&mut chunk)
                .expect("a packet before the timeout");
            assert!(n > 0, "connection closed");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// A message sent to an online persistent subscriber and not acknowledged by it is sent
/// again (DUP) after serve is killed and restarted: the QoS 1 state is stored too.
#[test]
fn an_unacknowledged_delivery_is_resent_after_sigkill_and_restart() {
    use mqtk::protocol::{Packet, QoS, Subscribe, Subscription};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut serve = Serve::start(&["--data-dir", p(&data)]);
    let (mut sub, present) = Raw::connect(serve.port(), "raw-keeper");
    assert!(!present);
    sub.send(Packet::Subscribe(Subscribe {
        packet_id: 1,
        subscriptions: vec![Subscription::new("u/#", QoS::AtLeastOnce)],
        properties: Default::default(),
    }));
    assert!(matches!(sub.read(), Packet::SubAck(_)));
    let out = output(mosquitto_pub(serve.port()).args(["-t", "u/1", "-m", "unacked", "-q", "1"]));
    assert!(out.status.success());
    let first = match sub.read() {
        Packet::Publish(publish) => publish,
        other => panic!("expected PUBLISH, got {other:?}"),
    };
    assert_eq!(&first.payload[..], b"unacked");
    // No PUBACK: kill serve while the message is in flight.
    serve.running().signal(libc::SIGKILL);
    serve.running().expect_exit(LINE_TIMEOUT);
    drop(sub);

    let serve = Serve::start(&["--data-dir", p(&data)]);
    let (mut sub, present) = Raw::connect(serve.port(), "raw-keeper");
    assert!(present, "the kept session must come back");
    match sub.read() {
        Packet::Publish(again) => {
            assert_eq!(&again.payload[..], b"unacked");
            assert_eq!(again.packet_id, first.packet_id);
            assert!(again.dup, "a resent PUBLISH has DUP set (MQTT 3.1.1 §4.4)");
        }
        other => panic!("expected the PUBLISH again, got {other:?}"),
    }
}

/// QoS 2 state survives too: serve sent PUBREC for a persistent publisher's message and
/// was killed before PUBREL. After the restart, the publisher's resent PUBLISH (DUP) is
/// not delivered again, its PUBREL gets PUBCOMP, and the persistent subscriber gets the
/// message exactly once.
#[test]
fn qos2_is_exactly_once_across_a_sigkill_between_pubrec_and_pubrel() {
    use bytes::Bytes;
    use mqtk::protocol::{Packet, PubResponse, Publish, QoS};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut serve = Serve::start(&["--data-dir", p(&data)]);
    let subscribe = output(
        mosquitto_sub(serve.port()).args(["-c", "-i", "q2-sub", "-q", "2", "-t", "q/#", "-E"]),
    );
    assert!(subscribe.status.success(), "{}", text(&subscribe.stderr));
    let publish = |dup| {
        Packet::Publish(Publish {
            dup,
            qos: QoS::ExactlyOnce,
            retain: false,
            topic: "q/1".into(),
            packet_id: 7,
            properties: Default::default(),
            payload: Bytes::from_static(b"once"),
        })
    };
    let (mut publisher, _) = Raw::connect(serve.port(), "q2-pub");
    publisher.send(publish(false));
    assert!(matches!(publisher.read(), Packet::PubRec(r) if r.packet_id == 7));
    serve.running().signal(libc::SIGKILL);
    serve.running().expect_exit(LINE_TIMEOUT);
    drop(publisher);

    let serve = Serve::start(&["--data-dir", p(&data)]);
    let (mut publisher, present) = Raw::connect(serve.port(), "q2-pub");
    assert!(present);
    publisher.send(publish(true));
    assert!(matches!(publisher.read(), Packet::PubRec(r) if r.packet_id == 7));
    publisher.send(Packet::PubRel(PubResponse::new(7)));
    assert!(matches!(publisher.read(), Packet::PubComp(r) if r.packet_id == 7));
    let received = output(mosquitto_sub(serve.port()).args([
        "-c", "-i", "q2-sub", "-q", "2", "-t", "q/#", "-C", "2", "-W", "3",
    ]));
    assert_eq!(text(&received.stdout), "once\n", "exactly one copy");
}
