//! The graceful close of `mqtk serve`: after it sends a DISCONNECT (MQTT 5) or a CONNACK
//! error, it closes its writing side and reads-and-discards for a bounded grace, so a
//! client that is still sending reads the reason instead of a TCP reset. Raw sockets
//! (a client that floods without reading is not something a library client does) and
//! paho-mqtt. Must not: test the reason codes themselves (conformance.rs does).

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use support::raw::{publish_packet, Raw};
use support::{child_output, ok, python3_paho, wait_until, Serve};

/// Reads until the end of the stream; returns the bytes and whether it ended with a
/// reset (the kernel then may have thrown away what the broker sent).
fn read_to_end(raw: &mut Raw, timeout: Duration) -> (Vec<u8>, bool) {
    raw.stream
        .set_read_timeout(Some(timeout))
        .expect("set a read timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match raw.stream.read(&mut buf) {
            Ok(0) => return (got, false),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return (got, true),
            Err(e) => panic!("the connection is still open after {timeout:?} ({e})"),
        }
    }
}

/// The packets in `bytes` as (first byte, body), up to a cut-off packet.
fn packets(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while bytes.len() >= 2 {
        let (mut len, mut shift, mut at) = (0usize, 0, 1);
        while at < bytes.len() {
            let b = bytes[at];
            len |= usize::from(b & 0x7F) << shift;
            shift += 7;
            at += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
        if bytes.len() < at + len {
            break;
        }
        out.push((bytes[0], bytes[at..at + len].to_vec()));
        bytes = &bytes[at + len..];
    }
    out
}

/// QoS 2 PUBLISHes with ids 1..=n, never released: each holds a slot of the receive
/// maximum (MQTT 5.0 §4.9), so the 21st is one too many for the default of 20.
fn qos2_flood(n: u16, payload: usize) -> Vec<u8> {
    let payload = vec![b'x'; payload];
    (1..=n)
        .flat_map(|id| publish_packet("flood", 2, id, &payload, true))
        .collect()
}

#[test]
fn a_client_flooding_past_receive_maximum_reads_disconnect_0x93_not_a_reset() {
    let serve = Serve::start(&[]);
    for round in 0..5 {
        let (mut raw, _) = Raw::v5(serve.port(), &format!("flood{round}"), 60);
        raw.stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .expect("set a write timeout");
        // Far more than the broker reads before it gives up: the rest waits unread in
        // its socket when it closes, which made the kernel answer with a reset.
        let _ = raw.stream.write_all(&qos2_flood(200, 1000));
        let (got, reset) = read_to_end(&mut raw, Duration::from_secs(5));
        let packets = packets(&got);
        let last = packets
            .last()
            .map(|(kind, body)| (*kind, body.first().copied()));
        assert_eq!(
            last,
            Some((0xE0, Some(0x93))),
            "round {round}: the last packet is DISCONNECT 0x93 (reset: {reset}); got {} packets",
            packets.len()
        );
        assert!(!reset, "round {round}: the connection ended with a reset");
        // A client still sending at this point (paho's test_flow_control2 is) must not
        // get a broken pipe: the broker reads and discards during the grace.
        let more = publish_packet("flood", 0, 0, b"late", true);
        for i in 0..20 {
            if let Err(e) = raw.stream.write_all(&more) {
                panic!("round {round}: write {i} after the DISCONNECT failed: {e}");
            }
        }
    }
}

#[test]
fn paho_flooding_past_receive_maximum_reads_disconnect_0x93_as_in_test_flow_control2() {
    python3_paho();
    let serve = Serve::start(&[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/flow_control2.py");
    for round in 0..3 {
        let child = std::process::Command::new("python3")
            .arg(script)
            .arg(serve.port().to_string())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run python3");
        let out = child_output(child, Duration::from_secs(30));
        // 128 is paho's "connection lost": it got a reset and never read the reason.
        assert_eq!(ok(&out).trim(), "disconnect 147", "round {round}");
    }
}

/// The sockets a process holds open (Linux: its file descriptors that are sockets).
fn open_sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read the broker's /proc/PID/fd")
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

#[test]
fn a_thousand_clients_closed_with_a_reason_at_once_leave_no_socket_behind_after_the_grace() {
    const CLIENTS: usize = 1000;
    let mut serve = Serve::start(&[]);
    let pid = serve.running().id();
    let before = open_sockets(pid);
    // Keep alive 2 s and then silence: the broker closes them all, with DISCONNECT 0x8D,
    // in the same sweep or two; they never close their side, so only the grace ends it.
    let mut clients: Vec<Raw> = (0..CLIENTS)
        .map(|i| Raw::v5(serve.port(), &format!("quiet{i}"), 2).0)
        .collect();
    assert!(
        open_sockets(pid) >= before + CLIENTS / 2,
        "the clients are connected"
    );
    let start = Instant::now();
    for (i, raw) in clients.iter_mut().enumerate() {
        let disconnect = raw.read_packet();
        assert_eq!(&disconnect[..3], &[0xE0, disconnect[1], 0x8D], "client {i}");
    }
    let closed = wait_until(Duration::from_secs(10), || open_sockets(pid) <= before);
    assert!(
        closed,
        "{} sockets still open {:?} after the last DISCONNECT (before: {before})",
        open_sockets(pid),
        start.elapsed()
    );
    drop(clients);
}

#[test]
fn a_refused_connect_followed_by_more_packets_gives_the_connack_code_then_a_clean_close() {
    let serve = Serve::start(&["--max-connections", "1"]);
    let (_first, _) = Raw::v5(serve.port(), "first", 60);
    for round in 0..5 {
        let mut raw = Raw::connect(serve.port());
        raw.stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .expect("set a write timeout");
        // MQTT 5.0 §3.1.4: a client may send before CONNACK; these wait unread.
        let mut bytes = support::raw::connect_v5(&format!("second{round}"), 0x02, 60, &[]);
        bytes.extend(qos2_flood(100, 1000));
        let _ = raw.stream.write_all(&bytes);
        let (got, reset) = read_to_end(&mut raw, Duration::from_secs(5));
        let first = packets(&got)
            .first()
            .map(|(kind, body)| (*kind, body.get(1).copied()));
        // 0x88: server unavailable (the connection limit).
        assert_eq!(first, Some((0x20, Some(0x88))), "round {round}: {got:02X?}");
        assert!(!reset, "round {round}: the connection ended with a reset");
        let more = publish_packet("late", 0, 0, b"late", true);
        for i in 0..20 {
            if let Err(e) = raw.stream.write_all(&more) {
                panic!("round {round}: write {i} after the CONNACK failed: {e}");
            }
        }
    }
}
